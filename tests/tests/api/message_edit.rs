//! Edits (author or moderator, recorded) and soft and hard deletes.

use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn authors_edit_and_moderator_edits_are_recorded() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let m = app.say(&app.a, &t[1], &id, "tpyo").await;
    let path = format!("/messages/{}", m["id"].as_str().unwrap());

    let edited = app
        .patch(&app.a, &t[1], &path, json!({ "text": "typo" }))
        .await;
    let body = edited.assert_status(200)["message"].clone();
    assert_eq!(body["text"], "typo");
    assert!(body["edited_at"].is_string());
    assert_eq!(body["moderated_by"], Value::Null);

    app.patch(&app.a, &t[2], &path, json!({ "text": "not mine" }))
        .await
        .assert_error(403, "forbidden");
    app.patch(&app.a, &t[3], &path, json!({ "text": "outsider" }))
        .await
        .assert_error(403, "forbidden");
    app.patch(&app.a, &t[1], &path, json!({}))
        .await
        .assert_error(400, "validation_error");
    app.patch(&app.a, &t[1], &path, json!({ "text": "x".repeat(5001) }))
        .await
        .assert_error(400, "validation_error");

    let moderated = app
        .patch(&app.a, &t[0], &path, json!({ "text": "[removed link]" }))
        .await;
    assert_eq!(
        moderated.assert_status(200)["message"]["moderated_by"],
        "alice"
    );
    let by_server = app
        .patch(
            &app.a,
            &app.a.server,
            &path,
            json!({ "metadata": { "flag": true } }),
        )
        .await;
    assert_eq!(
        by_server.assert_status(200)["message"]["moderated_by"],
        "server"
    );
    let history = app
        .get(&app.a, &t[2], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(
        TestApp::texts(history.assert_status(200)),
        ["[removed link]"]
    );
}

#[tokio::test]
async fn soft_delete_keeps_a_placeholder() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let m = app
        .post(&app.a, &t[1], "/messages", json!({ "channel_id": id, "text": "oops", "attachments": [{ "type": "file", "url": "https://x.example.com/f" }] }))
        .await;
    let path = format!(
        "/messages/{}",
        m.assert_status(201)["message"]["id"].as_str().unwrap()
    );
    app.delete(&app.a, &t[2], &path)
        .await
        .assert_error(403, "forbidden");
    let deleted = app.delete(&app.a, &t[1], &path).await;
    let body = deleted.assert_status(200)["message"].clone();
    assert_eq!(body["type"], "deleted");
    assert_eq!(body["text"], Value::Null);
    assert_eq!(body["attachments"], json!([]));
    assert!(body["deleted_at"].is_string());
    let history = app
        .get(&app.a, &t[2], &format!("/channels/{id}/messages"))
        .await;
    let messages = history.assert_status(200)["messages"].clone();
    assert_eq!(messages[0]["type"], "deleted");
    assert_eq!(messages[0]["text"], Value::Null);
    app.patch(&app.a, &t[1], &path, json!({ "text": "undo" }))
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn hard_delete_removes_the_message_and_its_reactions() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let parent = app.say(&app.a, &t[0], &id, "parent").await;
    let pid = parent["id"].as_str().unwrap();
    let reply = app
        .post(
            &app.a,
            &t[1],
            "/messages",
            json!({ "channel_id": id, "text": "gone soon", "parent_id": pid }),
        )
        .await;
    let rid = reply.assert_status(201)["message"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &app.a,
        &t[2],
        &format!("/messages/{rid}/reactions"),
        json!({ "type": "like" }),
    )
    .await
    .assert_status(201);

    app.delete(&app.a, &t[2], &format!("/messages/{rid}?hard=true"))
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[1], &format!("/messages/{rid}?hard=true"))
        .await
        .assert_status(204);
    app.get(&app.a, &t[0], &format!("/messages/{rid}"))
        .await
        .assert_error(404, "not_found");
    app.get(&app.a, &t[0], &format!("/messages/{rid}/reactions"))
        .await
        .assert_error(404, "not_found");
    let replies = app
        .get(&app.a, &t[0], &format!("/messages/{pid}/replies"))
        .await;
    assert_eq!(replies.assert_status(200)["messages"], json!([]));
    let parent = app.get(&app.a, &t[0], &format!("/messages/{pid}")).await;
    assert_eq!(parent.assert_status(200)["message"]["reply_count"], 0);
    // The reaction items are gone from the table too.
    let db = &app.stack.state.db;
    let mid = chat_shared::ids::MessageId::parse(rid.as_str()).unwrap();
    let carol = chat_shared::ids::UserId::parse("carol").unwrap();
    let key = chat_shared::keys::reaction(&app.a.app.app_id, &mid, &carol, "like");
    assert!(db.get::<Value>(&key.any()).await.unwrap().is_none());
    // An admin (the owner here) and the server may hard-delete others' messages.
    let other = app.say(&app.a, &t[1], &id, "bye").await;
    app.delete(
        &app.a,
        &t[0],
        &format!("/messages/{}?hard=true", other["id"].as_str().unwrap()),
    )
    .await
    .assert_status(204);
    let last = app.say(&app.a, &t[1], &id, "bye again").await;
    app.delete(
        &app.a,
        &app.a.server,
        &format!("/messages/{}?hard=true", last["id"].as_str().unwrap()),
    )
    .await
    .assert_status(204);
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)), ["parent"]);
}
