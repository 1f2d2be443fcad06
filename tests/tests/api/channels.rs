//! `/channels`: create (distinct, direct), read, update, delete.

use std::collections::HashSet;

use chat_shared::ids::{ChannelId, UserId};
use chat_shared::keys;
use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn create_group_channel_makes_the_creator_owner_and_writes_every_item() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let resp = app
        .post(
            &app.a,
            &t[0],
            "/channels",
            json!({
                "type": "group", "id": "team-1", "name": "Team", "description": "d",
                "avatar_url": "https://img.example.com/t.png", "members": ["bob", "carol"],
                "metadata": { "topic": "x" }, "settings": { "reactions": false }, "slow_mode": 10
            }),
        )
        .await;
    let body = resp.assert_status(201).clone();
    let channel = &body["channel"];
    assert_eq!(channel["id"], "team-1");
    assert_eq!(channel["type"], "group");
    assert_eq!(channel["name"], "Team");
    assert_eq!(channel["member_count"], 3);
    assert_eq!(channel["slow_mode"], 10);
    assert_eq!(channel["settings"]["reactions"], false);
    assert_eq!(channel["settings"]["typing_events"], true);
    assert_eq!(channel["created_by"], "alice");
    assert_eq!(channel["frozen"], false);
    assert_eq!(body["membership"]["role"], "owner");
    let roles: Vec<(String, String)> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("alice".into(), "owner".into()),
            ("bob".into(), "member".into()),
            ("carol".into(), "member".into())
        ]
    );

    // The items in the table: channel, member items and the user-side mirrors.
    let db = &app.stack.state.db;
    let a = &app.a.app.app_id;
    let ch = ChannelId::parse("team-1").unwrap();
    let item: Value = db.get(&keys::channel(a, &ch).any()).await.unwrap().unwrap();
    assert_eq!(item["entity"], "channel");
    for user in ["alice", "bob", "carol"] {
        let u = UserId::parse(user).unwrap();
        let member: Value = db
            .get(&keys::member(a, &ch, &u).any())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(member["entity"], "member");
        let mirror: Value = db
            .get(&keys::membership(a, &u, &ch).any())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mirror["entity"], "membership");
    }
}

#[tokio::test]
async fn create_refuses_bad_input() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    app.group(&app.a, &t[0], &["bob"]).await;
    let fifty: Vec<String> = (0..49).map(|i| format!("u{i}")).collect();
    let cases = [
        (json!({ "type": "room" }), 400, "validation_error"),
        (json!({ "name": "no type" }), 400, "validation_error"),
        (
            json!({ "type": "direct", "members": ["bob", "carol"] }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "direct", "members": [] }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "is_distinct": true, "id": "x", "members": ["bob"] }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "members": ["bob", "ghost"] }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "members": fifty }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "name": "n".repeat(129) }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "name": "" }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "avatar_url": "nope" }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "slow_mode": 3601 }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "slow_mode": -1 }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "settings": { "teleport": true } }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "id": "bad#id" }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "colour": "red" }),
            400,
            "validation_error",
        ),
        (
            json!({ "type": "group", "metadata": { "m": "x".repeat(6000) } }),
            413,
            "payload_too_large",
        ),
    ];
    for (body, status, code) in cases {
        app.post(&app.a, &t[0], "/channels", body)
            .await
            .assert_error(status, code);
    }
    app.create_channel(&app.a, &t[0], json!({ "type": "group", "id": "taken" }))
        .await;
    app.post(
        &app.a,
        &t[1],
        "/channels",
        json!({ "type": "group", "id": "taken", "name": "mine now" }),
    )
    .await
    .assert_error(409, "conflict");
    // The first channel is intact and bob did not become its owner.
    let resp = app.get(&app.a, &t[0], "/channels/taken").await;
    assert_eq!(resp.assert_status(200)["channel"]["created_by"], "alice");
    assert_eq!(resp.body["channel"]["name"], Value::Null);
    // A user token cannot create a channel on another user's behalf.
    app.post(
        &app.a,
        &t[0],
        "/channels",
        json!({ "type": "group", "user_id": "bob" }),
    )
    .await
    .assert_error(403, "forbidden");
}

#[tokio::test]
async fn distinct_channels_are_returned_not_duplicated() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let first = app
        .post(
            &app.a,
            &t[0],
            "/channels",
            json!({ "type": "group", "is_distinct": true, "members": ["bob", "carol"] }),
        )
        .await;
    let id = first.assert_status(201)["channel"]["id"].clone();
    assert_eq!(first.body["channel"]["is_distinct"], true);
    // Same set, other creator, other order: the same channel, 200.
    let again = app
        .post(
            &app.a,
            &t[2],
            "/channels",
            json!({ "type": "group", "is_distinct": true, "members": ["bob", "alice"] }),
        )
        .await;
    assert_eq!(again.assert_status(200)["channel"]["id"], id);
    // A different set is a different channel.
    let other = app
        .post(
            &app.a,
            &t[0],
            "/channels",
            json!({ "type": "group", "is_distinct": true, "members": ["bob"] }),
        )
        .await;
    assert_ne!(other.assert_status(201)["channel"]["id"], id);
    // Direct channels are always distinct.
    let dm = app
        .post(
            &app.a,
            &t[0],
            "/channels",
            json!({ "type": "direct", "members": ["bob"] }),
        )
        .await;
    let dm_id = dm.assert_status(201)["channel"]["id"].clone();
    assert_eq!(dm.body["channel"]["is_distinct"], true);
    let dm2 = app
        .post(
            &app.a,
            &t[1],
            "/channels",
            json!({ "type": "direct", "members": ["alice"] }),
        )
        .await;
    assert_eq!(dm2.assert_status(200)["channel"]["id"], dm_id);
}

#[tokio::test]
async fn concurrent_distinct_creates_end_with_one_channel() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let attempts = (0..8).map(|i| {
        let token = t[i % 2].clone();
        let other = if i % 2 == 0 { "bob" } else { "alice" };
        let app = &app;
        async move {
            app.post(
                &app.a,
                &token,
                "/channels",
                json!({ "type": "direct", "members": [other] }),
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let mut ids = HashSet::new();
    let mut created = 0;
    for resp in &results {
        assert!(resp.status == 200 || resp.status == 201, "{:?}", resp);
        if resp.status == 201 {
            created += 1;
        }
        ids.insert(resp.body["channel"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "every create returned the same channel");
    assert_eq!(created, 1, "exactly one request created it");
    let listed = app.get(&app.a, &t[0], "/channels").await;
    assert_eq!(
        listed.assert_status(200)["channels"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn read_rules_for_members_non_members_public_and_server() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let group = app.group(&app.a, &t[0], &["bob"]).await;
    let public = app
        .create_channel(&app.a, &t[0], json!({ "type": "public", "name": "lobby" }))
        .await;
    let dm = app
        .create_channel(
            &app.a,
            &t[0],
            json!({ "type": "direct", "members": ["bob"] }),
        )
        .await;

    app.get(&app.a, &t[1], &format!("/channels/{group}"))
        .await
        .assert_status(200);
    for id in [&group, &dm] {
        app.get(&app.a, &t[2], &format!("/channels/{id}"))
            .await
            .assert_error(403, "forbidden");
        app.get(&app.a, &t[2], &format!("/channels/{id}/members"))
            .await
            .assert_error(403, "forbidden");
    }
    let seen = app.get(&app.a, &t[2], &format!("/channels/{public}")).await;
    assert_eq!(seen.assert_status(200)["membership"], Value::Null);
    app.get(&app.a, &t[2], &format!("/channels/{public}/members"))
        .await
        .assert_status(200);
    app.get(&app.a, &app.a.server, &format!("/channels/{group}"))
        .await
        .assert_status(200);
    app.get(&app.a, &t[0], "/channels/nope")
        .await
        .assert_error(404, "not_found");
    app.get(&app.a, &t[0], "/channels/bad%23id")
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn update_by_owner_admin_or_server_only() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let path = format!("/channels/{id}");
    app.patch(
        &app.a,
        &t[0],
        &format!("/channels/{id}/members/bob"),
        json!({ "role": "admin" }),
    )
    .await
    .assert_status(200);

    let resp = app
        .patch(
            &app.a,
            &t[0],
            &path,
            json!({ "set": { "name": "Renamed", "description": "x", "slow_mode": 5 } }),
        )
        .await;
    assert_eq!(resp.assert_status(200)["channel"]["name"], "Renamed");
    let resp = app
        .patch(
            &app.a,
            &t[1],
            &path,
            json!({ "unset": ["description"], "set": { "metadata": { "a": 1 } } }),
        )
        .await;
    assert_eq!(
        resp.assert_status(200)["channel"]["description"],
        Value::Null
    );
    assert_eq!(resp.body["channel"]["metadata"]["a"], 1);
    let resp = app
        .patch(
            &app.a,
            &app.a.server,
            &path,
            json!({ "set": { "settings": { "uploads": false } } }),
        )
        .await;
    assert_eq!(
        resp.assert_status(200)["channel"]["settings"]["uploads"],
        false
    );

    app.patch(&app.a, &t[2], &path, json!({ "set": { "name": "member" } }))
        .await
        .assert_error(403, "forbidden");
    app.patch(
        &app.a,
        &t[3],
        &path,
        json!({ "set": { "name": "outsider" } }),
    )
    .await
    .assert_error(403, "forbidden");
    app.patch(
        &app.a,
        &t[0],
        &path,
        json!({ "set": { "slow_mode": 99999 } }),
    )
    .await
    .assert_error(400, "validation_error");
    app.patch(&app.a, &t[0], &path, json!({ "set": { "type": "public" } }))
        .await
        .assert_error(400, "validation_error");
    let resp = app.get(&app.a, &t[0], &path).await;
    assert_eq!(resp.assert_status(200)["channel"]["name"], "Renamed");
    assert_eq!(resp.body["channel"]["slow_mode"], 5);
}

#[tokio::test]
async fn delete_by_owner_or_server_hides_everything_and_frees_the_distinct_set() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app
        .create_channel(
            &app.a,
            &t[0],
            json!({ "type": "group", "is_distinct": true, "members": ["bob", "carol"] }),
        )
        .await;
    let path = format!("/channels/{id}");
    app.patch(
        &app.a,
        &t[0],
        &format!("{path}/members/bob"),
        json!({ "role": "admin" }),
    )
    .await
    .assert_status(200);
    app.delete(&app.a, &t[1], &path)
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[2], &path)
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[3], &path)
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[0], &path).await.assert_status(204);

    app.get(&app.a, &t[0], &path)
        .await
        .assert_error(404, "not_found");
    app.delete(&app.a, &t[0], &path)
        .await
        .assert_error(404, "not_found");
    let listed = app.get(&app.a, &t[1], "/channels").await;
    assert_eq!(listed.assert_status(200)["channels"], json!([]));
    // Member items and mirrors are gone from the table.
    let db = &app.stack.state.db;
    let ch = ChannelId::parse(id.as_str()).unwrap();
    let bob = UserId::parse("bob").unwrap();
    assert!(db
        .get::<Value>(&keys::member(&app.a.app.app_id, &ch, &bob).any())
        .await
        .unwrap()
        .is_none());
    assert!(db
        .get::<Value>(&keys::membership(&app.a.app.app_id, &bob, &ch).any())
        .await
        .unwrap()
        .is_none());
    // The id is not reused, and the member set may have a new distinct channel.
    app.post(
        &app.a,
        &t[0],
        "/channels",
        json!({ "type": "group", "id": id }),
    )
    .await
    .assert_error(409, "conflict");
    let fresh = app
        .create_channel(
            &app.a,
            &t[1],
            json!({ "type": "group", "is_distinct": true, "members": ["alice", "carol"] }),
        )
        .await;
    assert_ne!(fresh, id);
    // The server may delete too.
    app.delete(&app.a, &app.a.server, &format!("/channels/{fresh}"))
        .await
        .assert_status(204);
}
