//! `chat-coldstart`: cold-start figures of each function binary. Starts the
//! local stack, serves a minimal Lambda Runtime API on loopback, launches a
//! function with `AWS_LAMBDA_RUNTIME_API` pointing at it, hands it one
//! sample event and reports: process start → first `next` (init), the
//! first invocation's duration, process start → its answer, and the DynamoDB calls made during init
//! (through the stack's tap; anything but the one pre-warm `GetItem` fails
//! the run).
//!
//! ```sh
//! cargo build --release -p users -p channels -p messages -p uploads -p realtime -p fanout -p notify
//! cargo run --release -p chat-bench --bin chat-coldstart
//! ```

// A harness stops at the first failed set-up step: that is its report.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chat_local::{Stack, StackOptions};
use chat_shared::auth;
use chat_shared::ids::UserId;
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "Cold start of each function binary against a local Lambda Runtime API")]
struct Args {
    /// Folder holding the function binaries (default: beside this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The repository's events/ folder.
    #[arg(long, default_value = "events")]
    events: PathBuf,
    #[arg(long, default_value = "coldstart-results.json")]
    json: String,
}

#[derive(Default)]
struct Run {
    event: Option<String>,
    handed_out: bool,
    first_next: Option<Instant>,
    response: Option<(Instant, String)>,
}

type Shared = Arc<Mutex<Run>>;

async fn next(State(run): State<Shared>) -> Response {
    let event = {
        let mut run = run.lock().expect("lock");
        run.first_next.get_or_insert_with(Instant::now);
        if run.handed_out {
            None
        } else {
            run.handed_out = true;
            run.event.clone()
        }
    };
    let Some(event) = event else {
        // One invocation per cold start: later polls wait until the process is stopped.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return StatusCode::NO_CONTENT.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = (chat_shared::time::now_millis() + 30_000).to_string();
    let pairs = [
        ("lambda-runtime-aws-request-id", "cold-start-1".to_string()),
        ("lambda-runtime-deadline-ms", deadline),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench".to_string(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_string(),
        ),
        ("content-type", "application/json".to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, event).into_response()
}

async fn respond(State(run): State<Shared>, Path(_id): Path<String>, body: String) -> StatusCode {
    run.lock().expect("lock").response = Some((Instant::now(), body));
    StatusCode::ACCEPTED
}

async fn error(State(run): State<Shared>, body: String) -> StatusCode {
    run.lock().expect("lock").response = Some((Instant::now(), format!("ERROR {body}")));
    StatusCode::ACCEPTED
}

async fn measure(stack: &Stack, function: &str, binary: &PathBuf, event: String) -> Value {
    let run: Shared = Arc::new(Mutex::new(Run {
        event: Some(event),
        ..Run::default()
    }));
    let runtime_api = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(run.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move { axum::serve(listener, runtime_api).await });

    let tap = stack.tap.clone().expect("the stack has a tap");
    let access_key = format!("coldstart-{function}");
    let seen_before = tap.seen().len();
    let started = Instant::now();
    let mut child = std::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "cold-start")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/cold-start")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
        .env("AWS_REGION", "us-east-1")
        .env("CHAT_REGION", "us-east-1")
        // A key of its own, so the tap tells this process's calls from the
        // stack's own background work.
        .env("AWS_ACCESS_KEY_ID", &access_key)
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("CHAT_DYNAMODB_ENDPOINT", &stack.dynamodb_url)
        .env("CHAT_S3_ENDPOINT", &stack.s3_url)
        .env("CHAT_WEBSOCKET_ENDPOINT", &stack.management_url)
        .env("CHAT_SQS_ENDPOINT", stack.sqs.url())
        .env(
            "CHAT_SCHEDULE_QUEUE_URL",
            stack
                .state
                .config
                .schedule_queue_url
                .as_deref()
                .unwrap_or_default(),
        )
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("function starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.lock().expect("lock").response.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    let run = run.lock().expect("lock");
    let init = run
        .first_next
        .map(|t| t.duration_since(started).as_secs_f64() * 1000.0);
    let (invocation, answered, status) = match (&run.first_next, &run.response) {
        (Some(first), Some((at, body))) => {
            let status = serde_json::from_str::<Value>(body).ok().map(|b| {
                if b["statusCode"].is_null() {
                    b
                } else {
                    b["statusCode"].clone()
                }
            });
            (
                Some(at.duration_since(*first).as_secs_f64() * 1000.0),
                Some(at.duration_since(started).as_secs_f64() * 1000.0),
                status,
            )
        }
        _ => (None, None, None),
    };
    // What the process asked of DynamoDB before it polled for its first event.
    let init_calls: Vec<String> = tap.seen()[seen_before..]
        .iter()
        .filter(|s| s.access_key == access_key)
        .filter(|s| run.first_next.is_some_and(|first| s.at < first))
        .map(|s| s.operation.clone())
        .collect();
    json!({
        "init_ms": init,
        "first_invocation_ms": invocation,
        "start_to_first_answer_ms": answered,
        "status": status,
        "init_dynamodb_calls": init_calls,
    })
}

#[tokio::main]
async fn main() {
    chat_shared::outbound::install_tls_provider();
    let args = Args::parse();
    let bin_dir = args.bin_dir.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default()
    });
    let stack = Stack::start(StackOptions {
        dynamodb_tap: true,
        ..StackOptions::ephemeral()
    })
    .await
    .expect("stack");
    let app = stack.ensure_dev_app().await.expect("dev app");
    let alice = auth::mint_user_token(&app.api_secret, &UserId::parse("alice").expect("id"), None)
        .expect("token");
    let fill = |name: &str| {
        let text = std::fs::read_to_string(args.events.join(name)).expect("event file");
        text.replace("REPLACE_WITH_API_KEY", &app.api_key)
            .replace("REPLACE_WITH_TOKEN", &alice)
            .replace("REPLACE_WITH_CONNECTION_ID", "cold-start-connection")
            .replace("REPLACE_WITH_CHANNEL_ID", "sample-channel")
            .replace("REPLACE_WITH_APP_ID", app.app_id.as_str())
    };
    let cases = [
        ("users", "rest-users-get.json"),
        ("channels", "rest-channels-create.json"),
        ("messages", "rest-channel-history.json"),
        ("uploads", "rest-upload-signed-url.json"),
        ("realtime", "ws-connect.json"),
        ("fanout", "stream-fanout-job.json"),
        ("notify", "stream-webhook-job.json"),
        ("erase", "stream-erase-job.json"),
    ];
    let mut results = serde_json::Map::new();
    let mut init_probes = Vec::new();
    let mut unanswered = Vec::new();
    for (function, event) in cases {
        let binary = bin_dir.join(function);
        let figures = measure(&stack, function, &binary, fill(event)).await;
        println!("{function:<9} {figures}");
        if figures["init_dynamodb_calls"] != json!(["GetItem"]) {
            init_probes.push(function);
        }
        // Whatever the answer (the sample ids need not exist), there is one:
        // an HTTP status, or a stream batch's list of failed records.
        if !figures["status"].is_number() && !figures["status"]["batchItemFailures"].is_array() {
            unanswered.push(function);
        }
        results.insert(function.to_string(), figures);
    }
    let results = Value::Object(results);
    if let Err(err) = std::fs::write(
        &args.json,
        serde_json::to_vec_pretty(&results).unwrap_or_default(),
    ) {
        eprintln!("could not write {}: {err}", args.json);
    }
    if !init_probes.is_empty() {
        eprintln!("init made calls other than the one pre-warm GetItem: {init_probes:?}");
        std::process::exit(1);
    }
    if !unanswered.is_empty() {
        eprintln!("no answer to the first invocation: {unanswered:?}");
        std::process::exit(1);
    }
}
