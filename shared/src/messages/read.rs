//! Read state: marking a channel read, who read a message, total unread.
//! A member's read mark is a message sort key; unread counts are counted
//! from message keys above it, so a send writes nothing per member.

use serde::{Deserialize, Serialize};

use super::{locate, Message, MessageRef};
use crate::channels::{listing, load, Channel, Ctx, Member, Membership};
use crate::db::{store, Cond, Db, Entity, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId};
use crate::keys;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Read up to and including this message; default: the latest.
    pub message_id: Option<MessageId>,
    pub user_id: Option<crate::ids::UserId>,
}

/// A read mark as stored, and whether to tell the channel (`message.read`).
pub struct Marked {
    pub view: ReadMark,
    /// The mark moved and the channel has read events on.
    pub announce: bool,
    /// The channel is big: its read events reach no socket.
    pub big: bool,
}

/// Marks the channel read for the acting member (member item and mirror).
/// A mark never moves back: marking before the current mark (or two marks
/// racing) leaves the later one; marking at it again refreshes `last_read_at`.
pub async fn mark_read(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    input: MarkRead,
) -> Result<Marked, ApiError> {
    let access = load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?.clone();
    access.require_member()?;
    let app = &ctx.app.app_id;
    let (sort_key, message_id) = mark_point(db, ctx, &access, input.message_id.as_ref()).await?;
    let now = crate::time::now_rfc3339();
    let spec = store::members::read_mark(&sort_key, message_id.as_ref(), &now, true);
    let writes = vec![
        db.update_write(&keys::member(app, channel_id, &user), &spec, Cond::Exists)?,
        db.update_write(
            &keys::membership(app, &user, channel_id),
            &spec,
            Cond::Exists,
        )?,
    ];
    let moved = match db.transact(writes).await {
        Ok(()) => true,
        // Already past this point (or a later mark won a race): the stored
        // mark stands. A vanished membership is told below.
        Err(crate::db::DbError::TransactionCanceled(_)) => false,
        Err(other) => return Err(other.into()),
    };
    let membership: Membership = db
        .get(&keys::membership(app, &user, channel_id))
        .await?
        .ok_or_else(|| ApiError::conflict("membership changed while marking read; retry"))?;
    if access.channel.reachable > 0 {
        let up_to = sort_key.max(membership.read_up_to.clone());
        crate::push::badges::read(db, app, &user, channel_id, &up_to).await?;
    }
    let followed = super::threads::followed_by_channel(db, app, &user).await?;
    let unread = listing::unread_count(
        db,
        app,
        channel_id,
        &access.channel,
        &membership,
        &ctx.blocked(),
        followed
            .get(channel_id)
            .map(Vec::as_slice)
            .unwrap_or_default(),
    )
    .await?;
    Ok(Marked {
        view: ReadMark {
            channel_id: channel_id.clone(),
            last_read_message_id: membership.last_read_message_id,
            last_read_at: membership.last_read_at,
            unread_count: unread,
        },
        announce: moved && access.channel.settings.read_events,
        big: access.is_big(ctx),
    })
}

/// Where a mark goes: the sort key and id of `message` (one of the
/// channel's history the reader can see, else a 400), or of the latest
/// such message (none yet: the floor of now).
pub(super) async fn mark_point(
    db: &Db,
    ctx: &Ctx,
    access: &crate::channels::Access,
    message: Option<&MessageId>,
) -> Result<(String, Option<MessageId>), ApiError> {
    let app = &ctx.app.app_id;
    let channel_id = &access.channel.id;
    let Some(id) = message else {
        return Ok(match latest(db, ctx, &access.channel).await? {
            Some(m) => (m.key().sk, Some(m.id)),
            None => (crate::channels::read_floor_now(), None),
        });
    };
    let reference: Option<MessageRef> = db.get(&keys::message_ref(app, id)).await?;
    // A message the reader cannot see (a shadow-banned member's) is
    // answered exactly as one that does not exist.
    let reference = match reference {
        Some(r) => {
            let message: Option<Message> = db.get(&r.message_key()).await?;
            message.filter(|m| m.visible_to(ctx)).map(|_| r)
        }
        None => None,
    };
    // Before the truncation point a message no longer exists.
    let floor = super::history_floor(&access.channel);
    match reference {
        Some(r)
            if &r.channel_id == channel_id
                && r.in_channel
                && keys::message(app, channel_id, &r.sort_id).sk >= floor =>
        {
            Ok((
                keys::message(app, channel_id, &r.sort_id).sk,
                Some(id.clone()),
            ))
        }
        _ => Err(ApiError::validation(format!(
            "message {id} is not in this channel"
        ))),
    }
}

async fn latest(db: &Db, ctx: &Ctx, channel: &Channel) -> Result<Option<Message>, ApiError> {
    let partition = keys::channel_partition(&ctx.app.app_id, &channel.id);
    let top = keys::upper(keys::MESSAGE_PREFIX);
    let mut page = PageRequest {
        limit: 20,
        cursor: None,
        forward: false,
    };
    loop {
        let result = db
            .run::<Message>(&Query {
                index: None,
                pk: &partition,
                sk: SortCond::Between(keys::MESSAGE_PREFIX, &top),
                page: page.clone(),
                filter: None,
            })
            .await?;
        if let Some(m) = result.items.into_iter().find(|m| m.visible_to(ctx)) {
            return Ok(Some(m));
        }
        match result.next {
            Some(next) => page.cursor = Some(next),
            None => return Ok(None),
        }
    }
}

/// `GET /messages/{id}/read`: the members whose read mark is at or past the
/// message, a page of members at a time.
pub async fn read_by(
    db: &Db,
    ctx: &Ctx,
    id: &MessageId,
    page: &PageRequest,
) -> Result<Readers, ApiError> {
    let (access, message) = locate(db, ctx, id).await?;
    access.require_read()?;
    if !message.in_channel() {
        return Err(ApiError::validation(
            "read receipts are kept for channel messages, not thread-only replies",
        ));
    }
    let sk = message.key().sk;
    let members = db
        .query::<Member>(
            &keys::channel_partition(&ctx.app.app_id, &access.channel.id),
            keys::MEMBER_PREFIX,
            page,
        )
        .await?;
    let readers: Vec<&Member> = members
        .items
        .iter()
        .filter(|m| m.read_up_to >= sk)
        .collect();
    // Delivered: a delivery mark at or past it, or read (reading implies
    // delivery); the message's author is not a recipient.
    let recipients: Vec<&Member> = members
        .items
        .iter()
        .filter(|m| m.delivered_up_to >= sk || m.read_up_to >= sk)
        .filter(|m| m.user_id != message.user_id)
        .collect();
    Ok(Readers {
        message_id: message.id,
        delivered_to: recipients.iter().map(|m| m.user_id.clone()).collect(),
        recipients: recipients
            .iter()
            .map(|m| Recipient {
                user_id: m.user_id.clone(),
                last_delivered_at: m.last_delivered_at.clone(),
            })
            .collect(),
        read_by: readers.iter().map(|m| m.user_id.clone()).collect(),
        readers: readers
            .iter()
            .map(|m| Reader {
                user_id: m.user_id.clone(),
                last_read_at: m.last_read_at.clone(),
            })
            .collect(),
        next: members.next,
    })
}

/// `GET /unread`: unread counts of all the user's channels and their total,
/// and the threads they take part in with unread replies.
pub async fn unread(db: &Db, ctx: &Ctx) -> Result<Unread, ApiError> {
    let user = ctx.require_user()?.clone();
    let app = &ctx.app.app_id;
    let rows = crate::channels::my_memberships(db, app, &user).await?;
    let hidden = ctx.blocked();
    let hidden = &hidden;
    let standing = super::threads::standing(db, ctx).await?;
    let standing = &standing;
    let counts = futures::future::try_join_all(rows.iter().map(|(c, m)| async move {
        let followed = standing.followed_in(&c.id);
        let n = listing::unread_count(db, app, &c.id, c, m, hidden, followed).await?;
        Ok::<_, ApiError>((c.id.clone(), n))
    }))
    .await?;
    let threads = standing.unread.clone();
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let channels = counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(channel_id, unread_count)| UnreadChannel {
            channel_id,
            unread_count,
        })
        .collect();
    Ok(Unread {
        total_unread_count: total,
        channels,
        unread_threads: threads.len(),
        threads,
    })
}

/// A member's read mark in a channel, with what is left unread.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReadMark {
    pub channel_id: ChannelId,
    pub last_read_message_id: Option<MessageId>,
    pub last_read_at: Option<String>,
    pub unread_count: usize,
}

/// Who read a message: a page of the channel's members.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readers {
    pub message_id: MessageId,
    /// Members (but its author) it was delivered to: a delivery or read
    /// mark at or past it.
    pub delivered_to: Vec<crate::ids::UserId>,
    pub recipients: Vec<Recipient>,
    pub read_by: Vec<crate::ids::UserId>,
    pub readers: Vec<Reader>,
    pub next: Option<String>,
}

/// A member it was delivered to; `last_delivered_at` is their delivery
/// mark's time (absent when only their read mark says so).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Recipient {
    pub user_id: crate::ids::UserId,
    pub last_delivered_at: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Reader {
    pub user_id: crate::ids::UserId,
    pub last_read_at: Option<String>,
}

/// Unread counts: the total, and each channel with any.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unread {
    pub total_unread_count: usize,
    pub channels: Vec<UnreadChannel>,
    /// Threads the user takes part in with unread replies (their replies
    /// are not in the channels' counts).
    pub unread_threads: usize,
    pub threads: Vec<super::threads::UnreadThread>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadChannel {
    pub channel_id: ChannelId,
    pub unread_count: usize,
}
