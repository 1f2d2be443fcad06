//! What travels on a socket relay's link (crate::relay) to the gateway
//! (gateway/link.rs): binary frames of an operation byte, the relay's
//! number for the connection (8 bytes, big-endian), then the operation's
//! payload.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// What travels on a link, either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Relay → gateway: a client's handshake (its query and headers).
    Open(Handshake),
    /// Relay → gateway: a text frame from the client.
    Frame(String),
    /// Relay → gateway: the client is gone (closed, or its socket failed).
    Closed,
    /// Relay → gateway: the client sent a frame or message over the limits.
    TooBig,
    /// Gateway → relay: `$connect` accepted the connection.
    Accept,
    /// Gateway → relay: refused, with this status and JSON body.
    Refuse(u16, String),
    /// Gateway → relay: a text frame for the client.
    Send(String),
    /// Gateway → relay: close the client's socket with this code.
    Close(u16),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Handshake {
    pub query: HashMap<String, String>,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("a link frame of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("unknown link operation {0}")]
    Unknown(u8),
    #[error("a link frame's payload is malformed: {0}")]
    Payload(String),
}

const OPEN: u8 = 1;
const FRAME: u8 = 2;
const CLOSED: u8 = 3;
const TOO_BIG: u8 = 4;
const ACCEPT: u8 = 5;
const REFUSE: u8 = 6;
const SEND: u8 = 7;
const CLOSE: u8 = 8;

impl Op {
    /// The link frame for connection `n`.
    pub fn encode(&self, n: u64) -> Vec<u8> {
        let (code, payload): (u8, Vec<u8>) = match self {
            Op::Open(handshake) => (OPEN, serde_json::to_vec(handshake).unwrap_or_default()),
            Op::Frame(text) => (FRAME, text.as_bytes().to_vec()),
            Op::Closed => (CLOSED, Vec::new()),
            Op::TooBig => (TOO_BIG, Vec::new()),
            Op::Accept => (ACCEPT, Vec::new()),
            Op::Refuse(status, body) => {
                let mut payload = status.to_be_bytes().to_vec();
                payload.extend_from_slice(body.as_bytes());
                (REFUSE, payload)
            }
            Op::Send(text) => (SEND, text.as_bytes().to_vec()),
            Op::Close(code) => (CLOSE, code.to_be_bytes().to_vec()),
        };
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.push(code);
        frame.extend_from_slice(&n.to_be_bytes());
        frame.extend_from_slice(&payload);
        frame
    }

    /// A link frame: the connection's number and what to do.
    pub fn decode(frame: &[u8]) -> Result<(u64, Op), LinkError> {
        let (Some(&code), Some(n)) = (frame.first(), frame.get(1..9)) else {
            return Err(LinkError::Short(frame.len()));
        };
        let mut number = [0u8; 8];
        number.copy_from_slice(n);
        let n = u64::from_be_bytes(number);
        let payload = &frame[9..];
        let text = || String::from_utf8_lossy(payload).into_owned();
        let status = || match payload {
            [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(LinkError::Payload("no status".into())),
        };
        let op = match code {
            OPEN => Op::Open(
                serde_json::from_slice(payload).map_err(|e| LinkError::Payload(e.to_string()))?,
            ),
            FRAME => Op::Frame(text()),
            CLOSED => Op::Closed,
            TOO_BIG => Op::TooBig,
            ACCEPT => Op::Accept,
            REFUSE => Op::Refuse(
                status()?,
                String::from_utf8_lossy(&payload[2..]).into_owned(),
            ),
            SEND => Op::Send(text()),
            CLOSE => Op::Close(status()?),
            other => return Err(LinkError::Unknown(other)),
        };
        Ok((n, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_survives_the_link() {
        let handshake = Handshake {
            query: HashMap::from([("token".to_string(), "t".to_string())]),
            headers: vec![("user-agent".into(), "bench".into())],
        };
        for op in [
            Op::Open(handshake),
            Op::Frame("{\"type\":\"ping\"}".into()),
            Op::Closed,
            Op::TooBig,
            Op::Accept,
            Op::Refuse(401, "{\"error\":{}}".into()),
            Op::Send("é".into()),
            Op::Close(1009),
        ] {
            let frame = op.encode(u64::MAX - 3);
            assert_eq!(Op::decode(&frame).ok(), Some((u64::MAX - 3, op)));
        }
        assert!(matches!(Op::decode(&[2, 0, 0]), Err(LinkError::Short(3))));
        assert!(matches!(
            Op::decode(&[99, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(LinkError::Unknown(99))
        ));
        assert!(matches!(
            Op::decode(&[REFUSE, 0, 0, 0, 0, 0, 0, 0, 1, 4]),
            Err(LinkError::Payload(_))
        ));
    }
}
