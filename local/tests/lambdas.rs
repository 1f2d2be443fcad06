//! The faithful mode (the functions' own binaries behind the API Gateway
//! emulator, routed by `template.yaml`) sees what the merged server cannot:
//! a route the template does not give to any function, and a binary body that
//! API Gateway would pass as text because the template does not declare its
//! media type. Each is shown against a template broken on purpose; the
//! repository's template passes both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use chat_local::lambdas::LambdaOptions;
use chat_local::{Stack, StackOptions};
use chat_shared::auth;
use chat_shared::ids::UserId;
use serde_json::{json, Value};

/// The function binaries the repository's template declares, built for
/// this test's profile.
fn binaries() -> PathBuf {
    chat_local::binaries::build_for_tests(&repository_template()).unwrap()
}

fn repository_template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// A copy of the template with one change.
fn broken_template(name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repository_template()).unwrap();
    let changed = edit(&text);
    assert_ne!(changed, text, "{name}: the edit changed nothing");
    let dir = common::temp_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(&path, changed).unwrap();
    path
}

struct Client {
    stack: Stack,
    http: reqwest::Client,
    key: String,
    alice: String,
    server: String,
}

async fn start(template: Option<PathBuf>) -> Client {
    let lambdas = template.map(|template| LambdaOptions {
        template,
        logs: false,
        ..LambdaOptions::new(binaries())
    });
    let stack = Stack::start(StackOptions {
        lambdas,
        ..StackOptions::ephemeral()
    })
    .await
    .expect("the stack starts");
    let app = stack.ensure_dev_app().await.unwrap();
    let alice =
        auth::mint_user_token(&app.api_secret, &UserId::parse("alice").unwrap(), None).unwrap();
    let server = auth::mint_server_token(&app.api_secret, None).unwrap();
    Client {
        stack,
        http: reqwest::Client::new(),
        key: app.api_key,
        alice,
        server,
    }
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.stack.rest_url))
            .header("X-Api-Key", &self.key)
            .header("Authorization", format!("Bearer {token}"))
    }

    /// Uploads every byte value through `POST /upload` and reads back what
    /// was stored.
    async fn upload_round_trip(&self) -> Vec<u8> {
        let channel: Value = self
            .request(reqwest::Method::POST, "/channels", &self.alice)
            .json(&json!({"type": "group", "members": ["bob"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let channel_id = channel["channel"]["id"]
            .as_str()
            .expect("a channel")
            .to_string();
        let part = reqwest::multipart::Part::bytes(every_byte())
            .file_name("bytes.zip")
            .mime_str("application/zip")
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("channel_id", channel_id)
            .part("file", part);
        let stored: Value = self
            .request(reqwest::Method::POST, "/upload", &self.alice)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = stored["url"]
            .as_str()
            .unwrap_or_else(|| panic!("stored: {stored}"));
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }
}

fn every_byte() -> Vec<u8> {
    (0..4).flat_map(|_| 0..=255u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_template_serves_every_group_through_the_function_processes() {
    let client = start(Some(repository_template())).await;
    assert!(client.stack.functions.is_some());
    let me: Value = client
        .request(reqwest::Method::GET, "/users/alice", &client.alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["display_name"], "Alice");
    assert_eq!(client.upload_round_trip().await, every_byte());
    let app = client
        .request(reqwest::Method::GET, "/app", &client.server)
        .send()
        .await
        .unwrap();
    assert_eq!(app.status().as_u16(), 200);
    let document = client
        .http
        .get(format!("{}/openapi.json", client.stack.rest_url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        document.status().as_u16(),
        200,
        "the OpenAPI document is routed too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_binary_media_type_corrupts_uploads_only_in_this_mode() {
    let broken = broken_template("chat-no-binary-types", |t| {
        t.replace(
            "      BinaryMediaTypes:\n        - multipart~1form-data\n",
            "",
        )
    });
    let faithful = start(Some(broken)).await;
    let mangled = faithful.upload_round_trip().await;
    assert_ne!(
        mangled,
        every_byte(),
        "API Gateway passes the body as text and loses bytes"
    );
    // The merged server has no API Gateway in between: it cannot see this.
    let merged = start(None).await;
    assert_eq!(merged.upload_round_trip().await, every_byte());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_missing_from_the_template_shows_only_in_this_mode() {
    // Without its route, `POST /messages` falls to the catch-all `/{proxy+}`:
    // the users function, which does not serve it.
    let broken = broken_template("chat-no-messages-route", |t| {
        t.replace(
            "        Messages:\n          Type: Api\n          Properties:\n            RestApiId: !Ref RestApi\n            Path: /api/v1/messages\n            Method: ANY\n",
            "",
        )
    });
    let send = |client: &Client| {
        client
            .request(reqwest::Method::POST, "/messages", &client.alice)
            .json(&json!({"channel_id": "nowhere", "text": "hi"}))
            .send()
    };
    let faithful = start(Some(broken)).await;
    let misrouted: Value = send(&faithful).await.unwrap().json().await.unwrap();
    assert_eq!(misrouted["error"]["code"], "not_found", "{misrouted}");
    assert!(
        misrouted["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("route"),
        "the users function has no such route: {misrouted}"
    );
    // The merged server serves every router: it reaches the messages code,
    // which finds no such channel.
    let merged = start(None).await;
    let served: Value = send(&merged).await.unwrap().json().await.unwrap();
    assert!(
        served["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("channel"),
        "{served}"
    );
    // A method a resource does not have is API Gateway's own 403.
    let refused = faithful
        .http
        .post(format!("{}/openapi.json", faithful.stack.rest_url))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(
        refused.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
}
