//! A socket receives an event only if its user may read it then: removal,
//! leaving and a ban end watching, and a pending invitee sees the channel
//! but not its history, members or their changes.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};
use crate::ws::Ws;

/// Everything that happens in a channel, done by its owner (and `other`, a
/// member), one event type after another; `witness` (the owner's socket)
/// sees each arrive, so the events were really sent.
async fn every_event(
    app: &TestApp,
    t: &Tenant,
    owner: &str,
    other: &str,
    ch: &str,
    witness: &mut Ws,
) {
    let message = app.say(t, owner, ch, "secret one").await;
    let id = message["id"].as_str().unwrap().to_string();
    witness.expect("message.new").await;
    app.patch(
        t,
        owner,
        &format!("/messages/{id}"),
        json!({"text": "secret edited"}),
    )
    .await
    .assert_status(200);
    witness.expect("message.updated").await;
    app.post(
        t,
        owner,
        &format!("/messages/{id}/reactions"),
        json!({"type": "like"}),
    )
    .await
    .assert_status(201);
    witness.expect("reaction.new").await;
    app.delete(t, owner, &format!("/messages/{id}/reactions/like"))
        .await
        .assert_status(200);
    witness.expect("reaction.deleted").await;
    app.post(t, other, &format!("/channels/{ch}/read"), json!({}))
        .await
        .assert_status(200);
    witness.expect("message.read").await;
    let mut other_ws = app.ws(t, other).await;
    other_ws
        .request(json!({"action": "typing.start", "channel_id": ch}))
        .await;
    witness.expect("typing.start").await;
    other_ws
        .request(json!({"action": "typing.stop", "channel_id": ch}))
        .await;
    witness.expect("typing.stop").await;
    other_ws.close().await;
    // A new member (created here), a role change, and the member leaving again.
    app.upsert(t, json!([{ "id": "newcomer" }]))
        .await
        .assert_status(200);
    app.post(
        t,
        owner,
        &format!("/channels/{ch}/members"),
        json!({"user_ids": ["newcomer"]}),
    )
    .await
    .assert_status(200);
    witness.expect("member.added").await;
    app.patch(
        t,
        owner,
        &format!("/channels/{ch}/members/newcomer"),
        json!({"role": "admin"}),
    )
    .await
    .assert_status(200);
    witness.expect("member.updated").await;
    app.delete(t, owner, &format!("/channels/{ch}/members/newcomer"))
        .await
        .assert_status(204);
    witness.expect("member.removed").await;
    app.patch(
        t,
        owner,
        &format!("/channels/{ch}"),
        json!({"set": {"name": "renamed"}}),
    )
    .await
    .assert_status(200);
    witness.expect("channel.updated").await;
    app.post(t, owner, &format!("/channels/{ch}/freeze"), json!({}))
        .await
        .assert_status(200);
    witness.expect("channel.frozen").await;
    app.post(t, owner, &format!("/channels/{ch}/unfreeze"), json!({}))
        .await
        .assert_status(200);
    witness.expect("channel.unfrozen").await;
    app.delete(t, owner, &format!("/messages/{id}"))
        .await
        .assert_status(200);
    witness.expect("message.deleted").await;
    app.post(t, owner, &format!("/channels/{ch}/truncate"), json!({}))
        .await
        .assert_status(200);
    witness.expect("channel.truncated").await;
}

/// Event types a socket received, acks left out.
async fn kinds(ws: &mut Ws) -> Vec<String> {
    ws.events(Duration::from_millis(300))
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn watch(ws: &mut Ws, ch: &str) -> Value {
    ws.request(json!({"action": "channel.watch", "channel_id": ch}))
        .await
}

#[tokio::test]
async fn a_removed_member_who_watched_a_private_channel_receives_nothing_more() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    assert_eq!(watch(&mut bob, &ch).await["ok"], true);
    app.delete(&app.a, &t[0], &format!("/channels/{ch}/members/bob"))
        .await
        .assert_status(204);
    assert_eq!(kinds(&mut bob).await, ["member.removed"]);
    every_event(&app, &app.a, &t[0], &t[2], &ch, &mut alice).await;
    assert_eq!(
        kinds(&mut bob).await,
        Vec::<String>::new(),
        "nothing after removal"
    );
    // Watching again is refused: a non-member cannot read a private channel.
    assert_eq!(watch(&mut bob, &ch).await["ok"], false);
}

#[tokio::test]
async fn leaving_ends_watching_too() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    assert_eq!(watch(&mut bob, &ch).await["ok"], true);
    app.post(&app.a, &t[1], &format!("/channels/{ch}/leave"), json!({}))
        .await
        .assert_status(204);
    let _ = kinds(&mut bob).await;
    every_event(&app, &app.a, &t[0], &t[2], &ch, &mut alice).await;
    assert_eq!(kinds(&mut bob).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_ban_ends_watching_a_public_channel() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "carol", "dave"]).await;
    let ch = app
        .create_channel(
            &app.a,
            &t[0],
            json!({"type": "public", "name": "town", "members": ["carol"]}),
        )
        .await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut dave = app.ws(&app.a, &t[2]).await;
    assert_eq!(watch(&mut dave, &ch).await["ok"], true);
    app.say(&app.a, &t[0], &ch, "hello town").await;
    alice.expect("message.new").await;
    assert_eq!(
        kinds(&mut dave).await,
        ["message.new"],
        "a watcher of a public channel"
    );
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/bans"),
        json!({"user_id": "dave"}),
    )
    .await
    .assert_status(201);
    every_event(&app, &app.a, &t[0], &t[1], &ch, &mut alice).await;
    assert_eq!(
        kinds(&mut dave).await,
        Vec::<String>::new(),
        "nothing after the ban"
    );
}

#[tokio::test]
async fn a_pending_invitee_sees_the_channel_but_not_its_history_or_members() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "dave"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    app.say(&app.a, &t[0], &ch, "before the invite").await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/members"),
        json!({"user_ids": ["dave"], "invite": true}),
    )
    .await
    .assert_status(200);
    let shown = app.get(&app.a, &t[2], &format!("/channels/{ch}")).await;
    let shown = shown.assert_status(200);
    assert_eq!(shown["channel"]["name"], "g");
    assert_eq!(shown["members"], json!([]), "{shown}");
    for path in [
        format!("/channels/{ch}/messages"),
        format!("/channels/{ch}/members"),
        format!("/channels/{ch}/pinned"),
        format!("/search?query=before&channel_id={ch}"),
    ] {
        app.get(&app.a, &t[2], &path)
            .await
            .assert_error(403, "forbidden");
    }
    let everywhere = app.get(&app.a, &t[2], "/search?query=before").await;
    assert_eq!(everywhere.assert_status(200)["results"], json!([]));

    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut dave = app.ws(&app.a, &t[2]).await;
    assert_eq!(watch(&mut dave, &ch).await["ok"], false);
    every_event(&app, &app.a, &t[0], &t[1], &ch, &mut alice).await;
    // Changes to the channel itself, which an invitee decides on; nothing else.
    assert_eq!(
        kinds(&mut dave).await,
        [
            "channel.updated",
            "channel.frozen",
            "channel.unfrozen",
            "channel.truncated"
        ]
    );

    // Accepting opens the history.
    app.post(
        &app.a,
        &t[2],
        &format!("/channels/{ch}/invites/accept"),
        json!({}),
    )
    .await
    .assert_status(200);
    app.get(&app.a, &t[2], &format!("/channels/{ch}/messages"))
        .await
        .assert_status(200);
}
