//! Erasing a user (`DELETE /users/{id}`): the user is deactivated and their
//! sockets closed at once; then a job works through everything stored
//! about them in slices, each bounded in items and time, each ending by
//! saving its place and handing the next slice to the outbox stream (the
//! erase function runs them, [`handle`]). A slice that fails is run again by the event
//! source from the last saved place: every step is idempotent.
//!
//! Per channel they are or were in (memberships, then the marks left by
//! leaving): their messages and thread replies (soft-deleted, or removed
//! with `hard`), their reactions, their ban and membership. Then their
//! votes, poll by poll (the counts move, closed polls too). Then their
//! partition: the profile, devices, drafts and the rest. Reports about them
//! and blocks of them by others are left (they name an id that no longer
//! exists).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::channels::Ctx;
use crate::db::{Cond, Db, DbError, Entity, PageRequest, Query, SortCond};
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ChannelId, UserId};
use crate::keys::{self, Key};
use crate::messages::polls::voters;
use crate::messages::Message;
use crate::state::AppState;

/// Wall time one slice works before handing over (the erase function
/// times out at 120 s).
const SLICE_TIME: Duration = Duration::from_secs(20);
/// Outbox jobs outlive their slice by a day (a retried one still finds
/// its record).
const JOB_TTL_SECS: i64 = 86_400;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    Running,
    Done,
}

/// Where a channel's sweep is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    #[default]
    Messages,
    Replies,
    Reactions,
    Leave,
}

/// The progress of one erasure, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Erasure {
    pub app_id: AppId,
    pub user_id: UserId,
    pub hard: bool,
    pub status: ErasureStatus,
    /// The channel being swept, its step and the page cursor there.
    #[serde(default)]
    channel: Option<ChannelId>,
    #[serde(default)]
    step: Step,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    pub channels: u64,
    #[serde(default)]
    pub messages: u64,
    #[serde(default)]
    pub reactions: u64,
    #[serde(default)]
    pub votes: u64,
    /// Items of their own partition: profile, devices, drafts, marks.
    #[serde(default)]
    pub items: u64,
    #[serde(default)]
    pub slices: u64,
    pub started_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub version: u64,
}

impl Entity for Erasure {
    const TYPE: &'static str = "erasure";
    type Item = keys::item::Erasure;
    fn key(&self) -> Key<Self::Item> {
        keys::erasure(&self.app_id, &self.user_id)
    }
}

/// An erasure as `DELETE /users/{id}` and `GET /users/{id}/deletion` show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureView<'a> {
    pub user_id: &'a UserId,
    /// `true`: messages are removed; `false`: they stay as `deleted`
    /// placeholders, without text or attachments.
    pub hard: bool,
    pub status: ErasureStatus,
    /// The channel being swept now.
    pub channel_id: &'a Option<ChannelId>,
    /// Channels swept so far.
    pub channels: u64,
    /// Messages deleted so far.
    pub messages: u64,
    pub reactions: u64,
    /// Poll votes removed so far.
    pub votes: u64,
    /// Items of their own partition removed (profile, devices, drafts...).
    pub items: u64,
    /// Slices run (each a bounded piece of the work).
    pub slices: u64,
    pub started_at: &'a str,
    pub updated_at: &'a str,
    pub finished_at: &'a Option<String>,
}

impl Erasure {
    pub fn view(&self) -> ErasureView<'_> {
        ErasureView {
            user_id: &self.user_id,
            hard: self.hard,
            status: self.status,
            channel_id: &self.channel,
            channels: self.channels,
            messages: self.messages,
            reactions: self.reactions,
            votes: self.votes,
            items: self.items,
            slices: self.slices,
            started_at: &self.started_at,
            updated_at: &self.updated_at,
            finished_at: &self.finished_at,
        }
    }
}

/// One slice, as an outbox job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub app_id: AppId,
    pub user_id: UserId,
    pub slice: u64,
    pub expires: i64,
}

impl Entity for Job {
    const TYPE: &'static str = "erase";
    type Item = keys::item::EraseJob;
    fn key(&self) -> Key<Self::Item> {
        keys::erase_job(&self.app_id, &self.user_id, self.slice)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

fn job(app: &AppId, user: &UserId, slice: u64) -> Job {
    Job {
        app_id: app.clone(),
        user_id: user.clone(),
        slice,
        expires: crate::time::now_secs() + JOB_TTL_SECS,
    }
}

/// Starts erasing `user`: deactivated and their tokens revoked, their
/// sockets closed, the job begun. Asking again returns the erasure under
/// way (`false`), whatever `hard` says.
pub async fn start(
    state: &AppState,
    app: &AppId,
    user: &UserId,
    hard: bool,
) -> Result<(Erasure, bool), ApiError> {
    let db = &state.db;
    let previous = progress(db, app, user).await?;
    if let Some(existing) = &previous {
        // A finished erasure of an id that was created again since: the new
        // user is erased afresh.
        let recreated = existing.status == ErasureStatus::Done
            && crate::users::get_user(db, app, user).await?.is_some();
        if !recreated {
            return Ok((existing.clone(), false));
        }
    }
    let condition = match &previous {
        Some(done) => Cond::Version(done.version),
        None => Cond::NotExists,
    };
    // Deactivated and every token refused, in one write of the user item.
    let stored = crate::users::update_user(db, app, user, |u| {
        u.deactivated_at = u
            .deactivated_at
            .clone()
            .or_else(|| Some(crate::time::now_rfc3339()));
        u.tokens_revoked_at = Some(crate::time::now_millis());
        Ok(())
    })
    .await?;
    crate::realtime::sessions::end_user(state, app, &stored).await;
    let now = crate::time::now_rfc3339();
    let erasure = Erasure {
        app_id: app.clone(),
        user_id: user.clone(),
        hard,
        status: ErasureStatus::Running,
        channel: None,
        step: Step::Messages,
        cursor: None,
        channels: 0,
        messages: 0,
        reactions: 0,
        votes: 0,
        items: 0,
        // Slice numbers go on from an earlier erasure of the id, so each
        // slice's job is a new outbox item.
        slices: previous.as_ref().map_or(0, |p| p.slices),
        started_at: now.clone(),
        updated_at: now,
        finished_at: None,
        version: previous.as_ref().map_or(0, |p| p.version) + 1,
    };
    match db.put(&erasure, condition).await {
        Ok(()) => {}
        Err(DbError::ConditionFailed) => {
            let existing = progress(db, app, user)
                .await?
                .ok_or_else(|| ApiError::conflict("the erasure changed while starting; retry"))?;
            return Ok((existing, false));
        }
        Err(other) => return Err(other.into()),
    }
    db.outbox()
        .put(&job(app, user, erasure.slices + 1), Cond::Always)
        .await?;
    tracing::info!(app = %app, user = %user, hard, "erasure started");
    Ok((erasure, true))
}

/// Where erasing `user` stands, if it was ever asked for.
pub async fn progress(db: &Db, app: &AppId, user: &UserId) -> Result<Option<Erasure>, ApiError> {
    Ok(db.get(&keys::erasure(app, user)).await?)
}

/// The erase function's work for a stream batch: each slice's job, side by
/// side (they are different users' or already run).
pub async fn handle(
    state: &AppState,
    event: aws_lambda_events::event::dynamodb::Event,
) -> aws_lambda_events::event::streams::DynamoDbEventResponse {
    let runs = event.records.iter().filter_map(|record| {
        let job: Job = crate::stream_jobs::inserted(record)?;
        let sequence = record.change.sequence_number.clone();
        Some(async move { (sequence, run_slice(state, &job).await) })
    });
    crate::stream_jobs::answer(futures::future::join_all(runs).await)
}

/// Runs one slice: at most `items` messages and reactions, or
/// [`SLICE_TIME`], then saves its place and hands on the next slice.
pub async fn run_slice(state: &AppState, job: &Job) -> Result<(), ApiError> {
    let db = &state.db;
    let Some(mut erasure) = progress(db, &job.app_id, &job.user_id).await? else {
        return Ok(());
    };
    // A slice already run (the event source's retry of a slice that did
    // hand on) or a finished erasure: nothing to do.
    if erasure.status == ErasureStatus::Done || erasure.slices >= job.slice {
        return Ok(());
    }
    let Some(app) = state.apps.by_id(db, &job.app_id).await? else {
        return Ok(());
    };
    let ctx = Ctx {
        app,
        server: true,
        user: Some(job.user_id.clone()),
        me: None,
    };
    let budget = state.config.erase_slice_items.max(1);
    let began = Instant::now();
    let mut done = 0;
    while erasure.status == ErasureStatus::Running && done < budget && began.elapsed() < SLICE_TIME
    {
        done += advance(state, &ctx, &mut erasure, budget - done).await?;
    }
    let read_version = erasure.version;
    erasure.slices = job.slice;
    erasure.version += 1;
    erasure.updated_at = crate::time::now_rfc3339();
    db.put(&erasure, Cond::Version(read_version)).await?;
    tracing::info!(user = %job.user_id, slice = job.slice, status = ?erasure.status, messages = erasure.messages, "erasure slice");
    if erasure.status == ErasureStatus::Running {
        db.outbox().put(&job_after(job), Cond::Always).await?;
    }
    Ok(())
}

fn job_after(done: &Job) -> Job {
    job(&done.app_id, &done.user_id, done.slice + 1)
}

/// One step of the sweep (a page at most); how many messages and
/// reactions it handled.
async fn advance(
    state: &AppState,
    ctx: &Ctx,
    erasure: &mut Erasure,
    room: usize,
) -> Result<usize, ApiError> {
    let db = &state.db;
    let app = &ctx.app.app_id;
    let user = erasure.user_id.clone();
    let Some(channel) = erasure.channel.clone() else {
        match next_channel(db, app, &user).await? {
            Some(channel) => {
                erasure.channel = Some(channel);
                erasure.step = Step::Messages;
                erasure.cursor = None;
            }
            None => {
                if let Some(erased) = voters::erase_next(db, app, &user).await? {
                    erasure.votes += erased as u64;
                    return Ok(erased.max(1));
                }
                erasure.items += erase_partition(state, app, &user).await?;
                erasure.status = ErasureStatus::Done;
                erasure.finished_at = Some(crate::time::now_rfc3339());
                tracing::info!(app = %app, user = %user, "erasure done");
            }
        }
        return Ok(0);
    };
    let page = PageRequest {
        limit: i32::try_from(room.min(100)).unwrap_or(100),
        cursor: erasure.cursor.clone(),
        forward: true,
    };
    match erasure.step {
        Step::Messages | Step::Replies => {
            let replies = erasure.step == Step::Replies;
            let found =
                crate::messages::authored::written(db, app, &channel, &user, replies, page).await?;
            let n = found.items.len();
            for message in found.items {
                if erase_message(db, ctx, &message, erasure.hard).await? {
                    erasure.messages += 1;
                }
            }
            erasure.cursor = found.next;
            if erasure.cursor.is_none() {
                erasure.step = if erasure.step == Step::Messages {
                    Step::Replies
                } else {
                    Step::Reactions
                };
            }
            Ok(n.max(1))
        }
        Step::Reactions => {
            let found =
                crate::messages::authored::reactions(db, app, &channel, &user, page).await?;
            let n = found.items.len();
            for reaction in found.items {
                match crate::messages::reactions::remove(
                    db,
                    ctx,
                    &reaction.message_id,
                    &reaction.kind,
                )
                .await
                {
                    Ok(_) => erasure.reactions += 1,
                    // Gone already (a retried slice, a removed message).
                    Err(ApiError::NotFound(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            erasure.cursor = found.next;
            if erasure.cursor.is_none() {
                erasure.step = Step::Leave;
            }
            Ok(n.max(1))
        }
        Step::Leave => {
            leave(db, ctx, &channel, &user).await?;
            erasure.channels += 1;
            erasure.channel = None;
            erasure.cursor = None;
            Ok(1)
        }
    }
}

/// The next channel to sweep: a membership, else a mark of one left.
async fn next_channel(db: &Db, app: &AppId, user: &UserId) -> Result<Option<ChannelId>, ApiError> {
    let partition = keys::user_partition(app, user);
    let first = PageRequest {
        limit: 1,
        cursor: None,
        forward: true,
    };
    let memberships: crate::db::Page<crate::channels::Membership> = db
        .query(&partition, keys::MEMBERSHIP_PREFIX, &first)
        .await?;
    if let Some(m) = memberships.items.into_iter().next() {
        return Ok(Some(m.channel_id));
    }
    let left: crate::db::Page<crate::channels::Former> =
        db.query(&partition, keys::FORMER_PREFIX, &first).await?;
    Ok(left.items.into_iter().next().map(|f| f.channel_id))
}

/// Deletes one of their messages; `false` when it was gone already.
async fn erase_message(
    db: &Db,
    ctx: &Ctx,
    message: &Message,
    hard: bool,
) -> Result<bool, ApiError> {
    if !hard && message.kind == crate::messages::MessageType::Deleted {
        return Ok(false);
    }
    match crate::messages::edit::delete(db, ctx, &message.id, hard).await {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Takes them out of the channel: their membership (the count follows),
/// their ban, and the mark of having left.
async fn leave(db: &Db, ctx: &Ctx, channel: &ChannelId, user: &UserId) -> Result<(), ApiError> {
    let app = &ctx.app.app_id;
    if let Ok(access) = crate::channels::load(db, ctx, channel).await {
        if access.member.is_some() {
            match crate::channels::members::remove(db, ctx, &access, user).await {
                Ok(()) | Err(ApiError::NotFound(_)) => {}
                Err(err) => {
                    // A deleted channel, a race: the items go below anyway.
                    tracing::info!(error = %DisplayChain(&err), %channel, "erasure: membership removed without its count");
                }
            }
        }
    }
    db.batch_delete(&[
        keys::member(app, channel, user).any(),
        keys::membership(app, user, channel).any(),
        keys::ban(app, channel, user).any(),
        keys::online(app, channel, user).any(),
        keys::reachable(app, channel, user).any(),
        keys::former(app, user, channel).any(),
    ])
    .await?;
    Ok(())
}

/// Deletes everything left in the user's partition (profile, devices,
/// drafts, connection entries, marks); how many items.
async fn erase_partition(state: &AppState, app: &AppId, user: &UserId) -> Result<u64, ApiError> {
    let db = &state.db;
    if let Some(stored) = crate::users::get_user(db, app, user).await? {
        crate::realtime::sessions::end_user(state, app, &stored).await;
    }
    let partition = keys::user_partition(app, user);
    let (lo, hi) = keys::whole_range();
    let mut removed = 0;
    loop {
        let page = db
            .run::<serde_json::Value>(&Query {
                index: None,
                pk: &partition,
                sk: SortCond::Between(lo, &hi),
                page: PageRequest {
                    limit: 100,
                    cursor: None,
                    forward: true,
                },
                filter: None,
            })
            .await?;
        if page.items.is_empty() {
            return Ok(removed);
        }
        let keys: Vec<Key<_>> = page.items.iter().filter_map(stored_key).collect();
        removed += keys.len() as u64;
        db.batch_delete(&keys).await?;
    }
}

/// The primary key of an item read as JSON.
fn stored_key(item: &serde_json::Value) -> Option<Key> {
    let (pk, sk) = (
        item.get(crate::db::table::PK)?.as_str()?,
        item.get(crate::db::table::SK)?.as_str()?,
    );
    Some(keys::Key::from_stored(pk, sk))
}
