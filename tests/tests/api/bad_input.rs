//! Input the table cannot hold, or that could steer a path, is a 400 with a
//! reason on REST and an error ack on the socket, never a 5xx: deep
//! metadata, empty map keys, out-of-range numbers, forged cursors, ids made
//! of dots, reaction types with path or direction characters.

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn nested(levels: usize) -> Value {
    let mut value = json!("deep");
    for _ in 0..levels {
        value = json!({ "x": value });
    }
    value
}

/// Metadata shapes DynamoDB would refuse (each a 500 before).
fn unstorable() -> Vec<Value> {
    vec![
        json!({ "deep": nested(32) }),
        json!({ "deep": nested(40) }),
        json!({ "": 1 }),
        json!({ "a": { "": "empty key inside" } }),
        serde_json::from_str(r#"{"n": 1e300}"#).unwrap(),
        serde_json::from_str(r#"{"n": -1e-200}"#).unwrap(),
    ]
}

#[tokio::test]
async fn unstorable_metadata_is_a_400_everywhere() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    let mut ws = app.ws(&app.a, &t[0]).await;
    for metadata in unstorable() {
        app.assert_each_invalid(
            &app.a,
            &t[0],
            vec![
                (
                    Method::POST,
                    "/users".into(),
                    json!({"users": [{ "id": "carol", "metadata": metadata }]}),
                ),
                (
                    Method::PATCH,
                    "/users/alice".into(),
                    json!({"set": {"metadata": metadata}}),
                ),
                (
                    Method::POST,
                    "/channels".into(),
                    json!({"type": "group", "metadata": metadata}),
                ),
                (
                    Method::POST,
                    "/messages".into(),
                    json!({"channel_id": ch, "text": "x", "metadata": metadata}),
                ),
                (
                    Method::PUT,
                    format!("/channels/{ch}/draft"),
                    json!({"text": "x", "metadata": metadata}),
                ),
            ],
        )
        .await;
        let ack = ws
            .request(json!({"action": "message.send", "channel_id": ch, "text": "x", "metadata": metadata}))
            .await;
        assert_eq!(ack["error"]["code"], "validation_error", "{ack}");
    }
    // What fits is stored as given.
    let fine = json!({ "deep": nested(10), "n": 12.5, "list": [1, "two", null] });
    let sent = app
        .post(
            &app.a,
            &t[0],
            "/messages",
            json!({"channel_id": ch, "text": "ok", "metadata": fine}),
        )
        .await;
    assert_eq!(sent.assert_status(201)["message"]["metadata"], fine);
    let edge: Value = serde_json::from_str(r#"{"big": 9.9e125, "small": -1.5e-130}"#).unwrap();
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": ch, "text": "edge", "metadata": edge}),
    )
    .await
    .assert_status(201);
}

#[tokio::test]
async fn a_forged_cursor_is_a_400() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let page = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/members?limit=1"))
        .await;
    let next = page.assert_status(200)["next"]
        .as_str()
        .unwrap()
        .to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut cursor: serde_json::Map<String, Value> =
        serde_json::from_slice(&b64.decode(&next).unwrap()).unwrap();
    cursor.insert("extra".into(), json!("x"));
    let forged = b64.encode(serde_json::to_vec(&cursor).unwrap());
    app.get(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/members?limit=1&next={forged}"),
    )
    .await
    .assert_error(400, "validation_error");
    // The real one still works.
    app.get(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/members?limit=1&next={next}"),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn ids_of_dots_and_reaction_types_with_path_or_direction_characters_are_refused() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    for id in [".", "..", "..."] {
        app.upsert(&app.a, json!([{ "id": id }]))
            .await
            .assert_error(400, "validation_error");
        app.post(
            &app.a,
            &t[0],
            "/channels",
            json!({"type": "group", "id": id}),
        )
        .await
        .assert_error(400, "validation_error");
    }
    app.upsert(&app.a, json!([{ "id": "a.b" }]))
        .await
        .assert_status(200);
    let ch = app.group(&app.a, &t[0], &[]).await;
    let id = app.say(&app.a, &t[0], &ch, "react").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for kind in ["a/b", "..", "x\u{202E}y", "\u{200F}", "a b", "a#b", "a.b"] {
        app.post(
            &app.a,
            &t[0],
            &format!("/messages/{id}/reactions"),
            json!({"type": kind}),
        )
        .await
        .assert_error(400, "validation_error");
    }
    for kind in ["like", "thumbs_up", "+1", ":fire:", "👍", "👨‍👩‍👧", "❤️"] {
        app.post(
            &app.a,
            &t[0],
            &format!("/messages/{id}/reactions"),
            json!({"type": kind}),
        )
        .await
        .assert_status(201);
    }
}
