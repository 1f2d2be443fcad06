//! Reports and the moderation queue: members flag messages (once each),
//! anyone flags a user; the channel's owners and admins and the server list
//! and resolve them with one action; `message.flagged` reaches the
//! moderators but never the reported author.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn members_flag_messages_once_and_moderators_resolve_them() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["owner", "bob", "carol", "eve"])
        .await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let mut owner = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let rude = app.say(&app.a, &t[1], &ch, "something rude").await;
    let rude_id = rude["id"].as_str().unwrap().to_string();

    let flagged = app
        .post(
            &app.a,
            &t[2],
            "/moderation/flags",
            json!({"message_id": rude_id, "reason": "harassment", "note": "see above"}),
        )
        .await;
    let flag = flagged.assert_status(201)["flag"].clone();
    assert_eq!(flag["user_id"], "bob");
    assert_eq!(flag["reporter_id"], "carol");
    assert_eq!(flag["channel_id"], ch.as_str());
    assert_eq!(flag["status"], "open");
    let flag_id = flag["id"].as_str().unwrap().to_string();

    // The owner hears of it; the reported author does not.
    let event = owner.expect("message.flagged").await;
    assert_eq!(event["flag"]["message_id"], rude_id.as_str());
    assert_eq!(event["flag"]["reporter_id"], "carol");
    let seen_by_bob: Vec<Value> = bob.events(QUIET).await;
    assert!(
        seen_by_bob.iter().all(|e| e["type"] != "message.flagged"),
        "{seen_by_bob:?}"
    );

    // Once per reporter; never one's own message; outsiders cannot.
    app.post(
        &app.a,
        &t[2],
        "/moderation/flags",
        json!({"message_id": rude_id, "reason": "again"}),
    )
    .await
    .assert_error(409, "conflict");
    app.post(
        &app.a,
        &t[1],
        "/moderation/flags",
        json!({"message_id": rude_id, "reason": "me?"}),
    )
    .await
    .assert_error(400, "validation_error");
    let outsider = app
        .post(
            &app.a,
            &t[3],
            "/moderation/flags",
            json!({"message_id": rude_id, "reason": "nosy"}),
        )
        .await;
    assert!(matches!(outsider.status, 403 | 404), "{:?}", outsider.body);
    app.post(
        &app.a,
        &t[2],
        "/moderation/flags",
        json!({"reason": "nothing named"}),
    )
    .await
    .assert_error(400, "validation_error");

    // Members who do not moderate cannot list or resolve; owners can.
    app.get(&app.a, &t[2], &format!("/moderation/flags?channel_id={ch}"))
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &t[0], "/moderation/flags")
        .await
        .assert_error(403, "forbidden");
    let listed = app
        .get(
            &app.a,
            &t[0],
            &format!("/moderation/flags?channel_id={ch}&status=open"),
        )
        .await;
    let listed = listed.assert_status(200)["flags"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], flag_id.as_str());
    app.post(
        &app.a,
        &t[2],
        &format!("/moderation/flags/{flag_id}/resolve"),
        json!({"action": "dismiss"}),
    )
    .await
    .assert_error(403, "forbidden");

    // Resolving with delete_message deletes it, for everyone, once.
    let resolved = app
        .post(
            &app.a,
            &t[0],
            &format!("/moderation/flags/{flag_id}/resolve"),
            json!({"action": "delete_message"}),
        )
        .await;
    let resolved = resolved.assert_status(200)["flag"].clone();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["action"], "delete_message");
    assert_eq!(resolved["resolved_by"], "owner");
    let deleted = bob.expect("message.deleted").await;
    assert_eq!(deleted["message"]["id"], rude_id.as_str());
    let message = app
        .get(&app.a, &t[2], &format!("/messages/{rude_id}"))
        .await;
    assert_eq!(message.assert_status(200)["message"]["type"], "deleted");
    app.post(
        &app.a,
        &t[0],
        &format!("/moderation/flags/{flag_id}/resolve"),
        json!({"action": "dismiss"}),
    )
    .await
    .assert_error(409, "conflict");
    let open = app
        .get(
            &app.a,
            &t[0],
            &format!("/moderation/flags?channel_id={ch}&status=open"),
        )
        .await;
    assert_eq!(open.assert_status(200)["flags"], json!([]));

    // A report about a moderator is hidden from them and not theirs to resolve.
    let own = app.say(&app.a, &t[0], &ch, "owner speaking").await;
    let about_owner = app
        .post(
            &app.a,
            &t[2],
            "/moderation/flags",
            json!({"message_id": own["id"], "reason": "rude"}),
        )
        .await;
    let about_owner = about_owner.assert_status(201)["flag"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let seen = app
        .get(
            &app.a,
            &t[0],
            &format!("/moderation/flags?channel_id={ch}&status=open"),
        )
        .await;
    assert_eq!(seen.assert_status(200)["flags"], json!([]));
    app.post(
        &app.a,
        &t[0],
        &format!("/moderation/flags/{about_owner}/resolve"),
        json!({"action": "dismiss"}),
    )
    .await
    .assert_error(403, "forbidden");
    let events = owner.events(QUIET).await;
    assert!(
        events.iter().all(|e| e["type"] != "message.flagged"),
        "{events:?}"
    );
    // The server resolves it.
    app.post(
        &app.a,
        &app.a.server,
        &format!("/moderation/flags/{about_owner}/resolve"),
        json!({"action": "dismiss"}),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn a_report_can_ban_or_shadow_ban_and_users_can_be_reported_to_the_server() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["owner", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let first = app.say(&app.a, &t[1], &ch, "spam spam").await;
    let second = app.say(&app.a, &t[2], &ch, "more spam").await;
    let flag = |reporter: usize, message: &Value| {
        let body = json!({"message_id": message["id"], "reason": "spam"});
        let token = t[reporter].clone();
        let app = &app;
        async move {
            app.post(&app.a, &token, "/moderation/flags", body)
                .await
                .assert_status(201)["flag"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let on_bob = flag(2, &first).await;
    let on_carol = flag(1, &second).await;
    // The server lists every report, and resolves.
    let all = app.get(&app.a, &app.a.server, "/moderation/flags").await;
    assert_eq!(all.assert_status(200)["flags"].as_array().unwrap().len(), 2);
    app.post(
        &app.a,
        &app.a.server,
        &format!("/moderation/flags/{on_bob}/resolve"),
        json!({"action": "ban"}),
    )
    .await
    .assert_status(200);
    app.post(
        &app.a,
        &t[1],
        "/messages",
        json!({"channel_id": ch, "text": "hello?"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[0],
        &format!("/moderation/flags/{on_carol}/resolve"),
        json!({"action": "shadow_ban"}),
    )
    .await
    .assert_status(200);
    let bans = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/bans"))
        .await;
    let bans = bans.assert_status(200)["bans"].clone();
    let shadow: Vec<(String, bool)> = bans
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["user"]["id"].as_str().unwrap().to_string(),
                b["shadow"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(shadow.contains(&("bob".into(), false)), "{shadow:?}");
    assert!(shadow.contains(&("carol".into(), true)), "{shadow:?}");

    // A user report goes to the server only; it cannot ban (no channel).
    let user_flag = app
        .post(
            &app.a,
            &t[2],
            "/moderation/flags",
            json!({"user_id": "bob", "reason": "impersonation"}),
        )
        .await;
    let user_flag = user_flag.assert_status(201)["flag"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &app.a,
        &t[0],
        &format!("/moderation/flags/{user_flag}/resolve"),
        json!({"action": "dismiss"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &app.a.server,
        &format!("/moderation/flags/{user_flag}/resolve"),
        json!({"action": "ban"}),
    )
    .await
    .assert_error(400, "validation_error");
    app.post(
        &app.a,
        &app.a.server,
        &format!("/moderation/flags/{user_flag}/resolve"),
        json!({"action": "dismiss"}),
    )
    .await
    .assert_status(200);

    // Another app sees none of it.
    assert_eq!(
        app.get(&app.b, &app.b.server, "/moderation/flags")
            .await
            .assert_status(200)["flags"],
        json!([])
    );
    app.post(
        &app.b,
        &app.b.server,
        &format!("/moderation/flags/{on_bob}/resolve"),
        json!({"action": "dismiss"}),
    )
    .await
    .assert_error(404, "not_found");
}
