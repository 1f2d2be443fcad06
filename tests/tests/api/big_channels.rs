//! Passive watchers: in a channel with more members than the app's
//! `big_channel_size`, and for watchers of a public channel who are not its
//! members, sockets get messages, edits, deletes and reactions, and no
//! typing, read, delivery or presence events.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};
use crate::ws::Ws;

/// Typing, reads and deliveries: what a passive watcher never gets.
const CHATTER: [&str; 4] = [
    "typing.start",
    "typing.stop",
    "message.read",
    "message.delivered",
];

async fn app_with_big_channels_above(size: u32) -> TestApp {
    let mut options = chat_local::StackOptions::ephemeral();
    options.config.app_cache_ttl = Duration::ZERO;
    let app = TestApp::spawn_with(options).await;
    set_size(&app, size).await;
    app
}

async fn set_size(app: &TestApp, size: u32) {
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "big_channel_size": size } }),
    )
    .await
    .assert_status(200);
}

/// `who` types, reads and marks delivered in `ch`.
async fn chatter(app: &TestApp, t: &Tenant, who: (&str, &mut Ws), ch: &str, message: &str) {
    let (token, ws) = who;
    for action in ["typing.start", "typing.stop"] {
        let ack = ws
            .request(json!({ "action": action, "channel_id": ch }))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    app.post(t, token, &format!("/channels/{ch}/read"), json!({}))
        .await
        .assert_status(200);
    app.post(
        t,
        token,
        &format!("/channels/{ch}/delivered"),
        json!({ "message_id": message }),
    )
    .await
    .assert_status(200);
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_big_channels_sockets_get_its_messages_edits_deletes_and_reactions_only() {
    let app = app_with_big_channels_above(3).await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol", "dave"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let mut carol = app.ws(&app.a, &t[2]).await;

    let id = app.say_id(&app.a, &t[0], &ch, "to the crowd").await;
    assert_eq!(
        bob.expect("message.new").await["message"]["id"],
        id.as_str()
    );
    app.patch(
        &app.a,
        &t[0],
        &format!("/messages/{id}"),
        json!({ "text": "edited" }),
    )
    .await
    .assert_status(200);
    bob.expect("message.updated").await;
    app.post(
        &app.a,
        &t[0],
        &format!("/messages/{id}/reactions"),
        json!({ "type": "like" }),
    )
    .await
    .assert_status(201);
    bob.expect("reaction.new").await;
    chatter(&app, &app.a, (&t[2], &mut carol), &ch, &id).await;
    app.delete(&app.a, &t[0], &format!("/messages/{id}"))
        .await
        .assert_status(200);
    bob.expect("message.deleted").await;
    let rest = kinds(&bob.events(Duration::from_millis(500)).await);
    assert!(
        rest.iter().all(|k| !CHATTER.contains(&k.as_str())),
        "a big channel's socket got {rest:?}"
    );

    // The app's size decides: the same channel is small under 10.
    set_size(&app, 10).await;
    let id = app.say_id(&app.a, &t[0], &ch, "smaller now").await;
    bob.expect("message.new").await;
    chatter(&app, &app.a, (&t[2], &mut carol), &ch, &id).await;
    for kind in CHATTER {
        bob.expect(kind).await;
    }
}

#[tokio::test]
async fn watchers_who_are_not_members_get_messages_and_reactions_not_typing_or_reads() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let ch = app
        .create_channel(
            &app.a,
            &t[0],
            json!({ "type": "public", "members": ["alice", "bob"] }),
        )
        .await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let mut eve = app.ws(&app.a, &t[2]).await;
    let ack = eve
        .request(json!({ "action": "channel.watch", "channel_id": ch }))
        .await;
    assert_eq!(ack["result"]["watching"], true, "{ack}");

    let id = app.say_id(&app.a, &t[0], &ch, "hello watchers").await;
    eve.expect("message.new").await;
    app.post(
        &app.a,
        &t[0],
        &format!("/messages/{id}/reactions"),
        json!({ "type": "like" }),
    )
    .await
    .assert_status(201);
    eve.expect("reaction.new").await;
    chatter(&app, &app.a, (&t[1], &mut bob), &ch, &id).await;
    // A member gets each of them, so they were sent...
    for kind in CHATTER {
        alice.expect(kind).await;
    }
    // ...and the watcher none.
    let rest = kinds(&eve.events(Duration::from_millis(500)).await);
    assert!(
        rest.iter().all(|k| !CHATTER.contains(&k.as_str())),
        "a watcher who is not a member got {rest:?}"
    );
}

#[tokio::test]
async fn presence_is_not_told_through_big_channels() {
    let app = app_with_big_channels_above(3).await;
    let t = &app.a;
    let tokens = app
        .create_users(t, &["alice", "bob", "carol", "dave"])
        .await;
    let (alice, bob) = (&tokens[0], &tokens[1]);
    let small = app.group(t, alice, &["bob"]).await;
    app.group(t, alice, &["bob", "carol", "dave"]).await;
    let mut alice_ws = app.ws(t, alice).await;
    // Through the small channel bob's presence reaches alice...
    let bob_ws = app.ws(t, bob).await;
    let event = alice_ws.expect("user.presence.changed").await;
    assert_eq!(event["user"]["id"], "bob");
    bob_ws.close().await;
    alice_ws.expect("user.presence.changed").await;
    // ...but once they share only a big channel, it does not.
    app.delete(t, alice, &format!("/channels/{small}/members/bob"))
        .await
        .assert_status(204);
    let _bob_again = app.ws(t, bob).await;
    let seen = kinds(&alice_ws.events(Duration::from_millis(700)).await);
    assert!(
        !seen.iter().any(|k| k == "user.presence.changed"),
        "presence through a big channel: {seen:?}"
    );
}

#[tokio::test]
async fn the_big_channel_size_is_validated_and_unset_returns_to_its_default() {
    let app = app_with_big_channels_above(50).await;
    let shown = app.get(&app.a, &app.a.server, "/app").await;
    assert_eq!(
        shown.assert_status(200)["app"]["settings"]["big_channel_size"],
        50
    );
    for bad in [
        json!(0),
        json!(1),
        json!(1_000_001),
        json!("big"),
        json!(-5),
    ] {
        app.patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({ "set": { "big_channel_size": bad } }),
        )
        .await
        .assert_error(400, "validation_error");
    }
    let unset = app
        .patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({ "unset": ["big_channel_size"] }),
        )
        .await;
    assert_eq!(
        unset.assert_status(200)["app"]["settings"]["big_channel_size"],
        200
    );
    // Another app keeps its own.
    let other = app.get(&app.b, &app.b.server, "/app").await;
    assert_eq!(
        other.assert_status(200)["app"]["settings"]["big_channel_size"],
        200
    );
}
