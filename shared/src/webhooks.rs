//! Webhooks: every event the real-time layer produces (but typing) is
//! POSTed to the app's `webhook_url`, signed, at least once.
//!
//! - **Durable.** The request that caused the event writes one job item to
//!   the outbox table (only for apps with a webhook) and goes on; the
//!   outbox's stream hands it to the notify function ([`crate::notify`]),
//!   which hands it to the scheduler's queue ([`crate::scheduler`]), due
//!   now. The queue's batches run side by side, so a receiver that hangs
//!   holds back no other app's webhooks.
//! - **Retried.** A non-2xx answer, a timeout or a refused connection
//!   schedules the next attempt after a backoff that grows fourfold
//!   (`CHAT_WEBHOOK_BACKOFF_MS`, 1 s first, at most 15 minutes); nothing
//!   waits for it inside a function. `X-Webhook-Id` (the event id) is the
//!   same on every attempt; `X-Webhook-Attempt` counts them.
//! - **Dead letters.** An event that used up `CHAT_WEBHOOK_MAX_ATTEMPTS`
//!   lands in the outbox table under the app's dead-letter partition (kept 14
//!   days), listed by `GET /app/webhooks/failed` and sent again by
//!   `POST /app/webhooks/failed/{event_id}/replay`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::apps::App;
use crate::db::{Cond, Entity, Page, PageRequest};
use crate::error::{ApiError, DisplayChain};
use crate::ids::AppId;
use crate::keys::{self, Key};
use crate::outbound::Failure;
use crate::realtime::events::{Event, EventBody};
use crate::state::AppState;

/// Job items are kept this long after they are written (for the record).
const JOB_TTL_SECS: i64 = 3600;
/// Dead letters are kept this long (SQS's longest retention).
const DEAD_TTL_SECS: i64 = 14 * 24 * 3600;

/// One delivery of an event to the app's webhook.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub app_id: AppId,
    pub event_id: String,
    /// Unique per job item (time-ordered).
    pub job_id: String,
    /// The exact bytes posted (and signed), the same on every attempt.
    pub body: String,
    /// The number of this delivery (`X-Webhook-Attempt`), from 1.
    pub attempt: u32,
    /// The attempt after which the event is dead-lettered.
    pub last_attempt: u32,
    pub expires: i64,
}

impl Entity for Job {
    const TYPE: &'static str = "webhook";
    type Item = keys::item::WebhookJob;
    fn key(&self) -> Key<Self::Item> {
        keys::webhook(&self.app_id, &self.event_id, &self.job_id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

impl crate::scheduler::Task for Job {
    const KIND: &'static str = "webhook";
}

/// An event whose webhook used up its attempts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    pub app_id: AppId,
    pub event_id: String,
    pub body: String,
    pub attempts: u32,
    pub last_error: Failure,
    /// The receiver's status, when `last_error` is `http_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    pub failed_at: String,
    pub expires: i64,
}

impl Entity for DeadLetter {
    const TYPE: &'static str = "dead_webhook";
    type Item = keys::item::DeadWebhook;
    fn key(&self) -> Key<Self::Item> {
        keys::dead_webhook(&self.app_id, &self.event_id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

/// A dead letter as `GET /app/webhooks/failed` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetterView {
    /// The event's id (`X-Webhook-Id`).
    pub event_id: String,
    /// Deliveries tried.
    pub attempts: u32,
    /// What the last one met, as a category: nothing about the receiver's
    /// network is recorded.
    pub last_error: Failure,
    /// The receiver's status, when `last_error` is `http_status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    pub failed_at: String,
    /// The event as it was posted.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

impl DeadLetter {
    pub fn view(&self) -> DeadLetterView {
        DeadLetterView {
            event_id: self.event_id.clone(),
            attempts: self.attempts,
            last_error: self.last_error,
            last_status: self.last_status,
            failed_at: self.failed_at.clone(),
            event: serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Whether an event goes to webhooks: all but typing (too frequent to be
/// worth a request each, and of no use once it has passed).
fn is_hooked(event: &Event) -> bool {
    !matches!(
        event.body,
        EventBody::TypingStart { .. } | EventBody::TypingStop { .. }
    )
}

fn new_job_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Hands an event to the app's webhook, if it has one: one outbox write.
/// Never fails the caller (logged).
pub async fn enqueue(state: &AppState, app: &App, event: &Event) {
    if app.settings.webhook_url.is_none() || !is_hooked(event) {
        return;
    }
    let body = crate::realtime::events::payload(event);
    let job = Job {
        app_id: app.app_id.clone(),
        event_id: event.id.clone(),
        job_id: new_job_id(),
        body: String::from_utf8_lossy(&body).into_owned(),
        attempt: 1,
        last_attempt: state.config.webhook_max_attempts,
        expires: crate::time::now_secs() + JOB_TTL_SECS,
    };
    if let Err(err) = state.db.outbox().put(&job, Cond::Always).await {
        tracing::warn!(error = %DisplayChain(&err), event_id = %event.id, "could not hand an event to the webhook");
    }
}

/// What one job came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The next attempt is written.
    Retried,
    DeadLettered,
    /// The app or its webhook is gone.
    Dropped,
}

/// The wait before attempt `next` (2, 3, ...): the backoff, then four times
/// longer each time, at most 15 minutes.
fn backoff(base: Duration, next: u32) -> Duration {
    let factor = 4u32.saturating_pow(next.saturating_sub(2).min(10));
    base.saturating_mul(factor).min(Duration::from_secs(900))
}

/// Posts one job and writes what follows from the answer.
pub async fn deliver(state: &AppState, job: &Job) -> Result<Outcome, ApiError> {
    let Some(app) = state.apps.by_id(&state.db, &job.app_id).await? else {
        return Ok(Outcome::Dropped);
    };
    let Some(url) = app.settings.webhook_url.as_deref() else {
        tracing::info!(event_id = %job.event_id, "the app's webhook is unset; dropped");
        return Ok(Outcome::Dropped);
    };
    let headers = [
        ("X-Webhook-Id", job.event_id.clone()),
        ("X-Webhook-Attempt", job.attempt.to_string()),
    ];
    let answer = state
        .outbound
        .post_signed(
            url,
            &app.api_secret,
            &headers,
            job.body.as_bytes(),
            state.config.webhook_timeout,
        )
        .await;
    let error = match answer {
        Ok(answer) if (200..300).contains(&answer.status) => {
            tracing::info!(event_id = %job.event_id, attempt = job.attempt, "webhook delivered");
            return Ok(Outcome::Delivered);
        }
        Ok(answer) => {
            tracing::warn!(event_id = %job.event_id, attempt = job.attempt, status = answer.status, "webhook not delivered");
            (Failure::HttpStatus, Some(answer.status))
        }
        Err(err) => {
            // The cause stays in the logs; the record keeps its category.
            tracing::warn!(event_id = %job.event_id, attempt = job.attempt, error = %DisplayChain(&err), "webhook not delivered");
            (err.failure(), None)
        }
    };
    if job.attempt >= job.last_attempt {
        let dead = DeadLetter {
            app_id: job.app_id.clone(),
            event_id: job.event_id.clone(),
            body: job.body.clone(),
            attempts: job.attempt,
            last_error: error.0,
            last_status: error.1,
            failed_at: crate::time::now_rfc3339(),
            expires: crate::time::now_secs() + DEAD_TTL_SECS,
        };
        state.db.outbox().put(&dead, Cond::Always).await?;
        return Ok(Outcome::DeadLettered);
    }
    let next = job.attempt + 1;
    let wait = backoff(state.config.webhook_backoff, next);
    let retry = Job {
        job_id: new_job_id(),
        attempt: next,
        expires: crate::time::now_secs() + JOB_TTL_SECS,
        ..job.clone()
    };
    let due_ms = crate::time::now_millis() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    state.scheduler.schedule(&[(due_ms, retry)]).await?;
    Ok(Outcome::Retried)
}

/// `GET /app/webhooks/failed`: the app's dead letters, oldest first.
pub async fn dead_letters(
    state: &AppState,
    app: &AppId,
    page: &PageRequest,
) -> Result<Page<DeadLetter>, ApiError> {
    Ok(state
        .db
        .outbox()
        .query(&keys::dead_webhooks(app), keys::DEAD_WEBHOOK_SK, page)
        .await?)
}

/// `POST /app/webhooks/failed/{event_id}/replay`: the event goes out again
/// with a fresh series of attempts (its attempt numbers go on counting);
/// the dead letter is removed once the job is written.
pub async fn replay(state: &AppState, app: &App, event_id: &str) -> Result<(), ApiError> {
    let outbox = state.db.outbox();
    let key = keys::dead_webhook(&app.app_id, event_id);
    let dead: DeadLetter = outbox
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no failed webhook for event {event_id}")))?;
    if app.settings.webhook_url.is_none() {
        return Err(ApiError::validation(
            "the application has no webhook_url to deliver to",
        ));
    }
    let attempt = dead.attempts + 1;
    let job = Job {
        app_id: dead.app_id.clone(),
        event_id: dead.event_id.clone(),
        job_id: new_job_id(),
        body: dead.body.clone(),
        attempt,
        last_attempt: attempt + state.config.webhook_max_attempts - 1,
        expires: crate::time::now_secs() + JOB_TTL_SECS,
    };
    outbox.put(&job, Cond::Always).await?;
    outbox.delete(&key, Cond::Always).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_fourfold_and_is_capped() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(base, 2), Duration::from_secs(1));
        assert_eq!(backoff(base, 3), Duration::from_secs(4));
        assert_eq!(backoff(base, 5), Duration::from_secs(64));
        assert_eq!(backoff(base, 30), Duration::from_secs(900));
    }
}
