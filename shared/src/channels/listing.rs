//! `GET /channels`: the caller's channels, last message first.
//!
//! Ordering by last message without writing to every member on every message
//! (sends stay O(1) items) means reading all of the user's memberships and
//! their channels, then sorting: see docs/storage.md's cost notes.

use base64::Engine;
use futures::future::try_join_all;
use serde::Serialize;

use super::{
    Channel, ChannelType, ChannelView, Ctx, Member, MemberView, Membership, MembershipView,
};
use crate::db::{Db, PageRequest};
use crate::error::ApiError;
use crate::ids::ChannelId;
use crate::keys;

pub use crate::messages::store::UNREAD_CAP;
/// Members embedded per listed channel.
pub const MEMBERS_PER_CHANNEL: i32 = 10;

pub struct ListOptions {
    pub kind: Option<ChannelType>,
    pub limit: usize,
    pub cursor: Option<String>,
}

fn encode_cursor(channel: &Channel) -> String {
    let raw = serde_json::to_vec(&(channel.activity(), channel.id.as_str())).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str) -> Result<(String, String), ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(|| ApiError::validation("invalid `next` cursor"))
}

pub async fn my_channels(
    db: &Db,
    ctx: &Ctx,
    options: ListOptions,
) -> Result<ChannelPage, ApiError> {
    let user = ctx.require_user()?.clone();
    let app = &ctx.app.app_id;
    let after = options.cursor.as_deref().map(decode_cursor).transpose()?;

    let mut rows: Vec<(Channel, Membership)> = super::my_memberships(db, app, &user)
        .await?
        .into_iter()
        .filter(|(c, _)| options.kind.is_none_or(|k| c.kind == k))
        .filter(|(c, m)| !m.is_hidden(c))
        .collect();
    // Newest activity first; the id breaks ties so the order is total.
    rows.sort_by(|(a, _), (b, _)| b.activity().cmp(a.activity()).then_with(|| b.id.cmp(&a.id)));
    if let Some((activity, id)) = &after {
        rows.retain(|(c, _)| (c.activity(), c.id.as_str()) < (activity.as_str(), id.as_str()));
    }
    let more = rows.len() > options.limit;
    rows.truncate(options.limit);
    let next = if more {
        rows.last().map(|(c, _)| encode_cursor(c))
    } else {
        None
    };

    let standing = crate::messages::threads::standing(db, ctx).await?;
    let standing = &standing;
    let entries = try_join_all(
        rows.iter()
            .map(|(channel, membership)| entry(db, ctx, channel, membership, standing)),
    )
    .await?;
    // Every listed channel's members with their profiles: one batch read
    // per 100 distinct users for the whole page.
    let all: Vec<&Member> = entries.iter().flat_map(|e| e.members.iter()).collect();
    let mut shown = super::with_profiles(db, &ctx.app.app_id, &all)
        .await?
        .into_iter();
    let channels = entries
        .iter()
        .map(|e| ChannelEntry {
            channel: e.channel.view(),
            members: shown.by_ref().take(e.members.len()).collect(),
            members_next: e.members_next.clone(),
            membership: e.membership.view(e.channel),
            unread_count: e.unread,
            unread_threads: e.unread_threads,
        })
        .collect();
    Ok(ChannelPage { channels, next })
}

/// One of the caller's channels: its first members, the caller's own state
/// and unread count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelEntry {
    pub channel: ChannelView,
    pub members: Vec<MemberView>,
    pub members_next: Option<String>,
    pub membership: MembershipView,
    pub unread_count: usize,
    /// Threads of the channel the caller takes part in with unread replies.
    pub unread_threads: usize,
}

/// The caller's channels, last activity first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelPage {
    pub channels: Vec<ChannelEntry>,
    pub next: Option<String>,
}

struct Entry<'a> {
    channel: &'a Channel,
    membership: &'a Membership,
    members: Vec<Member>,
    members_next: Option<String>,
    unread: usize,
    unread_threads: usize,
}

async fn entry<'a>(
    db: &Db,
    ctx: &Ctx,
    channel: &'a Channel,
    membership: &'a Membership,
    standing: &crate::messages::threads::Standing,
) -> Result<Entry<'a>, ApiError> {
    let app = &ctx.app.app_id;
    // A pending invitee sees the channel, not who is in it.
    if membership.invite.is_some() {
        return Ok(Entry {
            channel,
            membership,
            members: Vec::new(),
            members_next: None,
            unread: 0,
            unread_threads: 0,
        });
    }
    let partition = keys::channel_partition(app, &channel.id);
    let members = db.query::<Member>(
        &partition,
        keys::MEMBER_PREFIX,
        &PageRequest {
            limit: MEMBERS_PER_CHANNEL,
            cursor: None,
            forward: true,
        },
    );
    let hidden = ctx.blocked();
    let followed = standing.followed_in(&channel.id);
    let unread = unread_count(db, app, &channel.id, channel, membership, &hidden, followed);
    let (members, unread) =
        futures::try_join!(async { members.await.map_err(ApiError::from) }, unread)?;
    Ok(Entry {
        channel,
        membership,
        members: members.items,
        members_next: members.next,
        unread,
        unread_threads: standing.unread_in(&channel.id),
    })
}

/// The sort key of a channel's history that a truncation at `ms` hides up
/// to (every message before it sorts below it).
pub fn truncation_floor(ms: i64) -> String {
    format!(
        "{}{}",
        keys::MESSAGE_PREFIX,
        crate::ids::MessageId::lower_bound_at(ms)
    )
}

/// The sort key above which the member's messages count as unread: their
/// read mark, or the channel's truncation if later.
pub fn unread_floor(channel: &Channel, membership: &Membership) -> String {
    match channel.truncated_at_ms.map(truncation_floor) {
        Some(truncated) if truncated > membership.read_up_to => truncated,
        _ => membership.read_up_to.clone(),
    }
}

/// Messages above the member's read mark and the channel's truncation that
/// the member would see as new: not their own, not deleted, not a
/// shadow-banned member's, not by a user the member blocks (`hidden`), not
/// a reply of a thread they take part in (`followed`: counted there).
/// Counted from the sort keys with a filter
/// (capped): nothing is written per message, and marking read at the latest
/// visible message always brings it to 0.
pub async fn unread_count(
    db: &Db,
    app: &crate::ids::AppId,
    channel_id: &ChannelId,
    channel: &Channel,
    membership: &Membership,
    hidden: &[crate::ids::UserId],
    followed: &[crate::ids::MessageId],
) -> Result<usize, ApiError> {
    let floor = unread_floor(channel, membership);
    let countable = crate::messages::store::unread_for(&membership.user_id, hidden, followed);
    Ok(db
        .count_after_where(
            &keys::channel_partition(app, channel_id),
            keys::MESSAGE_PREFIX,
            &floor,
            UNREAD_CAP,
            Some(&countable),
        )
        .await?)
}
