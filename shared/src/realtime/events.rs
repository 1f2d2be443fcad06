//! Server → client events: `{"type", "created_at", "channel_id"?, ...}`, one
//! enum tagged by `type`. The AsyncAPI document (`asyncapi.rs`) is made from
//! these types, so what is sent and what is documented are the same.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::channels::{ChannelView, MemberView};
use crate::ids::{ChannelId, MessageId, UserId};
use crate::messages::polls::model::{PollView, VoteView};
use crate::messages::{MessageView, ReactionView};

/// An event ready to send.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Unique per event: a client drops one it has already seen (a fan-out
    /// retried after a timeout may deliver an event twice).
    pub id: String,
    pub created_at: String,
    /// The channel it happened in (absent for presence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    #[serde(flatten)]
    pub body: EventBody,
}

/// Who did something, where only the id matters.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UserRef {
    pub id: UserId,
}

/// A member who left or was removed.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RemovedMember {
    pub user_id: UserId,
}

/// A hard-deleted message: it no longer exists.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemovedMessage {
    pub id: MessageId,
    pub parent_id: Option<MessageId>,
}

/// The message of `message.deleted`: soft-deleted (the tombstone as it now
/// reads) or hard-deleted (its id only, with `hard: true`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DeletedMessage {
    Soft(Box<MessageView>),
    Hard(RemovedMessage),
}

/// A reaction just removed.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RemovedReaction {
    pub message_id: MessageId,
    pub user_id: UserId,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A user's presence.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PresenceView {
    pub id: UserId,
    pub online: bool,
    pub last_active: String,
}

/// Every event the server sends, by `type`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum EventBody {
    /// A message was sent.
    #[serde(rename = "message.new")]
    MessageNew { message: MessageView },
    /// A message was edited, pinned or unpinned, or got its link preview.
    #[serde(rename = "message.updated")]
    MessageUpdated { message: MessageView },
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        message: DeletedMessage,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        #[schema(default = false)]
        hard: bool,
    },
    #[serde(rename = "reaction.new")]
    ReactionNew {
        message_id: MessageId,
        reaction: ReactionView,
        /// The message's live counts after the change.
        reaction_counts: BTreeMap<String, i64>,
    },
    #[serde(rename = "reaction.deleted")]
    ReactionDeleted {
        message_id: MessageId,
        reaction: RemovedReaction,
        reaction_counts: BTreeMap<String, i64>,
    },
    /// A member read up to a message.
    #[serde(rename = "message.read")]
    MessageRead {
        user: UserRef,
        last_read_message_id: Option<MessageId>,
    },
    /// A member's devices received the channel's messages up to one (when
    /// the channel's `delivery_events` is on).
    #[serde(rename = "message.delivered")]
    MessageDelivered {
        user: UserRef,
        last_delivered_message_id: Option<MessageId>,
    },
    #[serde(rename = "member.added")]
    MemberAdded { member: MemberView },
    /// A role changed, or an invite was accepted.
    #[serde(rename = "member.updated")]
    MemberUpdated { member: MemberView },
    /// To the remaining members and to the removed user.
    #[serde(rename = "member.removed")]
    MemberRemoved { member: RemovedMember },
    /// To a user just added to (or invited into) a channel.
    #[serde(rename = "notification.added_to_channel")]
    AddedToChannel { channel: ChannelView },
    #[serde(rename = "channel.updated")]
    ChannelUpdated { channel: ChannelView },
    #[serde(rename = "channel.frozen")]
    ChannelFrozen { channel: ChannelView },
    #[serde(rename = "channel.unfrozen")]
    ChannelUnfrozen { channel: ChannelView },
    #[serde(rename = "channel.truncated")]
    ChannelTruncated { channel: ChannelView },
    /// To the users who were members.
    #[serde(rename = "channel.deleted")]
    ChannelDeleted {},
    #[serde(rename = "typing.start")]
    TypingStart {
        user: UserRef,
        parent_id: Option<MessageId>,
    },
    #[serde(rename = "typing.stop")]
    TypingStop {
        user: UserRef,
        parent_id: Option<MessageId>,
    },
    /// A channel peer came online or went offline.
    #[serde(rename = "user.presence.changed")]
    PresenceChanged { user: PresenceView },
    /// A member reported a message (to the channel's owners and admins,
    /// never to its author).
    #[serde(rename = "message.flagged")]
    MessageFlagged { flag: FlaggedView },
    /// To its author: a scheduled message was refused when it came due
    /// (`failure` says why); it stays listed as `failed`.
    #[serde(rename = "message.scheduled_failed")]
    ScheduledFailed {
        scheduled_message: crate::messages::scheduled::model::ScheduledView,
    },
    /// To its user: a reminder's time came (the message as they read it).
    #[serde(rename = "reminder.due")]
    ReminderDue {
        reminder: crate::messages::reminders::model::ReminderView,
    },
    /// A vote in a poll, with its new counts (`vote` is `null` in an
    /// anonymous poll: no one learns who voted).
    #[serde(rename = "poll.vote_cast")]
    PollVoteCast {
        poll: PollView,
        vote: Option<VoteView>,
    },
    /// A vote taken back (or replaced, in a poll of one vote per user).
    #[serde(rename = "poll.vote_removed")]
    PollVoteRemoved {
        poll: PollView,
        vote: Option<VoteView>,
    },
    /// A poll gained an option.
    #[serde(rename = "poll.updated")]
    PollUpdated { poll: PollView },
    /// A poll was closed: it takes no more votes.
    #[serde(rename = "poll.closed")]
    PollClosed { poll: PollView },
}

/// The report of `message.flagged`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FlaggedView {
    pub id: String,
    pub message_id: MessageId,
    /// The message's author.
    pub user_id: UserId,
    /// `null` when an app's blocklist opened the report.
    pub reporter_id: Option<UserId>,
    pub reason: String,
}

/// Time-ordered, so ids sort roughly as events were made.
fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl Event {
    /// An event in a channel, now.
    pub fn channel(channel: &ChannelId, body: EventBody) -> Self {
        Self {
            id: new_id(),
            created_at: crate::time::now_rfc3339(),
            channel_id: Some(channel.clone()),
            body,
        }
    }

    /// An event not tied to one channel (presence).
    pub fn global(body: EventBody) -> Self {
        Self {
            id: new_id(),
            created_at: crate::time::now_rfc3339(),
            channel_id: None,
            body,
        }
    }

    /// Its `type`, for logs.
    pub fn kind(&self) -> String {
        match serde_json::to_value(&self.body) {
            Ok(body) => body["type"].as_str().unwrap_or_default().to_string(),
            Err(_) => String::new(),
        }
    }

    /// The message it is about, if any.
    fn message_id(&self) -> Option<&MessageId> {
        match &self.body {
            EventBody::MessageNew { message } | EventBody::MessageUpdated { message } => {
                Some(&message.id)
            }
            EventBody::MessageDeleted { message, .. } => Some(match message {
                DeletedMessage::Soft(m) => &m.id,
                DeletedMessage::Hard(m) => &m.id,
            }),
            EventBody::ReactionNew { message_id, .. }
            | EventBody::ReactionDeleted { message_id, .. } => Some(message_id),
            _ => None,
        }
    }
}

/// API Gateway refuses messages over 128 KB: such an event is sent as a
/// reference (its type, channel and message id) for the client to fetch.
pub const MAX_PAYLOAD: usize = 128 * 1024;

/// The `trimmed` reference sent instead of an event over [`MAX_PAYLOAD`].
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Trimmed {
    /// The event's own type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's own id.
    pub id: String,
    pub created_at: String,
    pub channel_id: Option<ChannelId>,
    pub message_id: Option<MessageId>,
    /// Always `true`: fetch the message to see it.
    pub trimmed: bool,
}

pub fn payload(event: &Event) -> Vec<u8> {
    let bytes = serde_json::to_vec(event).unwrap_or_default();
    if bytes.len() <= MAX_PAYLOAD {
        return bytes;
    }
    let reference = Trimmed {
        kind: event.kind(),
        id: event.id.clone(),
        created_at: event.created_at.clone(),
        channel_id: event.channel_id.clone(),
        message_id: event.message_id().cloned(),
        trimmed: true,
    };
    serde_json::to_vec(&reference).unwrap_or_default()
}

/// A JSON body for tests and tools that read events back.
pub fn to_json(event: &Event) -> Value {
    serde_json::to_value(event).unwrap_or_else(|_| json!({}))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message(text: &str) -> MessageView {
        let stored: crate::messages::Message = serde_json::from_value(json!({
            "app_id": "a1", "channel_id": "c1", "id": "m1", "sort_id": "m1",
            "user_id": "u1", "type": "regular", "text": text,
            "created_at": "t", "updated_at": "t", "fingerprint": "f",
        }))
        .unwrap();
        stored.view(None, None, &[])
    }

    #[test]
    fn events_carry_their_type_channel_and_time() {
        let channel = ChannelId::parse("c1").unwrap();
        let event = Event::channel(
            &channel,
            EventBody::MessageNew {
                message: message("hi"),
            },
        );
        let sent: Value = serde_json::from_slice(&payload(&event)).unwrap();
        assert_eq!(sent["type"], "message.new");
        assert_eq!(sent["channel_id"], "c1");
        assert_eq!(sent["message"]["text"], "hi");
        assert!(sent["created_at"].is_string());
        assert_eq!(sent["id"].as_str().map(str::len), Some(32));
        assert_eq!(event.kind(), "message.new");
    }

    #[test]
    fn oversized_events_become_references() {
        let channel = ChannelId::parse("c1").unwrap();
        let big = Event::channel(
            &channel,
            EventBody::MessageNew {
                message: message(&"x".repeat(200_000)),
            },
        );
        let sent: Value = serde_json::from_slice(&payload(&big)).unwrap();
        assert_eq!(sent["trimmed"], true);
        assert_eq!(sent["type"], "message.new");
        assert_eq!(sent["message_id"], "m1");
        assert_eq!(sent["channel_id"], "c1");
        assert!(payload(&big).len() <= MAX_PAYLOAD);
    }
}
