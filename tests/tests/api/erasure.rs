//! Erasing a user (`DELETE /users/{id}`, a job in slices whose progress is
//! readable) and exporting one (`GET /users/{id}/export`, page by page).

use std::time::Duration;

use chat_local::StackOptions;
use chat_shared::config::Config;
use chat_shared::db::{PageRequest, Query, SortCond};
use chat_shared::ids::{AppId, UserId};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// Slices of three items, so even a small user takes several.
async fn small_slices() -> TestApp {
    TestApp::spawn_with(StackOptions {
        config: Config {
            erase_slice_items: 3,
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    })
    .await
}

/// What a user has stored about them, set up the same way for each test:
/// alice writes in a group (messages, a thread reply, a reaction), in a
/// group she then leaves, and in a direct channel; she has a device and a
/// draft. Returns (tokens of alice, bob, carol; group; group left; dm).
async fn alice_everywhere(app: &TestApp) -> (Vec<String>, String, String, String) {
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let group = app.group(&app.a, &t[1], &["alice", "carol"]).await;
    let left = app.group(&app.a, &t[1], &["alice"]).await;
    let dm = app
        .create_channel(
            &app.a,
            &t[0],
            json!({"type": "direct", "members": ["carol"]}),
        )
        .await;
    let bobs = app.say(&app.a, &t[1], &group, "bob's own words").await;
    let mut first = Value::Null;
    for i in 0..5 {
        let m = app.say(&app.a, &t[0], &group, &format!("alice {i}")).await;
        if i == 0 {
            first = m;
        }
    }
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": group, "text": "alice in a thread", "parent_id": bobs["id"]}),
    )
    .await
    .assert_status(201);
    app.post(
        &app.a,
        &t[0],
        &format!("/messages/{}/reactions", bobs["id"].as_str().unwrap()),
        json!({"type": "like"}),
    )
    .await
    .assert_status(201);
    app.post(
        &app.a,
        &t[1],
        &format!("/messages/{}/reactions", first["id"].as_str().unwrap()),
        json!({"type": "like"}),
    )
    .await
    .assert_status(201);
    for i in 0..3 {
        app.say(&app.a, &t[0], &left, &format!("alice before leaving {i}"))
            .await;
    }
    app.post(&app.a, &t[0], &format!("/channels/{left}/leave"), json!({}))
        .await
        .assert_status(204);
    app.say(&app.a, &t[0], &dm, "alice to carol").await;
    app.post(
        &app.a,
        &t[0],
        "/devices",
        json!({"id": "alice-phone", "push_provider": "firebase"}),
    )
    .await
    .assert_status(201);
    app.send(
        reqwest::Method::PUT,
        &format!("/channels/{group}/draft"),
        Some(app.a.key()),
        Some(&t[0]),
        Some(json!({"text": "unsent"})),
    )
    .await
    .assert_status(200);
    // A message scheduled for an hour from now: erased with her, exported.
    let at = chrono::Utc::now() + chrono::Duration::hours(1);
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": group, "text": "for later", "scheduled_at": at.to_rfc3339()}),
    )
    .await
    .assert_status(202);
    (t, group, left, dm)
}

/// Waits for the erasure to finish; its last progress.
async fn finished(app: &TestApp, user: &str) -> Value {
    for _ in 0..400 {
        let got = app
            .get(&app.a, &app.a.server, &format!("/users/{user}/deletion"))
            .await;
        let deletion = got.assert_status(200)["deletion"].clone();
        if deletion["status"] == "done" {
            return deletion;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the erasure of {user} did not finish");
}

/// Items left in a user's own partition, read straight from the table.
async fn partition_items(app: &TestApp, user: &str) -> usize {
    let app_id: AppId = app.a.app.app_id.clone();
    let pk = chat_shared::keys::user_partition(&app_id, &UserId::parse(user).unwrap());
    items_under(app, None, &pk).await.len()
}

/// Every item of a partition of the table (`index: None`) or of GSI1.
async fn items_under(app: &TestApp, index: Option<&'static str>, pk: &str) -> Vec<Value> {
    let (lo, hi) = chat_shared::keys::whole_range();
    app.stack
        .state
        .db
        .run_all::<Value>(Query {
            index,
            pk,
            sk: SortCond::Between(lo, &hi),
            page: PageRequest {
                limit: 100,
                cursor: None,
                forward: true,
            },
            filter: None,
        })
        .await
        .unwrap()
}

fn texts_by(history: &Value, user: &str) -> Vec<(String, String)> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["user"]["id"] == user)
        .map(|m| {
            (
                m["type"].as_str().unwrap().to_string(),
                m["text"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn erasing_a_user_deletes_what_they_stored_in_slices() {
    let app = small_slices().await;
    let (t, group, left, dm) = alice_everywhere(&app).await;
    let mut socket = app.ws(&app.a, &t[0]).await;

    // Only the server erases; unknown users and other apps' are 404.
    app.delete(&app.a, &t[0], "/users/alice")
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &t[1], "/users/alice")
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &app.a.server, "/users/nobody")
        .await
        .assert_error(404, "not_found");
    app.delete(&app.b, &app.b.server, "/users/alice")
        .await
        .assert_error(404, "not_found");
    app.get(&app.a, &app.a.server, "/users/bob/deletion")
        .await
        .assert_error(404, "not_found");

    let started = app.delete(&app.a, &app.a.server, "/users/alice").await;
    let deletion = started.assert_status(202)["deletion"].clone();
    assert_eq!(deletion["user_id"], "alice");
    assert_eq!(deletion["hard"], false);
    // At once: her tokens stop working and her socket is closed.
    let refused = app.get(&app.a, &t[0], "/channels").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(socket.wait_closed(Duration::from_secs(5)).await);

    app.get(&app.a, &t[1], "/users/alice/deletion")
        .await
        .assert_error(403, "forbidden");
    let done = finished(&app, "alice").await;
    assert!(done["slices"].as_u64().unwrap() > 1, "{done}");
    assert_eq!(done["messages"], 10, "{done}");
    assert_eq!(done["reactions"], 1, "{done}");
    assert_eq!(done["channels"], 3, "{done}");
    assert!(done["finished_at"].is_string());

    // Her messages are placeholders everywhere, others' untouched.
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{group}/messages"))
        .await;
    let hers = texts_by(history.assert_status(200), "alice");
    assert_eq!(hers.len(), 5);
    assert!(
        hers.iter()
            .all(|(kind, text)| kind == "deleted" && text.is_empty()),
        "{hers:?}"
    );
    let bobs = texts_by(&history.body, "bob");
    assert_eq!(
        bobs,
        [("regular".to_string(), "bob's own words".to_string())]
    );
    // Her reaction is gone from bob's message; bob's on hers is his own.
    let counts = &history.body["messages"][0]["reaction_counts"];
    assert!(counts.get("like").is_none(), "{}", history.body);
    let left_history = app
        .get(&app.a, &t[1], &format!("/channels/{left}/messages"))
        .await;
    let hers = texts_by(left_history.assert_status(200), "alice");
    assert_eq!(hers.len(), 3);
    assert!(hers.iter().all(|(kind, _)| kind == "deleted"));
    let dm_history = app
        .get(&app.a, &t[2], &format!("/channels/{dm}/messages"))
        .await;
    assert!(texts_by(dm_history.assert_status(200), "alice")
        .iter()
        .all(|(kind, _)| kind == "deleted"));
    // Not a member anywhere; no profile, devices, drafts: nothing left.
    let members = app
        .get(&app.a, &t[1], &format!("/channels/{group}/members"))
        .await;
    let ids: Vec<&str> = members.assert_status(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"alice"), "{ids:?}");
    let channel = app.get(&app.a, &t[1], &format!("/channels/{group}")).await;
    assert_eq!(channel.assert_status(200)["channel"]["member_count"], 2);
    app.get(&app.a, &app.a.server, "/users/alice")
        .await
        .assert_error(404, "not_found");
    assert_eq!(partition_items(&app, "alice").await, 0);

    // Asking again returns the finished job; she cannot come back.
    let again = app.delete(&app.a, &app.a.server, "/users/alice").await;
    assert_eq!(again.assert_status(202)["deletion"]["status"], "done");
    app.post(&app.a, &app.a.server, "/users/alice/reactivate", json!({}))
        .await
        .assert_error(409, "conflict");
}

#[tokio::test]
async fn a_hard_erasure_removes_the_messages() {
    let app = small_slices().await;
    let (t, group, left, _) = alice_everywhere(&app).await;
    let first = app
        .get(&app.a, &t[1], &format!("/channels/{group}/messages"))
        .await;
    let alice_id = first.assert_status(200)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["id"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = app
        .delete(&app.a, &app.a.server, "/users/alice?hard=true")
        .await;
    assert_eq!(started.assert_status(202)["deletion"]["hard"], true);
    let done = finished(&app, "alice").await;
    assert_eq!(done["messages"], 10, "{done}");
    for channel in [&group, &left] {
        let history = app
            .get(&app.a, &t[1], &format!("/channels/{channel}/messages"))
            .await;
        assert!(texts_by(history.assert_status(200), "alice").is_empty());
    }
    app.get(&app.a, &t[1], &format!("/messages/{alice_id}"))
        .await
        .assert_error(404, "not_found");
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{group}/messages"))
        .await;
    // The thread she replied in lost its reply.
    assert_eq!(history.assert_status(200)["messages"][0]["reply_count"], 0);
    assert_eq!(partition_items(&app, "alice").await, 0);
}

#[tokio::test]
async fn a_user_exports_everything_stored_about_them_page_by_page() {
    let app = TestApp::spawn().await;
    let (t, group, left, dm) = alice_everywhere(&app).await;

    let first = app.get(&app.a, &t[0], "/users/alice/export").await;
    let page = first.assert_status(200);
    assert_eq!(page["user"]["id"], "alice");
    assert_eq!(page["devices"].as_array().unwrap().len(), 1);
    assert_eq!(page["devices"][0]["id"], "alice-phone");
    let mut channels: Vec<&str> = page["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["channel_id"].as_str().unwrap())
        .collect();
    channels.sort();
    let mut expected = vec![group.as_str(), dm.as_str()];
    expected.sort();
    assert_eq!(channels, expected);
    assert_eq!(page["channels_left"][0]["channel_id"], left.as_str());
    assert_eq!(page["drafts"][0]["text"], "unsent");
    assert_eq!(page["scheduled_messages"][0]["text"], "for later");

    // Follow `next` to the end: every message she wrote, every reaction.
    let mut messages: Vec<String> = Vec::new();
    let mut reactions = 0;
    let mut next = page["next"].as_str().map(str::to_string);
    let mut pages = 1;
    while let Some(cursor) = next {
        let got = app
            .get(&app.a, &t[0], &format!("/users/alice/export?next={cursor}"))
            .await;
        let body = got.assert_status(200);
        assert!(body["user"].is_null());
        for m in body["messages"].as_array().unwrap() {
            assert_eq!(m["user"]["id"], "alice");
            messages.push(m["text"].as_str().unwrap().to_string());
        }
        reactions += body["reactions"].as_array().unwrap().len();
        next = body["next"].as_str().map(str::to_string);
        pages += 1;
        assert!(pages < 50, "the export does not end");
    }
    messages.sort();
    assert_eq!(
        messages,
        [
            "alice 0",
            "alice 1",
            "alice 2",
            "alice 3",
            "alice 4",
            "alice before leaving 0",
            "alice before leaving 1",
            "alice before leaving 2",
            "alice in a thread",
            "alice to carol",
        ]
    );
    assert_eq!(reactions, 1);

    // The server may export anyone; another user may not; bad cursors and
    // other apps are refused.
    app.get(&app.a, &app.a.server, "/users/alice/export")
        .await
        .assert_status(200);
    app.get(&app.a, &t[1], "/users/alice/export")
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &t[0], "/users/alice/export?next=garbage")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.b, &app.b.server, "/users/alice/export")
        .await
        .assert_error(404, "not_found");
    app.get(&app.a, &app.a.server, "/users/nobody/export")
        .await
        .assert_error(404, "not_found");
}

/// An erased id created again is a new user: no token issued before it
/// existed authenticates, on REST or at `$connect`, while a token minted
/// for it afterwards does; erasing it again starts a new erasure.
#[tokio::test]
async fn an_erased_id_created_again_refuses_every_earlier_token() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let old = t[0].clone();
    app.delete(&app.a, &app.a.server, "/users/alice")
        .await
        .assert_status(202);
    finished(&app, "alice").await;
    // Minted while the id was erased, before it was created again.
    let between = app.a.user_token("alice");
    app.upsert(
        &app.a,
        json!([{"id": "alice", "display_name": "new alice"}]),
    )
    .await
    .assert_status(200);
    for token in [&old, &between] {
        app.get(&app.a, token, "/users/alice")
            .await
            .assert_error(401, "token_revoked");
        assert_eq!(app.ws_refused(&app.ws_url(app.a.key(), token)).await, 401);
    }
    // `iat` has second precision: a token minted a second later is accepted.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = app.a.user_token("alice");
    let me = app.get(&app.a, &fresh, "/users/alice").await;
    assert_eq!(me.assert_status(200)["user"]["display_name"], "new alice");
    app.ws(&app.a, &fresh).await.close().await;
    // A user never erased is not affected: bob's first token still works.
    app.get(&app.a, &t[1], "/users/bob")
        .await
        .assert_status(200);

    // Erasing the new alice is a new erasure, which finishes too.
    let again = app.delete(&app.a, &app.a.server, "/users/alice").await;
    assert_eq!(again.assert_status(202)["deletion"]["status"], "running");
    finished(&app, "alice").await;
    app.get(&app.a, &app.a.server, "/users/alice")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn an_erased_voters_votes_leave_every_poll_open_or_closed_and_are_exported() {
    let app = small_slices().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let group = app.group(&app.a, &t[1], &["alice", "carol"]).await;
    let question = |q: &str| json!({"question": q, "options": [{"text": "red"}, {"text": "blue"}]});
    let mut polls = Vec::new();
    for q in ["open", "taken back", "closed"] {
        let made = app.post(&app.a, &t[1], "/polls", question(q)).await;
        let poll = made.assert_status(201)["poll"].clone();
        let body = json!({"channel_id": group, "text": q, "poll_id": poll["id"]});
        app.post(&app.a, &t[1], "/messages", body)
            .await
            .assert_status(201);
        polls.push(poll);
    }
    let path = |n: usize| format!("/polls/{}", polls[n]["id"].as_str().unwrap());
    let vote = |n: usize, option: usize| {
        let option_id = polls[n]["options"][option]["id"].clone();
        (
            format!("{}/votes", path(n)),
            json!({"option_id": option_id}),
        )
    };
    let mut cast = Vec::new();
    for (voter, n, option) in [
        (0, 0, 0),
        (0, 0, 1),
        (2, 0, 1),
        (0, 1, 0),
        (0, 2, 1),
        (2, 2, 1),
    ] {
        let (at, body) = vote(n, option);
        let voted = app.post(&app.a, &t[voter], &at, body).await;
        cast.push(
            voted.assert_status(201)["vote"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Alice takes her vote in the second poll back (her ballot stays, at
    // zero); bob closes the third.
    app.delete(&app.a, &t[0], &format!("{}/votes/{}", path(1), cast[3]))
        .await
        .assert_status(200);
    app.post(&app.a, &t[1], &format!("{}/close", path(2)), json!({}))
        .await
        .assert_status(200);

    // Her export lists the votes she has, oldest first, with their polls.
    let export = app.get(&app.a, &app.a.server, "/users/alice/export").await;
    let votes = export.assert_status(200)["votes"].clone();
    let listed: Vec<(&str, &str, &str)> = votes
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["user_id"], "alice");
            (
                v["id"].as_str().unwrap(),
                v["poll_id"].as_str().unwrap(),
                v["option_id"].as_str().unwrap(),
            )
        })
        .collect();
    let option = |n: usize, o: usize| polls[n]["options"][o]["id"].as_str().unwrap();
    let poll_id = |n: usize| polls[n]["id"].as_str().unwrap();
    assert_eq!(
        listed,
        [
            (cast[0].as_str(), poll_id(0), option(0, 0)),
            (cast[1].as_str(), poll_id(0), option(0, 1)),
            (cast[4].as_str(), poll_id(2), option(2, 1)),
        ]
    );
    // Carol's export has hers only.
    let carols = app.get(&app.a, &app.a.server, "/users/carol/export").await;
    assert_eq!(
        carols.assert_status(200)["votes"].as_array().unwrap().len(),
        2
    );

    app.delete(&app.a, &app.a.server, "/users/alice")
        .await
        .assert_status(202);
    let done = finished(&app, "alice").await;
    assert_eq!(done["votes"], 3, "{done}");

    // The counts drop, the closed poll's too; no voter list names her.
    for (n, want) in [(0, [0, 1]), (1, [0, 0]), (2, [0, 1])] {
        let read = app.get(&app.a, &t[1], &path(n)).await;
        let poll = read.assert_status(200)["poll"].clone();
        assert_eq!(crate::polls::counts(&poll), want, "poll {n}: {poll}");
        assert!(
            poll["latest_votes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["user_id"] != "alice"),
            "{poll}"
        );
    }
    // Nothing in the table names her as a voter: no vote, mark or ballot
    // (the zero ballot of the second poll included), nothing in her index.
    let app_id: AppId = app.a.app.app_id.clone();
    let alice = UserId::parse("alice").unwrap();
    for n in 0..3 {
        let id = chat_shared::ids::PollId::parse(poll_id(n)).unwrap();
        let partition = chat_shared::keys::poll_partition(&app_id, &id);
        let items = items_under(&app, None, &partition).await;
        let named: Vec<&Value> = items
            .iter()
            .filter(|i| i.to_string().contains("alice"))
            .collect();
        assert!(named.is_empty(), "poll {n}: {named:?}");
        assert!(!items.is_empty(), "the poll itself stays");
    }
    let index = chat_shared::keys::voter_partition(&app_id, &alice);
    let left = items_under(&app, Some(chat_shared::db::table::GSI1), &index).await;
    assert!(left.is_empty(), "{left:?}");
}
