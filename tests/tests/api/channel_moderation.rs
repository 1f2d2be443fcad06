//! Freeze, truncate, bans, and each member's mute and hide.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn freeze_unfreeze_and_truncate_by_moderators_only() {
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
    for action in ["freeze", "unfreeze", "truncate"] {
        let path = format!("/channels/{id}/{action}");
        app.post(&app.a, &t[2], &path, json!({}))
            .await
            .assert_error(403, "forbidden");
        app.post(&app.a, &t[3], &path, json!({}))
            .await
            .assert_error(403, "forbidden");
    }
    let resp = app
        .post(&app.a, &t[1], &format!("/channels/{id}/freeze"), json!({}))
        .await;
    assert_eq!(resp.assert_status(200)["channel"]["frozen"], true);
    let seen = app.get(&app.a, &t[2], &format!("/channels/{id}")).await;
    assert_eq!(seen.assert_status(200)["channel"]["frozen"], true);
    let resp = app
        .post(
            &app.a,
            &app.a.server,
            &format!("/channels/{id}/unfreeze"),
            json!({}),
        )
        .await;
    assert_eq!(resp.assert_status(200)["channel"]["frozen"], false);
    let resp = app
        .post(
            &app.a,
            &t[0],
            &format!("/channels/{id}/truncate"),
            json!({}),
        )
        .await;
    assert!(resp.assert_status(200)["channel"]["truncated_at"].is_string());
}

#[tokio::test]
async fn bans_follow_rank_and_block_joining() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app
        .create_channel(
            &app.a,
            &t[0],
            json!({ "type": "public", "members": ["bob", "carol"] }),
        )
        .await;
    let bans = format!("/channels/{id}/bans");
    app.patch(
        &app.a,
        &t[0],
        &format!("/channels/{id}/members/bob"),
        json!({ "role": "admin" }),
    )
    .await
    .assert_status(200);

    app.post(&app.a, &t[2], &bans, json!({ "user_id": "eve" }))
        .await
        .assert_error(403, "forbidden");
    app.post(&app.a, &t[3], &bans, json!({ "user_id": "carol" }))
        .await
        .assert_error(403, "forbidden");
    app.post(&app.a, &t[1], &bans, json!({ "user_id": "alice" }))
        .await
        .assert_error(403, "forbidden");
    app.post(&app.a, &t[1], &bans, json!({ "user_id": "bob" }))
        .await
        .assert_error(400, "validation_error");
    app.post(&app.a, &t[1], &bans, json!({ "user_id": "ghost" }))
        .await
        .assert_error(404, "not_found");
    app.post(
        &app.a,
        &t[1],
        &bans,
        json!({ "user_id": "eve", "timeout": 0 }),
    )
    .await
    .assert_error(400, "validation_error");
    app.post(
        &app.a,
        &t[1],
        &bans,
        json!({ "user_id": "eve", "timeout": 999999999 }),
    )
    .await
    .assert_error(400, "validation_error");

    let resp = app
        .post(
            &app.a,
            &t[1],
            &bans,
            json!({ "user_id": "eve", "reason": "spam" }),
        )
        .await;
    let ban = resp.assert_status(201)["ban"].clone();
    assert_eq!(ban["banned_by"], "bob");
    assert_eq!(ban["expires_at"], Value::Null);
    app.post(&app.a, &t[3], &format!("/channels/{id}/join"), json!({}))
        .await
        .assert_error(403, "forbidden");

    let resp = app
        .post(
            &app.a,
            &app.a.server,
            &bans,
            json!({ "user_id": "carol", "shadow": true }),
        )
        .await;
    assert_eq!(resp.assert_status(201)["ban"]["shadow"], true);

    app.delete(&app.a, &t[2], &format!("{bans}/eve"))
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[0], &format!("{bans}/eve"))
        .await
        .assert_status(204);
    app.delete(&app.a, &t[0], &format!("{bans}/eve"))
        .await
        .assert_error(404, "not_found");
    app.post(&app.a, &t[3], &format!("/channels/{id}/join"), json!({}))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn an_expired_ban_no_longer_applies() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "eve"]).await;
    let id = app
        .create_channel(&app.a, &t[0], json!({ "type": "public" }))
        .await;
    let resp = app
        .post(
            &app.a,
            &t[0],
            &format!("/channels/{id}/bans"),
            json!({ "user_id": "eve", "timeout": 1 }),
        )
        .await;
    assert!(resp.assert_status(201)["ban"]["expires_at"].is_string());
    app.post(&app.a, &t[1], &format!("/channels/{id}/join"), json!({}))
        .await
        .assert_error(403, "forbidden");
    // No clean-up job runs in this stack (the sweep is every 30 s): expiry is read.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.post(&app.a, &t[1], &format!("/channels/{id}/join"), json!({}))
        .await
        .assert_status(200);
    app.delete(&app.a, &t[0], &format!("/channels/{id}/bans/eve"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn mute_and_hide_are_the_members_own() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let other = app.group(&app.a, &t[0], &["bob"]).await;

    let resp = app
        .post(&app.a, &t[1], &format!("/channels/{id}/mute"), json!({}))
        .await;
    assert_eq!(resp.assert_status(200)["membership"]["muted"], true);
    // Alice's membership is untouched.
    let alice_view = app.get(&app.a, &t[0], &format!("/channels/{id}")).await;
    assert_eq!(alice_view.assert_status(200)["membership"]["muted"], false);
    let resp = app
        .post(&app.a, &t[1], &format!("/channels/{id}/unmute"), json!({}))
        .await;
    assert_eq!(resp.assert_status(200)["membership"]["muted"], false);

    let resp = app
        .post(&app.a, &t[1], &format!("/channels/{id}/hide"), json!({}))
        .await;
    assert_eq!(resp.assert_status(200)["membership"]["hidden"], true);
    let listed = app.get(&app.a, &t[1], "/channels").await;
    let ids: Vec<&str> = listed.assert_status(200)["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [other.as_str()]);
    let listed = app.get(&app.a, &t[0], "/channels").await;
    assert_eq!(
        listed.assert_status(200)["channels"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.post(&app.a, &t[1], &format!("/channels/{id}/show"), json!({}))
        .await
        .assert_status(200);
    let listed = app.get(&app.a, &t[1], "/channels").await;
    assert_eq!(
        listed.assert_status(200)["channels"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    for action in ["mute", "unmute", "hide", "show"] {
        app.post(
            &app.a,
            &t[2],
            &format!("/channels/{id}/{action}"),
            json!({}),
        )
        .await
        .assert_error(403, "forbidden");
    }
    // The server acts for a named member.
    let resp = app
        .post(
            &app.a,
            &app.a.server,
            &format!("/channels/{id}/mute"),
            json!({ "user_id": "alice" }),
        )
        .await;
    assert_eq!(resp.assert_status(200)["membership"]["muted"], true);
    app.post(
        &app.a,
        &app.a.server,
        &format!("/channels/{id}/mute"),
        json!({}),
    )
    .await
    .assert_error(400, "validation_error");
}

#[tokio::test]
async fn moderators_list_the_bans_in_force() {
    let app = TestApp::spawn().await;
    app.upsert(
        &app.a,
        json!([{"id": "alice"}, {"id": "bob", "display_name": "Bob"}, {"id": "carol"}, {"id": "dave"}]),
    )
    .await
    .assert_status(200);
    let alice = app.a.user_token("alice");
    let dave = app.a.user_token("dave");
    let ch = app.group(&app.a, &alice, &["bob", "carol", "dave"]).await;
    for body in [
        json!({"user_id": "bob", "reason": "spam", "timeout": 1}),
        json!({"user_id": "carol", "shadow": true}),
    ] {
        app.post(&app.a, &alice, &format!("/channels/{ch}/bans"), body)
            .await
            .assert_status(201);
    }
    let listed = app
        .get(&app.a, &alice, &format!("/channels/{ch}/bans"))
        .await;
    let bans = listed.assert_status(200)["bans"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(bans.len(), 2);
    let bob = bans.iter().find(|b| b["user_id"] == "bob").unwrap();
    assert_eq!(bob["user"]["display_name"], "Bob");
    assert_eq!(bob["reason"], "spam");
    assert_eq!(bob["banned_by"], "alice");
    assert!(bob["expires_at"].is_string() && bob["created_at"].is_string());
    let carol = bans.iter().find(|b| b["user_id"] == "carol").unwrap();
    assert_eq!(
        (carol["shadow"].clone(), carol["expires_at"].clone()),
        (json!(true), json!(null))
    );
    // Paginated.
    let first = app
        .get(&app.a, &alice, &format!("/channels/{ch}/bans?limit=1"))
        .await;
    let next = first.assert_status(200)["next"]
        .as_str()
        .unwrap()
        .to_string();
    let second = app
        .get(
            &app.a,
            &alice,
            &format!("/channels/{ch}/bans?limit=1&next={next}"),
        )
        .await;
    assert_eq!(
        second.assert_status(200)["bans"].as_array().unwrap().len(),
        1
    );
    // Members are not moderators; the server is.
    app.get(&app.a, &dave, &format!("/channels/{ch}/bans"))
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &app.a.server, &format!("/channels/{ch}/bans"))
        .await
        .assert_status(200);
    // An expired ban is not listed.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let later = app
        .get(&app.a, &alice, &format!("/channels/{ch}/bans"))
        .await;
    let ids: Vec<String> = later.assert_status(200)["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["user_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["carol"]);
}
