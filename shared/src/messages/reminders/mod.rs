//! Reminders and saved messages: a user keeps a message they can read, with
//! a time to be reminded of it or without one (saved for later). One per
//! message per user, in the user's partition (`REMIND#{message}`: erased
//! with it). A reminder's time puts a [`ReminderDue`] task on the
//! scheduler; when it comes, the notify function tells the user's sockets
//! and devices ([`crate::actions::reminders`]).
//!
//! A reminder of a message that is deleted, or that the user can no longer
//! read (left the channel, truncated away, the channel deleted), is dropped
//! when it is next read: by a listing, an edit, or its due task.

pub mod model;

pub use model::*;

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};

use super::{locate, render, Message, MessageView};
use crate::acting::Ctx;
use crate::db::{Cond, Db, DbError, Entity};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::scheduler::MAX_AHEAD_MS;
use crate::state::AppState;

/// `POST /messages/{id}/reminder`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderInput {
    /// When to remind (RFC 3339, up to 30 days ahead); left out: the
    /// message is saved for later.
    pub remind_at: Option<String>,
    /// With a server token: the user.
    pub user_id: Option<UserId>,
}

/// `PATCH /messages/{id}/reminder`: a new time, or `null` to keep the
/// message saved without one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderEdit {
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>, nullable)]
    pub remind_at: Option<Option<String>>,
    pub user_id: Option<UserId>,
}

/// A field that is present, `null` included.
fn given<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `at` as milliseconds, if it is ahead of `now_ms` by at most 30 days.
fn remind_ms(at: &str, now_ms: i64) -> Result<i64, ApiError> {
    let ms = chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|_| ApiError::validation("remind_at must be an RFC 3339 time"))?
        .timestamp_millis();
    if ms <= now_ms {
        return Err(ApiError::validation("remind_at must be in the future"));
    }
    if ms - now_ms > MAX_AHEAD_MS {
        return Err(ApiError::validation(
            "remind_at must be at most 30 days ahead",
        ));
    }
    Ok(ms)
}

/// A reminder with its message as the user reads it.
pub struct Kept {
    pub reminder: Reminder,
    pub message: MessageView,
    /// The channel's name (for a push).
    pub channel_name: Option<String>,
}

impl Kept {
    pub fn view(&self) -> ReminderView {
        self.reminder.view(self.message.clone())
    }
}

fn not_found(id: &MessageId) -> ApiError {
    ApiError::not_found(format!("no reminder for message {id}"))
}

/// Keeps a message the user can read: a reminder (`remind_at`) or a saved
/// message.
pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    id: &MessageId,
    input: ReminderInput,
) -> Result<Kept, ApiError> {
    let ctx = ctx.as_user()?;
    let user = ctx.require_user()?.clone();
    let now = crate::time::now_millis();
    let at = input
        .remind_at
        .as_deref()
        .map(|at| remind_ms(at, now))
        .transpose()?;
    let cap = ctx.app.settings.max_reminders;
    if cap == 0 {
        return Err(ApiError::forbidden(
            "reminders and saved messages are turned off for this app",
        ));
    }
    if at.is_some() && !state.scheduler.enabled() {
        return Err(ApiError::forbidden(
            "this deployment has no schedule queue (CHAT_SCHEDULE_QUEUE_URL)",
        ));
    }
    let (access, message) = locate(&state.db, &ctx, id).await?;
    access.require_read()?;
    if message.deleted_at.is_some() {
        return Err(ApiError::not_found(format!("message {id} is deleted")));
    }
    let held = state
        .db
        .count(
            &keys::user_partition(&ctx.app.app_id, &user),
            keys::REMINDER_PREFIX,
        )
        .await?;
    if held >= cap as usize {
        return Err(ApiError::forbidden(format!(
            "at most {cap} reminders and saved messages per user: delete some first"
        )));
    }
    let stamp = crate::time::now_rfc3339();
    let reminder = Reminder {
        app_id: ctx.app.app_id.clone(),
        user_id: user,
        message_id: message.id.clone(),
        channel_id: message.channel_id.clone(),
        sort_id: message.sort_id.clone(),
        in_channel: message.in_channel(),
        remind_ms: at,
        version: 1,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    match state.db.put(&reminder, Cond::NotExists).await {
        Ok(()) => {}
        Err(DbError::ConditionFailed) => {
            return Err(ApiError::conflict(
                "this message already has a reminder: PATCH it",
            ))
        }
        Err(other) => return Err(other.into()),
    }
    if let Err(err) = queue(state, &reminder).await {
        // Not queued: not kept either, so no reminder waits that never comes.
        let _ = state.db.delete(&reminder.key(), Cond::Always).await;
        return Err(err);
    }
    let rendered = render(
        &state.db,
        &state.storage,
        &ctx,
        &access.channel.id,
        std::slice::from_ref(&message),
    )
    .await?;
    let message = rendered
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("a message rendered as nothing".into()))?;
    Ok(Kept {
        reminder,
        message,
        channel_name: access.channel.name.clone(),
    })
}

async fn queue(state: &AppState, reminder: &Reminder) -> Result<(), ApiError> {
    if let Some(due) = reminder.due() {
        state.scheduler.schedule(&[(due.due_ms, due)]).await?;
    }
    Ok(())
}

/// The user's reminder of message `id`, with the message, if they can
/// still read it (if not, the reminder is dropped and not found).
pub async fn get(state: &AppState, ctx: &Ctx, id: &MessageId) -> Result<Kept, ApiError> {
    let ctx = ctx.as_user()?;
    let user = ctx.require_user()?;
    let reminder: Reminder = state
        .db
        .get(&keys::reminder(&ctx.app.app_id, user, id))
        .await?
        .ok_or_else(|| not_found(id))?;
    resolve(state, &ctx, vec![reminder])
        .await?
        .pop()
        .ok_or_else(|| not_found(id))
}

/// Sets a new time, or none (`null`: saved for later).
pub async fn edit(
    state: &AppState,
    ctx: &Ctx,
    id: &MessageId,
    change: ReminderEdit,
) -> Result<Kept, ApiError> {
    let now = crate::time::now_millis();
    let at = match &change.remind_at {
        None => return get(state, ctx, id).await,
        Some(None) => None,
        Some(Some(at)) => Some(remind_ms(at, now)?),
    };
    if at.is_some() && !state.scheduler.enabled() {
        return Err(ApiError::forbidden(
            "this deployment has no schedule queue (CHAT_SCHEDULE_QUEUE_URL)",
        ));
    }
    let mut kept = get(state, ctx, id).await?;
    let reminder = &mut kept.reminder;
    let version = reminder.version;
    reminder.remind_ms = at;
    reminder.version += 1;
    reminder.updated_at = crate::time::now_rfc3339();
    match state.db.put(&*reminder, Cond::Version(version)).await {
        Ok(()) => {}
        Err(DbError::ConditionFailed) => {
            return Err(ApiError::conflict(
                "the reminder changed while this request ran; retry",
            ))
        }
        Err(other) => return Err(other.into()),
    }
    queue(state, reminder).await?;
    Ok(kept)
}

/// Deletes the user's reminder of message `id`.
pub async fn delete(db: &Db, ctx: &Ctx, id: &MessageId) -> Result<(), ApiError> {
    let user = ctx.require_user()?;
    match db
        .delete(&keys::reminder(&ctx.app.app_id, user, id), Cond::Exists)
        .await
    {
        Ok(()) => Ok(()),
        Err(DbError::ConditionFailed) => Err(not_found(id)),
        Err(other) => Err(other.into()),
    }
}

/// The user's reminders (those of `filter` only, when given): reminders by
/// their time, soonest first, then saved messages in the order they were
/// sent. `limit` a page, `after` the `next` of the page before. A page may
/// hold fewer than `limit` when reminders were dropped: follow `next`.
pub async fn list(
    state: &AppState,
    ctx: &Ctx,
    filter: Option<ReminderStatus>,
    limit: usize,
    after: Option<&str>,
) -> Result<(Vec<Kept>, Option<String>), ApiError> {
    let ctx = ctx.as_user()?;
    let user = ctx.require_user()?;
    let cap = ctx.app.settings.max_reminders.max(1) as i32;
    let mut all: Vec<Reminder> = state
        .db
        .query_all(
            &keys::user_partition(&ctx.app.app_id, user),
            keys::REMINDER_PREFIX,
            cap.min(1000),
        )
        .await?;
    let now = crate::time::now_millis();
    all.retain(|r| filter.is_none_or(|f| r.status(now) == f));
    all.retain(|r| after.is_none_or(|after| r.order_key().as_str() > after));
    all.sort_by_key(Reminder::order_key);
    let more = all.len() > limit;
    all.truncate(limit);
    let next = more.then(|| all.last().map(Reminder::order_key)).flatten();
    Ok((resolve(state, &ctx, all).await?, next))
}

/// The reminders whose messages the user can still read, with them (one
/// batch read of the messages, their channels and the user's memberships,
/// then each channel's messages rendered); the others are dropped.
pub async fn resolve(
    state: &AppState,
    ctx: &Ctx,
    reminders: Vec<Reminder>,
) -> Result<Vec<Kept>, ApiError> {
    if reminders.is_empty() {
        return Ok(Vec::new());
    }
    let app = &ctx.app.app_id;
    let user = ctx.require_user()?;
    let wanted: Vec<(ChannelId, Key<_>)> = reminders
        .iter()
        .map(|r| (r.channel_id.clone(), r.message_key()))
        .collect();
    let (messages, channels) = super::readable(&state.db, ctx, &wanted).await?;
    let messages: HashMap<MessageId, Message> =
        messages.into_iter().map(|m| (m.id.clone(), m)).collect();
    let mut readable: Vec<(Reminder, Message)> = Vec::new();
    let mut gone: Vec<Key<_>> = Vec::new();
    for reminder in reminders {
        match messages.get(&reminder.message_id) {
            Some(message) => readable.push((reminder, message.clone())),
            None => gone.push(reminder.key()),
        }
    }
    if !gone.is_empty() {
        tracing::info!(app = %app, user = %user, dropped = gone.len(), "reminders of messages no longer readable dropped");
        state.db.batch_delete(&gone).await?;
    }
    let kept: Vec<Message> = readable.iter().map(|(_, m)| m.clone()).collect();
    let mut views = super::render_each(&state.db, &state.storage, ctx, &kept).await?;
    Ok(readable
        .into_iter()
        .filter_map(|(reminder, _)| {
            let message = views.remove(&reminder.message_id)?;
            let channel_name = channels
                .get(&reminder.channel_id)
                .and_then(|c| c.name.clone());
            Some(Kept {
                reminder,
                message,
                channel_name,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_must_be_ahead_by_at_most_thirty_days() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .map(|t| t.timestamp_millis())
            .unwrap_or_default();
        assert!(remind_ms("2026-12-06T12:00:00Z", now).is_err());
        assert_eq!(
            remind_ms("2026-12-06T12:00:01Z", now).ok(),
            Some(now + 1_000)
        );
        assert!(remind_ms("2027-01-05T12:00:00Z", now).is_ok());
        assert!(remind_ms("2027-01-05T12:00:01Z", now).is_err());
        assert!(remind_ms("soon", now).is_err());
    }

    #[test]
    fn an_edit_tells_null_from_absent() {
        let absent: ReminderEdit = serde_json::from_str("{}").unwrap_or_default();
        assert_eq!(absent.remind_at, None);
        let null: ReminderEdit = serde_json::from_str(r#"{"remind_at": null}"#).unwrap_or_default();
        assert_eq!(null.remind_at, Some(None));
    }
}
