//! The online index: fan-out finds members through one item per (channel,
//! online member). These tests hold its invariants against the table and
//! real sockets: entries follow connects, disconnects and membership;
//! members added while online hear the channel; a stale entry never
//! delivers to someone who may not read; a disconnect racing a connect
//! leaves the user online.

use std::collections::BTreeSet;
use std::time::Duration;

use chat_shared::ids::{AppId, ChannelId, UserId};
use chat_shared::keys;
use chat_shared::realtime::online::{self, Online};
use serde_json::json;

use crate::helpers::{Tenant, TestApp};

async fn entries(app: &TestApp, t: &Tenant, channel: &str) -> BTreeSet<String> {
    let items: Vec<Online> = app
        .stack
        .state
        .db
        .query_all(
            &keys::channel_partition(&t.app.app_id, &ChannelId::parse(channel).unwrap()),
            keys::ONLINE_PREFIX,
            100,
        )
        .await
        .unwrap();
    items.into_iter().map(|e| e.user_id.to_string()).collect()
}

async fn eventually(app: &TestApp, t: &Tenant, channel: &str, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    for _ in 0..100 {
        if entries(app, t, channel).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        entries(app, t, channel).await,
        want,
        "online entries of {channel}"
    );
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn entries_follow_connections_and_membership() {
    let app = TestApp::spawn().await;
    let t = &app.a;
    let tokens = app.create_users(t, &["alice", "bob", "carol"]).await;
    let (alice, bob) = (&tokens[0], &tokens[1]);
    let one = app.group(t, alice, &["bob"]).await;
    let two = app.group(t, alice, &["bob", "carol"]).await;
    assert!(
        entries(&app, t, &one).await.is_empty(),
        "nobody is connected"
    );

    let bob_ws = app.ws(t, bob).await;
    assert_eq!(entries(&app, t, &one).await, set(&["bob"]));
    assert_eq!(entries(&app, t, &two).await, set(&["bob"]));
    // A second socket, then closing one: still online.
    let bob_again = app.ws(t, bob).await;
    bob_again.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(entries(&app, t, &two).await, set(&["bob"]));

    // Removal takes bob out of that channel only.
    app.delete(t, alice, &format!("/channels/{two}/members/bob"))
        .await
        .assert_status(204);
    assert!(entries(&app, t, &two).await.is_empty());
    assert_eq!(entries(&app, t, &one).await, set(&["bob"]));

    // The last socket closing takes him out everywhere.
    bob_ws.close().await;
    eventually(&app, t, &one, &[]).await;
}

#[tokio::test]
async fn a_member_added_while_online_hears_the_channel_at_once() {
    let app = TestApp::spawn().await;
    let t = &app.a;
    let tokens = app.create_users(t, &["alice", "bob", "dan"]).await;
    let (alice, dan) = (&tokens[0], &tokens[2]);
    let mut dan_ws = app.ws(t, dan).await;
    let group = app.group(t, alice, &["bob"]).await;
    app.post(
        t,
        alice,
        &format!("/channels/{group}/members"),
        json!({ "user_ids": ["dan"] }),
    )
    .await
    .assert_status(200);
    assert_eq!(entries(&app, t, &group).await, set(&["dan"]));
    app.say(t, alice, &group, "welcome, dan").await;
    let event = dan_ws.expect("message.new").await;
    assert_eq!(event["message"]["text"], "welcome, dan");

    // Created with him in it while he is online: the same.
    let created = app.group(t, alice, &["dan"]).await;
    app.say(t, alice, &created, "a new room").await;
    let event = dan_ws
        .expect_where(|m| m["type"] == "message.new" && m["channel_id"] == created.as_str())
        .await;
    assert_eq!(event["message"]["text"], "a new room");
}

#[tokio::test]
async fn a_stale_entry_never_delivers_to_someone_who_may_not_read() {
    let app = TestApp::spawn().await;
    let t = &app.a;
    let tokens = app.create_users(t, &["alice", "bob", "eve"]).await;
    let (alice, eve) = (&tokens[0], &tokens[2]);
    let group = app.group(t, alice, &["bob"]).await;
    let mut eve_ws = app.ws(t, eve).await;
    // As if a removal had raced eve's connect: an entry for a non-member.
    let stale = Online {
        app_id: t.app.app_id.clone(),
        channel_id: ChannelId::parse(&group).unwrap(),
        user_id: UserId::parse("eve").unwrap(),
        expires: chat_shared::time::now_secs() + 600,
    };
    app.stack
        .state
        .db
        .put(&stale, chat_shared::db::Cond::Always)
        .await
        .unwrap();
    app.say(t, alice, &group, "private").await;
    let seen = eve_ws.events(Duration::from_millis(700)).await;
    assert!(
        seen.iter().all(|e| e["channel_id"] != group.as_str()),
        "a non-member got {seen:?}"
    );
}

#[tokio::test]
async fn a_disconnect_racing_a_connect_leaves_the_user_online() {
    let app = TestApp::spawn().await;
    let t = &app.a;
    let tokens = app.create_users(t, &["alice", "bob"]).await;
    let (alice, bob) = (&tokens[0], &tokens[1]);
    let group = app.group(t, alice, &["bob"]).await;
    let mut bob_ws = app.ws(t, bob).await;
    // The last-disconnect clean-up running while bob (again) has a socket:
    // it deletes his entries, sees the connection, and writes them back.
    let app_id: &AppId = &t.app.app_id;
    online::leave_all(&app.stack.state.db, app_id, &UserId::parse("bob").unwrap())
        .await
        .unwrap();
    assert_eq!(entries(&app, t, &group).await, set(&["bob"]));
    app.say(t, alice, &group, "still there?").await;
    assert_eq!(
        bob_ws.expect("message.new").await["message"]["text"],
        "still there?"
    );
}
