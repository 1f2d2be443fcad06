//! Work due later: one SQS queue whose messages carry a [`Task`] and its due
//! time. A message is sent with SQS's per-message delay (up to 15 minutes);
//! the notify function receives it when it is due ([`handle`]) and runs the
//! task, or, for a due time further ahead, sends it on with the time left,
//! so any due time from now to 30 days ahead works. Nothing waits inside a
//! function: a task not yet due is not held, and each batch's tasks run
//! side by side, so a receiver that hangs holds back only its own.
//!
//! Delays are whole seconds: a task runs within half a second of its due
//! time (plus SQS's delivery), never held back for more.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{ApiError, DisplayChain};
use crate::state::AppState;

/// SQS's longest per-message delay.
const MAX_DELAY_SECS: i64 = 900;
/// The furthest ahead a task may be due.
pub const MAX_AHEAD_MS: i64 = 30 * 24 * 3600 * 1000;

/// What the scheduler runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// One attempt at posting an event to the app's webhook.
    Webhook(crate::webhooks::Job),
    /// Another try of a push the provider asked to retry later.
    Push(crate::push::Retry),
}

impl Task {
    fn name(&self) -> &'static str {
        match self {
            Task::Webhook(_) => "webhook",
            Task::Push(_) => "push",
        }
    }
}

/// A queue message: the task and when it is due.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Scheduled {
    /// Milliseconds since the epoch.
    pub due_ms: i64,
    pub task: Task,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("no schedule queue is configured (CHAT_SCHEDULE_QUEUE_URL)")]
    NotConfigured,
    #[error("a task is due {0} ms ahead, beyond 30 days")]
    TooFarAhead(i64),
    #[error("the schedule queue refused the task: {0}")]
    Send(String),
    #[error("the task could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<ScheduleError> for ApiError {
    fn from(err: ScheduleError) -> Self {
        ApiError::Internal(Box::new(err))
    }
}

/// The SQS client and the queue, in a function that schedules.
#[derive(Clone)]
pub struct Scheduler {
    client: Option<(Client, String)>,
}

/// The delay SQS is asked for: the time left rounded to the nearest second,
/// at most 15 minutes.
fn delay_secs(due_ms: i64, now_ms: i64) -> i32 {
    let secs = (due_ms - now_ms + 500).div_euclid(1000);
    i32::try_from(secs.clamp(0, MAX_DELAY_SECS)).unwrap_or(0)
}

impl Scheduler {
    /// A function that schedules nothing: its binary links no SQS client.
    pub fn disabled() -> Self {
        Self { client: None }
    }

    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let Some(queue) = config.schedule_queue_url.clone() else {
            return Self::disabled();
        };
        let mut builder = aws_sdk_sqs::config::Builder::from(sdk);
        if let Some(url) = &config.sqs_endpoint {
            builder = builder.endpoint_url(url);
        }
        Self {
            client: Some((Client::from_conf(builder.build()), queue)),
        }
    }

    /// Queues tasks (SQS batches of 10), each due at its time.
    pub async fn schedule(&self, tasks: Vec<(i64, Task)>) -> Result<(), ScheduleError> {
        let (client, queue) = self.client.as_ref().ok_or(ScheduleError::NotConfigured)?;
        let now = crate::time::now_millis();
        let mut entries = Vec::with_capacity(tasks.len());
        for (index, (due_ms, task)) in tasks.into_iter().enumerate() {
            if due_ms - now > MAX_AHEAD_MS {
                return Err(ScheduleError::TooFarAhead(due_ms - now));
            }
            let body = serde_json::to_string(&Scheduled { due_ms, task })?;
            let entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(body)
                .delay_seconds(delay_secs(due_ms, now))
                .build()
                .map_err(|e| ScheduleError::Send(e.to_string()))?;
            entries.push(entry);
        }
        for chunk in entries.chunks(10) {
            let sent = client
                .send_message_batch()
                .queue_url(queue)
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| ScheduleError::Send(DisplayChain(&e).to_string()))?;
            if let Some(failed) = sent.failed().first() {
                return Err(ScheduleError::Send(format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}

/// The notify function's work for a batch from the queue: each due task
/// runs, side by side with the others; one not yet due is sent on. A task
/// that fails as a whole is reported, so SQS hands it out again after the
/// queue's visibility timeout.
pub async fn handle(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
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
        (id, run(state, scheduled).await)
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

async fn run(state: &AppState, scheduled: Scheduled) -> Result<(), ApiError> {
    let now = crate::time::now_millis();
    if delay_secs(scheduled.due_ms, now) > 0 {
        // Due beyond SQS's longest delay: on with the time left.
        state
            .scheduler
            .schedule(vec![(scheduled.due_ms, scheduled.task)])
            .await?;
        return Ok(());
    }
    let kind = scheduled.task.name();
    tracing::debug!(kind, late_ms = now - scheduled.due_ms, "scheduled task due");
    match scheduled.task {
        Task::Webhook(job) => crate::webhooks::deliver(state, &job).await.map(|_| ()),
        Task::Push(retry) => crate::push::retry(state, &retry).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_to_the_nearest_second_and_are_capped() {
        assert_eq!(delay_secs(1_000, 1_000), 0);
        assert_eq!(delay_secs(1_400, 1_000), 0);
        assert_eq!(delay_secs(1_600, 1_000), 1);
        assert_eq!(delay_secs(5_000, 1_000), 4);
        assert_eq!(delay_secs(0, 1_000), 0);
        assert_eq!(delay_secs(MAX_AHEAD_MS, 0), 900);
    }

    #[test]
    fn a_task_reads_back_as_it_was_written() {
        let job = crate::webhooks::Job {
            app_id: crate::ids::AppId::parse("a1").unwrap_or_else(|_| unreachable!()),
            event_id: "e1".into(),
            job_id: "j1".into(),
            body: "{}".into(),
            attempt: 2,
            last_attempt: 5,
            expires: 9,
        };
        let text = serde_json::to_string(&Scheduled {
            due_ms: 42,
            task: Task::Webhook(job),
        })
        .unwrap_or_default();
        let back: Scheduled = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.due_ms, 42);
        assert!(matches!(back.task, Task::Webhook(j) if j.attempt == 2 && j.event_id == "e1"));
    }
}
