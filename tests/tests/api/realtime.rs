//! The WebSocket API through the local gateway emulator and real clients.

use std::time::Duration;

use chat_local::gateway::GatewayOptions;
use chat_local::StackOptions;
use chat_shared::ids::{AppId, ConnectionId, UserId};
use chat_shared::realtime::connections;
use chat_shared::realtime::management::{Posted, Poster};
use serde_json::{json, Value};

use crate::helpers::TestApp;

const QUIET: Duration = Duration::from_millis(400);

async fn open_connections(app: &TestApp, tenant_app: &AppId, user: &str) -> usize {
    let user = UserId::parse(user).unwrap();
    connections::of_user(&app.stack.state.db, tenant_app, &user)
        .await
        .unwrap()
        .len()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn connect_is_refused_like_rest_and_leaves_no_connection() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let base = &app.stack.ws_url;
    assert_eq!(
        app.ws_refused(&format!("{base}/?token={}", t[0])).await,
        401
    );
    assert_eq!(
        app.ws_refused(&format!("{base}/?api_key={}", app.a.key()))
            .await,
        401
    );
    assert_eq!(app.ws_refused(&app.ws_url("0000", &t[0])).await, 401);
    assert_eq!(
        app.ws_refused(&app.ws_url(app.a.key(), "garbage")).await,
        401
    );
    assert_eq!(
        app.ws_refused(&app.ws_url(app.a.key(), &app.b.user_token("alice")))
            .await,
        401
    );
    let expired = chat_shared::auth::mint_user_token(
        &app.a.app.api_secret,
        &UserId::parse("alice").unwrap(),
        Some(-100),
    )
    .unwrap();
    assert_eq!(
        app.ws_refused(&app.ws_url(app.a.key(), &expired)).await,
        401
    );
    assert_eq!(
        app.ws_refused(&app.ws_url(app.a.key(), &app.a.server))
            .await,
        403
    );
    assert_eq!(open_connections(&app, &app.a.app.app_id, "alice").await, 0);
    assert!(app.stack.gateway.connection_ids().is_empty());
}

#[tokio::test]
async fn connections_are_stored_with_a_ttl_and_removed_on_disconnect() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let mut ws = app.ws(&app.a, &t[0]).await;
    let ack = ws.request(json!({ "action": "health.check" })).await;
    assert_eq!(ack["ok"], true);
    let id = ack["result"]["connection_id"].as_str().unwrap().to_string();
    let stored = connections::get(
        &app.stack.state.db,
        &chat_shared::ids::ConnectionId::parse(id.as_str()).unwrap(),
    )
    .await
    .unwrap()
    .expect("connection item");
    let ttl = stored.expires - chat_shared::time::now_secs();
    assert!((7200..=7500).contains(&ttl), "ttl {ttl}");
    assert_eq!(open_connections(&app, &app.a.app.app_id, "alice").await, 1);
    let me = app.get(&app.a, &t[0], "/users/alice").await;
    assert_eq!(me.assert_status(200)["user"]["online"], true);

    ws.close().await;
    // `$disconnect` deletes the connection's items, then takes it out of
    // the user's index (which says online): wait for both.
    let mut me = app.get(&app.a, &t[0], "/users/alice").await;
    for _ in 0..50 {
        if open_connections(&app, &app.a.app.app_id, "alice").await == 0
            && me.body["user"]["online"].as_bool() == Some(false)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        me = app.get(&app.a, &t[0], "/users/alice").await;
    }
    assert_eq!(open_connections(&app, &app.a.app.app_id, "alice").await, 0);
    assert_eq!(me.assert_status(200)["user"]["online"], false);
    assert!(me.body["user"]["last_active"].is_string());
}

/// Deletes a connection's item behind the gateway's back.
async fn forget_item(app: &TestApp, ws: &mut crate::ws::Ws) {
    let ack = ws.request(json!({ "action": "health.check" })).await;
    let id = ConnectionId::parse(ack["result"]["connection_id"].as_str().unwrap()).unwrap();
    let db = &app.stack.state.db;
    db.delete(
        &chat_shared::keys::connection(&id),
        chat_shared::db::Cond::Always,
    )
    .await
    .unwrap();
    assert!(connections::get(db, &id).await.unwrap().is_none());
}

/// The `$connect` authorizer's grant (app, user, token time) comes with
/// every frame, so a frame never reads its connection's item: with the item
/// gone, frames are still answered as the connection's user, and still
/// re-check that user against the token's time.
#[tokio::test]
async fn frames_are_answered_from_the_connect_grant_without_reading_the_connection() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let channel = app.group(&app.a, &t[0], &["bob"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    forget_item(&app, &mut alice).await;

    let ack = alice.request(json!({ "action": "health.check" })).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["result"]["user_id"], "alice");
    let ack = alice
        .request(json!({ "action": "message.send", "channel_id": channel, "text": "granted" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(
        bob.expect("message.new").await["message"]["text"],
        "granted"
    );

    // Revoked without the close reaching the socket: the next frame is
    // refused by the grant's token time.
    let alice_id = UserId::parse("alice").unwrap();
    chat_shared::users::revoke_tokens(&app.stack.state.db, &app.a.app.app_id, &alice_id)
        .await
        .unwrap();
    let ack = alice.request(json!({ "action": "health.check" })).await;
    assert_eq!(ack["error"]["code"], "token_revoked", "{ack}");
    assert!(alice.wait_closed(crate::ws::WAIT).await);

    // A token minted after the revocation: its socket's grant says so.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut fresh = app.ws(&app.a, &app.a.user_token("alice")).await;
    forget_item(&app, &mut fresh).await;
    let ack = fresh.request(json!({ "action": "health.check" })).await;
    assert_eq!(ack["ok"], true, "{ack}");
}

#[tokio::test]
async fn members_see_each_others_changes_and_outsiders_see_nothing() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let mut eve = app.ws(&app.a, &t[2]).await;

    // Bob sends over the socket; Alice receives it.
    let ack = bob
        .request(json!({ "action": "message.send", "channel_id": id, "text": "hi alice" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let mid = ack["result"]["message"]["id"].as_str().unwrap().to_string();
    let new = alice.expect("message.new").await;
    assert_eq!(new["channel_id"], id.as_str());
    assert_eq!(new["message"]["text"], "hi alice");
    assert_eq!(new["message"]["user"]["id"], "bob");
    assert!(new["created_at"].is_string());

    // Alice sends over REST; Bob receives it.
    app.say(&app.a, &t[0], &id, "hi bob").await;
    // Senders get their own message.new too (other devices stay in step).
    let own = bob.expect("message.new").await;
    assert_eq!(own["message"]["text"], "hi alice");
    assert_eq!(bob.expect("message.new").await["message"]["text"], "hi bob");

    app.patch(
        &app.a,
        &t[1],
        &format!("/messages/{mid}"),
        json!({ "text": "hi Alice" }),
    )
    .await
    .assert_status(200);
    assert_eq!(
        alice.expect("message.updated").await["message"]["text"],
        "hi Alice"
    );
    app.post(
        &app.a,
        &t[0],
        &format!("/messages/{mid}/reactions"),
        json!({ "type": "like" }),
    )
    .await
    .assert_status(201);
    let reaction = bob.expect("reaction.new").await;
    assert_eq!(reaction["reaction"]["type"], "like");
    assert_eq!(reaction["reaction_counts"]["like"], 1);
    app.delete(&app.a, &t[0], &format!("/messages/{mid}/reactions/like"))
        .await
        .assert_status(200);
    // The last reaction of a type takes the type off the counts.
    let deleted = bob.expect("reaction.deleted").await;
    assert_eq!(deleted["reaction_counts"], json!({}), "{deleted}");

    let read = alice
        .request(json!({ "action": "message.read", "channel_id": id }))
        .await;
    assert_eq!(read["ok"], true, "{read}");
    let receipt = bob.expect("message.read").await;
    assert_eq!(receipt["user"]["id"], "alice");

    // Typing reaches the others, never the typer; parent_id travels.
    let ack = alice
        .request(json!({ "action": "typing.start", "channel_id": id, "parent_id": mid }))
        .await;
    assert_eq!(ack["ok"], true);
    let typing = bob.expect("typing.start").await;
    assert_eq!(typing["user"]["id"], "alice");
    assert_eq!(typing["parent_id"], mid.as_str());
    alice
        .request(json!({ "action": "typing.stop", "channel_id": id }))
        .await;
    bob.expect("typing.stop").await;

    app.delete(&app.a, &t[1], &format!("/messages/{mid}"))
        .await
        .assert_status(200);
    let deleted = alice.expect("message.deleted").await;
    assert_eq!(deleted["message"]["type"], "deleted");

    let alice_rest = alice.events(QUIET).await;
    assert!(
        !kinds(&alice_rest).iter().any(|k| k.starts_with("typing")),
        "typing echoed: {alice_rest:?}"
    );
    let seen_by_eve = eve.events(QUIET).await;
    assert!(seen_by_eve.is_empty(), "eve saw {seen_by_eve:?}");
    // Eve cannot type or send into it either.
    let refused = eve
        .request(json!({ "action": "typing.start", "channel_id": id }))
        .await;
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["error"]["code"], "forbidden");
    let refused = eve
        .request(json!({ "action": "message.send", "channel_id": id, "text": "let me in" }))
        .await;
    assert_eq!(refused["error"]["code"], "forbidden");
}

#[tokio::test]
async fn membership_and_channel_events_reach_the_right_people() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let mut carol = app.ws(&app.a, &t[2]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let note = bob.expect("notification.added_to_channel").await;
    assert_eq!(note["channel"]["id"], id.as_str());

    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/members"),
        json!({ "user_ids": ["carol"] }),
    )
    .await
    .assert_status(200);
    assert_eq!(
        bob.expect("member.added").await["member"]["user_id"],
        "carol"
    );
    assert_eq!(
        carol.expect("notification.added_to_channel").await["channel"]["id"],
        id.as_str()
    );

    app.patch(
        &app.a,
        &t[0],
        &format!("/channels/{id}"),
        json!({ "set": { "name": "renamed" } }),
    )
    .await
    .assert_status(200);
    assert_eq!(
        carol.expect("channel.updated").await["channel"]["name"],
        "renamed"
    );
    app.post(&app.a, &t[0], &format!("/channels/{id}/freeze"), json!({}))
        .await
        .assert_status(200);
    carol.expect("channel.frozen").await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/unfreeze"),
        json!({}),
    )
    .await
    .assert_status(200);
    carol.expect("channel.unfrozen").await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/truncate"),
        json!({}),
    )
    .await
    .assert_status(200);
    carol.expect("channel.truncated").await;
    app.patch(
        &app.a,
        &t[0],
        &format!("/channels/{id}/members/bob"),
        json!({ "role": "admin" }),
    )
    .await
    .assert_status(200);
    assert_eq!(
        carol.expect("member.updated").await["member"]["role"],
        "admin"
    );

    app.delete(&app.a, &t[0], &format!("/channels/{id}/members/carol"))
        .await
        .assert_status(204);
    assert_eq!(
        bob.expect("member.removed").await["member"]["user_id"],
        "carol"
    );
    assert_eq!(
        carol.expect("member.removed").await["member"]["user_id"],
        "carol"
    );
    carol.drain(QUIET).await;
    // Carol is out: later messages do not reach her.
    app.say(&app.a, &t[0], &id, "without carol").await;
    bob.expect("message.new").await;
    assert!(carol.events(QUIET).await.is_empty());

    app.delete(&app.a, &t[0], &format!("/channels/{id}"))
        .await
        .assert_status(204);
    assert_eq!(
        bob.expect("channel.deleted").await["channel_id"],
        id.as_str()
    );
}

#[tokio::test]
async fn shadow_banned_messages_are_pushed_to_their_author_only() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    app.shadow_ban(&app.a, &t[0], &id, "bob").await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let ack = bob
        .request(json!({ "action": "message.send", "channel_id": id, "text": "shadow" }))
        .await;
    assert_eq!(ack["ok"], true);
    assert_eq!(bob.expect("message.new").await["message"]["text"], "shadow");
    let seen = alice.events(QUIET).await;
    assert!(
        !kinds(&seen).contains(&"message.new".to_string()),
        "{seen:?}"
    );
}

#[tokio::test]
async fn presence_reaches_channel_peers_only_once_per_user() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "carol", "eve"]).await;
    app.group(&app.a, &t[0], &["carol"]).await;
    let mut carol = app.ws(&app.a, &t[1]).await;
    let mut eve = app.ws(&app.a, &t[2]).await;
    carol.events(QUIET).await;

    let first = app.ws(&app.a, &t[0]).await;
    let online = carol.expect("user.presence.changed").await;
    assert_eq!(
        online["user"],
        json!({ "id": "alice", "online": true, "last_active": online["user"]["last_active"] })
    );
    let second = app.ws(&app.a, &t[0]).await;
    first.close().await;
    // Still one connection open: no event either way.
    assert!(carol.events(QUIET).await.is_empty());
    second.close().await;
    let offline = carol.expect("user.presence.changed").await;
    assert_eq!(offline["user"]["online"], false);
    assert!(offline["user"]["last_active"].is_string());
    assert!(
        eve.events(QUIET).await.is_empty(),
        "presence leaked outside the channel"
    );
}

#[tokio::test]
async fn a_lost_connection_is_deleted_when_a_post_meets_410() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let mut lost = app.ws(&app.a, &t[1]).await;
    let lost_id = lost.request(json!({ "action": "health.check" })).await["result"]
        ["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut alive = app.ws(&app.a, &t[1]).await;
    assert!(app.stack.gateway.kill(&lost_id));
    assert_eq!(open_connections(&app, &app.a.app.app_id, "bob").await, 2);

    app.say(&app.a, &t[0], &id, "anyone?").await;
    assert_eq!(
        alive.expect("message.new").await["message"]["text"],
        "anyone?"
    );
    let left = connections::of_user(
        &app.stack.state.db,
        &app.a.app.app_id,
        &UserId::parse("bob").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(
        left[0].as_str(),
        lost_id,
        "exactly the stale connection was deleted"
    );
    let _ = lost.events(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn malformed_frames_get_error_acks_and_the_connection_lives_on() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let id = app.group(&app.a, &t[0], &[]).await;
    let mut ws = app.ws(&app.a, &t[0]).await;
    for (frame, code) in [
        ("not json".to_string(), "validation_error"),
        ("[1,2]".to_string(), "validation_error"),
        (json!({ "request_id": "x" }).to_string(), "validation_error"),
        (
            json!({ "action": "dance", "request_id": "y" }).to_string(),
            "validation_error",
        ),
        (
            json!({ "action": "message.send", "request_id": "z" }).to_string(),
            "validation_error",
        ),
        (
            json!({ "action": "typing.start", "channel_id": "bad#id" }).to_string(),
            "validation_error",
        ),
        (
            json!({ "action": "message.send", "channel_id": id, "text": "x".repeat(40_000) })
                .to_string(),
            "payload_too_large",
        ),
    ] {
        // In frames of API Gateway's 32 KB: the handler sees the message.
        ws.send_in_frames(&frame, 32 * 1024).await;
        let ack = ws.expect("ack").await;
        assert_eq!(ack["ok"], false, "{frame:.60}: {ack}");
        assert_eq!(ack["error"]["code"], code, "{frame:.60}: {ack}");
    }
    let ack = ws
        .request(json!({ "action": "message.send", "channel_id": id, "text": "still here" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    // The same idempotency as REST.
    let frame =
        json!({ "action": "message.send", "channel_id": id, "id": "sock-1", "text": "once" });
    let first = ws.request(frame.clone()).await;
    let second = ws.request(frame).await;
    assert_eq!(first["result"]["created"], true);
    assert_eq!(second["result"]["created"], false);
    assert_eq!(
        first["result"]["message"]["id"],
        second["result"]["message"]["id"]
    );
}

#[tokio::test]
async fn watching_a_public_channel_delivers_its_events_to_non_members() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "eve"]).await;
    let public = app
        .create_channel(&app.a, &t[0], json!({ "type": "public" }))
        .await;
    let group = app.group(&app.a, &t[0], &[]).await;
    let mut eve = app.ws(&app.a, &t[1]).await;
    let ack = eve
        .request(json!({ "action": "channel.watch", "channel_id": public }))
        .await;
    assert_eq!(ack["result"]["watching"], true);
    app.say(&app.a, &t[0], &public, "open news").await;
    assert_eq!(
        eve.expect("message.new").await["message"]["text"],
        "open news"
    );
    eve.request(json!({ "action": "channel.unwatch", "channel_id": public }))
        .await;
    app.say(&app.a, &t[0], &public, "after unwatch").await;
    assert!(eve.events(QUIET).await.is_empty());
    let refused = eve
        .request(json!({ "action": "channel.watch", "channel_id": group }))
        .await;
    assert_eq!(refused["error"]["code"], "forbidden");
}

#[tokio::test]
async fn events_never_cross_apps() {
    let app = TestApp::spawn().await;
    let a = app.create_users(&app.a, &["alice", "bob"]).await;
    let b = app.create_users(&app.b, &["alice", "bob"]).await;
    let id = app.group(&app.a, &a[0], &["bob"]).await;
    let mut bob_b = app.ws(&app.b, &b[1]).await;
    let mut bob_a = app.ws(&app.a, &a[1]).await;
    let mut alice_b = app.ws(&app.b, &b[0]).await;
    app.say(&app.a, &a[0], &id, "for app A only").await;
    bob_a.expect("message.new").await;
    let _alice_a = app.ws(&app.a, &a[0]).await;
    bob_a.expect("user.presence.changed").await;
    assert!(bob_b.events(QUIET).await.is_empty());
    assert!(alice_b.events(QUIET).await.is_empty());
    // B's user cannot watch A's channel id.
    let refused = bob_b
        .request(json!({ "action": "channel.watch", "channel_id": id }))
        .await;
    assert_eq!(refused["error"]["code"], "not_found");
}

#[tokio::test]
async fn idle_clients_are_closed_and_the_management_api_works() {
    let options = StackOptions {
        gateway: GatewayOptions {
            idle_timeout: Duration::from_millis(500),
            ..GatewayOptions::default()
        },
        ..StackOptions::ephemeral()
    };
    let app = TestApp::spawn_with(options).await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let mut idle = app.ws(&app.a, &t[0]).await;
    assert!(
        idle.wait_closed(Duration::from_secs(5)).await,
        "idle client closed"
    );

    let mut ws = app.ws(&app.a, &t[0]).await;
    let id = ws.request(json!({ "action": "health.check" })).await["result"]["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Not on the clients' port: nobody but the functions reaches it.
    let public = app.stack.ws_url.replace("ws://", "http://");
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::DELETE,
    ] {
        let refused = app
            .http
            .request(method, format!("{public}/@connections/{id}"))
            .body("{\"type\":\"forged\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 404);
    }
    let http = &app.stack.management_url;
    let info = app
        .http
        .get(format!("{http}/@connections/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status().as_u16(), 200);
    let info: Value = info.json().await.unwrap();
    assert!(info["ConnectedAt"].is_string());
    // A post must be signed for API Gateway, as on AWS.
    let unsigned = app
        .http
        .post(format!("{http}/@connections/{id}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("local", "local", None, None, "test"),
            ),
        )
        .build();
    let poster = Poster::new(&sdk, http).expect("a poster");
    let connection = ConnectionId::parse(id.clone()).unwrap();
    // Any bytes pass; the client checks what it receives against the
    // protocol, so this is a documented event.
    let event = br#"{"type":"channel.deleted","id":"e1","created_at":"2026-01-01T00:00:00Z","channel_id":"posted"}"#;
    let posted = poster.post(&connection, event).await;
    assert!(matches!(posted, Posted::Sent), "{posted:?}");
    assert_eq!(ws.expect("channel.deleted").await["channel_id"], "posted");
    let unknown = poster
        .post(&ConnectionId::parse("nope").unwrap(), b"{}")
        .await;
    assert!(matches!(unknown, Posted::Gone), "{unknown:?}");
    let deleted = app
        .http
        .delete(format!("{http}/@connections/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    assert!(
        ws.wait_closed(Duration::from_secs(5)).await,
        "deleted connection closed"
    );
    let gone = app
        .http
        .get(format!("{http}/@connections/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 410);
}

#[tokio::test]
async fn a_frame_over_32_kb_closes_the_socket_with_1009() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let mut ws = app.ws(&app.a, &t[0]).await;
    // 40 KB of message in one frame: over API Gateway's frame size.
    ws.send_text(json!({ "action": "health.check", "pad": "x".repeat(40_000) }).to_string())
        .await;
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1009));
    // 40 KB in two frames is a message the handler reads (and refuses).
    let mut split = app.ws(&app.a, &t[0]).await;
    let frame = json!({ "action": "health.check", "request_id": "big", "pad": "x".repeat(40_000) });
    split.send_in_frames(&frame.to_string(), 32 * 1024).await;
    let ack = split.expect("ack").await;
    assert_eq!(ack["error"]["code"], "payload_too_large", "{ack}");
    let alive = split.request(json!({ "action": "health.check" })).await;
    assert_eq!(alive["ok"], true);
}

#[tokio::test]
async fn a_message_over_128_kb_closes_only_that_socket() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let mut big = app.ws(&app.a, &t[0]).await;
    let mut other = app.ws(&app.a, &t[1]).await;
    big.send_text("x".repeat(200 * 1024)).await;
    assert_eq!(
        big.close_code(Duration::from_secs(5)).await,
        Some(1009),
        "an oversized message closes the socket with 1009 (message too big)"
    );
    let alive = other.request(json!({ "action": "health.check" })).await;
    assert_eq!(alive["ok"], true);
    let fresh = app.ws(&app.a, &t[0]).await;
    fresh.close().await;
}

/// A client that opens the TCP connection but never finishes the handshake
/// (sends nothing, or half a request) is closed once the handshake timeout
/// passes; a client that completes it in time is served.
#[tokio::test]
async fn half_open_connections_are_timed_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(StackOptions {
        gateway: GatewayOptions {
            handshake_timeout: Duration::from_millis(300),
            ..GatewayOptions::default()
        },
        ..StackOptions::ephemeral()
    })
    .await;
    let address = app.stack.ws_url.trim_start_matches("ws://").to_string();
    for sent in [&b""[..], b"GET /?api_key=x HTTP/1.1\r\nHost: local\r\n"] {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket.write_all(sent).await.unwrap();
        let mut buffer = Vec::new();
        // The server ends the connection (EOF or a reset, perhaps after a
        // 408); without the timeout this read would wait forever.
        let _ended = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut buffer))
            .await
            .expect("the half-open connection is closed within the timeout");
    }
    // A socket that finished its handshake outlives the handshake timeout.
    let t = app.create_users(&app.a, &["alice"]).await;
    let mut ws = app.ws(&app.a, &t[0]).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let ack = ws.request(json!({"action": "health.check"})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    ws.close().await;
}
