//! A function's processes and the local Lambda Runtime API they poll:
//! invocations queue per function, the process that became idle last takes
//! the next, and its answer (or error) goes back to whoever invoked it. CPU
//! per process is read from /proc.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};

use super::{LambdaError, INVOCATION_TIMEOUT};

pub(super) type Pending = (Value, oneshot::Sender<Result<Value, String>>);

/// How to start one more process of a function.
pub(super) struct Launcher {
    pub(super) path: PathBuf,
    pub(super) runtime_api: String,
    pub(super) logical: String,
    pub(super) vars: Vec<(String, String)>,
    pub(super) logs: bool,
}

impl Function {
    /// Serves this function's Runtime API on `listener` and starts
    /// `instances` processes polling it.
    pub(super) fn start(
        listener: tokio::net::TcpListener,
        launcher: Launcher,
        instances: usize,
        max_instances: usize,
    ) -> Result<Self, LambdaError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let runtime = Arc::new(Runtime {
            idle: Mutex::new(Vec::new()),
            became_idle: Notify::new(),
            closed: AtomicBool::new(false),
            waiting: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        tokio::spawn(dispatch(runtime.clone(), rx));
        let api = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(runtime);
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, api).await {
                tracing::error!(error = %err, "a local Runtime API stopped");
            }
        });
        let mut children = Vec::new();
        for _ in 0..instances {
            children.push(launcher.spawn()?);
        }
        Ok(Function {
            name: launcher.logical.clone(),
            queue: tx,
            children: Mutex::new(children),
            launcher,
            busy: AtomicUsize::new(0),
            max_instances,
        })
    }
}

impl Launcher {
    fn spawn(&self) -> Result<Child, LambdaError> {
        Command::new(&self.path)
            .env("AWS_LAMBDA_RUNTIME_API", &self.runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.logical)
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if self.logs {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(|e| LambdaError::Spawn(self.path.clone(), e))
    }
}

/// A function: its processes, polling one local Runtime API. Like Lambda,
/// it starts another process when every one is busy, up to its limit.
pub struct Function {
    name: String,
    queue: mpsc::UnboundedSender<Pending>,
    children: Mutex<Vec<Child>>,
    launcher: Launcher,
    /// Invocations in flight.
    busy: AtomicUsize,
    max_instances: usize,
}

pub(super) struct Runtime {
    /// Processes waiting in `next`, the one idle longest first.
    idle: Mutex<Vec<oneshot::Sender<Pending>>>,
    became_idle: Notify,
    /// The function is gone: `next` answers 410.
    closed: AtomicBool,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>,
    next_id: AtomicU64,
}

impl Function {
    /// Invokes the function with an event and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        let busy = self.busy.fetch_add(1, Ordering::SeqCst) + 1;
        let answer = self.invoke_one(event, busy).await;
        self.busy.fetch_sub(1, Ordering::SeqCst);
        answer
    }

    async fn invoke_one(&self, event: Value, busy: usize) -> Result<Value, String> {
        {
            let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
            if busy > children.len() && children.len() < self.max_instances {
                match self.launcher.spawn() {
                    Ok(child) => children.push(child),
                    Err(err) => tracing::warn!(error = %err, "could not start another process"),
                }
            }
        }
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((event, tx))
            .map_err(|_| format!("{} is not running", self.name))?;
        match tokio::time::timeout(INVOCATION_TIMEOUT, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(format!("{} dropped the invocation", self.name)),
            Err(_) => Err(format!("{} timed out", self.name)),
        }
    }
}

impl Function {
    /// CPU time (user and system, ms) its processes have used so far, from
    /// `/proc/{pid}/stat`: what Lambda bills as duration is at least this.
    pub fn cpu_ms(&self) -> f64 {
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|child| process_cpu_ms(child.id()))
            .sum()
    }
}

/// CPU time (ms) of a process, 0 where `/proc` is not there.
pub fn process_cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    cpu_ms_of_stat(&stat)
}

/// utime + stime of a `/proc/.../stat` line, in ms: the 12th and 13th
/// fields after the `)` that closes the name; USER_HZ is 100 on Linux.
pub fn cpu_ms_of_stat(stat: &str) -> f64 {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks as f64 * 10.0
}

impl Drop for Function {
    fn drop(&mut self) {
        for child in self
            .children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Hands each invocation to the process that became idle last: the others
/// stay idle, as Lambda's spare environments do, instead of taking turns
/// (on 2 cores, work spread over 8 processes costs a fifth more CPU than
/// over the 2 it needs, which Lambda's own environments, each with its own
/// CPU, never pay).
async fn dispatch(runtime: Arc<Runtime>, mut queue: mpsc::UnboundedReceiver<Pending>) {
    while let Some(mut pending) = queue.recv().await {
        loop {
            let last = runtime.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(process) = last else {
                runtime.became_idle.notified().await;
                continue;
            };
            // A process whose `next` request was dropped: the one before it.
            match process.send(pending) {
                Ok(()) => break,
                Err(back) => pending = back,
            }
        }
    }
    let mut idle = runtime.idle.lock().unwrap_or_else(|e| e.into_inner());
    runtime.closed.store(true, Ordering::SeqCst);
    idle.clear();
}

async fn next(State(runtime): State<Arc<Runtime>>) -> Response {
    let (tx, rx) = oneshot::channel();
    {
        let mut idle = runtime.idle.lock().unwrap_or_else(|e| e.into_inner());
        if runtime.closed.load(Ordering::SeqCst) {
            return StatusCode::GONE.into_response();
        }
        idle.push(tx);
    }
    runtime.became_idle.notify_one();
    let Ok((event, reply)) = rx.await else {
        return StatusCode::GONE.into_response();
    };
    let id = format!("local-{}", runtime.next_id.fetch_add(1, Ordering::Relaxed));
    runtime
        .waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), reply);
    let deadline = chat_shared::time::now_millis() + INVOCATION_TIMEOUT.as_millis() as i64;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:local".to_string(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_string(),
        ),
        ("content-type", "application/json".to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, event.to_string()).into_response()
}

fn finish(runtime: &Runtime, id: &str, answer: Result<Value, String>) -> StatusCode {
    let reply = runtime
        .waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match reply {
        Some(reply) => {
            let _ = reply.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn respond(
    State(runtime): State<Arc<Runtime>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let answer = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"));
    finish(&runtime, &id, answer)
}

async fn fail(
    State(runtime): State<Arc<Runtime>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(
        &runtime,
        &id,
        Err(String::from_utf8_lossy(&body).into_owned()),
    )
}

async fn init_error(body: Bytes) -> StatusCode {
    tracing::error!(error = %String::from_utf8_lossy(&body), "a function failed its init");
    StatusCode::ACCEPTED
}
