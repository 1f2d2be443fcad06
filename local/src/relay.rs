//! Socket relays: the client side of the local WebSocket gateway, in
//! processes of their own. A process here may hold 20,000 files, so one
//! gateway cannot hold 20,000 sockets; a relay holds some of them and
//! passes every handshake, frame and close over one link (a WebSocket to the
//! gateway's management listener, `/_relay`), where the gateway treats each
//! as a connection of its own: `$connect`, quotas, idle and maximum time,
//! `$disconnect` and the management API are the gateway's, as for its own
//! sockets. Only benchmarks start relays (`chat-bench fanout` past 10,000
//! connections).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as LinkMessage;

use crate::gateway::wire::{Handshake, Op};
use crate::gateway::{Outbound, MAX_FRAME, READ_LIMIT, SOCKET_BUFFER};

struct Relay {
    link: mpsc::UnboundedSender<Vec<u8>>,
    next: AtomicU64,
    /// Handshakes waiting for the gateway's `$connect`.
    pending: Mutex<HashMap<u64, oneshot::Sender<Op>>>,
    /// Accepted connections (from before their upgrade completes, so
    /// nothing the gateway sends meanwhile is lost).
    sockets: Mutex<HashMap<u64, mpsc::UnboundedSender<Outbound>>>,
}

impl Relay {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Op>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sockets(&self) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::UnboundedSender<Outbound>>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tell(&self, n: u64, op: &Op) {
        let _ = self.link.send(op.encode(n));
    }
}

/// Runs a relay: links to the gateway at `link_url` (`ws://…/_relay` on
/// its management listener) and serves clients on `listener` until `stop`
/// or until the link ends.
pub async fn run(
    link_url: &str,
    listener: tokio::net::TcpListener,
    handshake_timeout: Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(2 * READ_LIMIT))
        .max_frame_size(Some(2 * READ_LIMIT));
    let (link, _) =
        tokio_tungstenite::connect_async_with_config(link_url, Some(config), true).await?;
    let (mut link_sink, mut link_stream) = link.split();
    let (out, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
    let relay = Arc::new(Relay {
        link: out,
        next: AtomicU64::new(0),
        pending: Mutex::new(HashMap::new()),
        sockets: Mutex::new(HashMap::new()),
    });
    tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if link_sink
                .send(LinkMessage::Binary(frame.into()))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let (stopped_tx, stopped_rx) = oneshot::channel::<()>();
    let router = Router::new()
        .route("/", get(upgrade))
        .with_state(relay.clone());
    crate::gateway::serve_clients(listener, router, handshake_timeout, async move {
        let _ = stopped_rx.await;
    });
    let reading = async {
        while let Some(Ok(message)) = link_stream.next().await {
            let LinkMessage::Binary(frame) = message else {
                continue;
            };
            let (n, op) = match Op::decode(&frame) {
                Ok(decoded) => decoded,
                Err(err) => {
                    tracing::warn!(error = %err, "bad link frame from the gateway");
                    continue;
                }
            };
            match op {
                Op::Accept | Op::Refuse(..) => {
                    if let Some(waiting) = relay.pending().remove(&n) {
                        let _ = waiting.send(op);
                    }
                }
                Op::Send(text) => {
                    if let Some(socket) = relay.sockets().get(&n) {
                        let _ = socket.send(Outbound::Text(text));
                    }
                }
                Op::Close(code) => {
                    if let Some(socket) = relay.sockets().remove(&n) {
                        let _ = socket.send(if code == 1009 {
                            Outbound::TooBig
                        } else {
                            Outbound::Close
                        });
                    }
                }
                other => tracing::warn!(?other, "a relay-side operation from the gateway"),
            }
        }
    };
    tokio::select! {
        () = reading => tracing::info!("the gateway closed the relay's link"),
        () = stop => {}
    }
    let _ = stopped_tx.send(());
    // Every client's socket ends with the relay.
    relay.sockets().clear();
    Ok(())
}

async fn upgrade(
    State(relay): State<Arc<Relay>>,
    ws: WebSocketUpgrade,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let n = relay.next.fetch_add(1, Ordering::Relaxed);
    let (answer_tx, answer) = oneshot::channel();
    relay.pending().insert(n, answer_tx);
    let (to_client, from_gateway) = mpsc::unbounded_channel();
    relay.sockets().insert(n, to_client);
    let headers = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_string())))
        .collect();
    relay.tell(n, &Op::Open(Handshake { query, headers }));
    match answer.await {
        Ok(Op::Accept) => ws
            .max_message_size(READ_LIMIT)
            .max_frame_size(MAX_FRAME)
            .read_buffer_size(SOCKET_BUFFER)
            .write_buffer_size(SOCKET_BUFFER)
            .on_upgrade(move |socket| pump(relay, n, socket, from_gateway)),
        Ok(Op::Refuse(status, body)) => {
            relay.sockets().remove(&n);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        _ => {
            relay.sockets().remove(&n);
            relay.pending().remove(&n);
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}

/// One client's socket: its frames to the gateway, the gateway's to it.
async fn pump(
    relay: Arc<Relay>,
    n: u64,
    socket: WebSocket,
    from_gateway: mpsc::UnboundedReceiver<Outbound>,
) {
    let (sink, mut stream) = socket.split();
    let writer = tokio::spawn(crate::gateway::write_frames(sink, from_gateway));
    let ending = loop {
        match stream.next().await {
            Some(Ok(WsMessage::Text(text))) => relay.tell(n, &Op::Frame(text.to_string())),
            Some(Ok(WsMessage::Binary(bytes))) => {
                relay.tell(n, &Op::Frame(String::from_utf8_lossy(&bytes).into_owned()));
            }
            Some(Ok(WsMessage::Close(_))) | None => break Op::Closed,
            Some(Ok(_)) => {}
            Some(Err(err)) => {
                break if crate::gateway::too_big(err) {
                    Op::TooBig
                } else {
                    Op::Closed
                };
            }
        }
    };
    relay.tell(n, &ending);
    // The gateway's close frame (1009 for a message too big) goes out
    // before the socket is dropped.
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    relay.sockets().remove(&n);
}
