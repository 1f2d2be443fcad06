//! Presence: online while a user has a connection. The change is told to the
//! users who share a channel with them, within the app.

use std::collections::BTreeSet;

use super::events::{Event, EventBody, PresenceView};
use crate::channels::Member;
use crate::db::{Cond, Db};
use crate::error::ApiError;
use crate::ids::{AppId, UserId};
use crate::keys;

/// Online users who share a channel that is not big (the app's
/// `big_channel_size`) with `user` (not `user`), both as accepted members:
/// in a community room, each member coming online would otherwise post to
/// every online member (1,000 online: half a million posts as they all
/// arrive), and a pending invitee sees no members, so no presence. Members
/// of big channels still see each other's presence with `GET /users`.
/// Only they have a socket to tell, so the reads grow with the user's
/// channels and their online peers: the user's memberships and their
/// channels, one query of the online index per channel, and a batch read
/// of the online peers' member items.
pub async fn peers(
    db: &Db,
    app: &crate::apps::App,
    user: &UserId,
) -> Result<Vec<UserId>, ApiError> {
    let (settings, app) = (&app.settings, &app.app_id);
    let memberships = crate::channels::my_memberships(db, app, user).await?;
    let mut candidates: Vec<keys::Key<_>> = Vec::new();
    for (room, membership) in &memberships {
        if membership.invite.is_some() || settings.is_big(room.member_count) {
            continue;
        }
        let channel = &room.id;
        for peer in super::online::in_channel(db, app, channel).await? {
            if &peer != user {
                candidates.push(keys::member(app, channel, &peer));
            }
        }
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let members: Vec<Member> = db.batch_get(&candidates).await?;
    let peers: BTreeSet<UserId> = members
        .into_iter()
        .filter(Member::is_active)
        .map(|m| m.user_id)
        .collect();
    Ok(peers.into_iter().collect())
}

/// Which of `users` the viewer may see the presence of: themself, and users
/// who share a channel with them (whom presence events reach). One query of
/// the viewer's memberships, then batch reads of the member items those
/// users would have in the viewer's channels.
pub async fn visible_to(
    db: &Db,
    app: &AppId,
    viewer: &UserId,
    users: &[UserId],
) -> Result<BTreeSet<UserId>, ApiError> {
    let mut visible: BTreeSet<UserId> = users.iter().filter(|u| *u == viewer).cloned().collect();
    let others: BTreeSet<&UserId> = users.iter().filter(|u| *u != viewer).collect();
    if others.is_empty() {
        return Ok(visible);
    }
    let memberships = crate::channels::memberships_of(db, app, viewer).await?;
    let member_keys: Vec<keys::Key<_>> = memberships
        .iter()
        .filter(|m| m.invite.is_none())
        .flat_map(|m| others.iter().map(|u| keys::member(app, &m.channel_id, u)))
        .collect();
    let found: Vec<Member> = db.batch_get(&member_keys).await?;
    visible.extend(
        found
            .into_iter()
            .filter(Member::is_active)
            .map(|m| m.user_id),
    );
    Ok(visible)
}

/// Records the user's presence; returns `last_active`.
pub async fn set(db: &Db, app: &AppId, user: &UserId, online: bool) -> Result<String, ApiError> {
    let now = crate::time::now_rfc3339();
    let spec = crate::db::store::users::presence(online, &now);
    db.update(&keys::user(app, user), &spec, Cond::Exists)
        .await?;
    Ok(now)
}

pub fn event(user: &UserId, online: bool, last_active: &str) -> Event {
    Event::global(EventBody::PresenceChanged {
        user: PresenceView {
            id: user.clone(),
            online,
            last_active: last_active.to_string(),
        },
    })
}
