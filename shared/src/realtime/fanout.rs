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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::{Deserialize, Serialize};

use super::audience::{self, Audience, Mask};
use super::frames::MAX_FRAME;
use super::notifier::{Delivery, Lanes, Post, Target};
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
/// Consecutive new jobs of one channel go out together ([`run_group`]).
/// Groups are handled in order; at the first that fails, the rest wait,
/// and its first record is reported so the event source runs it again.
/// When it delivered anything, the invocation lasts at least the coalescing
/// window, so what a channel produces meanwhile waits in the stream for the
/// next one.
pub async fn handle(state: &AppState, event: StreamEvent) -> DynamoDbEventResponse {
    let started = tokio::time::Instant::now();
    let mut response = DynamoDbEventResponse::default();
    let jobs: Vec<(Job, &EventRecord)> = event
        .records
        .iter()
        .filter_map(|record| job_of(record).map(|job| (job, record)))
        .collect();
    let groups = groups(&jobs);
    let delivered = !groups.is_empty();
    for group in groups {
        let members: Vec<Job> = group.iter().map(|(job, _)| job.clone()).collect();
        let result = match members.as_slice() {
            [job] => run(state, job).await,
            _ => run_group(state, &members).await,
        };
        if let Err(err) = result {
            let (job, record) = &group[0];
            tracing::warn!(
                error = %DisplayChain(&err),
                event_id = %job.event_id,
                channel = %job.channel_id,
                events = group.len(),
                "fan-out job failed; the event source will run it again"
            );
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    if delivered {
        tokio::time::sleep_until(started + state.config.fanout_coalesce).await;
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

/// A batch frame's envelope around its events: `{"type":"batch","events":[...]}`.
const BATCH_OPEN: &str = r#"{"type":"batch","events":["#;
const BATCH_CLOSE: &str = "]}";

/// The jobs, in runs that go out together: consecutive new jobs of one
/// channel (not to one user only), at most [`audience::GROUP_MAX`], whose
/// batch frame fits [`crate::realtime::frames::MAX_FRAME`]. Anything else
/// is a run of one.
fn groups<T>(jobs: &[(Job, T)]) -> Vec<&[(Job, T)]> {
    let groupable = |job: &Job| job.pending.is_none() && !matches!(job.audience, Audience::Only(_));
    let mut groups = Vec::new();
    let mut start = 0;
    let mut size = BATCH_OPEN.len() + BATCH_CLOSE.len();
    for (i, (job, _)) in jobs.iter().enumerate() {
        let first = &jobs[start].0;
        let joins = i > start
            && groupable(job)
            && groupable(first)
            && (&job.app_id, &job.channel_id) == (&first.app_id, &first.channel_id)
            && i - start < audience::GROUP_MAX
            && size + 1 + job.event.len() <= MAX_FRAME;
        if i > start && !joins {
            groups.push(&jobs[start..i]);
            start = i;
            size = BATCH_OPEN.len() + BATCH_CLOSE.len();
        }
        size += job.event.len() + usize::from(i > start);
    }
    if start < jobs.len() {
        groups.push(&jobs[start..]);
    }
    groups
}

/// The body a connection gets of a group: the one event it may have as it
/// is, or those it may have, in order, in one batch frame.
fn body_of(jobs: &[Job], mask: Mask) -> Arc<[u8]> {
    let mine: Vec<&str> = jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, job)| job.event.as_str())
        .collect();
    match mine.as_slice() {
        [one] => one.as_bytes().into(),
        _ => format!("{BATCH_OPEN}{}{BATCH_CLOSE}", mine.join(","))
            .into_bytes()
            .into(),
    }
}

/// Delivers consecutive jobs of one channel together: the listeners are
/// read once, and each connection gets one post, holding the events it may
/// have. Connections whose post failed get a retry job each body (see
/// [`run`]).
pub async fn run_group(state: &AppState, jobs: &[Job]) -> Result<JobReport, ApiError> {
    let started = std::time::Instant::now();
    let (Some(first), Some(last)) = (jobs.first(), jobs.last()) else {
        return Ok(JobReport::default());
    };
    let audiences: Vec<Audience> = jobs.iter().map(|j| j.audience.clone()).collect();
    let mut lanes = state.notifier.lanes(&first.app_id, CONNECTIONS_PER_STEP);
    let mut bodies: HashMap<Mask, Arc<[u8]>> = HashMap::new();
    let read = audience::group_targets_in_parts(
        &state.db,
        &first.app_id,
        &first.channel_id,
        &audiences,
        |part| {
            let posts = part
                .into_iter()
                .map(|(user, connection, mask)| {
                    let body = bodies.entry(mask).or_insert_with(|| body_of(jobs, mask));
                    ((user, connection), body.clone())
                })
                .collect();
            lanes.push(posts);
        },
    )
    .await;
    finish(state, last, jobs.len(), lanes, read, started).await
}

/// Delivers one job: its audience now (or its pending connections), in
/// lanes side by side; what failed becomes the next attempt.
pub async fn run(state: &AppState, job: &Job) -> Result<JobReport, ApiError> {
    let started = std::time::Instant::now();
    // Posts in flight: the notifier's concurrency for each CONNECTIONS_PER_STEP
    // connections, all drawing from the job's one queue, which the audience
    // fills part by part while the first parts are posted to.
    let mut lanes = state.notifier.lanes(&job.app_id, CONNECTIONS_PER_STEP);
    let body: Arc<[u8]> = job.event.as_bytes().into();
    let with_body = |targets: Vec<(UserId, ConnectionId)>| -> Vec<Post> {
        targets.into_iter().map(|t| (t, body.clone())).collect()
    };
    let read = match &job.pending {
        Some(pending) => {
            // A retry waits a little for whatever failed to recover.
            tokio::time::sleep(backoff(job.attempt)).await;
            lanes.push(with_body(pending.clone()));
            Ok(())
        }
        None => {
            audience::targets_in_parts(
                &state.db,
                &job.app_id,
                &job.channel_id,
                &job.audience,
                |part| lanes.push(with_body(part)),
            )
            .await
        }
    };
    finish(state, job, 1, lanes, read, started).await
}

/// Waits for the lanes, reports, and writes what failed as the next
/// attempt: a job per body, named after `job` (the group's last), holding
/// the connections that body failed for.
async fn finish(
    state: &AppState,
    job: &Job,
    events: usize,
    lanes: Lanes,
    read: Result<(), ApiError>,
    started: std::time::Instant,
) -> Result<JobReport, ApiError> {
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
        events,
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
    // Connections by the body that failed for them, in first-failed order.
    let mut retries: Vec<(Arc<[u8]>, Vec<Target>)> = Vec::new();
    for (target, body) in failed {
        match retries.iter_mut().find(|(b, _)| Arc::ptr_eq(b, &body)) {
            Some((_, targets)) => targets.push(target),
            None => retries.push((body, vec![target])),
        }
    }
    let several = retries.len() > 1;
    for (n, (body, pending)) in retries.into_iter().enumerate() {
        let retry = Job {
            event_id: if several {
                format!("{}.{n}", job.event_id)
            } else {
                job.event_id.clone()
            },
            event: String::from_utf8_lossy(&body).into_owned(),
            pending: Some(pending),
            attempt: job.attempt + 1,
            expires: crate::time::now_secs() + JOB_TTL_SECS,
            ..job.clone()
        };
        state
            .db
            .outbox()
            .put(&retry, crate::db::Cond::Always)
            .await?;
    }
    Ok(report)
}

/// 100 ms before the first retry, 400 ms before the second.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << (2 * attempt.saturating_sub(1).min(3)))
}
