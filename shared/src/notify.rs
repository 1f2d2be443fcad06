//! The notify function: what reaches outside the service. The outbox
//! stream brings webhook jobs ([`crate::webhooks`]) and push jobs
//! ([`crate::push`]); the scheduler's queue brings the tasks that are due
//! ([`crate::scheduler`]). Webhook jobs are handed to the queue, due now (one
//! batch request), so no receiver holds back the stream; push jobs run side
//! by side. A job that fails as a whole (the table could not be read or
//! written) is reported, so the event source runs it again: a receiver may
//! then get a webhook twice (the same `X-Webhook-Id`), a device a push twice.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;

use crate::error::ApiError;
use crate::keys::{PUSH_PREFIX, WEBHOOK_PREFIX};
use crate::scheduler::Task;
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
