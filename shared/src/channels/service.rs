//! Create, read, update and delete channels.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use validator::Validate;

use super::{
    load, new_membership, Access, Channel, ChannelSettings, ChannelType, Ctx, DistinctLock, Member,
    Role, MAX_MEMBERS_PER_WRITE,
};
use crate::db::{Cond, Db, DbError, PageRequest};
use crate::error::ApiError;
use crate::ids::{ChannelId, UserId};
use crate::keys;
use crate::users;

/// Slow mode at most one hour between messages.
pub const MAX_SLOW_MODE: u32 = 3600;

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    #[serde(rename = "type")]
    pub kind: ChannelType,
    pub id: Option<ChannelId>,
    #[validate(length(min = 1, max = 128))]
    pub name: Option<String>,
    #[validate(length(max = 1024))]
    pub description: Option<String>,
    #[validate(custom(function = "crate::links::validate"), length(max = 2048))]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub is_distinct: bool,
    #[serde(default)]
    pub members: Vec<UserId>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub settings: Option<ChannelSettings>,
    #[validate(range(max = 3600))]
    pub slow_mode: Option<u32>,
    /// With a server token: the creator, who becomes owner.
    pub user_id: Option<UserId>,
}

/// The fields `PATCH /channels/{id}` may set.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelFields {
    #[validate(length(min = 1, max = 128))]
    pub name: Option<String>,
    #[validate(length(max = 1024))]
    pub description: Option<String>,
    #[validate(custom(function = "crate::links::validate"), length(max = 2048))]
    pub avatar_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub settings: Option<ChannelSettings>,
    #[validate(range(max = 3600))]
    pub slow_mode: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnsetChannelField {
    Name,
    Description,
    AvatarUrl,
    Metadata,
}

#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[serde(default)]
    #[validate(nested)]
    pub set: ChannelFields,
    #[serde(default)]
    pub unset: Vec<UnsetChannelField>,
    pub user_id: Option<UserId>,
}

/// Hash of a channel type and its sorted member set: the distinct key.
pub fn distinct_hash(kind: ChannelType, members: &BTreeSet<UserId>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_str().as_bytes());
    for member in members {
        hasher.update(b"\n");
        hasher.update(member.as_str().as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates a channel with its members in one transaction. For a distinct
/// member set that already has a channel, returns that one (`false`).
pub async fn create(db: &Db, ctx: &Ctx, input: CreateChannel) -> Result<(Channel, bool), ApiError> {
    input.validate()?;
    let app = &ctx.app;
    if let Some(m) = &input.metadata {
        users::check_metadata(app, m)?;
    }
    let creator = if ctx.server {
        input.user_id.clone()
    } else {
        ctx.user.clone()
    };
    let mut member_set: BTreeSet<UserId> = input.members.iter().cloned().collect();
    if let Some(creator) = &creator {
        member_set.insert(creator.clone());
    }
    if member_set.len() > MAX_MEMBERS_PER_WRITE {
        return Err(ApiError::validation(format!(
            "a channel is created with at most {MAX_MEMBERS_PER_WRITE} members; add more with POST /channels/{{id}}/members"
        )));
    }
    let distinct = input.is_distinct || input.kind == ChannelType::Direct;
    if input.kind == ChannelType::Direct && member_set.len() != 2 {
        return Err(ApiError::validation(
            "a direct channel has exactly two members",
        ));
    }
    if distinct && input.id.is_some() {
        return Err(ApiError::validation(
            "a distinct channel is identified by its members; do not give an id",
        ));
    }
    if distinct && member_set.is_empty() {
        return Err(ApiError::validation("a distinct channel needs members"));
    }
    let ids: Vec<UserId> = member_set.iter().cloned().collect();
    let found = users::get_users(db, &app.app_id, &ids).await?;
    let missing: Vec<&str> = ids
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

    // A user cannot open a direct channel with someone who blocks them.
    if let (ChannelType::Direct, Some(creator)) = (input.kind, &creator) {
        if found
            .iter()
            .any(|u| u.id != *creator && u.blocked.contains_key(creator))
        {
            return Err(crate::blocks::direct_refused());
        }
    }

    let hash = distinct.then(|| distinct_hash(input.kind, &member_set));
    if let Some(hash) = &hash {
        if let Some(existing) = existing_distinct(db, ctx, hash).await? {
            return Ok((existing, false));
        }
    }

    let now = crate::time::now_rfc3339();
    let channel = Channel {
        app_id: app.app_id.clone(),
        id: input.id.unwrap_or_else(ChannelId::generate),
        kind: input.kind,
        name: input.name,
        description: input.description,
        avatar_url: input.avatar_url,
        metadata: input.metadata.unwrap_or_default(),
        settings: input.settings.unwrap_or_default(),
        slow_mode: input.slow_mode.unwrap_or(0),
        is_distinct: distinct,
        distinct_key: hash.clone(),
        frozen: false,
        truncated_at: None,
        truncated_at_ms: None,
        created_by: creator.clone(),
        member_count: i64::try_from(member_set.len()).unwrap_or(0),
        reachable: 0,
        last_message_at: None,
        changed_ms: None,
        created_at: now.clone(),
        updated_at: now.clone(),
        deleted_at: None,
        version: 1,
    };
    let mut writes = vec![db.put_write(&channel, Cond::NotExists)?];
    if let Some(hash) = &hash {
        let lock = DistinctLock {
            app_id: app.app_id.clone(),
            hash: hash.clone(),
            channel_id: channel.id.clone(),
        };
        writes.push(db.put_write(&lock, Cond::NotExists)?);
    }
    for user in &member_set {
        let role = if Some(user) == creator.as_ref() {
            Role::Owner
        } else {
            Role::Member
        };
        let (member, membership) = new_membership(&channel, user, role, None, &now);
        writes.push(db.put_write(&member, Cond::NotExists)?);
        writes.push(db.put_write(&membership, Cond::Always)?);
    }
    match db.transact(writes).await {
        Ok(()) => {
            let members: Vec<UserId> = member_set.iter().cloned().collect();
            crate::realtime::online::joined(db, &app.app_id, &channel.id, &members).await?;
            crate::push::reachable::joined(db, &app.app_id, &channel.id, &members).await?;
            Ok((channel, true))
        }
        Err(DbError::TransactionCanceled(reasons)) => {
            let lock_lost = hash.is_some() && reasons.get(1).is_some_and(Option::is_some);
            if lock_lost {
                // Another request created this member set's channel just now.
                if let Some(hash) = &hash {
                    if let Some(existing) = existing_distinct(db, ctx, hash).await? {
                        return Ok((existing, false));
                    }
                }
            }
            if reasons.first().is_some_and(Option::is_some) {
                return Err(ApiError::conflict(format!(
                    "channel {} already exists",
                    channel.id
                )));
            }
            Err(ApiError::conflict(
                "the channel changed while it was created; retry",
            ))
        }
        Err(other) => Err(other.into()),
    }
}

/// The live channel a distinct lock points at. A lock left by a deleted
/// channel is removed so the member set can have a new one. A user who is no
/// longer in that channel (removed, or left) is refused: re-creating it must
/// not hand them its name, metadata and members.
async fn existing_distinct(db: &Db, ctx: &Ctx, hash: &str) -> Result<Option<Channel>, ApiError> {
    let lock_key = keys::distinct(&ctx.app.app_id, hash);
    let Some(lock) = db.get::<DistinctLock>(&lock_key).await? else {
        return Ok(None);
    };
    let channel: Option<Channel> = db
        .get(&keys::channel(&ctx.app.app_id, &lock.channel_id))
        .await?;
    match channel {
        Some(c) if c.deleted_at.is_none() => {
            if let (false, Some(user)) = (ctx.server, &ctx.user) {
                let member: Option<Member> =
                    db.get(&keys::member(&ctx.app.app_id, &c.id, user)).await?;
                if member.is_none() {
                    return Err(ApiError::forbidden(
                        "a channel of these members exists and you are no longer in it",
                    ));
                }
            }
            Ok(Some(c))
        }
        _ => {
            db.delete(&lock_key, Cond::Always).await?;
            Ok(None)
        }
    }
}

/// The channel, its first page of members and the actor's membership.
pub async fn detail(db: &Db, ctx: &Ctx, access: &Access) -> Result<ChannelDetail, ApiError> {
    let channel = &access.channel;
    // A pending invitee sees the channel, not who is in it.
    let page = if access.may_read() {
        super::members::page(
            db,
            ctx,
            &channel.id,
            &PageRequest {
                limit: 25,
                cursor: None,
                forward: true,
            },
        )
        .await?
    } else {
        crate::db::Page {
            items: Vec::new(),
            next: None,
        }
    };
    let membership = match &ctx.user {
        Some(user) if access.member.is_some() => db
            .get::<super::Membership>(&keys::membership(&ctx.app.app_id, user, &channel.id))
            .await?
            .map(|m| m.with_read_of(access.member.as_ref()).view(channel)),
        _ => None,
    };
    let members: Vec<&super::Member> = page.items.iter().collect();
    Ok(ChannelDetail {
        channel: channel.view(),
        members: super::with_profiles(db, &ctx.app.app_id, &members).await?,
        members_next: page.next,
        membership,
    })
}

/// A channel with its first page of members and the caller's membership
/// (absent for a server token or a reader who is not a member).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelDetail {
    pub channel: super::ChannelView,
    pub members: Vec<super::MemberView>,
    pub members_next: Option<String>,
    pub membership: Option<super::MembershipView>,
}

/// Writes a changed channel if nobody changed it in between.
pub(crate) async fn save(db: &Db, mut channel: Channel) -> Result<Channel, ApiError> {
    let read_version = channel.version;
    channel.version += 1;
    channel.updated_at = crate::time::now_rfc3339();
    match db.put(&channel, Cond::Version(read_version)).await {
        Ok(()) => Ok(channel),
        Err(DbError::ConditionFailed) => Err(ApiError::conflict(
            "the channel changed while this request ran; retry",
        )),
        Err(other) => Err(other.into()),
    }
}

pub async fn update(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    patch: ChannelPatch,
) -> Result<Channel, ApiError> {
    patch.validate()?;
    let access = load(db, ctx, channel_id).await?;
    access.require_moderator()?;
    if let Some(m) = &patch.set.metadata {
        users::check_metadata(&ctx.app, m)?;
    }
    let mut channel = access.channel;
    for field in &patch.unset {
        match field {
            UnsetChannelField::Name => channel.name = None,
            UnsetChannelField::Description => channel.description = None,
            UnsetChannelField::AvatarUrl => channel.avatar_url = None,
            UnsetChannelField::Metadata => channel.metadata = Map::new(),
        }
    }
    let set = patch.set;
    if set.name.is_some() {
        channel.name = set.name;
    }
    if set.description.is_some() {
        channel.description = set.description;
    }
    if set.avatar_url.is_some() {
        channel.avatar_url = set.avatar_url;
    }
    if let Some(m) = set.metadata {
        channel.metadata = m;
    }
    if let Some(s) = set.settings {
        channel.settings = s;
    }
    if let Some(s) = set.slow_mode {
        channel.slow_mode = s;
    }
    save(db, channel).await
}

/// Soft-deletes the channel (the commit point: readers see 404 from here on,
/// and the id is never reused), then removes its members, membership mirrors
/// and distinct lock. A crash in the clean-up leaves only items no reader
/// reaches: memberships of a deleted channel are skipped when listed.
pub async fn delete(db: &Db, ctx: &Ctx, channel_id: &ChannelId) -> Result<Vec<UserId>, ApiError> {
    let access = load(db, ctx, channel_id).await?;
    access.require_owner()?;
    let mut channel = access.channel;
    channel.deleted_at = Some(crate::time::now_rfc3339());
    let channel = save(db, channel).await?;
    // Its unread no longer counts in badges.
    if channel.reachable > 0 {
        let app = &ctx.app.app_id;
        for user in crate::push::reachable::in_channel(db, app, channel_id).await? {
            crate::push::badges::left(db, app, &user, channel_id).await?;
        }
    }
    if let Some(hash) = &channel.distinct_key {
        db.delete(&keys::distinct(&ctx.app.app_id, hash), Cond::Always)
            .await?;
    }
    let partition = keys::channel_partition(&ctx.app.app_id, channel_id);
    let mut request = PageRequest {
        limit: 100,
        cursor: None,
        forward: true,
    };
    let mut former = Vec::new();
    loop {
        let page = db
            .query::<Member>(&partition, keys::MEMBER_PREFIX, &request)
            .await?;
        let mut doomed = Vec::with_capacity(page.items.len() * 2);
        for member in &page.items {
            former.push(member.user_id.clone());
            doomed.push(keys::member(&ctx.app.app_id, channel_id, &member.user_id).any());
            doomed.push(keys::membership(&ctx.app.app_id, &member.user_id, channel_id).any());
        }
        db.batch_delete(&doomed).await?;
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => return Ok(former),
        }
    }
}
