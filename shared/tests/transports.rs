//! Transports only parse, call a use case and render: the REST routers and
//! the socket handler publish nothing themselves (events, the change log
//! and outbox jobs are the use cases' own, in `shared/src/actions/`), and a
//! send is assembled in one place.

#![allow(clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::sources;

/// What only a use case (or the layers below it) may call.
const EFFECTS: &[&str] = &["publish::", "realtime::publish", "push::enqueue"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The lines of `files` that contain one of `needles`, as `file:line: text`.
fn lines_with(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_rest_routers_and_the_socket_handler_publish_nothing() {
    let mut files = Vec::new();
    sources(&src().join("http"), &mut files);
    files.push(src().join("socket.rs"));
    assert!(files.len() > 10, "{files:?}");
    let leaks = lines_with(&files, EFFECTS);
    assert!(
        leaks.is_empty(),
        "a transport publishes; move it into the use case in shared/src/actions/:\n{}",
        leaks.join("\n")
    );
}

#[test]
fn a_send_is_assembled_once() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let callers: Vec<String> = lines_with(&files, &["send::send("])
        .into_iter()
        .filter(|l| !l.contains("/messages/send.rs:"))
        .collect();
    assert_eq!(callers.len(), 1, "{callers:#?}");
    assert!(callers[0].contains("/actions/messages.rs:"), "{callers:?}");
}

#[test]
fn no_line_of_the_rest_routers_exceeds_120_characters() {
    let mut files = Vec::new();
    sources(&src().join("http"), &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            if line.chars().count() > 120 {
                long.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    assert!(
        long.is_empty(),
        "one attribute argument per line, long strings continued with `\\`:\n{}",
        long.join("\n")
    );
}

#[test]
fn handlers_take_the_acting_user_from_an_extractor() {
    let mut files = Vec::new();
    sources(&src().join("http"), &mut files);
    files.retain(|f| !f.ends_with("common.rs"));
    let built = lines_with(&files, &["Ctx::new("]);
    // Left by hand: a send (its quota needs the caller), and handlers
    // whose acting user comes through a helper.
    assert!(
        built.len() <= 4,
        "use `Acting(ctx, input)` (http/common.rs):\n{}",
        built.join("\n")
    );
}
