//! Turning changes into events: called after a change succeeds, over REST or
//! the socket alike. Failures are logged inside the notifier; these never
//! return errors to the request.

use serde_json::{json, Value};

use super::audience::{self, Audience};
use super::events::Event;
use super::notifier::Delivery;
use crate::channels::{Channel, Ctx, Member};
use crate::error::DisplayChain;
use crate::ids::{ChannelId, UserId};
use crate::messages::{self, Message};
use crate::state::AppState;

/// Sends a channel event to its audience, worked out now. A failed look-up
/// is logged; nothing here fails the request that caused the event.
async fn to_channel(
    state: &AppState,
    app: &crate::ids::AppId,
    channel: &ChannelId,
    event: &Event,
    audience: Audience,
) -> Delivery {
    if !state.notifier.enabled() {
        return Delivery::default();
    }
    match audience::targets(&state.db, app, channel, &audience).await {
        Ok(targets) => state.notifier.to_targets(app, targets, event).await,
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), event = event.kind(), "fan-out look-up failed");
            Delivery::default()
        }
    }
}

/// Events are rendered for no one in particular (no own reactions).
fn neutral(ctx: &Ctx) -> Ctx {
    Ctx {
        app: ctx.app.clone(),
        server: true,
        user: None,
    }
}

async fn view(state: &AppState, ctx: &Ctx, message: &Message) -> Value {
    match messages::render(
        &state.db,
        &state.storage,
        &neutral(ctx),
        &message.channel_id,
        std::slice::from_ref(message),
    )
    .await
    {
        Ok(mut views) => views.pop().unwrap_or(Value::Null),
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), "could not render a message for its event");
            message.view(None, None, &[])
        }
    }
}

/// A shadow-banned member's message and its changes reach them only.
fn audience_of(message: &Message) -> Audience {
    if message.shadowed {
        Audience::Only(message.user_id.clone())
    } else {
        Audience::Readers
    }
}

/// `message.new` / `message.updated` / `message.deleted` (soft).
pub async fn message(state: &AppState, ctx: &Ctx, kind: &str, message: &Message) -> Delivery {
    let event = Event::channel(
        kind,
        &message.channel_id,
        json!({ "message": view(state, ctx, message).await }),
    );
    to_channel(
        state,
        &ctx.app.app_id,
        &message.channel_id,
        &event,
        audience_of(message),
    )
    .await
}

/// `message.deleted` for a hard delete: the message no longer exists.
pub async fn message_removed(state: &AppState, ctx: &Ctx, message: &Message) -> Delivery {
    let event = Event::channel(
        "message.deleted",
        &message.channel_id,
        json!({ "message": { "id": message.id, "parent_id": message.parent_id }, "hard": true }),
    );
    to_channel(
        state,
        &ctx.app.app_id,
        &message.channel_id,
        &event,
        audience_of(message),
    )
    .await
}

/// `reaction.new` / `reaction.deleted`, with the message's new counts.
pub async fn reaction(
    state: &AppState,
    ctx: &Ctx,
    kind: &str,
    message: &Message,
    reaction: Value,
) -> Delivery {
    let event = Event::channel(
        kind,
        &message.channel_id,
        json!({
            "message_id": message.id,
            "reaction": reaction,
            "reaction_counts": message.live_reaction_counts(),
        }),
    );
    to_channel(
        state,
        &ctx.app.app_id,
        &message.channel_id,
        &event,
        audience_of(message),
    )
    .await
}

/// `message.read`: a member read up to a message.
pub async fn read(
    state: &AppState,
    ctx: &Ctx,
    channel: &ChannelId,
    user: &UserId,
    last_read: &Value,
) -> Delivery {
    let event = Event::channel(
        "message.read",
        channel,
        json!({ "user": { "id": user }, "last_read_message_id": last_read }),
    );
    to_channel(state, &ctx.app.app_id, channel, &event, Audience::Readers).await
}

/// `member.added` / `member.updated` for each member.
pub async fn members(
    state: &AppState,
    ctx: &Ctx,
    kind: &str,
    channel: &ChannelId,
    members: &[Member],
) {
    let refs: Vec<&Member> = members.iter().collect();
    let views = match crate::channels::with_profiles(&state.db, &ctx.app.app_id, &refs).await {
        Ok(views) => views,
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), "could not read members' profiles for their event");
            members.iter().map(|m| m.view_with(None)).collect()
        }
    };
    for view in views {
        let event = Event::channel(kind, channel, json!({ "member": view }));
        to_channel(state, &ctx.app.app_id, channel, &event, Audience::Readers).await;
    }
}

/// `member.removed`: to the remaining members and to the removed user.
pub async fn member_removed(state: &AppState, ctx: &Ctx, channel: &ChannelId, user: &UserId) {
    let event = Event::channel(
        "member.removed",
        channel,
        json!({ "member": { "user_id": user } }),
    );
    to_channel(state, &ctx.app.app_id, channel, &event, Audience::Readers).await;
    state
        .notifier
        .to_users(&ctx.app.app_id, std::slice::from_ref(user), &event)
        .await;
}

/// `notification.added_to_channel`: to users just added (not the one adding).
pub async fn added_to_channel(state: &AppState, ctx: &Ctx, channel: &Channel, users: &[UserId]) {
    let users: Vec<UserId> = users
        .iter()
        .filter(|u| ctx.user.as_ref() != Some(u))
        .cloned()
        .collect();
    let event = Event::channel(
        "notification.added_to_channel",
        &channel.id,
        json!({ "channel": channel.view() }),
    );
    state
        .notifier
        .to_users(&ctx.app.app_id, &users, &event)
        .await;
}

/// `channel.updated` / `channel.frozen` / `channel.unfrozen` / `channel.truncated`.
pub async fn channel(state: &AppState, ctx: &Ctx, kind: &str, channel: &Channel) -> Delivery {
    let event = Event::channel(kind, &channel.id, json!({ "channel": channel.view() }));
    to_channel(
        state,
        &ctx.app.app_id,
        &channel.id,
        &event,
        Audience::Members,
    )
    .await
}

/// `channel.deleted`: to the users who were members.
pub async fn channel_deleted(state: &AppState, ctx: &Ctx, channel: &ChannelId, former: &[UserId]) {
    let event = Event::channel("channel.deleted", channel, json!({}));
    state
        .notifier
        .to_users(&ctx.app.app_id, former, &event)
        .await;
}

/// `typing.start` / `typing.stop`: never to the typer.
pub async fn typing(
    state: &AppState,
    ctx: &Ctx,
    kind: &str,
    channel: &ChannelId,
    user: &UserId,
    parent: Option<&crate::ids::MessageId>,
) -> Delivery {
    let event = Event::channel(
        kind,
        channel,
        json!({ "user": { "id": user }, "parent_id": parent }),
    );
    to_channel(
        state,
        &ctx.app.app_id,
        channel,
        &event,
        Audience::ReadersExcept(user.clone()),
    )
    .await
}
