//! A WebSocket test client: frames with request ids, acks, and events
//! gathered by type with timeouts.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{Tenant, TestApp};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    buffer: VecDeque<Value>,
    /// The rest of a batch frame's events, handed out one by one as the SDK
    /// does.
    unpacked: VecDeque<Value>,
    /// Each batch frame received: its events and its bytes.
    pub batches: Vec<(usize, usize)>,
    next_id: u64,
    pub closed: bool,
}

impl TestApp {
    pub fn ws_url(&self, key: &str, token: &str) -> String {
        format!("{}/?api_key={key}&token={token}", self.stack.ws_url)
    }

    /// Connects as a user of `t`; panics if refused.
    pub async fn ws(&self, t: &Tenant, token: &str) -> Ws {
        self.ws_at(&self.ws_url(t.key(), token)).await
    }

    /// Connects to this URL; panics if refused.
    pub async fn ws_at(&self, url: &str) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket connects");
        Ws {
            stream,
            buffer: VecDeque::new(),
            unpacked: VecDeque::new(),
            batches: Vec::new(),
            next_id: 0,
            closed: false,
        }
    }

    /// The HTTP status a refused connection gets.
    pub async fn ws_refused(&self, url: &str) -> u16 {
        match tokio_tungstenite::connect_async(url).await {
            Ok(_) => panic!("connection should be refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
}

/// What the server may send, from the AsyncAPI document it serves.
fn protocol() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema = chat_shared::realtime::asyncapi::server_message_schema();
        jsonschema::draft202012::new(&schema).expect("the AsyncAPI schemas compile")
    })
}

/// Every message the suite receives must be one the AsyncAPI document
/// describes: an event, a trimmed reference or an ack.
fn received(text: &str) -> Value {
    let message: Value = serde_json::from_str(text).expect("server sends JSON");
    let errors: Vec<String> = protocol()
        .iter_errors(&message)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "a socket message the AsyncAPI document does not describe: {message}\n{}",
        errors.join("\n")
    );
    message
}

impl Ws {
    /// Reads one JSON message (a batch frame's events one by one), or
    /// `None` after `wait` or on close.
    async fn read(&mut self, wait: Duration) -> Option<Value> {
        if let Some(event) = self.unpacked.pop_front() {
            return Some(event);
        }
        let (message, bytes) = self.read_frame(wait).await?;
        if message["type"] != "batch" {
            return Some(message);
        }
        let events = message["events"].as_array().cloned().unwrap_or_default();
        self.batches.push((events.len(), bytes));
        self.unpacked.extend(events);
        self.unpacked.pop_front()
    }

    /// One JSON message, and its size.
    async fn read_frame(&mut self, wait: Duration) -> Option<(Value, usize)> {
        loop {
            match tokio::time::timeout(wait, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(Ok(Message::Text(text)))) => return Some((received(&text), text.len())),
                Ok(Some(Ok(Message::Close(_)))) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    pub async fn send_text(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("frame sent");
    }

    /// Sends `text` as one message in frames of at most `frame` bytes (a
    /// client may split a message API Gateway would refuse as one frame).
    pub async fn send_in_frames(&mut self, text: &str, frame: usize) {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        let bytes = text.as_bytes();
        let parts: Vec<&[u8]> = bytes.chunks(frame).collect();
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            let last = i + 1 == parts.len();
            let frame = Frame::message(part.to_vec(), OpCode::Data(opcode), last);
            self.stream
                .send(Message::Frame(frame))
                .await
                .expect("frame sent");
        }
    }

    /// Sends an action frame and waits for its ack (other messages are kept).
    pub async fn request(&mut self, mut frame: Value) -> Value {
        self.next_id += 1;
        let request_id = format!("r{}", self.next_id);
        frame["request_id"] = json!(request_id);
        self.send_text(frame.to_string()).await;
        self.expect_where(|m| m["type"] == "ack" && m["request_id"] == request_id.as_str())
            .await
    }

    /// Waits for the first message matching `pred`.
    pub async fn expect_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(pos) = self.buffer.iter().position(&pred) {
            return self.buffer.remove(pos).expect("present");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(message) = self.read(left).await else {
                panic!(
                    "no matching message within {WAIT:?}; buffered: {:?}",
                    self.buffer
                );
            };
            if pred(&message) {
                return message;
            }
            self.buffer.push_back(message);
        }
    }

    /// Waits for an event of this type.
    pub async fn expect(&mut self, kind: &str) -> Value {
        self.expect_where(|m| m["type"] == kind).await
    }

    /// Everything that arrives within `wait` (and what was buffered).
    pub async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut out: Vec<Value> = self.buffer.drain(..).collect();
        while let Some(message) = self.read(wait).await {
            out.push(message);
        }
        out
    }

    /// Events (not acks) that arrive within `wait`.
    pub async fn events(&mut self, wait: Duration) -> Vec<Value> {
        self.drain(wait)
            .await
            .into_iter()
            .filter(|m| m["type"] != "ack")
            .collect()
    }

    /// Waits (up to `secs`) for an event matching `pred`, and when it came.
    pub async fn within(
        &mut self,
        secs: u64,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<(Value, std::time::Instant)> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            for event in self.events(Duration::from_millis(100)).await {
                if pred(&event) {
                    return Some((event, std::time::Instant::now()));
                }
            }
        }
        None
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }

    /// The code of the close frame the server sends next (`None`: closed
    /// without one, or not within `wait`). Other messages are kept.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    self.closed = true;
                    return frame.map(|f| u16::from(f.code));
                }
                Ok(Some(Ok(Message::Text(text)))) => {
                    self.buffer.push_back(received(&text));
                }
                Ok(Some(Ok(_))) => {}
                Err(_) | Ok(None) | Ok(Some(Err(_))) => {
                    self.closed = true;
                    return None;
                }
            }
        }
    }

    /// Waits until the server closes the connection.
    pub async fn wait_closed(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        while !self.closed {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(m) = self.read(left).await {
                self.buffer.push_back(m);
            }
        }
        true
    }
}

#[test]
fn the_protocol_check_refuses_what_is_not_documented() {
    let valid = json!({ "type": "typing.start", "id": "e1", "created_at": "2026-01-01T00:00:00Z",
        "channel_id": "c1", "user": { "id": "u1" }, "parent_id": null });
    assert!(protocol().is_valid(&valid));
    let without_id = json!({ "type": "typing.start", "created_at": "2026-01-01T00:00:00Z",
        "channel_id": "c1", "user": { "id": "u1" }, "parent_id": null });
    assert!(
        !protocol().is_valid(&without_id),
        "every event carries its id"
    );
    let unknown = json!({ "type": "message.exploded", "created_at": "2026-01-01T00:00:00Z" });
    assert!(!protocol().is_valid(&unknown));
    let incomplete = json!({ "type": "message.new", "created_at": "2026-01-01T00:00:00Z" });
    assert!(!protocol().is_valid(&incomplete));
    let ack = json!({ "type": "ack", "request_id": "r1", "ok": true,
        "result": { "channel_id": "c1", "watching": "yes" } });
    assert!(!protocol().is_valid(&ack));
}
