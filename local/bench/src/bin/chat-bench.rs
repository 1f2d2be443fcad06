//! `chat-bench`: load and fan-out benchmarks against the in-process local
//! stack, over real WebSocket clients. Prints figures and writes them as JSON.
//!
//! ```sh
//! cargo run --release -p chat-bench --bin chat-bench -- load      # 1000 clients, 100 channels, 200 msg/s, 30 s
//! cargo build --release --bins && target/release/chat-bench load --lambdas target/release  # the faithful mode, CPU per function
//! cargo run --release -p chat-bench --bin chat-bench -- fanout    # 10,000 connections, 20 ms per post
//! cargo run --release -p chat-bench --bin chat-bench -- costs --write docs/storage.md
//! cargo run --release -p chat-bench --bin chat-bench -- ceiling --write docs/past-the-ceiling.md
//! ```

// A benchmark stops at the first failed set-up step: that is its report.
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_local::gateway::{GatewayOptions, Quota};
use chat_local::lambdas;
use chat_local::{Stack, StackOptions};
use chat_shared::apps;
use chat_shared::auth;
use chat_shared::channels::{members, service, Ctx};
use chat_shared::ids::{ChannelId, UserId};
use chat_shared::users::{self, Profile};
use chat_shared::Config;
use clap::{Parser, Subcommand};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The benchmarks connect their clients faster than AWS's 500 new
/// connections a second: what they measure starts once all are connected.
const SET_UP_CONNECTS: Quota = Quota {
    per_second: 1_000_000,
    burst: 1_000_000,
};

/// The fan-out function's name in the template.
const FANOUT_FUNCTION: &str = "FanoutFunction";

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Benchmarks of the chat backend on the local stack")]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// Where the figures are written as JSON.
    #[arg(long, global = true, default_value = "bench-results.json")]
    json: String,
}

#[derive(Subcommand)]
enum Command {
    /// N clients over M channels send at a target rate for T seconds.
    Load {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 100)]
        channels: usize,
        /// Messages per second, in total.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// The faithful mode: the functions' binaries in this folder (for
        /// example target/release) run as processes, and the CPU of each
        /// is reported apart from the emulators'.
        #[arg(long)]
        lambdas: Option<std::path::PathBuf>,
        /// Put the DynamoDB tap in front of the emulator and report the
        /// requests per send by operation (its proxy hop adds to the
        /// emulators' CPU, not to the functions').
        #[arg(long)]
        count_requests: bool,
        /// The faithful mode's processes for each function at most (as
        /// reserved concurrency caps a function's environments): another
        /// starts while all are busy.
        #[arg(long, default_value_t = 8)]
        max_instances: usize,
    },
    /// Sends to a 2-member channel and to one whose members hold this many
    /// connections (clients in child processes of 10,000 each, through relay
    /// processes past 10,000), side by side.
    Fanout {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Latency injected into every management-API post.
        #[arg(long, default_value_t = 20)]
        post_delay_ms: u64,
        /// Lanes for each 400 connections a fan-out queues
        /// (CHAT_FANOUT_CONCURRENCY; the template gives FanoutFunction 16).
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Large sends (each after three small ones).
        #[arg(long, default_value_t = 3)]
        sends: usize,
        /// Then this many messages a second to the large channel (0: none),
        /// for `--seconds`: the posts each connection gets a second, with
        /// coalescing (CHAT_FANOUT_COALESCE_MS).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// The management API's quota a second (AWS's default 10,000, with
        /// a burst of half that).
        #[arg(long, default_value_t = 10_000)]
        quota: u32,
        /// The faithful mode (the functions' binaries in this folder): the
        /// fan-out function's own CPU per post is reported.
        #[arg(long)]
        lambdas: Option<std::path::PathBuf>,
        /// Connections per client process; past one process, each connects
        /// through a relay process of its own (a process here may hold
        /// 20,000 files, and the gateway holds the other ends).
        #[arg(long, default_value_t = 10_000)]
        per_process: usize,
    },
    /// The fan-out benchmark's clients (started by `fanout` itself).
    #[command(hide = true)]
    Clients {
        #[arg(long)]
        plan: std::path::PathBuf,
    },
    /// A socket relay of the gateway (started by `fanout` itself past
    /// 10,000 connections): prints its `ws://` URL, then serves.
    #[command(hide = true)]
    Relay {
        /// The gateway's `ws://…/_relay` on its management listener.
        #[arg(long)]
        link: String,
    },
    /// DynamoDB requests, consumed capacity and management-API posts per
    /// operation, as a Markdown table.
    Costs {
        /// Replace the table in this Markdown file (between its costs markers).
        #[arg(long)]
        write: Option<std::path::PathBuf>,
    },
    /// The model of one big channel on AWS (delivery time, posts a second,
    /// price per message), as Markdown.
    Ceiling {
        /// Replace the text in this Markdown file (between its ceiling markers).
        #[arg(long)]
        write: Option<std::path::PathBuf>,
    },
    /// Screens a message against blocklists (one `block` list of words that
    /// never match, so every word is tried): the time per message.
    Blocklist {
        #[arg(long, default_value_t = 2_000)]
        words: usize,
        /// The message's length in characters.
        #[arg(long, default_value_t = 5_000)]
        chars: usize,
        #[arg(long, default_value_t = 200)]
        runs: usize,
    },
}

type Receipts = Arc<Mutex<Vec<(String, Instant)>>>;

struct Client {
    sink: Sink,
}

type Sink = futures::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// Opens a socket and hands every text message it receives to `on`.
async fn open_socket(url: String, on: impl Fn(&str) + Send + 'static) -> Sink {
    let (stream, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    let (sink, mut read) = stream.split();
    tokio::spawn(async move {
        while let Some(Ok(message)) = read.next().await {
            if let Message::Text(text) = message {
                on(text.as_str());
            }
        }
    });
    sink
}

/// Connects a user and records every `message.new` it receives (by text)
/// and every ack.
async fn connect(
    stack: &Stack,
    key: &str,
    token: &str,
    receipts: Receipts,
    acks: Receipts,
) -> Client {
    let url = format!("{}/?api_key={key}&token={token}", stack.ws_url);
    let sink = open_socket(url, move |text| {
        let now = Instant::now();
        let Ok(event) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match event["type"].as_str() {
            Some("message.new") => {
                if let Some(t) = event["message"]["text"].as_str() {
                    receipts.lock().expect("lock").push((t.to_string(), now));
                }
            }
            Some("ack") if event["ok"] == true => {
                if let Some(id) = event["request_id"].as_str() {
                    acks.lock().expect("lock").push((id.to_string(), now));
                }
            }
            _ => {}
        }
    })
    .await;
    Client { sink }
}

fn delivered_count(receipts: &[Receipts]) -> usize {
    receipts.iter().map(|r| r.lock().expect("lock").len()).sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn setup(stack: &Stack, users: usize) -> (apps::App, Vec<(UserId, String)>) {
    let app = apps::create_app(&stack.state.db, None, "bench")
        .await
        .expect("app");
    // An app that can push, as production apps do; no bench user has a
    // device, so no send may cost the notify function anything.
    let patch = apps::AppPatch {
        set: apps::AppFields {
            firebase: Some(chat_local::push::dev_firebase()),
            ..apps::AppFields::default()
        },
        unset: Vec::new(),
    };
    let app = apps::patch(
        &stack.state.db,
        &app.app_id,
        patch,
        stack.state.outbound.guard(),
    )
    .await
    .expect("push credentials");
    let ids: Vec<UserId> = (0..users)
        .map(|i| UserId::parse(format!("u{i:05}")).expect("id"))
        .collect();
    for chunk in ids.chunks(100) {
        let profiles = chunk
            .iter()
            .map(|id| Profile {
                id: Some(id.clone()),
                ..Profile::default()
            })
            .collect();
        users::upsert_users(&stack.state.db, &app, profiles)
            .await
            .expect("users");
    }
    let tokens = ids
        .into_iter()
        .map(|id| {
            let token = auth::mint_user_token(&app.api_secret, &id, None).expect("token");
            (id, token)
        })
        .collect();
    (app, tokens)
}

/// A channel with these members (created in batches under the transaction limit).
async fn channel(stack: &Stack, app: &apps::App, members_of: &[UserId], name: &str) -> ChannelId {
    let ctx = Ctx {
        app: Arc::new(app.clone()),
        server: true,
        user: None,
        me: None,
    };
    let input: service::CreateChannel =
        serde_json::from_value(json!({ "type": "group", "id": name })).expect("input");
    let (channel, _) = service::create(&stack.state.db, &ctx, input)
        .await
        .expect("channel");
    let access = chat_shared::channels::load(&stack.state.db, &ctx, &channel.id)
        .await
        .expect("load");
    for chunk in members_of.chunks(chat_shared::channels::MAX_MEMBERS_PER_WRITE) {
        let add: members::AddMembers =
            serde_json::from_value(json!({ "user_ids": chunk })).expect("add");
        members::add(&stack.state.db, &ctx, &access, add)
            .await
            .expect("members");
    }
    channel.id
}

/// The thread-name prefix of the runtime the stack (server and emulators)
/// runs on in the load benchmark, so its CPU time is told from the clients'.
const SERVER_THREADS: &str = "chat-server";

/// CPU time, in ms, of this process's threads whose name starts with
/// `prefix` (or of all its threads), from `/proc/self/task/*/stat`.
fn threads_cpu_ms(prefix: Option<&str>) -> f64 {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if prefix.is_some_and(|p| !name.starts_with(p)) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        total += lambdas::cpu_ms_of_stat(&stat);
    }
    total
}

async fn load(
    clients: usize,
    channels: usize,
    rate: u64,
    seconds: u64,
    bin_dir: Option<std::path::PathBuf>,
    count_requests: bool,
    max_instances: usize,
) -> Value {
    // The stack on a runtime of its own: its threads' CPU is the server's.
    // Long-lived blocking threads keep their CPU time countable.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .expect("server runtime");
    let mut options = StackOptions::ephemeral();
    options.gateway.connect_quota = SET_UP_CONNECTS;
    options.dynamodb_tap = count_requests;
    if let Some(bin_dir) = bin_dir {
        let mut faithful = lambdas::LambdaOptions::new(bin_dir);
        faithful.logs = false;
        faithful.max_instances = max_instances.max(1);
        options.lambdas = Some(faithful);
    }
    let stack = server_runtime
        .spawn(Stack::start(options))
        .await
        .expect("server task")
        .expect("stack");
    let (app, users) = setup(&stack, clients).await;
    let mut channel_of = Vec::with_capacity(clients);
    let mut channel_ids = Vec::new();
    for c in 0..channels {
        let members: Vec<UserId> = users
            .iter()
            .enumerate()
            .filter(|(i, _)| i % channels == c)
            .map(|(_, u)| u.0.clone())
            .collect();
        channel_ids.push(channel(&stack, &app, &members, &format!("ch{c:04}")).await);
    }
    for i in 0..clients {
        channel_of.push(i % channels);
    }
    let members_per_channel: Vec<usize> = (0..channels)
        .map(|c| channel_of.iter().filter(|x| **x == c).count())
        .collect();

    let receipts: Vec<Receipts> = (0..clients).map(|_| Arc::default()).collect();
    let acks: Receipts = Arc::default();
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(clients);
    for (i, (_, token)) in users.iter().enumerate() {
        sockets.push(
            connect(
                &stack,
                &app.api_key,
                token,
                receipts[i].clone(),
                acks.clone(),
            )
            .await,
        );
    }
    println!(
        "{clients} clients connected in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut sent_at: HashMap<String, (Instant, usize)> = HashMap::new();
    let mut ticker = tokio::time::interval(interval);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let functions_cpu = || {
        stack
            .functions
            .as_ref()
            .map(|f| f.cpu_ms())
            .unwrap_or_default()
    };
    let (server_cpu_before, cpu_before, functions_before) = (
        threads_cpu_ms(Some(SERVER_THREADS)),
        threads_cpu_ms(None),
        functions_cpu(),
    );
    let requests_before = stack.tap.as_ref().map_or(0, |tap| tap.seen().len());
    let run = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let sender = (seed % clients as u64) as usize;
        let text = format!("bench-{n}");
        let frame = json!({
            "action": "message.send",
            "request_id": text,
            "channel_id": channel_ids[channel_of[sender]],
            "text": text,
        });
        sent_at.insert(text, (Instant::now(), channel_of[sender]));
        if sockets[sender]
            .sink
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            eprintln!("client {sender} closed");
        }
    }
    let send_time = run.elapsed().as_secs_f64();
    // Let deliveries drain.
    let mut previous = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = delivered_count(&receipts);
        if now == previous {
            break;
        }
        previous = now;
    }
    let server_cpu = threads_cpu_ms(Some(SERVER_THREADS)) - server_cpu_before;
    let process_cpu = threads_cpu_ms(None) - cpu_before;
    let per_delivery = |ms: f64| ms / delivered_count(&receipts).max(1) as f64;
    // In the faithful mode: each function's processes (what Lambda bills),
    // and the total; the server threads are then the emulators alone.
    let functions: serde_json::Map<String, Value> = functions_cpu()
        .into_iter()
        .map(|(name, after)| {
            let used = after - functions_before.get(&name).copied().unwrap_or(0.0);
            (
                name,
                json!({"cpu_ms": used, "cpu_ms_per_delivery": per_delivery(used)}),
            )
        })
        .collect();
    let functions_total: f64 = functions
        .values()
        .filter_map(|f| f["cpu_ms"].as_f64())
        .sum();
    // DynamoDB requests from the first send until deliveries stopped, by
    // operation, per message sent (with --count-requests).
    let requests_per_send = stack.tap.as_ref().map(|tap| {
        let mut by_operation: BTreeMap<String, f64> = BTreeMap::new();
        for seen in tap.seen().iter().skip(requests_before) {
            *by_operation.entry(seen.operation.clone()).or_default() += 1.0 / total as f64;
        }
        by_operation
    });
    let acked: HashMap<String, Instant> = acks.lock().expect("lock").iter().cloned().collect();
    let mut latencies = Vec::new();
    let mut delivered = 0usize;
    let mut duplicated = 0usize;
    let mut lost = 0usize;
    for (i, receipt) in receipts.iter().enumerate() {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let receipt = receipt.lock().expect("lock");
        for (text, at) in receipt.iter() {
            *seen.entry(text.as_str()).or_default() += 1;
            if let Some((sent, _)) = sent_at.get(text) {
                latencies.push(at.duration_since(*sent).as_secs_f64() * 1000.0);
            }
        }
        delivered += receipt.len();
        duplicated += seen
            .values()
            .filter(|n| **n > 1)
            .map(|n| n - 1)
            .sum::<usize>();
        // Every acknowledged message of this client's channel must have arrived.
        for (text, (_, channel)) in &sent_at {
            if *channel == channel_of[i]
                && acked.contains_key(text)
                && !seen.contains_key(text.as_str())
            {
                lost += 1;
            }
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let expected: usize = sent_at
        .iter()
        .filter(|(t, _)| acked.contains_key(*t))
        .map(|(_, (_, c))| members_per_channel[*c])
        .sum();
    let result = json!({
        "benchmark": "load",
        "clients": clients, "channels": channels, "target_rate": rate, "seconds": seconds,
        "sent": total, "acknowledged": acked.len(), "expected_deliveries": expected,
        "delivered": delivered, "lost": lost, "duplicated": duplicated,
        "send_seconds": send_time,
        "achieved_send_rate": total as f64 / send_time,
        "delivered_per_second": delivered as f64 / run.elapsed().as_secs_f64(),
        "latency_ms": {
            "p50": percentile(&latencies, 0.50), "p95": percentile(&latencies, 0.95),
            "p99": percentile(&latencies, 0.99), "max": latencies.last().copied().unwrap_or(0.0),
        },
        // From the first send until deliveries stopped; the server is the
        // stack's runtime (handlers, gateway and storage emulators), the
        // rest is the clients.
        "server_cpu_ms": server_cpu,
        "server_cpu_ms_per_delivery": server_cpu / delivered.max(1) as f64,
        "process_cpu_ms": process_cpu,
        "faithful": stack.functions.is_some(),
        "functions": functions,
        "functions_cpu_ms_per_delivery": per_delivery(functions_total),
        "dynamodb_requests_per_send": requests_per_send,
    });
    drop(sockets);
    drop(stack);
    server_runtime.shutdown_background();
    assert_eq!(lost, 0, "acknowledged messages were lost");
    assert_eq!(duplicated, 0, "messages were delivered twice");
    result
}

/// What a client process of the fan-out benchmark is given.
#[derive(serde::Serialize, serde::Deserialize)]
struct ClientPlan {
    ws_url: String,
    api_key: String,
    /// The benchmark's number for this process's first connection.
    first: usize,
    /// One token per connection.
    tokens: Vec<String>,
}

/// A relay process: its URL on stdout, then it serves until killed.
async fn relay(link: &str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the relay");
    let url = format!("ws://{}", listener.local_addr().expect("its address"));
    println!("{url}");
    chat_local::relay::run(
        link,
        listener,
        GatewayOptions::default().handshake_timeout,
        std::future::pending(),
    )
    .await
    .expect("the relay links to the gateway");
}

/// Starts the hidden subcommand `args` of this binary, its stdout piped.
fn child_process(args: &[&std::ffi::OsStr]) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().expect("own path"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the child process starts")
}

/// Microseconds since the epoch: the two processes share the clock.
fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// The client side of the fan-out benchmark, in a process of its own (one
/// process cannot hold both ends of 10,000 sockets under a 20,000 file
/// limit): opens the connections, prints `ready`, then one line per
/// `message.new`: `connection<TAB>text<TAB>microseconds`.
async fn clients(plan: &std::path::Path) {
    use tokio::io::AsyncWriteExt;
    let plan: ClientPlan =
        serde_json::from_slice(&std::fs::read(plan).expect("plan readable")).expect("plan");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let connected: Vec<_> = futures::stream::iter(plan.tokens.iter().enumerate())
        .map(|(n, token)| {
            let url = format!("{}/?api_key={}&token={token}", plan.ws_url, plan.api_key);
            let tx = tx.clone();
            open_socket(url, move |text| {
                // Only the fields the benchmark reads (these clients stand
                // for devices elsewhere: they should take little of the
                // server's CPU).
                #[derive(serde::Deserialize)]
                struct Event<'a> {
                    #[serde(rename = "type")]
                    kind: &'a str,
                    #[serde(borrow)]
                    message: Option<Text<'a>>,
                    /// A batch frame's events.
                    #[serde(borrow, default)]
                    events: Vec<Event<'a>>,
                }
                #[derive(serde::Deserialize)]
                struct Text<'a> {
                    #[serde(borrow)]
                    text: Option<std::borrow::Cow<'a, str>>,
                }
                let at = wall_us();
                if let Ok(frame) = serde_json::from_str::<Event>(text) {
                    let events = if frame.kind == "batch" {
                        frame.events
                    } else {
                        vec![frame]
                    };
                    for event in events.into_iter().filter(|e| e.kind == "message.new") {
                        let text = event.message.and_then(|m| m.text).unwrap_or_default();
                        let _ = tx.send(format!("{}\t{text}\t{at}\n", plan.first + n));
                    }
                }
            })
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut out = tokio::io::stdout();
    out.write_all(b"ready\n").await.expect("stdout");
    out.flush().await.expect("stdout");
    while let Some(line) = rx.recv().await {
        let mut batch = line;
        while let Ok(more) = rx.try_recv() {
            batch.push_str(&more);
        }
        if out.write_all(batch.as_bytes()).await.is_err() {
            break;
        }
        let _ = out.flush().await;
    }
    drop(connected);
}

/// Sends over REST as a client app would; the time until the answer.
async fn post_message(
    http: &reqwest::Client,
    stack: &Stack,
    key: &str,
    token: &str,
    channel: &ChannelId,
    text: &str,
) -> Duration {
    let started = Instant::now();
    let response = http
        .post(format!("{}/messages", stack.rest_url))
        .header("X-Api-Key", key)
        .bearer_auth(token)
        .json(&json!({ "channel_id": channel, "text": text }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 201, "send accepted");
    let _ = response.bytes().await;
    started.elapsed()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(&values, 0.5)
}

/// Acknowledgement times of sends to a 2-member channel and to one whose
/// members hold `connections` connections, in one run, and how long after
/// each large send its last delivery came.
async fn fanout(
    connections: usize,
    post_delay_ms: u64,
    concurrency: usize,
    sends: usize,
    stream: Stream,
    bin_dir: Option<std::path::PathBuf>,
    per_process: usize,
) -> Value {
    let mut options = StackOptions {
        gateway: GatewayOptions {
            post_delay: Duration::from_millis(post_delay_ms),
            connect_quota: SET_UP_CONNECTS,
            management_quota: Quota {
                per_second: stream.quota,
                burst: stream.quota / 2,
            },
            ..GatewayOptions::default()
        },
        config: Config {
            fanout_concurrency: concurrency,
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    };
    if let Some(bin_dir) = bin_dir {
        let mut faithful = lambdas::LambdaOptions::new(bin_dir);
        faithful.logs = false;
        options.lambdas = Some(faithful);
    }
    let stack = Stack::start(options).await.expect("stack");
    // The fan-out function's processes (faithful mode): CPU so far, in ms.
    let fanout_cpu = || {
        stack
            .functions
            .as_ref()
            .and_then(|f| f.cpu_ms().get(FANOUT_FUNCTION).copied())
    };
    let inline_limit = stack.state.config.fanout_inline_limit;
    // 10 connections per user, as several devices and tabs would; u00000
    // sends, u00001 is the other member of the small channel.
    let users_needed = connections.div_ceil(10);
    let (app, users) = setup(&stack, users_needed + 2).await;
    let ids: Vec<UserId> = users.iter().map(|u| u.0.clone()).collect();
    let mut crowd = vec![ids[0].clone()];
    crowd.extend(ids[2..].iter().cloned());
    let big = channel(&stack, &app, &crowd, "big").await;
    let small = channel(&stack, &app, &ids[..2], "small").await;
    let receipts: Receipts = Arc::default();
    let acks: Receipts = Arc::default();
    let _partner = connect(
        &stack,
        &app.api_key,
        &users[1].1,
        receipts.clone(),
        acks.clone(),
    )
    .await;

    // Past one process's worth, each client process connects through a
    // relay process of its own: the gateway's process could not hold the
    // sockets' server ends.
    let processes = connections.div_ceil(per_process);
    let mut children = Vec::new();
    // (connection, text) → when, in wall-clock microseconds; and how many
    // deliveries each text has had (what the wait below polls, so polling
    // stays cheap however many deliveries there were).
    let far: Arc<Mutex<Vec<(usize, String, u64)>>> = Arc::default();
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    for process in 0..processes {
        use tokio::io::AsyncBufReadExt;
        let ws_url = if processes > 1 {
            let link = format!(
                "{}/_relay",
                stack.management_url.replacen("http://", "ws://", 1)
            );
            let mut relay = child_process(&["relay".as_ref(), "--link".as_ref(), link.as_ref()]);
            let mut lines = tokio::io::BufReader::new(relay.stdout.take().expect("stdout")).lines();
            let url = lines
                .next_line()
                .await
                .expect("relay output")
                .expect("the relay's URL");
            children.push(relay);
            url
        } else {
            stack.ws_url.clone()
        };
        let first = process * per_process;
        let last = (first + per_process).min(connections);
        let plan_path = std::env::temp_dir().join(format!(
            "chat-bench-clients-{}-{process}.json",
            std::process::id()
        ));
        let plan = ClientPlan {
            ws_url,
            api_key: app.api_key.clone(),
            first,
            tokens: (first..last)
                .map(|n| users[2 + n % users_needed].1.clone())
                .collect(),
        };
        std::fs::write(&plan_path, serde_json::to_vec(&plan).expect("plan")).expect("plan written");
        let mut child =
            child_process(&["clients".as_ref(), "--plan".as_ref(), plan_path.as_os_str()]);
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = lines.next_line().await.expect("client output");
        assert_eq!(ready.as_deref(), Some("ready"), "the clients connected");
        let _ = std::fs::remove_file(&plan_path);
        children.push(child);
        let far = far.clone();
        let counts = counts.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut parts = line.splitn(3, '\t');
                if let (Some(n), Some(text), Some(at)) = (parts.next(), parts.next(), parts.next())
                {
                    if let (Ok(n), Ok(at)) = (n.parse(), at.parse()) {
                        *counts
                            .lock()
                            .expect("lock")
                            .entry(text.to_string())
                            .or_default() += 1;
                        far.lock().expect("lock").push((n, text.to_string(), at));
                    }
                }
            }
        });
    }
    // Online entries and presence settle before anything is timed.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let http = reqwest::Client::new();
    let sender = &users[0].1;
    let mut small_acks = Vec::new();
    let mut big_acks = Vec::new();
    let mut first_deliveries = Vec::new();
    let mut last_deliveries = Vec::new();
    let mut server_cpu_ms = Vec::new();
    let mut fanout_cpu_ms = Vec::new();
    // Each large send's price (its posts, reads and the fan-out function).
    let mut dollars = Vec::new();
    for round in 0..sends {
        for k in 0..3 {
            let text = format!("small {round}.{k}");
            let took = post_message(&http, &stack, &app.api_key, sender, &small, &text).await;
            small_acks.push(took.as_secs_f64() * 1000.0);
        }
        let text = format!("big {round}");
        let cpu_before = threads_cpu_ms(None);
        let fanout_before = fanout_cpu();
        let started = wall_us();
        let took = post_message(&http, &stack, &app.api_key, sender, &big, &text).await;
        big_acks.push(took.as_secs_f64() * 1000.0);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = counts
                .lock()
                .expect("lock")
                .get(&text)
                .copied()
                .unwrap_or_default();
            if got >= connections || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // This process is the server alone: the clients are the child's.
        server_cpu_ms.push(threads_cpu_ms(None) - cpu_before);
        if let (Some(before), Some(after)) = (fanout_before, fanout_cpu()) {
            fanout_cpu_ms.push(after - before);
        }
        dollars.push(chat_bench::ceiling::measured_dollars_per_message(
            connections as f64,
            connections as f64,
            fanout_cpu_ms.last().copied().unwrap_or_default() / 1000.0,
            1.0,
        ));
        let (first, last) = {
            let far = far.lock().expect("lock");
            let times = far.iter().filter(|r| r.1 == text).map(|r| r.2);
            (
                times.clone().min().unwrap_or(started),
                times.max().unwrap_or(started),
            )
        };
        eprintln!(
            "large send {round}: from {:.6} to {:.6} (wall clock, s)",
            started as f64 / 1e6,
            last as f64 / 1e6
        );
        first_deliveries.push((first.saturating_sub(started)) as f64 / 1000.0);
        last_deliveries.push((last.saturating_sub(started)) as f64 / 1000.0);
    }
    let streamed = if stream.rate > 0 {
        let posts_before = stack.gateway.posts();
        let fanout_before = fanout_cpu();
        let total = (stream.rate * stream.seconds) as usize;
        let every = Duration::from_secs_f64(1.0 / stream.rate as f64);
        let started = Instant::now();
        let mut sent_at = Vec::new();
        let mut posting = Vec::new();
        for n in 0..total {
            tokio::time::sleep_until((started + every * n as u32).into()).await;
            sent_at.push((format!("stream {n}"), wall_us()));
            let (http, url, key, token, big) = (
                http.clone(),
                stack.rest_url.clone(),
                app.api_key.clone(),
                sender.clone(),
                big.clone(),
            );
            posting.push(tokio::spawn(async move {
                let response = http
                    .post(format!("{url}/messages"))
                    .header("X-Api-Key", key)
                    .bearer_auth(token)
                    .json(&json!({ "channel_id": big, "text": format!("stream {n}") }))
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(response.status().as_u16(), 201, "send accepted");
            }));
        }
        for posted in posting {
            posted.await.expect("send task");
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let done = {
                let counts = counts.lock().expect("lock");
                sent_at
                    .iter()
                    .all(|(t, _)| counts.get(t).copied().unwrap_or_default() >= connections)
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = started.elapsed().as_secs_f64();
        let posts = stack.gateway.posts() - posts_before;
        let function_ms = match (fanout_before, fanout_cpu()) {
            (Some(before), Some(after)) => Some(after - before),
            _ => None,
        };
        let fanout_us_per_post = function_ms.map(|ms| ms * 1000.0 / posts.max(1) as f64);
        let dollars = chat_bench::ceiling::measured_dollars_per_message(
            posts as f64,
            connections as f64,
            function_ms.unwrap_or_default() / 1000.0,
            total as f64,
        );
        let last: Vec<f64> = {
            let far = far.lock().expect("lock");
            sent_at
                .iter()
                .map(|(text, at)| {
                    let last = far.iter().filter(|r| &r.1 == text).map(|r| r.2).max();
                    last.unwrap_or(*at).saturating_sub(*at) as f64 / 1000.0
                })
                .collect()
        };
        let mut sorted = last.clone();
        sorted.sort_by(f64::total_cmp);
        json!({
            "rate": stream.rate, "seconds": stream.seconds, "messages": total,
            "posts": posts,
            // Over the sending time: what a connection gets while a channel talks.
            "posts_per_connection_per_second": posts as f64 / connections as f64 / stream.seconds as f64,
            "messages_per_post": (total * connections) as f64 / posts.max(1) as f64,
            "last_delivery_ms_p50": percentile(&sorted, 0.5),
            "last_delivery_ms_max": sorted.last().copied().unwrap_or_default(),
            "until_all_delivered_s": took,
            "fanout_function_cpu_us_per_post": fanout_us_per_post,
            // On AWS at these posts: the faithful mode's function CPU included.
            "dollars_per_million_messages": dollars * 1e6,
        })
    } else {
        Value::Null
    };
    // Stragglers and duplicates show up within this.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let far = far.lock().expect("lock");
    let mut seen = std::collections::HashSet::new();
    let duplicated = far
        .iter()
        .filter(|r| !seen.insert((r.0, r.1.clone())))
        .count();
    let streamed_texts = (0..(stream.rate * stream.seconds)).map(|n| format!("stream {n}"));
    let lost = (0..sends)
        .map(|round| format!("big {round}"))
        .chain(streamed_texts)
        .map(|text| connections - seen.iter().filter(|(_, t)| *t == text).count())
        .sum::<usize>();
    let small_received = receipts.lock().expect("lock").len();
    drop(children);
    assert_eq!(lost, 0, "every connection received every large send");
    assert_eq!(duplicated, 0, "no connection received a message twice");
    assert_eq!(
        small_received,
        3 * sends,
        "the small channel's member got each message"
    );
    let small_ack = median(small_acks.clone());
    let big_ack = median(big_acks.clone());
    json!({
        "benchmark": "fanout",
        "connections": connections, "post_delay_ms": post_delay_ms, "concurrency": concurrency,
        "client_processes": processes, "relays": if processes > 1 { processes } else { 0 },
        "inline_limit": inline_limit,
        "sends": sends, "lost": lost, "duplicated": duplicated,
        "small_ack_ms_median": small_ack,
        "big_ack_ms_median": big_ack,
        "ack_ratio": big_ack / small_ack.max(0.001),
        "small_ack_ms": small_acks,
        "big_ack_ms": big_acks,
        "first_delivery_ms": first_deliveries,
        // From the send until every connection had it (10 ms ticks).
        "server_cpu_ms": server_cpu_ms,
        "server_cpu_us_per_delivery": server_cpu_ms.iter().map(|ms| ms * 1000.0 / connections as f64).collect::<Vec<_>>(),
        // The fan-out function's own processes (faithful mode only): each
        // large send's CPU over its posts, one a connection.
        "fanout_function_cpu_us_per_post": fanout_cpu_ms.iter().map(|ms| ms * 1000.0 / connections as f64).collect::<Vec<_>>(),
        "last_delivery_ms": last_deliveries,
        // Each large send's price on AWS, per million such messages: its
        // posts and reads, and (faithful mode) the fan-out function's CPU.
        "dollars_per_million_messages": dollars.iter().map(|d| d * 1e6).collect::<Vec<_>>(),
        "last_delivery_ms_max": last_deliveries.iter().copied().fold(0.0, f64::max),
        // Management calls over the account's quota (AWS's default here),
        // answered 429 and posted again.
        "throttled_calls": stack.gateway.throttled_calls(),
        "management_quota_per_second": stream.quota,
        "coalesce_ms": stack.state.config.fanout_coalesce.as_millis() as u64,
        "stream": streamed,
    })
}

/// The fan-out benchmark's steady phase: messages a second, for how long,
/// under which management-API quota.
#[derive(Clone, Copy)]
struct Stream {
    rate: u64,
    seconds: u64,
    quota: u32,
}

async fn costs(write: Option<&std::path::Path>) {
    let stack = Stack::start(chat_bench::costs::stack_options())
        .await
        .expect("stack");
    let app = apps::create_app(&stack.state.db, None, "costs")
        .await
        .expect("app");
    let table = chat_bench::costs::table(&stack, app)
        .await
        .expect("every operation succeeds");
    print!("{table}");
    if let Some(path) = write {
        let readme = std::fs::read_to_string(path).expect("the file is readable");
        let updated =
            chat_bench::costs::splice(&readme, &table).expect("the file has the costs markers");
        std::fs::write(path, updated).expect("the file is written");
        eprintln!("wrote the table into {}", path.display());
    }
}

/// Screening time of a `chars`-character message (mixed scripts, accents,
/// full-width letters) against one list of `words` words: the median and
/// the slowest of `runs` screens, after one to warm up.
fn blocklist(words: usize, chars: usize, runs: usize) -> serde_json::Value {
    use chat_shared::blocklists::{Blocklist, BlocklistAction, Screener};
    // Deterministic words of 5 to 12 letters that the message never holds.
    let mut seed = 0x2545_f491_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let list = Blocklist {
        name: "bench".into(),
        action: BlocklistAction::Block,
        words: (0..words)
            .map(|_| {
                let len = 5 + (next() % 8) as usize;
                (0..len)
                    .map(|_| (b'q' + (next() % 10) as u8) as char)
                    .collect()
            })
            .collect(),
        patterns: Vec::new(),
    };
    let screener = Screener::new(std::slice::from_ref(&list)).expect("the list compiles");
    let sample = "Ça va? Ｆｕｌｌ width, ελληνικά, кириллица, emoji 🎉 and plain words. ";
    let text: String = sample.chars().cycle().take(chars).collect();
    let mut times = Vec::with_capacity(runs);
    for run in 0..=runs {
        let started = Instant::now();
        let screened = screener.screen(&text);
        let took = started.elapsed();
        assert!(screened.is_ok(), "the benchmark's words never match");
        if run > 0 {
            times.push(took.as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    serde_json::json!({
        "words": words,
        "chars": chars,
        "runs": runs,
        "median_us": times[times.len() / 2].round(),
        "max_us": times[times.len() - 1].round(),
    })
}

#[tokio::main]
async fn main() {
    chat_shared::outbound::install_tls_provider();
    let args = Args::parse();
    // The server's own logs, when asked (RUST_LOG=info chat-bench ...).
    if std::env::var_os("RUST_LOG").is_some() {
        chat_shared::telemetry::init();
    }
    if let Command::Costs { write } = &args.command {
        costs(write.as_deref()).await;
        return;
    }
    if let Command::Ceiling { write } = &args.command {
        let table = chat_bench::ceiling::table();
        print!("{table}");
        if let Some(path) = write {
            let text = std::fs::read_to_string(path).expect("the file is readable");
            let updated = chat_bench::ceiling::splice(&text, &table)
                .expect("the file has the ceiling markers");
            std::fs::write(path, updated).expect("the file is written");
            eprintln!("wrote the table into {}", path.display());
        }
        return;
    }
    if let Command::Clients { plan } = &args.command {
        clients(plan).await;
        return;
    }
    if let Command::Relay { link } = &args.command {
        relay(link).await;
        return;
    }
    let result = match args.command {
        Command::Load {
            clients,
            channels,
            rate,
            seconds,
            lambdas,
            count_requests,
            max_instances,
        } => {
            load(
                clients,
                channels.max(1),
                rate.max(1),
                seconds,
                lambdas,
                count_requests,
                max_instances,
            )
            .await
        }
        Command::Fanout {
            connections,
            post_delay_ms,
            concurrency,
            sends,
            rate,
            seconds,
            quota,
            lambdas,
            per_process,
        } => {
            let stream = Stream {
                rate,
                seconds,
                quota,
            };
            fanout(
                connections,
                post_delay_ms,
                concurrency.max(1),
                sends.max(1),
                stream,
                lambdas,
                per_process.max(1),
            )
            .await
        }
        Command::Blocklist { words, chars, runs } => blocklist(words, chars, runs.max(1)),
        Command::Costs { .. }
        | Command::Clients { .. }
        | Command::Relay { .. }
        | Command::Ceiling { .. } => return,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    if let Err(err) = std::fs::write(
        &args.json,
        serde_json::to_vec_pretty(&result).unwrap_or_default(),
    ) {
        eprintln!("could not write {}: {err}", args.json);
    }
}
