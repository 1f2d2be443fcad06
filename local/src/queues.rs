//! The local SQS event source mapping: what Lambda does for a function with
//! a `Type: SQS` event. Pollers long-poll the queue through the real SQS
//! protocol (the [`crate::sqs`] emulator serves it), hand each batch as a
//! Lambda SQS event to the very same handler (in this process, or to the
//! function's own process in the faithful mode), and delete what it did
//! not report as failed; a failed message comes back after the queue's
//! visibility timeout. Batches are invoked side by side (as Lambda scales an
//! SQS mapping's concurrency), so a batch that waits on a slow receiver
//! holds back no other batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::config::{Credentials, Region};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use aws_sdk_sqs::Client;
use chat_shared::AppState;
use tokio::sync::{watch, Semaphore};

use crate::lambdas::Function;
use crate::streams::Invocations;

/// Messages per invocation (the template's `BatchSize`).
const BATCH_SIZE: i32 = 10;
/// Long polls at once (Lambda starts an SQS mapping with five).
const POLLERS: usize = 5;
/// Batches in flight at once, over all pollers.
const MAX_IN_FLIGHT: usize = 64;
/// The long poll's wait.
const WAIT_SECS: i32 = 20;

/// Who handles the batches.
#[derive(Clone)]
pub enum Consumer {
    /// `notify::handle_due` in this process.
    InProcess(Box<AppState>),
    /// The function's own process, through the local Runtime API.
    Process(Arc<Function>),
}

impl Consumer {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        match self {
            Consumer::InProcess(state) => Ok(chat_shared::notify::handle_due(state, event).await),
            Consumer::Process(function) => {
                let event = serde_json::to_value(&event).map_err(|e| e.to_string())?;
                let answer = function.invoke(event).await?;
                serde_json::from_value(answer).map_err(|e| e.to_string())
            }
        }
    }
}

/// A client of the SQS emulator at `url`, as the mapping's pollers use.
pub fn client(url: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "chat-local"))
        .build();
    Client::from_conf(config)
}

/// Starts the pollers of `queue_url` for `consumer`; they stop with `stop`.
/// Each invocation is counted in `invocations`.
pub fn start(
    client: &Client,
    queue_url: &str,
    consumer: Consumer,
    invocations: Invocations,
    stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    for _ in 0..POLLERS {
        tokio::spawn(poll(
            client.clone(),
            queue_url.to_string(),
            consumer.clone(),
            invocations.clone(),
            slots.clone(),
            stop.clone(),
        ));
    }
}

/// A queue message as Lambda's SQS event carries it.
fn lambda_message(message: &Message, queue_arn: &str) -> SqsMessage {
    let mut out = SqsMessage::default();
    out.message_id = message.message_id.clone();
    out.receipt_handle = message.receipt_handle.clone();
    out.body = message.body.clone();
    out.md5_of_body = message.md5_of_body.clone();
    out.attributes = message
        .attributes
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
        .collect::<HashMap<_, _>>();
    out.event_source = Some("aws:sqs".into());
    out.event_source_arn = Some(queue_arn.to_string());
    out.aws_region = Some("us-east-1".into());
    out
}

/// `arn:aws:sqs:{region}:{account}:{name}` of a queue URL.
fn queue_arn(url: &str) -> String {
    let mut parts = url.rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    format!("arn:aws:sqs:us-east-1:{account}:{name}")
}

async fn poll(
    client: Client,
    queue_url: String,
    consumer: Consumer,
    invocations: Invocations,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let arn = queue_arn(&queue_url);
    loop {
        if *stop.borrow() {
            return;
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let received = tokio::select! {
            received = client
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(BATCH_SIZE)
                .wait_time_seconds(WAIT_SECS)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send() => received,
            _ = stop.changed() => return,
        };
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(err) => {
                tracing::warn!(error = %chat_shared::error::DisplayChain(&err), "ReceiveMessage failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| lambda_message(m, &arn)).collect();
        invocations.add();
        let (client, queue_url, consumer) = (client.clone(), queue_url.clone(), consumer.clone());
        tokio::spawn(async move {
            run(&client, &queue_url, &consumer, event, &messages).await;
            drop(slot);
        });
    }
}

/// Invokes the consumer with one batch and deletes what succeeded.
async fn run(
    client: &Client,
    queue_url: &str,
    consumer: &Consumer,
    event: SqsEvent,
    messages: &[Message],
) {
    let failed: Vec<String> = match consumer.invoke(event).await {
        Ok(response) => response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        // The whole batch failed: every message comes back.
        Err(err) => {
            tracing::warn!(error = %err, "the queue's function failed");
            return;
        }
    };
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.message_id.as_ref().is_some_and(|id| failed.contains(id)))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle.clone()?)
                .build()
                .ok()
        })
        .collect();
    if done.is_empty() {
        return;
    }
    if let Err(err) = client
        .delete_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(done))
        .send()
        .await
    {
        tracing::warn!(error = %chat_shared::error::DisplayChain(&err), "DeleteMessageBatch failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_shaped_as_lambda_passes_them() {
        let message = Message::builder()
            .message_id("m1")
            .receipt_handle("r1")
            .body("{}")
            .md5_of_body("99914b932bd37a50b983c5e7c90ae93b")
            .build();
        let arn = queue_arn("http://127.0.0.1:9/000000000000/chat-schedule");
        assert_eq!(arn, "arn:aws:sqs:us-east-1:000000000000:chat-schedule");
        let shaped = serde_json::to_value(lambda_message(&message, &arn)).unwrap_or_default();
        assert_eq!(shaped["messageId"], "m1");
        assert_eq!(shaped["receiptHandle"], "r1");
        assert_eq!(shaped["eventSource"], "aws:sqs");
        assert_eq!(shaped["eventSourceARN"], arn);
        assert_eq!(shaped["body"], "{}");
    }
}
