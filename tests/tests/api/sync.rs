//! `GET /sync`: a client back from offline asks what changed since its
//! cursor and gets, in order, what its socket would have shown it: new
//! messages and replies, edits, deletions, reactions, read marks, member
//! and channel changes; paginated; `gap` when it was away too long.

use serde_json::{json, Value};

use crate::helpers::TestApp;

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// Every event after `since`, following `next` with pages of `limit`.
async fn all_since(
    app: &TestApp,
    token: &str,
    since: &str,
    limit: usize,
) -> (Vec<Value>, String, usize) {
    let mut events = Vec::new();
    let mut cursor = since.to_string();
    let mut pages = 0;
    loop {
        let got = app
            .get(
                &app.a,
                token,
                &format!("/sync?since={cursor}&limit={limit}"),
            )
            .await;
        let body = got.assert_status(200).clone();
        assert_eq!(body["gap"], false);
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        cursor = body["next"].as_str().unwrap().to_string();
        pages += 1;
        if body["has_more"] == false {
            return (events, cursor, pages);
        }
        assert!(pages < 100, "sync does not end");
    }
}

/// alice's group with bob, read events on: the app, tokens and channel.
async fn group_with_read_events() -> (TestApp, Vec<String>, String) {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app
        .create_channel(
            &app.a,
            &t[0],
            json!({"type": "group", "name": "g", "members": ["bob"], "settings": {"read_events": true}}),
        )
        .await;
    (app, t, ch)
}

/// What bob missed while away: his cursor from before, then alice writes,
/// replies, edits, deletes, reacts, adds carol and renames the channel.
struct Away {
    app: TestApp,
    t: Vec<String>,
    ch: String,
    cursor: String,
    m1: Value,
    m2: Value,
}

async fn away() -> Away {
    let (app, t, ch) = group_with_read_events().await;
    let start = app.get(&app.a, &t[1], "/sync").await;
    let cursor = start.assert_status(200)["next"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(start.body["events"].as_array().unwrap().is_empty());

    // Bob is away while alice writes, edits, deletes, reacts, reads, adds
    // carol and renames the channel.
    let m1 = app.say(&app.a, &t[0], &ch, "first").await;
    let m2 = app.say(&app.a, &t[0], &ch, "second").await;
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": ch, "text": "a reply", "parent_id": m1["id"]}),
    )
    .await
    .assert_status(201);
    let m1_id = m1["id"].as_str().unwrap();
    let m2_id = m2["id"].as_str().unwrap();
    app.patch(
        &app.a,
        &t[0],
        &format!("/messages/{m1_id}"),
        json!({"text": "first, edited"}),
    )
    .await
    .assert_status(200);
    app.delete(&app.a, &t[0], &format!("/messages/{m2_id}"))
        .await
        .assert_status(200);
    app.post(
        &app.a,
        &t[0],
        &format!("/messages/{m1_id}/reactions"),
        json!({"type": "like"}),
    )
    .await
    .assert_status(201);
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/members"),
        json!({"user_ids": ["carol"]}),
    )
    .await
    .assert_status(200);
    app.patch(
        &app.a,
        &t[0],
        &format!("/channels/{ch}"),
        json!({"set": {"name": "renamed"}}),
    )
    .await
    .assert_status(200);
    Away {
        app,
        t,
        ch,
        cursor,
        m1,
        m2,
    }
}

#[tokio::test]
async fn a_client_back_from_offline_replays_what_it_missed_in_order() {
    let Away {
        app,
        t,
        ch,
        cursor,
        m1,
        m2,
    } = away().await;
    let (events, _, _) = all_since(&app, &t[1], &cursor, 100).await;
    assert_eq!(
        types(&events),
        [
            "message.new",
            "message.new",
            "message.new",
            "message.updated",
            "message.deleted",
            "reaction.new",
            "member.added",
            "channel.updated",
        ],
        "{events:#?}"
    );
    // In order of their ids, each with its channel.
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(events.iter().all(|e| e["channel_id"] == ch.as_str()));
    assert_eq!(events[2]["message"]["parent_id"], m1["id"]);
    assert_eq!(events[3]["message"]["text"], "first, edited");
    assert_eq!(events[4]["message"]["id"], m2["id"]);
    assert_eq!(events[5]["reaction_counts"]["like"], 1);
    assert_eq!(events[6]["member"]["user_id"], "carol");
    assert_eq!(events[7]["channel"]["name"], "renamed");
}

#[tokio::test]
async fn a_replay_pages_the_same_and_ends_at_its_last_cursor() {
    let Away { app, t, cursor, .. } = away().await;
    let (events, next, _) = all_since(&app, &t[1], &cursor, 100).await;
    assert_eq!(events.len(), 8, "{events:#?}");
    let (paged, _, pages) = all_since(&app, &t[1], &cursor, 2).await;
    assert!(pages >= 4, "{pages}");
    assert_eq!(types(&paged), types(&events));
    let (none, _, _) = all_since(&app, &t[1], &next, 100).await;
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn a_read_mark_replays_to_the_other_members() {
    let (app, t, ch) = group_with_read_events().await;
    let alice_start = app.get(&app.a, &t[0], "/sync").await;
    let alice_cursor = alice_start.assert_status(200)["next"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(&app.a, &t[1], &format!("/channels/{ch}/read"), json!({}))
        .await
        .assert_status(200);
    let (reads, _, _) = all_since(&app, &t[0], &alice_cursor, 100).await;
    assert_eq!(types(&reads), ["message.read"]);
    assert_eq!(reads[0]["user"]["id"], "bob");
}

#[tokio::test]
async fn a_replay_shows_only_what_the_socket_would_have() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let gone = app.group(&app.a, &t[0], &["bob"]).await;
    let elsewhere = app.group(&app.a, &t[2], &["dave"]).await;
    app.shadow_ban(&app.a, &t[0], &ch, "carol").await;
    app.post(&app.a, &t[1], "/blocks", json!({"user_id": "dave"}))
        .await
        .assert_status(201);
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/members"),
        json!({"user_ids": ["dave"]}),
    )
    .await
    .assert_status(200);
    let cursor = app.get(&app.a, &t[1], "/sync").await.body["next"]
        .as_str()
        .unwrap()
        .to_string();

    app.say(&app.a, &t[2], &ch, "shadowed words").await;
    app.say(&app.a, &t[3], &ch, "from someone bob blocks").await;
    app.say(&app.a, &t[0], &ch, "visible").await;
    app.say(&app.a, &t[2], &elsewhere, "not bob's channel")
        .await;
    app.delete(&app.a, &t[0], &format!("/channels/{gone}/members/bob"))
        .await
        .assert_status(204);

    let got = app
        .get(&app.a, &t[1], &format!("/sync?since={cursor}"))
        .await;
    let body = got.assert_status(200);
    let texts: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "message.new")
        .map(|e| e["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["visible"]);
    assert_eq!(body["removed_channels"], json!([gone]));
    // Carol, shadow-banned, still sees her own message.
    let carols = app
        .get(&app.a, &t[2], &format!("/sync?since={cursor}"))
        .await;
    let carol_texts: Vec<&str> = carols.assert_status(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "message.new")
        .map(|e| e["message"]["text"].as_str().unwrap())
        .collect();
    assert!(carol_texts.contains(&"shadowed words"), "{carol_texts:?}");
    // Another app's user has nothing of app A's.
    let b = app.create_users(&app.b, &["bob"]).await;
    let other = app
        .get(&app.b, &b[0], &format!("/sync?since={cursor}"))
        .await;
    assert!(other.assert_status(200)["events"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_old_cursor_is_a_gap_and_a_bad_one_a_400() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let four_days = chat_shared::time::now_millis() - 4 * 86_400_000;
    let old = chat_shared::sync::cursor_at(four_days);
    let got = app.get(&app.a, &t[0], &format!("/sync?since={old}")).await;
    let body = got.assert_status(200);
    assert_eq!(body["gap"], true);
    assert!(body["events"].as_array().unwrap().is_empty());
    assert!(body["next"].as_str().unwrap() > old.as_str());
    for bad in ["nope", "0123", &"g".repeat(32)] {
        app.get(&app.a, &t[0], &format!("/sync?since={bad}"))
            .await
            .assert_error(400, "validation_error");
    }
    app.get(&app.a, &t[0], "/sync?limit=0")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &t[0], "/sync?limit=501")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &app.a.server, "/sync")
        .await
        .assert_error(400, "validation_error");
}
