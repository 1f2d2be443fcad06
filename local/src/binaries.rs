//! The function binaries the faithful mode runs, built on demand for tests:
//! every binary the template declares is built with the profile and into
//! the target folder of the test binary that asks, so `cargo test
//! --workspace` cannot miss one, whichever functions the template gains.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::lambdas::{LambdaError, Template};

/// Builds every function binary that `template` declares (cargo rebuilds
/// only what is stale) and answers the folder that holds them: the running
/// test binary's profile folder. Once per process; later calls answer the
/// first call's outcome.
pub fn build_for_tests(template: &Path) -> Result<PathBuf, LambdaError> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build(template))
        .clone()
        .map_err(LambdaError::Build)
}

fn build(template: &Path) -> Result<PathBuf, String> {
    let names = Template::read(template)
        .map_err(|e| e.to_string())?
        .binaries();
    let exe = std::env::current_exe().map_err(|e| format!("the test binary's path: {e}"))?;
    // <target>/<profile>/deps/<test binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in <target>/<profile>/deps", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("{} has no parent", profile_dir.display()))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => return Err(format!("{} names no profile", profile_dir.display())),
    };
    let workspace = template
        .parent()
        .ok_or_else(|| format!("{} has no folder", template.display()))?;
    // The cargo that runs the tests (it sets CARGO for them).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--quiet", "--profile", profile, "--target-dir"])
        .arg(target_dir);
    for name in &names {
        command.args(["--bin", name]);
    }
    let output = command
        .output()
        .map_err(|e| format!("cargo could not start: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo build` of {} failed:\n{}",
            names.join(", "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(profile_dir.to_path_buf())
}
