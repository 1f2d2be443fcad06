//! The notify function: what reaches outside the service, and the
//! service's long background work. The outbox stream brings webhook jobs
//! ([`crate::webhooks`]), push jobs ([`crate::push`]) and the slices of
//! erasing a user ([`crate::erasure`]); each record is worked on side by side with the others
//! of its batch (each waits only for its own due time). A job that fails as
//! a whole (the table could not be read or written) is reported, so the
//! event source runs it again: a receiver may then get a webhook twice (the
//! same `X-Webhook-Id`), a device a push twice.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::error::{ApiError, DisplayChain};
use crate::keys::{ERASE_PREFIX, PUSH_PREFIX, WEBHOOK_PREFIX};
use crate::state::AppState;

pub async fn handle(state: &AppState, event: StreamEvent) -> DynamoDbEventResponse {
    let runs = event.records.iter().filter_map(|record| {
        let work = work_of(state, record)?;
        let sequence = record.change.sequence_number.clone();
        Some(async move { (sequence, work.await) })
    });
    let mut response = DynamoDbEventResponse::default();
    for (sequence, result) in futures::future::join_all(runs).await {
        if let Err(err) = result {
            tracing::warn!(error = %DisplayChain(&err), "notify job failed; the event source will run it again");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The work a stream record brings, if it is the insert of a job.
fn work_of<'a>(
    state: &'a AppState,
    record: &EventRecord,
) -> Option<BoxFuture<'a, Result<(), ApiError>>> {
    if record.event_name != "INSERT" {
        return None;
    }
    let pk = record.change.keys.get("pk").and_then(|pk| match pk {
        serde_dynamo::AttributeValue::S(s) => Some(s.as_str()),
        _ => None,
    })?;
    let image = &record.change.new_image;
    let unreadable = |err: crate::db::DbError| {
        tracing::warn!(error = %err, "unreadable notify job skipped");
    };
    if pk.starts_with(WEBHOOK_PREFIX) {
        let job = crate::db::from_image::<crate::webhooks::Job>(image)?
            .map_err(unreadable)
            .ok()?;
        Some(async move { crate::webhooks::deliver(state, &job).await.map(|_| ()) }.boxed())
    } else if pk.starts_with(ERASE_PREFIX) {
        let job = crate::db::from_image::<crate::erasure::Job>(image)?
            .map_err(unreadable)
            .ok()?;
        Some(async move { crate::erasure::run_slice(state, &job).await }.boxed())
    } else if pk.starts_with(PUSH_PREFIX) {
        let job = crate::db::from_image::<crate::push::Job>(image)?
            .map_err(unreadable)
            .ok()?;
        Some(async move { crate::push::deliver(state, &job).await.map(|_| ()) }.boxed())
    } else {
        None
    }
}
