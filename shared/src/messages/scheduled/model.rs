//! A scheduled message as stored and as its author sees it, and the
//! scheduler's task that sends it (the use cases are in the parent module).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::Entity;
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::messages::{Attachment, SendMessage};
use crate::scheduler::Task;

/// The soonest a message may be scheduled.
pub const MIN_AHEAD_MS: i64 = 10_000;
/// A send that has not finished this long after its time is taken as
/// abandoned: it may be deleted or rescheduled.
pub const ABANDONED_AFTER_MS: i64 = 15 * 60 * 1000;

/// Where a scheduled message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduledStatus {
    /// Waiting for its time.
    Pending,
    /// Its time came and the send is under way (it cannot be changed now).
    Sending,
    /// The send was refused: `failure` says why.
    Failed,
}

/// Why a scheduled send was refused: the error the author would have got
/// sending it then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// A scheduled message as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScheduledMessage {
    pub app_id: AppId,
    /// The author.
    pub user_id: UserId,
    /// The id the message will have.
    pub id: MessageId,
    /// What is sent: `id` is the scheduled id, `user_id` and `scheduled_at`
    /// are empty.
    pub input: SendMessage,
    pub due_ms: i64,
    pub status: ScheduledStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl Entity for ScheduledMessage {
    const TYPE: &'static str = "scheduled_message";
    type Item = keys::item::Scheduled;
    fn key(&self) -> Key<Self::Item> {
        keys::scheduled(&self.app_id, &self.user_id, &self.id)
    }
}

/// A scheduled message as its author sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ScheduledMessage)]
pub struct ScheduledView {
    /// The id the message will have once sent.
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub mentions: Vec<UserId>,
    pub parent_id: Option<MessageId>,
    pub quoted_message_id: Option<MessageId>,
    pub show_in_channel: bool,
    pub silent: bool,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub scheduled_at: String,
    pub status: ScheduledStatus,
    pub failure: Option<Failure>,
    pub created_at: String,
    pub updated_at: String,
}

impl ScheduledMessage {
    pub fn view(&self) -> ScheduledView {
        let input = &self.input;
        ScheduledView {
            id: self.id.clone(),
            channel_id: input.channel_id.clone(),
            user_id: self.user_id.clone(),
            text: input.text.clone(),
            attachments: input.attachments.clone(),
            mentions: input.mentions.clone(),
            parent_id: input.parent_id.clone(),
            quoted_message_id: input.quoted_message_id.clone(),
            show_in_channel: input.show_in_channel,
            silent: input.silent,
            metadata: input.metadata.clone(),
            scheduled_at: crate::time::millis_to_rfc3339(self.due_ms),
            status: self.status,
            failure: self.failure.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    /// A send that should have finished long ago.
    pub fn abandoned(&self, now_ms: i64) -> bool {
        self.status == ScheduledStatus::Sending && now_ms - self.due_ms > ABANDONED_AFTER_MS
    }

    pub fn due(&self) -> Due {
        Due {
            app_id: self.app_id.clone(),
            user_id: self.user_id.clone(),
            id: self.id.clone(),
            due_ms: self.due_ms,
        }
    }
}

/// The scheduler's task: send this message if it is still due at this time
/// (a reschedule queues a task of its own; the old one then does nothing).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Due {
    pub app_id: AppId,
    pub user_id: UserId,
    pub id: MessageId,
    pub due_ms: i64,
}

impl Task for Due {
    const KIND: &'static str = "scheduled_message";
}
