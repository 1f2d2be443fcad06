//! Client → server frames, one enum tagged by `action`, and the ack the
//! server answers each with. The AsyncAPI document is made from these.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::ids::{ChannelId, ConnectionId, MessageId, UserId};
use crate::messages::read::ReadMark;
use crate::messages::send::SendMessage;
use crate::messages::MessageView;

/// API Gateway's frame limit: bigger frames get an error ack.
pub const MAX_FRAME: usize = 32 * 1024;

/// Every action a client may send. Each frame may also carry a
/// `request_id` (any JSON value), echoed in its ack.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action")]
pub enum ClientFrame {
    /// Send a message, as `POST /messages` (a client `id` makes it idempotent).
    #[serde(rename = "message.send")]
    MessageSend(Box<SendMessage>),
    #[serde(rename = "typing.start")]
    TypingStart(ChannelFrame),
    #[serde(rename = "typing.stop")]
    TypingStop(ChannelFrame),
    /// Receive a readable channel's events without being a member.
    #[serde(rename = "channel.watch")]
    ChannelWatch(ChannelFrame),
    #[serde(rename = "channel.unwatch")]
    ChannelUnwatch(ChannelFrame),
    /// Mark the channel read, as `POST /channels/{id}/read`.
    #[serde(rename = "message.read")]
    MessageRead(ReadFrame),
    /// Mark channels delivered, several at once, as
    /// `POST /channels/{id}/delivered` each.
    #[serde(rename = "channel.mark_delivered")]
    MarkDelivered(DeliveredFrame),
    /// Mark a thread read, as `POST /messages/{parent_id}/thread/read`.
    #[serde(rename = "thread.read")]
    ThreadRead(ThreadReadFrame),
    /// Is the connection alive, and whose is it.
    #[serde(rename = "health.check")]
    HealthCheck {},
}

impl ClientFrame {
    /// The channel the frame acts in, if it names one.
    pub fn channel_id(&self) -> Option<&crate::ids::ChannelId> {
        match self {
            ClientFrame::MessageSend(input) => Some(&input.channel_id),
            ClientFrame::TypingStart(input)
            | ClientFrame::TypingStop(input)
            | ClientFrame::ChannelWatch(input)
            | ClientFrame::ChannelUnwatch(input) => Some(&input.channel_id),
            ClientFrame::MessageRead(input) => Some(&input.channel_id),
            ClientFrame::MarkDelivered(_)
            | ClientFrame::ThreadRead(_)
            | ClientFrame::HealthCheck {} => None,
        }
    }
}

/// The actions, as clients name them.
pub const ACTIONS: &[&str] = &[
    "message.send",
    "typing.start",
    "typing.stop",
    "channel.watch",
    "channel.unwatch",
    "message.read",
    "channel.mark_delivered",
    "thread.read",
    "health.check",
];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelFrame {
    pub channel_id: ChannelId,
    /// Typing in a thread.
    #[serde(default)]
    pub parent_id: Option<MessageId>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFrame {
    pub channel_id: ChannelId,
    /// Default: the latest message.
    #[serde(default)]
    pub message_id: Option<MessageId>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadReadFrame {
    /// The thread's parent message.
    pub parent_id: MessageId,
    /// A reply in the thread; default: its latest.
    #[serde(default)]
    pub message_id: Option<MessageId>,
}

/// Channels marked delivered in one frame, at most this many.
pub const MAX_DELIVERED_CHANNELS: usize = 30;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveredFrame {
    /// 1 to 30 channels, each with the message it was delivered up to
    /// (default: the latest).
    pub channels: Vec<ReadFrame>,
}

/// A frame's `request_id` (for the ack) and the frame, or why it is refused.
pub fn parse(body: &str) -> (Value, Result<ClientFrame, ApiError>) {
    if body.len() > MAX_FRAME {
        return (
            Value::Null,
            Err(ApiError::TooLarge(format!(
                "frames are limited to {MAX_FRAME} bytes"
            ))),
        );
    }
    let mut frame: Map<String, Value> = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(frame)) => frame,
        Ok(_) => {
            return (
                Value::Null,
                Err(ApiError::validation(
                    "a frame is a JSON object with an `action`",
                )),
            )
        }
        Err(_) => {
            return (
                Value::Null,
                Err(ApiError::validation("the frame is not JSON")),
            )
        }
    };
    let request_id = frame.remove("request_id").unwrap_or(Value::Null);
    let parsed = match frame.get("action") {
        Some(Value::String(action)) if ACTIONS.contains(&action.as_str()) => {
            serde_json::from_value(Value::Object(frame))
                .map_err(|e| ApiError::validation(format!("invalid frame: {e}")))
        }
        Some(Value::String(other)) => {
            Err(ApiError::validation(format!("unknown action `{other}`")))
        }
        _ => Err(ApiError::validation("the frame has no `action`")),
    };
    (request_id, parsed)
}

/// The answer to every frame.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ack {
    /// Always `ack`.
    #[serde(rename = "type")]
    #[schema(pattern = "^ack$")]
    pub kind: &'static str,
    /// The frame's `request_id`, as sent (null without one).
    pub request_id: Value,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ActionResult>,
    /// Why the frame was refused, as a REST error's `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::error::ErrorDetail>)]
    pub error: Option<Value>,
}

impl Ack {
    pub fn new(request_id: Value, result: Result<ActionResult, ApiError>) -> Self {
        match result {
            Ok(result) => Self {
                kind: "ack",
                request_id,
                ok: true,
                result: Some(result),
                error: None,
            },
            Err(err) => Self {
                kind: "ack",
                request_id,
                ok: false,
                result: None,
                error: Some(err.body()["error"].clone()),
            },
        }
    }
}

/// What an action returns in its ack, by action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ActionResult {
    /// `message.send`: the message, and `false` for a retry of a send that
    /// already happened.
    Sent(Box<Sent>),
    /// `message.send` with `scheduled_at`: the scheduled message.
    Scheduled(Box<ScheduledAck>),
    /// `channel.watch` / `channel.unwatch`.
    Watch(Watching),
    /// `typing.start` / `typing.stop`.
    Typing(TypingAck),
    /// `message.read`.
    Read(ReadMark),
    /// `channel.mark_delivered`: each channel's mark, in the frame's order.
    Delivered(DeliveredAck),
    /// `thread.read`: the thread with its mark.
    Thread(Box<ThreadAck>),
    /// `health.check`.
    Health(Health),
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sent {
    pub message: MessageView,
    pub created: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadAck {
    pub thread: crate::messages::threads::ThreadView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveredAck {
    pub delivered: Vec<crate::messages::delivered::DeliveredMark>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledAck {
    pub scheduled_message: crate::messages::scheduled::model::ScheduledView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Watching {
    pub channel_id: ChannelId,
    pub watching: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingAck {
    pub channel_id: ChannelId,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_parse_by_action_and_refuse_clearly() {
        let (id, frame) = parse(r#"{"action":"typing.start","request_id":7,"channel_id":"c1"}"#);
        assert_eq!(id, 7);
        assert!(matches!(
            frame,
            Ok(ClientFrame::TypingStart(ChannelFrame { .. }))
        ));
        let (_, frame) = parse(r#"{"action":"health.check"}"#);
        assert!(matches!(frame, Ok(ClientFrame::HealthCheck {})));
        let refusal = |body: &str| parse(body).1.unwrap_err().to_string();
        assert!(refusal(r#"{"action":"nope"}"#).contains("unknown action `nope`"));
        assert!(refusal(r#"{"channel_id":"c1"}"#).contains("no `action`"));
        assert!(refusal("[1]").contains("JSON object"));
        assert!(
            refusal(r#"{"action":"typing.start","channel_id":"c1","x":1}"#)
                .contains("invalid frame")
        );
        let (_, frame) = parse(r#"{"action":"message.send","channel_id":"c1","text":"hi"}"#);
        assert!(matches!(frame, Ok(ClientFrame::MessageSend(_))));
    }
}
