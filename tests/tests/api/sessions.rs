//! Access ends everywhere at once: revoking a user's tokens or deactivating
//! the user closes their open sockets, every frame re-checks the user as a
//! REST call does, and future-dated or not-yet-valid tokens are refused.

use chat_shared::auth::Claims;
use chat_shared::ids::UserId;
use chat_shared::users;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{Tenant, TestApp};
use crate::ws::WAIT;

/// Bob's connections the gateway still holds.
fn open_connections(app: &TestApp) -> usize {
    app.stack.gateway.connection_ids().len()
}

#[tokio::test]
async fn revoking_tokens_closes_the_users_sockets_at_once() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let channel = app.group(&app.a, &t[0], &["bob"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let mut bob_phone = app.ws(&app.a, &t[1]).await;
    assert_eq!(open_connections(&app), 3);

    app.post(&app.a, &app.a.server, "/users/bob/revoke-tokens", json!({}))
        .await
        .assert_status(200);
    assert!(bob.wait_closed(WAIT).await, "bob's socket is closed");
    assert!(bob_phone.wait_closed(WAIT).await, "bob's other socket too");
    assert_eq!(open_connections(&app), 1, "only alice's socket is left");

    // Nothing of the channel reaches a closed socket, and alice's still works.
    app.say(&app.a, &t[0], &channel, "after the revocation")
        .await;
    alice.expect("message.new").await;
    let bob_user = app.get(&app.a, &app.a.server, "/users/bob").await;
    assert_eq!(bob_user.assert_status(200)["user"]["online"], false);
    // The old token cannot open a new socket either.
    assert_eq!(app.ws_refused(&app.ws_url(app.a.key(), &t[1])).await, 401);
}

#[tokio::test]
async fn deactivating_a_user_closes_their_sockets() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    app.post(&app.a, &app.a.server, "/users/bob/deactivate", json!({}))
        .await
        .assert_status(200);
    assert!(bob.wait_closed(WAIT).await, "bob's socket is closed");
    assert_eq!(app.ws_refused(&app.ws_url(app.a.key(), &t[1])).await, 401);
}

#[tokio::test]
async fn every_frame_rechecks_the_user_and_a_refused_socket_is_closed() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let channel = app.group(&app.a, &t[0], &["bob"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    // The revocation lands without the close reaching this socket (another
    // instance wrote it, or the management call was lost).
    let db = &app.stack.state.db;
    users::revoke_tokens(db, &app.a.app.app_id, &UserId::parse("bob").unwrap())
        .await
        .unwrap();
    let ack = bob
        .request(json!({"action": "message.send", "channel_id": channel, "text": "sneaky"}))
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "token_revoked", "{ack}");
    assert!(
        bob.wait_closed(WAIT).await,
        "the socket is closed after the refusal"
    );
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{channel}/messages"))
        .await;
    assert!(TestApp::texts(history.assert_status(200)).is_empty());

    // Deactivation, checked the same way on the next frame.
    let carol = app.create_users(&app.a, &["carol"]).await.remove(0);
    let mut carol_ws = app.ws(&app.a, &carol).await;
    users::set_deactivated(
        db,
        &app.a.app.app_id,
        &UserId::parse("carol").unwrap(),
        true,
    )
    .await
    .unwrap();
    let ack = carol_ws.request(json!({"action": "health.check"})).await;
    assert_eq!(ack["error"]["code"], "user_deactivated", "{ack}");
    assert!(carol_ws.wait_closed(WAIT).await);
}

fn token(t: &Tenant, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(t.app.api_secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn future_dated_and_not_yet_valid_tokens_are_refused_on_rest_and_socket() {
    let app = TestApp::spawn().await;
    app.create_users(&app.a, &["alice"]).await;
    let now = chat_shared::time::now_secs();
    let future_iat = token(
        &app.a,
        &Claims {
            user_id: Some("alice".into()),
            iat: Some(now + 3600),
            ..Claims::default()
        },
    );
    let not_yet = token(
        &app.a,
        &Claims {
            user_id: Some("alice".into()),
            iat: Some(now),
            nbf: Some(now + 3600),
            ..Claims::default()
        },
    );
    app.get(&app.a, &future_iat, "/users/alice")
        .await
        .assert_error(401, "invalid_token");
    app.get(&app.a, &not_yet, "/users/alice")
        .await
        .assert_error(401, "token_not_yet_valid");
    for bad in [&future_iat, &not_yet] {
        assert_eq!(app.ws_refused(&app.ws_url(app.a.key(), bad)).await, 401);
    }
    // Within the clock leeway (5 s) a token dated ahead is accepted: the
    // longest a token can outlive a revocation issued just after it.
    let slightly_ahead = token(
        &app.a,
        &Claims {
            user_id: Some("alice".into()),
            iat: Some(now + 2),
            ..Claims::default()
        },
    );
    app.get(&app.a, &slightly_ahead, "/users/alice")
        .await
        .assert_status(200);
}
