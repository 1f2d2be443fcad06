//! Delivery marks: a member's devices received the channel's messages up to
//! one. Delivered is not read: the mark is its own, on the member item only
//! (one conditional write), and it never moves back.

use serde::{Deserialize, Serialize};

use super::read::mark_point;
use crate::channels::{load, Ctx, Member};
use crate::db::{store, Cond, Db, DbError};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::keys;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkDelivered {
    /// Delivered up to and including this message; default: the latest.
    pub message_id: Option<MessageId>,
    pub user_id: Option<UserId>,
}

/// A member's delivery mark in a channel.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveredMark {
    pub channel_id: ChannelId,
    pub last_delivered_message_id: Option<MessageId>,
    pub last_delivered_at: Option<String>,
}

/// A mark as stored, and whether to tell the channel.
pub struct Marked {
    pub view: DeliveredMark,
    /// The mark moved and the channel has delivery events on.
    pub announce: bool,
    /// The channel is big: its delivery events reach no socket.
    pub big: bool,
}

/// Moves the acting member's delivery mark forward to `message_id` (the
/// latest message when absent). A mark at or before the stored one changes
/// nothing and tells no one.
pub async fn mark_delivered(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    message_id: Option<&MessageId>,
) -> Result<Marked, ApiError> {
    let access = load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?.clone();
    access.require_member()?;
    let (sort_key, message_id) = mark_point(db, ctx, &access, message_id).await?;
    let now = crate::time::now_rfc3339();
    let spec = store::members::delivered_mark(&sort_key, message_id.as_ref(), &now);
    let key = keys::member(&ctx.app.app_id, channel_id, &user);
    let moved = match db.update(&key, &spec, Cond::Exists).await {
        Ok(()) => true,
        Err(DbError::ConditionFailed) => false,
        Err(other) => return Err(other.into()),
    };
    let view = if moved {
        DeliveredMark {
            channel_id: channel_id.clone(),
            last_delivered_message_id: message_id,
            last_delivered_at: Some(now),
        }
    } else {
        // Already there (or the member left meanwhile): the stored mark.
        let member: Member = db
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::forbidden("you are not a member of this channel"))?;
        DeliveredMark {
            channel_id: channel_id.clone(),
            last_delivered_message_id: member.last_delivered_message_id,
            last_delivered_at: member.last_delivered_at,
        }
    };
    Ok(Marked {
        view,
        announce: moved && access.channel.settings.delivery_events,
        big: access.is_big(ctx),
    })
}
