//! Who in a channel gets an event, worked out at delivery time: the readers
//! of the channel (accepted members, and watchers who may read it now), the
//! members with pending invitees, or one user. Members are found through the
//! online index, so the reads grow with who is connected, not with the
//! room. The notifier then delivers to the connections found here; it knows
//! nothing of channels.

use std::collections::BTreeSet;

use super::connections;
use super::online;
use crate::channels::{Ban, Channel, ChannelType, Member};
use crate::db::Db;
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, ConnectionId, UserId};
use crate::keys;
use crate::users::User;

/// Who in a channel gets an event. Whatever the audience, a socket gets an
/// event only if its user may read it at delivery time.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "user", rename_all = "snake_case")]
pub enum Audience {
    /// Who may read the channel's history now: accepted members, and
    /// connections watching it whose user may read it (a public channel
    /// they are not banned from). Messages, reactions, reads, member changes.
    Readers,
    /// Readers but those who block this user: a message's events (its
    /// author's).
    AuthoredBy(UserId),
    /// Readers but this user and those who block them (typing is never
    /// echoed to the typer).
    ReadersExcept(UserId),
    /// Readers and pending invitees: changes to the channel itself, which an
    /// invitee sees before accepting.
    Members,
    /// Only this user (a shadow-banned member's messages).
    Only(UserId),
}

/// The connections of these users, from their connection indexes.
async fn user_targets(
    db: &Db,
    app: &AppId,
    users: BTreeSet<UserId>,
) -> Result<Vec<(UserId, ConnectionId)>, ApiError> {
    let users: Vec<UserId> = users.into_iter().collect();
    connections::of_users(db, app, &users).await
}

/// These users' items (their connection indexes and block sets): one batch
/// read per 100.
async fn user_items(db: &Db, app: &AppId, users: &BTreeSet<UserId>) -> Result<Vec<User>, ApiError> {
    let keys: Vec<keys::Key> = users.iter().map(|u| keys::user(app, u)).collect();
    Ok(db.batch_get(&keys).await?)
}

/// How an event reaches its audience: delivered now, by the caller, or, when
/// more than the inline limit of listeners may be online, handed to the
/// fan-out function (`fanout.rs`).
#[derive(Debug)]
pub enum Plan {
    Inline(Vec<(UserId, ConnectionId)>),
    Crowd,
}

/// The connections a channel event reaches, or [`Plan::Crowd`] when the
/// channel has more than `inline_limit` listeners (watches and online
/// members): then only that many are read, so a send to a crowd costs the
/// sender one bounded query.
pub async fn plan(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    audience: &Audience,
    inline_limit: usize,
) -> Result<Plan, ApiError> {
    Ok(reached(db, app, channel, audience, Some(inline_limit))
        .await?
        .map_or(Plan::Crowd, Plan::Inline))
}

/// The connections a channel event reaches, however many.
pub async fn targets(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    audience: &Audience,
) -> Result<Vec<(UserId, ConnectionId)>, ApiError> {
    Ok(reached(db, app, channel, audience, None)
        .await?
        .unwrap_or_default())
}

/// The connections that may receive the event; `None` when the channel has
/// more than `limit` listeners.
async fn reached(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    audience: &Audience,
    limit: Option<usize>,
) -> Result<Option<Vec<(UserId, ConnectionId)>>, ApiError> {
    // `author`: whose blockers the event skips.
    let (excluded, invitees_too, author) = match audience {
        // One user: their connections, no listener read.
        Audience::Only(user) => {
            return Ok(Some(
                user_targets(db, app, BTreeSet::from([user.clone()])).await?,
            ));
        }
        Audience::Readers => (None, false, None),
        Audience::AuthoredBy(user) => (None, false, Some(user)),
        Audience::ReadersExcept(user) => (Some(user), false, Some(user)),
        Audience::Members => (None, true, None),
    };
    let Some((watches, online)) = online::listeners(db, app, channel, limit).await? else {
        return Ok(None);
    };
    // Only members who are online can receive anything: the online index
    // names them, and their member items say whether they are members
    // still, and accepted ones (one batch read per 100).
    let online: Vec<keys::Key> = online
        .iter()
        .filter(|u| Some(*u) != excluded)
        .map(|u| keys::member(app, channel, u))
        .collect();
    let members: Vec<Member> = if online.is_empty() {
        Vec::new()
    } else {
        db.batch_get(&online).await?
    };
    let readers: BTreeSet<UserId> = members
        .into_iter()
        .filter(|m| invitees_too || m.is_active())
        .map(|m| m.user_id)
        .filter(|u| Some(u) != excluded)
        .collect();
    let outsiders: BTreeSet<UserId> = watches
        .iter()
        .map(|w| w.user_id.clone())
        .filter(|u| !readers.contains(u) && Some(u) != excluded)
        .collect();
    let public_readers = public_readers(db, app, channel, outsiders).await?;
    // The readers' items give their connections; with an author, the public
    // readers' too, to see whether they block the author.
    let mut read = readers.clone();
    if author.is_some() {
        read.extend(public_readers.iter().cloned());
    }
    let users = user_items(db, app, &read).await?;
    let blockers: BTreeSet<&UserId> = match author {
        Some(author) => users
            .iter()
            .filter(|u| u.blocked.contains_key(author))
            .map(|u| &u.id)
            .collect(),
        None => BTreeSet::new(),
    };
    let mut targets: Vec<(UserId, ConnectionId)> = users
        .iter()
        .filter(|u| readers.contains(&u.id) && !blockers.contains(&u.id))
        .flat_map(|u| {
            connections::ids_of(u)
                .into_iter()
                .map(|c| (u.id.clone(), c))
        })
        .collect();
    let mut reached: std::collections::HashSet<ConnectionId> =
        targets.iter().map(|(_, c)| c.clone()).collect();
    for watch in watches {
        let may_read = readers.contains(&watch.user_id) || public_readers.contains(&watch.user_id);
        if may_read
            && !blockers.contains(&watch.user_id)
            && reached.insert(watch.connection_id.clone())
        {
            targets.push((watch.user_id, watch.connection_id));
        }
    }
    Ok(Some(targets))
}

/// Of these users, those who may read the channel without being its
/// readers: it is public and they have no active ban in it. One read of
/// the channel and one batch read of bans, only when there are any.
async fn public_readers(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    users: BTreeSet<UserId>,
) -> Result<BTreeSet<UserId>, ApiError> {
    if users.is_empty() {
        return Ok(users);
    }
    let live: Option<Channel> = db.get(&keys::channel(app, channel)).await?;
    if !live.is_some_and(|c| c.deleted_at.is_none() && c.kind == ChannelType::Public) {
        return Ok(BTreeSet::new());
    }
    let ban_keys: Vec<keys::Key> = users.iter().map(|u| keys::ban(app, channel, u)).collect();
    let bans: Vec<Ban> = db.batch_get(&ban_keys).await?;
    let now = crate::time::now_secs();
    Ok(users
        .into_iter()
        .filter(|u| {
            !bans
                .iter()
                .any(|b| b.user_id == *u && b.expires_epoch.is_none_or(|e| e > now))
        })
        .collect())
}
