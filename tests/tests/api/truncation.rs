//! Truncation is a wall: everything before the truncation point is gone for
//! every read and write path (by id, threads, reactions, pins, search,
//! quotes, read marks), over REST and the socket.

use serde_json::{json, Value};

use crate::helpers::TestApp;

/// alice and bob in a group; alice's "old secret" has a reply, a reaction
/// and a pin, then the channel is truncated and "new secret" sent: the
/// app, the tokens, the channel and the old message's id.
async fn truncated() -> (TestApp, Vec<String>, String, String) {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let old = app.say(&app.a, &t[0], &ch, "old secret").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &app.a,
        &t[1],
        "/messages",
        json!({"channel_id": ch, "parent_id": old, "text": "old secret reply"}),
    )
    .await
    .assert_status(201);
    app.post(
        &app.a,
        &t[1],
        &format!("/messages/{old}/reactions"),
        json!({"type": "like"}),
    )
    .await
    .assert_status(201);
    app.post(&app.a, &t[0], &format!("/messages/{old}/pin"), json!({}))
        .await
        .assert_status(200);
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/truncate"),
        json!({}),
    )
    .await
    .assert_status(200);
    app.say(&app.a, &t[0], &ch, "new secret").await;
    (app, t, ch, old)
}

#[tokio::test]
async fn a_truncated_message_its_thread_reactions_and_reads_are_not_found() {
    let (app, t, _, old) = truncated().await;
    for path in [
        format!("/messages/{old}"),
        format!("/messages/{old}/replies"),
        format!("/messages/{old}/reactions"),
        format!("/messages/{old}/read"),
    ] {
        app.get(&app.a, &t[1], &path)
            .await
            .assert_error(404, "not_found");
    }
}

#[tokio::test]
async fn a_truncated_message_cannot_be_reacted_to_edited_or_pinned() {
    let (app, t, _, old) = truncated().await;
    app.post(
        &app.a,
        &t[1],
        &format!("/messages/{old}/reactions"),
        json!({"type": "wow"}),
    )
    .await
    .assert_error(404, "not_found");
    app.delete(&app.a, &t[1], &format!("/messages/{old}/reactions/like"))
        .await
        .assert_error(404, "not_found");
    app.patch(
        &app.a,
        &t[0],
        &format!("/messages/{old}"),
        json!({"text": "back"}),
    )
    .await
    .assert_error(404, "not_found");
    app.post(&app.a, &t[0], &format!("/messages/{old}/pin"), json!({}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_truncated_message_cannot_be_replied_to_quoted_or_marked_read() {
    let (app, t, ch, old) = truncated().await;
    for body in [
        json!({"channel_id": ch, "parent_id": old, "text": "late reply"}),
        json!({"channel_id": ch, "quoted_message_id": old, "text": "remember this?"}),
    ] {
        app.post(&app.a, &t[1], "/messages", body)
            .await
            .assert_error(400, "validation_error");
    }
    app.post(
        &app.a,
        &t[1],
        &format!("/channels/{ch}/read"),
        json!({"message_id": old}),
    )
    .await
    .assert_error(400, "validation_error");
    app.put(
        &app.a,
        &t[1],
        &format!("/channels/{ch}/draft"),
        json!({"text": "draft", "quoted_message_id": old}),
    )
    .await
    .assert_error(400, "validation_error");
    let mut bob = app.ws(&app.a, &t[1]).await;
    let ack = bob
        .request(json!({"action": "message.read", "channel_id": ch, "message_id": old}))
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
}

#[tokio::test]
async fn history_pins_and_search_start_at_the_truncation() {
    let (app, t, ch, _) = truncated().await;
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{ch}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)), ["new secret"]);
    let pinned = app
        .get(&app.a, &t[1], &format!("/channels/{ch}/pinned"))
        .await;
    assert_eq!(pinned.assert_status(200)["messages"], json!([]));
    let found = app.get(&app.a, &t[1], "/search?query=secret").await;
    let texts: Vec<&str> = found.assert_status(200)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m: &Value| m["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["new secret"], "no old message or reply is found");
}
