//! Polls: made with `POST /polls`, sent once in a message (`poll_id`),
//! voted on by the channel's members with exact counts, told to the
//! channel as `poll.*` events, anonymous where asked, closed by its creator
//! or the channel's moderators, and gone with its message.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use chat_shared::db::PageRequest;
use chat_shared::ids::PollId;
use chat_shared::keys;

use crate::helpers::{Tenant, TestApp};

/// Makes a poll as `token` and sends it in `ch`: the poll as answered.
async fn sent_poll(app: &TestApp, t: &Tenant, token: &str, ch: &str, poll: Value) -> Value {
    let made = app.post(t, token, "/polls", poll).await;
    let poll = made.assert_status(201)["poll"].clone();
    let sent = app
        .post(
            t,
            token,
            "/messages",
            json!({ "channel_id": ch, "text": poll["question"], "poll_id": poll["id"] }),
        )
        .await;
    assert_eq!(sent.assert_status(201)["message"]["poll_id"], poll["id"]);
    poll
}

fn colours() -> Value {
    json!({ "question": "Which colour?", "options": [{ "text": "red" }, { "text": "blue" }] })
}

fn option(poll: &Value, n: usize) -> String {
    poll["options"][n]["id"].as_str().unwrap().to_string()
}

/// The votes per option, in option order.
pub(crate) fn counts(poll: &Value) -> Vec<i64> {
    poll["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["vote_count"].as_i64().unwrap())
        .collect()
}

async fn vote(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    poll: &Value,
    n: usize,
) -> crate::helpers::Resp {
    let path = format!("/polls/{}/votes", poll["id"].as_str().unwrap());
    app.post(t, token, &path, json!({ "option_id": option(poll, n) }))
        .await
}

#[tokio::test]
async fn votes_are_counted_told_to_the_channel_and_taken_back() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let poll = sent_poll(&app, &app.a, &t[0], &ch, colours()).await;
    assert_eq!(poll["vote_count"], 0);
    assert_eq!(poll["channel_id"], Value::Null);

    let voted = vote(&app, &app.a, &t[1], &poll, 0).await;
    let vote_id = voted.assert_status(201)["vote"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(counts(&voted.body["poll"]), [1, 0]);
    assert_eq!(voted.body["poll"]["own_votes"][0]["id"], vote_id.as_str());
    let cast = alice.expect("poll.vote_cast").await;
    assert_eq!(cast["channel_id"], ch.as_str());
    assert_eq!(cast["vote"]["user_id"], "bob");
    assert_eq!(counts(&cast["poll"]), [1, 0]);
    // The same vote again is the same vote.
    let again = vote(&app, &app.a, &t[1], &poll, 0).await;
    assert_eq!(again.assert_status(200)["vote"]["id"], vote_id.as_str());
    vote(&app, &app.a, &t[1], &poll, 1).await.assert_status(201);
    vote(&app, &app.a, &t[2], &poll, 1).await.assert_status(201);

    let path = format!("/polls/{}", poll["id"].as_str().unwrap());
    let read = app.get(&app.a, &t[0], &path).await;
    let read = read.assert_status(200)["poll"].clone();
    assert_eq!(counts(&read), [1, 2]);
    assert_eq!(read["vote_count"], 3);
    assert_eq!(read["channel_id"], ch.as_str());
    assert_eq!(read["own_votes"], json!([]));
    let voters: Vec<&str> = read["latest_votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(voters, ["carol", "bob", "bob"], "newest first");

    let removed = app
        .delete(&app.a, &t[1], &format!("{path}/votes/{vote_id}"))
        .await;
    assert_eq!(counts(&removed.assert_status(200)["poll"]), [0, 2]);
    assert_eq!(
        removed.body["poll"]["own_votes"].as_array().unwrap().len(),
        1
    );
    let gone = alice.expect("poll.vote_removed").await;
    assert_eq!(gone["vote"]["id"], vote_id.as_str());
    // Not twice, and not someone else's.
    app.delete(&app.a, &t[1], &format!("{path}/votes/{vote_id}"))
        .await
        .assert_error(404, "not_found");
    let carols = read["latest_votes"][0]["id"].as_str().unwrap();
    app.delete(&app.a, &t[1], &format!("{path}/votes/{carols}"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_hundred_concurrent_voters_leave_exact_counts() {
    let app = TestApp::spawn().await;
    let names: Vec<String> = (0..100).map(|n| format!("v{n:03}")).collect();
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    let alice = app.create_users(&app.a, &["alice"]).await;
    let tokens = app.create_users(&app.a, &ids).await;
    let ch = app
        .create_channel(&app.a, &alice[0], json!({ "type": "group" }))
        .await;
    for chunk in names.chunks(49) {
        app.post(
            &app.a,
            &alice[0],
            &format!("/channels/{ch}/members"),
            json!({ "user_ids": chunk }),
        )
        .await
        .assert_status(200);
    }
    let three = json!({ "question": "Pick", "options": [{ "text": "a" }, { "text": "b" }, { "text": "c" }] });
    let poll = sent_poll(&app, &app.a, &alice[0], &ch, three).await;
    let votes = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| vote(&app, &app.a, token, &poll, n % 3));
    for voted in futures::future::join_all(votes).await {
        voted.assert_status(201);
    }
    let path = format!("/polls/{}", poll["id"].as_str().unwrap());
    let read = app.get(&app.a, &app.a.server, &path).await;
    assert_eq!(counts(&read.assert_status(200)["poll"]), [34, 33, 33]);
    assert_eq!(read.body["poll"]["vote_count"], 100);
}

#[tokio::test]
async fn an_anonymous_poll_names_no_voter_to_anyone() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut secret = colours();
    secret["voting_visibility"] = json!("anonymous");
    let poll = sent_poll(&app, &app.a, &t[0], &ch, secret).await;
    let voted = vote(&app, &app.a, &t[1], &poll, 1).await;
    let vote_id = voted.assert_status(201)["vote"]["id"].clone();
    // The voter sees their own vote.
    assert_eq!(voted.body["poll"]["own_votes"][0]["user_id"], "bob");

    let cast = alice.expect("poll.vote_cast").await;
    assert_eq!(cast["vote"], Value::Null);
    assert_eq!(counts(&cast["poll"]), [0, 1]);
    assert!(!cast.to_string().contains("bob"), "{cast}");
    let path = format!("/polls/{}", poll["id"].as_str().unwrap());
    for reader in [&t[0], &app.a.server] {
        let read = app.get(&app.a, reader, &path).await;
        let read = read.assert_status(200)["poll"].clone();
        assert_eq!(read["latest_votes"], json!([]));
        assert_eq!(counts(&read), [0, 1]);
        assert!(!read.to_string().contains("bob"), "{read}");
    }
    app.delete(
        &app.a,
        &t[1],
        &format!("{path}/votes/{}", vote_id.as_str().unwrap()),
    )
    .await
    .assert_status(200);
    let gone = alice.expect("poll.vote_removed").await;
    assert!(!gone.to_string().contains("bob"), "{gone}");
}

#[tokio::test]
async fn one_vote_per_user_replaces_and_a_cap_refuses_the_next() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut unique = colours();
    unique["enforce_unique_vote"] = json!(true);
    let poll = sent_poll(&app, &app.a, &t[0], &ch, unique).await;
    vote(&app, &app.a, &t[1], &poll, 0).await.assert_status(201);
    alice.expect("poll.vote_cast").await;
    let moved = vote(&app, &app.a, &t[1], &poll, 1).await;
    assert_eq!(counts(&moved.assert_status(201)["poll"]), [0, 1]);
    let own = moved.body["poll"]["own_votes"].as_array().unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["option_id"], option(&poll, 1).as_str());
    assert_eq!(
        alice.expect("poll.vote_removed").await["vote"]["option_id"],
        option(&poll, 0).as_str()
    );
    assert_eq!(
        counts(&alice.expect("poll.vote_cast").await["poll"]),
        [0, 1]
    );

    let mut capped = json!({ "question": "Two of three", "max_votes_allowed": 2,
        "options": [{ "text": "a" }, { "text": "b" }, { "text": "c" }] });
    capped["closes_at"] = json!(crate::helpers::ahead(3600));
    let poll = sent_poll(&app, &app.a, &t[0], &ch, capped).await;
    vote(&app, &app.a, &t[1], &poll, 0).await.assert_status(201);
    vote(&app, &app.a, &t[1], &poll, 1).await.assert_status(201);
    vote(&app, &app.a, &t[1], &poll, 2)
        .await
        .assert_error(400, "validation_error");
    let path = format!("/polls/{}", poll["id"].as_str().unwrap());
    assert_eq!(
        counts(&app.get(&app.a, &t[0], &path).await.body["poll"]),
        [1, 1, 0]
    );
}

#[tokio::test]
async fn options_are_suggested_and_polls_closed_only_by_those_allowed() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    // Bob's poll: Alice owns the channel.
    let poll = sent_poll(&app, &app.a, &t[1], &ch, colours()).await;
    let path = format!("/polls/{}", poll["id"].as_str().unwrap());
    let green = json!({ "text": "green" });
    app.post(&app.a, &t[2], &format!("{path}/options"), green.clone())
        .await
        .assert_error(403, "forbidden");
    let added = app
        .post(&app.a, &t[1], &format!("{path}/options"), green.clone())
        .await;
    assert_eq!(
        added.assert_status(201)["poll"]["options"][2]["text"],
        "green"
    );
    assert_eq!(
        alice.expect("poll.updated").await["poll"]["options"][2]["text"],
        "green"
    );
    app.post(
        &app.a,
        &t[1],
        &format!("{path}/options"),
        json!({ "text": "GREEN" }),
    )
    .await
    .assert_error(400, "validation_error");

    let mut open = colours();
    open["allow_user_suggested_options"] = json!(true);
    let suggestible = sent_poll(&app, &app.a, &t[1], &ch, open).await;
    let spath = format!("/polls/{}", suggestible["id"].as_str().unwrap());
    app.post(&app.a, &t[2], &format!("{spath}/options"), green)
        .await
        .assert_status(201);

    // Carol is a member only; Alice owns the channel.
    app.post(&app.a, &t[2], &format!("{path}/close"), json!({}))
        .await
        .assert_error(403, "forbidden");
    let closed = app
        .post(&app.a, &t[0], &format!("{path}/close"), json!({}))
        .await;
    assert_eq!(closed.assert_status(200)["poll"]["is_closed"], true);
    assert_eq!(alice.expect("poll.closed").await["poll"]["is_closed"], true);
    let refused = vote(&app, &app.a, &t[2], &poll, 0).await;
    refused.assert_error(409, "conflict");
    app.post(
        &app.a,
        &t[1],
        &format!("{path}/options"),
        json!({ "text": "late" }),
    )
    .await
    .assert_error(409, "conflict");
    let rest = alice.events(Duration::from_millis(300)).await;
    assert!(
        rest.iter().all(|e| e["type"] != "poll.closed"),
        "closed once: {rest:?}"
    );
}

#[tokio::test]
async fn a_poll_closes_by_itself_at_its_closes_at() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut soon = colours();
    soon["closes_at"] = json!(crate::helpers::ahead(2));
    let poll = sent_poll(&app, &app.a, &t[0], &ch, soon).await;
    vote(&app, &app.a, &t[1], &poll, 0).await.assert_status(201);
    let closed = alice.expect("poll.closed").await;
    assert_eq!(closed["poll"]["is_closed"], true);
    assert_eq!(closed["poll"]["closed_at"], poll["closes_at"]);
    assert_eq!(counts(&closed["poll"]), [1, 0]);
    vote(&app, &app.a, &t[1], &poll, 1)
        .await
        .assert_error(409, "conflict");
}

#[tokio::test]
async fn a_poll_is_its_creators_until_sent_once_and_stays_in_its_tenant() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "mallory"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let made = app.post(&app.a, &t[0], "/polls", colours()).await;
    let id = made.assert_status(201)["poll"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/polls/{id}");
    app.get(&app.a, &t[1], &path)
        .await
        .assert_error(404, "not_found");
    app.get(&app.a, &t[0], &path).await.assert_status(200);
    // Only its creator sends it, once.
    let send = |text: &str| json!({ "channel_id": ch, "text": text, "poll_id": id });
    app.post(&app.a, &t[1], "/messages", send("mine?"))
        .await
        .assert_error(400, "validation_error");
    app.post(&app.a, &t[0], "/messages", send("vote"))
        .await
        .assert_status(201);
    app.post(&app.a, &t[0], "/messages", send("again"))
        .await
        .assert_error(400, "validation_error");
    // Readers of the channel only, in the app only.
    app.get(&app.a, &t[1], &path).await.assert_status(200);
    app.get(&app.a, &t[2], &path)
        .await
        .assert_error(403, "forbidden");
    let other = app.create_users(&app.b, &["alice"]).await;
    app.get(&app.b, &other[0], &path)
        .await
        .assert_error(404, "not_found");
    app.get(&app.b, &app.b.server, &path)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_poll_dies_with_its_message() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    for hard in [false, true] {
        let poll = sent_poll(&app, &app.a, &t[0], &ch, colours()).await;
        vote(&app, &app.a, &t[1], &poll, 0).await.assert_status(201);
        let path = format!("/polls/{}", poll["id"].as_str().unwrap());
        let read = app.get(&app.a, &t[1], &path).await;
        let message = read.assert_status(200)["poll"]["message_id"]
            .as_str()
            .unwrap()
            .to_string();
        let deleted = app
            .delete(&app.a, &t[0], &format!("/messages/{message}?hard={hard}"))
            .await;
        deleted.assert_status(if hard { 204 } else { 200 });
        app.get(&app.a, &t[1], &path)
            .await
            .assert_error(404, "not_found");
        vote(&app, &app.a, &t[1], &poll, 1)
            .await
            .assert_error(404, "not_found");
        // Its votes, marks and ballots went with it.
        let id = PollId::parse(poll["id"].as_str().unwrap()).unwrap();
        let partition = keys::poll_partition(&app.a.app.app_id, &id);
        let page = PageRequest {
            limit: 10,
            cursor: None,
            forward: true,
        };
        for prefix in ["POLL", "VOTE", "BALLOT"] {
            let left = app
                .stack
                .state
                .db
                .query::<Value>(&partition, prefix, &page)
                .await
                .unwrap();
            assert!(
                left.items.is_empty(),
                "{prefix} items left: {:?}",
                left.items
            );
        }
    }
}

#[tokio::test]
async fn bad_polls_and_votes_get_a_clear_400() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let poll = sent_poll(&app, &app.a, &t[0], &ch, colours()).await;
    let options =
        |n: usize| -> Value { (0..n).map(|i| json!({ "text": format!("o{i}") })).collect() };
    let bad = [
        json!({ "question": "", "options": options(2) }),
        json!({ "question": "x".repeat(256), "options": options(2) }),
        json!({ "question": "q", "options": options(1) }),
        json!({ "question": "q", "options": options(11) }),
        json!({ "question": "q", "options": [{ "text": "a" }, { "text": "A" }] }),
        json!({ "question": "q", "options": [{ "text": "a" }, { "text": "b".repeat(101) }] }),
        json!({ "question": "q", "options": options(2), "max_votes_allowed": 0 }),
        json!({ "question": "q", "options": options(2), "max_votes_allowed": 2, "enforce_unique_vote": true }),
        json!({ "question": "q", "options": options(2), "closes_at": "2020-01-01T00:00:00Z" }),
        json!({ "question": "q", "options": options(2), "closes_at": "soon" }),
        json!({ "question": "q", "options": options(2), "closes_at": crate::helpers::ahead(31 * 86_400) }),
        json!({ "question": "q", "options": options(2), "voting_visibility": "secret" }),
        json!({ "question": "q", "options": options(2), "colour": "red" }),
    ];
    let mut requests: Vec<(Method, String, Value)> = bad
        .into_iter()
        .map(|b| (Method::POST, "/polls".to_string(), b))
        .collect();
    let votes = format!("/polls/{}/votes", poll["id"].as_str().unwrap());
    requests.push((Method::POST, votes.clone(), json!({ "option_id": "nope" })));
    requests.push((Method::POST, votes, json!({})));
    app.assert_each_invalid(&app.a, &t[1], requests).await;
    app.get(&app.a, &t[1], "/polls/nope")
        .await
        .assert_error(404, "not_found");
}
