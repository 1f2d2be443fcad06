//! Faults: DynamoDB throttling and 5xx answers (injected by the tap in front
//! of the emulator) are retried by the SDK and never lose an acknowledged
//! message; a lost transaction reply is retried idempotently; a management
//! API that fails for some connections does not stop delivery to the others.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chat_local::tap::Faults;
use chat_local::StackOptions;
use chat_shared::db::RETRY_ATTEMPTS;
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn tapped() -> TestApp {
    TestApp::spawn_with(StackOptions {
        dynamodb_tap: true,
        ..StackOptions::ephemeral()
    })
    .await
}

/// Ids of the channel's history (one page of up to 100), in order.
async fn history_ids(app: &TestApp, token: &str, channel: &str) -> Vec<String> {
    let resp = app
        .get(
            &app.a,
            token,
            &format!("/channels/{channel}/messages?limit=100"),
        )
        .await;
    resp.assert_status(200)["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect()
}

/// Sends `per_sender` messages from each token, four senders at a time;
/// returns (status, message id) per send.
async fn send_all(
    app: &TestApp,
    tokens: &[String],
    channel: &str,
    per_sender: usize,
) -> Vec<(u16, Option<String>)> {
    let sends = tokens.iter().enumerate().map(|(s, token)| async move {
        let mut out = Vec::new();
        for i in 0..per_sender {
            let resp = app
                .post(
                    &app.a,
                    token,
                    "/messages",
                    json!({ "channel_id": channel, "text": format!("s{s} m{i}") }),
                )
                .await;
            let id = resp.body["message"]["id"].as_str().map(str::to_string);
            out.push((resp.status, id));
        }
        out
    });
    futures::future::join_all(sends)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_and_no_acknowledged_message_is_lost() {
    let app = tapped().await;
    let tap = app.stack.tap.clone().expect("tap");
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave", "erin"])
        .await;
    let id = app
        .group(&app.a, &t[0], &["bob", "carol", "dave", "erin"])
        .await;
    let mut watcher = app.ws(&app.a, &t[4]).await;
    // The tap sees every attempt, whichever process makes it.
    let before = tap.seen().len() as u64;

    // Every 4th operation fails twice (throttles and 500s in turn), then passes.
    tap.set_faults(Faults::EveryNth(4));
    let results = send_all(&app, &t[..4], &id, 10).await;
    tap.set_faults(Faults::None);

    let failed = tap.failed();
    assert!(failed >= 40, "faults were injected: {failed}");
    assert_eq!(failed % 2, 0, "each faulted operation failed exactly twice");
    let sent = tap.seen().len() as u64 - before;
    assert!(
        sent > failed,
        "the SDK retried: {sent} requests, {failed} failed"
    );
    // Every faulted operation succeeded on its third attempt, so every send
    // is acknowledged.
    let acked: Vec<String> = results
        .iter()
        .map(|(status, id)| {
            assert_eq!(*status, 201, "every send acknowledged despite faults");
            id.clone().expect("acknowledged with an id")
        })
        .collect();
    assert_eq!(acked.len(), 40);

    let stored = history_ids(&app, &t[0], &id).await;
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no message stored twice");
    for acked_id in &acked {
        assert!(
            stored.contains(acked_id),
            "acknowledged {acked_id} is stored"
        );
    }
    assert_eq!(stored.len(), acked.len());

    // The watcher got each acknowledged message exactly once.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    while seen.len() < acked.len() {
        let event = watcher.expect("message.new").await;
        *seen
            .entry(event["message"]["id"].as_str().expect("id").to_string())
            .or_default() += 1;
    }
    let extra = watcher.events(Duration::from_millis(300)).await;
    for event in extra.iter().filter(|e| e["type"] == "message.new") {
        *seen
            .entry(event["message"]["id"].as_str().expect("id").to_string())
            .or_default() += 1;
    }
    for acked_id in &acked {
        assert_eq!(seen.get(acked_id), Some(&1), "{acked_id} delivered once");
    }
}

#[tokio::test]
async fn a_request_failing_every_attempt_is_a_clean_503_and_writes_nothing() {
    let app = tapped().await;
    let tap = app.stack.tap.clone().expect("tap");
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    app.say(&app.a, &t[0], &id, "before").await;

    tap.set_faults(Faults::Always);
    let resp = app
        .post(
            &app.a,
            &t[0],
            "/messages",
            json!({ "channel_id": id, "text": "during" }),
        )
        .await;
    let failed = tap.failed();
    tap.set_faults(Faults::None);

    assert_eq!(resp.status, 503, "body: {}", resp.body);
    assert_eq!(resp.body["error"]["code"], "unavailable", "{}", resp.body);
    assert_eq!(
        failed,
        u64::from(RETRY_ATTEMPTS),
        "the first read was tried {RETRY_ATTEMPTS} times, then given up"
    );
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(TestApp::texts(history.assert_status(200)), ["before"]);
}

#[tokio::test]
async fn a_lost_transaction_reply_is_retried_without_a_duplicate() {
    let app = tapped().await;
    let tap = app.stack.tap.clone().expect("tap");
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;

    // Every 2nd transaction is applied but its reply is lost: the SDK retries
    // with the same ClientRequestToken and DynamoDB answers from its
    // idempotency cache instead of failing the message's id lock.
    tap.set_faults(Faults::LoseEveryNthTransactionReply(2));
    let results = send_all(&app, &t[..1], &id, 10).await;
    tap.set_faults(Faults::None);
    assert!(tap.failed() >= 5, "replies were lost: {}", tap.failed());

    let acked: Vec<String> = results
        .into_iter()
        .map(|(status, id)| {
            assert_eq!(status, 201);
            id.expect("id")
        })
        .collect();
    let stored = history_ids(&app, &t[1], &id).await;
    assert_eq!(stored, acked, "each message stored once, in order");
}

#[tokio::test]
async fn a_management_api_failing_for_some_connections_does_not_stop_the_others() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol", "dave"]).await;
    let connection_id = |ack: Value| {
        ack["result"]["connection_id"]
            .as_str()
            .expect("connection id")
            .to_string()
    };
    let mut broken = app.ws(&app.a, &t[1]).await;
    let broken_id = connection_id(broken.request(json!({ "action": "health.check" })).await);
    let mut gone = app.ws(&app.a, &t[2]).await;
    let gone_id = connection_id(gone.request(json!({ "action": "health.check" })).await);
    let mut healthy = app.ws(&app.a, &t[3]).await;
    app.stack.gateway.fail_posts(&broken_id, 500);
    app.stack.gateway.fail_posts(&gone_id, 410);

    for text in ["one", "two", "three"] {
        app.say(&app.a, &t[0], &id, text).await;
    }
    for text in ["one", "two", "three"] {
        let event = healthy.expect("message.new").await;
        assert_eq!(event["message"]["text"], text);
    }
    assert!(broken
        .events(Duration::from_millis(200))
        .await
        .iter()
        .all(|e| e["type"] != "message.new"));

    // The 410 deleted exactly that connection; the 500 deleted nothing.
    let app = &app;
    let open = |user: &'static str| async move {
        chat_shared::realtime::connections::of_user(
            &app.stack.state.db,
            &app.a.app.app_id,
            &chat_shared::ids::UserId::parse(user).expect("id"),
        )
        .await
        .expect("connections")
        .into_iter()
        .map(|c| c.as_str().to_string())
        .collect::<Vec<_>>()
    };
    assert_eq!(open("bob").await, [broken_id]);
    assert!(open("carol").await.is_empty());
    assert_eq!(open("dave").await.len(), 1);
}
