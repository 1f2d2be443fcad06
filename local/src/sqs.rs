//! The local SQS: standard queues in memory, served over SQS's own wire
//! protocol (AWS JSON 1.0: `POST /` with `X-Amz-Target: AmazonSQS.<Action>`),
//! so the functions and the local event source mapping talk to it through
//! the real `aws-sdk-sqs` client, as they do to SQS.
//!
//! What it keeps of SQS's behaviour: `DelaySeconds` (0 to 900) hides a
//! message until it is due; a received message is hidden for the queue's
//! visibility timeout and comes back unless deleted; `ReceiveMessage` long
//! polls (answers as soon as a message is visible, or after
//! `WaitTimeSeconds`); `ApproximateReceiveCount` counts receives. Messages
//! live as long as the process (the local stream mapping also starts at the
//! stream's end). Each action is counted, for the cost table.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use md5::Digest;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// SQS's longest delay.
const MAX_DELAY_SECS: i64 = 900;
/// SQS's longest long poll.
const MAX_WAIT_SECS: i64 = 20;
/// The account id in queue URLs and ARNs.
const ACCOUNT: &str = "000000000000";

struct Message {
    id: String,
    body: String,
    md5: String,
    sent_ms: i64,
    visible_at: Instant,
    /// The handle of the latest receive; a delete must name it.
    receipt: Option<String>,
    receives: u32,
}

struct Queue {
    visibility: Duration,
    messages: Vec<Message>,
    arrived: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    queues: HashMap<String, Queue>,
    /// Requests by action.
    asked: BTreeMap<String, u64>,
    /// Requests SQS bills: all but receives that found nothing (the event
    /// source's idle long polls), and the sends among them.
    billed: u64,
    sends: u64,
    /// Sends are refused (500) while set: a fault for tests.
    refusing_sends: bool,
    refused: u64,
}

/// The emulator: its queues, and the requests it was asked.
#[derive(Clone)]
pub struct Sqs {
    base: String,
    inner: Arc<Mutex<Inner>>,
}

/// An SQS error: its `__type` (the shape name) and its query-protocol code.
struct SqsError {
    shape: &'static str,
    code: &'static str,
    message: String,
}

impl SqsError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            shape: "InvalidParameterValue",
            code: "InvalidParameterValue",
            message: message.into(),
        }
    }

    fn no_queue() -> Self {
        Self {
            shape: "QueueDoesNotExist",
            code: "AWS.SimpleQueueService.NonExistentQueue",
            message: "The specified queue does not exist.".into(),
        }
    }
}

impl IntoResponse for SqsError {
    fn into_response(self) -> Response {
        let status = if self.shape == "InternalError" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = json!({
            "__type": format!("com.amazonaws.sqs#{}", self.shape),
            "message": self.message,
        });
        (
            status,
            [
                ("content-type", "application/x-amz-json-1.0".to_string()),
                ("x-amzn-query-error", format!("{};Sender", self.code)),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

fn md5_hex(text: &str) -> String {
    md5::Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message_body: String,
    #[serde(default)]
    delay_seconds: Option<i64>,
    #[serde(default)]
    receipt_handle: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request {
    #[serde(default)]
    queue_url: String,
    #[serde(default)]
    queue_name: String,
    #[serde(default)]
    attributes: HashMap<String, String>,
    #[serde(flatten)]
    entry: Entry,
    #[serde(default)]
    entries: Vec<Entry>,
    #[serde(default)]
    max_number_of_messages: Option<i64>,
    #[serde(default)]
    wait_time_seconds: Option<i64>,
    #[serde(default)]
    visibility_timeout: Option<i64>,
}

impl Sqs {
    /// Serves SQS on `listener` until `stop` resolves.
    pub fn serve(
        listener: TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<Self> {
        let sqs = Self {
            base: format!("http://{}", listener.local_addr()?),
            inner: Arc::default(),
        };
        let router = Router::new()
            .route("/", axum::routing::post(answer))
            .with_state(sqs.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %err, "the SQS emulator stopped");
            }
        });
        Ok(sqs)
    }

    /// The endpoint the SDK clients are pointed at.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Requests so far, by action (`SendMessage`, `ReceiveMessage`, ...).
    pub fn asked(&self) -> BTreeMap<String, u64> {
        self.lock().asked.clone()
    }

    /// Messages in every queue, due or not, received or not.
    pub fn pending(&self) -> usize {
        self.lock().queues.values().map(|q| q.messages.len()).sum()
    }

    /// The requests SQS would bill so far, and the sends among them.
    pub fn billed(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.billed, inner.sends)
    }

    /// Refuses every send with a 500 from now on (`true`) or no more.
    pub fn refuse_sends(&self, refuse: bool) {
        self.lock().refusing_sends = refuse;
    }

    /// Sends refused so far.
    pub fn refused(&self) -> u64 {
        self.lock().refused
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue_url(&self, name: &str) -> String {
        format!("{}/{ACCOUNT}/{name}", self.base)
    }

    /// The queue a URL names (its last segment).
    fn name_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap_or_default()
    }

    fn create(&self, request: &Request) -> Result<Value, SqsError> {
        let name = &request.queue_name;
        if name.is_empty()
            || name.len() > 80
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SqsError::invalid(format!("bad queue name {name:?}")));
        }
        let visibility = match request.attributes.get("VisibilityTimeout") {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|v| *v <= 43_200)
                .ok_or_else(|| SqsError::invalid("VisibilityTimeout is 0 to 43200"))?,
            None => 30,
        };
        self.lock().queues.entry(name.clone()).or_insert(Queue {
            visibility: Duration::from_secs(visibility),
            messages: Vec::new(),
            arrived: Arc::default(),
        });
        Ok(json!({"QueueUrl": self.queue_url(name)}))
    }

    fn send(&self, url: &str, entries: &[&Entry]) -> Result<Vec<Value>, SqsError> {
        for entry in entries {
            let delay = entry.delay_seconds.unwrap_or(0);
            if !(0..=MAX_DELAY_SECS).contains(&delay) {
                return Err(SqsError::invalid(format!(
                    "DelaySeconds must be 0 to {MAX_DELAY_SECS}, not {delay}"
                )));
            }
            if entry.message_body.is_empty() || entry.message_body.len() > 1024 * 1024 {
                return Err(SqsError::invalid("MessageBody must be 1 byte to 1 MiB"));
            }
        }
        let mut inner = self.lock();
        if inner.refusing_sends {
            inner.refused += 1;
            return Err(SqsError {
                shape: "InternalError",
                code: "InternalError",
                message: "refused for a test".into(),
            });
        }
        let queue = inner
            .queues
            .get_mut(Self::name_of(url))
            .ok_or_else(SqsError::no_queue)?;
        let now = Instant::now();
        let mut sent = Vec::new();
        for entry in entries {
            let delay = Duration::from_secs(entry.delay_seconds.unwrap_or(0).unsigned_abs());
            let message = Message {
                id: new_id(),
                md5: md5_hex(&entry.message_body),
                body: entry.message_body.clone(),
                sent_ms: chat_shared::time::now_millis(),
                visible_at: now + delay,
                receipt: None,
                receives: 0,
            };
            sent.push(json!({
                "Id": entry.id,
                "MessageId": message.id,
                "MD5OfMessageBody": message.md5,
            }));
            queue.messages.push(message);
        }
        queue.arrived.notify_waiters();
        Ok(sent)
    }

    /// Takes up to `max` visible messages, hiding each for `visibility`.
    fn take(&self, url: &str, max: usize, visibility: Option<Duration>) -> Result<Taken, SqsError> {
        let mut inner = self.lock();
        let queue = inner
            .queues
            .get_mut(Self::name_of(url))
            .ok_or_else(SqsError::no_queue)?;
        let now = Instant::now();
        let hide = visibility.unwrap_or(queue.visibility);
        let mut taken = Vec::new();
        for message in queue.messages.iter_mut() {
            if taken.len() >= max {
                break;
            }
            if message.visible_at > now {
                continue;
            }
            message.visible_at = now + hide;
            message.receives += 1;
            let receipt = new_id();
            message.receipt = Some(receipt.clone());
            taken.push(json!({
                "MessageId": message.id,
                "ReceiptHandle": receipt,
                "MD5OfBody": message.md5,
                "Body": message.body,
                "Attributes": {
                    "ApproximateReceiveCount": message.receives.to_string(),
                    "SentTimestamp": message.sent_ms.to_string(),
                },
            }));
        }
        let next_visible = queue.messages.iter().map(|m| m.visible_at).min();
        Ok(Taken {
            messages: taken,
            next_visible,
            arrived: queue.arrived.clone(),
        })
    }

    async fn receive(&self, request: &Request) -> Result<Value, SqsError> {
        let max = request.max_number_of_messages.unwrap_or(1);
        if !(1..=10).contains(&max) {
            return Err(SqsError::invalid("MaxNumberOfMessages is 1 to 10"));
        }
        let wait = request.wait_time_seconds.unwrap_or(0);
        if !(0..=MAX_WAIT_SECS).contains(&wait) {
            return Err(SqsError::invalid("WaitTimeSeconds is 0 to 20"));
        }
        let visibility = request
            .visibility_timeout
            .map(|v| Duration::from_secs(v.max(0).unsigned_abs()));
        let deadline = Instant::now() + Duration::from_secs(wait.unsigned_abs());
        loop {
            let taken = self.take(&request.queue_url, max.unsigned_abs() as usize, visibility)?;
            // Registered before the wait, so a send after `take` wakes it.
            let arrived = taken.arrived.notified();
            if !taken.messages.is_empty() || Instant::now() >= deadline {
                return Ok(json!({"Messages": taken.messages}));
            }
            let until = taken
                .next_visible
                .map_or(deadline, |next| next.min(deadline));
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    /// Deletes the message a receipt names; a stale receipt is ignored, as
    /// SQS does for a message already gone.
    fn delete(&self, url: &str, receipt: &str) -> Result<(), SqsError> {
        let mut inner = self.lock();
        let queue = inner
            .queues
            .get_mut(Self::name_of(url))
            .ok_or_else(SqsError::no_queue)?;
        if receipt.is_empty() {
            return Err(SqsError {
                shape: "ReceiptHandleIsInvalid",
                code: "ReceiptHandleIsInvalid",
                message: "The receipt handle is empty.".into(),
            });
        }
        queue
            .messages
            .retain(|m| m.receipt.as_deref() != Some(receipt));
        Ok(())
    }

    async fn act(&self, action: &str, request: Request) -> Result<Value, SqsError> {
        match action {
            "CreateQueue" => self.create(&request),
            "GetQueueUrl" => {
                if self.lock().queues.contains_key(&request.queue_name) {
                    Ok(json!({"QueueUrl": self.queue_url(&request.queue_name)}))
                } else {
                    Err(SqsError::no_queue())
                }
            }
            "SendMessage" => {
                let mut sent = self.send(&request.queue_url, &[&request.entry])?;
                let mut one = sent.pop().unwrap_or_default();
                if let Some(fields) = one.as_object_mut() {
                    fields.remove("Id");
                }
                Ok(one)
            }
            "SendMessageBatch" => {
                check_batch(&request.entries)?;
                let entries: Vec<&Entry> = request.entries.iter().collect();
                let sent = self.send(&request.queue_url, &entries)?;
                Ok(json!({"Successful": sent, "Failed": []}))
            }
            "ReceiveMessage" => self.receive(&request).await,
            "DeleteMessage" => {
                self.delete(&request.queue_url, &request.entry.receipt_handle)?;
                Ok(json!({}))
            }
            "DeleteMessageBatch" => {
                check_batch(&request.entries)?;
                let mut done = Vec::new();
                for entry in &request.entries {
                    self.delete(&request.queue_url, &entry.receipt_handle)?;
                    done.push(json!({"Id": entry.id}));
                }
                Ok(json!({"Successful": done, "Failed": []}))
            }
            other => Err(SqsError {
                shape: "UnsupportedOperation",
                code: "AWS.SimpleQueueService.UnsupportedOperation",
                message: format!("{other} is not emulated"),
            }),
        }
    }
}

struct Taken {
    messages: Vec<Value>,
    next_visible: Option<Instant>,
    arrived: Arc<Notify>,
}

/// A batch has 1 to 10 entries with distinct ids.
fn check_batch(entries: &[Entry]) -> Result<(), SqsError> {
    if entries.is_empty() || entries.len() > 10 {
        return Err(SqsError {
            shape: "EmptyBatchRequest",
            code: "AWS.SimpleQueueService.EmptyBatchRequest",
            message: "a batch has 1 to 10 entries".into(),
        });
    }
    let ids: std::collections::HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    if ids.len() != entries.len() {
        return Err(SqsError {
            shape: "BatchEntryIdsNotDistinct",
            code: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            message: "two entries share an id".into(),
        });
    }
    Ok(())
}

async fn answer(State(sqs): State<Sqs>, headers: HeaderMap, body: String) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(action) = target.strip_prefix("AmazonSQS.") else {
        return SqsError::invalid(format!("unknown target {target:?}")).into_response();
    };
    *sqs.lock().asked.entry(action.to_string()).or_default() += 1;
    let request: Request = match serde_json::from_str(&body) {
        Ok(request) => request,
        Err(err) => return SqsError::invalid(err.to_string()).into_response(),
    };
    let answer = sqs.act(action, request).await;
    let idle = answer
        .as_ref()
        .is_ok_and(|v| v["Messages"].as_array().is_some_and(Vec::is_empty));
    if !idle && !matches!(action, "CreateQueue" | "GetQueueUrl") {
        let mut inner = sqs.lock();
        inner.billed += 1;
        if action.starts_with("SendMessage") {
            inner.sends += 1;
        }
    }
    match answer {
        Ok(value) => (
            [("content-type", "application/x-amz-json-1.0")],
            value.to_string(),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_sqs::config::{Credentials, Region};

    async fn client() -> (Sqs, aws_sdk_sqs::Client, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sqs = Sqs::serve(listener, std::future::pending()).unwrap();
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .endpoint_url(sqs.url())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "test"))
            .build();
        let client = aws_sdk_sqs::Client::from_conf(config);
        let url = client
            .create_queue()
            .queue_name("jobs")
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "1",
            )
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        (sqs, client, url)
    }

    /// Through the real SDK: a delayed message is hidden until due, a long
    /// poll answers when it is, a received message comes back after the
    /// visibility timeout unless deleted.
    #[tokio::test]
    async fn delays_long_polls_and_hides_what_was_received() {
        let (sqs, client, url) = client().await;
        let sent = client
            .send_message()
            .queue_url(&url)
            .message_body("later")
            .delay_seconds(1)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.md5_of_message_body(), Some(md5_hex("later").as_str()));
        client
            .send_message()
            .queue_url(&url)
            .message_body("now")
            .send()
            .await
            .unwrap();
        let first = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let bodies: Vec<&str> = first.messages().iter().filter_map(|m| m.body()).collect();
        assert_eq!(bodies, ["now"]);
        let started = Instant::now();
        let second = client
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(5)
            .send()
            .await
            .unwrap();
        let waited = started.elapsed();
        assert_eq!(second.messages()[0].body(), Some("later"));
        assert!(waited < Duration::from_secs(2), "waited {waited:?}");
        // "later" is deleted; "now" was not, and is back after 1 s.
        client
            .delete_message()
            .queue_url(&url)
            .receipt_handle(second.messages()[0].receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
        let again = client
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(3)
            .send()
            .await
            .unwrap();
        assert_eq!(again.messages()[0].body(), Some("now"));
        let count = again.messages()[0]
            .attributes()
            .unwrap()
            .get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount);
        assert_eq!(count.map(String::as_str), Some("2"));
        assert_eq!(sqs.asked()["ReceiveMessage"], 3);
    }

    /// Bad input is SQS's error, which the SDK reads as its typed error.
    #[tokio::test]
    async fn refuses_what_sqs_refuses() {
        let (_sqs, client, url) = client().await;
        let err = client
            .send_message()
            .queue_url(&url)
            .message_body("x")
            .delay_seconds(901)
            .send()
            .await
            .unwrap_err();
        assert!(format!("{err:?}").contains("DelaySeconds"), "{err:?}");
        let err = client
            .send_message()
            .queue_url(format!(
                "{}/{ACCOUNT}/nope",
                url.rsplit_once('/').unwrap().0
            ))
            .message_body("x")
            .send()
            .await
            .unwrap_err();
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()),
            "{err:?}"
        );
        let batch = client
            .send_message_batch()
            .queue_url(&url)
            .entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id("a")
                    .message_body("one")
                    .build()
                    .unwrap(),
            )
            .entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id("b")
                    .message_body("two")
                    .delay_seconds(900)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(batch.successful().len(), 2);
    }
}
