//! Shared by each function's `tests/binary.rs`: a function binary started
//! outside Lambda (no `AWS_LAMBDA_RUNTIME_API`) stops at once with an error
//! instead of hanging. (The faithful-mode tests build every binary the
//! template declares themselves: `chat_local::binaries`.)

use std::time::{Duration, Instant};

pub fn fails_fast_outside_lambda(binary: &str) {
    let started = Instant::now();
    let mut child = std::process::Command::new(binary)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("CHAT_DYNAMODB_ENDPOINT", "http://127.0.0.1:9")
        .env("CHAT_STATIC_CREDENTIALS", "1")
        .env("CHAT_REGION", "us-east-1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the function binary starts");
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "{binary} exited 0 outside Lambda");
            return;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{binary} did not stop outside Lambda");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
