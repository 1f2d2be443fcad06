//! Channel, member, membership, ban and distinct-lock items, and their views.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use validator::Validate;

use crate::db::Entity;
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys::{self, Key};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    /// Two members, always distinct.
    Direct,
    /// Members only.
    Group,
    /// Anyone in the app may read and join.
    Public,
}

impl ChannelType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
            Self::Public => "public",
        }
    }
}

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Member,
    Admin,
    Owner,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InviteStatus {
    Pending,
}

/// Per-channel feature switches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSettings {
    pub typing_events: bool,
    pub read_events: bool,
    /// Tell the members online when a member's messages are delivered
    /// (`message.delivered`).
    pub delivery_events: bool,
    pub reactions: bool,
    pub replies: bool,
    pub uploads: bool,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            typing_events: true,
            read_events: true,
            delivery_events: true,
            reactions: true,
            replies: true,
            uploads: true,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Channel {
    pub app_id: AppId,
    pub id: ChannelId,
    #[serde(rename = "type")]
    pub kind: ChannelType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub settings: ChannelSettings,
    /// Seconds a member waits between messages; 0 is off.
    #[serde(default)]
    pub slow_mode: u32,
    #[serde(default)]
    pub is_distinct: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_key: Option<String>,
    #[serde(default)]
    pub frozen: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserId>,
    #[serde(default)]
    pub member_count: i64,
    /// Members with a device to push to (`push/reachable.rs`); not shown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reachable: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_at: Option<String>,
    /// Epoch ms of the last change catch-up can replay (a message, an edit,
    /// a reaction...): `GET /sync` reads only channels changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_ms: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// Soft delete: the id is never reused, readers see 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(default)]
    pub version: u64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Entity for Channel {
    const TYPE: &'static str = "channel";
    type Item = keys::item::Channel;
    fn key(&self) -> Key<Self::Item> {
        keys::channel(&self.app_id, &self.id)
    }
}

/// A channel as the API returns it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Channel)]
pub struct ChannelView {
    pub id: ChannelId,
    #[serde(rename = "type")]
    pub kind: ChannelType,
    pub name: Option<String>,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    pub settings: ChannelSettings,
    /// Seconds a member waits between messages; 0 is off.
    pub slow_mode: u32,
    pub is_distinct: bool,
    pub frozen: bool,
    pub truncated_at: Option<String>,
    pub created_by: Option<UserId>,
    pub member_count: i64,
    pub last_message_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Channel {
    pub fn view(&self) -> ChannelView {
        ChannelView {
            id: self.id.clone(),
            kind: self.kind,
            name: self.name.clone(),
            description: self.description.clone(),
            avatar_url: self.avatar_url.clone(),
            metadata: self.metadata.clone(),
            settings: self.settings.clone(),
            slow_mode: self.slow_mode,
            is_distinct: self.is_distinct,
            frozen: self.frozen,
            truncated_at: self.truncated_at.clone(),
            created_by: self.created_by.clone(),
            member_count: self.member_count,
            last_message_at: self.last_message_at.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    /// The time this channel last saw activity, for "last message first".
    pub fn activity(&self) -> &str {
        self.last_message_at.as_deref().unwrap_or(&self.created_at)
    }
}

/// A user's membership as the channel sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Member {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<InviteStatus>,
    pub joined_at: String,
    /// Same read mark as the membership's, here so "who read this message"
    /// is one query of the channel's members.
    #[serde(default)]
    pub read_up_to: String,
    /// When this member last sent a message (slow mode), epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_ms: Option<i64>,
    /// When this member last sent a message in the channel itself (not a
    /// thread reply), epoch ms: their channel draft, if older, was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_posted_ms: Option<i64>,
    /// The message the member last read up to, and when: a mark writes it
    /// on both the member and the membership items, a send on this one only
    /// (so it is the one lists show, see [`Membership::with_read_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_at: Option<String>,
    /// The delivery mark: the sort key the member's devices have received
    /// messages up to (on this item only: one write a mark), the message and
    /// when. Reading implies delivery.
    #[serde(default)]
    pub delivered_up_to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<String>,
    #[serde(default)]
    pub version: u64,
}

impl Entity for Member {
    const TYPE: &'static str = "member";
    type Item = keys::item::Member;
    fn key(&self) -> Key<Self::Item> {
        keys::member(&self.app_id, &self.channel_id, &self.user_id)
    }
}

/// A member as every response and event shows members: with the user's
/// profile.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Member)]
pub struct MemberView {
    pub user_id: UserId,
    pub role: Role,
    /// `pending` for an invitee who has not accepted yet.
    pub invite: Option<InviteStatus>,
    pub joined_at: String,
    pub user: crate::users::ProfileView,
}

impl Member {
    pub fn view_with(&self, user: Option<&crate::users::User>) -> MemberView {
        MemberView {
            user_id: self.user_id.clone(),
            role: self.role,
            invite: self.invite,
            joined_at: self.joined_at.clone(),
            user: crate::users::profile(&self.user_id, user),
        }
    }

    /// An accepted member (not a pending invitee).
    pub fn is_active(&self) -> bool {
        self.invite.is_none()
    }
}

/// The same membership as the user sees it (their "my channels" list), with
/// their own per-channel state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Membership {
    pub app_id: AppId,
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<InviteStatus>,
    #[serde(default)]
    pub muted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_at: Option<String>,
    /// Sort key of the last message read; messages above it are unread.
    pub read_up_to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_at: Option<String>,
    pub joined_at: String,
    #[serde(default)]
    pub version: u64,
}

impl Entity for Membership {
    const TYPE: &'static str = "membership";
    type Item = keys::item::Membership;
    fn key(&self) -> Key<Self::Item> {
        keys::membership(&self.app_id, &self.user_id, &self.channel_id)
    }
}

/// The caller's own state in a channel.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Membership)]
pub struct MembershipView {
    pub role: Role,
    pub invite: Option<InviteStatus>,
    pub muted: bool,
    pub hidden: bool,
    pub last_read_message_id: Option<MessageId>,
    pub last_read_at: Option<String>,
    pub joined_at: String,
}

impl Membership {
    /// The read state as the member item holds it: a send moves only that
    /// copy (sending reads the channel up to one's own message).
    pub fn with_read_of(mut self, member: Option<&Member>) -> Self {
        if let Some(member) = member.filter(|m| m.read_up_to > self.read_up_to) {
            self.read_up_to = member.read_up_to.clone();
            self.last_read_message_id = member.last_read_message_id.clone();
            self.last_read_at = member.last_read_at.clone();
        }
        self
    }

    pub fn view(&self, channel: &Channel) -> MembershipView {
        MembershipView {
            role: self.role,
            invite: self.invite,
            muted: self.muted,
            hidden: self.is_hidden(channel),
            last_read_message_id: self.last_read_message_id.clone(),
            last_read_at: self.last_read_at.clone(),
            joined_at: self.joined_at.clone(),
        }
    }

    /// Hidden until shown, or until a message newer than the hiding arrives.
    pub fn is_hidden(&self, channel: &Channel) -> bool {
        match (&self.hidden_at, &channel.last_message_at) {
            (None, _) => false,
            (Some(hidden), Some(last)) => last <= hidden,
            (Some(_), None) => true,
        }
    }
}

/// A ban of a user in a channel. Expiry is the item's TTL, and reads treat
/// an expired item as absent, so no clean-up job is needed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ban {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    #[serde(default)]
    pub shadow: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banned_by: Option<UserId>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_epoch: Option<i64>,
}

impl Entity for Ban {
    const TYPE: &'static str = "ban";
    type Item = keys::item::Ban;
    fn key(&self) -> Key<Self::Item> {
        keys::ban(&self.app_id, &self.channel_id, &self.user_id)
    }
    fn ttl(&self) -> Option<i64> {
        self.expires_epoch
    }
}

/// A ban in force; `user` is shown in the channel's ban list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Ban)]
pub struct BanView {
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub shadow: bool,
    pub reason: Option<String>,
    pub banned_by: Option<UserId>,
    pub created_at: String,
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<crate::users::Identity>,
}

impl Ban {
    pub fn view(&self) -> BanView {
        BanView {
            user_id: self.user_id.clone(),
            channel_id: self.channel_id.clone(),
            shadow: self.shadow,
            reason: self.reason.clone(),
            banned_by: self.banned_by.clone(),
            created_at: self.created_at.clone(),
            expires_at: self.expires_at.clone(),
            user: None,
        }
    }
}

/// Points a member set at its one distinct channel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DistinctLock {
    pub app_id: AppId,
    pub hash: String,
    pub channel_id: ChannelId,
}

impl Entity for DistinctLock {
    const TYPE: &'static str = "distinct_lock";
    type Item = keys::item::Distinct;
    fn key(&self) -> Key<Self::Item> {
        keys::distinct(&self.app_id, &self.hash)
    }
}

/// The mark that a user left a channel (or was removed): erasure and export
/// still look there for what they wrote.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Former {
    pub app_id: AppId,
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub left_at: String,
}

impl Entity for Former {
    const TYPE: &'static str = "former_membership";
    type Item = keys::item::Former;
    fn key(&self) -> Key<Self::Item> {
        keys::former(&self.app_id, &self.user_id, &self.channel_id)
    }
}
