//! Rules that exist are honoured, and items and sockets stay bounded:
//! reaction caps, safe links, the per-user connection cap, read events
//! switched off, read marks that never move back, distinct channels that do
//! not reopen to a removed member, drafts that quote only what they may, and
//! presence shown only to peers.

use std::time::Duration;

use chat_shared::messages::reactions::{MAX_TYPES_PER_MESSAGE, MAX_TYPES_PER_USER};
use chat_shared::realtime::connections::MAX_CONNECTIONS_PER_USER;
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn reaction_types_are_capped_per_message_and_per_user() {
    let app = TestApp::spawn().await;
    let names: Vec<String> = (0..4).map(|i| format!("u{i}")).collect();
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = app.create_users(&app.a, &ids).await;
    let ch = app.group(&app.a, &t[0], &ids[1..]).await;
    let id = app.say(&app.a, &t[0], &ch, "react").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let react = |who: usize, kind: String| {
        let path = format!("/messages/{id}/reactions");
        let token = t[who].clone();
        let app = &app;
        async move { app.post(&app.a, &token, &path, json!({"type": kind})).await }
    };
    for i in 0..MAX_TYPES_PER_USER {
        react(0, format!("t{i}")).await.assert_status(201);
    }
    react(0, "one_more".into())
        .await
        .assert_error(400, "validation_error");
    // Others fill the message up to its cap of distinct types.
    let mut n = MAX_TYPES_PER_USER;
    let mut who = 1;
    while n < MAX_TYPES_PER_MESSAGE {
        for _ in 0..MAX_TYPES_PER_USER.min(MAX_TYPES_PER_MESSAGE - n) {
            react(who, format!("t{n}")).await.assert_status(201);
            n += 1;
        }
        who += 1;
    }
    react(who, "t_new".into())
        .await
        .assert_error(400, "validation_error");
    // An existing type still counts up.
    let more = react(who, "t0".into()).await;
    let counts = more.assert_status(201)["message"]["reaction_counts"].clone();
    assert_eq!(counts["t0"], 2);
    assert_eq!(counts.as_object().unwrap().len(), MAX_TYPES_PER_MESSAGE);
    // Removing the last of a type drops it and frees a place.
    let removed = app
        .delete(&app.a, &t[0], &format!("/messages/{id}/reactions/t1"))
        .await;
    assert!(removed.assert_status(200)["message"]["reaction_counts"]
        .get("t1")
        .is_none());
    react(who, "t_new".into()).await.assert_status(201);
}

#[tokio::test]
async fn links_are_https_or_local_http_without_surrounding_whitespace() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    let bad = [
        "javascript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/iam/",
        "https://169.254.169.254/latest/meta-data/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "http://example.com/a.png",
        " https://example.com/a.png",
        "https://example.com/a.png ",
    ];
    for url in bad {
        app.assert_each_invalid(
            &app.a,
            &t[0],
            vec![
                (
                    Method::POST,
                    "/messages".into(),
                    json!({"channel_id": ch, "attachments": [{"type": "image", "url": url}]}),
                ),
                (
                    Method::PATCH,
                    "/users/alice".into(),
                    json!({"set": {"avatar_url": url}}),
                ),
                (
                    Method::POST,
                    "/users".into(),
                    json!({"users": [{ "id": "bob", "avatar_url": url }]}),
                ),
                (
                    Method::POST,
                    "/channels".into(),
                    json!({"type": "group", "avatar_url": url}),
                ),
                (
                    Method::PATCH,
                    format!("/channels/{ch}"),
                    json!({"set": {"avatar_url": url}}),
                ),
            ],
        )
        .await;
    }
    for url in [
        "https://cdn.example.com/a.png",
        "http://127.0.0.1:9000/x.png",
    ] {
        app.patch(
            &app.a,
            &t[0],
            "/users/alice",
            json!({"set": {"avatar_url": url}}),
        )
        .await
        .assert_status(200);
    }
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_sockets() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let mut open = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_USER {
        open.push(app.ws(&app.a, &t[0]).await);
    }
    let url = app.ws_url(app.a.key(), &t[0]);
    assert_eq!(app.ws_refused(&url).await, 429);
    // One closed: room for one more.
    open.pop().unwrap().close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    open.push(app.ws(&app.a, &t[0]).await);
    assert_eq!(app.ws_refused(&url).await, 429);
    // Sockets whose $disconnect was lost do not count against the cap: the
    // gateway no longer has them, and a connect at the cap finds that out.
    for id in app.stack.gateway.connection_ids() {
        app.stack.gateway.kill(&id);
    }
    let mut fresh = app.ws(&app.a, &t[0]).await;
    assert_eq!(
        fresh.request(json!({"action": "health.check"})).await["ok"],
        true
    );
}

#[tokio::test]
async fn read_events_off_sends_no_read_events_and_marks_never_move_back() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app
        .create_channel(
            &app.a,
            &t[0],
            json!({"type": "group", "members": ["bob"], "settings": {"read_events": false}}),
        )
        .await;
    let first = app.say(&app.a, &t[0], &ch, "one").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = app.say(&app.a, &t[0], &ch, "two").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut alice = app.ws(&app.a, &t[0]).await;
    app.post(
        &app.a,
        &t[1],
        &format!("/channels/{ch}/read"),
        json!({"message_id": second}),
    )
    .await
    .assert_status(200);
    let mut bob = app.ws(&app.a, &t[1]).await;
    let ack = bob
        .request(json!({"action": "message.read", "channel_id": ch}))
        .await;
    assert_eq!(ack["ok"], true);
    let events = alice.events(Duration::from_millis(300)).await;
    assert!(
        !events.iter().any(|e| e["type"] == "message.read"),
        "{events:?}"
    );
    // Marking at an older message leaves the later mark.
    let back = app
        .post(
            &app.a,
            &t[1],
            &format!("/channels/{ch}/read"),
            json!({"message_id": first}),
        )
        .await;
    assert_eq!(
        back.assert_status(200)["last_read_message_id"],
        second.as_str()
    );
    // Concurrent marks at every message: the latest wins whatever the order.
    let ids = [first.clone(), second.clone(), first.clone(), second.clone()];
    let paths: Vec<(String, serde_json::Value)> = ids
        .iter()
        .map(|id| (format!("/channels/{ch}/read"), json!({"message_id": id})))
        .collect();
    let marks = paths
        .iter()
        .map(|(path, body)| app.post(&app.a, &t[1], path, body.clone()));
    for resp in futures::future::join_all(marks).await {
        resp.assert_status(200);
    }
    let list = app.get(&app.a, &t[1], &format!("/channels/{ch}")).await;
    assert_eq!(
        list.assert_status(200)["membership"]["last_read_message_id"],
        second.as_str()
    );
}

#[tokio::test]
async fn a_removed_member_cannot_reopen_a_distinct_group() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let body = json!({"type": "group", "is_distinct": true, "members": ["alice", "bob", "carol"]});
    let ch = app.create_channel(&app.a, &t[0], body.clone()).await;
    app.patch(
        &app.a,
        &t[0],
        &format!("/channels/{ch}"),
        json!({"set": {"name": "after carol", "metadata": {"plan": "x"}}}),
    )
    .await
    .assert_status(200);
    app.delete(&app.a, &t[0], &format!("/channels/{ch}/members/carol"))
        .await
        .assert_status(204);
    let again = app.post(&app.a, &t[2], "/channels", body.clone()).await;
    again.assert_error(403, "forbidden");
    assert!(!again.body.to_string().contains("after carol"));
    // A member still gets the channel.
    let same = app.post(&app.a, &t[1], "/channels", body).await;
    assert_eq!(same.assert_status(200)["channel"]["id"], ch.as_str());
}

#[tokio::test]
async fn a_draft_quotes_only_a_readable_message_of_its_channel() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let private = app.group(&app.a, &t[0], &["bob"]).await;
    let eves = app.group(&app.a, &t[2], &[]).await;
    let secret = app.say(&app.a, &t[0], &private, "secret").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for quoted in [secret.as_str(), "no-such-message"] {
        app.put(
            &app.a,
            &t[2],
            &format!("/channels/{eves}/draft"),
            json!({"text": "look", "quoted_message_id": quoted}),
        )
        .await
        .assert_error(400, "validation_error");
    }
    app.put(
        &app.a,
        &t[1],
        &format!("/channels/{private}/draft"),
        json!({"text": "re", "quoted_message_id": secret}),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn presence_is_shown_to_peers_only() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "stranger"])
        .await;
    app.group(&app.a, &t[0], &["bob"]).await;
    let _alice_ws = app.ws(&app.a, &t[0]).await;
    let peer = app.get(&app.a, &t[1], "/users/alice").await;
    assert_eq!(peer.assert_status(200)["user"]["online"], true);
    let stranger = app.get(&app.a, &t[2], "/users/alice").await;
    let user = &stranger.assert_status(200)["user"];
    assert_eq!(user["online"], false);
    assert!(user["last_active"].is_null());
    let listed = app.get(&app.a, &t[2], "/users?ids=alice,bob").await;
    for user in listed.assert_status(200)["users"].as_array().unwrap() {
        assert_eq!(user["online"], false, "{user}");
    }
    let server = app.get(&app.a, &app.a.server, "/users/alice").await;
    assert_eq!(server.assert_status(200)["user"]["online"], true);
}
