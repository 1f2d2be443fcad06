//! `chat-admin` against a running local stack: the app it creates is usable
//! through the REST API, and the tokens it mints are accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_local::{Stack, StackOptions};
use chat_shared::auth;
use serde_json::Value;

fn admin(stack: &Stack, args: &[&str]) -> (bool, Value, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat-admin"))
        .args([
            "--endpoint",
            &stack.dynamodb_url,
            "--local",
            "--table",
            "chat",
        ])
        .args(args)
        .output()
        .expect("chat-admin runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_creates_apps_and_mints_tokens_in_the_table() {
    let stack = Stack::start(StackOptions::ephemeral()).await.unwrap();
    let (ok, created, err) = admin(
        &stack,
        &["create-app", "--name", "Acme", "--app-id", "acme"],
    );
    assert!(ok, "{err}");
    assert_eq!(created["app_id"], "acme");
    let secret = created["api_secret"].as_str().unwrap();
    let server = auth::verify(secret, created["server_token"].as_str().unwrap()).unwrap();
    assert!(server.server);

    // The same id again is refused, and the first app is intact.
    let (ok, _, err) = admin(
        &stack,
        &["create-app", "--name", "Other", "--app-id", "acme"],
    );
    assert!(!ok && err.contains("already exists"), "{err}");

    let (ok, minted, err) = admin(
        &stack,
        &[
            "token",
            "--app-id",
            "acme",
            "--user",
            "alice",
            "--expires-in",
            "60",
        ],
    );
    assert!(ok, "{err}");
    let claims = auth::verify(secret, minted["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.user_id.as_deref(), Some("alice"));
    assert!(claims.exp.is_some());

    // The created app authenticates real requests.
    let client = raw_get(
        &stack,
        created["api_key"].as_str().unwrap(),
        created["server_token"].as_str().unwrap(),
    )
    .await;
    assert!(client.starts_with("HTTP/1.1 200"), "{client}");

    let (ok, _, err) = admin(&stack, &["token", "--app-id", "missing", "--server"]);
    assert!(!ok && err.contains("no application"), "{err}");
}

/// A bare HTTP/1.1 GET, so this crate needs no HTTP client dependency.
async fn raw_get(stack: &Stack, key: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = stack
        .rest_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET /api/v1/users?ids=alice HTTP/1.1\r\nHost: {addr}\r\nX-Api-Key: {key}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_shows_and_changes_an_apps_settings() {
    let stack = Stack::start(StackOptions::ephemeral()).await.unwrap();
    let (ok, _, err) = admin(
        &stack,
        &["create-app", "--name", "Acme", "--app-id", "acme"],
    );
    assert!(ok, "{err}");
    let (ok, shown, err) = admin(&stack, &["settings", "--app-id", "acme"]);
    assert!(ok, "{err}");
    assert_eq!(shown["settings"]["max_message_length"], 5000);
    assert!(shown.get("api_secret").is_none(), "{shown}");
    let (ok, changed, err) = admin(
        &stack,
        &[
            "settings",
            "--app-id",
            "acme",
            "--patch",
            r#"{"set": {"max_message_length": 300, "allowed_mime_types": ["image/*"]}}"#,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(changed["settings"]["max_message_length"], 300);
    assert_eq!(
        changed["settings"]["allowed_mime_types"],
        serde_json::json!(["image/*"])
    );
    let (ok, _, err) = admin(
        &stack,
        &[
            "settings",
            "--app-id",
            "acme",
            "--patch",
            r#"{"set": {"max_message_length": 0}}"#,
        ],
    );
    assert!(!ok && err.contains("max_message_length"), "{err}");
}
