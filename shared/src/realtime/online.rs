//! Who is online in each channel: one small item per (channel, member with
//! an open connection), so fan-out reads grow with the online audience, not
//! with the size of the room. A channel where nobody is connected costs one
//! empty query per event.
//!
//! Kept in step with connections and membership:
//! - every connect writes the user's entries in all their channels (and so
//!   refreshes their TTL, which follows the connections' own);
//! - the last disconnect deletes them, then looks at the connection index
//!   once more and writes them again if a connect raced it;
//! - adding members writes entries for those already online; removal,
//!   leaving and rejecting an invite delete theirs.
//!
//! Order makes the connect/add race safe: a connect indexes its connection
//! before it reads the memberships, and adding writes the membership before
//! it reads the connection index, so one of the two always sees the other.
//! Fan-out still checks each online user's member item and connection index
//! at delivery, so a stale entry (a lost `$disconnect`, a removal racing a
//! connect) costs a read and never a wrong delivery; it expires with the
//! connection it stood for.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::connections::{self, Watch, CONNECTION_TTL_SECS};
use crate::channels::channel_ids_of as channels_of;
use crate::db::{Cond, Db, Entity, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, ConnectionId, UserId};
use crate::keys::{self, Key};
use crate::users::User;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Online {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub expires: i64,
}

impl Entity for Online {
    const TYPE: &'static str = "online";
    type Item = keys::item::Online;
    fn key(&self) -> Key<Self::Item> {
        keys::online(&self.app_id, &self.channel_id, &self.user_id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

fn entry(app: &AppId, channel: &ChannelId, user: &UserId) -> Online {
    Online {
        app_id: app.clone(),
        channel_id: channel.clone(),
        user_id: user.clone(),
        expires: crate::time::now_secs() + CONNECTION_TTL_SECS,
    }
}

/// A connect: the user is online in each of their channels. Call after the
/// connection is in the user's index.
pub async fn enter(db: &Db, app: &AppId, user: &UserId) -> Result<(), ApiError> {
    let entries: Vec<Online> = channels_of(db, app, user)
        .await?
        .iter()
        .map(|c| entry(app, c, user))
        .collect();
    Ok(db.batch_put(&entries).await?)
}

/// The last disconnect: the user is offline everywhere, unless a connect
/// came in meanwhile (then its entries are written again).
pub async fn leave_all(db: &Db, app: &AppId, user: &UserId) -> Result<(), ApiError> {
    let keys: Vec<Key<_>> = channels_of(db, app, user)
        .await?
        .iter()
        .map(|c| keys::online(app, c, user))
        .collect();
    db.batch_delete(&keys).await?;
    if !connections::of_user(db, app, user).await?.is_empty() {
        enter(db, app, user).await?;
    }
    Ok(())
}

/// New members of a channel: those already online get their entry. Call
/// after the memberships are written (it reads the connection indexes).
pub async fn joined(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    users: &[UserId],
) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    let keys: Vec<Key<_>> = users.iter().map(|u| keys::user(app, u)).collect();
    let found: Vec<User> = db.batch_get(&keys).await?;
    let entries: Vec<Online> = found
        .iter()
        .filter(|u| !u.connections.is_empty())
        .map(|u| entry(app, channel, &u.id))
        .collect();
    Ok(db.batch_put(&entries).await?)
}

/// A member left or was removed.
pub async fn left(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    user: &UserId,
) -> Result<(), ApiError> {
    Ok(db
        .delete(&keys::online(app, channel, user), Cond::Always)
        .await?)
}

/// A channel's watch or online entry, as one query returns them: a watch
/// names its connection. (One struct rather than an untagged enum, which
/// would buffer every item to try each kind in turn.)
#[derive(Deserialize)]
struct Listener {
    app_id: AppId,
    channel_id: ChannelId,
    user_id: UserId,
    expires: i64,
    #[serde(default)]
    connection_id: Option<ConnectionId>,
}

/// Who listens to a channel: the connections watching it, and the users
/// with an entry (those online, and perhaps a few stale ones, which
/// delivery skips).
pub type Listeners = (Vec<Watch>, BTreeSet<UserId>);

/// Everyone an event in the channel may reach, in one query (all pages).
/// With a `limit`, `None` once there are more than that many (after one
/// query of `limit + 1` entries).
pub async fn listeners(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    limit: Option<usize>,
) -> Result<Option<Listeners>, ApiError> {
    let pk = keys::channel_partition(app, channel);
    let (lo, hi) = keys::listeners_range();
    let mut query = listeners_query(&pk, lo, &hi, limit);
    let mut found = (Vec::new(), BTreeSet::new());
    let mut seen = 0usize;
    loop {
        let result = db.run::<Listener>(&query).await?;
        seen += result.items.len();
        if limit.is_some_and(|l| seen > l) {
            return Ok(None);
        }
        add(&mut found, result.items);
        match result.next {
            Some(next) => query.page.cursor = Some(next),
            None => return Ok(Some(found)),
        }
    }
}

/// The first page of [`listeners`] with a `limit`, read now: the view
/// returned answers that page of the same [`listeners`] once (a frame reads
/// its audience with its other reads). `None` when the listeners are more
/// than the limit or one page.
pub async fn listeners_ahead(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    limit: usize,
) -> Result<(Db, Option<Listeners>), ApiError> {
    let pk = keys::channel_partition(app, channel);
    let (lo, hi) = keys::listeners_range();
    let query = listeners_query(&pk, lo, &hi, Some(limit));
    let (view, result) = db.run_kept::<Listener>(&query).await?;
    if result.items.len() > limit || result.next.is_some() {
        return Ok((view, None));
    }
    let mut found = (Vec::new(), BTreeSet::new());
    add(&mut found, result.items);
    Ok((view, Some(found)))
}

fn listeners_query<'a>(pk: &'a str, lo: &'a str, hi: &'a str, limit: Option<usize>) -> Query<'a> {
    Query {
        index: None,
        pk,
        sk: SortCond::Between(lo, hi),
        page: PageRequest {
            limit: limit.map_or(1000, |l| (l + 1).min(1000) as i32),
            cursor: None,
            forward: true,
        },
        filter: None,
    }
}

fn add((watches, online): &mut Listeners, page: Vec<Listener>) {
    for listener in page {
        match listener.connection_id {
            Some(connection_id) => watches.push(Watch {
                app_id: listener.app_id,
                channel_id: listener.channel_id,
                connection_id,
                user_id: listener.user_id,
                expires: listener.expires,
            }),
            None => {
                online.insert(listener.user_id);
            }
        }
    }
}

/// The users with an entry in the channel (all pages): those online, and
/// perhaps a few stale ones, which delivery skips.
pub async fn in_channel(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
) -> Result<BTreeSet<UserId>, ApiError> {
    let entries: Vec<Online> = db
        .query_all(
            &keys::channel_partition(app, channel),
            keys::ONLINE_PREFIX,
            1000,
        )
        .await?;
    Ok(entries.into_iter().map(|e| e.user_id).collect())
}
