//! Members: add, invite, remove, roles, join, leave, paging past 100.

use serde_json::{json, Value};

use crate::helpers::TestApp;

fn user_ids(body: &Value, field: &str) -> Vec<String> {
    body[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn owner_admin_and_server_add_members_others_cannot() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave", "eve", "frank"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let members = format!("/channels/{id}/members");
    app.patch(
        &app.a,
        &t[0],
        &format!("{members}/bob"),
        json!({ "role": "admin" }),
    )
    .await
    .assert_status(200);

    let resp = app
        .post(
            &app.a,
            &t[1],
            &members,
            json!({ "user_ids": ["dave", "dave", "carol"] }),
        )
        .await;
    assert_eq!(user_ids(resp.assert_status(200), "added"), ["dave"]);
    let resp = app
        .post(
            &app.a,
            &app.a.server,
            &members,
            json!({ "user_ids": ["frank"] }),
        )
        .await;
    assert_eq!(user_ids(resp.assert_status(200), "added"), ["frank"]);
    // A plain member and an outsider cannot add.
    app.post(&app.a, &t[2], &members, json!({ "user_ids": ["eve"] }))
        .await
        .assert_error(403, "forbidden");
    app.post(&app.a, &t[4], &members, json!({ "user_ids": ["eve"] }))
        .await
        .assert_error(403, "forbidden");
    // An admin cannot add someone straight in as admin or owner.
    app.post(
        &app.a,
        &t[1],
        &members,
        json!({ "user_ids": ["eve"], "role": "admin" }),
    )
    .await
    .assert_error(403, "forbidden");
    // Bad input.
    app.post(&app.a, &t[0], &members, json!({ "user_ids": [] }))
        .await
        .assert_error(400, "validation_error");
    app.post(&app.a, &t[0], &members, json!({ "user_ids": ["ghost"] }))
        .await
        .assert_error(400, "validation_error");
    app.post(&app.a, &t[0], &members, json!({ "user_ids": ["x#y"] }))
        .await
        .assert_error(400, "validation_error");
    let too_many: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
    app.post(&app.a, &t[0], &members, json!({ "user_ids": too_many }))
        .await
        .assert_error(400, "validation_error");

    let channel = app.get(&app.a, &t[0], &format!("/channels/{id}")).await;
    assert_eq!(channel.assert_status(200)["channel"]["member_count"], 5);
    // A direct channel's members are fixed.
    let dm = app
        .create_channel(
            &app.a,
            &t[0],
            json!({ "type": "direct", "members": ["bob"] }),
        )
        .await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{dm}/members"),
        json!({ "user_ids": ["carol"] }),
    )
    .await
    .assert_error(400, "validation_error");
}

#[tokio::test]
async fn member_lists_past_one_hundred_page_through_completely() {
    let app = TestApp::spawn().await;
    let owner = app.create_users(&app.a, &["owner"]).await.remove(0);
    let ids: Vec<String> = (0..130).map(|i| format!("m{i:03}")).collect();
    for chunk in ids.chunks(65) {
        let users: Vec<Value> = chunk.iter().map(|id| json!({ "id": id })).collect();
        app.upsert(&app.a, json!(users)).await.assert_status(200);
    }
    let id = app.group(&app.a, &owner, &[]).await;
    for chunk in ids.chunks(45) {
        app.post(
            &app.a,
            &owner,
            &format!("/channels/{id}/members"),
            json!({ "user_ids": chunk }),
        )
        .await
        .assert_status(200);
    }
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &next {
            Some(c) => format!("/channels/{id}/members?limit=100&next={c}"),
            None => format!("/channels/{id}/members?limit=100"),
        };
        let page = app.get(&app.a, &owner, &path).await;
        let body = page.assert_status(200).clone();
        seen.extend(user_ids(&body, "members"));
        pages += 1;
        match body["next"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    let mut expected = ids.clone();
    expected.push("owner".into());
    expected.sort();
    assert_eq!(seen, expected);
    let channel = app.get(&app.a, &owner, &format!("/channels/{id}")).await;
    assert_eq!(channel.assert_status(200)["channel"]["member_count"], 131);
    assert_eq!(channel.body["members"].as_array().unwrap().len(), 25);
    assert!(channel.body["members_next"].is_string());
}

#[tokio::test]
async fn removing_members_follows_rank() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave", "eve"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol", "dave"]).await;
    let m = |u: &str| format!("/channels/{id}/members/{u}");
    app.patch(&app.a, &t[0], &m("bob"), json!({ "role": "admin" }))
        .await
        .assert_status(200);

    app.delete(&app.a, &t[2], &m("dave"))
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[4], &m("dave"))
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[1], &m("alice"))
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[1], &m("dave"))
        .await
        .assert_status(204);
    app.delete(&app.a, &t[1], &m("dave"))
        .await
        .assert_error(404, "not_found");
    app.delete(&app.a, &t[2], &m("carol"))
        .await
        .assert_status(204); // oneself
    app.delete(&app.a, &app.a.server, &m("bob"))
        .await
        .assert_status(204);
    let channel = app.get(&app.a, &t[0], &format!("/channels/{id}")).await;
    assert_eq!(channel.assert_status(200)["channel"]["member_count"], 1);
    assert_eq!(user_ids(&channel.body, "members"), ["alice"]);
    // The removed member's channel list no longer has it, and they cannot read it.
    let listed = app.get(&app.a, &t[3], "/channels").await;
    assert_eq!(listed.assert_status(200)["channels"], json!([]));
    app.get(&app.a, &t[3], &format!("/channels/{id}"))
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn only_owners_and_the_server_change_roles() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let m = |u: &str| format!("/channels/{id}/members/{u}");
    let resp = app
        .patch(&app.a, &t[0], &m("bob"), json!({ "role": "admin" }))
        .await;
    assert_eq!(resp.assert_status(200)["member"]["role"], "admin");
    app.patch(&app.a, &t[1], &m("carol"), json!({ "role": "admin" }))
        .await
        .assert_error(403, "forbidden");
    app.patch(&app.a, &t[2], &m("carol"), json!({ "role": "owner" }))
        .await
        .assert_error(403, "forbidden");
    app.patch(&app.a, &t[3], &m("carol"), json!({ "role": "admin" }))
        .await
        .assert_error(403, "forbidden");
    app.patch(&app.a, &t[0], &m("carol"), json!({ "role": "king" }))
        .await
        .assert_error(400, "validation_error");
    app.patch(&app.a, &t[0], &m("eve"), json!({ "role": "admin" }))
        .await
        .assert_error(404, "not_found");
    let resp = app
        .patch(
            &app.a,
            &app.a.server,
            &m("carol"),
            json!({ "role": "owner" }),
        )
        .await;
    assert_eq!(resp.assert_status(200)["member"]["role"], "owner");
    // The role is mirrored where carol's channel list reads it.
    let listed = app.get(&app.a, &t[2], "/channels").await;
    assert_eq!(
        listed.assert_status(200)["channels"][0]["membership"]["role"],
        "owner"
    );
}

#[tokio::test]
async fn join_and_leave() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let public = app
        .create_channel(&app.a, &t[0], json!({ "type": "public", "name": "lobby" }))
        .await;
    let group = app.group(&app.a, &t[0], &["bob"]).await;

    let resp = app
        .post(
            &app.a,
            &t[2],
            &format!("/channels/{public}/join"),
            json!({}),
        )
        .await;
    assert_eq!(resp.assert_status(200)["member"]["role"], "member");
    // Joining twice is harmless.
    app.post(
        &app.a,
        &t[2],
        &format!("/channels/{public}/join"),
        json!({}),
    )
    .await
    .assert_status(200);
    let channel = app.get(&app.a, &t[0], &format!("/channels/{public}")).await;
    assert_eq!(channel.assert_status(200)["channel"]["member_count"], 2);
    app.post(&app.a, &t[2], &format!("/channels/{group}/join"), json!({}))
        .await
        .assert_error(403, "forbidden");

    app.post(
        &app.a,
        &t[2],
        &format!("/channels/{public}/leave"),
        json!({}),
    )
    .await
    .assert_status(204);
    app.post(
        &app.a,
        &t[2],
        &format!("/channels/{public}/leave"),
        json!({}),
    )
    .await
    .assert_error(403, "forbidden");
    let channel = app.get(&app.a, &t[0], &format!("/channels/{public}")).await;
    assert_eq!(channel.assert_status(200)["channel"]["member_count"], 1);

    // The server acts for a named user, and must name one.
    app.post(
        &app.a,
        &app.a.server,
        &format!("/channels/{public}/join"),
        json!({}),
    )
    .await
    .assert_error(400, "validation_error");
    app.post(
        &app.a,
        &app.a.server,
        &format!("/channels/{public}/join"),
        json!({ "user_id": "bob" }),
    )
    .await
    .assert_status(200);
    app.post(
        &app.a,
        &t[2],
        &format!("/channels/{public}/join"),
        json!({ "user_id": "bob" }),
    )
    .await
    .assert_error(403, "forbidden");
}

#[tokio::test]
async fn invites_are_pending_until_accepted_or_rejected() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app.group(&app.a, &t[0], &[]).await;
    let resp = app
        .post(
            &app.a,
            &t[0],
            &format!("/channels/{id}/members"),
            json!({ "user_ids": ["bob", "carol"], "invite": true }),
        )
        .await;
    let added = resp.assert_status(200)["added"].clone();
    assert_eq!(added[0]["invite"], "pending");

    // The invitee sees the channel, marked pending, but cannot moderate it.
    let listed = app.get(&app.a, &t[1], "/channels").await;
    assert_eq!(
        listed.assert_status(200)["channels"][0]["membership"]["invite"],
        "pending"
    );
    app.patch(
        &app.a,
        &t[1],
        &format!("/channels/{id}"),
        json!({ "set": { "name": "x" } }),
    )
    .await
    .assert_error(403, "forbidden");
    // Someone without an invite cannot accept or reject.
    app.post(
        &app.a,
        &t[3],
        &format!("/channels/{id}/invites/accept"),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/invites/accept"),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");

    let resp = app
        .post(
            &app.a,
            &t[1],
            &format!("/channels/{id}/invites/accept"),
            json!({}),
        )
        .await;
    assert_eq!(resp.assert_status(200)["member"]["invite"], Value::Null);
    app.post(
        &app.a,
        &t[1],
        &format!("/channels/{id}/invites/accept"),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    app.post(
        &app.a,
        &t[2],
        &format!("/channels/{id}/invites/reject"),
        json!({}),
    )
    .await
    .assert_status(204);

    let channel = app.get(&app.a, &t[0], &format!("/channels/{id}")).await;
    assert_eq!(
        user_ids(channel.assert_status(200), "members"),
        ["alice", "bob"]
    );
    assert_eq!(channel.body["members"][1]["invite"], Value::Null);
    assert_eq!(channel.body["channel"]["member_count"], 2);
}

#[tokio::test]
async fn members_and_authors_are_shown_with_their_profiles() {
    let app = crate::helpers::TestApp::spawn().await;
    app.upsert(
        &app.a,
        serde_json::json!([
            {"id": "alice", "username": "al", "display_name": "Alice", "avatar_url": "https://cdn.example.com/a.png"},
            {"id": "bob", "username": "bobby", "display_name": "Bob"},
            {"id": "carol", "display_name": "Carol"}
        ]),
    )
    .await
    .assert_status(200);
    let alice = app.a.user_token("alice");
    let bob = app.a.user_token("bob");
    let ch = app.group(&app.a, &alice, &["bob"]).await;
    let _online = app.ws(&app.a, &bob).await;
    let profile_of = |members: &serde_json::Value, id: &str| {
        members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == id)
            .map(|m| m["user"].clone())
            .unwrap_or_else(|| panic!("{id} listed: {members}"))
    };
    let listed = app.get(&app.a, &alice, "/channels").await;
    let members = &listed.assert_status(200)["channels"][0]["members"];
    assert_eq!(profile_of(members, "bob")["username"], "bobby");
    assert_eq!(profile_of(members, "bob")["online"], true);
    assert_eq!(
        profile_of(members, "alice")["avatar_url"],
        "https://cdn.example.com/a.png"
    );
    let shown = app.get(&app.a, &alice, &format!("/channels/{ch}")).await;
    assert_eq!(
        profile_of(&shown.assert_status(200)["members"], "bob")["display_name"],
        "Bob"
    );
    let page = app
        .get(&app.a, &alice, &format!("/channels/{ch}/members"))
        .await;
    let bob_profile = profile_of(&page.assert_status(200)["members"], "bob");
    for field in [
        "id",
        "username",
        "display_name",
        "avatar_url",
        "online",
        "last_active",
    ] {
        assert!(bob_profile.get(field).is_some(), "{field} in {bob_profile}");
    }

    let mut watching = app.ws(&app.a, &alice).await;
    app.post(
        &app.a,
        &alice,
        &format!("/channels/{ch}/members"),
        serde_json::json!({"user_ids": ["carol"]}),
    )
    .await
    .assert_status(200);
    let added = watching.expect("member.added").await;
    assert_eq!(added["member"]["user"]["display_name"], "Carol", "{added}");

    let first = app.say(&app.a, &bob, &ch, "quotable").await;
    let quoting = app
        .post(
            &app.a,
            &alice,
            "/messages",
            serde_json::json!({"channel_id": ch, "text": "as bob said", "quoted_message_id": first["id"]}),
        )
        .await;
    let message = &quoting.assert_status(201)["message"];
    assert_eq!(message["user"]["username"], "al");
    assert_eq!(
        message["quoted_message"]["user"]["display_name"], "Bob",
        "{message}"
    );
    assert_eq!(message["quoted_message"]["user"]["username"], "bobby");
}
