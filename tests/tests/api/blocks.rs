//! Blocking: a user blocks another of the app; the blocked user cannot open
//! or send to a direct channel with them, and in shared channels their
//! messages and typing do not reach the blocker (history, events, unread
//! counts and search agree). The blocked user is never told.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

const QUIET: Duration = Duration::from_millis(400);

fn ids(body: &Value) -> Vec<String> {
    body["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| b["user_id"].as_str().unwrap().to_string())
        .collect()
}

/// alice, bob, carol and dave in app a; alice blocks bob and dave.
async fn alice_blocks_bob_and_dave() -> (TestApp, Vec<String>) {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    for user in ["bob", "dave"] {
        app.post(&app.a, &t[0], "/blocks", json!({ "user_id": user }))
            .await
            .assert_status(201);
    }
    (app, t)
}

#[tokio::test]
async fn blocking_again_changes_nothing_and_says_so() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let created = app
        .post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await;
    let block = created.assert_status(201)["block"].clone();
    assert_eq!(block["user_id"], "bob");
    assert!(block["created_at"].as_str().is_some_and(|s| !s.is_empty()));
    let again = app
        .post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await;
    assert_eq!(again.assert_status(200)["block"], block);
}

#[tokio::test]
async fn a_user_lists_their_own_blocks_by_id_a_page_at_a_time() {
    let (app, t) = alice_blocks_bob_and_dave().await;
    let first = app.get(&app.a, &t[0], "/blocks?limit=1").await;
    assert_eq!(ids(first.assert_status(200)), ["bob"]);
    let next = first.body["next"]
        .as_str()
        .expect("a next page")
        .to_string();
    let second = app
        .get(&app.a, &t[0], &format!("/blocks?limit=1&next={next}"))
        .await;
    assert_eq!(ids(second.assert_status(200)), ["dave"]);
    assert!(second.body["next"].is_null(), "{}", second.body);
    let bobs = app.get(&app.a, &t[1], "/blocks").await;
    assert!(ids(bobs.assert_status(200)).is_empty());
}

#[tokio::test]
async fn the_server_blocks_and_lists_for_a_named_blocker() {
    let (app, t) = alice_blocks_bob_and_dave().await;
    let listed = app
        .get(&app.a, &app.a.server, "/blocks?blocker_id=alice")
        .await;
    assert_eq!(ids(listed.assert_status(200)), ["bob", "dave"]);
    app.post(
        &app.a,
        &app.a.server,
        "/blocks",
        json!({"user_id": "alice", "blocker_id": "carol"}),
    )
    .await
    .assert_status(201);
    let carols = app.get(&app.a, &t[2], "/blocks").await;
    assert_eq!(ids(carols.assert_status(200)), ["alice"]);
}

#[tokio::test]
async fn unblocking_answers_204_then_404() {
    let (app, t) = alice_blocks_bob_and_dave().await;
    let gone = app.delete(&app.a, &t[0], "/blocks/dave").await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    app.delete(&app.a, &t[0], "/blocks/dave")
        .await
        .assert_error(404, "not_found");
    let left = app.get(&app.a, &t[0], "/blocks").await;
    assert_eq!(ids(left.assert_status(200)), ["bob"]);
}

#[tokio::test]
async fn bad_block_requests_are_refused_and_change_nothing() {
    let (app, t) = alice_blocks_bob_and_dave().await;
    let refused = [
        (&t[0], json!({"user_id": "alice"}), 400, "validation_error"),
        (&t[0], json!({"user_id": "nobody"}), 404, "not_found"),
        (
            &t[0],
            json!({"user_id": "not a valid id!"}),
            400,
            "validation_error",
        ),
        (&t[0], json!({}), 400, "validation_error"),
        // A user acts only for themselves.
        (
            &t[0],
            json!({"user_id": "carol", "blocker_id": "bob"}),
            403,
            "forbidden",
        ),
        // The server names the blocker, who must exist.
        (
            &app.a.server,
            json!({"user_id": "bob"}),
            400,
            "validation_error",
        ),
        (
            &app.a.server,
            json!({"user_id": "bob", "blocker_id": "nobody"}),
            404,
            "not_found",
        ),
    ];
    for (token, body, status, code) in refused {
        app.post(&app.a, token, "/blocks", body)
            .await
            .assert_error(status, code);
    }
    app.get(&app.a, &t[0], "/blocks?blocker_id=bob")
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &app.a.server, "/blocks")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &t[0], "/blocks?limit=0")
        .await
        .assert_error(400, "validation_error");
    let listed = app
        .get(&app.a, &app.a.server, "/blocks?blocker_id=alice")
        .await;
    assert_eq!(ids(listed.assert_status(200)), ["bob", "dave"]);
}

#[tokio::test]
async fn blocks_stay_within_their_app_and_need_a_token() {
    let (app, _) = alice_blocks_bob_and_dave().await;
    let b_tokens = app.create_users(&app.b, &["erin"]).await;
    app.post(&app.b, &b_tokens[0], "/blocks", json!({"user_id": "bob"}))
        .await
        .assert_error(404, "not_found");
    app.get(&app.b, &app.b.server, "/blocks?blocker_id=alice")
        .await
        .assert_error(404, "not_found");
    let anonymous = app
        .send(
            reqwest::Method::GET,
            "/blocks",
            Some(app.a.key()),
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
}

#[tokio::test]
async fn a_user_blocks_at_most_the_cap() {
    let app = TestApp::spawn().await;
    let cap = chat_shared::blocks::MAX_BLOCKS;
    let users: Vec<Value> = (0..=cap).map(|i| json!({"id": format!("u{i}")})).collect();
    for chunk in users.chunks(100) {
        app.upsert(&app.a, json!(chunk)).await.assert_status(200);
    }
    let token = app.a.user_token("u0");
    for i in 1..=cap {
        app.post(
            &app.a,
            &token,
            "/blocks",
            json!({"user_id": format!("u{i}")}),
        )
        .await
        .assert_status(201);
    }
    app.upsert(&app.a, json!([{"id": "one-more"}]))
        .await
        .assert_status(200);
    app.post(&app.a, &token, "/blocks", json!({"user_id": "one-more"}))
        .await
        .assert_error(409, "conflict");
    // Unblocking one makes room.
    let gone = app.delete(&app.a, &token, "/blocks/u1").await;
    assert_eq!(gone.status, 204);
    app.post(&app.a, &token, "/blocks", json!({"user_id": "one-more"}))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn a_blocked_user_cannot_open_or_send_to_a_direct_channel_with_the_blocker() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let dm = app
        .create_channel(
            &app.a,
            &t[1],
            json!({"type": "direct", "members": ["alice"]}),
        )
        .await;
    app.say(&app.a, &t[1], &dm, "hello alice").await;
    let mut bob = app.ws(&app.a, &t[1]).await;

    app.post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await
        .assert_status(201);
    // Bob is not told.
    let told: Vec<Value> = bob.events(QUIET).await;
    assert!(told.is_empty(), "{told:?}");

    // He can neither open the channel again nor send to it (REST or socket).
    app.post(
        &app.a,
        &t[1],
        "/channels",
        json!({"type": "direct", "members": ["alice"]}),
    )
    .await
    .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[1],
        "/messages",
        json!({"channel_id": dm, "text": "why?"}),
    )
    .await
    .assert_error(403, "forbidden");
    let ack = bob
        .request(json!({"action": "message.send", "channel_id": dm, "text": "why?"}))
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "forbidden", "{ack}");
    let history = app
        .get(&app.a, &app.a.server, &format!("/channels/{dm}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)), ["hello alice"]);
    // Others still reach both of them.
    app.create_channel(&app.a, &t[2], json!({"type": "direct", "members": ["bob"]}))
        .await;
    app.create_channel(
        &app.a,
        &t[2],
        json!({"type": "direct", "members": ["alice"]}),
    )
    .await;

    // Unblocked, he can again.
    let gone = app.delete(&app.a, &t[0], "/blocks/bob").await;
    assert_eq!(gone.status, 204);
    app.say(&app.a, &t[1], &dm, "are we good?").await;
}

#[tokio::test]
async fn in_a_group_the_blocker_no_longer_sees_the_blocked_user() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    app.post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await
        .assert_status(201);
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let mut carol = app.ws(&app.a, &t[2]).await;

    // Bob's message and typing reach carol, not alice.
    let hidden = app.say(&app.a, &t[1], &ch, "bob's secret plan").await;
    let seen = carol.expect("message.new").await;
    assert_eq!(seen["message"]["text"], "bob's secret plan");
    let ack = bob
        .request(json!({"action": "typing.start", "channel_id": ch}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    carol.expect("typing.start").await;
    // Carol's message reaches alice: she still hears the channel.
    app.say(&app.a, &t[2], &ch, "carol's plan").await;
    let heard = alice.expect("message.new").await;
    assert_eq!(heard["message"]["text"], "carol's plan");
    let rest: Vec<Value> = alice.events(QUIET).await;
    // (Presence is not hidden: bob coming online shows as before.)
    assert!(
        rest.iter()
            .filter(|e| e["type"] != "user.presence.changed")
            .all(|e| e["user"]["id"] != "bob" && e["message"]["user_id"] != "bob"),
        "{rest:?}"
    );
    assert!(
        !rest.iter().any(|e| e["type"] == "typing.start"),
        "{rest:?}"
    );
    // Bob is not told either way: his message is sent as usual.
    assert_eq!(hidden["text"], "bob's secret plan");

    // History, one message, search and unread counts agree.
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)), ["carol's plan"]);
    let carols = app
        .get(&app.a, &t[2], &format!("/channels/{ch}/messages"))
        .await;
    assert_eq!(
        TestApp::texts(carols.assert_status(200)),
        ["bob's secret plan", "carol's plan"]
    );
    let hidden_id = hidden["id"].as_str().unwrap();
    app.get(&app.a, &t[0], &format!("/messages/{hidden_id}"))
        .await
        .assert_error(404, "not_found");
    let found = app.get(&app.a, &t[0], "/search?query=plan").await;
    let results: Vec<&str> = found.assert_status(200)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["carol's plan"]);
    let unread = app.get(&app.a, &t[0], "/unread").await;
    assert_eq!(unread.assert_status(200)["total_unread_count"], 1);
    let listed = app.get(&app.a, &t[0], "/channels").await;
    assert_eq!(
        listed.assert_status(200)["channels"][0]["unread_count"],
        1,
        "{}",
        listed.body
    );
    // The server sees everything.
    let server_view = app
        .get(&app.a, &app.a.server, &format!("/channels/{ch}/messages"))
        .await;
    assert_eq!(TestApp::texts(server_view.assert_status(200)).len(), 2);

    // Unblocked, alice sees bob's messages again, and hears new ones.
    let gone = app.delete(&app.a, &t[0], "/blocks/bob").await;
    assert_eq!(gone.status, 204);
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/messages"))
        .await;
    assert_eq!(
        TestApp::texts(history.assert_status(200)),
        ["bob's secret plan", "carol's plan"]
    );
    let unread = app.get(&app.a, &t[0], "/unread").await;
    assert_eq!(unread.assert_status(200)["total_unread_count"], 2);
    app.say(&app.a, &t[1], &ch, "bob is back").await;
    let back = alice.expect("message.new").await;
    assert_eq!(back["message"]["text"], "bob is back");
}

/// A blocked user's reactions, on anyone's message, reach neither the
/// blocker's socket nor the blocker's `/sync`; others get them as before.
#[tokio::test]
async fn the_blocked_users_reactions_reach_neither_socket_nor_sync() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    app.post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await
        .assert_status(201);
    let carols = app.say(&app.a, &t[2], &ch, "carol asks").await;
    let carols = carols["id"].as_str().unwrap().to_string();
    let cursor = app.sync_cursor(&app.a, &t[0]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut carol = app.ws(&app.a, &t[2]).await;

    let react = |token: &str, kind: &str| {
        let (app, path, token) = (
            &app,
            format!("/messages/{carols}/reactions"),
            token.to_string(),
        );
        let kind = kind.to_string();
        async move {
            app.post(&app.a, &token, &path, json!({"type": kind}))
                .await
                .assert_status(201);
        }
    };
    react(&t[1], "angry").await;
    let seen = carol.expect("reaction.new").await;
    assert_eq!(seen["reaction"]["user_id"], "bob");
    let removed = app
        .delete(
            &app.a,
            &t[1],
            &format!("/messages/{carols}/reactions/angry"),
        )
        .await;
    assert!(removed.status < 300, "{:?}", removed.body);
    carol.expect("reaction.deleted").await;
    // Carol's own reaction reaches alice.
    react(&t[2], "like").await;
    let heard = alice.expect("reaction.new").await;
    assert_eq!(heard["reaction"]["user_id"], "carol");
    let rest = alice.events(QUIET).await;
    assert!(
        !rest.iter().any(|e| e["reaction"]["user_id"] == "bob"),
        "{rest:?}"
    );

    let synced = app
        .get(&app.a, &t[0], &format!("/sync?since={cursor}"))
        .await;
    let events = synced.assert_status(200)["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        events.iter().any(|e| e["reaction"]["user_id"] == "carol"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e["reaction"]["user_id"] == "bob"),
        "{events:?}"
    );
}

/// A third member's quote of a blocked user's message reaches the blocker
/// without the quote, on the socket and in `/sync`, as their history shows
/// it; everyone else gets the quote.
#[tokio::test]
async fn a_quote_of_a_blocked_users_message_reaches_the_blocker_without_it() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol", "dave"]).await;
    app.post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await
        .assert_status(201);
    let bobs = app.say(&app.a, &t[1], &ch, "bob's secret plan").await;
    let cursor = app.sync_cursor(&app.a, &t[0]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut dave = app.ws(&app.a, &t[3]).await;

    let quoting = app
        .post(
            &app.a,
            &t[2],
            "/messages",
            json!({"channel_id": ch, "text": "carol quotes", "quoted_message_id": bobs["id"]}),
        )
        .await;
    let quoting = quoting.assert_status(201)["message"].clone();
    let id = quoting["id"].as_str().unwrap().to_string();
    let heard = dave.expect("message.new").await;
    assert_eq!(
        heard["message"]["quoted_message"]["text"],
        "bob's secret plan"
    );
    let seen = alice.expect("message.new").await;
    assert_eq!(seen["message"]["id"], id.as_str());
    assert_eq!(seen["message"]["text"], "carol quotes");
    assert!(seen["message"]["quoted_message"].is_null(), "{seen}");
    // As alice's history shows it.
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/messages"))
        .await;
    let shown = history.assert_status(200)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .cloned()
        .expect("carol's message in alice's history");
    assert_eq!(shown["quoted_message"], seen["message"]["quoted_message"]);

    // An edit: the same split.
    app.patch(
        &app.a,
        &t[2],
        &format!("/messages/{id}"),
        json!({"text": "carol quotes again"}),
    )
    .await
    .assert_status(200);
    let heard = dave.expect("message.updated").await;
    assert_eq!(
        heard["message"]["quoted_message"]["text"],
        "bob's secret plan"
    );
    let seen = alice.expect("message.updated").await;
    assert_eq!(seen["message"]["text"], "carol quotes again");
    assert!(seen["message"]["quoted_message"].is_null(), "{seen}");
    // Each gets one copy of each event.
    for socket in [&mut alice, &mut dave] {
        let rest = socket.events(QUIET).await;
        assert!(
            !rest.iter().any(|e| e["message"]["id"] == id.as_str()),
            "{rest:?}"
        );
    }

    let synced = app
        .get(&app.a, &t[0], &format!("/sync?since={cursor}"))
        .await;
    let body = synced.assert_status(200).clone();
    assert!(!body.to_string().contains("bob's secret plan"), "{body}");
    let updates: Vec<&Value> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "message.updated" && e["message"]["id"] == id.as_str())
        .collect();
    assert_eq!(updates.len(), 1, "{body}");
    assert!(updates[0]["message"]["quoted_message"].is_null());
    let dave_synced = app
        .get(&app.a, &t[3], &format!("/sync?since={cursor}"))
        .await;
    assert!(dave_synced
        .assert_status(200)
        .to_string()
        .contains("bob's secret plan"));
}

/// A thread's reply count is the thread as its reader reads it: without the
/// replies of users they block and others' shadowed replies, with their own
/// shadowed ones; in history, `/sync` and after replies are deleted.
#[tokio::test]
async fn reply_counts_count_the_replies_the_reader_sees() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let ch = app.group(&app.a, &t[2], &["alice", "bob", "dave"]).await;
    app.post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await
        .assert_status(201);
    let cursor = app.sync_cursor(&app.a, &t[0]).await;
    let parent = app.say(&app.a, &t[2], &ch, "thread").await;
    let parent = parent["id"].as_str().unwrap().to_string();
    app.shadow_ban(&app.a, &t[2], &ch, "dave").await;
    let reply = |token: usize, text: &str| {
        let (app, token, body) = (
            &app,
            t[token].clone(),
            json!({"channel_id": ch, "parent_id": parent, "text": text}),
        );
        async move {
            let resp = app.post(&app.a, &token, "/messages", body).await;
            resp.assert_status(201)["message"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let bobs = reply(1, "bob 1").await;
    reply(1, "bob 2").await;
    reply(2, "carol 1").await;
    let daves = reply(3, "dave, shadowed").await;

    // (reader, token) → the parent's count in history, and the thread's length.
    let counts = |token: String| {
        let (app, ch, parent) = (&app, ch.clone(), parent.clone());
        async move {
            let history = app
                .get(&app.a, &token, &format!("/channels/{ch}/messages"))
                .await;
            let count = history.assert_status(200)["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == parent.as_str())
                .expect("the parent")["reply_count"]
                .as_i64()
                .unwrap();
            let thread = app
                .get(&app.a, &token, &format!("/messages/{parent}/replies"))
                .await;
            let read = thread.assert_status(200)["messages"]
                .as_array()
                .unwrap()
                .len() as i64;
            (count, read)
        }
    };
    assert_eq!(counts(t[0].clone()).await, (1, 1), "alice blocks bob");
    assert_eq!(counts(t[2].clone()).await, (3, 3), "carol");
    assert_eq!(counts(t[3].clone()).await, (4, 4), "dave sees his own");
    let server = counts(app.a.server.clone()).await;
    assert_eq!(server.0, 3, "the server's count leaves shadowed ones out");

    // `/sync` renders the parent for alice the same way.
    let synced = app
        .get(&app.a, &t[0], &format!("/sync?since={cursor}"))
        .await;
    let body = synced.assert_status(200).clone();
    let rendered: Vec<i64> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message"]["id"] == parent.as_str())
        .map(|e| e["message"]["reply_count"].as_i64().unwrap())
        .collect();
    assert_eq!(rendered, [1], "{body}");

    // Hard deletes take replies out of every count.
    for (token, id) in [(&t[1], &bobs), (&t[3], &daves)] {
        let gone = app
            .delete(&app.a, token, &format!("/messages/{id}?hard=true"))
            .await;
        assert!(gone.status < 300, "{:?}", gone.body);
    }
    assert_eq!(counts(t[0].clone()).await, (1, 1));
    assert_eq!(counts(t[2].clone()).await, (2, 2));
    assert_eq!(counts(t[3].clone()).await, (2, 2));
}
