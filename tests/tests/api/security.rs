//! Security sweeps driven by the OpenAPI document: every operation that
//! takes a JSON body refuses an oversized one early with 413 and the JSON
//! error shape, every operation refuses another app's token on this app's
//! key and an erased id's old token, without leaking anything, and no read
//! shows a blocker what the user they block wrote.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn operations(doc: &Value) -> Vec<(Method, String, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let concrete: String = path
                .trim_start_matches("/api/v1")
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let json_body = operation["requestBody"]["content"]["application/json"].is_object();
            out.push((method, concrete, json_body));
        }
    }
    out
}

/// Every operation of the served document but the health check.
async fn authenticated_operations(app: &TestApp) -> Vec<(Method, String, bool)> {
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, None)
        .await
        .body;
    operations(&doc)
        .into_iter()
        .filter(|(_, path, _)| !path.ends_with("/health"))
        .collect()
}

#[tokio::test]
async fn oversized_bodies_are_refused_early_everywhere() {
    let app = TestApp::spawn().await;
    let token = app.create_users(&app.a, &["alice"]).await.remove(0);
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, None)
        .await
        .body;
    let huge = json!({ "text": "x".repeat(3 * 1024 * 1024) });
    let mut checked = 0;
    for (method, path, json_body) in operations(&doc) {
        if !json_body {
            continue;
        }
        for credential in [&token, &app.a.server] {
            let resp = app
                .send(
                    method.clone(),
                    &path,
                    Some(app.a.key()),
                    Some(credential),
                    Some(huge.clone()),
                )
                .await;
            resp.assert_error(413, "payload_too_large");
        }
        checked += 1;
    }
    assert!(checked >= 15, "{checked} operations with bodies");
}

#[tokio::test]
async fn another_apps_token_is_refused_on_every_operation() {
    let app = TestApp::spawn().await;
    app.create_users(&app.a, &["alice"]).await;
    let b_user = app.create_users(&app.b, &["alice"]).await.remove(0);
    for (method, path, json_body) in authenticated_operations(&app).await {
        let body = json_body.then(|| json!({}));
        for token in [&b_user, &app.b.server] {
            let resp = app
                .send(
                    method.clone(),
                    &path,
                    Some(app.a.key()),
                    Some(token),
                    body.clone(),
                )
                .await;
            resp.assert_error(401, "invalid_signature");
            let text = resp.body.to_string();
            assert!(
                !text.contains(app.a.app.app_id.as_str())
                    && !text.contains(app.b.app.app_id.as_str()),
                "{method} {path}: {text}"
            );
        }
    }
}

/// A token of an erased id's earlier incarnation is refused by every
/// operation, whatever it asks.
#[tokio::test]
async fn an_erased_ids_old_token_is_refused_on_every_operation() {
    let app = TestApp::spawn().await;
    let old = app.create_users(&app.a, &["alice"]).await.remove(0);
    app.delete(&app.a, &app.a.server, "/users/alice")
        .await
        .assert_status(202);
    for _ in 0..200 {
        let progress = app
            .get(&app.a, &app.a.server, "/users/alice/deletion")
            .await;
        if progress.assert_status(200)["deletion"]["status"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.create_users(&app.a, &["alice"]).await;
    for (method, path, json_body) in authenticated_operations(&app).await {
        let body = json_body.then(|| json!({}));
        app.send(method.clone(), &path, Some(app.a.key()), Some(&old), body)
            .await
            .assert_error(401, "token_revoked");
    }
}

/// What a blocked user wrote (messages, thread replies, a third member's
/// quote and pin of it, reactions) reaches the blocker through no read of
/// the served document, while the same reads show it to another member.
#[tokio::test]
async fn a_blocked_users_words_reach_the_blocker_through_no_read() {
    const WORD: &str = "zanzibar";
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[2], &["alice", "bob"]).await;
    app.post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await
        .assert_status(201);
    let cursor = app.sync_cursor(&app.a, &t[0]).await;
    let id = |m: &Value| m["id"].as_str().unwrap().to_string();
    let bobs = id(&app.say(&app.a, &t[1], &ch, "zanzibar in the channel").await);
    let parent = id(&app.say(&app.a, &t[2], &ch, "carol's thread").await);
    for (text, shown) in [("zanzibar in a thread", false), ("zanzibar shown", true)] {
        app.post(
            &app.a,
            &t[1],
            "/messages",
            json!({"channel_id": ch, "parent_id": parent, "text": text, "show_in_channel": shown}),
        )
        .await
        .assert_status(201);
    }
    let quote = app
        .post(
            &app.a,
            &t[2],
            "/messages",
            json!({"channel_id": ch, "text": "carol quotes", "quoted_message_id": bobs}),
        )
        .await;
    let quote = id(&quote.assert_status(201)["message"]);
    app.post(&app.a, &t[2], &format!("/messages/{bobs}/pin"), json!({}))
        .await
        .assert_status(200);
    app.post(
        &app.a,
        &t[1],
        &format!("/messages/{parent}/reactions"),
        json!({"type": "like", "score": 1}),
    )
    .await
    .assert_status(201);

    let doc = app
        .send(Method::GET, "/openapi.json", None, None, None)
        .await
        .body;
    // Each read with the ids of what was written.
    let mut reads = Vec::new();
    for (method, path, _) in operations(&doc) {
        if method != Method::GET {
            continue;
        }
        let path = path
            .replace("/channels/x1", &format!("/channels/{ch}"))
            .replace("/users/x1", "/users/alice");
        let path = match path.as_str() {
            "/search" => format!("/search?query={WORD}"),
            "/sync" => format!("/sync?since={cursor}"),
            _ => path,
        };
        if path.contains("/messages/x1") {
            for message in [&parent, &quote] {
                reads.push(path.replace("/messages/x1", &format!("/messages/{message}")));
            }
        } else {
            reads.push(path);
        }
    }
    let mut shown_to_carol = 0;
    for path in &reads {
        let resp = app.get(&app.a, &t[0], path).await;
        assert!(resp.status < 500, "{path}: {:?}", resp.body);
        let text = resp.body.to_string();
        assert!(!text.contains(WORD), "{path} shows alice: {text}");
        // Reactions listed carry bob's id; nothing else but the members
        // and blocks lists names him.
        if path.ends_with("/reactions") {
            assert!(!text.contains("\"bob\""), "{path}: {text}");
        }
        let carols = app.get(&app.a, &t[2], path).await;
        if carols.body.to_string().contains(WORD) {
            shown_to_carol += 1;
        }
    }
    // History, thread, pins, search, sync, a message with its quote.
    assert!(
        shown_to_carol >= 6,
        "{shown_to_carol} of {} reads",
        reads.len()
    );
}

#[tokio::test]
async fn app_a_ids_with_app_b_credentials_are_not_found_on_every_path() {
    let app = TestApp::spawn().await;
    let a = app.create_users(&app.a, &["alice", "bob"]).await;
    let channel = app
        .create_channel(
            &app.a,
            &a[0],
            json!({ "type": "public", "id": "room-a", "members": ["bob"] }),
        )
        .await;
    let message = app
        .post(
            &app.a,
            &a[0],
            "/messages",
            json!({ "channel_id": channel, "id": "msg-a", "text": "secret of A" }),
        )
        .await;
    message.assert_status(201);
    app.post(
        &app.a,
        &a[0],
        "/devices",
        json!({ "id": "device-a", "push_provider": "apn" }),
    )
    .await
    .assert_status(201);
    // App B knows nobody of these ids, but has valid credentials of its own.
    app.create_users(&app.b, &["carol"]).await;
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, None)
        .await
        .body;
    let mut probed = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        let concrete: String = path
            .trim_start_matches("/api/v1")
            .split('/')
            .map(|s| match s {
                "{id}" if path.contains("/messages/") => "msg-a",
                "{id}" => channel.as_str(),
                "{user_id}" => "bob",
                "{device_id}" => "device-a",
                "{kind}" => "like",
                other => other,
            })
            .collect::<Vec<_>>()
            .join("/");
        let concrete = if path.starts_with("/api/v1/users/") {
            concrete.replace(&channel, "alice")
        } else {
            concrete
        };
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let body = operation["requestBody"]["content"]["application/json"]
                .is_object()
                .then(|| json!({ "user_id": "carol", "text": "x", "type": "like", "role": "admin", "set": {} }));
            let resp = app
                .send(
                    method.clone(),
                    &concrete,
                    Some(app.b.key()),
                    Some(&app.b.server),
                    body,
                )
                .await;
            assert!(
                resp.status == 404 || resp.status == 400,
                "{method} {concrete}: {} {}",
                resp.status,
                resp.body
            );
            assert!(
                !resp.body.to_string().contains("secret of A"),
                "{method} {concrete} leaked"
            );
            probed += 1;
        }
    }
    assert!(probed >= 35, "{probed} operations probed");
    // A's data is intact.
    let intact = app.get(&app.a, &a[1], "/messages/msg-a").await;
    assert_eq!(intact.assert_status(200)["message"]["text"], "secret of A");
}
