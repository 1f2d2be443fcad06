//! Every refusal of the auth rules, through real requests.

use std::time::Duration;

use base64::Engine;
use chat_local::StackOptions;
use chat_shared::auth::{self, Claims};
use chat_shared::db::Cond;
use chat_shared::ids::UserId;
use chat_shared::keys;
use chat_shared::Config;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

async fn app_with_alice() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let token = app.create_users(&app.a, &["alice"]).await.remove(0);
    (app, token)
}

#[tokio::test]
async fn valid_user_token_with_header_or_query_key_is_accepted() {
    let (app, token) = app_with_alice().await;
    app.get(&app.a, &token, "/users/alice")
        .await
        .assert_status(200);
    let path = format!("/users/alice?api_key={}", app.a.key());
    app.send(Method::GET, &path, None, Some(&token), None)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn missing_or_unknown_api_key_is_refused() {
    let (app, token) = app_with_alice().await;
    app.send(Method::GET, "/users/alice", None, Some(&token), None)
        .await
        .assert_error(401, "missing_api_key");
    app.send(
        Method::GET,
        "/users/alice",
        Some("0123456789abcdef"),
        Some(&token),
        None,
    )
    .await
    .assert_error(401, "invalid_api_key");
    app.send(
        Method::GET,
        "/users/alice",
        Some("bad#key/../x"),
        Some(&token),
        None,
    )
    .await
    .assert_error(401, "invalid_api_key");
}

#[tokio::test]
async fn missing_token_is_refused() {
    let (app, _) = app_with_alice().await;
    app.send(Method::GET, "/users/alice", Some(app.a.key()), None, None)
        .await
        .assert_error(401, "missing_token");
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let (app, _) = app_with_alice().await;
    let forged =
        auth::mint_user_token("not-the-secret", &UserId::parse("alice").unwrap(), None).unwrap();
    app.get(&app.a, &forged, "/users/alice")
        .await
        .assert_error(401, "invalid_signature");
    // Tampered claims under a genuine signature.
    let genuine = app.a.user_token("alice");
    let parts: Vec<&str> = genuine.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(r#"{"server":true}"#), parts[2]);
    app.get(&app.a, &tampered, "/users/alice")
        .await
        .assert_error(401, "invalid_signature");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (app, _) = app_with_alice().await;
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.",
            b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)),
            b64(r#"{"server":true}"#)
        );
        app.get(&app.a, &token, "/users/alice")
            .await
            .assert_error(401, "invalid_token");
    }
}

#[tokio::test]
async fn algorithms_other_than_hs256_are_refused() {
    let (app, _) = app_with_alice().await;
    let claims = Claims {
        server: true,
        ..Claims::default()
    };
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(app.a.app.api_secret.as_bytes()),
        )
        .unwrap();
        app.get(&app.a, &token, "/users/alice")
            .await
            .assert_error(401, "invalid_token");
    }
    // Key confusion: an RS256 header over an HMAC made with the secret.
    let signing_input = format!(
        "{}.{}",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(r#"{"server":true}"#)
    );
    let token = format!("{signing_input}.{}", b64("signature"));
    app.get(&app.a, &token, "/users/alice")
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn expired_token_is_refused() {
    let (app, _) = app_with_alice().await;
    let expired = auth::mint_user_token(
        &app.a.app.api_secret,
        &UserId::parse("alice").unwrap(),
        Some(-3600),
    )
    .unwrap();
    app.get(&app.a, &expired, "/users/alice")
        .await
        .assert_error(401, "token_expired");
    let expired_server = auth::mint_server_token(&app.a.app.api_secret, Some(-3600)).unwrap();
    app.get(&app.a, &expired_server, "/users/alice")
        .await
        .assert_error(401, "token_expired");
}

#[tokio::test]
async fn token_of_unknown_or_malformed_user_is_refused() {
    let (app, _) = app_with_alice().await;
    let ghost = app.a.user_token("ghost");
    app.get(&app.a, &ghost, "/users/alice")
        .await
        .assert_error(401, "unknown_user");
    let bad = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "user_id": "a#b" }),
        &EncodingKey::from_secret(app.a.app.api_secret.as_bytes()),
    )
    .unwrap();
    app.get(&app.a, &bad, "/users/alice")
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn deactivated_user_token_is_refused_until_reactivated() {
    let (app, token) = app_with_alice().await;
    app.post(&app.a, &app.a.server, "/users/alice/deactivate", json!({}))
        .await
        .assert_status(200);
    app.get(&app.a, &token, "/users/alice")
        .await
        .assert_error(401, "user_deactivated");
    app.post(&app.a, &app.a.server, "/users/alice/reactivate", json!({}))
        .await
        .assert_status(200);
    app.get(&app.a, &token, "/users/alice")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn tokens_issued_before_revocation_are_refused() {
    let (app, token) = app_with_alice().await;
    let body = app
        .post(&app.a, &token, "/users/alice/revoke-tokens", json!({}))
        .await;
    assert!(body.assert_status(200)["tokens_revoked_at"].is_string());
    app.get(&app.a, &token, "/users/alice")
        .await
        .assert_error(401, "token_revoked");
    // A token without `iat` cannot prove it is newer.
    let no_iat = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "user_id": "alice" }),
        &EncodingKey::from_secret(app.a.app.api_secret.as_bytes()),
    )
    .unwrap();
    app.get(&app.a, &no_iat, "/users/alice")
        .await
        .assert_error(401, "token_revoked");
    // `iat` has second precision: a token minted a second later is accepted.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = app.a.user_token("alice");
    app.get(&app.a, &fresh, "/users/alice")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn another_apps_token_is_refused_with_this_apps_key() {
    let app = TestApp::spawn().await;
    app.create_users(&app.a, &["alice"]).await;
    app.create_users(&app.b, &["alice"]).await;
    let b_token = app.b.user_token("alice");
    app.get(&app.a, &b_token, "/users/alice")
        .await
        .assert_error(401, "invalid_signature");
    app.get(&app.a, &app.b.server, "/users/alice")
        .await
        .assert_error(401, "invalid_signature");
}

#[tokio::test]
async fn app_secret_is_cached_in_the_warm_process_for_a_bounded_time() {
    let options = StackOptions {
        config: Config {
            app_cache_ttl: Duration::from_millis(800),
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    };
    let app = TestApp::spawn_with(options).await;
    let db = &app.stack.state.db;
    app.get(&app.a, &app.a.server, "/users/nobody")
        .await
        .assert_error(404, "not_found");
    // Remove the app from the table: the warm cache still knows it...
    db.delete(&keys::api_key(app.a.key()), Cond::Exists)
        .await
        .unwrap();
    db.delete(&keys::app(&app.a.app.app_id), Cond::Exists)
        .await
        .unwrap();
    app.get(&app.a, &app.a.server, "/users/nobody")
        .await
        .assert_error(404, "not_found");
    // ...until the cache entry expires.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    app.get(&app.a, &app.a.server, "/users/nobody")
        .await
        .assert_error(401, "invalid_api_key");
}
