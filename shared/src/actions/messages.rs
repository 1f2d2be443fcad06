//! Messages: send, edit, delete, pin, react, read.

use crate::channels::Ctx;
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId};
use crate::messages::{delivered, edit, previews, reactions, read, send, Message, Reaction};
use crate::realtime::publish::{self, MessageChange, ReactionChange};
use crate::state::AppState;

/// Sends a message; a new one is told to the channel (and to the app's
/// moderators when a blocklist flagged it), and its first link is queued
/// for a preview. A retry with the same client id tells nobody again.
pub async fn send(
    state: &AppState,
    ctx: &Ctx,
    input: send::SendMessage,
) -> Result<send::SendOutcome, ApiError> {
    let skip_preview = input.skip_enrich_url;
    let outcome = send::send(state, ctx, input).await?;
    if outcome.created {
        publish::message(state, ctx, MessageChange::New, &outcome.message).await;
        publish::blocklisted(state, ctx, &outcome.message, &outcome.flagged_by).await;
        if let Some(job) = previews::job_for(&ctx.app, &outcome.message, skip_preview) {
            previews::enqueue(state, job).await;
        }
    }
    Ok(outcome)
}

pub async fn edit(
    state: &AppState,
    ctx: &Ctx,
    id: &MessageId,
    change: edit::MessageEdit,
) -> Result<Message, ApiError> {
    let (message, flagged_by) = edit::edit(&state.db, &state.storage, ctx, id, change).await?;
    publish::message(state, ctx, MessageChange::Updated, &message).await;
    publish::blocklisted(state, ctx, &message, &flagged_by).await;
    Ok(message)
}

/// Deletes a message: soft, told as an update to `deleted`; hard, told as
/// its removal.
pub async fn delete(
    state: &AppState,
    ctx: &Ctx,
    id: &MessageId,
    hard: bool,
) -> Result<Message, ApiError> {
    let message = edit::delete(&state.db, ctx, id, hard).await?;
    if hard {
        publish::message_removed(state, ctx, &message).await;
    } else {
        publish::message(state, ctx, MessageChange::Deleted, &message).await;
    }
    Ok(message)
}

pub async fn set_pinned(
    state: &AppState,
    ctx: &Ctx,
    id: &MessageId,
    pinned: bool,
) -> Result<Message, ApiError> {
    let message = edit::set_pinned(&state.db, ctx, id, pinned).await?;
    publish::message(state, ctx, MessageChange::Updated, &message).await;
    Ok(message)
}

/// Adds a reaction; told only when it is new.
pub async fn react(
    state: &AppState,
    ctx: &Ctx,
    id: &MessageId,
    input: reactions::ReactionInput,
) -> Result<(Message, Reaction, bool), ApiError> {
    let (message, reaction, created) = reactions::add(&state.db, ctx, id, input).await?;
    if created {
        let added = ReactionChange::Added(reaction.view());
        publish::reaction(state, ctx, added, &message).await;
    }
    Ok((message, reaction, created))
}

pub async fn unreact(
    state: &AppState,
    ctx: &Ctx,
    id: &MessageId,
    kind: &str,
) -> Result<Message, ApiError> {
    let message = reactions::remove(&state.db, ctx, id, kind).await?;
    if let Some(user) = ctx.user.clone() {
        let removed = ReactionChange::Removed {
            user,
            kind: kind.to_string(),
        };
        publish::reaction(state, ctx, removed, &message).await;
    }
    Ok(message)
}

/// Marks a channel read; a mark that moved is told where read events are on.
pub async fn mark_read(
    state: &AppState,
    ctx: &Ctx,
    channel: &ChannelId,
    input: read::MarkRead,
) -> Result<read::ReadMark, ApiError> {
    let marked = read::mark_read(&state.db, ctx, channel, input).await?;
    if let (Some(user), true) = (&ctx.user, marked.announce) {
        let last = marked.view.last_read_message_id.as_ref();
        publish::read(state, ctx, (channel, marked.big), user, last).await;
    }
    Ok(marked.view)
}

/// Marks channels delivered up to a message each; each mark that moved is
/// told to the channel (when its `delivery_events` is on).
pub async fn mark_delivered(
    state: &AppState,
    ctx: &Ctx,
    marks: &[(ChannelId, Option<MessageId>)],
) -> Result<Vec<delivered::DeliveredMark>, ApiError> {
    let marking = marks.iter().map(|(channel, message)| async move {
        let marked = delivered::mark_delivered(&state.db, ctx, channel, message.as_ref()).await?;
        if let (Some(user), true) = (&ctx.user, marked.announce) {
            let last = marked.view.last_delivered_message_id.as_ref();
            publish::delivered(state, ctx, (channel, marked.big), user, last).await;
        }
        Ok::<_, ApiError>(marked.view)
    });
    futures::future::try_join_all(marking).await
}
