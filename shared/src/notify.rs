//! The notify function: what reaches outside the service. The outbox
//! stream brings webhook jobs ([`crate::webhooks`]) and push jobs
//! ([`crate::push`]); the scheduler's queue brings the tasks that are due
//! ([`crate::scheduler`]). Webhook jobs are handed to the queue, due now (one
//! batch request), so no receiver holds back the stream; push jobs run side
//! by side. A job that fails as a whole (the table could not be read or
//! written) is reported, so the event source runs it again: a receiver may
//! then get a webhook twice (the same `X-Webhook-Id`), a device a push twice.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::DynamoDbEventResponse;

use crate::error::{ApiError, DisplayChain};
use crate::keys::{PUSH_PREFIX, WEBHOOK_PREFIX};
use crate::scheduler::{Scheduled, Task};
use crate::state::AppState;
use crate::stream_jobs;

/// A job a stream record brings.
enum Work {
    Webhook(crate::webhooks::Job),
    Push(crate::push::Job),
}

pub async fn handle(state: &AppState, event: StreamEvent) -> DynamoDbEventResponse {
    let mut hooks = Vec::new();
    let mut runs = Vec::new();
    for record in &event.records {
        let sequence = record.change.sequence_number.clone();
        match work_of(record) {
            Some(Work::Webhook(job)) => hooks.push((sequence, job)),
            Some(Work::Push(job)) => runs.push(async move {
                let result = crate::push::deliver(state, &job).await.map(|_| ());
                (sequence, result)
            }),
            None => {}
        }
    }
    let hand_on = async {
        if hooks.is_empty() {
            return Vec::new();
        }
        let tasks: Vec<(i64, crate::webhooks::Job)> =
            hooks.iter().map(|(_, job)| (0, job.clone())).collect();
        match state.scheduler.schedule(&tasks).await {
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
    stream_jobs::answer(ran.into_iter().chain(handed))
}

/// The work a stream record brings, if it is the insert of a job.
fn work_of(record: &EventRecord) -> Option<Work> {
    let pk = stream_jobs::pk(record)?;
    if pk.starts_with(WEBHOOK_PREFIX) {
        stream_jobs::inserted(record).map(Work::Webhook)
    } else if pk.starts_with(PUSH_PREFIX) {
        stream_jobs::inserted(record).map(Work::Push)
    } else {
        None
    }
}

/// The notify function's work for a batch from the schedule queue: each due
/// task runs, side by side with the others; one not yet due is sent on. A
/// task that fails as a whole is reported, so SQS hands it out again after
/// the queue's visibility timeout.
pub async fn handle_due(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
    let runs = event.records.into_iter().map(|record| async move {
        let id = record.message_id.clone().unwrap_or_default();
        let Some(scheduled) = record
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str::<Scheduled>(body).ok())
        else {
            tracing::warn!(message = %id, "unreadable scheduled task skipped");
            return (id, Ok(()));
        };
        (id, run_due(state, scheduled).await)
    });
    let mut response = SqsBatchResponse::default();
    for (id, result) in futures::future::join_all(runs).await {
        if let Err(err) = result {
            tracing::warn!(message = %id, error = %DisplayChain(&err), "scheduled task failed; SQS hands it out again");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn run_due(state: &AppState, scheduled: Scheduled) -> Result<(), ApiError> {
    let now = crate::time::now_millis();
    if scheduled.delay_secs(now) > 0 {
        // Due beyond SQS's longest delay: on with the time left.
        state.scheduler.send(vec![scheduled]).await?;
        return Ok(());
    }
    tracing::debug!(
        kind = scheduled.kind(),
        late_ms = now - scheduled.due_ms,
        "scheduled task due"
    );
    let unreadable = |err: serde_json::Error| {
        tracing::warn!(kind = scheduled.kind(), error = %err, "unreadable scheduled task skipped");
    };
    match scheduled.kind() {
        crate::webhooks::Job::KIND => match scheduled.task::<crate::webhooks::Job>() {
            Ok(job) => crate::webhooks::deliver(state, &job).await.map(|_| ()),
            Err(err) => {
                unreadable(err);
                Ok(())
            }
        },
        crate::push::Retry::KIND => match scheduled.task::<crate::push::Retry>() {
            Ok(retry) => crate::push::retry(state, &retry).await,
            Err(err) => {
                unreadable(err);
                Ok(())
            }
        },
        crate::messages::scheduled::Due::KIND => {
            match scheduled.task::<crate::messages::scheduled::Due>() {
                Ok(due) => crate::actions::scheduled::run_due(state, &due).await,
                Err(err) => {
                    unreadable(err);
                    Ok(())
                }
            }
        }
        crate::messages::reminders::ReminderDue::KIND => {
            match scheduled.task::<crate::messages::reminders::ReminderDue>() {
                Ok(due) => crate::actions::reminders::run_due(state, &due).await,
                Err(err) => {
                    unreadable(err);
                    Ok(())
                }
            }
        }
        crate::messages::polls::PollCloses::KIND => {
            match scheduled.task::<crate::messages::polls::PollCloses>() {
                Ok(task) => crate::actions::polls::run_closes(state, &task).await,
                Err(err) => {
                    unreadable(err);
                    Ok(())
                }
            }
        }
        crate::messages::previews::LinkJob::KIND => {
            match scheduled.task::<crate::messages::previews::LinkJob>() {
                Ok(job) => crate::actions::previews::run(state, &job).await,
                Err(err) => {
                    unreadable(err);
                    Ok(())
                }
            }
        }
        other => {
            tracing::warn!(kind = other, "unknown scheduled task skipped");
            Ok(())
        }
    }
}
