//! Who in a channel gets an event, worked out at delivery time: the readers
//! of the channel (accepted members, and watchers who may read it now), the
//! members with pending invitees, or one user. Members are found through the
//! online index, so the reads grow with who is connected, not with the
//! room. The notifier then delivers to the connections found here; it knows
//! nothing of channels.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::stream::{self, StreamExt, TryStreamExt};

use super::connections;
use super::online;
use crate::channels::{Ban, Channel, ChannelType, InviteStatus, Member};
use crate::db::Db;
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, ConnectionId, UserId};
use crate::keys;
use crate::users::Reach;

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
    /// Readers but those who block either user: a reaction (the message's
    /// author, and the one who reacted), or a message quoting another
    /// author's (its author, and the quoted one).
    AuthoredWith(UserId, UserId),
    /// Readers who block the second user but not the first: a message
    /// quoting a message of the second, shown to them without the quote.
    BlockersOf(UserId, UserId),
    /// Readers but this user and those who block them (typing is never
    /// echoed to the typer).
    ReadersExcept(UserId),
    /// Readers and pending invitees: changes to the channel itself, which an
    /// invitee sees before accepting.
    Members,
    /// Only this user (a shadow-banned member's messages).
    Only(UserId),
    /// Online members, but this user and those who block them if one is
    /// named: typing, reads and deliveries, which watchers who are not
    /// members (passive watchers) never get.
    Participants(Option<UserId>),
}

impl Audience {
    /// Whether a reader who blocks the users `blocks` says may see the event
    /// (membership aside): the socket's rule and `/sync`'s.
    pub fn admits(&self, user: Option<&UserId>, blocks: impl Fn(&UserId) -> bool) -> bool {
        match self {
            Audience::Readers | Audience::Members => true,
            Audience::Only(only) => user == Some(only),
            Audience::AuthoredBy(author) => !blocks(author),
            Audience::AuthoredWith(author, other) => !blocks(author) && !blocks(other),
            Audience::BlockersOf(author, quoted) => !blocks(author) && blocks(quoted),
            Audience::ReadersExcept(except) | Audience::Participants(Some(except)) => {
                user != Some(except) && !blocks(except)
            }
            Audience::Participants(None) => true,
        }
    }

    /// Whether readers' user items decide (they hold the block sets).
    fn screens(&self) -> bool {
        !matches!(
            self,
            Audience::Readers | Audience::Members | Audience::Participants(None)
        )
    }
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
async fn user_items(
    db: &Db,
    app: &AppId,
    users: &BTreeSet<UserId>,
) -> Result<Vec<Reach>, ApiError> {
    let keys: Vec<keys::Key<_>> = users.iter().map(|u| keys::user(app, u)).collect();
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

/// The connections a channel event reaches, however many, handed to
/// `on_part` as they are read (a part per [`PART`] online members), so
/// delivery can start before the whole audience is read.
pub async fn targets_in_parts(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    audience: &Audience,
    on_part: impl FnMut(Vec<(UserId, ConnectionId)>),
) -> Result<(), ApiError> {
    reach(db, app, channel, audience, None, on_part).await?;
    Ok(())
}

/// Which events of a group a connection gets: bit `i` for the `i`-th.
pub type Mask = u64;
/// Events a group holds at most (the bits of a [`Mask`]).
pub const GROUP_MAX: usize = Mask::BITS as usize;

/// The connections that get any of a group of events for one channel (at
/// most [`GROUP_MAX`], none for [`Audience::Only`]), each with the events
/// it gets, handed to `on_part` as they are read: the listeners are read
/// once for the whole group.
pub async fn group_targets_in_parts(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    audiences: &[Audience],
    on_part: impl FnMut(Vec<(UserId, ConnectionId, Mask)>),
) -> Result<(), ApiError> {
    assert!(
        audiences.len() <= GROUP_MAX,
        "a group holds at most {GROUP_MAX} events"
    );
    reach_group(db, app, channel, audiences, None, on_part).await?;
    Ok(())
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
    let mut targets = Vec::new();
    let within = reach(db, app, channel, audience, limit, |part| {
        targets.extend(part)
    })
    .await?;
    Ok(within.then_some(targets))
}

/// Online members read per part (their member and user items).
const PART: usize = 100;
/// Parts read side by side.
const PARTS_IN_FLIGHT: usize = 4;

/// Hands the connections that may receive the event to `on_part`, part by
/// part, each connection once; `false` (and nothing handed) when the
/// channel has more than `limit` listeners.
async fn reach(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    audience: &Audience,
    limit: Option<usize>,
    mut on_part: impl FnMut(Vec<(UserId, ConnectionId)>),
) -> Result<bool, ApiError> {
    // One user: their connections, no listener read.
    if let Audience::Only(user) = audience {
        on_part(user_targets(db, app, BTreeSet::from([user.clone()])).await?);
        return Ok(true);
    }
    reach_group(
        db,
        app,
        channel,
        std::slice::from_ref(audience),
        limit,
        |part| {
            on_part(
                part.into_iter()
                    .map(|(user, connection, _)| (user, connection))
                    .collect(),
            )
        },
    )
    .await
}

/// The masks of a group's events a listener gets: `member` for a member
/// (`active` when accepted, else a pending invitee), `outsider` for a
/// watcher of a public channel who is not one.
struct Admission<'a> {
    audiences: &'a [Audience],
}

impl Admission<'_> {
    fn mask(&self, user: Option<&Reach>, wanted: impl Fn(&Audience) -> bool) -> Mask {
        let blocks = |u: &UserId| user.is_some_and(|user| user.blocked.contains_key(u));
        let id = user.map(|u| &u.id);
        self.audiences
            .iter()
            .enumerate()
            .filter(|(_, a)| wanted(a) && a.admits(id, blocks))
            .fold(0, |mask, (i, _)| mask | (1 << i))
    }

    fn member(&self, user: &Reach, active: bool) -> Mask {
        self.mask(Some(user), |a| active || *a == Audience::Members)
    }

    /// Watchers who are not members are passive: no participants' events.
    /// Without their user item (none read when blocks decide nothing), all.
    fn outsider(&self, user: Option<&Reach>) -> Mask {
        self.mask(user, |a| !matches!(a, Audience::Participants(_)))
    }

    /// The one user every event leaves out, if there is one (typing's), so
    /// their items are not read.
    fn excluded(&self) -> Option<&UserId> {
        fn one(audience: &Audience) -> Option<&UserId> {
            match audience {
                Audience::ReadersExcept(user) | Audience::Participants(Some(user)) => Some(user),
                _ => None,
            }
        }
        let first = one(self.audiences.first()?)?;
        self.audiences
            .iter()
            .all(|a| one(a) == Some(first))
            .then_some(first)
    }
}

/// Hands the connections that may receive any of the events to `on_part`,
/// part by part, each connection once, with the events it gets; `false`
/// (and nothing handed) when the channel has more than `limit` listeners.
async fn reach_group(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    audiences: &[Audience],
    limit: Option<usize>,
    mut on_part: impl FnMut(Vec<(UserId, ConnectionId, Mask)>),
) -> Result<bool, ApiError> {
    let admission = Admission { audiences };
    let excluded = admission.excluded();
    let invitees_too = audiences.contains(&Audience::Members);
    let Some((watches, online)) = online::listeners(db, app, channel, limit).await? else {
        return Ok(false);
    };
    // Only members who are online can receive anything: the online index
    // names them; their member items say whether they are members still,
    // and accepted ones; their user items give their connections and
    // whom they block.
    let online: Vec<UserId> = online.into_iter().filter(|u| Some(u) != excluded).collect();
    let mut parts = stream::iter(online.chunks(PART).map(<[UserId]>::to_vec))
        .map(|users| readers_part(db, app, channel, users, invitees_too))
        .buffer_unordered(PARTS_IN_FLIGHT);
    // Members' masks (accepted ones, and pending invitees when an event is
    // for them), by user.
    let mut members: HashMap<UserId, (Mask, bool)> = HashMap::new();
    let mut reached: HashSet<ConnectionId> = HashSet::new();
    while let Some((active, users)) = parts.try_next().await? {
        let mut targets = Vec::new();
        for user in users {
            let is_active = active.contains(&user.id);
            let mask = admission.member(&user, is_active);
            if mask != 0 {
                for connection in connections::ids_of(&user.connections) {
                    reached.insert(connection.clone());
                    targets.push((user.id.clone(), connection, mask));
                }
            }
            members.insert(user.id, (mask, is_active));
        }
        if !targets.is_empty() {
            on_part(targets);
        }
    }
    drop(parts);
    // Members online were reached through the index; watchers who are not
    // members are passive.
    if audiences
        .iter()
        .all(|a| matches!(a, Audience::Participants(_)))
    {
        return Ok(true);
    }
    let outsiders: BTreeSet<UserId> = watches
        .iter()
        .map(|w| w.user_id.clone())
        .filter(|u| !members.get(u).is_some_and(|(_, active)| *active) && Some(u) != excluded)
        .collect();
    let public_readers = public_readers(db, app, channel, outsiders).await?;
    // When blocks decide, the public readers' items too.
    let mut outsider_masks: HashMap<UserId, Mask> = HashMap::new();
    if audiences.iter().any(Audience::screens) && !public_readers.is_empty() {
        for user in user_items(db, app, &public_readers).await? {
            outsider_masks.insert(user.id.clone(), admission.outsider(Some(&user)));
        }
    }
    let mut targets = Vec::new();
    for watch in watches {
        let member = members.get(&watch.user_id).map_or(0, |(mask, _)| *mask);
        let outsider = if public_readers.contains(&watch.user_id) {
            outsider_masks
                .get(&watch.user_id)
                .copied()
                .unwrap_or_else(|| admission.outsider(None))
        } else {
            0
        };
        let mask = member | outsider;
        if mask != 0 && reached.insert(watch.connection_id.clone()) {
            targets.push((watch.user_id, watch.connection_id, mask));
        }
    }
    if !targets.is_empty() {
        on_part(targets);
    }
    Ok(true)
}

/// What the audience reads of these online users: their member and user
/// items (a frame reads them ahead, [`crate::db::Db::read_ahead_with`]).
pub fn reader_keys<'a>(
    app: &AppId,
    channel: &ChannelId,
    users: impl IntoIterator<Item = &'a UserId>,
) -> Vec<keys::Key> {
    users
        .into_iter()
        .flat_map(|u| {
            [
                keys::member(app, channel, u).any(),
                keys::user(app, u).any(),
            ]
        })
        .collect()
}

/// What the audience reads of a member item: whether the member is one
/// still, and an accepted one.
#[derive(serde::Deserialize)]
struct Standing {
    user_id: UserId,
    #[serde(default)]
    invite: Option<InviteStatus>,
}

/// Of these online users, the accepted members (with pending invitees'
/// too, when `invitees_too`), and the user items of all those: their member
/// and user items in one batch read (two side by side for a full part).
async fn readers_part(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    users: Vec<UserId>,
    invitees_too: bool,
) -> Result<(BTreeSet<UserId>, Vec<Reach>), ApiError> {
    let mut items = db
        .batch_get_items(&reader_keys(app, channel, &users))
        .await?;
    let members: Vec<Standing> = items
        .of_view::<Member, Standing>()?
        .into_iter()
        .filter(|m| invitees_too || m.invite.is_none())
        .collect();
    let active: BTreeSet<UserId> = members
        .iter()
        .filter(|m| m.invite.is_none())
        .map(|m| m.user_id.clone())
        .collect();
    let listed: BTreeSet<UserId> = members.into_iter().map(|m| m.user_id).collect();
    let users = items
        .of_view::<crate::users::User, Reach>()?
        .into_iter()
        .filter(|u| listed.contains(&u.id))
        .collect();
    Ok((active, users))
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
    let ban_keys: Vec<keys::Key<_>> = users.iter().map(|u| keys::ban(app, channel, u)).collect();
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
