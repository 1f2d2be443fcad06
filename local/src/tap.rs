//! A tap in front of the DynamoDB emulator: a loopback HTTP proxy that logs
//! every request it passes (operation and time) and, when told to, answers
//! some of them with the errors DynamoDB itself returns under stress
//! (throttling, 500), so tests see what the SDK's retries do with them.
//! Off by default: the plain stack talks to dynoxide directly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;

/// What to do to the requests the tap passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Faults {
    /// Pass everything.
    #[default]
    None,
    /// Every `n`-th operation (counted by the SDK's invocation id, from the
    /// first) fails its first two attempts, in turn with
    /// `ThrottlingException`, `ProvisionedThroughputExceededException` and a
    /// 500 `InternalServerError`, and goes through on the third. Failed
    /// attempts never reach the table. Deterministic whatever the
    /// concurrency: no operation fails more than twice.
    EveryNth(u64),
    /// Every attempt fails (throttles and 500s in turn): DynamoDB unavailable.
    Always,
    /// Every `n`-th `TransactWriteItems` is applied, then its answer is lost
    /// (a 500 comes back instead), the ambiguous failure a client meets when
    /// a connection drops after the write.
    LoseEveryNthTransactionReply(u64),
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub operation: String,
    pub at: Instant,
    /// The access key id the request was signed with: which process asked,
    /// when several share the emulator.
    pub access_key: String,
    /// The names of the request's headers, lower case.
    pub headers: Vec<String>,
}

struct Inner {
    target: String,
    client: reqwest::Client,
    faults: Mutex<Faults>,
    seen: Mutex<Vec<Seen>>,
    count: AtomicU64,
    operations: AtomicU64,
    /// Invocation ids chosen to fail their first attempts.
    doomed: Mutex<std::collections::HashSet<String>>,
    transactions: AtomicU64,
    failed: AtomicU64,
}

/// A running tap; clones share it.
#[derive(Clone)]
pub struct Tap {
    inner: Arc<Inner>,
}

impl Tap {
    /// Serves the tap on `listener`, forwarding to `target` (`http://host:port`).
    pub fn serve(
        listener: TcpListener,
        target: String,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        let tap = Self {
            inner: Arc::new(Inner {
                target,
                client: reqwest::Client::new(),
                faults: Mutex::new(Faults::None),
                seen: Mutex::new(Vec::new()),
                count: AtomicU64::new(0),
                operations: AtomicU64::new(0),
                doomed: Mutex::new(std::collections::HashSet::new()),
                transactions: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        };
        let app = Router::new().fallback(forward).with_state(tap.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %err, "DynamoDB tap stopped");
            }
        });
        tap
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.inner.faults) = faults;
    }

    /// Every request that reached the tap, failed ones included, in order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.inner.seen).clone()
    }

    /// Requests answered with an injected error.
    pub fn failed(&self) -> u64 {
        self.inner.failed.load(Ordering::SeqCst)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn dynamo_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

async fn forward(State(tap): State<Tap>, headers: HeaderMap, body: Bytes) -> Response {
    let inner = &tap.inner;
    let operation = headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("unknown")
        .to_string();
    let n = inner.count.fetch_add(1, Ordering::SeqCst) + 1;
    // `AWS4-HMAC-SHA256 Credential=KEY/20261206/us-east-1/dynamodb/aws4_request, ...`
    let access_key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split('/').next())
        .unwrap_or_default()
        .to_string();
    lock(&inner.seen).push(Seen {
        operation: operation.clone(),
        at: Instant::now(),
        access_key,
        headers: headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .collect(),
    });
    let faults = *lock(&inner.faults);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    // `amz-sdk-request: attempt=2; max=5`
    let attempt: u64 = header("amz-sdk-request")
        .split(';')
        .find_map(|part| part.trim().strip_prefix("attempt="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let fail = match faults {
        Faults::Always => true,
        Faults::EveryNth(every) if every > 0 => {
            let invocation = header("amz-sdk-invocation-id");
            let mut doomed = lock(&inner.doomed);
            if attempt == 1 && (inner.operations.fetch_add(1, Ordering::SeqCst) + 1) % every == 0 {
                doomed.insert(invocation.clone());
            }
            attempt <= 2 && doomed.contains(&invocation)
        }
        _ => false,
    };
    if fail {
        inner.failed.fetch_add(1, Ordering::SeqCst);
        return match n % 3 {
            0 => dynamo_error(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ),
            1 => dynamo_error(
                StatusCode::BAD_REQUEST,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            _ => dynamo_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Internal server error",
            ),
        };
    }
    let mut request = inner.client.post(&inner.target).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => {
            return dynamo_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                &format!("tap could not reach the emulator: {err}"),
            )
        }
    };
    if let Faults::LoseEveryNthTransactionReply(every) = faults {
        if operation == "TransactWriteItems" {
            let t = inner.transactions.fetch_add(1, Ordering::SeqCst) + 1;
            if every > 0 && t % every == 0 {
                inner.failed.fetch_add(1, Ordering::SeqCst);
                return dynamo_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "Internal server error",
                );
            }
        }
    }
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = response.headers().clone();
    out.remove("content-length");
    out.remove("transfer-encoding");
    match response.bytes().await {
        Ok(bytes) => (status, out, bytes).into_response(),
        Err(err) => dynamo_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            &format!("tap lost the emulator's answer: {err}"),
        ),
    }
}
