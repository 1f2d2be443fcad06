//! A reminder as stored and as its user sees it, and the scheduler's task
//! that tells them when it is due (the use cases are in the parent module).

use serde::{Deserialize, Serialize};

use crate::db::Entity;
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::messages::{message_key, MessageView};
use crate::scheduler::Task;

/// A message a user keeps: with a time, a reminder; without one, saved for
/// later.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reminder {
    pub app_id: AppId,
    pub user_id: UserId,
    pub message_id: MessageId,
    /// Where the message is (read again with the reminder).
    pub channel_id: ChannelId,
    pub sort_id: MessageId,
    pub in_channel: bool,
    /// When to remind (epoch ms); none: saved for later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_ms: Option<i64>,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl Entity for Reminder {
    const TYPE: &'static str = "reminder";
    type Item = keys::item::Reminder;
    fn key(&self) -> Key<Self::Item> {
        keys::reminder(&self.app_id, &self.user_id, &self.message_id)
    }
}

impl Reminder {
    /// The message's own key.
    pub fn message_key(&self) -> Key<keys::item::Message> {
        message_key(
            &self.app_id,
            &self.channel_id,
            &self.sort_id,
            self.in_channel,
        )
    }

    /// Where it stands at `now_ms`.
    pub fn status(&self, now_ms: i64) -> ReminderStatus {
        match self.remind_ms {
            None => ReminderStatus::Saved,
            Some(at) if at <= now_ms => ReminderStatus::Due,
            Some(_) => ReminderStatus::Upcoming,
        }
    }

    /// Its place in a listing (URL-safe: it is the `next` cursor):
    /// reminders by time, then saved messages in the order they were sent.
    pub fn order_key(&self) -> String {
        match self.remind_ms {
            Some(at) => format!("0{at:015}.{}", self.message_id),
            None => format!("1.{}", self.sort_id),
        }
    }

    pub fn view(&self, message: MessageView) -> ReminderView {
        ReminderView {
            message_id: self.message_id.clone(),
            channel_id: self.channel_id.clone(),
            user_id: self.user_id.clone(),
            remind_at: self.remind_ms.map(crate::time::millis_to_rfc3339),
            status: self.status(crate::time::now_millis()),
            message,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    pub fn due(&self) -> Option<ReminderDue> {
        self.remind_ms.map(|due_ms| ReminderDue {
            app_id: self.app_id.clone(),
            user_id: self.user_id.clone(),
            message_id: self.message_id.clone(),
            due_ms,
        })
    }
}

/// Which reminders: `due` (their time has come), `upcoming` (it has not),
/// `saved` (no time: saved for later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReminderStatus {
    Due,
    Upcoming,
    Saved,
}

/// A reminder as its user sees it, with the message as they would read it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Reminder)]
pub struct ReminderView {
    pub message_id: MessageId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    /// `null`: saved for later.
    pub remind_at: Option<String>,
    pub status: ReminderStatus,
    pub message: MessageView,
    pub created_at: String,
    pub updated_at: String,
}

/// The scheduler's task: remind if the reminder is still set for this time
/// (a change queues a task of its own; the old one then does nothing).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReminderDue {
    pub app_id: AppId,
    pub user_id: UserId,
    pub message_id: MessageId,
    pub due_ms: i64,
}

impl Task for ReminderDue {
    const KIND: &'static str = "reminder";
}
