//! The notify function: what reaches outside the service, and the
//! service's long background work. The outbox stream brings webhook jobs
//! ([`crate::webhooks`]), push jobs ([`crate::push`]) and the slices of
//! erasing a user ([`crate::erasure`]); the scheduler's queue brings the
//! tasks that are due ([`crate::scheduler`]). Webhook jobs are handed to the
//! queue, due now (one batch request), so no receiver holds back the
//! stream; the other jobs of a batch run side by side. A job that fails as
//! a whole (the table could not be read or written) is reported, so the
//! event source runs it again: a receiver may then get a webhook twice (the
//! same `X-Webhook-Id`), a device a push twice.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::error::{ApiError, DisplayChain};
use crate::keys::{ERASE_PREFIX, PUSH_PREFIX, WEBHOOK_PREFIX};
use crate::scheduler::Task;
use crate::state::AppState;

/// A job a stream record brings.
enum Work<'a> {
    Webhook(crate::webhooks::Job),
    Run(BoxFuture<'a, Result<(), ApiError>>),
}

pub async fn handle(state: &AppState, event: StreamEvent) -> DynamoDbEventResponse {
    let mut hooks = Vec::new();
    let mut runs = Vec::new();
    for record in &event.records {
        let sequence = record.change.sequence_number.clone();
        match work_of(state, record) {
            Some(Work::Webhook(job)) => hooks.push((sequence, job)),
            Some(Work::Run(work)) => runs.push(async move { (sequence, work.await) }),
            None => {}
        }
    }
    let hand_on = async {
        if hooks.is_empty() {
            return Vec::new();
        }
        let tasks = hooks
            .iter()
            .map(|(_, job)| (0, Task::Webhook(job.clone())))
            .collect();
        match state.scheduler.schedule(tasks).await {
            Ok(()) => Vec::new(),
            Err(err) => {
                let why = err.to_string();
                hooks
                    .iter()
                    .map(|(sequence, _)| {
                        let err = crate::scheduler::ScheduleError::Send(why.clone());
                        (sequence.clone(), Err(ApiError::from(err)))
                    })
                    .collect()
            }
        }
    };
    let (ran, handed) = futures::join!(futures::future::join_all(runs), hand_on);
    let mut response = DynamoDbEventResponse::default();
    for (sequence, result) in ran.into_iter().chain(handed) {
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
fn work_of<'a>(state: &'a AppState, record: &EventRecord) -> Option<Work<'a>> {
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
        Some(Work::Webhook(job))
    } else if pk.starts_with(ERASE_PREFIX) {
        let job = crate::db::from_image::<crate::erasure::Job>(image)?
            .map_err(unreadable)
            .ok()?;
        Some(Work::Run(
            async move { crate::erasure::run_slice(state, &job).await }.boxed(),
        ))
    } else if pk.starts_with(PUSH_PREFIX) {
        let job = crate::db::from_image::<crate::push::Job>(image)?
            .map_err(unreadable)
            .ok()?;
        Some(Work::Run(
            async move { crate::push::deliver(state, &job).await.map(|_| ()) }.boxed(),
        ))
    } else {
        None
    }
}
