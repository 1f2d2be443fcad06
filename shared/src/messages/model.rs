//! Message, message reference, pin, reaction and draft items, and the
//! message view clients see.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use validator::Validate;

use crate::db::Entity;
use crate::ids::{AppId, ChannelId, MessageId, PollId, UserId};
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
    /// A `link` preview's page title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 300))]
    pub title: Option<String>,
    /// A `link` preview's page description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 1000))]
    pub description: Option<String>,
    /// A `link` preview's image, referenced (never fetched by the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "crate::links::validate"), length(max = 2048))]
    pub image_url: Option<String>,
    /// A `link` preview's site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 200))]
    pub site_name: Option<String>,
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
    /// The poll it carries (gone with the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_id: Option<PollId>,
    /// Every reply, shadowed ones included.
    #[serde(default)]
    pub reply_count: i64,
    /// Of `reply_count`, the replies sent while shadow-banned (not stored
    /// while 0, so items stay the size they were).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shadowed_replies: i64,
    /// When the latest reply everyone sees was sent (a thread's activity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply_at: Option<String>,
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
    type Item = keys::item::Message;
    fn key(&self) -> Key<Self::Item> {
        message_key(
            &self.app_id,
            &self.channel_id,
            &self.sort_id,
            self.in_channel(),
        )
    }
    fn gsi1(&self) -> Option<Key<keys::item::Index>> {
        self.parent_id
            .as_ref()
            .map(|parent| keys::thread(&self.app_id, parent, &self.sort_id))
    }
}

pub fn message_key(
    app: &AppId,
    channel: &ChannelId,
    sort_id: &MessageId,
    in_channel: bool,
) -> Key<keys::item::Message> {
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

    /// A shadow-banned member's message shows to them and the server only;
    /// a blocked author's, not to the user who blocks them.
    pub fn visible_to(&self, ctx: &crate::acting::Ctx) -> bool {
        let unshadowed = !self.shadowed || ctx.server || ctx.user.as_ref() == Some(&self.user_id);
        unshadowed && !ctx.blocks(&self.user_id)
    }

    /// The replies every reader of the thread sees (`render` corrects it
    /// for a reader's own shadowed replies and those they block).
    pub fn shown_replies(&self) -> i64 {
        (self.reply_count - self.shadowed_replies).max(0)
    }

    /// A quoted message as it shows inside another: with its author.
    pub fn summary(&self, author: Option<&User>) -> QuotedView {
        QuotedView {
            id: self.id.clone(),
            kind: self.kind,
            text: self.text.clone(),
            user_id: self.user_id.clone(),
            user: crate::users::identity(&self.user_id, author),
            created_at: self.created_at.clone(),
        }
    }

    /// The message as clients see it.
    pub fn view(
        &self,
        author: Option<&User>,
        quoted: Option<(&Message, Option<&User>)>,
        own_reactions: &[String],
    ) -> MessageView {
        MessageView {
            id: self.id.clone(),
            channel_id: self.channel_id.clone(),
            kind: self.kind,
            text: self.text.clone(),
            user: crate::users::identity(&self.user_id, author),
            silent: self.silent,
            metadata: self.metadata.clone(),
            mentions: self.mentions.clone(),
            quoted_message_id: self.quoted_message_id.clone(),
            quoted_message: quoted.map(|(q, author)| q.summary(author)),
            parent_id: self.parent_id.clone(),
            show_in_channel: self.show_in_channel,
            attachments: self.attachments.clone(),
            poll_id: self.poll_id.clone(),
            reply_count: self.shown_replies(),
            reaction_counts: self
                .live_reaction_counts()
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            own_reactions: own_reactions.to_vec(),
            pinned: self.pinned_at.is_some(),
            pinned_at: self.pinned_at.clone(),
            pinned_by: self.pinned_by.clone(),
            shadowed: self.shadowed,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            edited_at: self.edited_at.clone(),
            moderated_by: self.moderated_by.clone(),
            deleted_at: self.deleted_at.clone(),
        }
    }
}

/// A message as every response and event shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Message)]
pub struct MessageView {
    pub id: MessageId,
    pub channel_id: ChannelId,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub text: Option<String>,
    /// The author.
    pub user: crate::users::Identity,
    pub silent: bool,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    pub mentions: Vec<UserId>,
    pub quoted_message_id: Option<MessageId>,
    /// The quoted message, unless it is gone or hidden from the reader.
    pub quoted_message: Option<QuotedView>,
    pub parent_id: Option<MessageId>,
    pub show_in_channel: bool,
    /// Each `url` is a link made for this read.
    pub attachments: Vec<Attachment>,
    /// The poll it carries: `GET /polls/{id}` reads it.
    pub poll_id: Option<PollId>,
    pub reply_count: i64,
    /// Live reaction types and their counts.
    pub reaction_counts: BTreeMap<String, i64>,
    /// The reader's own reaction types on this message.
    pub own_reactions: Vec<String>,
    pub pinned: bool,
    pub pinned_at: Option<String>,
    pub pinned_by: Option<UserId>,
    /// Sent while shadow-banned: shown to its author (and servers) only.
    pub shadowed: bool,
    pub created_at: String,
    pub updated_at: String,
    pub edited_at: Option<String>,
    /// Who deleted or edited it as a moderator.
    pub moderated_by: Option<String>,
    pub deleted_at: Option<String>,
}

/// A quoted message inside another.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = QuotedMessage)]
pub struct QuotedView {
    pub id: MessageId,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub text: Option<String>,
    pub user_id: UserId,
    pub user: crate::users::Identity,
    pub created_at: String,
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
    type Item = keys::item::MessageRef;
    fn key(&self) -> Key<Self::Item> {
        keys::message_ref(&self.app_id, &self.id)
    }
}

impl MessageRef {
    pub fn message_key(&self) -> Key<keys::item::Message> {
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
    type Item = keys::item::Pin;
    fn key(&self) -> Key<Self::Item> {
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
    type Item = keys::item::Reaction;
    fn key(&self) -> Key<Self::Item> {
        keys::reaction(&self.app_id, &self.message_id, &self.user_id, &self.kind)
    }
    fn gsi1(&self) -> Option<Key<keys::item::Index>> {
        Some(keys::reactor(
            &self.app_id,
            &self.channel_id,
            &self.user_id,
            &self.sort_id,
            &self.kind,
        ))
    }
}

/// One user's reaction of one type.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Reaction)]
pub struct ReactionView {
    pub message_id: MessageId,
    pub user_id: UserId,
    #[serde(rename = "type")]
    pub kind: String,
    pub score: i64,
    pub created_at: String,
}

impl Reaction {
    pub fn view(&self) -> ReactionView {
        ReactionView {
            message_id: self.message_id.clone(),
            user_id: self.user_id.clone(),
            kind: self.kind.clone(),
            score: self.score,
            created_at: self.created_at.clone(),
        }
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
    type Item = keys::item::Draft;
    fn key(&self) -> Key<Self::Item> {
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
) -> Key<keys::item::Draft> {
    match parent {
        Some(parent) => keys::thread_draft(app, user, channel, parent),
        None => keys::draft(app, user, channel),
    }
}

/// A saved, unsent message.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Draft)]
pub struct DraftView {
    pub channel_id: ChannelId,
    pub parent_id: Option<MessageId>,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub quoted_message_id: Option<MessageId>,
    pub mentions: Vec<UserId>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    pub updated_at: String,
}

impl Draft {
    pub fn view(&self) -> DraftView {
        DraftView {
            channel_id: self.channel_id.clone(),
            parent_id: self.parent_id.clone(),
            text: self.text.clone(),
            attachments: self.attachments.clone(),
            quoted_message_id: self.quoted_message_id.clone(),
            mentions: self.mentions.clone(),
            metadata: self.metadata.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// Users by id, for rendering authors.
pub type Authors = HashMap<UserId, User>;

// A message to send, as `POST /messages` and the socket's `message.send`
// take it (no doc comment: it would change the generated documents).
#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub channel_id: ChannelId,
    /// A client id makes the send idempotent.
    pub id: Option<MessageId>,
    pub text: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<MessageType>,
    #[serde(default)]
    pub silent: bool,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub mentions: Vec<UserId>,
    pub quoted_message_id: Option<MessageId>,
    pub parent_id: Option<MessageId>,
    #[serde(default)]
    pub show_in_channel: bool,
    #[serde(default)]
    #[validate(nested)]
    pub attachments: Vec<Attachment>,
    /// With a server token: the author.
    pub user_id: Option<UserId>,
    /// A poll made by the sender with `POST /polls` and not sent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_id: Option<PollId>,
    /// No link preview for this message (see the app's `enrich_urls`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_enrich_url: bool,
    /// Send later, at this time (RFC 3339, 10 s to 30 days ahead): the
    /// message waits in `GET /messages/scheduled` until then (202).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Who sees a message: the visibility rules of [`Message::visible_to`].
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::acting::Ctx;

    fn message(author: &str, shadowed: bool) -> Message {
        serde_json::from_value(json!({
            "app_id": "a1", "channel_id": "c1", "id": "m1", "sort_id": "m1",
            "user_id": author, "type": "regular", "text": "hi", "shadowed": shadowed,
            "created_at": "t", "updated_at": "t", "fingerprint": "f",
        }))
        .unwrap()
    }

    /// A reader: the server (`None`), or a user who blocks these users.
    fn reader(user: Option<&str>, blocks: &[&str]) -> Ctx {
        let app = serde_json::from_value(json!({
            "app_id": "a1", "name": "t", "api_key": "k", "api_secret": "s",
            "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        let me = user.map(|id| {
            let blocked: serde_json::Map<String, serde_json::Value> =
                blocks.iter().map(|b| (b.to_string(), json!("t"))).collect();
            Arc::new(
                serde_json::from_value::<User>(json!({
                    "app_id": "a1", "id": id, "blocked": blocked,
                    "created_at": "t", "updated_at": "t",
                }))
                .unwrap(),
            )
        });
        Ctx {
            app,
            server: user.is_none(),
            user: user.map(|u| UserId::parse(u).unwrap()),
            me,
        }
    }

    #[test]
    fn a_shadow_banned_authors_message_shows_to_them_and_the_server_only() {
        let shadowed = message("author", true);
        assert!(shadowed.visible_to(&reader(Some("author"), &[])));
        assert!(shadowed.visible_to(&reader(None, &[])));
        assert!(!shadowed.visible_to(&reader(Some("other"), &[])));
        assert!(message("author", false).visible_to(&reader(Some("other"), &[])));
    }

    #[test]
    fn a_blocked_authors_message_is_hidden_from_the_user_who_blocks_them_only() {
        let plain = message("author", false);
        assert!(!plain.visible_to(&reader(Some("blocker"), &["author"])));
        assert!(plain.visible_to(&reader(Some("blocker"), &["someone-else"])));
        assert!(plain.visible_to(&reader(Some("other"), &[])));
        // Shadowed and blocked: still hidden from the blocker.
        assert!(!message("author", true).visible_to(&reader(Some("blocker"), &["author"])));
    }

    #[test]
    fn a_thread_reply_is_in_the_channel_only_when_also_sent_there() {
        let mut reply = message("author", false);
        assert!(reply.in_channel());
        reply.parent_id = Some(MessageId::parse("p1").unwrap());
        assert!(!reply.in_channel());
        reply.show_in_channel = true;
        assert!(reply.in_channel());
    }
}
