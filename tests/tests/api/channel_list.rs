//! `GET /channels`: the caller's channels, last activity first, paginated,
//! filtered by type, with membership and unread counts.

use chat_shared::db::{Cond, Entity};
use chat_shared::ids::MessageId;
use chat_shared::keys::{self, Key};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn ids(body: &Value) -> Vec<String> {
    body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn lists_own_channels_newest_first_with_pages_and_type_filter() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let mut created = Vec::new();
    for i in 0..5 {
        let kind = if i % 2 == 0 { "group" } else { "public" };
        created.push(
            app.create_channel(
                &app.a,
                &t[0],
                json!({ "type": kind, "id": format!("c{i}"), "members": ["bob"] }),
            )
            .await,
        );
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    app.group(&app.a, &t[2], &[]).await; // not alice's

    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(c) => format!("/channels?limit=2&next={c}"),
            None => "/channels?limit=2".to_string(),
        };
        let page = app.get(&app.a, &t[0], &path).await;
        let body = page.assert_status(200).clone();
        assert!(ids(&body).len() <= 2);
        seen.extend(ids(&body));
        match body["next"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => break,
        }
    }
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let publics = app.get(&app.a, &t[0], "/channels?type=public").await;
    assert_eq!(ids(publics.assert_status(200)), ["c3", "c1"]);
    app.get(&app.a, &t[0], "/channels?type=secret")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &t[0], "/channels?limit=0")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &t[0], "/channels?next=%%%")
        .await
        .assert_error(400, "validation_error");

    let first = app.get(&app.a, &t[1], "/channels?limit=1").await;
    let entry = &first.assert_status(200)["channels"][0];
    assert_eq!(entry["membership"]["role"], "member");
    assert_eq!(entry["membership"]["muted"], false);
    assert_eq!(entry["membership"]["hidden"], false);
    assert_eq!(entry["unread_count"], 0);
    assert_eq!(entry["members"].as_array().unwrap().len(), 2);

    // The server lists for a named user, and must name one.
    let for_bob = app
        .get(&app.a, &app.a.server, "/channels?user_id=bob")
        .await;
    assert_eq!(ids(for_bob.assert_status(200)).len(), 5);
    app.get(&app.a, &app.a.server, "/channels")
        .await
        .assert_error(400, "validation_error");
}

/// A stand-in message item: unread counts come from message sort keys alone,
/// so this is all the count reads.
#[derive(Serialize, Deserialize)]
struct FakeMessage {
    pk: String,
    id: String,
}

impl Entity for FakeMessage {
    const TYPE: &'static str = "message";
    type Item = keys::item::Any;
    fn key(&self) -> Key {
        Key::from_stored(&self.pk, &format!("{}{}", keys::MESSAGE_PREFIX, self.id))
    }
}

#[tokio::test]
async fn unread_count_derives_from_message_keys_and_truncation() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let ch = chat_shared::ids::ChannelId::parse(id.as_str()).unwrap();
    let pk = keys::channel_partition(&app.a.app.app_id, &ch);
    for _ in 0..3 {
        let msg = FakeMessage {
            pk: pk.clone(),
            id: MessageId::generate().to_string(),
        };
        app.stack.state.db.put(&msg, Cond::Always).await.unwrap();
    }
    let listed = app.get(&app.a, &t[1], "/channels").await;
    assert_eq!(listed.assert_status(200)["channels"][0]["unread_count"], 3);
    // Messages of another channel do not count.
    let other = app.group(&app.a, &t[0], &["bob"]).await;
    let listed = app.get(&app.a, &t[1], "/channels").await;
    let entries = listed.assert_status(200)["channels"]
        .as_array()
        .unwrap()
        .clone();
    let other_entry = entries
        .iter()
        .find(|e| e["channel"]["id"] == other.as_str())
        .unwrap();
    assert_eq!(other_entry["unread_count"], 0);
    // Truncation hides everything before it.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/truncate"),
        json!({}),
    )
    .await
    .assert_status(200);
    let listed = app.get(&app.a, &t[1], "/channels").await;
    let entries = listed.assert_status(200)["channels"]
        .as_array()
        .unwrap()
        .clone();
    let entry = entries
        .iter()
        .find(|e| e["channel"]["id"] == id.as_str())
        .unwrap();
    assert_eq!(entry["unread_count"], 0);
}
