//! The local API Gateway WebSocket emulator: accepts WebSocket clients, gives
//! each a connection id, asks the `$connect` route's authorizer, turns
//! connects, frames and disconnects into API-Gateway-shaped events (each
//! carrying the authorizer's context, as on AWS) for the same realtime
//! handler the Lambda runs,
//! and serves the `@connections` management API (`POST`/`GET`/`DELETE
//! /@connections/{id}`) that the notifier calls (its SigV4-signed posts, and
//! the SDK client for the rest); a post without a SigV4 signature for
//! `execute-api` is refused with 403, as on AWS. As on AWS, where that API
//! needs IAM credentials, it is not on the clients' port: it has a listener
//! of its own that only the local functions are pointed at.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::encodings::Body;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_shared::socket as handler;
use chat_shared::AppState;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, Notify};

mod link;
pub mod wire;

/// A quota as API Gateway states one: a steady rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_second: u32,
    pub burst: u32,
}

impl Quota {
    fn limiter(self) -> governor::DefaultDirectRateLimiter {
        let per_second =
            std::num::NonZeroU32::new(self.per_second).unwrap_or(std::num::NonZeroU32::MIN);
        let burst = std::num::NonZeroU32::new(self.burst).unwrap_or(per_second);
        governor::RateLimiter::direct(governor::Quota::per_second(per_second).allow_burst(burst))
    }
}

#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// API Gateway closes a connection idle this long (10 minutes).
    pub idle_timeout: Duration,
    /// ...and any connection this long after it opened (2 hours).
    pub max_connection_time: Duration,
    /// The account's API Gateway request quota, which every management-API
    /// call counts against (AWS's default: 10,000 a second, a burst of
    /// 5,000): over it, a call is answered 429 `LimitExceededException`.
    pub management_quota: Quota,
    /// New connections a second (AWS's default: 500): over it, the
    /// handshake is answered 429.
    pub connect_quota: Quota,
    /// A client must finish the WebSocket handshake within this long after
    /// connecting, or the connection is closed (a half-open or slow client
    /// holds nothing, as on API Gateway).
    pub handshake_timeout: Duration,
    /// Added to every management-API post, to model network latency (benches).
    pub post_delay: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(600),
            max_connection_time: Duration::from_secs(2 * 60 * 60),
            management_quota: Quota {
                per_second: 10_000,
                burst: 5_000,
            },
            connect_quota: Quota {
                per_second: 500,
                burst: 500,
            },
            handshake_timeout: Duration::from_secs(10),
            post_delay: Duration::ZERO,
        }
    }
}

/// Largest message a client may send (API Gateway: 128 KB, in frames of at
/// most [`MAX_FRAME`]; the handler answers a message over 32 KB with an
/// error). A bigger message, or a bigger frame, closes the connection with
/// 1009, as API Gateway does; a bigger post is refused with 413
/// `PayloadTooLargeException`.
pub(crate) const MAX_MESSAGE: usize = 128 * 1024;
/// API Gateway's WebSocket frame size.
pub(crate) const MAX_FRAME: usize = 32 * 1024;
/// What the socket reads at most before giving up on a peer without a close
/// frame: past [`MAX_MESSAGE`] and up to this, the client is told why.
pub(crate) const READ_LIMIT: usize = 4 * MAX_MESSAGE;
/// Read and write buffer of each socket (messages larger than this still
/// pass, in several reads or writes).
pub(crate) const SOCKET_BUFFER: usize = 8 * 1024;

const RUNNING: u8 = 0;
/// Closed through the management API: `$disconnect` still runs.
const CLOSED: u8 = 1;
/// Dropped without `$disconnect` (a test hook for lost disconnects).
const KILLED: u8 = 2;

/// What a connection's socket is given to write.
pub(crate) enum Outbound {
    Text(String),
    /// Going away (1001): idle, or closed through the management API.
    Close,
    /// Message too big (1009).
    TooBig,
}

struct Conn {
    tx: mpsc::UnboundedSender<Outbound>,
    connected_at: i64,
    last_active: Arc<AtomicI64>,
    stop: Arc<(AtomicU8, Notify)>,
    user_agent: String,
}

struct Inner {
    state: AppState,
    /// In the faithful mode, the realtime function's own process (and the
    /// authorizer's, when the template declares one); otherwise their
    /// handlers run in this process.
    realtime: Mutex<Option<Functions>>,
    options: GatewayOptions,
    conns: Mutex<HashMap<String, Conn>>,
    domain: String,
    /// Connections whose posts are answered with this status (fault tests),
    /// for so many more posts (`None`: until the end).
    failing: Mutex<HashMap<String, (u16, Option<u32>)>>,
    posts: AtomicU64,
    /// `$default` route responses sent back on their sockets.
    replies: AtomicU64,
    /// Posts per connection, failed ones included.
    posts_to: Mutex<HashMap<String, u64>>,
    /// The management API's share of the account's request quota.
    management: governor::DefaultDirectRateLimiter,
    connects: governor::DefaultDirectRateLimiter,
    /// Management calls answered 429.
    throttled: AtomicU64,
}

/// The functions the WebSocket API invokes in the faithful mode.
#[derive(Clone)]
struct Functions {
    routes: Arc<crate::lambdas::Function>,
    authorizer: Option<Arc<crate::lambdas::Function>>,
    /// The `$default` route's answer goes back on the socket.
    two_way: bool,
}

#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Gateway {
    pub fn new(state: AppState, options: GatewayOptions, domain: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                state,
                realtime: Mutex::new(None),
                options: options.clone(),
                conns: Mutex::new(HashMap::new()),
                domain,
                failing: Mutex::new(HashMap::new()),
                posts: AtomicU64::new(0),
                replies: AtomicU64::new(0),
                posts_to: Mutex::new(HashMap::new()),
                management: options.management_quota.limiter(),
                connects: options.connect_quota.limiter(),
                throttled: AtomicU64::new(0),
            }),
        }
    }

    /// What clients connect to.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(upgrade))
            .with_state(self.clone())
    }

    /// The management API, for the functions only (its own listener).
    pub fn management_router(&self) -> Router {
        Router::new()
            .route(
                "/@connections/{id}",
                post(post_to_connection)
                    .get(get_connection)
                    .delete(delete_connection),
            )
            // Socket relays in other processes (crate::relay).
            .route("/_relay", get(link::accept))
            .with_state(self.clone())
    }

    /// Hands every WebSocket event to `routes`' processes (as API Gateway
    /// invokes the realtime Lambda), and a connect's authorization to
    /// `authorizer`'s (none: connects are not authorized first), instead of
    /// the in-process handlers. `two_way`: the `$default` route has a route
    /// response, so the function's answer to a frame goes back on the socket
    /// (otherwise it is dropped, as API Gateway drops it).
    pub fn invoke_through(
        &self,
        routes: Arc<crate::lambdas::Function>,
        authorizer: Option<Arc<crate::lambdas::Function>>,
        two_way: bool,
    ) {
        *self
            .inner
            .realtime
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Functions {
            routes,
            authorizer,
            two_way,
        });
    }

    /// Whether a frame's answer goes back on its socket: as the template
    /// says in the faithful mode; always with the in-process handlers (the
    /// template's route is two-way).
    fn two_way(&self) -> bool {
        self.functions().is_none_or(|f| f.two_way)
    }

    fn functions(&self) -> Option<Functions> {
        self.inner
            .realtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Open connection ids.
    pub fn connection_ids(&self) -> Vec<String> {
        self.conns().keys().cloned().collect()
    }

    /// Drops a connection without `$disconnect`, as when API Gateway loses
    /// track of a client: its items stay until a post hits 410.
    pub fn kill(&self, id: &str) -> bool {
        let Some(conn) = self.conns().remove(id) else {
            return false;
        };
        conn.stop.0.store(KILLED, Ordering::SeqCst);
        conn.stop.1.notify_one();
        let _ = conn.tx.send(Outbound::Close);
        true
    }

    /// A management call over the quota: its 429 answer.
    fn throttle(&self) -> Option<Response> {
        if self.inner.management.check().is_ok() {
            return None;
        }
        self.inner.throttled.fetch_add(1, Ordering::SeqCst);
        let body = json!({ "message": "Too Many Requests" });
        Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("x-amzn-errortype", "LimitExceededException")],
                Json(body),
            )
                .into_response(),
        )
    }

    /// Management calls answered 429 so far.
    pub fn throttled_calls(&self) -> u64 {
        self.inner.throttled.load(Ordering::SeqCst)
    }

    /// From now on, posts to `id` are answered with `status` (410 as
    /// `GoneException`, anything else as an internal error) while the client
    /// stays connected: a management API failing for some connections.
    pub fn fail_posts(&self, id: &str, status: u16) {
        self.inner
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), (status, None));
    }

    /// The next `times` posts to `id` are answered with `status`; later ones
    /// are delivered (a management API that recovers).
    pub fn fail_posts_times(&self, id: &str, status: u16, times: u32) {
        self.inner
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), (status, Some(times)));
    }

    /// Management-API posts received so far, failed ones included.
    pub fn posts(&self) -> u64 {
        self.inner.posts.load(Ordering::SeqCst)
    }

    /// `$default` route responses sent back on their sockets (API Gateway
    /// bills each as a message, as it does a post).
    pub fn replies(&self) -> u64 {
        self.inner.replies.load(Ordering::SeqCst)
    }

    /// A two-way route's response: the function's answer to a frame, back
    /// on the frame's socket. An empty answer sends nothing.
    fn reply(&self, id: &str, answer: Option<String>) {
        let Some(text) = answer.filter(|text| !text.is_empty()) else {
            return;
        };
        if !self.two_way() {
            return;
        }
        if let Some(conn) = self.conns().get(id) {
            self.inner.replies.fetch_add(1, Ordering::SeqCst);
            let _ = conn.tx.send(Outbound::Text(text));
        }
    }

    /// Posts received for one connection, failed ones included.
    pub fn posts_to(&self, id: &str) -> u64 {
        self.inner
            .posts_to
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<String, Conn>> {
        self.inner.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event API Gateway would give the integration, read with the same
    /// type the Lambda runtime uses.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        id: &str,
        route: &str,
        kind: &str,
        body: Option<String>,
        query: Option<&HashMap<String, String>>,
        headers: Option<&HeaderMap>,
        grant: Option<&Map<String, Value>>,
    ) -> Option<ApiGatewayWebsocketProxyRequest> {
        let mut event = self.event_json(id, route, kind, query, headers);
        if let Some(grant) = grant {
            event["requestContext"]["authorizer"] = Value::Object(grant.clone());
        }
        if let Some(body) = body {
            event["body"] = json!(body);
        }
        match serde_json::from_value(event) {
            Ok(event) => Some(event),
            Err(err) => {
                tracing::error!(error = %err, "could not build a WebSocket event");
                None
            }
        }
    }

    /// An event's JSON before its body and authorizer context.
    fn event_json(
        &self,
        id: &str,
        route: &str,
        kind: &str,
        query: Option<&HashMap<String, String>>,
        headers: Option<&HeaderMap>,
    ) -> Value {
        let now = chat_shared::time::now_millis();
        let connected_at = self.conns().get(id).map_or(now, |c| c.connected_at);
        let header_map: serde_json::Map<String, Value> = headers
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), json!(v))))
                    .collect()
            })
            .unwrap_or_default();
        let multi: serde_json::Map<String, Value> = header_map
            .iter()
            .map(|(k, v)| (k.clone(), json!([v])))
            .collect();
        let mut event = json!({
            "requestContext": {
                "routeKey": route,
                "eventType": kind,
                "messageDirection": "IN",
                "stage": "local",
                "apiId": "local",
                "domainName": self.inner.domain,
                "connectionId": id,
                "connectedAt": connected_at,
                "requestTimeEpoch": now,
                "requestId": uuid::Uuid::new_v4().to_string(),
                "extendedRequestId": uuid::Uuid::new_v4().to_string(),
                "identity": { "sourceIp": "127.0.0.1" },
            },
            "isBase64Encoded": false,
        });
        if !header_map.is_empty() {
            event["headers"] = Value::Object(header_map);
            event["multiValueHeaders"] = Value::Object(multi);
        }
        if let Some(query) = query {
            event["queryStringParameters"] = json!(query);
            let multi: HashMap<&String, Vec<&String>> =
                query.iter().map(|(k, v)| (k, vec![v])).collect();
            event["multiValueQueryStringParameters"] = json!(multi);
        }
        event
    }

    /// The `$connect` route's authorizer: the context it grants the
    /// connection (`None` when no authorizer is declared), or the refusal the
    /// client gets, as API Gateway gives them (401 when the authorizer fails
    /// with `Unauthorized`, 403 for a policy that denies, 500 otherwise).
    async fn authorize(
        &self,
        id: &str,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
    ) -> Result<Option<Map<String, Value>>, (StatusCode, Value)> {
        let mut event = self.event_json(id, "$connect", "CONNECT", Some(query), Some(headers));
        event["type"] = json!("REQUEST");
        event["methodArn"] = json!("arn:aws:execute-api:local:000000000000:local/local/$connect");
        event["stageVariables"] = json!({});
        let answer = match self.functions() {
            Some(Functions {
                authorizer: Some(function),
                ..
            }) => function.invoke(event).await,
            Some(_) => return Ok(None),
            None => match serde_json::from_value(event) {
                Ok(request) => match handler::authorize(&self.inner.state, &request).await {
                    Ok(response) => serde_json::to_value(response).map_err(|e| e.to_string()),
                    Err(refusal) => Err(json!({ "errorMessage": refusal.to_string() }).to_string()),
                },
                Err(err) => Err(err.to_string()),
            },
        };
        let refused = |status: StatusCode, message: &str| (status, json!({ "message": message }));
        match answer {
            Ok(policy) => {
                let allowed = policy["policyDocument"]["Statement"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s["Effect"] == "Allow"));
                if !allowed {
                    return Err(refused(StatusCode::FORBIDDEN, "Forbidden"));
                }
                let mut grant = policy["context"].as_object().cloned().unwrap_or_default();
                grant.insert("principalId".into(), policy["principalId"].clone());
                Ok(Some(grant))
            }
            Err(failure) => {
                let message = serde_json::from_str::<Value>(&failure)
                    .ok()
                    .and_then(|f| f["errorMessage"].as_str().map(str::to_string));
                if message.as_deref() == Some("Unauthorized") {
                    Err(refused(StatusCode::UNAUTHORIZED, "Unauthorized"))
                } else {
                    tracing::warn!(error = %failure, "the authorizer failed");
                    Err(refused(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal server error",
                    ))
                }
            }
        }
    }

    async fn invoke(&self, event: ApiGatewayWebsocketProxyRequest) -> (u16, Option<String>) {
        if let Some(Functions {
            routes: function, ..
        }) = self.functions()
        {
            let answer = match serde_json::to_value(&event) {
                Ok(event) => function.invoke(event).await,
                Err(err) => Err(err.to_string()),
            };
            return match answer {
                Ok(answer) => (
                    answer["statusCode"]
                        .as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(502),
                    answer["body"].as_str().map(str::to_string),
                ),
                Err(err) => {
                    tracing::warn!(error = %err, "the realtime function failed");
                    (502, None)
                }
            };
        }
        let response = handler::handle(&self.inner.state, event).await;
        let body = match response.body {
            Some(Body::Text(text)) => Some(text),
            Some(Body::Binary(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            _ => None,
        };
        (u16::try_from(response.status_code).unwrap_or(500), body)
    }

    /// A socket of this process: its writes from the connection's queue,
    /// its reads through [`Self::run`].
    async fn run_socket(self, admitted: Admitted, socket: WebSocket) {
        let (sink, stream) = socket.split();
        let writer = tokio::spawn(write_frames(sink, admitted.rx));
        self.run(admitted.running, stream, writer).await;
    }

    /// A connection's life after `$connect`: its frames to `$default`, its
    /// idle and maximum time, then `$disconnect`; `writer` drains its queue.
    async fn run(
        self,
        running: Running,
        mut stream: impl futures::Stream<Item = Result<WsMessage, axum::Error>> + Unpin,
        writer: tokio::task::JoinHandle<()>,
    ) {
        let Running {
            id,
            stop,
            last_active,
            grant,
        } = running;
        let grant = grant.as_ref();
        let idle = self.inner.options.idle_timeout;
        let closes_at = tokio::time::Instant::now() + self.inner.options.max_connection_time;
        loop {
            let next = tokio::select! {
                // `None`: idle too long.
                next = tokio::time::timeout(idle, stream.next()) => next.ok(),
                _ = stop.1.notified() => break,
                // Open too long: API Gateway closes it whatever it does.
                _ = tokio::time::sleep_until(closes_at) => None,
            };
            let frame = match next {
                None => {
                    // Idle (or open) too long: API Gateway closes the connection.
                    if let Some(conn) = self.conns().get(&id) {
                        let _ = conn.tx.send(Outbound::Close);
                    }
                    break;
                }
                Some(Some(Err(err))) => {
                    if too_big(err) {
                        if let Some(conn) = self.conns().get(&id) {
                            let _ = conn.tx.send(Outbound::TooBig);
                        }
                    }
                    break;
                }
                Some(None) | Some(Some(Ok(WsMessage::Close(_)))) => break,
                Some(Some(Ok(WsMessage::Text(text)))) => text.to_string(),
                Some(Some(Ok(WsMessage::Binary(bytes)))) => {
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                Some(Some(Ok(_))) => continue,
            };
            if frame.len() > MAX_MESSAGE {
                if let Some(conn) = self.conns().get(&id) {
                    let _ = conn.tx.send(Outbound::TooBig);
                }
                break;
            }
            last_active.store(chat_shared::time::now_millis(), Ordering::Relaxed);
            if let Some(event) =
                self.event(&id, "$default", "MESSAGE", Some(frame), None, None, grant)
            {
                let (_, answer) = self.invoke(event).await;
                self.reply(&id, answer);
            }
            if stop.0.load(Ordering::SeqCst) != RUNNING {
                break;
            }
        }
        let killed = stop.0.load(Ordering::SeqCst) == KILLED;
        if !killed {
            // Gone before $disconnect runs, as in API Gateway: posts now get 410.
            self.conns().remove(&id);
            if let Some(event) =
                self.event(&id, "$disconnect", "DISCONNECT", None, None, None, grant)
            {
                self.invoke(event).await;
            }
        }
        // Let queued posts (a close frame) flush, then stop writing.
        let _ = tokio::time::timeout(Duration::from_millis(200), writer).await;
    }
}

/// Whether a read failed on a frame or message over the limits.
pub(crate) fn too_big(err: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        err.into_inner().downcast::<Error>().map(|e| *e),
        Ok(Error::Capacity(_))
    )
}

/// A connection `$connect` accepted, before its socket is served.
struct Admitted {
    rx: mpsc::UnboundedReceiver<Outbound>,
    running: Running,
}

/// What [`Gateway::run`] keeps of a connection.
struct Running {
    id: String,
    stop: Arc<(AtomicU8, Notify)>,
    last_active: Arc<AtomicI64>,
    /// The authorizer's context, in every event of the connection.
    grant: Option<Map<String, Value>>,
}

/// Writes a connection's queue to its socket until a close.
pub(crate) async fn write_frames(
    mut sink: impl futures::Sink<WsMessage> + Unpin,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
) {
    while let Some(out) = rx.recv().await {
        match out {
            Outbound::Text(text) => {
                if sink.send(WsMessage::Text(text.into())).await.is_err() {
                    break;
                }
            }
            Outbound::Close | Outbound::TooBig => {
                let frame = CloseFrame {
                    code: out.close_code(),
                    reason: out.close_reason().into(),
                };
                let _ = sink.send(WsMessage::Close(Some(frame))).await;
                break;
            }
        }
    }
}

impl Outbound {
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            Outbound::TooBig => 1009,
            _ => 1001,
        }
    }

    pub(crate) fn close_reason(&self) -> &'static str {
        match self {
            Outbound::TooBig => "message too big",
            _ => "going away",
        }
    }
}

impl Gateway {
    /// A handshake: the connect quota, a connection id, then `$connect`;
    /// refused, the status and JSON body the client gets.
    async fn admit(
        &self,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
    ) -> Result<Admitted, (StatusCode, Value)> {
        if self.inner.connects.check().is_err() {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "message": "Too Many Requests" }),
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = Arc::new((AtomicU8::new(RUNNING), Notify::new()));
        let last_active = Arc::new(AtomicI64::new(chat_shared::time::now_millis()));
        let user_agent = headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        // Registered before $connect runs, so posts made meanwhile queue up
        // instead of finding the connection gone.
        self.conns().insert(
            id.clone(),
            Conn {
                tx,
                connected_at: chat_shared::time::now_millis(),
                last_active: last_active.clone(),
                stop: stop.clone(),
                user_agent,
            },
        );
        let grant = match self.authorize(&id, query, headers).await {
            Ok(grant) => grant,
            Err(refusal) => {
                self.conns().remove(&id);
                return Err(refusal);
            }
        };
        let Some(event) = self.event(
            &id,
            "$connect",
            "CONNECT",
            None,
            Some(query),
            Some(headers),
            grant.as_ref(),
        ) else {
            self.conns().remove(&id);
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "message": "Internal server error" }),
            ));
        };
        let (status, body) = self.invoke(event).await;
        if status != 200 {
            self.conns().remove(&id);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            let body: Value = body
                .and_then(|b| serde_json::from_str(&b).ok())
                .unwrap_or_else(
                    || json!({ "error": { "code": "forbidden", "message": "connection refused" } }),
                );
            return Err((status, body));
        }
        Ok(Admitted {
            rx,
            running: Running {
                id,
                stop,
                last_active,
                grant,
            },
        })
    }
}

async fn upgrade(
    State(gateway): State<Gateway>,
    ws: WebSocketUpgrade,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let admitted = match gateway.admit(&query, &headers).await {
        Ok(admitted) => admitted,
        Err((status, body)) => return (status, Json(body)).into_response(),
    };
    ws.max_message_size(READ_LIMIT)
        .max_frame_size(MAX_FRAME)
        // tungstenite's defaults (128 KiB each way per socket) made 10,000
        // sockets take 1.7 GB, and a first event to each fault in fresh
        // pages; events are a few KB.
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .on_upgrade(move |socket| gateway.run_socket(admitted, socket))
}

fn gone(id: &str) -> Response {
    let body = json!({ "message": format!("connection {id} is gone") });
    (
        StatusCode::GONE,
        [("x-amzn-errortype", "GoneException")],
        Json(body),
    )
        .into_response()
}

/// Whether a request carries a SigV4 signature for API Gateway (its form:
/// the emulator does not know the secret to check it against).
fn signed_for_api_gateway(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("authorization").is_some_and(|auth| {
        auth.starts_with("AWS4-HMAC-SHA256 Credential=")
            && auth.contains("/execute-api/aws4_request")
            && auth.contains("Signature=")
    }) && header("x-amz-date").is_some()
}

async fn post_to_connection(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !signed_for_api_gateway(&headers) {
        let body = json!({ "message": "Missing Authentication Token" });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    if let Some(throttled) = gateway.throttle() {
        return throttled;
    }
    if body.len() > MAX_MESSAGE {
        let body = json!({ "message": "Request entity too large" });
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [("x-amzn-errortype", "PayloadTooLargeException")],
            Json(body),
        )
            .into_response();
    }
    gateway.inner.posts.fetch_add(1, Ordering::SeqCst);
    *gateway
        .inner
        .posts_to
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(id.clone())
        .or_default() += 1;
    let delay = gateway.inner.options.post_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let failing = {
        let mut failing = gateway
            .inner
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match failing.get_mut(&id) {
            Some((status, None)) => Some(*status),
            Some((_, Some(0))) => {
                failing.remove(&id);
                None
            }
            Some((status, Some(left))) => {
                *left -= 1;
                Some(*status)
            }
            None => None,
        }
    };
    match failing {
        Some(410) => return gone(&id),
        Some(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({ "message": "Internal server error" });
            return (
                status,
                [("x-amzn-errortype", "InternalServerErrorException")],
                Json(body),
            )
                .into_response();
        }
        None => {}
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let sent = gateway
        .conns()
        .get(&id)
        .map(|conn| conn.tx.send(Outbound::Text(text)).is_ok());
    match sent {
        Some(true) => StatusCode::OK.into_response(),
        _ => gone(&id),
    }
}

async fn get_connection(State(gateway): State<Gateway>, Path(id): Path<String>) -> Response {
    if let Some(throttled) = gateway.throttle() {
        return throttled;
    }
    let conns = gateway.conns();
    let Some(conn) = conns.get(&id) else {
        drop(conns);
        return gone(&id);
    };
    let body = json!({
        "ConnectedAt": chat_shared::time::millis_to_rfc3339(conn.connected_at),
        "LastActiveAt": chat_shared::time::millis_to_rfc3339(conn.last_active.load(Ordering::Relaxed)),
        "Identity": { "SourceIp": "127.0.0.1", "UserAgent": conn.user_agent },
    });
    Json(body).into_response()
}

async fn delete_connection(State(gateway): State<Gateway>, Path(id): Path<String>) -> Response {
    if let Some(throttled) = gateway.throttle() {
        return throttled;
    }
    let Some(conn) = gateway.conns().remove(&id) else {
        return gone(&id);
    };
    conn.stop.0.store(CLOSED, Ordering::SeqCst);
    conn.stop.1.notify_one();
    let _ = conn.tx.send(Outbound::Close);
    StatusCode::NO_CONTENT.into_response()
}

/// Serves the clients' WebSocket port: HTTP/1.1 with upgrades, and a
/// connection that has not sent its whole handshake request within
/// `handshake_timeout` is closed.
pub fn serve_clients(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    handshake_timeout: Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    let service = TowerToHyperService::new(router);
    crate::accept::serve(listener, "WebSocket", stop, move |stream| {
        let service = service.clone();
        // Each frame goes out when written, as API Gateway's do: with Nagle's
        // algorithm a frame behind an unacknowledged one waits for the
        // client's delayed ACK (40 ms on Linux).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "TCP_NODELAY refused");
        }
        async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(handshake_timeout);
            // The connection's HTTP side ends once the upgrade hands the
            // socket on; until then it has `handshake_timeout` in all
            // (hyper's header timer starts only with the first byte).
            let serving = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            match tokio::time::timeout(handshake_timeout, serving).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::debug!(error = %err, "WebSocket connection ended"),
                Err(_) => tracing::debug!("WebSocket handshake timed out"),
            }
        }
    });
}
