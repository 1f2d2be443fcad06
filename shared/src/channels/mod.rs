//! Channels, their members and moderation. Handlers build a [`Ctx`] from the
//! caller, [`load`] the channel with the actor's membership, check a
//! permission on the [`Access`], then call a service function.

pub mod listing;
pub mod members;
mod model;
pub mod moderation;
pub mod service;

pub use model::*;

pub use crate::acting::Ctx;
use crate::db::Db;
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::keys;

/// At most this many members join in one atomic write: each takes two items
/// (member + membership mirror) of a transaction's 100, beside the channel.
pub const MAX_MEMBERS_PER_WRITE: usize = 49;

/// A live channel and the acting user's member item, if any.
#[derive(Clone, Debug)]
pub struct Access {
    pub channel: Channel,
    pub member: Option<Member>,
    server: bool,
}

impl Access {
    /// Whether the channel is big for its app: its connections are passive
    /// watchers (no typing, read, delivery or presence events).
    pub fn is_big(&self, ctx: &Ctx) -> bool {
        ctx.app.settings.is_big(self.channel.member_count)
    }

    fn active_role(&self) -> Option<Role> {
        self.member
            .as_ref()
            .filter(|m| m.is_active())
            .map(|m| m.role)
    }

    /// History, members, reactions and search: the server and accepted
    /// members read any channel; anyone in the app reads a public one. A
    /// pending invitee of a private channel sees only the channel itself
    /// ([`Access::require_view`]) until they accept.
    pub fn require_read(&self) -> Result<(), ApiError> {
        if self.may_read() {
            Ok(())
        } else if self.member.is_some() {
            Err(ApiError::forbidden(
                "accept the invitation to read this channel",
            ))
        } else {
            Err(ApiError::forbidden("you are not a member of this channel"))
        }
    }

    pub fn may_read(&self) -> bool {
        self.server || self.active_role().is_some() || self.channel.kind == ChannelType::Public
    }

    /// The channel itself (name, image, settings, its member count): readers
    /// and pending invitees, who decide from it whether to accept.
    pub fn require_view(&self) -> Result<(), ApiError> {
        if self.may_read() || self.member.is_some() {
            Ok(())
        } else {
            Err(ApiError::forbidden("you are not a member of this channel"))
        }
    }

    pub fn require_member(&self) -> Result<&Member, ApiError> {
        self.member
            .as_ref()
            .ok_or_else(|| ApiError::forbidden("you are not a member of this channel"))
    }

    /// Owners, admins and the server.
    pub fn require_moderator(&self) -> Result<(), ApiError> {
        if self.server || self.active_role() >= Some(Role::Admin) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only a channel owner or admin may do this",
            ))
        }
    }

    /// Owners and the server.
    pub fn require_owner(&self) -> Result<(), ApiError> {
        if self.server || self.active_role() == Some(Role::Owner) {
            Ok(())
        } else {
            Err(ApiError::forbidden("only a channel owner may do this"))
        }
    }

    /// An admin may act on members and admins, never on an owner.
    pub fn require_outranks(&self, target: Role) -> Result<(), ApiError> {
        if self.server || self.active_role() == Some(Role::Owner) || target != Role::Owner {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "an admin cannot act on a channel owner",
            ))
        }
    }
}

/// Loads a live channel of the caller's app and the acting user's member item.
/// Another app's channel id, like a deleted channel, is simply not found.
pub async fn load(db: &Db, ctx: &Ctx, channel_id: &ChannelId) -> Result<Access, ApiError> {
    let channel_key = keys::channel(&ctx.app.app_id, channel_id);
    let member = match &ctx.user {
        Some(user) => {
            // The two reads in one request.
            let member_key = keys::member(&ctx.app.app_id, channel_id, user);
            let db = db
                .read_ahead(&[channel_key.any(), member_key.any()])
                .await?;
            let (channel, member) = futures::try_join!(
                db.get::<Channel>(&channel_key),
                db.get::<Member>(&member_key)
            )?;
            return access(ctx, channel_id, channel, member);
        }
        None => None,
    };
    access(
        ctx,
        channel_id,
        db.get::<Channel>(&channel_key).await?,
        member,
    )
}

/// The channel (unless deleted) and the acting user's place in it, with
/// their ban there: one request.
pub async fn load_with_ban(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
) -> Result<(Access, Option<Ban>), ApiError> {
    let user = ctx.require_user()?;
    let db = db
        .read_ahead(&access_keys(&ctx.app.app_id, channel_id, user))
        .await?;
    Ok(futures::try_join!(
        load(&db, ctx, channel_id),
        active_ban(&db, ctx, channel_id, user)
    )?)
}

/// The items [`load_with_ban`] reads: the channel, the user's member item
/// and their ban.
pub fn access_keys(
    app: &crate::ids::AppId,
    channel_id: &ChannelId,
    user: &UserId,
) -> [keys::Key; 3] {
    [
        keys::channel(app, channel_id).any(),
        keys::member(app, channel_id, user).any(),
        keys::ban(app, channel_id, user).any(),
    ]
}

/// The actor's access to a channel read with their member item.
pub fn access(
    ctx: &Ctx,
    channel_id: &ChannelId,
    channel: Option<Channel>,
    member: Option<Member>,
) -> Result<Access, ApiError> {
    let channel = channel
        .filter(|c| c.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found(format!("channel {channel_id} not found")))?;
    Ok(Access {
        channel,
        member,
        server: ctx.server,
    })
}

/// The user's ban in this channel, if one applies now (an expired ban reads
/// as absent).
pub async fn active_ban(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    user: &UserId,
) -> Result<Option<Ban>, ApiError> {
    Ok(db
        .get(&keys::ban(&ctx.app.app_id, channel_id, user))
        .await?)
}

/// Members as clients see them, each with its user's profile: one batch read
/// per 100 distinct users, whatever the number of members.
pub async fn with_profiles(
    db: &Db,
    app: &crate::ids::AppId,
    members: &[&Member],
) -> Result<Vec<MemberView>, ApiError> {
    let ids: Vec<UserId> = members
        .iter()
        .map(|m| m.user_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let users: std::collections::HashMap<UserId, crate::users::User> =
        crate::users::get_users(db, app, &ids)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
    Ok(members
        .iter()
        .map(|m| m.view_with(users.get(&m.user_id)))
        .collect())
}

/// All of a user's live channels with their membership: one query of the
/// user's partition (1,000 a page) and one batch read per 100 channels.
pub async fn my_memberships(
    db: &Db,
    app: &crate::ids::AppId,
    user: &UserId,
) -> Result<Vec<(Channel, Membership)>, ApiError> {
    let memberships = memberships_of(db, app, user).await?;
    let channel_keys: Vec<keys::Key<_>> = memberships
        .iter()
        .map(|m| keys::channel(app, &m.channel_id))
        .collect();
    // The member items hold the read marks a send moved.
    let member_keys: Vec<keys::Key<_>> = memberships
        .iter()
        .map(|m| keys::member(app, &m.channel_id, user))
        .collect();
    let (channels, members) = futures::try_join!(
        db.batch_get::<Channel>(&channel_keys),
        db.batch_get::<Member>(&member_keys)
    )?;
    let members: std::collections::HashMap<&ChannelId, &Member> =
        members.iter().map(|m| (&m.channel_id, m)).collect();
    Ok(channels
        .into_iter()
        .filter(|c| c.deleted_at.is_none())
        .filter_map(|c| {
            let membership = memberships
                .iter()
                .find(|m| m.channel_id == c.id)?
                .clone()
                .with_read_of(members.get(&c.id).copied());
            Some((c, membership))
        })
        .collect())
}

/// Every active member of a channel (not pending invitees), 1,000 a query.
pub async fn active_members(
    db: &Db,
    app: &crate::ids::AppId,
    channel: &ChannelId,
) -> Result<Vec<Member>, ApiError> {
    let members: Vec<Member> = db
        .query_all(
            &keys::channel_partition(app, channel),
            keys::MEMBER_PREFIX,
            1000,
        )
        .await?;
    Ok(members.into_iter().filter(Member::is_active).collect())
}

/// The channel's active owners and admins.
pub async fn moderators(
    db: &Db,
    app: &crate::ids::AppId,
    channel: &ChannelId,
) -> Result<Vec<UserId>, ApiError> {
    Ok(active_members(db, app, channel)
        .await?
        .into_iter()
        .filter(|m| m.role >= Role::Admin)
        .map(|m| m.user_id)
        .collect())
}

/// A user's membership items (invitees' too), from their own partition:
/// one query per 1,000 and no channel reads.
pub async fn memberships_of(
    db: &Db,
    app: &crate::ids::AppId,
    user: &UserId,
) -> Result<Vec<Membership>, ApiError> {
    Ok(db
        .query_all(
            &keys::user_partition(app, user),
            keys::MEMBERSHIP_PREFIX,
            1000,
        )
        .await?)
}

/// The ids of the channels the user belongs to (invitees too), as
/// [`memberships_of`] reads them.
pub async fn channel_ids_of(
    db: &Db,
    app: &crate::ids::AppId,
    user: &UserId,
) -> Result<Vec<ChannelId>, ApiError> {
    let memberships = memberships_of(db, app, user).await?;
    Ok(memberships.into_iter().map(|m| m.channel_id).collect())
}

/// The sort key above which a new member's messages count as unread.
pub(crate) fn read_floor_now() -> String {
    format!(
        "{}{}",
        keys::MESSAGE_PREFIX,
        MessageId::lower_bound_at(crate::time::now_millis())
    )
}

pub(crate) fn new_membership(
    channel: &Channel,
    user: &UserId,
    role: Role,
    invite: Option<InviteStatus>,
    now: &str,
) -> (Member, Membership) {
    let read_up_to = read_floor_now();
    let member = Member {
        app_id: channel.app_id.clone(),
        channel_id: channel.id.clone(),
        user_id: user.clone(),
        role,
        invite,
        joined_at: now.to_string(),
        read_up_to: read_up_to.clone(),
        last_sent_ms: None,
        last_posted_ms: None,
        last_read_message_id: None,
        last_read_at: None,
        delivered_up_to: read_up_to.clone(),
        last_delivered_message_id: None,
        last_delivered_at: None,
        version: 1,
    };
    let membership = Membership {
        app_id: channel.app_id.clone(),
        user_id: user.clone(),
        channel_id: channel.id.clone(),
        role,
        invite,
        muted: false,
        hidden_at: None,
        read_up_to,
        last_read_message_id: None,
        last_read_at: None,
        joined_at: now.to_string(),
        version: 1,
    };
    (member, membership)
}

/// The permission rules of [`Access`], one actor and channel kind at a time.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    /// Who acts: the server, or a user with this member item (if any).
    #[derive(Clone, Copy, Debug)]
    enum Actor {
        Server,
        Active(Role),
        Invited(Role),
        Stranger,
    }

    fn ctx(server: bool) -> Ctx {
        let app = serde_json::from_value(json!({
            "app_id": "a1", "name": "t", "api_key": "k", "api_secret": "s",
            "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        Ctx {
            app,
            server,
            user: (!server).then(|| UserId::parse("u1").unwrap()),
            me: None,
        }
    }

    fn channel(kind: &str, deleted: bool) -> Channel {
        serde_json::from_value(json!({
            "app_id": "a1", "id": "c1", "type": kind, "created_at": "t", "updated_at": "t",
            "deleted_at": deleted.then_some("t"),
        }))
        .unwrap()
    }

    fn member(role: Role, invited: bool) -> Member {
        serde_json::from_value(json!({
            "app_id": "a1", "channel_id": "c1", "user_id": "u1", "role": role,
            "joined_at": "t", "invite": invited.then_some("pending"),
        }))
        .unwrap()
    }

    fn access_of(actor: Actor, kind: &str) -> Access {
        let (server, member) = match actor {
            Actor::Server => (true, None),
            Actor::Active(role) => (false, Some(member(role, false))),
            Actor::Invited(role) => (false, Some(member(role, true))),
            Actor::Stranger => (false, None),
        };
        let id = ChannelId::parse("c1").unwrap();
        access(&ctx(server), &id, Some(channel(kind, false)), member).unwrap()
    }

    /// (read, view, moderate, own) for an actor in a channel of this kind.
    fn rights(actor: Actor, kind: &str) -> (bool, bool, bool, bool) {
        let a = access_of(actor, kind);
        (
            a.require_read().is_ok(),
            a.require_view().is_ok(),
            a.require_moderator().is_ok(),
            a.require_owner().is_ok(),
        )
    }

    #[test]
    fn a_private_channel_is_read_by_its_accepted_members_and_the_server() {
        let expected = [
            (Actor::Server, (true, true, true, true)),
            (Actor::Active(Role::Owner), (true, true, true, true)),
            (Actor::Active(Role::Admin), (true, true, true, false)),
            (Actor::Active(Role::Member), (true, true, false, false)),
            // An invitee sees the channel, to decide, and nothing in it; an
            // invited owner has no powers before accepting.
            (Actor::Invited(Role::Owner), (false, true, false, false)),
            (Actor::Invited(Role::Member), (false, true, false, false)),
            (Actor::Stranger, (false, false, false, false)),
        ];
        for kind in ["group", "direct"] {
            for (actor, want) in expected {
                assert_eq!(rights(actor, kind), want, "{actor:?} in a {kind} channel");
            }
        }
    }

    #[test]
    fn anyone_in_the_app_reads_a_public_channel_and_only_roles_moderate_it() {
        assert_eq!(
            rights(Actor::Stranger, "public"),
            (true, true, false, false)
        );
        assert_eq!(
            rights(Actor::Invited(Role::Member), "public"),
            (true, true, false, false)
        );
        assert_eq!(
            rights(Actor::Active(Role::Admin), "public"),
            (true, true, true, false)
        );
    }

    #[test]
    fn the_refusals_say_why() {
        let invited = access_of(Actor::Invited(Role::Member), "group");
        let err = invited.require_read().unwrap_err().to_string();
        assert!(err.contains("accept the invitation"), "{err}");
        let stranger = access_of(Actor::Stranger, "group");
        let err = stranger.require_read().unwrap_err().to_string();
        assert!(err.contains("not a member"), "{err}");
        assert!(stranger.require_member().is_err());
        let admin = access_of(Actor::Active(Role::Admin), "group");
        let err = admin.require_owner().unwrap_err().to_string();
        assert!(err.contains("only a channel owner"), "{err}");
    }

    #[test]
    fn an_admin_acts_on_members_and_admins_never_on_an_owner() {
        let admin = access_of(Actor::Active(Role::Admin), "group");
        assert!(admin.require_outranks(Role::Member).is_ok());
        assert!(admin.require_outranks(Role::Admin).is_ok());
        assert!(admin.require_outranks(Role::Owner).is_err());
        for actor in [Actor::Active(Role::Owner), Actor::Server] {
            assert!(access_of(actor, "group")
                .require_outranks(Role::Owner)
                .is_ok());
        }
        // An invited owner is not yet an owner.
        let invited = access_of(Actor::Invited(Role::Owner), "group");
        assert!(invited.require_outranks(Role::Owner).is_err());
    }

    #[test]
    fn a_deleted_or_missing_channel_is_not_found_even_for_the_server() {
        let id = ChannelId::parse("c1").unwrap();
        for channel in [None, Some(channel("group", true))] {
            let err = access(&ctx(true), &id, channel, None).unwrap_err();
            assert!(err.to_string().contains("not found"), "{err}");
        }
    }
}
