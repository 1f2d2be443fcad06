//! Message, message reference, pin, reaction and draft items, and the
//! message view clients see.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use validator::Validate;

use crate::db::Entity;
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::users::User;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    #[default]
    Regular,
    /// Sent by the app's backend (server token only).
    System,
    /// Soft-deleted: kept as a placeholder without text or attachments.
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// image, video, audio, file, or an app's own kind.
    #[serde(rename = "type")]
    #[validate(length(min = 1, max = 32))]
    pub kind: String,
    #[validate(custom(function = "crate::links::validate"), length(max = 2048))]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 255))]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 255))]
    pub mime_type: Option<String>,
    /// The object in this deployment's bucket that `url` points at. Set by
    /// the server on every write (whatever a client sends here is replaced);
    /// each read then gets a fresh link to it in `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub key: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    /// The public id: the client's own, or the sort id.
    pub id: MessageId,
    /// Time-ordered (UUIDv7): the sort key, so history is in send order.
    pub sort_id: MessageId,
    pub user_id: UserId,
    #[serde(rename = "type")]
    pub kind: MessageType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Lower-cased text for case-insensitive search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_text: Option<String>,
    #[serde(default)]
    pub silent: bool,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub mentions: Vec<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<MessageId>,
    #[serde(default)]
    pub show_in_channel: bool,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub reply_count: i64,
    #[serde(default)]
    pub reaction_counts: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_by: Option<UserId>,
    /// Sent while shadow-banned: shown to its author only.
    #[serde(default)]
    pub shadowed: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Set when an owner, admin or the server edited someone else's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Hash of the send request, to tell an idempotent retry from a reuse.
    pub fingerprint: String,
    #[serde(default)]
    pub version: u64,
}

impl Entity for Message {
    const TYPE: &'static str = "message";
    fn key(&self) -> Key {
        message_key(
            &self.app_id,
            &self.channel_id,
            &self.sort_id,
            self.in_channel(),
        )
    }
    fn gsi1(&self) -> Option<Key> {
        self.parent_id
            .as_ref()
            .map(|parent| keys::thread(&self.app_id, parent, &self.sort_id))
    }
}

pub fn message_key(app: &AppId, channel: &ChannelId, sort_id: &MessageId, in_channel: bool) -> Key {
    if in_channel {
        keys::message(app, channel, sort_id)
    } else {
        keys::reply(app, channel, sort_id)
    }
}

impl Message {
    /// Counts of the types that still have reactions (older items may keep
    /// zeros from before removals dropped them).
    pub fn live_reaction_counts(&self) -> BTreeMap<&str, i64> {
        self.reaction_counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.as_str(), *n))
            .collect()
    }

    /// Listed in the channel's history (not a thread-only reply).
    pub fn in_channel(&self) -> bool {
        self.parent_id.is_none() || self.show_in_channel
    }

    /// Shadow-banned messages reach their author (and the server) only.
    pub fn visible_to(&self, viewer: Option<&UserId>, server: bool) -> bool {
        !self.shadowed || server || viewer == Some(&self.user_id)
    }

    /// A quoted message as it shows inside another: with its author.
    pub fn summary(&self, author: Option<&User>) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "text": self.text,
            "user_id": self.user_id,
            "user": crate::users::identity(&self.user_id, author),
            "created_at": self.created_at,
        })
    }

    /// The message as clients see it.
    pub fn view(
        &self,
        author: Option<&User>,
        quoted: Option<(&Message, Option<&User>)>,
        own_reactions: &[String],
    ) -> Value {
        let user = crate::users::identity(&self.user_id, author);
        json!({
            "id": self.id,
            "channel_id": self.channel_id,
            "type": self.kind,
            "text": self.text,
            "user": user,
            "silent": self.silent,
            "metadata": self.metadata,
            "mentions": self.mentions,
            "quoted_message_id": self.quoted_message_id,
            "quoted_message": quoted.map(|(q, author)| q.summary(author)),
            "parent_id": self.parent_id,
            "show_in_channel": self.show_in_channel,
            "attachments": self.attachments,
            "reply_count": self.reply_count,
            "reaction_counts": self.live_reaction_counts(),
            "own_reactions": own_reactions,
            "pinned": self.pinned_at.is_some(),
            "pinned_at": self.pinned_at,
            "pinned_by": self.pinned_by,
            "shadowed": self.shadowed,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "edited_at": self.edited_at,
            "moderated_by": self.moderated_by,
            "deleted_at": self.deleted_at,
        })
    }
}

/// Message id → its channel and sort key; written with the message, so a
/// client id can be sent once only (the idempotency lock).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageRef {
    pub app_id: AppId,
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub sort_id: MessageId,
    pub in_channel: bool,
}

impl Entity for MessageRef {
    const TYPE: &'static str = "message_ref";
    fn key(&self) -> Key {
        keys::message_ref(&self.app_id, &self.id)
    }
}

impl MessageRef {
    pub fn message_key(&self) -> Key {
        message_key(
            &self.app_id,
            &self.channel_id,
            &self.sort_id,
            self.in_channel,
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pin {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub message_id: MessageId,
    pub sort_id: MessageId,
    pub in_channel: bool,
    pub pinned_by: Option<UserId>,
    pub pinned_at: String,
}

impl Entity for Pin {
    const TYPE: &'static str = "pin";
    fn key(&self) -> Key {
        keys::pin(&self.app_id, &self.channel_id, &self.sort_id)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reaction {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub message_id: MessageId,
    pub sort_id: MessageId,
    pub user_id: UserId,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub score: i64,
    pub created_at: String,
}

impl Entity for Reaction {
    const TYPE: &'static str = "reaction";
    fn key(&self) -> Key {
        keys::reaction(&self.app_id, &self.message_id, &self.user_id, &self.kind)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(keys::reactor(
            &self.app_id,
            &self.channel_id,
            &self.user_id,
            &self.sort_id,
            &self.kind,
        ))
    }
}

impl Reaction {
    pub fn view(&self) -> Value {
        json!({
            "message_id": self.message_id,
            "user_id": self.user_id,
            "type": self.kind,
            "score": self.score,
            "created_at": self.created_at,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Draft {
    pub app_id: AppId,
    pub user_id: UserId,
    pub channel_id: ChannelId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_message_id: Option<MessageId>,
    #[serde(default)]
    pub mentions: Vec<UserId>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    pub updated_at: String,
}

impl Entity for Draft {
    const TYPE: &'static str = "draft";
    fn key(&self) -> Key {
        draft_key(
            &self.app_id,
            &self.user_id,
            &self.channel_id,
            self.parent_id.as_ref(),
        )
    }
}

pub fn draft_key(
    app: &AppId,
    user: &UserId,
    channel: &ChannelId,
    parent: Option<&MessageId>,
) -> Key {
    match parent {
        Some(parent) => keys::thread_draft(app, user, channel, parent),
        None => keys::draft(app, user, channel),
    }
}

impl Draft {
    pub fn view(&self) -> Value {
        json!({
            "channel_id": self.channel_id,
            "parent_id": self.parent_id,
            "text": self.text,
            "attachments": self.attachments,
            "quoted_message_id": self.quoted_message_id,
            "mentions": self.mentions,
            "metadata": self.metadata,
            "updated_at": self.updated_at,
        })
    }
}

/// Users by id, for rendering authors.
pub type Authors = HashMap<UserId, User>;
