//! Large fan-outs: past the inline limit, a send writes a job and answers;
//! the outbox table's stream brings the job to the fan-out handler (locally through
//! the same event source mapping and event shape as on AWS, or to the fan-out
//! function's own process with `CHAT_TEST_MODE=lambdas`). The limit is 2
//! here, so a channel of four online members is a crowd.

use std::time::Duration;

use chat_local::StackOptions;
use chat_shared::ids::ChannelId;
use chat_shared::keys;
use chat_shared::realtime::fanout::Job;
use chat_shared::Config;
use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};
use crate::ws::Ws;

async fn crowd_app() -> TestApp {
    TestApp::spawn_with(StackOptions {
        config: Config {
            fanout_inline_limit: 2,
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    })
    .await
}

/// The channel's fan-out jobs in the table, in order.
async fn jobs(app: &TestApp, t: &Tenant, channel: &str) -> Vec<Job> {
    let channel = ChannelId::parse(channel).unwrap();
    let pk = keys::fanout(&t.app.app_id, &channel, "", 0).pk;
    app.stack
        .state
        .db
        .outbox()
        .query_all(&pk, "", 100)
        .await
        .unwrap()
}

async fn connection_id(ws: &mut Ws) -> String {
    let ack = ws.request(json!({ "action": "health.check" })).await;
    ack["result"]["connection_id"]
        .as_str()
        .expect("connection id")
        .to_string()
}

/// alice, bob, carol and dave in one group, each with a socket.
async fn four_online(app: &TestApp) -> (Vec<String>, String, Vec<Ws>) {
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol", "dave"]).await;
    let mut sockets = Vec::new();
    for token in &t {
        sockets.push(app.ws(&app.a, token).await);
    }
    // Presence and the like settle before the sends under test.
    for ws in &mut sockets {
        ws.drain(Duration::from_millis(200)).await;
    }
    (t, id, sockets)
}

fn texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "message.new")
        .map(|e| {
            e["message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_crowd_is_reached_through_the_fanout_function_once_each_in_order() {
    let app = crowd_app().await;
    let (t, id, mut sockets) = four_online(&app).await;
    let sent: Vec<String> = (1..=5).map(|n| format!("m{n}")).collect();
    for text in &sent {
        app.say(&app.a, &t[0], &id, text).await;
    }
    for ws in &mut sockets {
        let mut got = Vec::new();
        while got.len() < sent.len() {
            got.push(ws.expect("message.new").await);
        }
        got.extend(ws.events(Duration::from_millis(300)).await);
        assert_eq!(texts(&got), sent, "each once, in send order");
        let ids: std::collections::BTreeSet<&str> =
            got.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(ids.len(), got.len(), "every event has its own id");
    }
    // Each send handed one job to the fan-out function, and none was retried.
    let jobs = jobs(&app, &app.a, &id).await;
    assert_eq!(jobs.len(), sent.len());
    assert!(jobs.iter().all(|j| j.attempt == 0 && j.pending.is_none()));
}

#[tokio::test]
async fn a_job_failing_half_way_is_retried_for_the_connections_it_missed_only() {
    let app = crowd_app().await;
    let (t, id, mut sockets) = four_online(&app).await;
    let mut ids = Vec::new();
    for ws in &mut sockets {
        ids.push(connection_id(ws).await);
    }
    let gateway = &app.stack.gateway;
    let before: Vec<u64> = ids.iter().map(|c| gateway.posts_to(c)).collect();
    // carol's posts fail on the first delivery (every attempt the SDK makes),
    // then recover.
    gateway.fail_posts_times(&ids[2], 500, 3);
    app.say(&app.a, &t[0], &id, "hello crowd").await;

    for ws in &mut sockets {
        let event = ws.expect("message.new").await;
        assert_eq!(event["message"]["text"], "hello crowd");
        assert!(
            texts(&ws.events(Duration::from_millis(600)).await).is_empty(),
            "no second copy"
        );
    }
    // Nobody reached on the first attempt was posted to again.
    for (n, connection) in ids.iter().enumerate() {
        let posts = gateway.posts_to(connection) - before[n];
        if n == 2 {
            assert!(posts >= 4, "carol: failed posts, then the retry ({posts})");
        } else {
            assert_eq!(posts, 1, "connection {n} posted to once");
        }
    }
    // The retry was a job of its own, holding carol's connection only.
    let jobs = jobs(&app, &app.a, &id).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(jobs[0].attempt, 0);
    assert_eq!(jobs[1].attempt, 1);
    assert_eq!(jobs[1].event_id, jobs[0].event_id);
    let pending = jobs[1].pending.clone().expect("pending connections");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0.as_str(), "carol");
    assert_eq!(pending[0].1.as_str(), ids[2]);
}

#[tokio::test]
async fn a_job_run_again_whole_repeats_the_same_event_id_for_clients_to_drop() {
    let app = crowd_app().await;
    let (t, id, mut sockets) = four_online(&app).await;
    app.say(&app.a, &t[0], &id, "once").await;
    let first = sockets[1].expect("message.new").await;
    // What the event source does when an invocation times out: the same
    // record again, from the start.
    let job = jobs(&app, &app.a, &id).await.remove(0);
    let report = chat_shared::realtime::fanout::run(&app.stack.state, &job)
        .await
        .unwrap();
    assert_eq!(report.delivery.sent, 4);
    let again = sockets[1].expect("message.new").await;
    assert_eq!(again["id"], first["id"], "a repeat carries the same id");
    assert_eq!(again["message"]["id"], first["message"]["id"]);
}

#[tokio::test]
async fn the_crowd_path_keeps_shadow_bans_and_deletes_exactly_the_gone_connection() {
    let app = crowd_app().await;
    let (t, id, mut sockets) = four_online(&app).await;
    let dave_connection = connection_id(&mut sockets[3]).await;
    app.shadow_ban(&app.a, &t[0], &id, "bob").await;
    app.stack.gateway.fail_posts(&dave_connection, 410);
    app.say(&app.a, &t[1], &id, "shadowed").await;
    app.say(&app.a, &t[0], &id, "for all").await;

    let bob = texts(&sockets[1].events(Duration::from_millis(800)).await);
    assert_eq!(bob, ["shadowed", "for all"], "bob sees his own message");
    let carol = texts(&sockets[2].events(Duration::from_millis(100)).await);
    assert_eq!(carol, ["for all"], "nobody else sees a shadowed message");
    // The 410 removed dave's connection and nothing else.
    let open = |user: &'static str| {
        let app = &app;
        async move {
            chat_shared::realtime::connections::of_user(
                &app.stack.state.db,
                &app.a.app.app_id,
                &chat_shared::ids::UserId::parse(user).unwrap(),
            )
            .await
            .unwrap()
            .len()
        }
    };
    assert_eq!(open("dave").await, 0);
    assert_eq!(open("carol").await, 1);
    assert_eq!(open("alice").await, 1);
}

/// More online members than one part of the fan-out's audience read (100
/// members a part): each part is posted to as it is read, and every reader
/// gets the message once, the public channel's watcher too, while a member
/// who blocks the author, in a later part, gets nothing.
#[tokio::test]
async fn a_crowd_read_in_several_parts_reaches_each_reader_once_and_skips_blockers() {
    let app = crowd_app().await;
    let names: Vec<String> = (0..230).map(|n| format!("m{n:03}")).collect();
    let alice = app.create_users(&app.a, &["alice", "eve"]).await;
    let mut tokens = Vec::new();
    for chunk in names.chunks(100) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        tokens.extend(app.create_users(&app.a, &ids).await);
    }
    let public = app
        .create_channel(&app.a, &alice[0], json!({ "type": "public" }))
        .await;
    for chunk in names.chunks(49) {
        app.post(
            &app.a,
            &alice[0],
            &format!("/channels/{public}/members"),
            json!({ "user_ids": chunk }),
        )
        .await
        .assert_status(200);
    }
    let blocker = 150;
    app.post(
        &app.a,
        &tokens[blocker],
        "/blocks",
        json!({"user_id": "alice"}),
    )
    .await
    .assert_status(201);
    // Online after they join, so connecting is what puts them in the index
    // (and no storm of 230 joins to 230 sockets; a room this size tells
    // nobody of presence).
    let mut sockets = Vec::new();
    for token in &tokens {
        sockets.push(app.ws(&app.a, token).await);
    }
    let mut eve = app.ws(&app.a, &alice[1]).await;
    let ack = eve
        .request(json!({ "action": "channel.watch", "channel_id": public }))
        .await;
    assert_eq!(ack["result"]["watching"], true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for ws in sockets.iter_mut().chain([&mut eve]) {
        ws.drain(Duration::from_millis(10)).await;
    }

    app.say(&app.a, &alice[0], &public, "to the crowd").await;
    for (n, ws) in sockets.iter_mut().enumerate() {
        if n != blocker {
            ws.expect("message.new").await;
        }
    }
    eve.expect("message.new").await;
    // Stragglers and repeats would show up within this.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (n, ws) in sockets.iter_mut().chain([&mut eve]).enumerate() {
        let more = texts(&ws.events(Duration::from_millis(10)).await);
        assert!(
            more.is_empty(),
            "socket {n}: {more:?} after its one delivery"
        );
    }
    // The message's one job, not retried (the joins had a job each).
    let jobs: Vec<Job> = jobs(&app, &app.a, &public)
        .await
        .into_iter()
        .filter(|j| j.event.contains("\"message.new\""))
        .collect();
    assert_eq!(jobs.len(), 1, "one job for the message");
    assert_eq!(jobs[0].attempt, 0, "and no retry");
}

/// A crowd app whose fan-outs start at least `window` apart, so sends made
/// during one wait for the next and go out together.
async fn coalescing_app(window: Duration) -> TestApp {
    TestApp::spawn_with(StackOptions {
        config: Config {
            fanout_inline_limit: 2,
            fanout_coalesce: window,
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    })
    .await
}

#[tokio::test]
async fn events_produced_together_reach_each_connection_as_one_batch_frame_in_order() {
    let app = coalescing_app(Duration::from_millis(2500)).await;
    let (t, id, mut sockets) = four_online(&app).await;
    let mut connections = Vec::new();
    for ws in &mut sockets {
        connections.push(connection_id(ws).await);
    }
    // carol blocks alice: alice's messages are not for her, bob's are.
    let blocked = app
        .post(&app.a, &t[2], "/blocks", json!({ "user_id": "alice" }))
        .await;
    assert_eq!(blocked.status, 201, "{}", blocked.body);
    let gateway = &app.stack.gateway;
    let before: Vec<u64> = connections.iter().map(|c| gateway.posts_to(c)).collect();
    // The first goes out at once; the rest are made while the window holds
    // the next fan-out back.
    app.say(&app.a, &t[1], &id, "first").await;
    let rest = [(0, "a1"), (1, "b1"), (0, "a2"), (1, "b2")];
    for (author, text) in rest {
        app.say(&app.a, &t[author], &id, text).await;
    }
    let all = ["first", "a1", "b1", "a2", "b2"];
    for (n, ws) in sockets.iter_mut().enumerate() {
        let want: Vec<&str> = if n == 2 {
            vec!["first", "b1", "b2"]
        } else {
            all.to_vec()
        };
        let mut got = Vec::new();
        while got.len() < want.len() {
            got.push(ws.expect("message.new").await);
        }
        got.extend(ws.events(Duration::from_millis(300)).await);
        assert_eq!(texts(&got), want, "socket {n}: each once, in send order");
        assert!(
            ws.batches.iter().any(|&(events, _)| events >= 2),
            "socket {n} got a batch frame: {:?}",
            ws.batches
        );
        let posts = gateway.posts_to(&connections[n]) - before[n];
        assert!(
            posts < want.len() as u64,
            "socket {n}: {posts} posts for {} events",
            want.len()
        );
    }
    // Each send still wrote its own job; none was retried.
    let jobs = jobs(&app, &app.a, &id).await;
    assert_eq!(jobs.len(), all.len());
    assert!(jobs.iter().all(|j| j.attempt == 0));
}

#[tokio::test]
async fn a_batch_frame_holds_at_most_32_kb_and_a_failed_one_is_retried_whole() {
    let app = coalescing_app(Duration::from_millis(2500)).await;
    let (t, id, mut sockets) = four_online(&app).await;
    let carol = connection_id(&mut sockets[2]).await;
    app.say(&app.a, &t[0], &id, "first").await;
    for ws in &mut sockets {
        ws.expect("message.new").await;
    }
    // carol's next post fails every attempt the SDK makes, then recovers.
    app.stack.gateway.fail_posts_times(&carol, 500, 3);
    // Eight messages of 4,000 characters: more than one 32 KB frame holds.
    let sent: Vec<String> = (0..8)
        .map(|n| format!("{n}{}", "x".repeat(3_999)))
        .collect();
    for text in &sent {
        app.say(&app.a, &t[0], &id, text).await;
    }
    for (n, ws) in sockets.iter_mut().enumerate() {
        let mut got = Vec::new();
        while got.len() < sent.len() {
            got.push(ws.expect("message.new").await);
        }
        got.extend(ws.events(Duration::from_millis(600)).await);
        let mut texts = texts(&got);
        if n == 2 {
            // A retry reaches carol after the frames that followed it.
            texts.sort();
        }
        assert_eq!(texts, sent, "socket {n}: each once, in order");
        assert!(ws.batches.len() >= 2, "socket {n}: {:?}", ws.batches);
        assert!(
            ws.batches.iter().all(|&(_, bytes)| bytes <= 32 * 1024),
            "socket {n}: {:?}",
            ws.batches
        );
    }
    // carol's failed post became a retry job holding her connection only,
    // with the batch frame she missed.
    let jobs = jobs(&app, &app.a, &id).await;
    let retries: Vec<&Job> = jobs.iter().filter(|j| j.attempt > 0).collect();
    assert_eq!(retries.len(), 1, "{retries:?}");
    let pending = retries[0].pending.clone().expect("pending connections");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].1.as_str(), carol);
    assert!(retries[0].event.starts_with(r#"{"type":"batch""#));
}
