//! `GET /sync`: what changed in the caller's channels since a cursor, so a
//! client back from offline replays what its socket missed instead of
//! reloading everything. New messages (and thread replies) come from the
//! channels' histories; edits, deletions, reactions, read marks, member
//! and channel changes from their change logs ([`crate::realtime::changes`]).
//! Only channels whose `changed_ms` moved since the cursor are read.
//!
//! The cursor is the 32 hex digits of a time-ordered id: an event's `id`
//! (the largest a client has seen), or a page's `next`. It is exclusive;
//! a client unsure of what it saw last (events may arrive out of order
//! across instances) passes an earlier one and drops repeats by event id.

use serde::Serialize;
use serde_json::{json, Value};

use crate::channels::{Channel, Ctx, Former, Membership};
use crate::db::{Db, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId};
use crate::keys;
use crate::messages::Message;
use crate::realtime::audience::Audience;
use crate::realtime::changes::{Change, RETENTION_SECS};
use crate::storage::Storage;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 500;
/// How far a channel's `changed_ms` may trail the ids of what changed in
/// it (ids are minted just before the write that marks the channel).
const SKEW_MS: i64 = 5_000;

/// A page of changes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncPage {
    /// Events in order, shaped as the socket sends them (`message.new`,
    /// `message.updated`, `message.deleted`, `reaction.new`,
    /// `reaction.deleted`, `message.read`, `member.*`, `channel.*`).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// The cursor to pass as `since` next time.
    pub next: String,
    /// There is more after this page: call again with `next` now.
    pub has_more: bool,
    /// `since` is older than what is kept (3 days): nothing is replayed;
    /// reload the channels and their messages instead.
    pub gap: bool,
    /// Channels the user left or was removed from since `since`.
    pub removed_channels: Vec<ChannelId>,
}

/// The cursor of instant `ms`: every id minted at or after it sorts after.
pub fn cursor_at(ms: i64) -> String {
    format!("{:012x}{}", ms.max(0), "0".repeat(20))
}

fn cursor_ms(cursor: &str) -> Option<i64> {
    let valid = cursor.len() == 32 && cursor.bytes().all(|b| b.is_ascii_hexdigit());
    valid
        .then(|| i64::from_str_radix(&cursor[..12], 16).ok())
        .flatten()
}

/// A time-ordered id (an event id, or a message's hyphenated sort id) as a
/// cursor.
fn key_of(id: &str) -> String {
    id.replace('-', "").to_ascii_lowercase()
}

/// One range of one channel read for a page.
struct Range {
    entries: Vec<(String, Value)>,
    /// The last key read when the range had more: nothing after it is known.
    cut: Option<String>,
}

/// `GET /sync`.
pub async fn sync(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    since: Option<&str>,
    limit: usize,
) -> Result<SyncPage, ApiError> {
    let user = ctx.require_user()?.clone();
    let now = crate::time::now_millis();
    let Some(since) = since.filter(|s| !s.is_empty()) else {
        // A starting point: nothing before now.
        return Ok(page(Vec::new(), cursor_at(now), false, false, Vec::new()));
    };
    let since = since.to_ascii_lowercase();
    let since_ms = cursor_ms(&since).ok_or_else(|| {
        ApiError::validation("since must be a cursor from GET /sync or an event id")
    })?;
    if since_ms < now - RETENTION_SECS * 1000 {
        return Ok(page(Vec::new(), cursor_at(now), false, true, Vec::new()));
    }
    let app = &ctx.app.app_id;
    let pk = keys::user_partition(app, &user);
    let (memberships, left) = futures::try_join!(
        db.query_all::<Membership>(&pk, keys::MEMBERSHIP_PREFIX, 1000),
        db.query_all::<Former>(&pk, keys::FORMER_PREFIX, 1000),
    )?;
    let since_time = crate::time::millis_to_rfc3339(since_ms);
    let membership_of: std::collections::HashMap<&ChannelId, &Membership> =
        memberships.iter().map(|m| (&m.channel_id, m)).collect();
    let removed_channels: Vec<ChannelId> = left
        .into_iter()
        .filter(|f| f.left_at >= since_time && !membership_of.contains_key(&f.channel_id))
        .map(|f| f.channel_id)
        .collect();
    let channel_keys: Vec<keys::Key<_>> = memberships
        .iter()
        .map(|m| keys::channel(app, &m.channel_id))
        .collect();
    let channels: Vec<Channel> = db.batch_get(&channel_keys).await?;
    let changed: Vec<(&Channel, &Membership)> = channels
        .iter()
        .filter(|c| c.deleted_at.is_none())
        .filter(|c| c.changed_ms.is_some_and(|ms| ms + SKEW_MS >= since_ms))
        .filter_map(|c| membership_of.get(&c.id).map(|m| (c, *m)))
        .collect();
    let reads = changed.iter().map(|(channel, membership)| {
        channel_changes(db, storage, ctx, channel, membership, &since, limit)
    });
    let ranges: Vec<Vec<Range>> = futures::future::try_join_all(reads).await?;
    let ranges: Vec<Range> = ranges.into_iter().flatten().collect();
    // Past the first range that was cut short, nothing is known complete.
    let cut = ranges.iter().filter_map(|r| r.cut.clone()).min();
    let mut entries: Vec<(String, Value)> = ranges
        .into_iter()
        .flat_map(|r| r.entries)
        .filter(|(key, _)| cut.as_ref().is_none_or(|c| key <= c))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let has_more = cut.is_some() || entries.len() > limit;
    entries.truncate(limit);
    let next = match (entries.last(), &cut) {
        (Some((key, _)), _) => key.clone(),
        // Everything read was invisible to this user: resume at the cut.
        (None, Some(cut)) => cut.clone(),
        (None, None) => since.max(cursor_at(now - 60_000)),
    };
    Ok(page(
        entries.into_iter().map(|(_, v)| v).collect(),
        next,
        has_more,
        false,
        removed_channels,
    ))
}

fn page(
    events: Vec<Value>,
    next: String,
    has_more: bool,
    gap: bool,
    removed_channels: Vec<ChannelId>,
) -> SyncPage {
    SyncPage {
        events,
        next,
        has_more,
        gap,
        removed_channels,
    }
}

/// A channel's new messages, replies and logged changes after `since`.
async fn channel_changes(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    channel: &Channel,
    membership: &Membership,
    since: &str,
    limit: usize,
) -> Result<Vec<Range>, ApiError> {
    let app = &ctx.app.app_id;
    let partition = keys::channel_partition(app, &channel.id);
    let active = membership.invite.is_none();
    let since_ms = cursor_ms(since).unwrap_or(0);
    let message_floor = MessageId::lower_bound_at(since_ms);
    let page = PageRequest {
        limit: i32::try_from(limit + 1).unwrap_or(501),
        cursor: None,
        forward: true,
    };
    let mut ranges = Vec::new();
    for prefix in [keys::MESSAGE_PREFIX, keys::REPLY_PREFIX] {
        let lo = format!("{prefix}{message_floor}");
        let hi = keys::upper(prefix);
        let found = db
            .run::<Message>(&Query {
                index: None,
                pk: &partition,
                sk: SortCond::Between(&lo, &hi),
                page: page.clone(),
                filter: None,
            })
            .await?;
        let (mut read, cut) = cut_at(found.items, limit, |m| key_of(m.sort_id.as_str()));
        read.retain(|m| {
            active
                && key_of(m.sort_id.as_str()).as_str() > since
                && m.visible_to(ctx)
                && !crate::messages::truncated_away(channel, &m.sort_id)
        });
        let views = crate::messages::render(db, storage, ctx, &channel.id, &read).await?;
        let entries = read
            .iter()
            .zip(views)
            .map(|(m, view)| {
                let key = key_of(m.sort_id.as_str());
                let event = json!({
                    "id": key,
                    "created_at": m.created_at,
                    "channel_id": channel.id,
                    "type": "message.new",
                    "message": view,
                });
                (key, event)
            })
            .collect();
        ranges.push(Range { entries, cut });
    }
    let lo = format!("{}{since}", keys::CHANGE_PREFIX);
    let hi = keys::upper(keys::CHANGE_PREFIX);
    let found = db
        .run::<Change>(&Query {
            index: None,
            pk: &partition,
            sk: SortCond::Between(&lo, &hi),
            page,
            filter: None,
        })
        .await?;
    let (logged, cut) = cut_at(found.items, limit, |c| key_of(&c.event_id));
    let entries = logged
        .into_iter()
        .filter(|c| key_of(&c.event_id).as_str() > since && may_see(ctx, &c.audience, active))
        .filter_map(|c| {
            let event: Value = serde_json::from_str(&c.payload).ok()?;
            Some((key_of(&c.event_id), event))
        })
        .collect();
    ranges.push(Range { entries, cut });
    Ok(ranges)
}

/// Keeps the first `limit` items; when there were more, the last kept key
/// is where the range's known part ends.
fn cut_at<T>(
    mut items: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if items.len() <= limit {
        return (items, None);
    }
    items.truncate(limit);
    let cut = items.last().map(&key);
    (items, cut)
}

/// Whether the socket would have given this user the logged event.
fn may_see(ctx: &Ctx, audience: &Audience, active: bool) -> bool {
    let readers_only = !matches!(audience, Audience::Only(_) | Audience::Members);
    (active || !readers_only) && audience.admits(ctx.user.as_ref(), |u| ctx.blocks(u))
}
