//! `GET /users/{id}/export`: everything stored about a user, as pages. The
//! first page holds what their own partition holds (profile, devices,
//! memberships, channels left, drafts, scheduled messages, reminders, threads
//! taken part in, poll votes); the following pages walk each of those channels for what
//! they wrote (messages, thread replies) and their reactions, one table page
//! at a time, so a user with 100,000 messages is read page by page rather
//! than in one response.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::channels::{Former, InviteStatus, Membership, Role};
use crate::db::{Db, PageRequest};
use crate::devices::{Device, DeviceView};
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys;
use crate::messages::{authored, Draft, DraftView, MessageView, Reaction, ReactionView};
use crate::users::{User, UserView};

/// Table items read per page of a channel's walk.
const PAGE_ITEMS: i32 = 100;

/// A membership as exported.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedMembership {
    pub channel_id: ChannelId,
    pub role: Role,
    pub invite: Option<InviteStatus>,
    pub muted: bool,
    pub hidden_at: Option<String>,
    pub last_read_message_id: Option<MessageId>,
    pub last_read_at: Option<String>,
    pub joined_at: String,
}

/// A message the user keeps: a reminder (`remind_at`) or saved for later.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedReminder {
    pub message_id: MessageId,
    pub channel_id: ChannelId,
    pub remind_at: Option<String>,
    pub created_at: String,
}

/// A thread the user takes part in, with their read mark there.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedThread {
    pub parent_id: MessageId,
    pub channel_id: ChannelId,
    pub last_read_reply_id: Option<MessageId>,
    pub last_read_at: Option<String>,
    pub since: String,
}

/// A channel the user left.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedDeparture {
    pub channel_id: ChannelId,
    pub left_at: String,
}

/// One page of a user's export. The first has `user` and the lists of
/// their own partition; later ones have `messages` and `reactions`. A page
/// may be empty with a `next`: follow it until `next` is `null`.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ExportPage<'a> {
    pub user: Option<UserView<'a>>,
    pub devices: Vec<DeviceView<'a>>,
    pub memberships: Vec<ExportedMembership>,
    pub channels_left: Vec<ExportedDeparture>,
    pub drafts: Vec<DraftView>,
    pub scheduled_messages: Vec<crate::messages::scheduled::model::ScheduledView>,
    pub reminders: Vec<ExportedReminder>,
    pub threads: Vec<ExportedThread>,
    /// Their votes in every poll, oldest first.
    pub votes: Vec<crate::messages::polls::VoteView>,
    pub messages: Vec<MessageView>,
    pub reactions: Vec<ReactionView>,
    pub next: Option<String>,
}

/// What the first page reads, kept for its views.
pub struct Partition {
    pub user: User,
    devices: Vec<Device>,
    memberships: Vec<Membership>,
    left: Vec<Former>,
    drafts: Vec<Draft>,
    scheduled: Vec<crate::messages::scheduled::model::ScheduledMessage>,
    reminders: Vec<crate::messages::reminders::Reminder>,
    threads: Vec<crate::messages::threads::Following>,
    votes: Vec<crate::messages::polls::Vote>,
}

/// Where a walk is: a channel, its step (0 messages, 1 replies, 2
/// reactions) and the table's cursor there.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    c: ChannelId,
    s: u8,
    #[serde(default)]
    k: Option<String>,
}

fn encode(cursor: &Cursor) -> String {
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode(text: &str) -> Result<Cursor, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::validation("invalid pagination cursor"))
}

/// The channels to walk, in id order: memberships and channels left.
fn channels(memberships: &[Membership], left: &[Former]) -> Vec<ChannelId> {
    let mut ids: Vec<ChannelId> = memberships
        .iter()
        .map(|m| m.channel_id.clone())
        .chain(left.iter().map(|f| f.channel_id.clone()))
        .collect();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids.dedup();
    ids
}

async fn partition(db: &Db, app: &AppId, user: &UserId) -> Result<Partition, ApiError> {
    let user_item = crate::users::require_user(db, app, user).await?;
    let pk = keys::user_partition(app, user);
    let (devices, memberships, left, drafts, scheduled, reminders, threads, votes) = futures::try_join!(
        db.query_all::<Device>(&pk, keys::DEVICE_PREFIX, 1000),
        db.query_all::<Membership>(&pk, keys::MEMBERSHIP_PREFIX, 1000),
        db.query_all::<Former>(&pk, keys::FORMER_PREFIX, 1000),
        db.query_all::<Draft>(&pk, keys::DRAFT_PREFIX, 1000),
        db.query_all(&pk, keys::SCHEDULED_PREFIX, 1000),
        db.query_all(&pk, keys::REMINDER_PREFIX, 1000),
        db.query_all(&pk, keys::FOLLOW_PREFIX, 1000),
        crate::messages::polls::voters::votes(db, app, user),
    )?;
    Ok(Partition {
        user: user_item,
        devices,
        memberships,
        left,
        drafts,
        scheduled,
        reminders,
        threads,
        votes,
    })
}

/// The user and the channels a later page walks, from their memberships and
/// departures (the partition's other lists are on the first page only).
async fn walked(db: &Db, app: &AppId, user: &UserId) -> Result<(User, Vec<ChannelId>), ApiError> {
    let user_item = crate::users::require_user(db, app, user).await?;
    let pk = keys::user_partition(app, user);
    let (memberships, left) = futures::try_join!(
        db.query_all::<Membership>(&pk, keys::MEMBERSHIP_PREFIX, 1000),
        db.query_all::<Former>(&pk, keys::FORMER_PREFIX, 1000),
    )?;
    Ok((user_item, channels(&memberships, &left)))
}

/// What the next page after channel `c`'s step `s` is.
fn after(all: &[ChannelId], c: &ChannelId, s: u8) -> Option<String> {
    if s < 2 {
        return Some(encode(&Cursor {
            c: c.clone(),
            s: s + 1,
            k: None,
        }));
    }
    all.iter().find(|id| id.as_str() > c.as_str()).map(|next| {
        encode(&Cursor {
            c: next.clone(),
            s: 0,
            k: None,
        })
    })
}

/// A page of the export: the first without `next`, the walk with it.
/// `respond` turns the page into the response while the partition's items
/// are alive.
pub async fn page<R>(
    db: &Db,
    app: &AppId,
    user: &UserId,
    next: Option<&str>,
    respond: impl FnOnce(ExportPage<'_>) -> R,
) -> Result<R, ApiError> {
    let Some(next) = next.filter(|n| !n.is_empty()) else {
        let stored = partition(db, app, user).await?;
        let all = channels(&stored.memberships, &stored.left);
        let view = ExportPage {
            user: Some(stored.user.view()),
            devices: stored.devices.iter().map(Device::view).collect(),
            memberships: stored
                .memberships
                .iter()
                .map(|m| ExportedMembership {
                    channel_id: m.channel_id.clone(),
                    role: m.role,
                    invite: m.invite,
                    muted: m.muted,
                    hidden_at: m.hidden_at.clone(),
                    last_read_message_id: m.last_read_message_id.clone(),
                    last_read_at: m.last_read_at.clone(),
                    joined_at: m.joined_at.clone(),
                })
                .collect(),
            channels_left: stored
                .left
                .iter()
                .map(|f| ExportedDeparture {
                    channel_id: f.channel_id.clone(),
                    left_at: f.left_at.clone(),
                })
                .collect(),
            drafts: stored.drafts.iter().map(Draft::view).collect(),
            scheduled_messages: stored.scheduled.iter().map(|s| s.view()).collect(),
            reminders: stored
                .reminders
                .iter()
                .map(|r| ExportedReminder {
                    message_id: r.message_id.clone(),
                    channel_id: r.channel_id.clone(),
                    remind_at: r.remind_ms.map(crate::time::millis_to_rfc3339),
                    created_at: r.created_at.clone(),
                })
                .collect(),
            threads: stored
                .threads
                .iter()
                .map(|f| ExportedThread {
                    parent_id: f.parent_id.clone(),
                    channel_id: f.channel_id.clone(),
                    last_read_reply_id: f.last_read_reply_id.clone(),
                    last_read_at: f.last_read_at.clone(),
                    since: f.since.clone(),
                })
                .collect(),
            votes: stored.votes.iter().map(|v| v.view(false)).collect(),
            next: all.first().map(|c| {
                encode(&Cursor {
                    c: c.clone(),
                    s: 0,
                    k: None,
                })
            }),
            ..ExportPage::default()
        };
        return Ok(respond(view));
    };
    let cursor = decode(next)?;
    let (user_item, all) = walked(db, app, user).await?;
    if !all.contains(&cursor.c) || cursor.s > 2 {
        return Err(ApiError::validation("invalid pagination cursor"));
    }
    let request = PageRequest {
        limit: PAGE_ITEMS,
        cursor: cursor.k.clone(),
        forward: true,
    };
    let mut out = ExportPage::default();
    let table_next = if cursor.s < 2 {
        let replies = cursor.s == 1;
        let found = authored::written(db, app, &cursor.c, user, replies, request).await?;
        out.messages = found
            .items
            .iter()
            .map(|m| m.view(Some(&user_item), None, &[]))
            .collect();
        found.next
    } else {
        let found = authored::reactions(db, app, &cursor.c, user, request).await?;
        out.reactions = found.items.iter().map(Reaction::view).collect();
        found.next
    };
    out.next = match table_next {
        Some(k) => Some(encode(&Cursor {
            c: cursor.c.clone(),
            s: cursor.s,
            k: Some(k),
        })),
        None => after(&all, &cursor.c, cursor.s),
    };
    Ok(respond(out))
}
