//! The local web client's routes: the page and its assets at `/`, the dev
//! session (key and sample tokens that work), and CORS on the S3 server so
//! the page can upload with a presigned PUT from its own origin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chat_local::{Stack, StackOptions};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn the_page_its_assets_and_the_dev_session_are_served() {
    let stack = Stack::start(StackOptions::ephemeral()).await.unwrap();
    let root = stack.rest_url.trim_end_matches("/api/v1").to_string();
    let http = reqwest::Client::new();

    let page = http.get(format!("{root}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/app.js">"#));
    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/chat.js", "text/javascript"),
        ("/app.css", "text/css"),
    ] {
        let asset = http.get(format!("{root}{path}")).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{path}");
        assert!(asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert!(!asset.text().await.unwrap().is_empty());
    }

    // No dev app yet: a clear 404 in the API's error shape.
    let missing = http
        .get(format!("{root}/dev/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let app = stack.ensure_dev_app().await.unwrap();
    let session = common::json_of(http.get(format!("{root}/dev/session"))).await;
    assert_eq!(session["api_key"], app.api_key.as_str());
    assert_eq!(session["ws_url"], stack.ws_url.as_str());
    let users = session["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    for user in users {
        let id = user["id"].as_str().unwrap();
        let me = common::json_of(
            http.get(format!("{}/users/{id}", stack.rest_url))
                .header("X-Api-Key", &app.api_key)
                .bearer_auth(user["token"].as_str().unwrap()),
        )
        .await;
        assert_eq!(me["user"]["id"], id, "the offered token signs in as {id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_s3_server_answers_a_browser_preflight_for_a_presigned_put() {
    let stack = Stack::start(StackOptions::ephemeral()).await.unwrap();
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/chat-uploads/app/channel/file.png", stack.s3_url),
        )
        .header("Origin", "http://127.0.0.1:3000")
        .header("Access-Control-Request-Method", "PUT")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(methods.contains("PUT"), "{methods}");
}
