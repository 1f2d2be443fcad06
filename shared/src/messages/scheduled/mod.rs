//! Scheduled messages: a send that waits for its time. It waits in its
//! author's partition (`SCHED#{id}`: theirs to list, edit and delete, and a
//! server token's acting as them), and the scheduler carries a [`Due`] task
//! for its time. When due, the notify function sends it as the author would
//! ([`crate::actions::scheduled`]), every rule evaluated then. The message
//! keeps the scheduled id as its client id, so a task run twice stores one
//! message. A send the rules refuse leaves it `failed`, with the reason,
//! until it is rescheduled or deleted.

pub mod model;

pub use model::*;

use serde::Deserialize;
use validator::Validate;

use super::{send, Attachment, MessageType, SendMessage};
use crate::acting::Ctx;
use crate::db::{Cond, Db, DbError, Entity, Page, PageRequest};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::keys;
use crate::scheduler::MAX_AHEAD_MS;
use crate::state::AppState;

/// A change to a scheduled message: what is given is replaced.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledEdit {
    pub text: Option<String>,
    #[validate(nested)]
    pub attachments: Option<Vec<Attachment>>,
    pub mentions: Option<Vec<UserId>>,
    /// A new time (RFC 3339, 10 s to 30 days ahead); a failed message given
    /// one is pending again.
    pub scheduled_at: Option<String>,
    /// With a server token: the author.
    pub user_id: Option<UserId>,
}

/// `at` as milliseconds, if it is 10 s to 30 days ahead of `now_ms`.
fn due_ms(at: &str, now_ms: i64) -> Result<i64, ApiError> {
    let due = chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|_| ApiError::validation("scheduled_at must be an RFC 3339 time"))?
        .timestamp_millis();
    if due - now_ms < MIN_AHEAD_MS {
        return Err(ApiError::validation(
            "scheduled_at must be at least 10 seconds ahead",
        ));
    }
    if due - now_ms > MAX_AHEAD_MS {
        return Err(ApiError::validation(
            "scheduled_at must be at most 30 days ahead",
        ));
    }
    Ok(due)
}

/// Schedules a send (its `scheduled_at` is set): checked now as a send
/// would be, then stored and queued.
pub async fn schedule(
    state: &AppState,
    ctx: &Ctx,
    mut input: SendMessage,
) -> Result<ScheduledMessage, ApiError> {
    let now = crate::time::now_millis();
    let at = input
        .scheduled_at
        .take()
        .ok_or_else(|| ApiError::validation("scheduled_at is required"))?;
    let due = due_ms(&at, now)?;
    if input.kind == Some(MessageType::System) {
        return Err(ApiError::validation("system messages cannot be scheduled"));
    }
    let author = ctx.as_user()?;
    let user = author.require_user()?.clone();
    let cap = ctx.app.settings.max_scheduled_messages;
    if !state.scheduler.enabled() {
        return Err(ApiError::forbidden(
            "this deployment has no schedule queue (CHAT_SCHEDULE_QUEUE_URL)",
        ));
    }
    if cap == 0 {
        return Err(ApiError::forbidden(
            "scheduled messages are turned off for this app",
        ));
    }
    input.user_id = None;
    send::check(state, &author, &mut input).await?;
    let held = state
        .db
        .count(
            &keys::user_partition(&ctx.app.app_id, &user),
            keys::SCHEDULED_PREFIX,
        )
        .await?;
    if held >= cap as usize {
        return Err(ApiError::forbidden(format!(
            "at most {cap} scheduled messages per user: delete some, or wait until they are sent"
        )));
    }
    let id = input.id.clone().unwrap_or_else(MessageId::generate);
    input.id = Some(id.clone());
    let stamp = crate::time::now_rfc3339();
    let item = ScheduledMessage {
        app_id: ctx.app.app_id.clone(),
        user_id: user,
        id,
        input,
        due_ms: due,
        status: ScheduledStatus::Pending,
        failure: None,
        version: 1,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    match state.db.put(&item, Cond::NotExists).await {
        Ok(()) => {}
        Err(DbError::ConditionFailed) => {
            return Err(ApiError::conflict(
                "a scheduled message with this id already exists",
            ))
        }
        Err(other) => return Err(other.into()),
    }
    if let Err(err) = state.scheduler.schedule(&[(due, item.due())]).await {
        // Not queued: not kept either, so nothing waits that never comes.
        let _ = state.db.delete(&item.key(), Cond::Always).await;
        return Err(err.into());
    }
    Ok(item)
}

/// One of the acting user's scheduled messages.
pub async fn get(db: &Db, ctx: &Ctx, id: &MessageId) -> Result<ScheduledMessage, ApiError> {
    let user = ctx.require_user()?;
    db.get(&keys::scheduled(&ctx.app.app_id, user, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("scheduled message {id} not found")))
}

/// The acting user's scheduled messages (pending, being sent, failed), in
/// the order they were scheduled; only one channel's when `channel` is
/// given (a page may then hold fewer than `limit`: follow `next`).
pub async fn list(
    db: &Db,
    ctx: &Ctx,
    channel: Option<&ChannelId>,
    page: &PageRequest,
) -> Result<Page<ScheduledMessage>, ApiError> {
    let user = ctx.require_user()?;
    let mut found: Page<ScheduledMessage> = db
        .query(
            &keys::user_partition(&ctx.app.app_id, user),
            keys::SCHEDULED_PREFIX,
            page,
        )
        .await?;
    if let Some(channel) = channel {
        found.items.retain(|s| &s.input.channel_id == channel);
    }
    Ok(found)
}

/// Changes a pending or failed message; a new time queues a new task.
pub async fn edit(
    state: &AppState,
    ctx: &Ctx,
    id: &MessageId,
    change: ScheduledEdit,
) -> Result<ScheduledMessage, ApiError> {
    change.validate()?;
    let now = crate::time::now_millis();
    let mut item = get(&state.db, ctx, id).await?;
    if item.status == ScheduledStatus::Sending && !item.abandoned(now) {
        return Err(ApiError::conflict(
            "the message is being sent; it can no longer change",
        ));
    }
    let new_due = change
        .scheduled_at
        .as_deref()
        .map(|at| due_ms(at, now))
        .transpose()?;
    if let Some(text) = change.text {
        item.input.text = Some(text);
    }
    if let Some(attachments) = change.attachments {
        item.input.attachments = attachments;
    }
    if let Some(mentions) = change.mentions {
        item.input.mentions = mentions;
    }
    let requeue = match new_due {
        Some(due) => {
            item.due_ms = due;
            item.status = ScheduledStatus::Pending;
            item.failure = None;
            true
        }
        None if item.status == ScheduledStatus::Failed => false,
        None if item.status == ScheduledStatus::Sending => {
            return Err(ApiError::validation(
                "a send that never finished needs a new scheduled_at",
            ))
        }
        None => false,
    };
    if item.status == ScheduledStatus::Pending {
        send::check(state, &ctx.as_user()?, &mut item.input).await?;
    }
    let version = item.version;
    item.version += 1;
    item.updated_at = crate::time::now_rfc3339();
    match state.db.put(&item, Cond::Version(version)).await {
        Ok(()) => {}
        Err(DbError::ConditionFailed) => {
            return Err(ApiError::conflict(
                "the scheduled message changed while this request ran; retry",
            ))
        }
        Err(other) => return Err(other.into()),
    }
    if requeue {
        state
            .scheduler
            .schedule(&[(item.due_ms, item.due())])
            .await?;
    }
    Ok(item)
}

/// Deletes a pending or failed message: it will not be sent.
pub async fn delete(db: &Db, ctx: &Ctx, id: &MessageId) -> Result<(), ApiError> {
    let item = get(db, ctx, id).await?;
    if item.status == ScheduledStatus::Sending && !item.abandoned(crate::time::now_millis()) {
        return Err(ApiError::conflict(
            "the message is being sent; it can no longer be deleted",
        ));
    }
    match db.delete(&item.key(), Cond::Version(item.version)).await {
        Ok(()) => Ok(()),
        Err(DbError::ConditionFailed) => Err(ApiError::conflict(
            "the scheduled message changed while this request ran; retry",
        )),
        Err(other) => Err(other.into()),
    }
}

/// What a due task finds.
pub enum Claimed {
    /// Nothing to send: deleted, sent, rescheduled or failed.
    Nothing,
    /// Ours to send (now `sending`).
    Send(Box<ScheduledMessage>),
}

/// Takes a due message for sending: a pending one becomes `sending` (so no
/// edit races the send); one already `sending` at this time is a task run
/// again, and is sent again (the send is idempotent by its id).
pub async fn claim(db: &Db, task: &Due) -> Result<Claimed, ApiError> {
    let key = keys::scheduled(&task.app_id, &task.user_id, &task.id);
    // A concurrent edit moves the version: read again and decide again.
    for _ in 0..5 {
        let Some(mut item) = db.get::<ScheduledMessage>(&key).await? else {
            return Ok(Claimed::Nothing);
        };
        if item.due_ms != task.due_ms {
            return Ok(Claimed::Nothing);
        }
        match item.status {
            ScheduledStatus::Failed => return Ok(Claimed::Nothing),
            ScheduledStatus::Sending => return Ok(Claimed::Send(Box::new(item))),
            ScheduledStatus::Pending => {}
        }
        let version = item.version;
        item.version += 1;
        item.status = ScheduledStatus::Sending;
        item.updated_at = crate::time::now_rfc3339();
        match db.put(&item, Cond::Version(version)).await {
            Ok(()) => return Ok(Claimed::Send(Box::new(item))),
            Err(DbError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::conflict(
        "the scheduled message kept changing; the task runs again",
    ))
}

/// The send happened (or had happened): the scheduled message is gone.
pub async fn sent(db: &Db, item: &ScheduledMessage) -> Result<(), ApiError> {
    Ok(db.delete(&item.key(), Cond::Always).await?)
}

/// The send was refused: the message stays, `failed`, with the reason.
pub async fn failed(
    db: &Db,
    mut item: ScheduledMessage,
    why: &ApiError,
) -> Result<ScheduledMessage, ApiError> {
    item.status = ScheduledStatus::Failed;
    item.failure = Some(Failure {
        code: why.code().to_string(),
        message: why.to_string(),
    });
    item.version += 1;
    item.updated_at = crate::time::now_rfc3339();
    db.put(&item, Cond::Always).await?;
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_must_be_ten_seconds_to_thirty_days_ahead() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .map(|t| t.timestamp_millis())
            .unwrap_or_default();
        assert!(due_ms("2026-12-06T12:00:09Z", now).is_err());
        assert_eq!(due_ms("2026-12-06T12:00:10Z", now).ok(), Some(now + 10_000));
        assert!(due_ms("2027-01-05T12:00:00Z", now).is_ok());
        assert!(due_ms("2027-01-05T12:00:01Z", now).is_err());
        assert!(due_ms("tomorrow", now).is_err());
    }
}
