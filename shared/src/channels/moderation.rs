//! Freeze, truncate, bans; and each member's own mute and hide switches.

use serde::Deserialize;
use validator::Validate;

use super::{load, service, Ban, Channel, Ctx, Membership};
use crate::db::{Cond, Db, DbError, Page, PageRequest};
use crate::error::ApiError;
use crate::ids::{ChannelId, UserId};
use crate::keys;

/// A timed ban lasts at most a year; longer is a permanent ban.
pub const MAX_BAN_SECONDS: i64 = 365 * 24 * 3600;

pub async fn set_frozen(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    frozen: bool,
) -> Result<Channel, ApiError> {
    let access = load(db, ctx, channel_id).await?;
    access.require_moderator()?;
    let mut channel = access.channel;
    channel.frozen = frozen;
    service::save(db, channel).await
}

/// Hides all history before now from every member.
pub async fn truncate(db: &Db, ctx: &Ctx, channel_id: &ChannelId) -> Result<Channel, ApiError> {
    let access = load(db, ctx, channel_id).await?;
    access.require_moderator()?;
    let mut channel = access.channel;
    let now_ms = crate::time::now_millis();
    channel.truncated_at = Some(crate::time::millis_to_rfc3339(now_ms));
    channel.truncated_at_ms = Some(now_ms);
    let channel = service::save(db, channel).await?;
    // What it hides no longer counts in badges.
    if channel.reachable > 0 {
        let app = &ctx.app.app_id;
        let holders = crate::push::reachable::in_channel(db, app, channel_id).await?;
        crate::push::badges::truncated(db, app, channel_id, now_ms, holders).await?;
    }
    Ok(channel)
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanInput {
    pub user_id: UserId,
    /// Seconds until the ban ends; none is permanent.
    #[validate(range(min = 1, max = 31536000))]
    pub timeout: Option<i64>,
    #[serde(default)]
    pub shadow: bool,
    #[validate(length(max = 512))]
    pub reason: Option<String>,
}

pub async fn ban(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    input: BanInput,
) -> Result<Ban, ApiError> {
    input.validate()?;
    let access = load(db, ctx, channel_id).await?;
    access.require_moderator()?;
    if ctx.user.as_ref() == Some(&input.user_id) {
        return Err(ApiError::validation("you cannot ban yourself"));
    }
    let target: Option<super::Member> = db
        .get(&keys::member(&ctx.app.app_id, channel_id, &input.user_id))
        .await?;
    if let Some(target) = &target {
        access.require_outranks(target.role)?;
    }
    crate::users::require_user(db, &ctx.app.app_id, &input.user_id).await?;
    let now_ms = crate::time::now_millis();
    let expires_ms = input.timeout.map(|s| now_ms + s * 1000);
    let ban = Ban {
        app_id: ctx.app.app_id.clone(),
        channel_id: channel_id.clone(),
        user_id: input.user_id,
        shadow: input.shadow,
        reason: input.reason,
        banned_by: if ctx.server { None } else { ctx.user.clone() },
        created_at: crate::time::millis_to_rfc3339(now_ms),
        expires_at: expires_ms.map(crate::time::millis_to_rfc3339),
        // Rounded up: a ban never ends before its time.
        expires_epoch: expires_ms.map(|ms| (ms + 999) / 1000),
    };
    db.put(&ban, Cond::Always).await?;
    crate::realtime::connections::drop_watches(db, &ctx.app.app_id, channel_id, &ban.user_id)
        .await?;
    Ok(ban)
}

pub async fn unban(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    user: &UserId,
) -> Result<(), ApiError> {
    let access = load(db, ctx, channel_id).await?;
    access.require_moderator()?;
    if super::active_ban(db, ctx, channel_id, user)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "{user} is not banned in this channel"
        )));
    }
    db.delete(&keys::ban(&ctx.app.app_id, channel_id, user), Cond::Always)
        .await?;
    Ok(())
}

/// `GET /channels/{id}/bans`: the bans in force, a page at a time, for
/// owners, admins and the server. An expired ban reads as absent (its TTL),
/// so it is not listed even before the sweep deletes it.
pub async fn bans(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    page: &PageRequest,
) -> Result<Page<Ban>, ApiError> {
    let access = load(db, ctx, channel_id).await?;
    access.require_moderator()?;
    Ok(db
        .query(
            &keys::channel_partition(&ctx.app.app_id, channel_id),
            keys::BAN_PREFIX,
            page,
        )
        .await?)
}

/// The caller's own switches on their membership.
#[derive(Clone, Copy, Debug)]
pub enum Switch {
    Mute(bool),
    Hide(bool),
}

pub async fn set_switch(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    switch: Switch,
) -> Result<(Channel, Membership), ApiError> {
    let access = load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?.clone();
    access.require_member()?;
    let key = keys::membership(&ctx.app.app_id, &user, channel_id);
    let mut membership: Membership = db
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::forbidden("you are not a member of this channel"))?;
    match switch {
        Switch::Mute(muted) => membership.muted = muted,
        Switch::Hide(true) => membership.hidden_at = Some(crate::time::now_rfc3339()),
        Switch::Hide(false) => membership.hidden_at = None,
    }
    let read_version = membership.version;
    membership.version += 1;
    match db.put(&membership, Cond::Version(read_version)).await {
        Ok(()) => Ok((access.channel, membership)),
        Err(DbError::ConditionFailed) => Err(ApiError::conflict(
            "your membership changed while this request ran; retry",
        )),
        Err(other) => Err(other.into()),
    }
}
