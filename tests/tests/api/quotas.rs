//! API Gateway's quotas in its emulator: management calls over the account's
//! request quota get 429 `LimitExceededException` and the posters back off
//! until every connection is reached once; new connections over their rate
//! are refused with 429; a connection open too long is closed; a post over
//! 128 KB gets 413. Both local modes: the posts come from the functions.

use std::time::Duration;

use chat_local::gateway::{GatewayOptions, Quota};
use chat_local::StackOptions;
use chat_shared::Config;
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn spawn(gateway: GatewayOptions, fanout_inline_limit: usize) -> TestApp {
    TestApp::spawn_with(StackOptions {
        gateway,
        config: Config {
            fanout_inline_limit,
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    })
    .await
}

/// A management API of 20 calls a second with a burst of 4.
fn tight() -> GatewayOptions {
    GatewayOptions {
        management_quota: Quota {
            per_second: 20,
            burst: 4,
        },
        ..GatewayOptions::default()
    }
}

/// Four members of a group with three sockets each; five messages sent:
/// every socket gets each once, in order, although posts were throttled.
async fn every_socket_gets_every_message_once(app: &TestApp) {
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol", "dave"]).await;
    let mut sockets = Vec::new();
    for token in &t {
        for _ in 0..3 {
            sockets.push(app.ws(&app.a, token).await);
        }
    }
    for ws in &mut sockets {
        ws.drain(Duration::from_millis(200)).await;
    }
    let sent: Vec<String> = (1..=5).map(|n| format!("m{n}")).collect();
    for text in &sent {
        app.say(&app.a, &t[0], &ch, text).await;
    }
    for ws in &mut sockets {
        let mut got = Vec::new();
        while got.len() < sent.len() {
            got.push(ws.expect("message.new").await);
        }
        got.extend(ws.events(Duration::from_millis(300)).await);
        let texts: Vec<&str> = got
            .iter()
            .filter(|e| e["type"] == "message.new")
            .filter_map(|e| e["message"]["text"].as_str())
            .collect();
        assert_eq!(texts, sent, "each once, in send order");
    }
    assert!(
        app.stack.gateway.throttled_calls() > 0,
        "the quota was reached (60 posts at 20 a second)"
    );
}

#[tokio::test]
async fn a_fanout_job_over_the_post_quota_reaches_every_connection_once() {
    let app = spawn(tight(), 2).await;
    every_socket_gets_every_message_once(&app).await;
}

#[tokio::test]
async fn an_inline_fanout_over_the_post_quota_reaches_every_connection_once() {
    let app = spawn(tight(), 100).await;
    every_socket_gets_every_message_once(&app).await;
}

#[tokio::test]
async fn new_connections_over_their_rate_are_refused_with_429() {
    let gateway = GatewayOptions {
        connect_quota: Quota {
            per_second: 1,
            burst: 2,
        },
        ..GatewayOptions::default()
    };
    let app = spawn(gateway, 100).await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let _first = app.ws(&app.a, &t[0]).await;
    let _second = app.ws(&app.a, &t[0]).await;
    let url = app.ws_url(app.a.key(), &t[0]);
    assert_eq!(app.ws_refused(&url).await, 429);
    // The rate refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut third = app.ws(&app.a, &t[0]).await;
    let ack = third.request(json!({ "action": "health.check" })).await;
    assert_eq!(ack["ok"], true, "{ack}");
}

#[tokio::test]
async fn a_connection_open_past_the_maximum_time_is_closed() {
    let gateway = GatewayOptions {
        max_connection_time: Duration::from_millis(800),
        ..GatewayOptions::default()
    };
    let app = spawn(gateway, 100).await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let mut ws = app.ws(&app.a, &t[0]).await;
    // Busy, not idle: still closed, with 1001.
    let ack = ws.request(json!({ "action": "health.check" })).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1001));
}

/// A post shaped as SigV4-signed for `execute-api` (the emulator checks the
/// form, not the secret).
async fn post(app: &TestApp, id: &str, body: Vec<u8>) -> (u16, Option<String>, Value) {
    let response = app
        .http
        .post(format!("{}/@connections/{id}", app.stack.management_url))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/execute-api/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00",
        )
        .header("x-amz-date", "20260101T000000Z")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, kind, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_management_api_answers_413_over_128_kb_and_429_over_its_quota() {
    let gateway = GatewayOptions {
        management_quota: Quota {
            per_second: 1,
            burst: 3,
        },
        ..GatewayOptions::default()
    };
    let app = spawn(gateway, 100).await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let mut ws = app.ws(&app.a, &t[0]).await;
    let id = ws.request(json!({ "action": "health.check" })).await["result"]["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Wait for the burst to refill after the connect's own calls.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let big = post(&app, &id, vec![b'x'; 128 * 1024 + 1]).await;
    assert_eq!(
        (big.0, big.1.as_deref()),
        (413, Some("PayloadTooLargeException"))
    );
    let mut answers = Vec::new();
    for _ in 0..4 {
        let (status, kind, _) = post(&app, &id, br#"{"type":"x"}"#.to_vec()).await;
        answers.push((status, kind));
    }
    assert!(
        answers.contains(&(429, Some("LimitExceededException".to_string()))),
        "{answers:?}"
    );
    assert!(app.stack.gateway.throttled_calls() > 0);
}
