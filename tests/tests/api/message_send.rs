//! `POST /messages`: content rules, idempotency, and every refusal.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn send_stores_a_time_ordered_message_and_bumps_the_channel() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let resp = app
        .post(
            &app.a,
            &t[0],
            "/messages",
            json!({
                "channel_id": id, "text": "hello @bob", "silent": true, "mentions": ["bob"],
                "metadata": { "k": "v" },
                "attachments": [{ "type": "image", "url": "https://cdn.example.com/a.png", "file_name": "a.png", "file_size": 1234, "mime_type": "image/png" }]
            }),
        )
        .await;
    let m = resp.assert_status(201)["message"].clone();
    assert_eq!(m["text"], "hello @bob");
    assert_eq!(m["type"], "regular");
    assert_eq!(m["user"]["id"], "alice");
    assert_eq!(m["silent"], true);
    assert_eq!(m["mentions"], json!(["bob"]));
    assert_eq!(m["attachments"][0]["file_size"], 1234);
    // UUIDv7: version nibble 7.
    let mid = m["id"].as_str().unwrap();
    assert_eq!(&mid[14..15], "7");
    let second = app.say(&app.a, &t[1], &id, "second").await;
    assert!(second["id"].as_str().unwrap() > mid);

    let channel = app.get(&app.a, &t[0], &format!("/channels/{id}")).await;
    assert_eq!(
        channel.assert_status(200)["channel"]["last_message_at"],
        second["created_at"]
    );
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(
        TestApp::texts(history.assert_status(200)),
        ["hello @bob", "second"]
    );
}

#[tokio::test]
async fn content_is_validated() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let other = app.group(&app.a, &t[0], &[]).await;
    let elsewhere = app.say(&app.a, &t[0], &other, "elsewhere").await;
    let attachment = json!({ "type": "file", "url": "https://x.example.com/f" });
    let thirty_one: Vec<Value> = (0..31).map(|_| attachment.clone()).collect();
    let cases = [
        (json!({ "channel_id": id }), 400),
        (json!({ "channel_id": id, "text": "   " }), 400),
        (json!({ "channel_id": id, "text": "x".repeat(5001) }), 400),
        (
            json!({ "channel_id": id, "text": "hi", "type": "deleted" }),
            400,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "type": "system" }),
            403,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "type": "shout" }),
            400,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "mentions": ["eve"] }),
            400,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "mentions": ["ghost"] }),
            400,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "quoted_message_id": elsewhere["id"] }),
            400,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "quoted_message_id": "nope" }),
            400,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "parent_id": elsewhere["id"] }),
            400,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "show_in_channel": true }),
            400,
        ),
        (json!({ "channel_id": id, "attachments": thirty_one }), 400),
        (
            json!({ "channel_id": id, "attachments": [{ "type": "file", "url": "not a url" }] }),
            400,
        ),
        (
            json!({ "channel_id": id, "attachments": [{ "url": "https://x.example.com" }] }),
            400,
        ),
        (
            json!({ "channel_id": id, "text": "hi", "metadata": { "m": "x".repeat(6000) } }),
            413,
        ),
        (json!({ "channel_id": id, "text": "hi", "extra": 1 }), 400),
        (json!({ "channel_id": "bad#id", "text": "hi" }), 400),
        (json!({ "channel_id": "missing", "text": "hi" }), 404),
    ];
    for (body, status) in cases {
        let resp = app.post(&app.a, &t[0], "/messages", body.clone()).await;
        assert_eq!(resp.status, status, "{body}: {}", resp.body);
        assert!(resp.body["error"]["code"].is_string());
    }
    // Exactly the limit is fine; 30 attachments are fine.
    app.say(&app.a, &t[0], &id, &"x".repeat(5000)).await;
    let thirty: Vec<Value> = (0..30).map(|_| attachment.clone()).collect();
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({ "channel_id": id, "attachments": thirty }),
    )
    .await
    .assert_status(201);
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(
        history.assert_status(200)["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_client_id_makes_the_send_idempotent() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let body = json!({ "channel_id": id, "id": "client-msg-1", "text": "once" });
    let first = app.post(&app.a, &t[0], "/messages", body.clone()).await;
    assert_eq!(first.assert_status(201)["message"]["id"], "client-msg-1");
    let retry = app.post(&app.a, &t[0], "/messages", body.clone()).await;
    assert_eq!(
        retry.assert_status(200)["message"]["created_at"],
        first.body["message"]["created_at"]
    );
    // Another payload, or another user, under the same id: conflict.
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({ "channel_id": id, "id": "client-msg-1", "text": "twice" }),
    )
    .await
    .assert_error(409, "conflict");
    app.post(
        &app.a,
        &t[1],
        "/messages",
        json!({ "channel_id": id, "id": "client-msg-1", "text": "once" }),
    )
    .await
    .assert_error(409, "conflict");
    // Concurrent retries still store one message.
    let body = json!({ "channel_id": id, "id": "client-msg-2", "text": "race" });
    let sends = (0..6).map(|_| app.post(&app.a, &t[0], "/messages", body.clone()));
    let results = futures::future::join_all(sends).await;
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
    assert!(
        results.iter().all(|r| r.status == 201 || r.status == 200),
        "{results:?}"
    );
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)), ["once", "race"]);
    let fetched = app.get(&app.a, &t[1], "/messages/client-msg-1").await;
    assert_eq!(fetched.assert_status(200)["message"]["text"], "once");
}

#[tokio::test]
async fn non_members_pending_invitees_banned_and_frozen_are_refused() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve", "ivan"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let public = app
        .create_channel(&app.a, &t[0], json!({ "type": "public" }))
        .await;
    let send = |token: &str, channel: &str| {
        let token = token.to_string();
        let channel = channel.to_string();
        let app = &app;
        async move {
            app.post(
                &app.a,
                &token,
                "/messages",
                json!({ "channel_id": channel, "text": "hi" }),
            )
            .await
        }
    };
    send(&t[3], &id).await.assert_error(403, "forbidden");
    send(&t[3], &public).await.assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/members"),
        json!({ "user_ids": ["ivan"], "invite": true }),
    )
    .await
    .assert_status(200);
    send(&t[4], &id).await.assert_error(403, "forbidden");

    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/bans"),
        json!({ "user_id": "bob" }),
    )
    .await
    .assert_status(201);
    send(&t[1], &id).await.assert_error(403, "forbidden");

    app.post(&app.a, &t[0], &format!("/channels/{id}/freeze"), json!({}))
        .await
        .assert_status(200);
    send(&t[2], &id).await.assert_error(403, "forbidden");
    send(&t[0], &id).await.assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/unfreeze"),
        json!({}),
    )
    .await
    .assert_status(200);
    send(&t[2], &id).await.assert_status(201);
    // Only what was allowed is stored.
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)), ["hi"]);
}

#[tokio::test]
async fn an_expired_ban_lets_the_member_send_again() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/bans"),
        json!({ "user_id": "bob", "timeout": 1 }),
    )
    .await
    .assert_status(201);
    app.post(
        &app.a,
        &t[1],
        "/messages",
        json!({ "channel_id": id, "text": "x" }),
    )
    .await
    .assert_error(403, "forbidden");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.say(&app.a, &t[1], &id, "back").await;
}

#[tokio::test]
async fn slow_mode_limits_members_but_not_moderators() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app
        .create_channel(
            &app.a,
            &t[0],
            json!({ "type": "group", "members": ["bob"], "slow_mode": 2 }),
        )
        .await;
    app.say(&app.a, &t[1], &id, "one").await;
    let resp = app
        .post(
            &app.a,
            &t[1],
            "/messages",
            json!({ "channel_id": id, "text": "two" }),
        )
        .await;
    resp.assert_error(429, "rate_limited");
    let retry_after = resp.body["error"]["retry_after"].as_u64().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // The owner is exempt.
    app.say(&app.a, &t[0], &id, "owner 1").await;
    app.say(&app.a, &t[0], &id, "owner 2").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.say(&app.a, &t[1], &id, "three").await;
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(
        TestApp::texts(history.assert_status(200)),
        ["one", "owner 1", "owner 2", "three"]
    );
}

#[tokio::test]
async fn shadow_banned_messages_reach_their_author_only() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    app.shadow_ban(&app.a, &t[0], &id, "bob").await;
    let m = app.say(&app.a, &t[1], &id, "can anyone hear me").await;
    assert_eq!(m["shadowed"], true);
    let own = app
        .get(&app.a, &t[1], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(
        TestApp::texts(own.assert_status(200)),
        ["can anyone hear me"]
    );
    let others = app
        .get(&app.a, &t[2], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(others.assert_status(200)["messages"], json!([]));
    app.get(
        &app.a,
        &t[2],
        &format!("/messages/{}", m["id"].as_str().unwrap()),
    )
    .await
    .assert_error(404, "not_found");
    // It does not bring the channel up for the others either.
    let channel = app.get(&app.a, &t[2], &format!("/channels/{id}")).await;
    assert_eq!(
        channel.assert_status(200)["channel"]["last_message_at"],
        Value::Null
    );
}

#[tokio::test]
async fn system_messages_and_acting_for_users_with_a_server_token() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "bot"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let resp = app
        .post(
            &app.a,
            &app.a.server,
            "/messages",
            json!({ "channel_id": id, "text": "bob joined", "type": "system", "user_id": "bot" }),
        )
        .await;
    assert_eq!(resp.assert_status(201)["message"]["type"], "system");
    let resp = app
        .post(
            &app.a,
            &app.a.server,
            "/messages",
            json!({ "channel_id": id, "text": "as bob", "user_id": "bob" }),
        )
        .await;
    assert_eq!(resp.assert_status(201)["message"]["user"]["id"], "bob");
    app.post(
        &app.a,
        &app.a.server,
        "/messages",
        json!({ "channel_id": id, "text": "nobody" }),
    )
    .await
    .assert_error(400, "validation_error");
    // A regular message still needs a member as author.
    app.post(
        &app.a,
        &app.a.server,
        "/messages",
        json!({ "channel_id": id, "text": "x", "user_id": "bot" }),
    )
    .await
    .assert_error(403, "forbidden");
}

#[tokio::test]
async fn a_new_message_brings_a_hidden_channel_back() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    app.post(&app.a, &t[1], &format!("/channels/{id}/hide"), json!({}))
        .await
        .assert_status(200);
    let listed = app.get(&app.a, &t[1], "/channels").await;
    assert_eq!(listed.assert_status(200)["channels"], json!([]));
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.say(&app.a, &t[0], &id, "you there?").await;
    let listed = app.get(&app.a, &t[1], "/channels").await;
    let entry = &listed.assert_status(200)["channels"][0];
    assert_eq!(entry["channel"]["id"], id.as_str());
    assert_eq!(entry["membership"]["hidden"], false);
    assert_eq!(entry["unread_count"], 1);
}
