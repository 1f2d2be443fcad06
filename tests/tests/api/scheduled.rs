//! Scheduled messages: `POST /messages` with `scheduled_at`, kept for their
//! author until due, then sent as the author sends (every rule evaluated
//! then), once, within 2 s of their time; refused sends become `failed`.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{json, Value};

use crate::helpers::{ahead, Resp, Tenant, TestApp};

fn millis(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

async fn schedule(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    channel: &str,
    text: &str,
    secs: i64,
) -> Resp {
    app.post(
        t,
        token,
        "/messages",
        json!({ "channel_id": channel, "text": text, "scheduled_at": ahead(secs) }),
    )
    .await
}

/// The channel's history as `token` sees it.
async fn history(app: &TestApp, t: &Tenant, token: &str, channel: &str) -> Vec<Value> {
    let page = app
        .get(t, token, &format!("/channels/{channel}/messages"))
        .await;
    page.assert_status(200)["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_scheduled_message_waits_for_its_author_then_arrives_once_on_time() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;

    let made = schedule(&app, &app.a, &t[0], &id, "later", 11).await;
    let item = made.assert_status(202)["scheduled_message"].clone();
    assert_eq!(item["status"], "pending");
    assert_eq!(item["text"], "later");
    assert_eq!(item["channel_id"], id.as_str());
    assert_eq!(item["user_id"], "alice");
    let sid = item["id"].as_str().unwrap().to_string();
    let due = millis(item["scheduled_at"].as_str().unwrap());

    // Until due: its author's alone (and a server token's acting as them).
    let mine = app.get(&app.a, &t[0], "/messages/scheduled").await;
    assert_eq!(
        mine.assert_status(200)["scheduled_messages"][0]["id"],
        sid.as_str()
    );
    let bobs = app.get(&app.a, &t[1], "/messages/scheduled").await;
    assert_eq!(bobs.assert_status(200)["scheduled_messages"], json!([]));
    app.get(&app.a, &t[1], &format!("/messages/scheduled/{sid}"))
        .await
        .assert_error(404, "not_found");
    let server = app
        .get(&app.a, &app.a.server, "/messages/scheduled?user_id=alice")
        .await;
    assert_eq!(
        server.assert_status(200)["scheduled_messages"][0]["id"],
        sid.as_str()
    );
    app.get(&app.a, &app.a.server, "/messages/scheduled")
        .await
        .assert_error(400, "validation_error");
    // Another app's server token, naming the same user id, sees nothing.
    let other = app
        .get(&app.b, &app.b.server, "/messages/scheduled?user_id=alice")
        .await;
    assert_eq!(other.assert_status(200)["scheduled_messages"], json!([]));
    assert!(history(&app, &app.a, &t[1], &id).await.is_empty());
    app.get(&app.a, &t[0], &format!("/messages/{sid}"))
        .await
        .assert_error(404, "not_found");

    let (event, at) = bob
        .within(15, |e| e["type"] == "message.new")
        .await
        .expect("the message arrives");
    assert_eq!(event["message"]["id"], sid.as_str());
    assert_eq!(event["message"]["text"], "later");
    assert_eq!(event["message"]["user"]["id"], "alice");
    let arrived = chrono::Utc::now().timestamp_millis() - at.elapsed().as_millis() as i64;
    assert!(
        arrived - due < 2_000,
        "arrived {} ms after its time",
        arrived - due
    );
    assert!(arrived >= due - 600, "arrived {} ms early", due - arrived);

    // Sent once; no longer scheduled.
    let seen = history(&app, &app.a, &t[1], &id).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["id"], sid.as_str());
    let mine = app.get(&app.a, &t[0], "/messages/scheduled").await;
    assert_eq!(mine.assert_status(200)["scheduled_messages"], json!([]));
    assert!(bob
        .within(2, |e| e["type"] == "message.new")
        .await
        .is_none());
}

#[tokio::test]
async fn scheduling_checks_the_time_the_input_and_the_channel_now() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    for bad in ["yesterday", &ahead(-60), &ahead(5), &ahead(31 * 24 * 3600)] {
        app.post(
            &app.a,
            &t[0],
            "/messages",
            json!({ "channel_id": id, "text": "x", "scheduled_at": bad }),
        )
        .await
        .assert_error(400, "validation_error");
    }
    // What a send refuses now is refused now.
    schedule(&app, &app.a, &t[2], &id, "not a member", 60)
        .await
        .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({ "channel_id": id, "scheduled_at": ahead(60) }),
    )
    .await
    .assert_error(400, "validation_error");
    app.post(
        &app.a,
        &app.a.server,
        "/messages",
        json!({ "channel_id": id, "text": "s", "type": "system", "user_id": "alice", "scheduled_at": ahead(60) }),
    )
    .await
    .assert_error(400, "validation_error");
    // Another app's channel does not exist for this one.
    let ub = app.create_users(&app.b, &["alice"]).await;
    schedule(&app, &app.b, &ub[0], &id, "elsewhere", 60)
        .await
        .assert_error(404, "not_found");

    // A client id already scheduled is a conflict.
    let body =
        json!({ "channel_id": id, "id": "fixed-id", "text": "a", "scheduled_at": ahead(60) });
    app.post(&app.a, &t[0], "/messages", body.clone())
        .await
        .assert_status(202);
    app.post(&app.a, &t[0], "/messages", body)
        .await
        .assert_error(409, "conflict");
    let listed = app
        .get(
            &app.a,
            &t[0],
            &format!("/messages/scheduled?channel_id={id}&limit=1"),
        )
        .await;
    let listed = listed.assert_status(200);
    assert_eq!(listed["scheduled_messages"].as_array().unwrap().len(), 1);
    assert!(listed["next"].is_string());
    app.get(&app.a, &t[0], "/messages/scheduled?limit=0")
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn the_apps_cap_per_user_holds_and_zero_turns_scheduling_off() {
    // Every function reads the app's settings afresh (no cache).
    let mut options = chat_local::StackOptions::ephemeral();
    options.config.app_cache_ttl = Duration::ZERO;
    let app = TestApp::spawn_with(options).await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    // The app's cap per user, and 0 turns scheduling off.
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "max_scheduled_messages": 1 } }),
    )
    .await
    .assert_status(200);
    schedule(&app, &app.a, &t[0], &id, "one", 60)
        .await
        .assert_status(202);
    schedule(&app, &app.a, &t[0], &id, "two", 60)
        .await
        .assert_error(403, "forbidden");
    schedule(&app, &app.a, &t[1], &id, "bob's one", 60)
        .await
        .assert_status(202);
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "max_scheduled_messages": 0 } }),
    )
    .await
    .assert_status(200);
    let off = schedule(&app, &app.a, &t[1], &id, "off", 60).await;
    off.assert_error(403, "forbidden");
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "max_scheduled_messages": 1001 } }),
    )
    .await
    .assert_error(400, "validation_error");
}

#[tokio::test]
async fn an_edit_or_a_new_time_changes_what_is_sent_and_a_deleted_one_never_is() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;

    let first = schedule(&app, &app.a, &t[0], &id, "draft", 600).await;
    let sid = first.assert_status(202)["scheduled_message"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/messages/scheduled/{sid}");
    app.patch(&app.a, &t[1], &path, json!({ "text": "bob's edit" }))
        .await
        .assert_error(404, "not_found");
    app.patch(&app.a, &t[0], &path, json!({ "scheduled_at": ahead(2) }))
        .await
        .assert_error(400, "validation_error");
    app.patch(&app.a, &t[0], &path, json!({ "colour": "red" }))
        .await
        .assert_error(400, "validation_error");
    let edited = app
        .patch(
            &app.a,
            &t[0],
            &path,
            json!({ "text": "final", "scheduled_at": ahead(11) }),
        )
        .await;
    assert_eq!(
        edited.assert_status(200)["scheduled_message"]["text"],
        "final"
    );

    let doomed = schedule(&app, &app.a, &t[0], &id, "never", 11).await;
    let doomed = doomed.assert_status(202)["scheduled_message"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.delete(&app.a, &t[1], &format!("/messages/scheduled/{doomed}"))
        .await
        .assert_error(404, "not_found");
    app.delete(&app.a, &t[0], &format!("/messages/scheduled/{doomed}"))
        .await
        .assert_status(204);

    // The edited one arrives at its new time (not 10 minutes later), once;
    // the old time's task finds nothing to do.
    let (event, _) = bob
        .within(15, |e| e["type"] == "message.new")
        .await
        .expect("the edited message arrives at its new time");
    assert_eq!(event["message"]["id"], sid.as_str());
    assert_eq!(event["message"]["text"], "final");
    assert!(bob
        .within(2, |e| e["type"] == "message.new")
        .await
        .is_none());
    let texts: Vec<Value> = history(&app, &app.a, &t[1], &id)
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("final")]);
    app.patch(&app.a, &t[0], &path, json!({ "text": "too late" }))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_send_refused_when_due_fails_with_its_reason_and_tells_the_author() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    // Bob owns the channel; Alice schedules, then Bob freezes it.
    let id = app.group(&app.a, &t[1], &["alice"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let made = schedule(&app, &app.a, &t[0], &id, "into the ice", 11).await;
    let sid = made.assert_status(202)["scheduled_message"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(&app.a, &t[1], &format!("/channels/{id}/freeze"), json!({}))
        .await
        .assert_status(200);

    let (event, _) = alice
        .within(15, |e| e["type"] == "message.scheduled_failed")
        .await
        .expect("the author hears of the refusal");
    assert_eq!(event["channel_id"], id.as_str());
    let failed = &event["scheduled_message"];
    assert_eq!(failed["id"], sid.as_str());
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure"]["code"], "forbidden");
    let listed = app.get(&app.a, &t[0], "/messages/scheduled").await;
    let listed = listed.assert_status(200);
    assert_eq!(listed["scheduled_messages"][0]["status"], "failed");
    assert!(history(&app, &app.a, &t[1], &id).await.is_empty());

    // Thawed and given a new time, it goes.
    app.post(
        &app.a,
        &t[1],
        &format!("/channels/{id}/unfreeze"),
        json!({}),
    )
    .await
    .assert_status(200);
    let again = app
        .patch(
            &app.a,
            &t[0],
            &format!("/messages/scheduled/{sid}"),
            json!({ "scheduled_at": ahead(11) }),
        )
        .await;
    let again = again.assert_status(200);
    assert_eq!(again["scheduled_message"]["status"], "pending");
    assert!(again["scheduled_message"]["failure"].is_null());
    let (event, _) = alice
        .within(15, |e| e["type"] == "message.new")
        .await
        .expect("sent once thawed");
    assert_eq!(event["message"]["id"], sid.as_str());
}

#[tokio::test]
async fn the_socket_schedules_too_and_a_task_run_twice_sends_once() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let ack = alice
        .request(json!({
            "action": "message.send", "channel_id": id, "text": "by socket",
            "scheduled_at": ahead(60),
        }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let item = ack["result"]["scheduled_message"].clone();
    assert_eq!(item["status"], "pending");
    let sid = item["id"].as_str().unwrap().to_string();

    // The queue hands the task out twice, at once, before its time comes
    // round in the queue: one message.
    let task = json!({
        "due_ms": chrono::Utc::now().timestamp_millis(),
        "task": {
            "kind": "scheduled_message", "app_id": app.a.app.app_id, "user_id": "alice",
            "id": sid, "due_ms": millis(item["scheduled_at"].as_str().unwrap()),
        },
    });
    let queued = |n: &str| {
        let mut message = SqsMessage::default();
        message.message_id = Some(n.to_string());
        message.body = Some(task.to_string());
        let mut event = SqsEvent::default();
        event.records = vec![message];
        event
    };
    let state = &app.stack.state;
    let (one, two) = tokio::join!(
        chat_shared::notify::handle_due(state, queued("1")),
        chat_shared::notify::handle_due(state, queued("2")),
    );
    assert!(one.batch_item_failures.is_empty() && two.batch_item_failures.is_empty());
    let (sent, _) = bob
        .within(5, |e| e["type"] == "message.new")
        .await
        .expect("sent");
    assert_eq!(sent["message"]["id"], sid.as_str());
    assert!(bob
        .within(2, |e| e["type"] == "message.new")
        .await
        .is_none());
    assert_eq!(history(&app, &app.a, &t[1], &id).await.len(), 1);
    // Run again later: nothing left to send.
    let late = chat_shared::notify::handle_due(state, queued("3")).await;
    assert!(late.batch_item_failures.is_empty());
    assert_eq!(history(&app, &app.a, &t[1], &id).await.len(), 1);
    let bad = alice
        .request(json!({
            "action": "message.send", "channel_id": id, "text": "x", "scheduled_at": "soon",
        }))
        .await;
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["error"]["code"], "validation_error");
}
