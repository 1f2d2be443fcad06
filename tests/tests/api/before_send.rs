//! The before-send hook: each send, REST or socket, is checked by the app's
//! own server first, which may pass, rewrite or reject it; a timeout or an
//! error follows the app's policy. The hook here is a real HTTP server that
//! checks each request's signature and answers by the text it is shown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};

/// What the hook was asked, with whether the signature held.
type Asked = Arc<Mutex<Vec<(bool, Value)>>>;

/// Answers by the proposed text: "reject…", "rewrite…", "slow…" (2 s, then
/// pass), "error…" (500), "garbage…" (not JSON); anything else passes
/// with an empty 204.
async fn start_hook(secret: &str) -> (String, Asked) {
    let asked: Asked = Arc::new(Mutex::new(Vec::new()));
    let state = (secret.to_string(), asked.clone());
    let router = axum::Router::new()
        .route(
            "/check",
            axum::routing::post(
                |State((secret, asked)): State<(String, Asked)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let expected = crate::helpers::hmac_hex(&secret, &body);
                    let signed = headers
                        .get("x-signature")
                        .and_then(|v| v.to_str().ok())
                        == Some(expected.as_str());
                    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    asked.lock().unwrap().push((signed, request.clone()));
                    let text = request["message"]["text"].as_str().unwrap_or("").to_string();
                    if text.starts_with("reject") {
                        axum::Json(json!({"action": "reject", "reason": "no rudeness here"}))
                            .into_response()
                    } else if text.starts_with("rewrite") {
                        axum::Json(json!({"action": "rewrite", "message": {"text": "[kind words]", "metadata": {"checked": true}}}))
                            .into_response()
                    } else if text.starts_with("slow") {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        StatusCode::NO_CONTENT.into_response()
                    } else if text.starts_with("error") {
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    } else if text.starts_with("garbage") {
                        (StatusCode::OK, "<html>").into_response()
                    } else {
                        StatusCode::NO_CONTENT.into_response()
                    }
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/check", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, asked)
}

async fn set_hook(app: &TestApp, t: &Tenant, url: &str, policy: &str) {
    app.patch(
        t,
        &t.server,
        "/app",
        json!({"set": {
            "before_message_send_url": url,
            "before_message_send_timeout_ms": 300,
            "before_message_send_on_error": policy,
        }}),
    )
    .await
    .assert_status(200);
}

async fn texts(app: &TestApp, t: &Tenant, token: &str, channel: &str) -> Vec<String> {
    let history = app
        .get(t, token, &format!("/channels/{channel}/messages"))
        .await;
    TestApp::texts(history.assert_status(200))
}

async fn send(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    channel: &str,
    text: &str,
) -> crate::helpers::Resp {
    app.post(
        t,
        token,
        "/messages",
        json!({"channel_id": channel, "text": text}),
    )
    .await
}

#[tokio::test]
async fn the_hook_passes_rewrites_or_rejects_each_send_over_rest_and_socket() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let (url, asked) = start_hook(&app.a.app.api_secret).await;
    // Another app's sends never reach this hook.
    let tb = app.create_users(&app.b, &["alice"]).await;
    let chb = app.group(&app.b, &tb[0], &[]).await;
    set_hook(&app, &app.a, &url, "pass").await;
    app.say(&app.b, &tb[0], &chb, "reject? not here").await;
    assert!(asked.lock().unwrap().is_empty());
    let mut bob = app.ws(&app.a, &t[1]).await;
    let passed = app.say(&app.a, &t[0], &ch, "hello").await;
    assert_eq!(passed["text"], "hello");
    {
        let asked = asked.lock().unwrap();
        let (signed, request) = asked.last().unwrap();
        assert!(signed, "the hook's request is signed with the app secret");
        assert_eq!(request["type"], "message.before_send");
        assert_eq!(request["channel_id"], ch.as_str());
        assert_eq!(request["user"]["id"], "alice");
        assert_eq!(request["message"]["text"], "hello");
    }

    // Rewritten: what is stored, returned and delivered is the hook's.
    let rewritten = app.say(&app.a, &t[0], &ch, "rewrite this rude thing").await;
    assert_eq!(rewritten["text"], "[kind words]");
    assert_eq!(rewritten["metadata"]["checked"], true);
    let event = bob
        .expect_where(|m| m["type"] == "message.new" && m["message"]["id"] == rewritten["id"])
        .await;
    assert_eq!(event["message"]["text"], "[kind words]");

    // Rejected: a 403 with the hook's reason, nothing stored or delivered.
    let refused = send(&app, &app.a, &t[0], &ch, "reject me").await;
    refused.assert_error(403, "message_rejected");
    assert_eq!(refused.body["error"]["message"], "no rudeness here");
    // The socket's send is checked the same way.
    let ack = bob
        .request(json!({"action": "message.send", "channel_id": ch, "text": "reject this too"}))
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "message_rejected");
    let ack = bob
        .request(
            json!({"action": "message.send", "channel_id": ch, "text": "rewrite over the socket"}),
        )
        .await;
    assert_eq!(ack["result"]["message"]["text"], "[kind words]", "{ack}");
    assert_eq!(
        texts(&app, &app.a, &t[0], &ch).await,
        ["hello", "[kind words]", "[kind words]"]
    );
}

#[tokio::test]
async fn a_failing_hook_follows_the_apps_policy() {
    let app = TestApp::spawn().await;
    // App A lets sends through when its hook fails; app B blocks them.
    let (url_a, _) = start_hook(&app.a.app.api_secret).await;
    let (url_b, _) = start_hook(&app.b.app.api_secret).await;
    set_hook(&app, &app.a, &url_a, "pass").await;
    set_hook(&app, &app.b, &url_b, "block").await;
    let ta = app.create_users(&app.a, &["alice"]).await;
    let tb = app.create_users(&app.b, &["alice"]).await;
    let cha = app.group(&app.a, &ta[0], &[]).await;
    let chb = app.group(&app.b, &tb[0], &[]).await;

    for text in ["slow answer", "error answer", "garbage answer"] {
        send(&app, &app.a, &ta[0], &cha, text)
            .await
            .assert_status(201);
        let blocked = send(&app, &app.b, &tb[0], &chb, text).await;
        blocked.assert_error(503, "hook_unavailable");
        assert!(
            !blocked.body.to_string().contains("127.0.0.1"),
            "the hook's address is not shown to the sender"
        );
    }
    assert_eq!(
        texts(&app, &app.a, &ta[0], &cha).await,
        ["slow answer", "error answer", "garbage answer"]
    );
    assert!(texts(&app, &app.b, &tb[0], &chb).await.is_empty());
    // The block policy still lets through what the hook passes.
    send(&app, &app.b, &tb[0], &chb, "fine")
        .await
        .assert_status(201);
}

#[tokio::test]
async fn hook_settings_are_validated_and_shown() {
    let app = TestApp::spawn().await;
    for bad in [
        json!({"before_message_send_timeout_ms": 50}),
        json!({"before_message_send_timeout_ms": 10001}),
        json!({"before_message_send_on_error": "maybe"}),
    ] {
        let resp = app
            .patch(&app.a, &app.a.server, "/app", json!({ "set": bad }))
            .await;
        assert_eq!(resp.status, 400, "{bad}: {:?}", resp.body);
    }
    let shown = app.get(&app.a, &app.a.server, "/app").await;
    let settings = &shown.assert_status(200)["app"]["settings"];
    assert_eq!(settings["before_message_send_timeout_ms"], 1500);
    assert_eq!(settings["before_message_send_on_error"], "pass");
}
