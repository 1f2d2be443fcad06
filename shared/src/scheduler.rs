//! Work due later: one SQS queue whose messages carry a [`Task`] and its due
//! time. A message is sent with SQS's per-message delay (up to 15 minutes);
//! the notify function receives it when it is due
//! ([`crate::notify::handle_due`]) and runs the task, or, for a due time
//! further ahead, sends it on with the time left,
//! so any due time from now to 30 days ahead works. Nothing waits inside a
//! function: a task not yet due is not held, and each batch's tasks run
//! side by side, so a receiver that hangs holds back only its own.
//!
//! Delays are whole seconds: a task runs within half a second of its due
//! time (plus SQS's delivery), never held back for more.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{ApiError, DisplayChain};

/// SQS's longest per-message delay.
const MAX_DELAY_SECS: i64 = 900;
/// The furthest ahead a task may be due.
pub const MAX_AHEAD_MS: i64 = 30 * 24 * 3600 * 1000;

/// Work the scheduler can carry: its fields, and the kind that tells the
/// notify function what to do with it ([`crate::notify::handle_due`]).
pub trait Task: Serialize {
    const KIND: &'static str;
}

/// A queue message: when it is due, and the task's fields with its `kind`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Scheduled {
    /// Milliseconds since the epoch.
    pub due_ms: i64,
    pub task: serde_json::Value,
}

impl Scheduled {
    pub fn new<T: Task>(due_ms: i64, task: &T) -> Result<Self, ScheduleError> {
        let mut fields = serde_json::to_value(task)?;
        let object = fields
            .as_object_mut()
            .ok_or(ScheduleError::NotAnObject(T::KIND))?;
        object.insert("kind".into(), T::KIND.into());
        Ok(Self {
            due_ms,
            task: fields,
        })
    }

    /// What the task is (its `kind`).
    pub fn kind(&self) -> &str {
        self.task["kind"].as_str().unwrap_or_default()
    }

    /// The task's fields as `T`.
    pub fn task<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.task.clone())
    }

    /// The delay to ask SQS for, now: 0 once due.
    pub fn delay_secs(&self, now_ms: i64) -> i32 {
        delay_secs(self.due_ms, now_ms)
    }
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
    #[error("a {0} task is not a JSON object")]
    NotAnObject(&'static str),
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

    /// Whether tasks can be queued (a queue is configured).
    pub fn enabled(&self) -> bool {
        self.client.is_some()
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

    /// Queues tasks, each due at its time.
    pub async fn schedule<T: Task>(&self, tasks: &[(i64, T)]) -> Result<(), ScheduleError> {
        let scheduled = tasks
            .iter()
            .map(|(due_ms, task)| Scheduled::new(*due_ms, task))
            .collect::<Result<Vec<_>, _>>()?;
        self.send(scheduled).await
    }

    /// Queues scheduled tasks (SQS batches of 10).
    pub async fn send(&self, tasks: Vec<Scheduled>) -> Result<(), ScheduleError> {
        let (client, queue) = self.client.as_ref().ok_or(ScheduleError::NotConfigured)?;
        let now = crate::time::now_millis();
        let mut entries = Vec::with_capacity(tasks.len());
        for (index, scheduled) in tasks.into_iter().enumerate() {
            if scheduled.due_ms - now > MAX_AHEAD_MS {
                return Err(ScheduleError::TooFarAhead(scheduled.due_ms - now));
            }
            let delay = scheduled.delay_secs(now);
            let body = serde_json::to_string(&scheduled)?;
            let entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(body)
                .delay_seconds(delay)
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

    #[derive(Serialize, Deserialize)]
    struct Ping {
        n: u32,
    }

    impl Task for Ping {
        const KIND: &'static str = "ping";
    }

    #[test]
    fn a_task_reads_back_with_its_kind() {
        let scheduled = Scheduled::new(42, &Ping { n: 7 }).unwrap_or_else(|e| panic!("{e}"));
        let text = serde_json::to_string(&scheduled).unwrap_or_default();
        let back: Scheduled = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.due_ms, 42);
        assert_eq!(back.kind(), "ping");
        assert_eq!(back.task::<Ping>().map(|p| p.n).ok(), Some(7));
    }
}
