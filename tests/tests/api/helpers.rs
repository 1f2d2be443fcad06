//! `TestApp::spawn()`: a running stack with two applications (tenants `a` and
//! `b`) and typed request helpers.

#![allow(dead_code)]

use chat_local::{Stack, StackOptions};
use chat_shared::apps::{self, App};
use chat_shared::auth;
use chat_shared::ids::UserId;
use reqwest::Method;
use serde_json::{json, Value};

/// One application and its server token.
#[derive(Clone)]
pub struct Tenant {
    pub app: App,
    pub server: String,
}

impl Tenant {
    pub fn key(&self) -> &str {
        &self.app.api_key
    }

    /// A user token (the user must exist to be accepted).
    pub fn user_token(&self, user: &str) -> String {
        auth::mint_user_token(&self.app.api_secret, &UserId::parse(user).unwrap(), None).unwrap()
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

impl Resp {
    /// Asserts the status and the public error shape with this code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "body: {}", self.body);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error message present: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        &self.body
    }
}

pub struct TestApp {
    pub stack: Stack,
    pub http: reqwest::Client,
    pub a: Tenant,
    pub b: Tenant,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(StackOptions::ephemeral()).await
    }

    /// With `CHAT_TEST_MODE=lambdas`, the stack runs the functions' real
    /// binaries (built for this test's profile by `binaries()`)
    /// behind the API Gateway emulator: the faithful mode.
    pub async fn spawn_with(mut options: StackOptions) -> Self {
        if options.lambdas.is_none() && std::env::var("CHAT_TEST_MODE").as_deref() == Ok("lambdas")
        {
            options.lambdas = Some(chat_local::lambdas::LambdaOptions {
                logs: std::env::var_os("TEST_LOG").is_some(),
                ..chat_local::lambdas::LambdaOptions::new(binaries())
            });
        }
        // Logs only when asked: TEST_LOG=1 cargo test ...
        if std::env::var_os("TEST_LOG").is_some() {
            chat_shared::telemetry::init();
        }
        let stack = Stack::start(options).await.expect("stack starts");
        let a = Self::tenant(&stack, "App A").await;
        let b = Self::tenant(&stack, "App B").await;
        Self {
            stack,
            http: reqwest::Client::new(),
            a,
            b,
        }
    }

    async fn tenant(stack: &Stack, name: &str) -> Tenant {
        let app = apps::create_app(&stack.state.db, None, name)
            .await
            .expect("app created");
        let server = auth::mint_server_token(&app.api_secret, None).unwrap();
        Tenant { app, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.stack.rest_url, path)
    }

    /// Any request: optional API key header, bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        api_key: Option<&str>,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = api_key {
            request = request.header("X-Api-Key", key);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::read(request.send().await.expect("request sent")).await
    }

    pub async fn read(response: reqwest::Response) -> Resp {
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got {text:?}"))
        };
        Resp { status, body }
    }

    pub async fn get(&self, t: &Tenant, token: &str, path: &str) -> Resp {
        self.send(Method::GET, path, Some(t.key()), Some(token), None)
            .await
    }

    pub async fn post(&self, t: &Tenant, token: &str, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(t.key()), Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, t: &Tenant, token: &str, path: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(t.key()), Some(token), Some(body))
            .await
    }

    pub async fn put(&self, t: &Tenant, token: &str, path: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(t.key()), Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, t: &Tenant, token: &str, path: &str) -> Resp {
        self.send(Method::DELETE, path, Some(t.key()), Some(token), None)
            .await
    }

    /// Sends each `(method, path, body)` as `token` (the server token for
    /// `POST /users`) and asserts each is a 400 `validation_error`.
    pub async fn assert_each_invalid(
        &self,
        t: &Tenant,
        token: &str,
        requests: Vec<(Method, String, Value)>,
    ) {
        for (method, path, body) in requests {
            let token = if method == Method::POST && path == "/users" {
                t.server.as_str()
            } else {
                token
            };
            let what = format!("{method} {path} {body}");
            let resp = self
                .send(method, &path, Some(t.key()), Some(token), Some(body))
                .await;
            assert_eq!(resp.status, 400, "{what}: {}", resp.body);
            assert_eq!(
                resp.body["error"]["code"], "validation_error",
                "{what}: {}",
                resp.body
            );
        }
    }

    /// `POST /users` with the tenant's server token.
    pub async fn upsert(&self, t: &Tenant, users: Value) -> Resp {
        self.post(t, &t.server, "/users", json!({ "users": users }))
            .await
    }

    /// `POST /channels` as `token`; asserts 201 and returns the channel id.
    pub async fn create_channel(&self, t: &Tenant, token: &str, body: Value) -> String {
        let resp = self.post(t, token, "/channels", body).await;
        resp.assert_status(201)["channel"]["id"]
            .as_str()
            .expect("channel id")
            .to_string()
    }

    /// A group channel owned by `owner` (a user token) with these members.
    pub async fn group(&self, t: &Tenant, owner: &str, members: &[&str]) -> String {
        self.create_channel(
            t,
            owner,
            json!({ "type": "group", "name": "g", "members": members }),
        )
        .await
    }

    /// `user` is shadow-banned in `channel` by `owner`.
    pub async fn shadow_ban(&self, t: &Tenant, owner: &str, channel: &str, user: &str) {
        self.post(
            t,
            owner,
            &format!("/channels/{channel}/bans"),
            json!({ "user_id": user, "shadow": true }),
        )
        .await
        .assert_status(201);
    }

    /// `POST /messages` with `text` in `channel`; asserts 201, returns the message.
    pub async fn say(&self, t: &Tenant, token: &str, channel: &str, text: &str) -> Value {
        let resp = self
            .post(
                t,
                token,
                "/messages",
                json!({ "channel_id": channel, "text": text }),
            )
            .await;
        resp.assert_status(201)["message"].clone()
    }

    /// [`TestApp::say`], for the new message's id.
    pub async fn say_id(&self, t: &Tenant, token: &str, channel: &str, text: &str) -> String {
        let message = self.say(t, token, channel, text).await;
        message["id"].as_str().expect("an id").to_string()
    }

    /// `GET /sync` without `since`: the cursor of now, for a later catch-up.
    pub async fn sync_cursor(&self, t: &Tenant, token: &str) -> String {
        let resp = self.get(t, token, "/sync").await;
        resp.assert_status(200)["next"]
            .as_str()
            .expect("a cursor")
            .to_string()
    }

    /// Texts of a history response, in order.
    pub fn texts(body: &Value) -> Vec<String> {
        body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["text"].as_str().unwrap_or("<none>").to_string())
            .collect()
    }

    /// Creates plain users with these ids and returns their tokens.
    pub async fn create_users(&self, t: &Tenant, ids: &[&str]) -> Vec<String> {
        let users: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        self.upsert(t, json!(users)).await.assert_status(200);
        ids.iter().map(|id| t.user_token(id)).collect()
    }
}

/// The function binaries the repository's template declares, built for this
/// test's profile (beside this test binary's `deps/`).
pub fn binaries() -> std::path::PathBuf {
    let template = chat_local::lambdas::LambdaOptions::new(std::path::PathBuf::new()).template;
    chat_local::binaries::build_for_tests(&template).expect("the function binaries build")
}

/// RFC 3339, `secs` from now.
pub fn ahead(secs: i64) -> String {
    let at = chrono::Utc::now() + chrono::Duration::seconds(secs);
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Waits, when fewer than `need` are left in the current rate-limit
/// window, for the next one: what a test counts against a limit then falls
/// in one window.
pub async fn in_one_rate_window(need: std::time::Duration) {
    let window = chat_shared::ratelimit::WINDOW_SECS * 1000;
    let left = window - chat_shared::time::now_millis().rem_euclid(window);
    if u128::try_from(left).unwrap_or(0) < need.as_millis() {
        tokio::time::sleep(std::time::Duration::from_millis(left as u64 + 100)).await;
    }
}

/// What a webhook receiver computes to check `X-Signature`: hex
/// HMAC-SHA256 of the raw body, keyed with the app's secret.
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
