//! The local event source mappings: what Lambda does for each function with
//! a `Type: DynamoDB` event. Each mapping reads the outbox table's stream from
//! the emulator through the real DynamoDB Streams protocol (dynoxide serves
//! it) with its own iterator, keeps the records its filter lets through
//! (inserts of keys with its prefix: fan-out jobs, webhook jobs), and hands
//! them, in order and in batches, to the very same handler as a Lambda
//! DynamoDB event: in this process, or to the function's own process in the
//! faithful mode. A batch reported as partly failed is run
//! again from the first failed record after a pause, as Lambda does with
//! `ReportBatchItemFailures`, up to [`MAX_RETRIES`] times.
//!
//! It starts at the stream's end (`LATEST`, as the template says): jobs
//! written while the server was stopped are not delivered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::config::{Credentials, Region};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use chat_shared::keys::{ERASE_PREFIX, FANOUT_PREFIX, PUSH_PREFIX, WEBHOOK_PREFIX};
use chat_shared::AppState;
use tokio::sync::watch;

use crate::lambdas::Function;

/// Records per invocation (the template's `BatchSize`).
const BATCH_SIZE: usize = 10;
/// Runs of a failing batch after the first (`MaximumRetryAttempts`).
const MAX_RETRIES: u32 = 5;
/// How often an idle stream is read again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// How many times the mappings have invoked their functions: what Lambda
/// bills as requests for this path (the cost table prices them).
#[derive(Clone, Default)]
pub struct Invocations(Arc<AtomicU64>);

impl Invocations {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Who handles the records.
#[derive(Clone)]
pub enum Consumer {
    /// `fanout::handle` in this process.
    Fanout(Box<AppState>),
    /// `notify::handle` in this process (webhooks and pushes).
    Notify(Box<AppState>),
    /// `erasure::handle` in this process (slices of erasing a user).
    Erase(Box<AppState>),
    /// The function's own process, through the local Runtime API.
    Process(Arc<Function>),
}

/// One event source mapping: the key prefixes its filters pass, and who
/// handles what passes.
#[derive(Clone)]
pub struct Mapping {
    pub prefixes: Vec<String>,
    pub consumer: Consumer,
}

impl Mapping {
    /// The template's three mappings, handled in this process.
    pub fn in_process(state: &AppState) -> Vec<Mapping> {
        vec![
            Mapping {
                prefixes: vec![FANOUT_PREFIX.into()],
                consumer: Consumer::Fanout(Box::new(state.clone())),
            },
            Mapping {
                prefixes: vec![WEBHOOK_PREFIX.into(), PUSH_PREFIX.into()],
                consumer: Consumer::Notify(Box::new(state.clone())),
            },
            Mapping {
                prefixes: vec![ERASE_PREFIX.into()],
                consumer: Consumer::Erase(Box::new(state.clone())),
            },
        ]
    }
}

impl Consumer {
    async fn invoke(&self, event: Event) -> Result<DynamoDbEventResponse, String> {
        match self {
            Consumer::Fanout(state) => {
                Ok(chat_shared::realtime::fanout::handle(state, event).await)
            }
            Consumer::Notify(state) => Ok(chat_shared::notify::handle(state, event).await),
            Consumer::Erase(state) => Ok(chat_shared::erasure::handle(state, event).await),
            Consumer::Process(function) => {
                let event = serde_json::to_value(&event).map_err(|e| e.to_string())?;
                let answer = function.invoke(event).await?;
                serde_json::from_value(answer).map_err(|e| e.to_string())
            }
        }
    }
}

/// Starts each mapping reading the outbox stream; stops with `stop`. Every
/// invocation is counted in the answer.
pub async fn start(
    state: &AppState,
    dynamodb_url: &str,
    mappings: Vec<Mapping>,
    stop: watch::Receiver<bool>,
) -> Result<Invocations, String> {
    let stream_arn = state
        .db
        .outbox()
        .stream_arn()
        .await
        .map_err(|e| chat_shared::error::DisplayChain(&e).to_string())?;
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version_latest()
        .endpoint_url(dynamodb_url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "chat-local"))
        .build();
    let client = Client::from_conf(config);
    let described = client
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .map_err(|e| format!("DescribeStream: {}", chat_shared::error::DisplayChain(&e)))?;
    let shards: Vec<String> = described
        .stream_description()
        .map(|d| {
            d.shards()
                .iter()
                .filter_map(|s| s.shard_id().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let pairs: Vec<(Mapping, String)> = mappings
        .iter()
        .flat_map(|m| shards.iter().map(|shard| (m.clone(), shard.clone())))
        .collect();
    let invocations = Invocations::default();
    for (mapping, shard) in pairs {
        let iterator = client
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await
            .map_err(|e| format!("GetShardIterator: {}", chat_shared::error::DisplayChain(&e)))?
            .shard_iterator
            .ok_or("no shard iterator")?;
        tokio::spawn(poll(
            client.clone(),
            stream_arn.clone(),
            iterator,
            mapping,
            invocations.clone(),
            stop.clone(),
        ));
    }
    Ok(invocations)
}

/// The template's filters, any of: `{"eventName": ["INSERT"], "dynamodb":
/// {"Keys": {"pk": {"S": [{"prefix": PREFIX}]}}}}`.
fn passes_filter(record: &Record, prefixes: &[String]) -> bool {
    let is_insert = record.event_name().is_some_and(|n| n.as_str() == "INSERT");
    let is_job = record
        .dynamodb()
        .and_then(|r| r.keys())
        .and_then(|k| k.get("pk"))
        .and_then(|pk| pk.as_s().ok())
        .is_some_and(|pk| prefixes.iter().any(|p| pk.starts_with(p.as_str())));
    is_insert && is_job
}

/// A stream record as Lambda's DynamoDB event carries it.
fn lambda_record(record: Record, stream_arn: &str) -> EventRecord {
    let mut out = EventRecord::default();
    out.event_id = record.event_id().unwrap_or_default().to_string();
    out.event_name = record
        .event_name()
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    out.event_source = Some("aws:dynamodb".into());
    out.event_version = record.event_version().map(str::to_string);
    out.aws_region = record.aws_region().unwrap_or("us-east-1").to_string();
    out.event_source_arn = Some(stream_arn.to_string());
    if let Some(change) = record.dynamodb {
        let mut image = StreamRecord::default();
        image.approximate_creation_date_time = change
            .approximate_creation_date_time
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
            .unwrap_or_default();
        image.keys = change.keys.unwrap_or_default().into();
        image.new_image = change.new_image.unwrap_or_default().into();
        image.old_image = change.old_image.unwrap_or_default().into();
        image.sequence_number = change.sequence_number;
        image.size_bytes = change.size_bytes.unwrap_or_default();
        image.stream_view_type = Some(StreamViewType::NewImage);
        out.change = image;
    }
    out
}

async fn poll(
    client: Client,
    stream_arn: String,
    mut iterator: String,
    mapping: Mapping,
    invocations: Invocations,
    mut stop: watch::Receiver<bool>,
) {
    let Mapping { prefixes, consumer } = mapping;
    let mut queue: VecDeque<EventRecord> = VecDeque::new();
    let mut retries = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        if queue.is_empty() {
            match client.get_records().shard_iterator(&iterator).send().await {
                Ok(out) => {
                    if let Some(next) = out.next_shard_iterator {
                        iterator = next;
                    }
                    queue.extend(
                        out.records
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|r| passes_filter(r, &prefixes))
                            .map(|r| lambda_record(r, &stream_arn)),
                    );
                }
                Err(err) => {
                    tracing::warn!(error = %chat_shared::error::DisplayChain(&err), "GetRecords failed");
                }
            }
            if queue.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(POLL_EVERY) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        }
        let batch: Vec<EventRecord> = queue.iter().take(BATCH_SIZE).cloned().collect();
        let sent = batch.len();
        let mut event = Event::default();
        event.records = batch;
        invocations.add();
        let first_failed = match consumer.invoke(event.clone()).await {
            Ok(response) => response
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .filter_map(|seq| {
                    event
                        .records
                        .iter()
                        .position(|r| r.change.sequence_number.as_deref() == Some(seq))
                })
                .min(),
            // The whole batch failed (the function errored or timed out).
            Err(err) => {
                tracing::warn!(error = %err, "the stream's function failed");
                Some(0)
            }
        };
        match first_failed {
            None => {
                queue.drain(..sent);
                retries = 0;
            }
            Some(index) => {
                queue.drain(..index);
                retries += 1;
                if retries > MAX_RETRIES {
                    tracing::error!("a stream record failed {MAX_RETRIES} retries; dropped");
                    queue.pop_front();
                    retries = 0;
                } else {
                    tokio::time::sleep(Duration::from_millis(100 << retries.min(5))).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(event: &str, pk: &str) -> Record {
        use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, StreamRecord};
        let keys = std::collections::HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk.into())),
            ("sk".to_string(), AttributeValue::S("e1#00".into())),
        ]);
        let mut image = keys.clone();
        image.insert("attempt".into(), AttributeValue::N("0".into()));
        Record::builder()
            .event_id("r1")
            .event_name(OperationType::from(event))
            .dynamodb(
                StreamRecord::builder()
                    .set_keys(Some(keys))
                    .set_new_image(Some(image))
                    .sequence_number("100000000000000000042")
                    .size_bytes(64)
                    .build(),
            )
            .build()
    }

    /// Only inserts of fan-out jobs pass; each becomes a Lambda record with
    /// its keys, image and sequence number, as Lambda would pass it.
    #[test]
    fn keeps_job_inserts_and_shapes_them_as_lambda_does() {
        let fanout = [FANOUT_PREFIX.to_string()];
        let notify = [WEBHOOK_PREFIX.to_string(), PUSH_PREFIX.to_string()];
        assert!(passes_filter(&record("INSERT", "FANOUT#a1#c1"), &fanout));
        assert!(!passes_filter(&record("REMOVE", "FANOUT#a1#c1"), &fanout));
        assert!(!passes_filter(&record("INSERT", "APP#a1#CH#c1"), &fanout));
        assert!(!passes_filter(&record("INSERT", "WEBHOOK#a1#e1"), &fanout));
        assert!(passes_filter(&record("INSERT", "WEBHOOK#a1#e1"), &notify));
        assert!(passes_filter(&record("INSERT", "PUSH#a1#c1"), &notify));
        assert!(!passes_filter(&record("INSERT", "DEADHOOK#a1"), &notify));
        let shaped = lambda_record(record("INSERT", "FANOUT#a1#c1"), "arn:stream");
        let json = serde_json::to_value(&shaped).unwrap();
        assert_eq!(json["eventName"], "INSERT");
        assert_eq!(json["eventSourceARN"], "arn:stream");
        assert_eq!(json["dynamodb"]["Keys"]["pk"]["S"], "FANOUT#a1#c1");
        assert_eq!(json["dynamodb"]["NewImage"]["attempt"]["N"], "0");
        assert_eq!(json["dynamodb"]["SequenceNumber"], "100000000000000000042");
        assert_eq!(json["dynamodb"]["StreamViewType"], "NEW_IMAGE");
        // What the fan-out function reads back is the same event.
        let back: EventRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back.change.new_image, shaped.change.new_image);
    }

    /// The filters here are the template's, word for word.
    #[test]
    fn filters_as_the_template_says() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
        )
        .unwrap();
        for prefix in [FANOUT_PREFIX, WEBHOOK_PREFIX, PUSH_PREFIX, ERASE_PREFIX] {
            let pattern = format!(
                r#"{{"eventName": ["INSERT"], "dynamodb": {{"Keys": {{"pk": {{"S": [{{"prefix": "{prefix}"}}]}}}}}}}}"#
            );
            assert!(text.contains(&pattern), "template filter is {pattern}");
        }
    }
}
