//! Reminders and saved messages: `POST /messages/{id}/reminder` keeps a
//! message the user can read, with a time (a reminder: `reminder.due` on
//! their sockets and a push to their devices when it comes) or without one
//! (saved for later); `GET /reminders` lists them; a reminder of a message
//! deleted or no longer readable is dropped.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{ahead, Tenant, TestApp};

async fn remind(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    message: &str,
    body: Value,
) -> crate::helpers::Resp {
    app.post(t, token, &format!("/messages/{message}/reminder"), body)
        .await
}

/// The message ids `GET /reminders{query}` lists.
async fn listed(app: &TestApp, t: &Tenant, token: &str, query: &str) -> Vec<String> {
    let page = app.get(t, token, &format!("/reminders{query}")).await;
    page.assert_status(200)["reminders"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| r["message_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_reminder_comes_due_on_the_users_sockets_and_devices() {
    let app = TestApp::spawn().await;
    let set = json!({
        "firebase": chat_local::push::dev_firebase(),
        "push_title": "{sender} in {channel}",
    });
    app.patch(&app.a, &app.a.server, "/app", json!({ "set": set }))
        .await
        .assert_status(200);
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app
        .create_channel(
            &app.a,
            &t[0],
            json!({ "type": "group", "name": "Crew", "members": ["bob"] }),
        )
        .await;
    let mid = app.say_id(&app.a, &t[1], &id, "call the vet").await;
    app.post(
        &app.a,
        &t[0],
        "/devices",
        json!({ "id": "alice-phone", "push_provider": "firebase" }),
    )
    .await
    .assert_status(201);
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;

    let made = remind(&app, &app.a, &t[0], &mid, json!({ "remind_at": ahead(2) })).await;
    let reminder = made.assert_status(201)["reminder"].clone();
    assert_eq!(reminder["message_id"], mid.as_str());
    assert_eq!(reminder["channel_id"], id.as_str());
    assert_eq!(reminder["user_id"], "alice");
    assert_eq!(reminder["status"], "upcoming");
    assert_eq!(reminder["message"]["text"], "call the vet");
    assert_eq!(
        listed(&app, &app.a, &t[0], "?filter=upcoming").await,
        vec![mid.clone()]
    );
    assert!(listed(&app, &app.a, &t[0], "?filter=due").await.is_empty());
    assert!(listed(&app, &app.a, &t[0], "?filter=saved")
        .await
        .is_empty());
    // Bob keeps his own list.
    assert!(listed(&app, &app.a, &t[1], "").await.is_empty());

    let (event, _) = alice
        .within(12, |e| e["type"] == "reminder.due")
        .await
        .expect("reminder.due on alice's socket");
    assert_eq!(event["channel_id"], id.as_str());
    assert_eq!(event["reminder"]["message_id"], mid.as_str());
    assert_eq!(event["reminder"]["status"], "due");
    assert_eq!(event["reminder"]["message"]["text"], "call the vet");
    let mut pushed = Vec::new();
    for _ in 0..200 {
        pushed = app
            .stack
            .pushes
            .list()
            .into_iter()
            .filter(|p| p.device_token == "alice-phone")
            .collect();
        if !pushed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let push = pushed.first().expect("a push to alice's phone");
    assert_eq!(push.title.as_deref(), Some("bob in Crew"));
    assert_eq!(push.body.as_deref(), Some("call the vet"));
    assert_eq!(push.data["type"], "reminder.due");
    assert_eq!(push.data["message_id"], mid.as_str());
    // Told once, to alice only; it stays listed as due.
    assert!(bob
        .within(1, |e| e["type"] == "reminder.due")
        .await
        .is_none());
    assert!(alice
        .within(1, |e| e["type"] == "reminder.due")
        .await
        .is_none());
    assert_eq!(
        listed(&app, &app.a, &t[0], "?filter=due").await,
        vec![mid.clone()]
    );
    assert!(listed(&app, &app.a, &t[0], "?filter=upcoming")
        .await
        .is_empty());
}

/// Alice, Bob and Carol; a group of Alice and Bob; three messages of Bob's.
async fn three_messages(app: &TestApp) -> (Vec<String>, Vec<String>) {
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(app.say_id(&app.a, &t[1], &id, text).await);
    }
    (t, ids)
}

fn path(message: &str) -> String {
    format!("/messages/{message}/reminder")
}

#[tokio::test]
async fn saved_messages_and_reminders_list_by_time_then_as_sent_and_page() {
    let app = TestApp::spawn().await;
    let (t, ids) = three_messages(&app).await;
    // Saved for later: no time.
    let saved = remind(&app, &app.a, &t[0], &ids[0], json!({})).await;
    let saved = saved.assert_status(201)["reminder"].clone();
    assert_eq!(saved["remind_at"], Value::Null);
    assert_eq!(saved["status"], "saved");
    remind(&app, &app.a, &t[0], &ids[0], json!({}))
        .await
        .assert_error(409, "conflict");
    remind(&app, &app.a, &t[0], &ids[1], json!({}))
        .await
        .assert_status(201);
    remind(
        &app,
        &app.a,
        &t[0],
        &ids[2],
        json!({ "remind_at": ahead(3600) }),
    )
    .await
    .assert_status(201);

    assert_eq!(
        listed(&app, &app.a, &t[0], "").await,
        vec![ids[2].clone(), ids[0].clone(), ids[1].clone()]
    );
    let first = app.get(&app.a, &t[0], "/reminders?limit=2").await;
    let next = first.assert_status(200)["next"]
        .as_str()
        .expect("a next page")
        .to_string();
    assert_eq!(first.body["reminders"].as_array().map(Vec::len), Some(2));
    let rest = app
        .get(&app.a, &t[0], &format!("/reminders?limit=2&next={next}"))
        .await;
    assert_eq!(
        rest.assert_status(200)["reminders"][0]["message_id"],
        ids[1].as_str()
    );
    assert_eq!(rest.body["next"], Value::Null);
    assert_eq!(
        listed(&app, &app.a, &t[0], "?filter=saved").await,
        vec![ids[0].clone(), ids[1].clone()]
    );
}

#[tokio::test]
async fn a_reminder_is_given_a_time_taken_away_and_deleted() {
    let app = TestApp::spawn().await;
    let (t, ids) = three_messages(&app).await;
    remind(&app, &app.a, &t[0], &ids[0], json!({}))
        .await
        .assert_status(201);
    let timed = app
        .patch(
            &app.a,
            &t[0],
            &path(&ids[0]),
            json!({ "remind_at": ahead(600) }),
        )
        .await;
    assert_eq!(timed.assert_status(200)["reminder"]["status"], "upcoming");
    assert_eq!(
        listed(&app, &app.a, &t[0], "?filter=upcoming").await,
        vec![ids[0].clone()]
    );
    let untimed = app
        .patch(&app.a, &t[0], &path(&ids[0]), json!({ "remind_at": null }))
        .await;
    assert_eq!(
        untimed.assert_status(200)["reminder"]["remind_at"],
        Value::Null
    );
    assert_eq!(untimed.body["reminder"]["status"], "saved");
    app.delete(&app.a, &t[0], &path(&ids[0]))
        .await
        .assert_status(204);
    app.delete(&app.a, &t[0], &path(&ids[0]))
        .await
        .assert_error(404, "not_found");
    assert!(listed(&app, &app.a, &t[0], "").await.is_empty());
}

#[tokio::test]
async fn reminders_are_the_users_own_and_only_of_messages_they_can_read() {
    let app = TestApp::spawn().await;
    let (t, ids) = three_messages(&app).await;
    remind(&app, &app.a, &t[0], &ids[0], json!({}))
        .await
        .assert_status(201);
    // A server token acting as the user sees theirs; never another app's.
    let server = app
        .get(&app.a, &app.a.server, "/reminders?user_id=alice")
        .await;
    assert_eq!(
        server.assert_status(200)["reminders"][0]["message_id"],
        ids[0].as_str()
    );
    app.get(&app.a, &app.a.server, "/reminders")
        .await
        .assert_error(400, "validation_error");
    let other = app
        .get(&app.b, &app.b.server, "/reminders?user_id=alice")
        .await;
    assert_eq!(other.assert_status(200)["reminders"], json!([]));
    // Bob has none of Alice's to change.
    assert!(listed(&app, &app.a, &t[1], "").await.is_empty());
    app.patch(&app.a, &t[1], &path(&ids[0]), json!({ "remind_at": null }))
        .await
        .assert_error(404, "not_found");
    app.delete(&app.a, &t[1], &path(&ids[0]))
        .await
        .assert_error(404, "not_found");
    // Carol is not a member; another app's user cannot see the message.
    remind(&app, &app.a, &t[2], &ids[0], json!({}))
        .await
        .assert_error(403, "forbidden");
    let b = app.create_users(&app.b, &["alice"]).await;
    remind(&app, &app.b, &b[0], &ids[0], json!({}))
        .await
        .assert_error(404, "not_found");
    remind(&app, &app.a, &t[0], "nope", json!({}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn bad_input_gets_a_clear_400_and_keeps_nothing() {
    let app = TestApp::spawn().await;
    let (t, ids) = three_messages(&app).await;
    for bad in [
        json!({ "remind_at": "soon" }),
        json!({ "remind_at": ahead(-5) }),
        json!({ "remind_at": ahead(31 * 24 * 3600) }),
        json!({ "when": ahead(60) }),
    ] {
        remind(&app, &app.a, &t[1], &ids[0], bad)
            .await
            .assert_error(400, "validation_error");
    }
    assert!(listed(&app, &app.a, &t[1], "").await.is_empty());
    remind(&app, &app.a, &t[0], &ids[0], json!({}))
        .await
        .assert_status(201);
    app.patch(
        &app.a,
        &t[0],
        &path(&ids[0]),
        json!({ "remind_at": "later" }),
    )
    .await
    .assert_error(400, "validation_error");
    app.get(&app.a, &t[0], "/reminders?filter=someday")
        .await
        .assert_error(400, "validation_error");
    let kept = app.get(&app.a, &t[0], "/reminders").await;
    assert_eq!(kept.assert_status(200)["reminders"][0]["status"], "saved");
}

#[tokio::test]
async fn reminders_of_messages_deleted_or_no_longer_readable_are_dropped() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[1], &["alice"]).await;
    let gone = app.say_id(&app.a, &t[1], &id, "oops").await;
    let kept = app.say_id(&app.a, &t[1], &id, "keep").await;
    let timed = app.say_id(&app.a, &t[1], &id, "soon").await;
    for message in [&gone, &kept] {
        remind(&app, &app.a, &t[0], message, json!({}))
            .await
            .assert_status(201);
    }
    remind(
        &app,
        &app.a,
        &t[0],
        &timed,
        json!({ "remind_at": ahead(2) }),
    )
    .await
    .assert_status(201);
    let mut alice = app.ws(&app.a, &t[0]).await;

    // Deleted by its author: the reminders of it are dropped, not shown.
    for message in [&gone, &timed] {
        app.delete(&app.a, &t[1], &format!("/messages/{message}"))
            .await
            .assert_status(200);
    }
    assert_eq!(listed(&app, &app.a, &t[0], "").await, vec![kept.clone()]);
    app.patch(&app.a, &t[0], &path(&gone), json!({ "remind_at": null }))
        .await
        .assert_error(404, "not_found");
    // The timed one comes due and tells nobody.
    assert!(alice
        .within(4, |e| e["type"] == "reminder.due")
        .await
        .is_none());
    app.delete(&app.a, &t[0], &path(&timed))
        .await
        .assert_error(404, "not_found");

    // Removed from the channel: nothing of it is readable, nothing kept.
    app.delete(&app.a, &t[1], &format!("/channels/{id}/members/alice"))
        .await
        .assert_status(204);
    assert!(listed(&app, &app.a, &t[0], "").await.is_empty());
    let export = app.get(&app.a, &app.a.server, "/users/alice/export").await;
    assert_eq!(export.assert_status(200)["reminders"], json!([]));
}

#[tokio::test]
async fn the_apps_cap_per_user_holds_and_zero_turns_reminders_off() {
    let mut options = chat_local::StackOptions::ephemeral();
    options.config.app_cache_ttl = Duration::ZERO;
    let app = TestApp::spawn_with(options).await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let one = app.say_id(&app.a, &t[1], &id, "one").await;
    let two = app.say_id(&app.a, &t[1], &id, "two").await;
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "max_reminders": 1 } }),
    )
    .await
    .assert_status(200);
    remind(&app, &app.a, &t[0], &one, json!({}))
        .await
        .assert_status(201);
    remind(&app, &app.a, &t[0], &two, json!({}))
        .await
        .assert_error(403, "forbidden");
    // Another user has their own count.
    remind(&app, &app.a, &t[1], &two, json!({}))
        .await
        .assert_status(201);
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "max_reminders": 0 } }),
    )
    .await
    .assert_status(200);
    remind(&app, &app.a, &t[0], &two, json!({}))
        .await
        .assert_error(403, "forbidden");
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "max_reminders": 2001 } }),
    )
    .await
    .assert_error(400, "validation_error");
    let export = app.get(&app.a, &app.a.server, "/users/alice/export").await;
    assert_eq!(
        export.assert_status(200)["reminders"][0]["message_id"],
        one.as_str()
    );
}
