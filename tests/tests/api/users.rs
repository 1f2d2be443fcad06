//! `/users`: upsert, get, list by ids, patch, deactivate/reactivate, tokens.

use chat_shared::keys;
use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn upsert_creates_users_and_stores_typed_items() {
    let app = TestApp::spawn().await;
    let resp = app
        .upsert(
            &app.a,
            json!([
                { "id": "alice", "username": "alice", "display_name": "Alice", "avatar_url": "https://img.example.com/a.png", "bio": "hi", "user_type": "regular", "metadata": { "team": "red" } },
                { "id": "bot-1", "user_type": "bot" }
            ]),
        )
        .await;
    let users = resp.assert_status(200)["users"].as_array().unwrap().clone();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["id"], "alice");
    assert_eq!(users[0]["display_name"], "Alice");
    assert_eq!(users[0]["metadata"]["team"], "red");
    assert_eq!(users[0]["deactivated"], false);
    assert_eq!(users[1]["user_type"], "bot");

    // The item in the table: keyed per app, typed, with its fields.
    let user_id = chat_shared::ids::UserId::parse("alice").unwrap();
    let item: Value = app
        .stack
        .state
        .db
        .get(&keys::user(&app.a.app.app_id, &user_id).any())
        .await
        .unwrap()
        .expect("item stored");
    assert_eq!(item["pk"], format!("APP#{}#USER#alice", app.a.app.app_id));
    assert_eq!(item["sk"], "USER");
    assert_eq!(item["entity"], "user");
    assert_eq!(item["bio"], "hi");
}

#[tokio::test]
async fn upsert_replaces_the_profile_and_keeps_creation_time() {
    let app = TestApp::spawn().await;
    let first = app
        .upsert(
            &app.a,
            json!([{ "id": "alice", "display_name": "Alice", "bio": "old" }]),
        )
        .await;
    let created_at = first.assert_status(200)["users"][0]["created_at"].clone();
    let second = app
        .upsert(&app.a, json!([{ "id": "alice", "display_name": "Al" }]))
        .await;
    let user = &second.assert_status(200)["users"][0];
    assert_eq!(user["display_name"], "Al");
    assert_eq!(user["bio"], Value::Null);
    assert_eq!(user["created_at"], created_at);
}

#[tokio::test]
async fn upsert_needs_a_server_token() {
    let app = TestApp::spawn().await;
    let token = app.create_users(&app.a, &["alice"]).await.remove(0);
    app.post(
        &app.a,
        &token,
        "/users",
        json!({ "users": [{ "id": "mallory" }] }),
    )
    .await
    .assert_error(403, "forbidden");
}

#[tokio::test]
async fn upsert_refuses_bad_input_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let too_many: Vec<Value> = (0..101).map(|i| json!({ "id": format!("u{i}") })).collect();
    let cases = [
        (json!({ "users": [] }), 400, "validation_error"),
        (json!({ "users": too_many }), 400, "validation_error"),
        (
            json!({ "users": [{ "id": "x" }, { "id": "x" }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok" }, { "id": "bad#id" }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok" }, { "id": "" }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "display_name": "no id" }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok", "user_type": "alien" }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok", "username": "x".repeat(65) }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok", "display_name": "" }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok", "avatar_url": "not a url" }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok", "bio": "b".repeat(1025) }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok", "surprise": 1 }] }),
            400,
            "validation_error",
        ),
        (
            json!({ "users": [{ "id": "ok", "metadata": { "blob": "m".repeat(6000) } }] }),
            413,
            "payload_too_large",
        ),
        (json!({ "users": "nope" }), 400, "validation_error"),
        (json!({}), 400, "validation_error"),
    ];
    for (body, status, code) in cases {
        app.post(&app.a, &app.a.server, "/users", body)
            .await
            .assert_error(status, code);
    }
    // Not JSON at all.
    let resp = app
        .http
        .post(app.url("/users"))
        .header("X-Api-Key", app.a.key())
        .bearer_auth(&app.a.server)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    TestApp::read(resp)
        .await
        .assert_error(400, "validation_error");
    // Nothing of the refused batches was stored.
    let listed = app.get(&app.a, &app.a.server, "/users?ids=ok,x,u0").await;
    assert_eq!(listed.assert_status(200)["users"], json!([]));
}

#[tokio::test]
async fn get_user_and_unknown_user() {
    let app = TestApp::spawn().await;
    let tokens = app.create_users(&app.a, &["alice", "bob"]).await;
    let resp = app.get(&app.a, &tokens[0], "/users/bob").await;
    assert_eq!(resp.assert_status(200)["user"]["id"], "bob");
    app.get(&app.a, &tokens[0], "/users/zed")
        .await
        .assert_error(404, "not_found");
    app.get(&app.a, &tokens[0], "/users/bad%23id")
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn list_users_by_ids_keeps_order_and_skips_unknown() {
    let app = TestApp::spawn().await;
    let tokens = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let resp = app
        .get(&app.a, &tokens[0], "/users?ids=carol,zed,alice")
        .await;
    let ids: Vec<&str> = resp.assert_status(200)["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["carol", "alice"]);
    app.get(&app.a, &tokens[0], "/users")
        .await
        .assert_error(400, "validation_error");
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    app.get(
        &app.a,
        &tokens[0],
        &format!("/users?ids={}", many.join(",")),
    )
    .await
    .assert_error(400, "validation_error");
    app.get(&app.a, &tokens[0], "/users?ids=a,b%23c")
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn patch_self_or_server_with_set_and_unset() {
    let app = TestApp::spawn().await;
    let tokens = app.create_users(&app.a, &["alice", "bob"]).await;
    let resp = app
        .patch(
            &app.a,
            &tokens[0],
            "/users/alice",
            json!({ "set": { "display_name": "Ally", "bio": "x" } }),
        )
        .await;
    assert_eq!(resp.assert_status(200)["user"]["display_name"], "Ally");
    let resp = app
        .patch(
            &app.a,
            &tokens[0],
            "/users/alice",
            json!({ "unset": ["bio"] }),
        )
        .await;
    let user = resp.assert_status(200)["user"].clone();
    assert_eq!(user["bio"], Value::Null);
    assert_eq!(user["display_name"], "Ally");
    // Someone else's profile: refused, and unchanged.
    app.patch(
        &app.a,
        &tokens[1],
        "/users/alice",
        json!({ "set": { "display_name": "pwned" } }),
    )
    .await
    .assert_error(403, "forbidden");
    // Only the server may change user_type.
    app.patch(
        &app.a,
        &tokens[0],
        "/users/alice",
        json!({ "set": { "user_type": "bot" } }),
    )
    .await
    .assert_error(403, "forbidden");
    let resp = app
        .patch(
            &app.a,
            &app.a.server,
            "/users/alice",
            json!({ "set": { "user_type": "bot" } }),
        )
        .await;
    assert_eq!(resp.assert_status(200)["user"]["user_type"], "bot");
    let stored = app.get(&app.a, &tokens[1], "/users/alice").await;
    assert_eq!(stored.assert_status(200)["user"]["display_name"], "Ally");
}

#[tokio::test]
async fn patch_refuses_bad_input() {
    let app = TestApp::spawn().await;
    let token = app.create_users(&app.a, &["alice"]).await.remove(0);
    let cases = [
        (
            json!({ "set": { "bio": "x" }, "unset": ["bio"] }),
            400,
            "validation_error",
        ),
        (json!({ "set": { "id": "other" } }), 400, "validation_error"),
        (json!({ "unset": ["id"] }), 400, "validation_error"),
        (
            json!({ "set": { "username": "" } }),
            400,
            "validation_error",
        ),
        (
            json!({ "set": { "avatar_url": "ftp:/x y" } }),
            400,
            "validation_error",
        ),
        (json!({ "oops": 1 }), 400, "validation_error"),
        (
            json!({ "set": { "metadata": { "m": "x".repeat(6000) } } }),
            413,
            "payload_too_large",
        ),
    ];
    for (body, status, code) in cases {
        app.patch(&app.a, &token, "/users/alice", body)
            .await
            .assert_error(status, code);
    }
    app.patch(
        &app.a,
        &app.a.server,
        "/users/ghost",
        json!({ "set": { "bio": "x" } }),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn deactivate_and_reactivate_need_a_server_token() {
    let app = TestApp::spawn().await;
    let tokens = app.create_users(&app.a, &["alice", "bob"]).await;
    app.post(&app.a, &tokens[0], "/users/bob/deactivate", json!({}))
        .await
        .assert_error(403, "forbidden");
    let resp = app
        .post(&app.a, &app.a.server, "/users/bob/deactivate", json!({}))
        .await;
    let user = resp.assert_status(200)["user"].clone();
    assert_eq!(user["deactivated"], true);
    assert!(user["deactivated_at"].is_string());
    // Still readable by others, marked deactivated.
    let seen = app.get(&app.a, &tokens[0], "/users/bob").await;
    assert_eq!(seen.assert_status(200)["user"]["deactivated"], true);
    app.post(&app.a, &tokens[0], "/users/bob/reactivate", json!({}))
        .await
        .assert_error(403, "forbidden");
    let resp = app
        .post(&app.a, &app.a.server, "/users/bob/reactivate", json!({}))
        .await;
    assert_eq!(resp.assert_status(200)["user"]["deactivated"], false);
    app.post(&app.a, &app.a.server, "/users/ghost/deactivate", json!({}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn server_mints_working_user_tokens() {
    let app = TestApp::spawn().await;
    let tokens = app.create_users(&app.a, &["alice", "bob"]).await;
    let resp = app
        .post(
            &app.a,
            &app.a.server,
            "/users/bob/token",
            json!({ "expires_in": 3600 }),
        )
        .await;
    let body = resp.assert_status(200).clone();
    assert_eq!(body["user_id"], "bob");
    assert!(body["expires_at"].is_string());
    let minted = body["token"].as_str().unwrap();
    app.get(&app.a, minted, "/users/bob")
        .await
        .assert_status(200);
    // Without a body: no expiry.
    let resp = app
        .send(
            reqwest::Method::POST,
            "/users/bob/token",
            Some(app.a.key()),
            Some(&app.a.server),
            None,
        )
        .await;
    assert_eq!(resp.assert_status(200)["expires_at"], Value::Null);

    app.post(&app.a, &tokens[0], "/users/bob/token", json!({}))
        .await
        .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &app.a.server,
        "/users/bob/token",
        json!({ "expires_in": 0 }),
    )
    .await
    .assert_error(400, "validation_error");
    app.post(&app.a, &app.a.server, "/users/ghost/token", json!({}))
        .await
        .assert_error(404, "not_found");
    app.post(&app.a, &app.a.server, "/users/bob/deactivate", json!({}))
        .await
        .assert_status(200);
    app.post(&app.a, &app.a.server, "/users/bob/token", json!({}))
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn revoking_someone_elses_tokens_is_refused() {
    let app = TestApp::spawn().await;
    let tokens = app.create_users(&app.a, &["alice", "bob"]).await;
    app.post(&app.a, &tokens[0], "/users/bob/revoke-tokens", json!({}))
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &tokens[1], "/users/bob")
        .await
        .assert_status(200);
    app.post(&app.a, &app.a.server, "/users/bob/revoke-tokens", json!({}))
        .await
        .assert_status(200);
    app.get(&app.a, &tokens[1], "/users/bob")
        .await
        .assert_error(401, "token_revoked");
}
