//! DynamoDB requests per operation, counted on the SDK client itself (every
//! request it sends), and the O(1) send: the same writes with 2 members and
//! with 200; only the fan-out's reads grow, by page. The cost table (docs/storage.md)
//! is these figures.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};

/// Requests sent while `f` runs, by operation.
async fn count<F, Fut>(app: &TestApp, f: F) -> BTreeMap<String, u64>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // Each request is its subject's first of a rate-limit window here (the
    // limiter's claim is counted like every request), and `f` does not
    // straddle two windows.
    crate::helpers::in_one_rate_window(std::time::Duration::from_secs(5)).await;
    app.stack.state.limiter.forget_claims();
    let before = app.stack.state.db.request_counts();
    f().await;
    let after = app.stack.state.db.request_counts();
    after
        .into_iter()
        .filter_map(|(op, n)| {
            let delta = n - before.get(&op).copied().unwrap_or(0);
            (delta > 0).then_some((op, delta))
        })
        .collect()
}

fn ops(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter().map(|(op, n)| (op.to_string(), *n)).collect()
}

async fn channel_with(app: &TestApp, t: &Tenant, owner: &str, members: usize) -> String {
    let ids: Vec<String> = (0..members - 1).map(|i| format!("member{i:03}")).collect();
    for chunk in ids.chunks(100) {
        let users: Vec<Value> = chunk.iter().map(|id| json!({ "id": id })).collect();
        app.upsert(t, json!(users)).await.assert_status(200);
    }
    let id = app.group(t, owner, &[]).await;
    for chunk in ids.chunks(49) {
        app.post(
            t,
            owner,
            &format!("/channels/{id}/members"),
            json!({ "user_ids": chunk }),
        )
        .await
        .assert_status(200);
    }
    id
}

#[tokio::test]
async fn a_send_costs_the_same_requests_with_2_and_200_members() {
    let app = TestApp::spawn().await;
    let owner = app.create_users(&app.a, &["owner"]).await.remove(0);
    let small = channel_with(&app, &app.a, &owner, 2).await;
    let large = channel_with(&app, &app.a, &owner, 200).await;
    // Warm the app cache so only the operation itself is counted.
    app.say(&app.a, &owner, &small, "warm").await;

    let send_small = count(&app, || async {
        app.say(&app.a, &owner, &small, "hi").await;
    })
    .await;
    let send_large = count(&app, || async {
        app.say(&app.a, &owner, &large, "hi").await;
    })
    .await;
    println!("send, 2 members: {send_small:?}\nsend, 200 members: {send_large:?}");
    // The send itself: the auth read, one batch read of the channel, the
    // member item and the ban, and ONE transaction (the sender's rate-limit
    // claim is one of its items), whatever the channel's size. Nothing is
    // written per member.
    for op in [
        "GetItem",
        "TransactWriteItems",
        "PutItem",
        "UpdateItem",
        "BatchWriteItem",
    ] {
        assert_eq!(send_small.get(op), send_large.get(op), "{op}");
    }
    assert_eq!(send_small["TransactWriteItems"], 1);
    assert_eq!(send_small["GetItem"], 1);
    assert_eq!(send_small["BatchGetItem"], 1);
    assert_eq!(
        send_small.get("UpdateItem"),
        None,
        "the limiter's claim is in the transaction"
    );
    // Fan-out reads follow who is online, not the room: with nobody
    // connected, the channel's listeners (watches and online index) are one
    // empty query and the event is not even rendered, whatever the channel's
    // size. The response renders the sender's own message from the user
    // item authentication read, and a new message has no reactions to look
    // up: 4 requests in all.
    assert_eq!(send_large, send_small);
    assert_eq!(
        send_small,
        ops(&[
            ("GetItem", 1),
            ("BatchGetItem", 1),
            ("TransactWriteItems", 1),
            ("Query", 1)
        ])
    );
}

#[tokio::test]
async fn request_counts_per_operation() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let mut last = Value::Null;
    for i in 0..30 {
        last = app.say(&app.a, &t[0], &id, &format!("m{i}")).await;
    }
    let mid = last["id"].as_str().unwrap().to_string();
    app.get(&app.a, &t[1], "/channels").await.assert_status(200);

    let history = count(&app, || async {
        app.get(&app.a, &t[1], &format!("/channels/{id}/messages?limit=25"))
            .await
            .assert_status(200);
    })
    .await;
    let read = count(&app, || async {
        app.post(&app.a, &t[1], &format!("/channels/{id}/read"), json!({}))
            .await
            .assert_status(200);
    })
    .await;
    let react = count(&app, || async {
        app.post(
            &app.a,
            &t[1],
            &format!("/messages/{mid}/reactions"),
            json!({ "type": "like" }),
        )
        .await
        .assert_status(201);
    })
    .await;
    let my_channels = count(&app, || async {
        app.get(&app.a, &t[1], "/channels?limit=25")
            .await
            .assert_status(200);
    })
    .await;
    println!("history page: {history:?}\nmark read: {read:?}\nreact: {react:?}\nmy channels (1 channel): {my_channels:?}");
    // Auth GetItem, the rate limiter's claim (UpdateItem), channel + member
    // in one BatchGetItem, one Query, then rendering: authors
    // (BatchGetItem); no own-reactions query, since nothing on the page has
    // a reaction.
    assert_eq!(
        history,
        ops(&[
            ("GetItem", 1),
            ("UpdateItem", 1),
            ("Query", 1),
            ("BatchGetItem", 2)
        ])
    );
    // Auth, the limiter's claim, channel + member (one batch), latest
    // message Query, one transaction, then the membership re-read, the
    // threads the reader takes part in (their replies are not counted) and
    // the new unread count; then the message.read fan-out: one query of the
    // channel's listeners (nobody is connected), beside its catch-up log
    // entry (PutItem) and the channel's change mark (UpdateItem).
    assert_eq!(
        read,
        ops(&[
            ("GetItem", 2),
            ("BatchGetItem", 1),
            ("Query", 4),
            ("TransactWriteItems", 1),
            ("PutItem", 1),
            ("UpdateItem", 2)
        ])
    );
    // Auth, the limiter's claim, message ref + message, channel + member
    // (one batch), ban, existing reaction,
    // the user's reaction types on it (a COUNT Query, for the cap), one
    // transaction, the message re-read, rendering, then the reaction.new
    // fan-out and its catch-up log entry and change mark.
    assert_eq!(
        react,
        ops(&[
            ("GetItem", 6),
            ("TransactWriteItems", 1),
            ("BatchGetItem", 2),
            ("Query", 3),
            ("PutItem", 1),
            ("UpdateItem", 2)
        ])
    );
    // Auth, the limiter's claim, memberships Query, channels and the caller's member items (two
    // BatchGetItems side by side: a send moves the read mark on the member
    // item only), the threads the caller takes part in (a Query; none here),
    // per channel: members Query + unread Query; then the listed members'
    // profiles, one BatchGetItem for the whole page.
    assert_eq!(
        my_channels,
        ops(&[
            ("GetItem", 1),
            ("UpdateItem", 1),
            ("Query", 4),
            ("BatchGetItem", 3)
        ])
    );
}

#[tokio::test]
async fn a_socket_send_to_ten_online_members_is_three_requests_with_its_rate_limit() {
    let app = TestApp::spawn().await;
    let names: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = app.create_users(&app.a, &refs).await;
    let ch = app.group(&app.a, &t[0], &refs[1..]).await;
    let mut sockets = Vec::new();
    for token in &t {
        sockets.push(app.ws(&app.a, token).await);
    }
    let send = |text: &str| json!({"action": "message.send", "channel_id": ch, "text": text});
    let warm = sockets[0].request(send("warm")).await;
    assert_eq!(warm["ok"], true, "{warm}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let first = &mut sockets[0];
    let spent = count(&app, || async {
        let ack = first.request(send("hi")).await;
        assert_eq!(ack["ok"], true, "{ack}");
        // Anything the send leaves running (none expected) is counted too.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    })
    .await;
    // The online index; the user, channel, member, ban and rate-limit
    // counter with the online members' member and user items in one batch
    // read; one transaction (the rate-limit claim is one of its items).
    assert_eq!(
        spent,
        ops(&[("BatchGetItem", 1), ("TransactWriteItems", 1), ("Query", 1)])
    );
    for ws in &mut sockets[1..] {
        ws.expect_where(|e| e["type"] == "message.new" && e["message"]["text"] == "hi")
            .await;
    }
}

/// A vote's requests do not grow with the poll's voters: the 102nd vote
/// costs what the 2nd did.
#[tokio::test]
async fn a_vote_costs_the_same_requests_with_1_and_100_voters_before_it() {
    let app = TestApp::spawn().await;
    let owner = app.create_users(&app.a, &["owner"]).await.remove(0);
    let ch = channel_with(&app, &app.a, &owner, 104).await;
    let made = app
        .post(
            &app.a,
            &owner,
            "/polls",
            json!({ "question": "q", "options": [{ "text": "a" }, { "text": "b" }] }),
        )
        .await;
    let poll = made.assert_status(201)["poll"].clone();
    let id = poll["id"].as_str().unwrap().to_string();
    app.post(
        &app.a,
        &owner,
        "/messages",
        json!({ "channel_id": ch, "text": "q", "poll_id": id }),
    )
    .await
    .assert_status(201);
    let option = poll["options"][0]["id"].clone();
    let vote = |n: usize| {
        let token = app.a.user_token(&format!("member{n:03}"));
        let path = format!("/polls/{id}/votes");
        let app = &app;
        let option = option.clone();
        async move {
            app.post(&app.a, &token, &path, json!({ "option_id": option }))
                .await
                .assert_status(201);
        }
    };
    vote(0).await;
    let second = count(&app, || vote(1)).await;
    for n in 2..102 {
        vote(n).await;
    }
    let later = count(&app, || vote(102)).await;
    println!("vote 2: {second:?}\nvote 102: {later:?}");
    assert_eq!(second, later);
    assert_eq!(second["TransactWriteItems"], 1);
    assert!(second.values().sum::<u64>() <= 12, "{second:?}");
}
