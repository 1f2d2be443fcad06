//! Rate limits: requests a minute per user (and per app for server tokens)
//! in each endpoint group, counted in the table so they hold across
//! processes (this suite also runs against the functions' own binaries).
//! Every authenticated response carries the quota; over it, REST answers
//! `429` with `Retry-After` and a socket action an error ack with
//! `retry_after`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{in_one_rate_window, TestApp};

/// What a test here needs of one window: its counts must not straddle two.
const TEST_TAKES: std::time::Duration = std::time::Duration::from_secs(30);

/// The quota headers of a response, as numbers.
async fn quota(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, [i64; 3], Option<u64>, Value) {
    let mut request = app
        .http
        .request(method, app.url(path))
        .header("X-Api-Key", app.a.key())
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| -> i64 {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing on {path}"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let numbers = [
        header("x-ratelimit-limit"),
        header("x-ratelimit-remaining"),
        header("x-ratelimit-reset"),
    ];
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, numbers, retry_after, body)
}

async fn limit_sends(app: &TestApp, per_user: u32) {
    in_one_rate_window(TEST_TAKES).await;
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({"set": {"rate_limits": {"send": {"user": per_user, "app": 100}}}}),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn every_response_carries_the_quota_and_a_user_over_it_gets_429() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    limit_sends(&app, 3).await;

    // Reads: the default read limit, counting down.
    let (status, [limit, first, reset], _, _) =
        quota(&app, Method::GET, "/channels", &t[0], None).await;
    assert_eq!(status, 200);
    assert_eq!(limit, 1_200);
    let now = chat_shared::time::now_secs();
    assert!(reset > now && reset <= now + 60, "reset {reset}, now {now}");
    let (_, [_, second, _], _, _) = quota(&app, Method::GET, "/channels", &t[0], None).await;
    assert!(second < first, "{first} then {second}");

    // Sends: 3 a minute, then 429 with Retry-After; nothing stored.
    let send = json!({"channel_id": ch, "text": "hi"});
    for left in [2, 1, 0] {
        let (status, [limit, remaining, _], _, body) =
            quota(&app, Method::POST, "/messages", &t[0], Some(send.clone())).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!((limit, remaining), (3, left));
    }
    let (status, [_, remaining, reset], retry_after, body) =
        quota(&app, Method::POST, "/messages", &t[0], Some(send.clone())).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(remaining, 0);
    let retry_after = retry_after.expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(reset >= chat_shared::time::now_secs());
    assert_eq!(body["error"]["retry_after"], retry_after);
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{ch}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)).len(), 3);

    // Other groups and other users keep their own counts.
    let (status, _, _, _) = quota(&app, Method::GET, "/channels", &t[0], None).await;
    assert_eq!(status, 200);
    let (status, [_, remaining, _], _, body) =
        quota(&app, Method::POST, "/messages", &t[1], Some(send.clone())).await;
    assert_eq!((status, remaining), (201, 2), "{body}");
    // Errors carry the quota too.
    let (status, [limit, _, _], _, _) =
        quota(&app, Method::GET, "/channels/nope", &t[0], None).await;
    assert_eq!((status, limit), (404, 1_200));
    // Another app's users are not touched by app A's limits.
    let b = app.create_users(&app.b, &["alice"]).await;
    let other = app.group(&app.b, &b[0], &[]).await;
    for _ in 0..5 {
        app.say(&app.b, &b[0], &other, "free").await;
    }
}

#[tokio::test]
async fn a_burst_from_many_connections_of_one_user_is_held_to_the_limit() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    limit_sends(&app, 10).await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(app.ws(&app.a, &t[1]).await);
    }
    // 5 connections × 5 sends, all at once.
    let ch_ref = &ch;
    let acks: Vec<Vec<Value>> = futures::future::join_all(sockets.iter_mut().enumerate().map(|(i, ws)| async move {
        let ch = ch_ref;
        let mut acks = Vec::new();
        for j in 0..5 {
            acks.push(
                ws.request(json!({"action": "message.send", "channel_id": ch, "text": format!("{i}.{j}")}))
                    .await,
            );
        }
        acks
    }))
    .await;
    let acks: Vec<Value> = acks.into_iter().flatten().collect();
    let sent = acks.iter().filter(|a| a["ok"] == true).count();
    let refused: Vec<&Value> = acks.iter().filter(|a| a["ok"] == false).collect();
    assert_eq!(sent, 10, "{acks:?}");
    assert_eq!(refused.len(), 15);
    for ack in refused {
        assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");
        let retry = ack["error"]["retry_after"].as_u64().expect("retry_after");
        assert!((1..=60).contains(&retry), "{ack}");
    }
    // REST shares the count.
    app.post(
        &app.a,
        &t[1],
        "/messages",
        json!({"channel_id": ch, "text": "rest"}),
    )
    .await
    .assert_error(429, "rate_limited");
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)).len(), 10);
    // Typing is a write, not a send: still allowed.
    let typing = sockets[0]
        .request(json!({"action": "typing.start", "channel_id": ch}))
        .await;
    assert_eq!(typing["ok"], true, "{typing}");
}

#[tokio::test]
async fn a_send_refused_before_its_write_still_counts() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let elsewhere = app.group(&app.a, &t[1], &[]).await;
    limit_sends(&app, 3).await;
    // Two sends refused before any write (not a member; no text), each
    // counted by a claim of its own.
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": elsewhere, "text": "in"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": ch, "text": " "}),
    )
    .await
    .assert_error(400, "validation_error");
    // One on the socket (the realtime function), counted by its own
    // transaction: the window is spent.
    let mut ws = app.ws(&app.a, &t[0]).await;
    let ack = ws
        .request(json!({"action": "message.send", "channel_id": ch, "text": "third"}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let refused = ws
        .request(json!({"action": "message.send", "channel_id": ch, "text": "fourth"}))
        .await;
    assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    // REST (another function in the faithful mode) sees the same count.
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": ch, "text": "fifth"}),
    )
    .await
    .assert_error(429, "rate_limited");
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{ch}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)), vec!["third"]);
}

#[tokio::test]
async fn server_tokens_count_per_app_and_limits_are_checked() {
    let app = TestApp::spawn().await;
    in_one_rate_window(TEST_TAKES).await;
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({"set": {"rate_limits": {"write": {"user": 300, "app": 2}}}}),
    )
    .await
    .assert_status(200);
    // The PATCH above was the first of the app's writes this minute.
    let (status, [limit, remaining, _], _, body) = quota(
        &app,
        Method::POST,
        "/users",
        &app.a.server,
        Some(json!({"users": [{"id": "alice"}]})),
    )
    .await;
    assert_eq!((status, limit, remaining), (200, 2, 0), "{body}");
    let (status, _, retry_after, body) = quota(
        &app,
        Method::POST,
        "/users",
        &app.a.server,
        Some(json!({"users": [{"id": "u2"}]})),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some());
    // A user of the app has a limit of their own.
    let alice = app.a.user_token("alice");
    app.patch(
        &app.a,
        &alice,
        "/users/alice",
        json!({"set": {"display_name": "Al"}}),
    )
    .await
    .assert_status(200);
    // Another app's server token is not limited by app A's count.
    app.post(
        &app.b,
        &app.b.server,
        "/users",
        json!({"users": [{"id": "u3"}]}),
    )
    .await
    .assert_status(200);
    // Reads still pass, and the settings show the limits.
    let shown = app.get(&app.a, &app.a.server, "/app").await;
    assert_eq!(
        shown.assert_status(200)["app"]["settings"]["rate_limits"]["write"],
        json!({"user": 300, "app": 2})
    );
    assert_eq!(
        shown.body["app"]["settings"]["rate_limits"]["send"],
        json!({"user": 60, "app": 6000})
    );
    for bad in [
        json!({"send": {"user": 0, "app": 10}}),
        json!({"send": {"user": 10}}),
        json!({"read": {"user": 10, "app": 2_000_000}}),
        json!({"bursts": {"user": 1, "app": 1}}),
    ] {
        app.patch(
            &app.b,
            &app.b.server,
            "/app",
            json!({"set": {"rate_limits": bad}}),
        )
        .await
        .assert_error(400, "validation_error");
    }
}

/// A connect writes (the connection, the online index), so it counts
/// against the user's write limit; over it, the upgrade is refused with
/// 429 and nothing is stored.
#[tokio::test]
async fn connects_count_as_writes_and_are_refused_at_the_upgrade() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    in_one_rate_window(TEST_TAKES).await;
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({"set": {"rate_limits": {"write": {"user": 3, "app": 1000}}}}),
    )
    .await
    .assert_status(200);
    for _ in 0..3 {
        app.ws(&app.a, &t[0]).await.close().await;
    }
    assert_eq!(app.ws_refused(&app.ws_url(app.a.key(), &t[0])).await, 429);
    // Another user's quota is their own.
    app.ws(&app.a, &t[1]).await.close().await;
}
