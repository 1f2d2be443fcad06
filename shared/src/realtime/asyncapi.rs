//! The AsyncAPI 3 document of the WebSocket protocol, made from the types
//! that are sent and received ([`EventBody`], [`ClientFrame`], [`Ack`],
//! [`Trimmed`]), so it cannot drift from them. `docs/asyncapi.json` is this
//! document (a test keeps it current) and the users function serves it at
//! `/api/v1/asyncapi.json`.

use serde_json::{json, Map, Value};
use utoipa::openapi::{schema::Schema, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::events::{EventBody, Trimmed};
use super::frames::{Ack, ClientFrame};

type Schemas = Vec<(String, RefOr<Schema>)>;

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The named schemas these types refer to.
fn components() -> Map<String, Value> {
    let mut schemas: Schemas = Vec::new();
    EventBody::schemas(&mut schemas);
    ClientFrame::schemas(&mut schemas);
    Ack::schemas(&mut schemas);
    Trimmed::schemas(&mut schemas);
    schemas.push((Ack::name().into_owned(), Ack::schema()));
    schemas.push((Trimmed::name().into_owned(), Trimmed::schema()));
    schemas
        .into_iter()
        .map(|(name, schema)| (name, to_json(&schema)))
        .collect()
}

/// One object schema for an `allOf` of objects (a tagged newtype variant is
/// its struct's schema plus the tag): properties and required fields joined.
fn flatten(schema: &Value, components: &Map<String, Value>) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return flatten(components.get(name).unwrap_or(&Value::Null), components);
    }
    let Some(parts) = schema["allOf"].as_array() else {
        return schema.clone();
    };
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut closed = false;
    for part in parts.iter().map(|p| flatten(p, components)) {
        if let Some(p) = part["properties"].as_object() {
            properties.extend(p.clone());
        }
        if let Some(r) = part["required"].as_array() {
            required.extend(r.iter().cloned());
        }
        closed |= part["additionalProperties"] == false;
    }
    let mut out = json!({ "type": "object", "properties": properties, "required": required });
    if closed {
        out["additionalProperties"] = json!(false);
    }
    if let Some(description) = schema.get("description") {
        out["description"] = description.clone();
    }
    out
}

/// Each `oneOf` branch of a tagged enum's schema, by its tag's value.
fn variants(schema: &Value, tag: &str, components: &Map<String, Value>) -> Vec<(String, Value)> {
    schema["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|branch| flatten(branch, components))
        .filter_map(|branch| {
            let name = branch["properties"][tag]["enum"][0].as_str()?.to_string();
            Some((name, branch))
        })
        .collect()
}

fn message(name: &str, summary: &str, schema: &str) -> Value {
    json!({
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": { "$ref": format!("#/components/schemas/{schema}") },
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut schemas = components();
    let mut messages = Map::new();
    let mut events = Vec::new();
    let mut frames = Vec::new();

    // Server events: each branch gains the envelope every event carries.
    for (name, mut schema) in variants(&to_json(&EventBody::schema()), "type", &schemas) {
        let summary = schema["description"]
            .as_str()
            .unwrap_or("A server event.")
            .to_string();
        schema["properties"]["id"] = json!({ "type": "string", "description": "Unique per event: drop one already seen (a retried fan-out may repeat it)." });
        schema["properties"]["created_at"] = json!({ "type": "string", "format": "date-time" });
        schema["properties"]["channel_id"] = json!({ "type": ["string", "null"], "description": "The channel it happened in (absent for presence)." });
        if let Some(required) = schema["required"].as_array_mut() {
            required.push(json!("id"));
            required.push(json!("created_at"));
        }
        let key = format!("event.{name}");
        schemas.insert(key.clone(), schema);
        messages.insert(name.clone(), message(&name, &summary, &key));
        events.push(json!({ "$ref": format!("#/components/messages/{name}") }));
    }
    messages.insert(
        "trimmed".into(),
        message(
            "trimmed",
            "Sent instead of an event over 128 KB: fetch the message by id.",
            "Trimmed",
        ),
    );
    events.push(json!({ "$ref": "#/components/messages/trimmed" }));
    // Events coalesced for one connection: each item is one of the above.
    let items: Vec<Value> = messages
        .values()
        .filter_map(|m| m["payload"]["$ref"].as_str())
        .map(|r| json!({ "$ref": r }))
        .collect();
    schemas.insert(
        "Batch".into(),
        json!({
            "type": "object",
            "description": "Events for this connection produced close together in a big channel, in order, in one frame (at most 32 KB): handle each as if it came alone.",
            "required": ["type", "events"],
            "additionalProperties": false,
            "properties": {
                "type": { "type": "string", "enum": ["batch"] },
                "events": { "type": "array", "minItems": 2, "items": { "anyOf": items } },
            },
        }),
    );
    messages.insert(
        "batch".into(),
        message(
            "batch",
            "Several events in one frame (a big channel's fan-out coalesces them).",
            "Batch",
        ),
    );
    events.push(json!({ "$ref": "#/components/messages/batch" }));
    messages.insert(
        "ack".into(),
        message("ack", "The answer to every client frame.", "Ack"),
    );

    // Client frames: each may carry a `request_id`, echoed in its ack.
    for (name, mut schema) in variants(&to_json(&ClientFrame::schema()), "action", &schemas) {
        let summary = schema["description"]
            .as_str()
            .unwrap_or("A client frame.")
            .to_string();
        schema["properties"]["request_id"] =
            json!({ "description": "Any JSON value; the ack carries it back." });
        let key = format!("frame.{name}");
        schemas.insert(key.clone(), schema);
        let frame_name = format!("frame.{name}");
        messages.insert(frame_name.clone(), message(&name, &summary, &key));
        frames.push(json!({ "$ref": format!("#/components/messages/{frame_name}") }));
    }

    let mut channel_messages = Map::new();
    for reference in events.iter().chain(frames.iter()) {
        if let Some(name) = reference["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/messages/"))
        {
            channel_messages.insert(name.to_string(), reference.clone());
        }
    }
    channel_messages.insert("ack".into(), json!({ "$ref": "#/components/messages/ack" }));
    let socket = "#/channels/socket";
    let as_channel_refs = |refs: &[Value]| -> Vec<Value> {
        refs.iter()
            .filter_map(|r| r["$ref"].as_str())
            .map(|r| json!({ "$ref": r.replace("#/components/messages/", "#/channels/socket/messages/") }))
            .collect()
    };
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Chat backend WebSocket API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Connect with `?api_key=...&token=...` (a user token). Every frame is a JSON object with an `action` and an optional `request_id`, answered by an `ack`. Events arrive as JSON objects with a `type`. A socket receives an event only if its user may read it then.",
        },
        "servers": {
            "local": {
                "host": "localhost:3001",
                "protocol": "ws",
                "description": "The local stack (`cargo run --release -p chat-local`).",
            },
            "aws": {
                "host": "{api_id}.execute-api.{region}.amazonaws.com",
                "pathname": "/{stage}",
                "protocol": "wss",
                "description": "The deployed API Gateway WebSocket API (the stack's WebSocketUrl output).",
                "variables": {
                    "api_id": { "description": "The WebSocket API's id." },
                    "region": { "default": "us-east-1" },
                    "stage": { "default": "prod" },
                },
            },
        },
        "channels": {
            "socket": {
                "address": "/",
                "title": "A user's connection",
                "messages": channel_messages,
                "bindings": {
                    "ws": {
                        "query": {
                            "type": "object",
                            "required": ["api_key", "token"],
                            "properties": {
                                "api_key": { "type": "string" },
                                "token": { "type": "string", "description": "The user's JWT (HS256)." },
                            },
                        },
                    },
                },
            },
        },
        "operations": {
            "receiveEvents": {
                "action": "receive",
                "channel": { "$ref": socket },
                "summary": "Events of the channels the user may read, presence of their peers, and notifications. Typing, read and delivery events reach members only, and none in a big channel (the app's big_channel_size), where presence is not told either.",
                "messages": as_channel_refs(&events),
            },
            "sendFrames": {
                "action": "send",
                "channel": { "$ref": socket },
                "summary": "Actions; each is answered by an ack with the same request_id.",
                "messages": as_channel_refs(&frames),
                "reply": {
                    "channel": { "$ref": socket },
                    "messages": [{ "$ref": "#/channels/socket/messages/ack" }],
                },
            },
        },
        "components": {
            "schemas": schemas,
            "messages": messages,
        },
    })
}

/// The schema of every message the server may send (events, trimmed
/// references, acks), with the document's components, for a validator.
pub fn server_message_schema() -> Value {
    let document = document();
    let mut branches = Vec::new();
    let messages = document["components"]["messages"].as_object();
    for (name, message) in messages.into_iter().flatten() {
        if name.starts_with("frame.") {
            continue;
        }
        branches.push(message["payload"].clone());
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "anyOf": branches,
        "components": document["components"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in the document names something in it.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_event_and_frame_is_documented_and_every_ref_resolves() {
        let doc = document();
        let messages = doc["components"]["messages"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in [
            "message.new",
            "reaction.deleted",
            "user.presence.changed",
            "channel.deleted",
            "ack",
            "trimmed",
        ] {
            assert!(messages.contains_key(name), "{name} is documented");
        }
        for action in super::super::frames::ACTIONS {
            assert!(
                messages.contains_key(&format!("frame.{action}")),
                "{action} is documented"
            );
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50);
        for r in found {
            let resolved = doc.pointer(r.trim_start_matches('#')).is_some();
            assert!(resolved, "{r} resolves");
        }
    }
}
