//! `chat-local` honours the `CHAT_*` variables docs/operations.md documents for the
//! functions: started with a short URL lifetime and another table name, its
//! presigned URLs and its tables follow them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_reads_the_functions_configuration_variables() {
    let dir = common::temp_dir("chat-config-env");
    let server = common::Server::start(
        &dir,
        &[
            ("CHAT_UPLOAD_URL_SECONDS", "7"),
            ("CHAT_TABLE_NAME", "chat-env-test"),
            ("CHAT_OUTBOX_TABLE", "chat-env-outbox"),
        ],
    )
    .await;
    chat_shared::outbound::install_tls_provider();
    let http = reqwest::Client::new();

    let channel = common::json_of(
        server
            .request(&http, Method::POST, "/channels", "CHAT_ALICE_TOKEN")
            .json(&json!({"type": "direct", "members": ["bob"]})),
    )
    .await;
    let channel_id = channel["channel"]["id"].as_str().expect("channel id");
    let path = format!(
        "/upload/signed-url?file_name=a.txt&mime_type=text/plain&size=3&channel_id={channel_id}"
    );
    let signed =
        common::json_of(server.request(&http, Method::GET, &path, "CHAT_ALICE_TOKEN")).await;
    let upload_url = signed["upload_url"].as_str().expect("upload_url");
    assert!(
        upload_url.contains("X-Amz-Expires=7&") || upload_url.ends_with("X-Amz-Expires=7"),
        "the presigned URL lives CHAT_UPLOAD_URL_SECONDS: {upload_url}"
    );

    // The tables the stack created are the configured ones (and not `chat`).
    let tables: Value = http
        .post(&server.env["CHAT_DYNAMODB_ENDPOINT"])
        .header("X-Amz-Target", "DynamoDB_20120810.ListTables")
        .header("Content-Type", "application/x-amz-json-1.0")
        // The emulator wants SigV4's headers; it does not check the signature.
        .header("X-Amz-Date", "20260101T000000Z")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body("{}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        tables["TableNames"],
        json!(["chat-env-outbox", "chat-env-test"]),
        "{tables}"
    );

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
