//! The "no" cells of the permission table in docs/api.md not covered elsewhere.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn outsiders_and_members_are_refused_moderation_of_messages_and_bans() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    app.patch(
        &app.a,
        &t[0],
        &format!("/channels/{id}/members/bob"),
        json!({ "role": "admin" }),
    )
    .await
    .assert_status(200);
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/bans"),
        json!({ "user_id": "carol", "timeout": 60 }),
    )
    .await
    .assert_status(201);
    let m = app.say(&app.a, &t[0], &id, "owner's words").await;
    let path = format!("/messages/{}", m["id"].as_str().unwrap());

    // Non-members: no unban, no edit, no delete, no pin, no history.
    app.delete(&app.a, &t[3], &format!("/channels/{id}/bans/carol"))
        .await
        .assert_error(403, "forbidden");
    app.patch(&app.a, &t[3], &path, json!({ "text": "x" }))
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[3], &path)
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[3], &format!("{path}?hard=true"))
        .await
        .assert_error(403, "forbidden");
    app.post(&app.a, &t[3], &format!("{path}/pin"), json!({}))
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &t[3], &path)
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &t[3], &format!("{path}/reactions"))
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &t[3], &format!("{path}/replies"))
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &t[3], &format!("/channels/{id}/draft"))
        .await
        .assert_error(403, "forbidden");

    // An admin may moderate members' messages but not act on the owner.
    let carol_msg = app
        .post(
            &app.a,
            &app.a.server,
            "/messages",
            json!({ "channel_id": id, "text": "c", "user_id": "alice" }),
        )
        .await;
    carol_msg.assert_status(201);
    app.delete(&app.a, &t[1], &format!("/channels/{id}/members/alice"))
        .await
        .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[1],
        &format!("/channels/{id}/bans"),
        json!({ "user_id": "alice" }),
    )
    .await
    .assert_error(403, "forbidden");
    app.delete(&app.a, &t[1], &format!("/channels/{id}"))
        .await
        .assert_error(403, "forbidden");
    app.patch(
        &app.a,
        &t[1],
        &format!("/channels/{id}/members/carol"),
        json!({ "role": "admin" }),
    )
    .await
    .assert_error(403, "forbidden");
    let edited = app
        .patch(&app.a, &t[1], &path, json!({ "text": "admin edit" }))
        .await;
    assert_eq!(edited.assert_status(200)["message"]["moderated_by"], "bob");

    let still = app.get(&app.a, &t[0], &path).await;
    assert_eq!(still.assert_status(200)["message"]["text"], "admin edit");
}
