//! Lambda for what reaches outside the service, fed by two event sources:
//! the outbox stream (webhook, push and erasure jobs; only those pass its
//! filters) and the scheduler's SQS queue (webhook attempts and push
//! retries when they are due). Webhooks are posted to the app's receiver
//! (retried, or dead-lettered), pushes go to the offline members' devices
//! through FCM and APNs.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use chat_shared::{notify, telemetry, AppState};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Whether an event comes from SQS: its records say `"eventSource":
/// "aws:sqs"` (a stream's say `aws:dynamodb`).
fn from_sqs(event: &Value) -> bool {
    event["Records"][0]["eventSource"] == "aws:sqs"
}

async fn handle(state: &AppState, event: Value) -> Result<Value, Error> {
    if from_sqs(&event) {
        let event: SqsEvent = serde_json::from_value(event)?;
        Ok(serde_json::to_value(
            notify::handle_due(state, event).await,
        )?)
    } else {
        let event: StreamEvent = serde_json::from_value(event)?;
        Ok(serde_json::to_value(notify::handle(state, event).await)?)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Only the clients this function uses are built (and linked).
    let state = AppState::for_lambda()
        .await?
        .with_notifier()
        .with_storage()
        .with_outbound()
        .with_scheduler();
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(state, event.payload).await
    }))
    .await
}
