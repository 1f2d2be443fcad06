//! Adding, removing and re-roling members; joining, leaving and invites.
//! Every change writes the member item, its mirror in the user's partition
//! and the channel's member count in one transaction.

use serde::Deserialize;

use super::{
    load, new_membership, Access, ChannelType, Ctx, InviteStatus, Member, Membership, Role,
    MAX_MEMBERS_PER_WRITE,
};
use crate::db::{store, Cond, Db, DbError, Page, PageRequest};
use crate::error::ApiError;
use crate::ids::{ChannelId, UserId};
use crate::keys::{self, Key};
use crate::push::reachable;
use crate::realtime::online;
use crate::users;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembers {
    pub user_ids: Vec<UserId>,
    /// Invite instead of adding: members stay pending until they accept.
    #[serde(default)]
    pub invite: bool,
    #[serde(default)]
    pub role: Option<Role>,
}

fn changed_under_us(err: DbError) -> ApiError {
    match err {
        DbError::TransactionCanceled(_) | DbError::ConditionFailed => {
            ApiError::conflict("the channel's members changed while this request ran; retry")
        }
        other => other.into(),
    }
}

pub async fn page(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    request: &PageRequest,
) -> Result<Page<Member>, ApiError> {
    Ok(db
        .query(
            &keys::channel_partition(&ctx.app.app_id, channel_id),
            keys::MEMBER_PREFIX,
            request,
        )
        .await?)
}

/// Adds (or invites) users; those already members are left as they are.
/// Returns the newly added member items.
pub async fn add(
    db: &Db,
    ctx: &Ctx,
    access: &Access,
    input: AddMembers,
) -> Result<Vec<Member>, ApiError> {
    access.require_moderator()?;
    let channel = &access.channel;
    if channel.kind == ChannelType::Direct {
        return Err(ApiError::validation(
            "a direct channel's members cannot change",
        ));
    }
    let role = input.role.unwrap_or_default();
    if role == Role::Owner || role == Role::Admin {
        access.require_owner()?;
    }
    let mut wanted: Vec<UserId> = Vec::new();
    for id in input.user_ids {
        if !wanted.contains(&id) {
            wanted.push(id);
        }
    }
    if wanted.is_empty() {
        return Err(ApiError::validation("user_ids must name at least one user"));
    }
    if wanted.len() > MAX_MEMBERS_PER_WRITE {
        return Err(ApiError::validation(format!(
            "at most {MAX_MEMBERS_PER_WRITE} users per request"
        )));
    }
    let found = users::get_users(db, &ctx.app.app_id, &wanted).await?;
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|id| !found.iter().any(|u| &u.id == *id))
        .map(UserId::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::validation(format!(
            "unknown users: {}",
            missing.join(", ")
        )));
    }
    let member_keys: Vec<Key<_>> = wanted
        .iter()
        .map(|u| keys::member(&ctx.app.app_id, &channel.id, u))
        .collect();
    let existing: Vec<Member> = db.batch_get(&member_keys).await?;
    let new: Vec<UserId> = wanted
        .into_iter()
        .filter(|u| !existing.iter().any(|m| &m.user_id == u))
        .collect();
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let invite = input.invite.then_some(InviteStatus::Pending);
    let now = crate::time::now_rfc3339();
    let count = i64::try_from(new.len()).unwrap_or(0);
    let mut writes = vec![db.update_write(
        &keys::channel(&ctx.app.app_id, &channel.id),
        &store::channels::member_count_change(count),
        Cond::Live,
    )?];
    let mut added = Vec::with_capacity(new.len());
    for user in &new {
        let (member, membership) = new_membership(channel, user, role, invite, &now);
        writes.push(db.put_write(&member, Cond::NotExists)?);
        writes.push(db.put_write(&membership, Cond::Always)?);
        added.push(member);
    }
    db.transact(writes).await.map_err(changed_under_us)?;
    online::joined(db, &ctx.app.app_id, &channel.id, &new).await?;
    reachable::joined(db, &ctx.app.app_id, &channel.id, &new).await?;
    Ok(added)
}

/// Removes a member: themself (leave), or by an owner/admin (an admin
/// cannot remove an owner), or by the server.
pub async fn remove(db: &Db, ctx: &Ctx, access: &Access, target: &UserId) -> Result<(), ApiError> {
    let is_self = ctx.user.as_ref() == Some(target);
    let channel = &access.channel;
    let member: Member = db
        .get(&keys::member(&ctx.app.app_id, &channel.id, target))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{target} is not a member of this channel")))?;
    if !is_self {
        access.require_moderator()?;
        access.require_outranks(member.role)?;
    }
    let writes = vec![
        db.delete_write(
            &member_key(ctx, &channel.id, target),
            Cond::Version(member.version),
        )?,
        db.delete_write(
            &keys::membership(&ctx.app.app_id, target, &channel.id),
            Cond::Always,
        )?,
        db.update_write(
            &keys::channel(&ctx.app.app_id, &channel.id),
            &store::channels::member_count_change(-1),
            Cond::Live,
        )?,
        db.put_write(
            &crate::channels::Former {
                app_id: ctx.app.app_id.clone(),
                user_id: target.clone(),
                channel_id: channel.id.clone(),
                left_at: crate::time::now_rfc3339(),
            },
            Cond::Always,
        )?,
    ];
    db.transact(writes).await.map_err(changed_under_us)?;
    online::left(db, &ctx.app.app_id, &channel.id, target).await?;
    reachable::left(db, &ctx.app.app_id, &channel.id, target).await?;
    crate::realtime::connections::drop_watches(db, &ctx.app.app_id, &channel.id, target).await
}

fn member_key(ctx: &Ctx, channel: &ChannelId, user: &UserId) -> Key<keys::item::Member> {
    keys::member(&ctx.app.app_id, channel, user)
}

/// Changes a member's role: owners and the server only.
pub async fn set_role(
    db: &Db,
    ctx: &Ctx,
    access: &Access,
    target: &UserId,
    role: Role,
) -> Result<Member, ApiError> {
    access.require_owner()?;
    let channel = &access.channel;
    let (mut member, mut membership) = both(db, ctx, &channel.id, target).await?;
    let (member_version, membership_version) = (member.version, membership.version);
    member.role = role;
    member.version += 1;
    membership.role = role;
    membership.version += 1;
    let writes = vec![
        db.put_write(&member, Cond::Version(member_version))?,
        db.put_write(&membership, Cond::Version(membership_version))?,
    ];
    db.transact(writes).await.map_err(changed_under_us)?;
    Ok(member)
}

async fn both(
    db: &Db,
    ctx: &Ctx,
    channel: &ChannelId,
    user: &UserId,
) -> Result<(Member, Membership), ApiError> {
    let member: Option<Member> = db.get(&member_key(ctx, channel, user)).await?;
    let membership: Option<Membership> = db
        .get(&keys::membership(&ctx.app.app_id, user, channel))
        .await?;
    match (member, membership) {
        (Some(m), Some(s)) => Ok((m, s)),
        _ => Err(ApiError::not_found(format!(
            "{user} is not a member of this channel"
        ))),
    }
}

/// Joins a public channel (not while banned). Joining again is a no-op
/// (`false`).
pub async fn join(db: &Db, ctx: &Ctx, channel_id: &ChannelId) -> Result<(Member, bool), ApiError> {
    let access = load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?.clone();
    if let Some(member) = access.member {
        return Ok((member, false));
    }
    if access.channel.kind != ChannelType::Public {
        return Err(ApiError::forbidden(
            "only public channels can be joined; ask a channel admin to add you",
        ));
    }
    if super::active_ban(db, ctx, channel_id, &user)
        .await?
        .is_some()
    {
        return Err(ApiError::forbidden("you are banned from this channel"));
    }
    users::require_user(db, &ctx.app.app_id, &user).await?;
    let now = crate::time::now_rfc3339();
    let (member, membership) = new_membership(&access.channel, &user, Role::Member, None, &now);
    let writes = vec![
        db.update_write(
            &keys::channel(&ctx.app.app_id, channel_id),
            &store::channels::member_count_change(1),
            Cond::Live,
        )?,
        db.put_write(&member, Cond::NotExists)?,
        db.put_write(&membership, Cond::Always)?,
    ];
    db.transact(writes).await.map_err(changed_under_us)?;
    online::joined(db, &ctx.app.app_id, channel_id, std::slice::from_ref(&user)).await?;
    reachable::joined(db, &ctx.app.app_id, channel_id, std::slice::from_ref(&user)).await?;
    Ok((member, true))
}

pub async fn leave(db: &Db, ctx: &Ctx, channel_id: &ChannelId) -> Result<(), ApiError> {
    let access = load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?.clone();
    access.require_member()?;
    remove(db, ctx, &access, &user).await
}

/// Accepts a pending invite: the member becomes active.
pub async fn accept_invite(db: &Db, ctx: &Ctx, channel_id: &ChannelId) -> Result<Member, ApiError> {
    let (mut member, mut membership) = pending(db, ctx, channel_id).await?;
    let (member_version, membership_version) = (member.version, membership.version);
    member.invite = None;
    member.version += 1;
    membership.invite = None;
    membership.version += 1;
    let writes = vec![
        db.put_write(&member, Cond::Version(member_version))?,
        db.put_write(&membership, Cond::Version(membership_version))?,
    ];
    db.transact(writes).await.map_err(changed_under_us)?;
    Ok(member)
}

/// Rejects a pending invite: the invitee is removed.
pub async fn reject_invite(db: &Db, ctx: &Ctx, channel_id: &ChannelId) -> Result<(), ApiError> {
    let (member, _) = pending(db, ctx, channel_id).await?;
    let access = load(db, ctx, channel_id).await?;
    remove(db, ctx, &access, &member.user_id).await
}

async fn pending(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
) -> Result<(Member, Membership), ApiError> {
    load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?;
    let (member, membership) = both(db, ctx, channel_id, user)
        .await
        .map_err(|_| ApiError::not_found("you have no invite to this channel"))?;
    if member.invite != Some(InviteStatus::Pending) {
        return Err(ApiError::not_found(
            "you have no pending invite to this channel",
        ));
    }
    Ok((member, membership))
}
