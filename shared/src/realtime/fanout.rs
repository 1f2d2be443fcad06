//! Large fan-outs, off the sender's request. When a channel has more
//! listeners than the inline limit, the sender writes one job item (the
//! event's bytes and its audience) to the outbox table and answers; the
//! outbox's stream hands the item to the fan-out function ([`handle`]),
//! which works out the audience at that moment, part by part, and posts to
//! each part as it is read, in lanes side by side (see
//! [`super::notifier::Lanes`]).
//!
//! Guarantees, and how:
//! - **Order per channel.** A channel's jobs share a partition, so their
//!   stream records arrive in write order, and records are handled one after
//!   the other (the lanes of one job in parallel). A retry reaches its few
//!   connections after the events that followed (it carries `created_at`).
//! - **No second post to a connection already reached.** Connections whose
//!   post failed (not 410: those are deleted) go into a new job holding only
//!   them (`pending`, attempt + 1), tried after a short backoff, up to
//!   [`MAX_ATTEMPTS`]. Only a job that fails as a whole (its audience could
//!   not be read, or only some of its parts, already posted to; or its
//!   retry not written) is reported to the event source
//!   as failed, and is run again from the start: then an event may reach a
//!   connection twice, and clients drop it by its `id`.
//! - **The audience at delivery.** Shadow bans, watches and tenant scoping
//!   are those of [`super::audience`], read when the job runs.

use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::{Deserialize, Serialize};

use super::audience::{self, Audience};
use super::notifier::Delivery;
use crate::db::Entity;
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ChannelId, ConnectionId, UserId};
use crate::keys::{self, Key};
use crate::state::AppState;

/// A job opens the notifier's concurrency in lanes for each this many
/// connections it queues.
pub const CONNECTIONS_PER_STEP: usize = 400;
/// Deliveries of an event to connections whose posts keep failing.
pub const MAX_ATTEMPTS: u32 = 3;
/// Job items are kept this long (for the record), then expire.
const JOB_TTL_SECS: i64 = 3600;

/// One fan-out job: an event for a large audience, or (`pending`) the
/// connections a former attempt could not reach.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub event_id: String,
    /// The event as posted (JSON).
    pub event: String,
    pub audience: Audience,
    /// Set on a retry: only these connections are posted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<(UserId, ConnectionId)>>,
    pub attempt: u32,
    pub expires: i64,
}

impl Entity for Job {
    const TYPE: &'static str = "fanout";
    type Item = keys::item::FanoutJob;
    fn key(&self) -> Key<Self::Item> {
        keys::fanout(&self.app_id, &self.channel_id, &self.event_id, self.attempt)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

/// Hands an event to the fan-out function: one write.
pub async fn defer(
    state: &AppState,
    app: &AppId,
    channel: &ChannelId,
    event_id: &str,
    bytes: &[u8],
    audience: Audience,
) -> Result<(), ApiError> {
    let job = Job {
        app_id: app.clone(),
        channel_id: channel.clone(),
        event_id: event_id.to_string(),
        event: String::from_utf8_lossy(bytes).into_owned(),
        audience,
        pending: None,
        attempt: 0,
        expires: crate::time::now_secs() + JOB_TTL_SECS,
    };
    Ok(state.db.outbox().put(&job, crate::db::Cond::Always).await?)
}

/// What handling one job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    pub delivery: Delivery,
    /// Connections left for a retry job (empty when none was needed).
    pub retried: usize,
}

/// The fan-out function: each stream record that is a new job is delivered;
/// anything else (the filter lets only jobs through on AWS) is skipped.
/// Records are handled in order; at the first that fails, the rest wait,
/// and it is reported so the event source runs it again.
pub async fn handle(state: &AppState, event: StreamEvent) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let Some(job) = job_of(&record) else {
            continue;
        };
        if let Err(err) = run(state, &job).await {
            tracing::warn!(
                error = %DisplayChain(&err),
                event_id = %job.event_id,
                channel = %job.channel_id,
                "fan-out job failed; the event source will run it again"
            );
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}

/// The job a stream record brings, if it is the insert of one.
pub fn job_of(record: &EventRecord) -> Option<Job> {
    if record.event_name != "INSERT" {
        return None;
    }
    match crate::db::from_image::<Job>(&record.change.new_image)? {
        Ok(job) => Some(job),
        Err(err) => {
            tracing::warn!(error = %err, "unreadable fan-out job skipped");
            None
        }
    }
}

/// Delivers one job: its audience now (or its pending connections), in
/// lanes side by side; what failed becomes the next attempt.
pub async fn run(state: &AppState, job: &Job) -> Result<JobReport, ApiError> {
    let started = std::time::Instant::now();
    // Posts in flight: the notifier's concurrency for each CONNECTIONS_PER_STEP
    // connections, all drawing from the job's one queue, which the audience
    // fills part by part while the first parts are posted to.
    let mut lanes = state.notifier.lanes(
        &job.app_id,
        job.event.as_bytes().into(),
        CONNECTIONS_PER_STEP,
    );
    let read = match &job.pending {
        Some(pending) => {
            // A retry waits a little for whatever failed to recover.
            tokio::time::sleep(backoff(job.attempt)).await;
            lanes.push(pending.clone());
            Ok(())
        }
        None => {
            audience::targets_in_parts(
                &state.db,
                &job.app_id,
                &job.channel_id,
                &job.audience,
                |part| lanes.push(part),
            )
            .await
        }
    };
    let audience_ms = started.elapsed().as_millis() as u64;
    // A lane that panicked fails the job, as does an audience read that
    // failed part way: it runs again whole, and clients drop what they
    // already had by the event's id.
    let (delivery, failed) = lanes.finish().await.map_err(ApiError::internal)?;
    read?;
    let report = JobReport {
        delivery,
        retried: 0,
    };
    tracing::info!(
        event_id = %job.event_id,
        channel = %job.channel_id,
        attempt = job.attempt,
        sent = report.delivery.sent,
        gone = report.delivery.gone,
        failed = report.delivery.failed,
        audience_ms,
        total_ms = started.elapsed().as_millis() as u64,
        "fan-out job delivered"
    );
    if failed.is_empty() {
        return Ok(report);
    }
    if job.attempt + 1 >= MAX_ATTEMPTS {
        tracing::warn!(
            event_id = %job.event_id,
            connections = failed.len(),
            "fan-out gave up on connections after {MAX_ATTEMPTS} attempts"
        );
        return Ok(report);
    }
    let report = JobReport {
        retried: failed.len(),
        ..report
    };
    let retry = Job {
        pending: Some(failed),
        attempt: job.attempt + 1,
        expires: crate::time::now_secs() + JOB_TTL_SECS,
        ..job.clone()
    };
    state
        .db
        .outbox()
        .put(&retry, crate::db::Cond::Always)
        .await?;
    Ok(report)
}

/// 100 ms before the first retry, 400 ms before the second.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << (2 * attempt.saturating_sub(1).min(3)))
}
