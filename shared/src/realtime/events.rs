//! Server → client events: `{"type", "created_at", "channel_id"?, ...}`.

use serde_json::{json, Map, Value};

use crate::ids::ChannelId;

/// An event ready to send.
#[derive(Clone, Debug)]
pub struct Event(pub Value);

impl Event {
    /// A channel event with its fields.
    pub fn channel(kind: &str, channel: &ChannelId, fields: Value) -> Self {
        let mut body = base(kind);
        body.insert("channel_id".into(), json!(channel));
        merge(&mut body, fields);
        Self(Value::Object(body))
    }

    /// An event not tied to one channel (presence, health).
    pub fn global(kind: &str, fields: Value) -> Self {
        let mut body = base(kind);
        merge(&mut body, fields);
        Self(Value::Object(body))
    }

    pub fn kind(&self) -> &str {
        self.0["type"].as_str().unwrap_or_default()
    }
}

fn base(kind: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("type".into(), json!(kind));
    body.insert("created_at".into(), json!(crate::time::now_rfc3339()));
    body
}

fn merge(body: &mut Map<String, Value>, fields: Value) {
    if let Value::Object(fields) = fields {
        body.extend(fields);
    }
}

/// API Gateway refuses messages over 128 KB: such an event is sent as a
/// reference (its type, channel and message id) for the client to fetch.
pub const MAX_PAYLOAD: usize = 128 * 1024;

pub fn payload(event: &Event) -> Vec<u8> {
    let bytes = serde_json::to_vec(&event.0).unwrap_or_default();
    if bytes.len() <= MAX_PAYLOAD {
        return bytes;
    }
    let reference = json!({
        "type": event.0["type"],
        "created_at": event.0["created_at"],
        "channel_id": event.0["channel_id"],
        "message_id": event.0["message"]["id"],
        "trimmed": true,
    });
    serde_json::to_vec(&reference).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_events_become_references() {
        let channel = ChannelId::parse("c1").unwrap();
        let big = Event::channel(
            "message.new",
            &channel,
            json!({ "message": { "id": "m1", "text": "x".repeat(200_000) } }),
        );
        let sent: Value = serde_json::from_slice(&payload(&big)).unwrap();
        assert_eq!(sent["trimmed"], true);
        assert_eq!(sent["message_id"], "m1");
        assert_eq!(sent["channel_id"], "c1");
        let small = Event::channel(
            "message.new",
            &channel,
            json!({ "message": { "id": "m2" } }),
        );
        let sent: Value = serde_json::from_slice(&payload(&small)).unwrap();
        assert_eq!(sent["message"]["id"], "m2");
        assert!(payload(&big).len() <= MAX_PAYLOAD);
    }
}
