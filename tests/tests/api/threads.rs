//! Unread per thread: a thread's participants (its parent's author, its
//! repliers, the mentioned) each have a read mark there; `GET /threads`
//! lists a user's threads, latest activity first, with unread replies, and
//! `GET /unread` the threads with any.

use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};

async fn reply(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    channel: &str,
    parent: &str,
    body: Value,
) -> String {
    let mut input = json!({ "channel_id": channel, "parent_id": parent });
    input
        .as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    let sent = app.post(t, token, "/messages", input).await;
    sent.assert_status(201)["message"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `(parent id, unread replies)` of `GET /threads`, in order.
async fn threads(app: &TestApp, t: &Tenant, token: &str) -> Vec<(String, u64)> {
    let page = app.get(t, token, "/threads").await;
    page.assert_status(200)["threads"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|th| {
            (
                th["parent_id"].as_str().unwrap_or_default().to_string(),
                th["unread_replies"].as_u64().unwrap_or(99),
            )
        })
        .collect()
}

async fn mark(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    parent: &str,
    body: Value,
) -> crate::helpers::Resp {
    app.post(t, token, &format!("/messages/{parent}/thread/read"), body)
        .await
}

/// Five members of one group; alice's parent with bob's reply and carol's
/// reply mentioning dave (eve takes no part).
struct Thread {
    app: TestApp,
    t: Vec<String>,
    ch: String,
    p: String,
    r1: String,
    r2: String,
}

async fn started_thread() -> Thread {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave", "eve"])
        .await;
    let ch = app
        .group(&app.a, &t[0], &["bob", "carol", "dave", "eve"])
        .await;
    let p = app.say_id(&app.a, &t[0], &ch, "plans?").await;
    let r1 = reply(&app, &app.a, &t[1], &ch, &p, json!({ "text": "friday" })).await;
    let r2 = reply(
        &app,
        &app.a,
        &t[2],
        &ch,
        &p,
        json!({ "text": "ask dave", "mentions": ["dave"] }),
    )
    .await;
    Thread {
        app,
        t,
        ch,
        p,
        r1,
        r2,
    }
}

#[tokio::test]
async fn the_parents_author_the_repliers_and_the_mentioned_count_its_unread_replies() {
    let Thread { app, t, ch, p, .. } = started_thread().await;
    assert_eq!(threads(&app, &app.a, &t[0]).await, vec![(p.clone(), 2)]);
    assert_eq!(threads(&app, &app.a, &t[1]).await, vec![(p.clone(), 1)]);
    assert_eq!(threads(&app, &app.a, &t[2]).await, vec![(p.clone(), 0)]);
    assert_eq!(threads(&app, &app.a, &t[3]).await, vec![(p.clone(), 2)]);
    assert!(threads(&app, &app.a, &t[4]).await.is_empty());
    let listed = app.get(&app.a, &t[0], "/threads").await;
    let thread = listed.assert_status(200)["threads"][0].clone();
    assert_eq!(thread["reply_count"], 2);
    assert_eq!(thread["parent"]["text"], "plans?");
    assert_eq!(thread["channel_id"], ch.as_str());

    // GET /unread: the thread, and replies kept out of the channel's count.
    let unread = app.get(&app.a, &t[0], "/unread").await;
    let unread = unread.assert_status(200).clone();
    assert_eq!(unread["unread_threads"], 1);
    assert_eq!(
        unread["threads"],
        json!([{ "parent_id": p, "channel_id": ch, "unread_replies": 2 }])
    );
    assert_eq!(unread["total_unread_count"], 0);
}

#[tokio::test]
async fn reading_a_thread_clears_it_and_its_mark_never_moves_back() {
    let Thread {
        app,
        t,
        ch,
        p,
        r1,
        r2,
    } = started_thread().await;
    // Read: none left, and the mark names the latest reply.
    let read = mark(&app, &app.a, &t[0], &p, json!({})).await;
    let read = read.assert_status(200)["thread"].clone();
    assert_eq!(read["unread_replies"], 0);
    assert_eq!(read["last_read_reply_id"], r2.as_str());
    let unread = app.get(&app.a, &t[0], "/unread").await;
    assert_eq!(unread.assert_status(200)["unread_threads"], 0);
    assert_eq!(unread.body["threads"], json!([]));

    // A new reply is unread again; a mark never moves back.
    let r3 = reply(
        &app,
        &app.a,
        &t[1],
        &ch,
        &p,
        json!({ "text": "or saturday" }),
    )
    .await;
    assert_eq!(threads(&app, &app.a, &t[0]).await, vec![(p.clone(), 1)]);
    mark(&app, &app.a, &t[0], &p, json!({ "message_id": r3 }))
        .await
        .assert_status(200);
    let back = mark(&app, &app.a, &t[0], &p, json!({ "message_id": r1 })).await;
    assert_eq!(
        back.assert_status(200)["thread"]["last_read_reply_id"],
        r3.as_str()
    );
    assert_eq!(back.body["thread"]["unread_replies"], 0);

    // The socket marks a thread read too.
    reply(&app, &app.a, &t[1], &ch, &p, json!({ "text": "or sunday" })).await;
    let mut ws = app.ws(&app.a, &t[0]).await;
    let ack = ws
        .request(json!({ "action": "thread.read", "parent_id": p }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["result"]["thread"]["unread_replies"], 0);
    let bad = ws
        .request(json!({ "action": "thread.read", "parent_id": r1 }))
        .await;
    assert_eq!(bad["error"]["code"], "validation_error", "{bad}");

    // Marking read makes a member a participant.
    let joined = mark(&app, &app.a, &t[4], &p, json!({})).await;
    assert_eq!(joined.assert_status(200)["thread"]["unread_replies"], 0);
    assert_eq!(threads(&app, &app.a, &t[4]).await, vec![(p.clone(), 0)]);
}

#[tokio::test]
async fn threads_are_listed_latest_activity_first_in_pages_and_exported() {
    let Thread { app, t, ch, p, .. } = started_thread().await;
    mark(&app, &app.a, &t[0], &p, json!({}))
        .await
        .assert_status(200);
    let q = app.say_id(&app.a, &t[1], &ch, "lunch?").await;
    reply(&app, &app.a, &t[0], &ch, &q, json!({ "text": "yes" })).await;
    assert_eq!(
        threads(&app, &app.a, &t[0]).await,
        vec![(q.clone(), 0), (p.clone(), 0)]
    );
    let first = app.get(&app.a, &t[0], "/threads?limit=1").await;
    let next = first.assert_status(200)["next"]
        .as_str()
        .unwrap()
        .to_string();
    let rest = app
        .get(&app.a, &t[0], &format!("/threads?limit=1&next={next}"))
        .await;
    assert_eq!(
        rest.assert_status(200)["threads"][0]["parent_id"],
        p.as_str()
    );
    assert_eq!(rest.body["next"], Value::Null);
    // The export lists them.
    let export = app.get(&app.a, &app.a.server, "/users/alice/export").await;
    assert_eq!(
        export.assert_status(200)["threads"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn thread_unread_follows_what_a_reader_sees_and_bad_input_gets_a_clear_4xx() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "zed"])
        .await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let p = app.say_id(&app.a, &t[0], &ch, "topic").await;
    reply(&app, &app.a, &t[1], &ch, &p, json!({ "text": "one" })).await;
    let deleted = reply(&app, &app.a, &t[1], &ch, &p, json!({ "text": "two" })).await;
    reply(&app, &app.a, &t[2], &ch, &p, json!({ "text": "three" })).await;
    assert_eq!(threads(&app, &app.a, &t[0]).await, vec![(p.clone(), 3)]);
    // A deleted reply and a blocked author's reply are not unread.
    app.delete(&app.a, &t[1], &format!("/messages/{deleted}"))
        .await
        .assert_status(200);
    app.post(&app.a, &t[0], "/blocks", json!({ "user_id": "carol" }))
        .await
        .assert_status(201);
    assert_eq!(threads(&app, &app.a, &t[0]).await, vec![(p.clone(), 1)]);

    // Bad input and strangers.
    mark(&app, &app.a, &t[3], &p, json!({}))
        .await
        .assert_error(403, "forbidden");
    let b = app.create_users(&app.b, &["alice"]).await;
    mark(&app, &app.b, &b[0], &p, json!({}))
        .await
        .assert_error(404, "not_found");
    mark(&app, &app.a, &t[0], "nope", json!({}))
        .await
        .assert_error(404, "not_found");
    mark(&app, &app.a, &t[0], &deleted, json!({}))
        .await
        .assert_error(400, "validation_error");
    let other = app.say_id(&app.a, &t[0], &ch, "elsewhere").await;
    mark(&app, &app.a, &t[0], &p, json!({ "message_id": other }))
        .await
        .assert_error(400, "validation_error");
    mark(&app, &app.a, &t[0], &p, json!({ "up_to": "x" }))
        .await
        .assert_error(400, "validation_error");
    let other_app = app
        .get(&app.b, &app.b.server, "/threads?user_id=alice")
        .await;
    assert_eq!(other_app.assert_status(200)["threads"], json!([]));
    let server = app
        .get(&app.a, &app.a.server, "/threads?user_id=alice")
        .await;
    assert_eq!(
        server.assert_status(200)["threads"][0]["parent_id"],
        p.as_str()
    );

    // Truncated away, or no longer a member: the thread is not listed.
    app.delete(&app.a, &t[0], &format!("/channels/{ch}/members/bob"))
        .await
        .assert_status(204);
    assert!(threads(&app, &app.a, &t[1]).await.is_empty());
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/truncate"),
        json!({}),
    )
    .await
    .assert_status(200);
    assert!(threads(&app, &app.a, &t[0]).await.is_empty());
    let unread = app.get(&app.a, &t[0], "/unread").await;
    assert_eq!(unread.assert_status(200)["unread_threads"], 0);
}

#[tokio::test]
async fn a_reply_shown_in_the_channel_counts_in_its_thread_for_participants_only() {
    let app = TestApp::spawn().await;
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "firebase": chat_local::push::dev_firebase() } }),
    )
    .await
    .assert_status(200);
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    for (token, device) in [(&t[0], "alice-phone"), (&t[2], "carol-phone")] {
        app.post(
            &app.a,
            token,
            "/devices",
            json!({ "id": device, "push_provider": "firebase" }),
        )
        .await
        .assert_status(201);
    }
    let p = app.say_id(&app.a, &t[0], &ch, "question").await;
    reply(
        &app,
        &app.a,
        &t[1],
        &ch,
        &p,
        json!({ "text": "answer for all", "show_in_channel": true }),
    )
    .await;

    // Alice takes part (the parent is hers): the reply is unread in the
    // thread, not in the channel. Carol does not: it is in her channel count.
    let alice = app.get(&app.a, &t[0], "/unread").await;
    assert_eq!(alice.assert_status(200)["total_unread_count"], 0);
    assert_eq!(alice.body["unread_threads"], 1);
    let carol = app.get(&app.a, &t[2], "/unread").await;
    assert_eq!(carol.assert_status(200)["total_unread_count"], 2);
    assert_eq!(carol.body["unread_threads"], 0);
    let listed = app.get(&app.a, &t[0], "/channels").await;
    let entry = listed.assert_status(200)["channels"][0].clone();
    assert_eq!(
        (
            entry["unread_count"].clone(),
            entry["unread_threads"].clone()
        ),
        (json!(0), json!(1))
    );
    let listed = app.get(&app.a, &t[2], "/channels").await;
    let entry = listed.assert_status(200)["channels"][0].clone();
    assert_eq!(
        (
            entry["unread_count"].clone(),
            entry["unread_threads"].clone()
        ),
        (json!(2), json!(0))
    );

    // The pushes' badges count as GET /unread does.
    let badge_of = |device: &str| {
        app.stack
            .pushes
            .list()
            .into_iter()
            .rfind(|p| p.device_token == device)
            .and_then(|p| p.badge)
    };
    // Alice is pushed the reply (the thread's participant) with it left out
    // of her badge; Carol's next push counts it.
    app.say(&app.a, &t[1], &ch, "next").await;
    for _ in 0..200 {
        if badge_of("alice-phone").is_some() && badge_of("carol-phone") == Some(3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(badge_of("carol-phone"), Some(3));
    let alice_pushes: Vec<_> = app
        .stack
        .pushes
        .list()
        .into_iter()
        .filter(|p| p.device_token == "alice-phone")
        .map(|p| (p.body.clone(), p.badge))
        .collect();
    assert_eq!(
        alice_pushes,
        vec![
            (Some("answer for all".to_string()), Some(0)),
            (Some("next".to_string()), Some(1)),
        ]
    );

    // Reading the thread clears it; the channel count stays as it was.
    mark(&app, &app.a, &t[0], &p, json!({}))
        .await
        .assert_status(200);
    let alice = app.get(&app.a, &t[0], "/unread").await;
    assert_eq!(alice.assert_status(200)["unread_threads"], 0);
    assert_eq!(alice.body["total_unread_count"], 1);
}

#[tokio::test]
async fn a_shadow_banned_members_reply_counts_for_nobody_else_and_involves_no_one() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let p = app.say_id(&app.a, &t[1], &ch, "a topic").await;
    app.shadow_ban(&app.a, &t[0], &ch, "carol").await;
    reply(
        &app,
        &app.a,
        &t[2],
        &ch,
        &p,
        json!({ "text": "unseen", "mentions": ["alice"] }),
    )
    .await;
    // Carol's own thread list has it; Bob (the parent's author) and Alice
    // (mentioned) were not made participants, and nothing is unread.
    assert_eq!(threads(&app, &app.a, &t[2]).await, vec![(p.clone(), 0)]);
    assert!(threads(&app, &app.a, &t[1]).await.is_empty());
    assert!(threads(&app, &app.a, &t[0]).await.is_empty());
    // Once Bob takes part, the shadowed reply is still not unread for him.
    let read = mark(&app, &app.a, &t[1], &p, json!({})).await;
    assert_eq!(read.assert_status(200)["thread"]["reply_count"], 0);
    reply(
        &app,
        &app.a,
        &t[2],
        &ch,
        &p,
        json!({ "text": "still unseen" }),
    )
    .await;
    assert_eq!(threads(&app, &app.a, &t[1]).await, vec![(p.clone(), 0)]);
}
