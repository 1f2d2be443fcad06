//! Delivery receipts: a member marks a channel delivered up to a message
//! (REST, or several channels in one socket frame); the mark never moves
//! back; members online hear `message.delivered`; `GET /messages/{id}/read`
//! lists who has it delivered apart from who read it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

fn ids(body: &Value, field: &str) -> Vec<String> {
    body[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_delivery_mark_moves_forward_only_is_told_and_is_not_a_read() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let first = app.say(&app.a, &t[0], &id, "one").await;
    let second = app.say(&app.a, &t[0], &id, "two").await;
    let (m1, m2) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    let mut alice = app.ws(&app.a, &t[0]).await;
    let path = format!("/channels/{id}/delivered");

    let marked = app
        .post(&app.a, &t[1], &path, json!({ "message_id": m2 }))
        .await;
    let marked = marked.assert_status(200);
    assert_eq!(marked["channel_id"], id.as_str());
    assert_eq!(marked["last_delivered_message_id"], m2);
    assert!(marked["last_delivered_at"].is_string());
    let told = alice.expect("message.delivered").await;
    assert_eq!(told["channel_id"], id.as_str());
    assert_eq!(told["user"]["id"], "bob");
    assert_eq!(told["last_delivered_message_id"], m2);

    // Never back, and a mark that does not move tells no one.
    let back = app
        .post(&app.a, &t[1], &path, json!({ "message_id": m1 }))
        .await;
    assert_eq!(back.assert_status(200)["last_delivered_message_id"], m2);
    let again = app
        .post(&app.a, &t[1], &path, json!({ "message_id": m2 }))
        .await;
    again.assert_status(200);
    let events = alice.events(Duration::from_millis(800)).await;
    assert!(
        events.iter().all(|e| e["type"] != "message.delivered"),
        "{events:?}"
    );

    // Delivered is not read.
    let receipts = app
        .get(&app.a, &t[0], &format!("/messages/{m1}/read"))
        .await;
    let receipts = receipts.assert_status(200);
    assert_eq!(ids(receipts, "delivered_to"), ["bob"]);
    assert_eq!(receipts["recipients"][0]["user_id"], "bob");
    assert!(receipts["recipients"][0]["last_delivered_at"].is_string());
    // (The author's own send read it for them.)
    assert_eq!(ids(receipts, "read_by"), ["alice"]);
    // Reading implies delivery: carol joins, reads, never marks delivered.
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/members"),
        json!({ "user_ids": ["carol"] }),
    )
    .await
    .assert_status(200);
    let third = app.say(&app.a, &t[0], &id, "three").await;
    let m3 = third["id"].as_str().unwrap();
    app.post(&app.a, &t[2], &format!("/channels/{id}/read"), json!({}))
        .await
        .assert_status(200);
    let receipts = app
        .get(&app.a, &t[0], &format!("/messages/{m3}/read"))
        .await;
    let receipts = receipts.assert_status(200);
    assert_eq!(ids(receipts, "delivered_to"), ["carol"]);
    assert_eq!(ids(receipts, "read_by"), ["alice", "carol"]);
    // The author is no recipient of their own message.
    app.post(&app.a, &t[0], &path, json!({}))
        .await
        .assert_status(200);
    let receipts = app
        .get(&app.a, &t[1], &format!("/messages/{m3}/read"))
        .await;
    assert_eq!(ids(receipts.assert_status(200), "delivered_to"), ["carol"]);
}

#[tokio::test]
async fn only_members_mark_delivered_at_messages_of_the_channel() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let other = app.group(&app.a, &t[0], &["carol"]).await;
    let elsewhere = app.say(&app.a, &t[0], &other, "elsewhere").await;
    let path = format!("/channels/{id}/delivered");
    app.post(&app.a, &t[2], &path, json!({}))
        .await
        .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[1],
        &path,
        json!({ "message_id": elsewhere["id"] }),
    )
    .await
    .assert_error(400, "validation_error");
    app.post(&app.a, &t[1], &path, json!({ "message_id": "nope" }))
        .await
        .assert_error(400, "validation_error");
    app.post(&app.a, &t[1], &path, json!({ "colour": "red" }))
        .await
        .assert_error(400, "validation_error");
    // Another app's user, even with the same id, finds no such channel.
    let ub = app.create_users(&app.b, &["bob"]).await;
    app.post(&app.b, &ub[0], &path, json!({}))
        .await
        .assert_error(404, "not_found");
    // A server token marks for the member it names.
    let marked = app
        .post(&app.a, &app.a.server, &path, json!({ "user_id": "bob" }))
        .await;
    marked.assert_status(200);
}

#[tokio::test]
async fn the_socket_marks_several_channels_in_one_frame() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let one = app.group(&app.a, &t[0], &["bob"]).await;
    // Delivery events off in the second: marked, but not told.
    let two = app
        .create_channel(
            &app.a,
            &t[0],
            json!({"type": "group", "members": ["bob"], "settings": {"delivery_events": false}}),
        )
        .await;
    let a1 = app.say(&app.a, &t[0], &one, "in one").await;
    let a2 = app.say(&app.a, &t[0], &two, "in two").await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let ack = bob
        .request(json!({
            "action": "channel.mark_delivered",
            "channels": [
                { "channel_id": one, "message_id": a1["id"] },
                { "channel_id": two },
            ],
        }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let marks = ack["result"]["delivered"].as_array().unwrap();
    assert_eq!(marks.len(), 2);
    assert_eq!(marks[0]["last_delivered_message_id"], a1["id"]);
    assert_eq!(marks[1]["channel_id"], two.as_str());
    assert_eq!(marks[1]["last_delivered_message_id"], a2["id"]);
    let told = alice.expect("message.delivered").await;
    assert_eq!(told["channel_id"], one.as_str());
    let more = alice.events(Duration::from_millis(800)).await;
    assert!(
        more.iter().all(|e| e["type"] != "message.delivered"),
        "{more:?}"
    );
    let receipts = app
        .get(
            &app.a,
            &t[0],
            &format!("/messages/{}/read", a2["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(ids(receipts.assert_status(200), "delivered_to"), ["bob"]);

    for channels in [json!([]), json!(vec![json!({ "channel_id": one }); 31])] {
        let refused = bob
            .request(json!({ "action": "channel.mark_delivered", "channels": channels }))
            .await;
        assert_eq!(refused["ok"], false);
        assert_eq!(refused["error"]["code"], "validation_error");
    }
}
