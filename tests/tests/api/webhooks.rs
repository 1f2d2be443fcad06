//! Webhooks: every event but typing is POSTed to the app's `webhook_url`,
//! signed with the app's secret; failures are retried with the same
//! `X-Webhook-Id`, then dead-lettered, listed and replayed. The receiver here
//! is a real HTTP server that checks each signature itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chat_local::StackOptions;
use chat_shared::Config;
use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};

/// One POST the receiver got.
#[derive(Clone, Debug)]
struct Seen {
    id: String,
    attempt: u32,
    signed: bool,
    event: Value,
}

/// A request header's text ("" when missing or not text).
fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The receiver's state: the app secret, what it saw, failures left.
type ReceiverState = (String, Arc<Mutex<Vec<Seen>>>, Arc<Mutex<usize>>);
/// The gated receiver's state: the gate of its first answer, what it saw.
type GateState = (
    Arc<tokio::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>>,
    Arc<Mutex<Vec<(String, String)>>>,
);

#[derive(Clone)]
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answers 500 to this many requests first.
    failures: Arc<Mutex<usize>>,
}

impl Receiver {
    /// A receiver that checks signatures against `secret`.
    async fn start(secret: &str, failures: usize) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(failures));
        let state = (secret.to_string(), seen.clone(), failures.clone());
        let router = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State((secret, seen, failures)): State<ReceiverState>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        let header = |name: &str| header(&headers, name);
                        // What a receiver does: HMAC-SHA256 of the raw body.
                        let expected = crate::helpers::hmac_hex(&secret, &body);
                        seen.lock().unwrap().push(Seen {
                            id: header("x-webhook-id"),
                            attempt: header("x-webhook-attempt").parse().unwrap_or(0),
                            signed: header("x-signature") == expected,
                            event: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        });
                        let mut left = failures.lock().unwrap();
                        if *left > 0 {
                            *left -= 1;
                            StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            StatusCode::NO_CONTENT
                        }
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url,
            seen,
            failures,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until a POST of this event type (and, if given, attempt) came.
    async fn wait_for(&self, kind: &str, attempt: Option<u32>) -> Seen {
        for _ in 0..200 {
            if let Some(seen) = self
                .seen()
                .into_iter()
                .find(|s| s.event["type"] == kind && attempt.is_none_or(|a| s.attempt == a))
            {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no {kind} webhook (attempt {attempt:?}); got {:?}",
            self.seen()
        );
    }
}

/// Quick retries for tests: 3 attempts, 50 ms then 200 ms apart.
async fn hooked_app() -> TestApp {
    TestApp::spawn_with(StackOptions {
        config: Config {
            webhook_max_attempts: 3,
            webhook_backoff: Duration::from_millis(50),
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    })
    .await
}

async fn set_hook(app: &TestApp, t: &Tenant, url: &str) {
    let body = app
        .patch(t, &t.server, "/app", json!({"set": {"webhook_url": url}}))
        .await;
    assert_eq!(
        body.assert_status(200)["app"]["settings"]["webhook_url"],
        url
    );
}

#[tokio::test]
async fn every_event_but_typing_is_posted_signed_with_the_apps_secret() {
    let app = hooked_app().await;
    let hook = Receiver::start(&app.a.app.api_secret, 0).await;
    let other = Receiver::start(&app.b.app.api_secret, 0).await;
    set_hook(&app, &app.a, &hook.url).await;
    set_hook(&app, &app.b, &other.url).await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/members"),
        json!({"user_ids": ["carol"]}),
    )
    .await
    .assert_status(200);
    let sent = app.say(&app.a, &t[0], &ch, "hello hooks").await;
    let message_id = sent["id"].as_str().unwrap().to_string();
    app.post(
        &app.a,
        &t[1],
        &format!("/messages/{message_id}/reactions"),
        json!({"type": "like"}),
    )
    .await
    .assert_status(201);
    bob.request(json!({"action": "typing.start", "channel_id": ch}))
        .await;

    let new = hook.wait_for("message.new", None).await;
    assert!(new.signed, "X-Signature is the HMAC of the body");
    assert_eq!(new.attempt, 1);
    assert_eq!(new.id, new.event["id"], "X-Webhook-Id is the event's id");
    assert_eq!(new.event["message"]["text"], "hello hooks");
    assert_eq!(new.event["channel_id"], ch.as_str());
    let reaction = hook.wait_for("reaction.new", None).await;
    assert!(reaction.signed);
    assert_eq!(reaction.event["reaction"]["type"], "like");
    let added = hook.wait_for("member.added", None).await;
    assert_eq!(added.event["member"]["user"]["id"], "carol");
    hook.wait_for("user.presence.changed", None).await;
    // The same event reached the socket with the same id.
    let on_socket = bob.expect("message.new").await;
    assert_eq!(on_socket["id"], new.id);

    // Typing is not posted; another app's hook hears nothing of this one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hook
        .seen()
        .iter()
        .all(|s| !s.event["type"].as_str().unwrap_or("").starts_with("typing")));
    assert!(other.seen().is_empty(), "{:?}", other.seen());
    // Each event once when the receiver answers 2xx.
    let mut ids: Vec<String> = hook.seen().iter().map(|s| s.id.clone()).collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all);

    // Unset: the settings no longer name it (a warm process may still post
    // for as long as it caches the app, CHAT_APP_CACHE_SECONDS).
    let unset = app
        .patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({"unset": ["webhook_url"]}),
        )
        .await;
    assert!(unset.assert_status(200)["app"]["settings"]
        .get("webhook_url")
        .is_none());
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_event_again_until_it_answers() {
    let app = hooked_app().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    // The next event's first two attempts fail.
    let hook = Receiver::start(&app.a.app.api_secret, 2).await;
    set_hook(&app, &app.a, &hook.url).await;
    app.say(&app.a, &t[0], &ch, "retry me").await;
    let third = hook.wait_for("message.new", Some(3)).await;
    let tries: Vec<Seen> = hook
        .seen()
        .into_iter()
        .filter(|s| s.id == third.id)
        .collect();
    assert_eq!(
        tries.iter().map(|s| s.attempt).collect::<Vec<_>>(),
        [1, 2, 3],
        "one event, three attempts in order"
    );
    assert!(tries.iter().all(|s| s.signed && s.event == third.event));
    let failed = app.get(&app.a, &app.a.server, "/app/webhooks/failed").await;
    assert_eq!(failed.assert_status(200)["failed"], json!([]));
}

#[tokio::test]
async fn an_event_that_uses_up_its_attempts_is_dead_lettered_then_replayed() {
    let app = hooked_app().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    // Every attempt of the next event fails (3 attempts).
    let hook = Receiver::start(&app.a.app.api_secret, 3).await;
    set_hook(&app, &app.a, &hook.url).await;
    app.say(&app.a, &t[0], &ch, "dead letter").await;
    let last = hook.wait_for("message.new", Some(3)).await;

    let mut listed = Value::Null;
    for _ in 0..100 {
        let failed = app.get(&app.a, &app.a.server, "/app/webhooks/failed").await;
        listed = failed.assert_status(200)["failed"].clone();
        if listed.as_array().is_some_and(|l| !l.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["event_id"], last.id);
    assert_eq!(listed[0]["attempts"], 3);
    assert_eq!(listed[0]["last_error"], "http_status");
    assert_eq!(listed[0]["last_status"], 500);
    assert_eq!(listed[0]["event"]["message"]["text"], "dead letter");

    // Only the server lists and replays; unknown ids are 404s.
    app.get(&app.a, &t[0], "/app/webhooks/failed")
        .await
        .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &app.a.server,
        &format!("/app/webhooks/failed/{}/replay", "0".repeat(32)),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    // Another app cannot see or replay it.
    assert_eq!(
        app.get(&app.b, &app.b.server, "/app/webhooks/failed")
            .await
            .assert_status(200)["failed"],
        json!([])
    );
    app.post(
        &app.b,
        &app.b.server,
        &format!("/app/webhooks/failed/{}/replay", last.id),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");

    // The receiver is back (its failures are used up): replay delivers the
    // same event, signed, as the next attempt, and the list empties.
    assert_eq!(*hook.failures.lock().unwrap(), 0);
    app.post(
        &app.a,
        &app.a.server,
        &format!("/app/webhooks/failed/{}/replay", last.id),
        json!({}),
    )
    .await
    .assert_status(202);
    let replayed = hook.wait_for("message.new", Some(4)).await;
    assert_eq!(replayed.id, last.id);
    assert_eq!(replayed.event, last.event);
    assert!(replayed.signed);
    assert_eq!(
        app.get(&app.a, &app.a.server, "/app/webhooks/failed")
            .await
            .assert_status(200)["failed"],
        json!([])
    );
}

#[tokio::test]
async fn hook_urls_must_be_safe() {
    let app = TestApp::spawn().await;
    for bad in [
        "javascript:alert(1)",
        "http://example.com/hook",
        "https://169.254.169.254/latest",
        " https://example.com/hook",
        "ftp://example.com/hook",
    ] {
        for field in ["webhook_url", "before_message_send_url"] {
            app.patch(&app.a, &app.a.server, "/app", json!({"set": {field: bad}}))
                .await
                .assert_error(400, "validation_error");
        }
    }
    let shown = app.get(&app.a, &app.a.server, "/app").await;
    assert!(shown.assert_status(200)["app"]["settings"]
        .get("webhook_url")
        .is_none());
}

/// A delivery whose outcome cannot be recorded (the queue refuses the next
/// attempt while the receiver answers 500, as when the function dies before
/// scheduling it) is reported failed to the queue: SQS hands the same task
/// out again and the event still arrives, with the same `X-Webhook-Id`.
#[tokio::test]
async fn a_delivery_that_cannot_record_its_outcome_is_run_again_not_lost() {
    let app = TestApp::spawn_with(StackOptions {
        schedule_visibility: Duration::from_secs(1),
        config: Config {
            webhook_backoff: Duration::from_millis(50),
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    })
    .await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    // The first POST waits for the test, then fails.
    let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
    let gate = Arc::new(tokio::sync::Mutex::new(Some(gate_rx)));
    let seen = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let state = (gate.clone(), seen.clone());
    let router = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State((gate, seen)): State<GateState>, headers: HeaderMap| async move {
                    let header = |name: &str| header(&headers, name);
                    seen.lock()
                        .unwrap()
                        .push((header("x-webhook-id"), header("x-webhook-attempt")));
                    if let Some(wait) = gate.lock().await.take() {
                        let _ = wait.await;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    set_hook(&app, &app.a, &url).await;
    app.say(&app.a, &t[0], &ch, "keep me").await;

    let wait_seen = |n: usize| {
        let seen = seen.clone();
        async move {
            for _ in 0..400 {
                if seen.lock().unwrap().len() >= n {
                    return seen.lock().unwrap().clone();
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("the receiver saw {:?}", seen.lock().unwrap());
        }
    };
    wait_seen(1).await;
    // The queue refuses the next attempt, on each of the SDK's 3 tries.
    let sqs = app.stack.sqs.clone();
    sqs.refuse_sends(true);
    gate_tx.send(()).unwrap();
    for _ in 0..400 {
        if sqs.refused() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(sqs.refused() >= 3);
    sqs.refuse_sends(false);
    // The queue hands the task out again: the same event, the same attempt.
    let seen = wait_seen(2).await;
    assert_eq!(seen[0], seen[1], "{seen:?}");
    assert_eq!(seen[0].1, "1");
    assert_eq!(
        app.get(&app.a, &app.a.server, "/app/webhooks/failed")
            .await
            .assert_status(200)["failed"],
        json!([])
    );
}

/// What a timed receiver saw: event id, attempt, the message's text, when.
type Arrival = (String, u32, String, std::time::Instant);

/// A receiver that notes when each POST arrived; `hang` never answers (the
/// function's post runs into its timeout).
async fn timed_receiver(hang: bool) -> (String, Arc<Mutex<Vec<Arrival>>>) {
    let seen: Arc<Mutex<Vec<Arrival>>> = Arc::default();
    let state = seen.clone();
    let router = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                move |State(seen): State<Arc<Mutex<Vec<Arrival>>>>,
                      headers: HeaderMap,
                      body: Bytes| async move {
                    let header = |name: &str| header(&headers, name);
                    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let text = event["message"]["text"].as_str().unwrap_or_default();
                    seen.lock().unwrap().push((
                        header("x-webhook-id"),
                        header("x-webhook-attempt").parse().unwrap_or(0),
                        text.to_string(),
                        std::time::Instant::now(),
                    ));
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

/// App A's receiver never answers (each post runs into the 2 s timeout) and
/// its retries come due while app B's messages are sent: every one of B's
/// webhooks still arrives within 2 s of its message, and A's second attempt
/// arrives within 1 s of its due time (timeout + backoff after the first),
/// nothing waiting for it inside a function.
#[tokio::test]
async fn one_apps_hanging_receiver_holds_back_no_other_apps_webhooks() {
    let timeout = Duration::from_secs(2);
    let backoff = Duration::from_secs(1);
    let app = TestApp::spawn_with(StackOptions {
        config: Config {
            webhook_max_attempts: 3,
            webhook_backoff: backoff,
            webhook_timeout: timeout,
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    })
    .await;
    let (hanging, a_seen) = timed_receiver(true).await;
    let (healthy, b_seen) = timed_receiver(false).await;
    set_hook(&app, &app.a, &hanging).await;
    set_hook(&app, &app.b, &healthy).await;
    let ta = app.create_users(&app.a, &["alice"]).await;
    let tb = app.create_users(&app.b, &["bob"]).await;
    let cha = app.group(&app.a, &ta[0], &[]).await;
    let chb = app.group(&app.b, &tb[0], &[]).await;
    let mut sent = Vec::new();
    for i in 0..8 {
        app.say(&app.a, &ta[0], &cha, &format!("a{i}")).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let text = format!("b{i}");
        let at = std::time::Instant::now();
        app.say(&app.b, &tb[0], &chb, &text).await;
        sent.push((text, at));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A's first event: its second attempt is due timeout + backoff after
    // its first.
    let mut second = None;
    for _ in 0..400 {
        let a = a_seen.lock().unwrap().clone();
        let first = a.iter().find(|s| s.2 == "a0" && s.1 == 1).cloned();
        let retry = a.iter().find(|s| s.2 == "a0" && s.1 == 2).cloned();
        if let (Some(first), Some(retry)) = (first, retry) {
            second = Some(retry.3.duration_since(first.3));
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let second = second.expect("A's first event was tried a second time");
    let due = timeout + backoff;
    assert!(
        second + Duration::from_millis(600) >= due && second <= due + Duration::from_secs(1),
        "the second attempt came {second:?} after the first; due after {due:?}"
    );
    let b = b_seen.lock().unwrap().clone();
    for (text, at) in &sent {
        let arrived = b
            .iter()
            .find(|s| &s.2 == text)
            .unwrap_or_else(|| panic!("B's {text} webhook never arrived: {b:?}"));
        let late = arrived.3.duration_since(*at);
        assert!(
            late <= Duration::from_secs(2),
            "B's {text} webhook arrived {late:?} after its message"
        );
    }
    assert!(a_seen.lock().unwrap().iter().all(|s| s.2.starts_with('a')));
}

/// A task due beyond SQS's longest delay (15 minutes) is sent on with the
/// time left when it comes, not run early: the scheduler reaches 30 days
/// ahead, and no further.
#[tokio::test]
async fn a_task_due_beyond_15_minutes_is_sent_on_not_run() {
    use chat_shared::scheduler::{ScheduleError, Scheduled};
    let app = hooked_app().await;
    let hook = Receiver::start(&app.a.app.api_secret, 0).await;
    set_hook(&app, &app.a, &hook.url).await;
    let job = chat_shared::webhooks::Job {
        app_id: app.a.app.app_id.clone(),
        event_id: "0193a1b2c3d47e5f8a9b0c1d2e3f4a70".into(),
        job_id: "0193a1b2c3d47e5f8a9b0c1d2e3f4a71".into(),
        body: json!({"type": "later"}).to_string(),
        attempt: 2,
        last_attempt: 3,
        expires: chat_shared::time::now_secs() + 3600,
    };
    let in_20_minutes = chat_shared::time::now_millis() + 20 * 60 * 1000;
    let scheduled = Scheduled::new(in_20_minutes, &job).unwrap();
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.message_id = Some("m1".into());
    record.body = Some(serde_json::to_string(&scheduled).unwrap());
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = vec![record];
    let sqs = app.stack.sqs.clone();
    let (_, sends_before) = sqs.billed();
    let pending_before = sqs.pending();
    let state = &app.stack.state;
    let answer = chat_shared::notify::handle_due(state, event).await;
    assert!(answer.batch_item_failures.is_empty());
    // Sent on (hidden for 15 minutes), not posted.
    assert_eq!(sqs.billed().1, sends_before + 1);
    assert_eq!(sqs.pending(), pending_before + 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hook.seen().is_empty(), "{:?}", hook.seen());
    // Beyond 30 days: refused.
    let too_far = chat_shared::time::now_millis() + 31 * 24 * 3600 * 1000;
    let refused = state.scheduler.schedule(&[(too_far, job)]).await;
    assert!(
        matches!(refused, Err(ScheduleError::TooFarAhead(_))),
        "{refused:?}"
    );
}
