//! 50 clients in one channel each receive every one of 100 messages exactly
//! once, in send order per sender.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_receive_every_message_exactly_once_in_order() {
    let app = TestApp::spawn().await;
    let ids: Vec<String> = (0..50).map(|i| format!("u{i:02}")).collect();
    let users: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    app.upsert(&app.a, json!(users)).await.assert_status(200);
    let owner = app.a.user_token("u00");
    let others: Vec<&str> = ids[1..40].iter().map(String::as_str).collect();
    let channel = app.group(&app.a, &owner, &others).await;
    app.post(
        &app.a,
        &owner,
        &format!("/channels/{channel}/members"),
        json!({ "user_ids": ids[40..].to_vec() }),
    )
    .await
    .assert_status(200);

    let mut clients = Vec::new();
    for id in &ids {
        clients.push(app.ws(&app.a, &app.a.user_token(id)).await);
    }
    // Let connect-time presence events settle, then forget them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for c in clients.iter_mut() {
        c.drain(Duration::from_millis(20)).await;
    }

    // 5 senders x 20 messages, senders in parallel, each in order.
    let senders: Vec<String> = ids[..5].to_vec();
    let sends = senders.iter().map(|sender| {
        let token = app.a.user_token(sender);
        let app = &app;
        let channel = channel.clone();
        let sender = sender.clone();
        async move {
            for n in 0..20 {
                app.post(
                    &app.a,
                    &token,
                    "/messages",
                    json!({ "channel_id": channel, "text": format!("{sender}:{n:02}") }),
                )
                .await
                .assert_status(201);
            }
        }
    });
    futures::future::join_all(sends).await;

    let receipts = futures::future::join_all(clients.iter_mut().map(|c| async move {
        let mut got: Vec<String> = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while got.len() < 100 && tokio::time::Instant::now() < deadline {
            for event in c.events(Duration::from_millis(200)).await {
                if event["type"] == "message.new" {
                    got.push(
                        event["message"]["text"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    );
                }
            }
        }
        got
    }))
    .await;

    for (client, got) in ids.iter().zip(&receipts) {
        assert_eq!(got.len(), 100, "{client} got {} messages", got.len());
        let unique: HashSet<&String> = got.iter().collect();
        assert_eq!(unique.len(), 100, "{client} got duplicates");
        let mut per_sender: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for text in got {
            let (sender, n) = text.split_once(':').unwrap();
            per_sender.entry(sender).or_default().push(n);
        }
        for (sender, numbers) in per_sender {
            let mut sorted = numbers.clone();
            sorted.sort();
            assert_eq!(
                numbers, sorted,
                "{client}: {sender}'s messages out of order"
            );
        }
    }
}
