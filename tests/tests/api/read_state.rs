//! Read marks, unread counts (per channel and total) and read receipts.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn unread_counts_follow_read_marks_and_own_sends() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let one = app.group(&app.a, &t[0], &["bob"]).await;
    let two = app.group(&app.a, &t[0], &["bob"]).await;
    for i in 0..3 {
        app.say(&app.a, &t[0], &one, &format!("a{i}")).await;
    }
    let mid = app.say(&app.a, &t[0], &two, "b0").await;
    app.say(&app.a, &t[0], &two, "b1").await;

    let unread = app.get(&app.a, &t[1], "/unread").await;
    assert_eq!(unread.assert_status(200)["total_unread_count"], 5);
    // The sender has read their own messages.
    let own = app.get(&app.a, &t[0], "/unread").await;
    assert_eq!(own.assert_status(200)["total_unread_count"], 0);

    let marked = app
        .post(
            &app.a,
            &t[1],
            &format!("/channels/{two}/read"),
            json!({ "message_id": mid["id"] }),
        )
        .await;
    assert_eq!(marked.assert_status(200)["unread_count"], 1);
    let marked = app
        .post(&app.a, &t[1], &format!("/channels/{one}/read"), json!({}))
        .await;
    assert_eq!(marked.assert_status(200)["unread_count"], 0);
    let unread = app.get(&app.a, &t[1], "/unread").await;
    assert_eq!(unread.assert_status(200)["total_unread_count"], 1);
    let listed = app.get(&app.a, &t[1], "/channels").await;
    let entries = listed.assert_status(200)["channels"]
        .as_array()
        .unwrap()
        .clone();
    let of_two = entries
        .iter()
        .find(|e| e["channel"]["id"] == two.as_str())
        .unwrap();
    assert_eq!(of_two["unread_count"], 1);
    assert_eq!(of_two["membership"]["last_read_message_id"], mid["id"]);

    // Bob replying marks the channel read for him (the send moves the
    // mark on his member item only; lists show that one).
    let reply = app.say(&app.a, &t[1], &two, "caught up").await;
    let unread = app.get(&app.a, &t[1], "/unread").await;
    assert_eq!(unread.assert_status(200)["total_unread_count"], 0);
    let listed = app.get(&app.a, &t[1], "/channels").await;
    let of_two = listed.assert_status(200)["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["channel"]["id"] == two.as_str())
        .unwrap()
        .clone();
    assert_eq!(of_two["membership"]["last_read_message_id"], reply["id"]);
    assert_eq!(of_two["unread_count"], 0);
    let detail = app.get(&app.a, &t[1], &format!("/channels/{two}")).await;
    assert_eq!(
        detail.assert_status(200)["membership"]["last_read_message_id"],
        reply["id"]
    );

    let eve = app.create_users(&app.a, &["eve"]).await.remove(0);
    app.post(&app.a, &eve, &format!("/channels/{one}/read"), json!({}))
        .await
        .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[1],
        &format!("/channels/{one}/read"),
        json!({ "message_id": "nope" }),
    )
    .await
    .assert_error(400, "validation_error");
}

#[tokio::test]
async fn unread_counts_are_capped() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    // More than a minute's default sends.
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({"set": {"rate_limits": {"send": {"user": 1000, "app": 6000}}}}),
    )
    .await
    .assert_status(200);
    for i in 0..105 {
        app.say(&app.a, &t[0], &id, &format!("{i}")).await;
    }
    let listed = app.get(&app.a, &t[1], "/channels").await;
    assert_eq!(
        listed.assert_status(200)["channels"][0]["unread_count"],
        100
    );
}

#[tokio::test]
async fn read_receipts_list_who_read_a_message() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let first = app.say(&app.a, &t[0], &id, "first").await;
    let second = app.say(&app.a, &t[0], &id, "second").await;
    app.post(
        &app.a,
        &t[1],
        &format!("/channels/{id}/read"),
        json!({ "message_id": first["id"] }),
    )
    .await
    .assert_status(200);
    app.post(&app.a, &t[2], &format!("/channels/{id}/read"), json!({}))
        .await
        .assert_status(200);
    let r1 = app
        .get(
            &app.a,
            &t[0],
            &format!("/messages/{}/read", first["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        r1.assert_status(200)["read_by"],
        json!(["alice", "bob", "carol"])
    );
    let r2 = app
        .get(
            &app.a,
            &t[0],
            &format!("/messages/{}/read", second["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r2.assert_status(200)["read_by"], json!(["alice", "carol"]));
    app.get(
        &app.a,
        &t[3],
        &format!("/messages/{}/read", first["id"].as_str().unwrap()),
    )
    .await
    .assert_error(403, "forbidden");
}

#[tokio::test]
async fn unread_counts_only_what_the_reader_can_see_and_mark_read_clears_it() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "mallory"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "mallory"]).await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/bans"),
        json!({"user_id": "mallory", "shadow": true}),
    )
    .await
    .assert_status(201);
    let unread = |token: String| {
        let app = &app;
        async move {
            let all = app.get(&app.a, &token, "/unread").await;
            all.assert_status(200)["total_unread_count"]
                .as_u64()
                .unwrap()
        }
    };
    // A shadow-banned member's messages are invisible to others: no badge.
    let hidden = app.say(&app.a, &t[2], &ch, "spam").await;
    assert_eq!(unread(t[1].clone()).await, 0);
    assert_eq!(unread(t[0].clone()).await, 0);
    // Their typing reaches nobody either (the ack is the same).
    let mut bob_ws = app.ws(&app.a, &t[1]).await;
    let mut mallory_ws = app.ws(&app.a, &t[2]).await;
    let ack = mallory_ws
        .request(json!({"action": "typing.start", "channel_id": ch}))
        .await;
    assert_eq!(ack["ok"], true);
    let events = bob_ws.events(std::time::Duration::from_millis(300)).await;
    assert!(
        !events.iter().any(|e| e["type"] == "typing.start"),
        "{events:?}"
    );

    // A deleted message leaves no badge behind.
    let gone = app.say(&app.a, &t[0], &ch, "oops").await;
    assert_eq!(unread(t[1].clone()).await, 1);
    app.delete(
        &app.a,
        &t[0],
        &format!("/messages/{}", gone["id"].as_str().unwrap()),
    )
    .await
    .assert_status(200);
    assert_eq!(unread(t[1].clone()).await, 0);

    // Mark read always brings the count to 0, hidden messages after the
    // latest visible one included.
    app.say(&app.a, &t[0], &ch, "real").await;
    app.say(&app.a, &t[2], &ch, "more spam").await;
    assert_eq!(unread(t[1].clone()).await, 1);
    let marked = app
        .post(&app.a, &t[1], &format!("/channels/{ch}/read"), json!({}))
        .await;
    assert_eq!(marked.assert_status(200)["unread_count"], 0);
    assert_eq!(unread(t[1].clone()).await, 0);

    // Marking read at a hidden message is answered as at one that does not
    // exist: nothing tells the reader it is there.
    let hidden_id = hidden["id"].as_str().unwrap();
    let at_hidden = app
        .post(
            &app.a,
            &t[1],
            &format!("/channels/{ch}/read"),
            json!({"message_id": hidden_id}),
        )
        .await;
    let at_missing = app
        .post(
            &app.a,
            &t[1],
            &format!("/channels/{ch}/read"),
            json!({"message_id": "no-such-id"}),
        )
        .await;
    at_hidden.assert_error(400, "validation_error");
    at_missing.assert_error(400, "validation_error");
    assert_eq!(
        at_hidden.body["error"]["message"]
            .as_str()
            .unwrap()
            .replace(hidden_id, "ID"),
        at_missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .replace("no-such-id", "ID")
    );
}

#[tokio::test]
async fn read_receipts_carry_when_each_member_read() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let id = app.say(&app.a, &t[0], &ch, "read me").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let marked = app
        .post(&app.a, &t[1], &format!("/channels/{ch}/read"), json!({}))
        .await;
    let at = marked.assert_status(200)["last_read_at"].clone();
    assert!(at.is_string());
    let receipts = app
        .get(&app.a, &t[0], &format!("/messages/{id}/read"))
        .await;
    let readers = receipts.assert_status(200)["readers"]
        .as_array()
        .unwrap()
        .clone();
    let bob = readers
        .iter()
        .find(|r| r["user_id"] == "bob")
        .expect("bob read it");
    assert_eq!(bob["last_read_at"], at);
}
