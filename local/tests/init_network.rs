//! A Lambda's init (`AppState::for_lambda`, what every function's `main`
//! runs before serving) makes exactly one network call: the pre-warm
//! `GetItem`. The environment is a Lambda's (credentials and region in env
//! vars); S3, the management API and the instance metadata service point at
//! a listener that counts every connection, so any probe would show.
//! Its own test binary: it sets process environment variables.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chat_local::{Stack, StackOptions};
use chat_shared::AppState;

#[tokio::test(flavor = "multi_thread")]
async fn init_calls_the_network_once_for_the_pre_warm_read() {
    let stack = Stack::start(StackOptions {
        dynamodb_tap: true,
        ..StackOptions::ephemeral()
    })
    .await
    .unwrap();
    let tap = stack.tap.clone().unwrap();

    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let probe_url = format!("http://{}", probe.local_addr().unwrap());
    let probes = Arc::new(AtomicU64::new(0));
    let counted = probes.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = probe.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });

    let lambda_env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDLAMBDA"),
        ("AWS_SECRET_ACCESS_KEY", "lambda-secret"),
        ("AWS_SESSION_TOKEN", "lambda-session"),
        ("AWS_CONFIG_FILE", "/nonexistent/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", probe_url.as_str()),
        ("CHAT_TABLE_NAME", "chat"),
        ("CHAT_DYNAMODB_ENDPOINT", stack.dynamodb_url.as_str()),
        ("CHAT_S3_ENDPOINT", probe_url.as_str()),
        ("CHAT_WEBSOCKET_ENDPOINT", probe_url.as_str()),
        ("CHAT_UPLOADS_BUCKET", "chat-uploads"),
    ];
    for (name, value) in lambda_env {
        std::env::set_var(name, value);
    }
    for name in ["CHAT_STATIC_CREDENTIALS", "CHAT_REGION", "AWS_PROFILE"] {
        std::env::remove_var(name);
    }

    let before = tap.seen().len();
    let state = AppState::for_lambda().await.expect("init");
    // Give any background probe a moment to show up.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let during: Vec<String> = tap.seen()[before..]
        .iter()
        .map(|s| s.operation.clone())
        .collect();
    assert_eq!(during, ["GetItem"], "init's DynamoDB calls");
    assert_eq!(
        probes.load(Ordering::SeqCst),
        0,
        "no connection to S3, the management API or instance metadata"
    );
    assert_eq!(state.db.request_counts().get("GetItem"), Some(&1));
}
