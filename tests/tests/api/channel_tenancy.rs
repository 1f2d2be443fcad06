//! App A's channel id used with app B's credentials is 404 on every channel
//! endpoint, and app A's channel is unchanged afterwards.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn every_channel_endpoint_is_scoped_to_its_app() {
    let app = TestApp::spawn().await;
    let a = app.create_users(&app.a, &["alice", "bob"]).await;
    // The same user ids exist in app B, with valid tokens there.
    let b = app.create_users(&app.b, &["alice", "bob"]).await;
    let id = app
        .create_channel(
            &app.a,
            &a[0],
            json!({ "type": "public", "id": "shared-name", "members": ["bob"] }),
        )
        .await;

    let c = format!("/channels/{id}");
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, c.clone(), None),
        (
            Method::PATCH,
            c.clone(),
            Some(json!({ "set": { "name": "pwned" } })),
        ),
        (Method::GET, format!("{c}/members"), None),
        (
            Method::POST,
            format!("{c}/members"),
            Some(json!({ "user_ids": ["bob"] })),
        ),
        (
            Method::PATCH,
            format!("{c}/members/bob"),
            Some(json!({ "role": "owner" })),
        ),
        (Method::DELETE, format!("{c}/members/bob"), None),
        (Method::POST, format!("{c}/join"), Some(json!({}))),
        (Method::POST, format!("{c}/leave"), Some(json!({}))),
        (Method::POST, format!("{c}/freeze"), Some(json!({}))),
        (Method::POST, format!("{c}/unfreeze"), Some(json!({}))),
        (Method::POST, format!("{c}/truncate"), Some(json!({}))),
        (Method::POST, format!("{c}/hide"), Some(json!({}))),
        (Method::POST, format!("{c}/show"), Some(json!({}))),
        (Method::POST, format!("{c}/mute"), Some(json!({}))),
        (Method::POST, format!("{c}/unmute"), Some(json!({}))),
        (
            Method::POST,
            format!("{c}/bans"),
            Some(json!({ "user_id": "bob" })),
        ),
        (Method::DELETE, format!("{c}/bans/bob"), None),
        (Method::POST, format!("{c}/invites/accept"), Some(json!({}))),
        (Method::POST, format!("{c}/invites/reject"), Some(json!({}))),
        (Method::DELETE, c.clone(), None),
    ];
    for (method, path, body) in &endpoints {
        for token in [&b[0], &b[1], &app.b.server] {
            let resp = app
                .send(
                    method.clone(),
                    path,
                    Some(app.b.key()),
                    Some(token),
                    body.clone(),
                )
                .await;
            assert_eq!(resp.status, 404, "{method} {path}: {}", resp.body);
            assert_eq!(resp.body["error"]["code"], "not_found");
            assert!(!resp.body.to_string().contains(app.a.app.app_id.as_str()));
        }
    }
    // App B's own list has nothing of A's.
    let listed = app.get(&app.b, &b[0], "/channels").await;
    assert_eq!(listed.assert_status(200)["channels"], json!([]));
    // App B may use the same channel id for its own channel.
    app.create_channel(
        &app.b,
        &b[0],
        json!({ "type": "group", "id": "shared-name" }),
    )
    .await;

    // App A's channel is untouched.
    let resp = app.get(&app.a, &a[0], &c).await;
    let body = resp.assert_status(200);
    assert_eq!(body["channel"]["name"], Value::Null);
    assert_eq!(body["channel"]["frozen"], false);
    assert_eq!(body["channel"]["member_count"], 2);
    assert_eq!(body["members"][1]["role"], "member");
}
