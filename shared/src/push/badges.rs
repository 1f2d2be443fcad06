//! A push's badge, the recipient's total unread, in one query whatever the
//! number of their channels.
//!
//! `GET /unread` counts each channel's messages above the member's read
//! mark: a query per channel. A badge cannot, so each member who has a
//! device (the channel's [`reachable`](super::reachable) entries) keeps an
//! unread mark in their own partition for each message that counts as
//! unread for them. The badge is one query of their marks, leaving out the
//! authors they block and counting at most [`UNREAD_CAP`] a channel, as
//! `GET /unread` does. A send writes nothing per member: the notify
//! function writes the marks, and their number follows the members with a
//! device, not the room.
//!
//! The marks follow everything that changes what counts:
//! - **a message** (silent ones too; not a shadow-banned sender's, nor a
//!   thread-only reply): the notify function marks it for the channel's
//!   reachable members except its sender, then reads their member items,
//!   the message and the channel, and takes back the marks that a read, a
//!   delete, a leave or a truncation got ahead of ([`stale`]). Those write
//!   first and sweep after, the notify function marks first and checks
//!   after, so one of the two sees the other;
//! - **a read** sweeps the reader's marks up to it, and so does a send (the
//!   sender has read up to their message);
//! - **a delete** drops the message's marks; **a truncation** the
//!   channel's marks before it; **leaving** (removal, a deleted channel)
//!   the member's marks in the channel;
//! - **a user's first device**, or joining a channel with one, writes the
//!   marks of what they have not read ([`backfill`]); their last device
//!   removed drops all their marks.
//!
//! Blocks need nothing: a mark carries its author, and the badge leaves out
//! whom the recipient blocks at the time of the push. A channel's marks
//! beyond the cap are trimmed, the oldest first, so a badge's query stays
//! small. Past the cap, a block or a delete among the newest marks can make
//! a channel count less than the cap where `GET /unread` still shows it.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::channels::listing::{unread_floor, UNREAD_CAP};
use crate::channels::{Channel, Member, Membership};
use crate::db::{Db, Entity, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::messages::Message;
use crate::users::User;

/// Sweeps in flight at once for one channel's members.
const IN_FLIGHT: usize = 8;

/// One message a member with a device has not read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Mark {
    pub app_id: AppId,
    pub user_id: UserId,
    pub channel_id: ChannelId,
    /// The message's sort id (its place in the channel's history).
    pub sort_id: MessageId,
    pub author: UserId,
}

impl Entity for Mark {
    const TYPE: &'static str = "unread";
    type Item = keys::item::UnreadMark;
    fn key(&self) -> Key<Self::Item> {
        keys::unread_mark(&self.app_id, &self.user_id, &self.channel_id, &self.sort_id)
    }
}

/// A message that counts as unread, as the notify function marks it.
pub struct Counted<'a> {
    pub app: &'a AppId,
    pub channel: &'a ChannelId,
    pub sort_id: &'a MessageId,
    pub author: &'a UserId,
}

impl Counted<'_> {
    fn mark_for(&self, user: &UserId) -> Mark {
        Mark {
            app_id: self.app.clone(),
            user_id: user.clone(),
            channel_id: self.channel.clone(),
            sort_id: self.sort_id.clone(),
            author: self.author.clone(),
        }
    }

    /// The message's sort key, as read marks hold it.
    fn sort_key(&self) -> String {
        keys::message(self.app, self.channel, self.sort_id).sk
    }

    /// Marks the message unread for `users` (written before [`stale`] reads).
    pub async fn mark(&self, db: &Db, users: &[UserId]) -> Result<(), ApiError> {
        let marks: Vec<Mark> = users.iter().map(|u| self.mark_for(u)).collect();
        Ok(db.batch_put(&marks).await?)
    }

    /// The keys to read after marking: the channel, the message and the
    /// marked members' items.
    pub fn check_keys(&self, users: &[UserId]) -> Vec<Key> {
        let mut keys = vec![
            keys::channel(self.app, self.channel).any(),
            keys::message(self.app, self.channel, self.sort_id).any(),
        ];
        keys.extend(
            users
                .iter()
                .map(|u| keys::member(self.app, self.channel, u).any()),
        );
        keys
    }

    /// Of the marks just written for `users`, those that no longer count,
    /// given what was read after writing them: the message deleted, the
    /// channel deleted or truncated past it, the member gone or read past it.
    pub fn stale(
        &self,
        users: &[UserId],
        channel: Option<&Channel>,
        message: Option<&Message>,
        members: &[Member],
    ) -> Vec<Key<keys::item::UnreadMark>> {
        let sort_key = self.sort_key();
        let gone = match (channel, message) {
            (Some(c), Some(m)) => {
                c.deleted_at.is_some()
                    || m.kind == crate::messages::MessageType::Deleted
                    || c.truncated_at_ms.is_some_and(|ms| {
                        sort_key <= crate::channels::listing::truncation_floor(ms)
                    })
            }
            _ => true,
        };
        users
            .iter()
            .filter(|u| {
                gone || !members
                    .iter()
                    .any(|m| &m.user_id == *u && m.read_up_to < sort_key)
            })
            .map(|u| self.mark_for(u).key())
            .collect()
    }
}

/// Deletes the marks of `pk` whose sort keys lie in `lo..=hi`.
async fn drop_range(db: &Db, pk: &str, lo: &str, hi: &str) -> Result<(), ApiError> {
    let marks: Vec<Mark> = db
        .run_all(Query {
            index: None,
            pk,
            sk: SortCond::Between(lo, hi),
            page: PageRequest {
                limit: 1000,
                cursor: None,
                forward: true,
            },
            filter: None,
        })
        .await?;
    let doomed: Vec<Key<_>> = marks.iter().map(Entity::key).collect();
    Ok(db.batch_delete(&doomed).await?)
}

/// `user` read `channel` up to the read mark `up_to` (a message sort key):
/// their marks there up to it go.
pub async fn read(
    db: &Db,
    app: &AppId,
    user: &UserId,
    channel: &ChannelId,
    up_to: &str,
) -> Result<(), ApiError> {
    let Some(sort_id) = up_to.strip_prefix(keys::MESSAGE_PREFIX) else {
        return Ok(());
    };
    let prefix = keys::unread_marks_in(channel);
    let pk = keys::user_partition(app, user);
    drop_range(db, &pk, &prefix, &format!("{prefix}{sort_id}")).await
}

/// `user` left `channel` (or it is gone): all their marks there go.
pub async fn left(
    db: &Db,
    app: &AppId,
    user: &UserId,
    channel: &ChannelId,
) -> Result<(), ApiError> {
    let prefix = keys::unread_marks_in(channel);
    let pk = keys::user_partition(app, user);
    drop_range(db, &pk, &prefix, &keys::upper(&prefix)).await
}

/// `user` has no device left: all their marks go.
pub async fn unreachable(db: &Db, app: &AppId, user: &UserId) -> Result<(), ApiError> {
    let pk = keys::user_partition(app, user);
    drop_range(
        db,
        &pk,
        keys::UNREAD_PREFIX,
        &keys::upper(keys::UNREAD_PREFIX),
    )
    .await
}

/// A message was deleted: its marks for `users` (the channel's reachable
/// members) go.
pub async fn message_gone(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    sort_id: &MessageId,
    users: impl IntoIterator<Item = UserId>,
) -> Result<(), ApiError> {
    let doomed: Vec<Key<_>> = users
        .into_iter()
        .map(|u| keys::unread_mark(app, &u, channel, sort_id))
        .collect();
    Ok(db.batch_delete(&doomed).await?)
}

/// The channel was truncated at `ms`: the marks of `users` (its reachable
/// members) before it go.
pub async fn truncated(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    ms: i64,
    users: impl IntoIterator<Item = UserId>,
) -> Result<(), ApiError> {
    let floor = crate::channels::listing::truncation_floor(ms);
    futures::stream::iter(users)
        .map(|user| {
            let floor = floor.clone();
            async move { read(db, app, &user, channel, &floor).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await
}

/// Writes `user`'s marks in `channel` for what they have not read, the
/// newest [`UNREAD_CAP`] that count. Call after their reachable entry is
/// written: a message sent after this read is marked by the notify
/// function.
pub async fn backfill(
    db: &Db,
    app: &AppId,
    user: &UserId,
    channel_id: &ChannelId,
) -> Result<(), ApiError> {
    let mut items = db
        .batch_get_items(&[
            keys::channel(app, channel_id).any(),
            keys::membership(app, user, channel_id).any(),
            keys::member(app, channel_id, user).any(),
        ])
        .await?;
    let channel = items.of::<Channel>()?.into_iter().next();
    let membership = items.of::<Membership>()?.into_iter().next();
    let (Some(channel), Some(membership)) = (channel, membership) else {
        return Ok(());
    };
    if channel.deleted_at.is_some() {
        return Ok(());
    }
    let membership = membership.with_read_of(items.of::<Member>()?.first());
    let floor = unread_floor(&channel, &membership);
    let lo = format!("{floor}\u{0}");
    let hi = keys::upper(keys::MESSAGE_PREFIX);
    let followed = crate::messages::threads::followed_by_channel(db, app, user).await?;
    let followed = followed
        .get(channel_id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let filter = crate::messages::store::unread_for(user, &[], followed);
    let mut query = Query {
        index: None,
        pk: &keys::channel_partition(app, channel_id),
        sk: SortCond::Between(&lo, &hi),
        page: PageRequest {
            limit: i32::try_from(UNREAD_CAP).unwrap_or(100),
            cursor: None,
            forward: false,
        },
        filter: Some(filter),
    };
    let mut marks = Vec::new();
    while marks.len() < UNREAD_CAP {
        let page = db.run::<Message>(&query).await?;
        marks.extend(page.items.iter().map(|m| {
            Counted {
                app,
                channel: channel_id,
                sort_id: &m.sort_id,
                author: &m.user_id,
            }
            .mark_for(user)
        }));
        match page.next {
            Some(next) => query.page.cursor = Some(next),
            None => break,
        }
    }
    marks.truncate(UNREAD_CAP);
    Ok(db.batch_put(&marks).await?)
}

/// `user`'s badge: their marks, leaving out the authors they block, at most
/// [`UNREAD_CAP`] a channel. A channel's marks beyond the cap are trimmed
/// (the oldest).
pub async fn badge(db: &Db, app: &AppId, user: &User) -> Result<usize, ApiError> {
    let marks: Vec<Mark> = db
        .query_all(
            &keys::user_partition(app, &user.id),
            keys::UNREAD_PREFIX,
            1000,
        )
        .await?;
    let mut by_channel: BTreeMap<&ChannelId, Vec<&Mark>> = BTreeMap::new();
    for mark in &marks {
        by_channel.entry(&mark.channel_id).or_default().push(mark);
    }
    let mut total = 0;
    let mut trimmed = Vec::new();
    for marks in by_channel.values() {
        // Oldest first, as the query reads them.
        let extra = marks.len().saturating_sub(UNREAD_CAP);
        trimmed.extend(marks[..extra].iter().map(|m| m.key()));
        total += marks[extra..]
            .iter()
            .filter(|m| !user.blocked.contains_key(&m.author))
            .count();
    }
    if !trimmed.is_empty() {
        if let Err(err) = db.batch_delete(&trimmed).await {
            tracing::warn!(user = %user.id, error = %crate::error::DisplayChain(&err), "could not trim unread marks");
        }
    }
    Ok(total)
}
