//! The gateway's end of a socket relay's link (crate::relay): each
//! connection the relay holds becomes one of the gateway's, served by the
//! same `$connect`, `run` and management API as its own sockets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use futures::channel::mpsc as frames;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::error::CapacityError;

use super::wire::{Handshake, Op};
use super::{Gateway, Outbound, READ_LIMIT};

type Incoming = frames::UnboundedSender<Result<WsMessage, axum::Error>>;

/// `GET /_relay` on the management listener: a relay links up.
pub(super) async fn accept(State(gateway): State<Gateway>, ws: WebSocketUpgrade) -> Response {
    // One link carries many connections' frames at once.
    ws.max_message_size(4 * READ_LIMIT)
        .max_frame_size(4 * READ_LIMIT)
        .on_upgrade(move |socket| serve(gateway, socket))
}

async fn serve(gateway: Gateway, link: WebSocket) {
    let (mut sink, mut stream) = link.split();
    let (out, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if sink.send(WsMessage::Binary(frame.into())).await.is_err() {
                break;
            }
        }
    });
    // The relay's connections, by its number: where their frames go.
    let open: Arc<Mutex<HashMap<u64, Incoming>>> = Arc::default();
    while let Some(Ok(message)) = stream.next().await {
        let WsMessage::Binary(frame) = message else {
            continue;
        };
        let (n, op) = match Op::decode(&frame) {
            Ok(decoded) => decoded,
            Err(err) => {
                tracing::warn!(error = %err, "bad link frame from a relay");
                continue;
            }
        };
        match op {
            Op::Open(handshake) => {
                tokio::spawn(open_connection(
                    gateway.clone(),
                    n,
                    handshake,
                    open.clone(),
                    out.clone(),
                ));
            }
            Op::Frame(text) => {
                let incoming = open
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&n)
                    .cloned();
                if let Some(incoming) = incoming {
                    let _ = incoming.unbounded_send(Ok(WsMessage::Text(text.into())));
                }
            }
            Op::TooBig => {
                let incoming = open.lock().unwrap_or_else(|e| e.into_inner()).remove(&n);
                if let Some(incoming) = incoming {
                    let err = tokio_tungstenite::tungstenite::Error::Capacity(
                        CapacityError::MessageTooLong {
                            size: READ_LIMIT + 1,
                            max_size: READ_LIMIT,
                        },
                    );
                    let _ = incoming.unbounded_send(Err(axum::Error::new(err)));
                }
            }
            // Dropping the sender ends the connection's stream: `$disconnect`.
            Op::Closed => {
                open.lock().unwrap_or_else(|e| e.into_inner()).remove(&n);
            }
            other => tracing::warn!(?other, "a gateway-side operation from a relay"),
        }
    }
    // The relay is gone: so are all its connections.
    open.lock().unwrap_or_else(|e| e.into_inner()).clear();
    drop(out);
    let _ = writer.await;
}

/// `$connect` for one of the relay's connections; accepted, it runs as the
/// gateway's own until the relay reports it closed.
async fn open_connection(
    gateway: Gateway,
    n: u64,
    handshake: Handshake,
    open: Arc<Mutex<HashMap<u64, Incoming>>>,
    out: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut headers = HeaderMap::new();
    for (name, value) in &handshake.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    let mut admitted = match gateway.admit(&handshake.query, &headers).await {
        Ok(admitted) => admitted,
        Err((status, body)) => {
            let _ = out.send(Op::Refuse(status.as_u16(), body.to_string()).encode(n));
            return;
        }
    };
    let (incoming, stream) = frames::unbounded();
    open.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(n, incoming);
    let _ = out.send(Op::Accept.encode(n));
    let to_relay = out.clone();
    let writer = tokio::spawn(async move {
        while let Some(outbound) = admitted.rx.recv().await {
            let op = match outbound {
                Outbound::Text(text) => Op::Send(text),
                Outbound::Close | Outbound::TooBig => Op::Close(outbound.close_code()),
            };
            let closing = matches!(op, Op::Close(_));
            if to_relay.send(op.encode(n)).is_err() || closing {
                break;
            }
        }
    });
    gateway.run(admitted.running, stream, writer).await;
    open.lock().unwrap_or_else(|e| e.into_inner()).remove(&n);
}
