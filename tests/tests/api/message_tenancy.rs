//! App A's message and channel ids used with app B's credentials are 404 on
//! every message endpoint; nothing of A's changes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn every_message_endpoint_is_scoped_to_its_app() {
    let app = TestApp::spawn().await;
    let a = app.create_users(&app.a, &["alice", "bob"]).await;
    let b = app.create_users(&app.b, &["alice", "bob"]).await;
    let id = app
        .create_channel(
            &app.a,
            &a[0],
            json!({ "type": "public", "id": "room", "members": ["bob"] }),
        )
        .await;
    let m = app
        .post(
            &app.a,
            &a[0],
            "/messages",
            json!({ "channel_id": id, "id": "msg-1", "text": "tenant A secret" }),
        )
        .await;
    m.assert_status(201);
    let mm = "/messages/msg-1";
    let c = format!("/channels/{id}");
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, mm.into(), None),
        (Method::PATCH, mm.into(), Some(json!({ "text": "pwned" }))),
        (Method::DELETE, mm.into(), None),
        (Method::DELETE, format!("{mm}?hard=true"), None),
        (Method::GET, format!("{mm}/replies"), None),
        (Method::POST, format!("{mm}/pin"), Some(json!({}))),
        (Method::DELETE, format!("{mm}/pin"), None),
        (
            Method::POST,
            format!("{mm}/reactions"),
            Some(json!({ "type": "like" })),
        ),
        (Method::GET, format!("{mm}/reactions"), None),
        (Method::DELETE, format!("{mm}/reactions/like"), None),
        (Method::GET, format!("{mm}/read"), None),
        (Method::GET, format!("{c}/messages"), None),
        (Method::GET, format!("{c}/pinned"), None),
        (Method::POST, format!("{c}/read"), Some(json!({}))),
        (Method::GET, format!("{c}/draft"), None),
        (
            Method::PUT,
            format!("{c}/draft"),
            Some(json!({ "text": "x" })),
        ),
        (Method::DELETE, format!("{c}/draft"), None),
        (
            Method::GET,
            format!("/search?query=secret&channel_id={id}"),
            None,
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(json!({ "channel_id": id, "text": "into A?" })),
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(json!({ "channel_id": id, "text": "quote", "quoted_message_id": "msg-1" })),
        ),
    ];
    for (method, path, body) in &endpoints {
        for token in [&b[0], &b[1], &app.b.server] {
            let mut body = body.clone();
            if token.as_str() == app.b.server.as_str() {
                if let Some(Value::Object(map)) = body.as_mut() {
                    map.insert("user_id".into(), json!("alice"));
                }
            }
            let resp = app
                .send(method.clone(), path, Some(app.b.key()), Some(token), body)
                .await;
            assert_eq!(resp.status, 404, "{method} {path}: {}", resp.body);
            assert!(!resp.body.to_string().contains("secret"));
        }
    }
    // B's search over its own channels finds nothing of A's.
    let found = app.get(&app.b, &b[0], "/search?query=secret").await;
    assert_eq!(found.assert_status(200)["results"], json!([]));
    // A's message is intact.
    let intact = app.get(&app.a, &a[1], mm).await;
    let message = &intact.assert_status(200)["message"];
    assert_eq!(message["text"], "tenant A secret");
    assert_eq!(message["pinned"], false);
    assert_eq!(message["reaction_counts"], json!({}));
}
