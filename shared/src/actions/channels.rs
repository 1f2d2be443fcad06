//! Channels and their members: create, change, delete, membership changes,
//! freeze and truncate, typing.

use crate::channels::{self, members, moderation, service, Channel, Ctx, Member, Role};
use crate::db::PageRequest;
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::realtime::publish::{self, ChannelChange};
use crate::state::AppState;

/// Creates a channel (or finds the distinct one); a new one is told to its
/// first members.
pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    input: service::CreateChannel,
) -> Result<(Channel, bool), ApiError> {
    let (channel, created) = service::create(&state.db, ctx, input).await?;
    if created {
        let first = PageRequest {
            limit: 100,
            cursor: None,
            forward: true,
        };
        let all = members::page(&state.db, ctx, &channel.id, &first).await?;
        let users: Vec<UserId> = all.items.into_iter().map(|m| m.user_id).collect();
        publish::added_to_channel(state, ctx, &channel, &users).await;
    }
    Ok((channel, created))
}

pub async fn update(
    state: &AppState,
    ctx: &Ctx,
    id: &ChannelId,
    patch: service::ChannelPatch,
) -> Result<Channel, ApiError> {
    let channel = service::update(&state.db, ctx, id, patch).await?;
    publish::channel(state, ctx, ChannelChange::Updated, &channel).await;
    Ok(channel)
}

/// Deletes a channel; its former members are told.
pub async fn delete(state: &AppState, ctx: &Ctx, id: &ChannelId) -> Result<(), ApiError> {
    let former = service::delete(&state.db, ctx, id).await?;
    publish::channel_deleted(state, ctx, id, &former).await;
    Ok(())
}

pub async fn add_members(
    state: &AppState,
    ctx: &Ctx,
    id: &ChannelId,
    input: members::AddMembers,
) -> Result<Vec<Member>, ApiError> {
    let access = channels::load(&state.db, ctx, id).await?;
    let added = members::add(&state.db, ctx, &access, input).await?;
    publish::members(state, ctx, true, id, &added).await;
    let users: Vec<UserId> = added.iter().map(|m| m.user_id.clone()).collect();
    publish::added_to_channel(state, ctx, &access.channel, &users).await;
    Ok(added)
}

pub async fn set_role(
    state: &AppState,
    ctx: &Ctx,
    id: &ChannelId,
    user: &UserId,
    role: Role,
) -> Result<Member, ApiError> {
    let access = channels::load(&state.db, ctx, id).await?;
    let member = members::set_role(&state.db, ctx, &access, user, role).await?;
    publish::members(state, ctx, false, id, std::slice::from_ref(&member)).await;
    Ok(member)
}

pub async fn remove_member(
    state: &AppState,
    ctx: &Ctx,
    id: &ChannelId,
    user: &UserId,
) -> Result<(), ApiError> {
    let access = channels::load(&state.db, ctx, id).await?;
    members::remove(&state.db, ctx, &access, user).await?;
    publish::member_removed(state, ctx, id, user).await;
    Ok(())
}

/// Joins a public channel; told only when the caller was not a member.
pub async fn join(state: &AppState, ctx: &Ctx, id: &ChannelId) -> Result<Member, ApiError> {
    let (member, joined) = members::join(&state.db, ctx, id).await?;
    if joined {
        publish::members(state, ctx, true, id, std::slice::from_ref(&member)).await;
    }
    Ok(member)
}

pub async fn leave(state: &AppState, ctx: &Ctx, id: &ChannelId) -> Result<(), ApiError> {
    members::leave(&state.db, ctx, id).await?;
    if let Some(user) = &ctx.user {
        publish::member_removed(state, ctx, id, user).await;
    }
    Ok(())
}

pub async fn accept_invite(
    state: &AppState,
    ctx: &Ctx,
    id: &ChannelId,
) -> Result<Member, ApiError> {
    let member = members::accept_invite(&state.db, ctx, id).await?;
    publish::members(state, ctx, false, id, std::slice::from_ref(&member)).await;
    Ok(member)
}

pub async fn reject_invite(state: &AppState, ctx: &Ctx, id: &ChannelId) -> Result<(), ApiError> {
    members::reject_invite(&state.db, ctx, id).await?;
    if let Some(user) = &ctx.user {
        publish::member_removed(state, ctx, id, user).await;
    }
    Ok(())
}

pub async fn set_frozen(
    state: &AppState,
    ctx: &Ctx,
    id: &ChannelId,
    frozen: bool,
) -> Result<Channel, ApiError> {
    let channel = moderation::set_frozen(&state.db, ctx, id, frozen).await?;
    let change = if frozen {
        ChannelChange::Frozen
    } else {
        ChannelChange::Unfrozen
    };
    publish::channel(state, ctx, change, &channel).await;
    Ok(channel)
}

pub async fn truncate(state: &AppState, ctx: &Ctx, id: &ChannelId) -> Result<Channel, ApiError> {
    let channel = moderation::truncate(&state.db, ctx, id).await?;
    publish::channel(state, ctx, ChannelChange::Truncated, &channel).await;
    Ok(channel)
}

/// A member starts or stops typing (in a thread with `parent`). A
/// shadow-banned member's typing reaches nobody (their messages do not
/// either); they are not told.
pub async fn typing(
    state: &AppState,
    ctx: &Ctx,
    id: &ChannelId,
    parent: Option<&MessageId>,
    started: bool,
) -> Result<(), ApiError> {
    let (access, ban) = channels::load_with_ban(&state.db, ctx, id).await?;
    let member = access.require_member()?;
    if !access.channel.settings.typing_events {
        return Err(ApiError::forbidden(
            "typing events are turned off in this channel",
        ));
    }
    if !ban.is_some_and(|b| b.shadow) {
        publish::typing(
            state,
            ctx,
            started,
            (&access.channel.id, access.is_big(ctx)),
            &member.user_id,
            parent,
        )
        .await;
    }
    Ok(())
}
