//! The socket adapter, above the use cases: the realtime function's API
//! Gateway WebSocket events for `$connect`, `$disconnect` and `$default`,
//! and the `$connect` route's authorizer. The Lambda and the local gateway
//! emulator call [`handle`] and [`authorize`] with the same event shapes.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
    ApiGatewayWebsocketProxyRequestContext,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::messages;
use crate::auth::{self, Actor};
use crate::channels::{self, Ctx};
use crate::db::{Cond, Entity};
use crate::error::{ApiError, DisplayChain};
use crate::ids::ConnectionId;
use crate::keys;
use crate::messages::{read, send};
use crate::realtime::connections::{self, Connection, Watch, CONNECTION_TTL_SECS};
use crate::realtime::frames::{
    self, Ack, ActionResult, ChannelFrame, ClientFrame, Health, Sent, TypingAck, Watching,
};
use crate::realtime::{audience, online, sessions};
use crate::state::AppState;

pub use crate::realtime::frames::MAX_FRAME;

fn response(status: u16, body: Option<Value>) -> ApiGatewayProxyResponse {
    let mut out = ApiGatewayProxyResponse::default();
    out.status_code = i64::from(status);
    out.body = body.map(|b| Body::Text(b.to_string()));
    out
}

fn refuse(err: &ApiError) -> ApiGatewayProxyResponse {
    response(err.status().as_u16(), Some(err.body()))
}

/// Why the authorizer turned a connect away: API Gateway answers the client
/// 401 for [`Refusal::Unauthorized`] (the function fails with exactly that
/// message) and 403 for a policy that denies.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("Unauthorized")]
    Unauthorized,
    #[error("the authorizer failed: {0}")]
    Failed(String),
}

/// The `$connect` route's REQUEST authorizer: authenticates like REST
/// (`?api_key=&token=`) and grants the connection its app and user
/// ([`connections::grant`]), which API Gateway passes to every later event
/// of the connection. A server token is denied: sockets are for users.
pub async fn authorize(
    state: &AppState,
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, Refusal> {
    let query = &request.query_string_parameters;
    let caller = match auth::authenticate(state, query.first("api_key"), query.first("token")).await
    {
        Ok(caller) => caller,
        Err(ApiError::Internal(cause)) => {
            tracing::error!(error = %DisplayChain(cause.as_ref()), "authorizer failed");
            return Err(Refusal::Failed(cause.to_string()));
        }
        Err(refusal) => {
            tracing::info!(error = %DisplayChain(&refusal), "connect refused");
            return Err(Refusal::Unauthorized);
        }
    };
    let (principal, effect, context) = match &caller.actor {
        Actor::User(user) => (
            user.to_string(),
            IamPolicyEffect::Allow,
            connections::grant(
                &caller.app.app_id,
                &caller.app.api_key,
                user,
                caller.issued_ms,
            ),
        ),
        Actor::Server => (
            "server".to_string(),
            IamPolicyEffect::Deny,
            Default::default(),
        ),
    };
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = effect;
    statement.resource = request.method_arn.clone().into_iter().collect();
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".into());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(principal);
    response.policy_document = policy;
    response.context = serde_json::Value::Object(context);
    Ok(response)
}

/// What the realtime function is invoked with: an event of one of the
/// routes, or the authorizer's request (the one with a `methodArn`).
#[derive(Debug)]
pub enum Event {
    Route(Box<ApiGatewayWebsocketProxyRequest>),
    Authorize(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let event = if value.get("methodArn").is_some() {
            Event::Authorize(serde_json::from_value(value).map_err(serde::de::Error::custom)?)
        } else {
            Event::Route(serde_json::from_value(value).map_err(serde::de::Error::custom)?)
        };
        Ok(event)
    }
}

/// The realtime function's answer to an [`Event`].
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Route(ApiGatewayProxyResponse),
    Authorized(ApiGatewayCustomAuthorizerResponse),
}

/// The realtime function: routes to [`handle`], the authorizer to
/// [`authorize`].
pub async fn answer(state: &AppState, event: Event) -> Result<Answer, Refusal> {
    match event {
        Event::Route(request) => Ok(Answer::Route(handle(state, *request).await)),
        Event::Authorize(request) => authorize(state, &request).await.map(Answer::Authorized),
    }
}

/// The connection an event's authorizer context describes, if it has one.
fn granted(
    id: &ConnectionId,
    context: &ApiGatewayWebsocketProxyRequestContext,
) -> Option<Connection> {
    connections::granted(id, context.connected_at, &context.authorizer.fields)
}

/// Entry point for every WebSocket route.
pub async fn handle(
    state: &AppState,
    request: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let context = &request.request_context;
    let Some(connection_id) = context
        .connection_id
        .as_deref()
        .and_then(|id| ConnectionId::parse(id).ok())
    else {
        return refuse(&ApiError::validation(
            "the event has no valid connection id",
        ));
    };
    match context.route_key.as_deref().unwrap_or("$default") {
        "$connect" => match connect(state, &request, &connection_id).await {
            Ok(()) => response(200, None),
            Err(err) => {
                if let ApiError::Internal(cause) = &err {
                    tracing::error!(error = %DisplayChain(cause.as_ref()), "connect failed");
                }
                refuse(&err)
            }
        },
        "$disconnect" => {
            if let Err(err) = sessions::disconnect(state, &connection_id).await {
                tracing::warn!(error = %DisplayChain(&err), "disconnect clean-up failed");
            }
            response(200, None)
        }
        _ => {
            let ack = on_frame(
                state,
                &connection_id,
                granted(&connection_id, context),
                request.body.as_deref().unwrap_or_default(),
            )
            .await;
            response(200, ack)
        }
    }
}

/// Takes the caller from the authorizer's grant (or, for an event without
/// one, authenticates like REST, `?api_key=&token=`), stores the connection,
/// and on the user's first connection marks them online and tells their
/// peers.
async fn connect(
    state: &AppState,
    request: &ApiGatewayWebsocketProxyRequest,
    id: &ConnectionId,
) -> Result<(), ApiError> {
    let (app, user, issued_ms) = match granted(id, &request.request_context) {
        Some(granted) => {
            let app = state
                .apps
                .by_id(&state.db, &granted.app_id)
                .await?
                .ok_or_else(|| ApiError::unauthorized("invalid_api_key", "unknown API key"))?;
            (app, granted.user_id, granted.token_issued_ms)
        }
        None => {
            let query = &request.query_string_parameters;
            let caller =
                auth::authenticate(state, query.first("api_key"), query.first("token")).await?;
            let Actor::User(user) = caller.actor else {
                return Err(ApiError::forbidden("connect with a user token"));
            };
            (caller.app, user, caller.issued_ms)
        }
    };
    // A connect writes (the connection, the online index): it counts as a
    // write, refused at the upgrade with 429 like REST.
    state
        .limiter
        .admit(
            &app.app_id,
            &app.settings.rate_limits,
            &crate::ratelimit::Subject::User(user.clone()),
            crate::ratelimit::Group::Write,
        )
        .await
        .map_err(|(refusal, _)| refusal)?;
    let connection = Connection {
        connection_id: id.clone(),
        app_id: app.app_id.clone(),
        api_key: app.api_key.clone(),
        user_id: user.clone(),
        connected_at: crate::time::now_rfc3339(),
        token_issued_ms: issued_ms,
        expires: crate::time::now_secs() + CONNECTION_TTL_SECS,
    };
    if !connections::add(&state.db, &connection).await? {
        // Full: first forget sockets API Gateway no longer has (a lost
        // `$disconnect`), then try once more.
        sessions::prune(state, &app.app_id, &user).await?;
        if !connections::add(&state.db, &connection).await? {
            return Err(ApiError::RateLimited {
                message: format!(
                    "a user may hold {} open connections; close one first",
                    connections::MAX_CONNECTIONS_PER_USER
                ),
                retry_after: 60,
            });
        }
    }
    // Read after the connection is indexed: a revocation racing this connect
    // either shows here or finds this connection in the index it closes.
    let user_item = crate::users::require_user(&state.db, &app.app_id, &user).await?;
    if let Err(refusal) = auth::check_user_state(&user_item, issued_ms) {
        connections::remove(&state.db, &app.app_id, &user, id).await?;
        return Err(refusal);
    }
    // Every connect refreshes the user's entries in the online index.
    online::enter(&state.db, &app.app_id, &user).await?;
    let open = connections::ids_of(&user_item.connections);
    if open.len() == 1 {
        sessions::announce(state, &app, &user, true).await;
    }
    Ok(())
}

/// One client frame: parsed, dispatched by `action`, answered with an ack
/// carrying its `request_id`. Bad frames get an error ack, never a crash.
///
/// The ack is the `$default` route's response, which API Gateway sends back
/// on the socket (the route is two-way: template.yaml's `DefaultRouteResponse`):
/// no management post. A refusal that ends the socket posts its ack instead,
/// then closes the connection, which then gets no response.
async fn on_frame(
    state: &AppState,
    id: &ConnectionId,
    granted: Option<Connection>,
    body: &str,
) -> Option<Value> {
    let found = match granted {
        Some(connection) => Ok(Some(connection)),
        None => connections::get(&state.db, id).await,
    };
    let connection = match found {
        Ok(Some(connection)) => connection,
        Ok(None) => return None,
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), "connection look-up failed");
            return None;
        }
    };
    let (request_id, frame) = frames::parse(body);
    let mut ended = false;
    let result = match frame {
        Ok(frame) => match read_ahead(state, &connection, &frame).await {
            Ok(ahead) => {
                let state = ahead.as_ref().unwrap_or(state);
                match sessions::check(state, &connection).await {
                    Ok(me) => Box::pin(dispatch(state, &connection, me, frame)).await,
                    Err(refusal) => {
                        ended = matches!(refusal, ApiError::Unauthorized { .. });
                        Err(refusal)
                    }
                }
            }
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    if let Err(ApiError::Internal(cause)) = &result {
        tracing::error!(error = %DisplayChain(cause.as_ref()), "socket action failed");
    }
    let reply = serde_json::to_value(Ack::new(request_id, result)).unwrap_or_default();
    if !ended {
        return Some(reply);
    }
    state
        .notifier
        .to_connection(&connection.app_id, &connection.user_id, id, &reply)
        .await;
    sessions::end(state, &connection.app_id, id).await;
    None
}

/// A frame about a channel reads its user's item (the check every frame
/// makes) with the channel, the member item and the ban in one request; the
/// check and the action take them from there (`db::batch`). A send reads
/// the user's rate-limit counter there too, and its audience: the channel's
/// listeners first, then their member and user items with the rest, so the
/// message reaches them without another read.
async fn read_ahead(
    state: &AppState,
    connection: &Connection,
    frame: &ClientFrame,
) -> Result<Option<AppState>, ApiError> {
    let Some(channel) = frame.channel_id() else {
        return Ok(None);
    };
    let (app, user) = (&connection.app_id, &connection.user_id);
    let mut keys = vec![keys::user(app, user).any()];
    keys.extend(channels::access_keys(app, channel, user));
    let mut db = state.db.clone();
    let mut readers = Vec::new();
    if let ClientFrame::MessageSend(input) = frame {
        keys.push(crate::ratelimit::send_counter_key(app, user).any());
        if input.scheduled_at.is_none() && state.notifier.enabled() {
            let limit = state.config.fanout_inline_limit;
            let (view, listeners) = online::listeners_ahead(&db, app, channel, limit).await?;
            if let Some((_, online)) = listeners {
                readers = audience::reader_keys(app, channel, &online);
            }
            db = view;
        }
    }
    Ok(Some(
        state.with_db(db.read_ahead_with(&keys, &readers).await?),
    ))
}

async fn dispatch(
    state: &AppState,
    connection: &Connection,
    me: crate::users::User,
    frame: ClientFrame,
) -> Result<ActionResult, ApiError> {
    let app = state
        .apps
        .by_api_key(&state.db, &connection.api_key)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_api_key", "the connection's app no longer exists")
        })?;
    let ctx = Ctx {
        app,
        server: false,
        user: Some(connection.user_id.clone()),
        me: Some(std::sync::Arc::new(me)),
    };
    // The same limits as REST: a send counts as a send (by its own
    // transaction), every other action but the health check as a write.
    let group = match &frame {
        ClientFrame::MessageSend(_) | ClientFrame::HealthCheck {} => None,
        _ => Some(crate::ratelimit::Group::Write),
    };
    if let Some(group) = group {
        let subject = crate::ratelimit::Subject::User(connection.user_id.clone());
        state
            .limiter
            .admit(
                &ctx.app.app_id,
                &ctx.app.settings.rate_limits,
                &subject,
                group,
            )
            .await
            .map_err(|(refusal, _)| refusal)?;
    }
    match frame {
        ClientFrame::MessageSend(input) if input.scheduled_at.is_some() => {
            let item = crate::actions::scheduled::schedule(state, &ctx, *input).await?;
            Ok(ActionResult::Scheduled(Box::new(frames::ScheduledAck {
                scheduled_message: item.view(),
            })))
        }
        ClientFrame::MessageSend(input) => {
            let send::SendOutcome {
                message, created, ..
            } = messages::send(state, &ctx, *input).await?;
            let view = crate::messages::render(
                &state.db,
                &state.storage,
                &ctx,
                &message.channel_id,
                std::slice::from_ref(&message),
            )
            .await?
            .pop()
            .ok_or_else(|| ApiError::Internal("a message rendered as nothing".into()))?;
            Ok(ActionResult::Sent(Box::new(Sent {
                message: view,
                created,
            })))
        }
        ClientFrame::TypingStart(input) => typing(state, &ctx, input, true).await,
        ClientFrame::TypingStop(input) => typing(state, &ctx, input, false).await,
        ClientFrame::ChannelWatch(input) => watch(state, &ctx, connection, input, true).await,
        ClientFrame::ChannelUnwatch(input) => watch(state, &ctx, connection, input, false).await,
        ClientFrame::MessageRead(input) => {
            let mark = read::MarkRead {
                message_id: input.message_id,
                user_id: None,
            };
            let marked = messages::mark_read(state, &ctx, &input.channel_id, mark).await?;
            Ok(ActionResult::Read(marked))
        }
        ClientFrame::MarkDelivered(input) => {
            let count = input.channels.len();
            if count == 0 || count > frames::MAX_DELIVERED_CHANNELS {
                return Err(ApiError::validation(format!(
                    "channels: 1 to {} per frame",
                    frames::MAX_DELIVERED_CHANNELS
                )));
            }
            let marks: Vec<_> = input
                .channels
                .into_iter()
                .map(|c| (c.channel_id, c.message_id))
                .collect();
            let delivered = messages::mark_delivered(state, &ctx, &marks).await?;
            Ok(ActionResult::Delivered(frames::DeliveredAck { delivered }))
        }
        ClientFrame::ThreadRead(input) => {
            let thread = crate::messages::threads::mark_read(
                state,
                &ctx,
                &input.parent_id,
                input.message_id.as_ref(),
            )
            .await?;
            Ok(ActionResult::Thread(Box::new(frames::ThreadAck { thread })))
        }
        ClientFrame::HealthCheck {} => Ok(ActionResult::Health(Health {
            connection_id: connection.connection_id.clone(),
            user_id: connection.user_id.clone(),
            created_at: crate::time::now_rfc3339(),
        })),
    }
}

async fn typing(
    state: &AppState,
    ctx: &Ctx,
    input: ChannelFrame,
    started: bool,
) -> Result<ActionResult, ApiError> {
    crate::actions::channels::typing(
        state,
        ctx,
        &input.channel_id,
        input.parent_id.as_ref(),
        started,
    )
    .await?;
    Ok(ActionResult::Typing(TypingAck {
        channel_id: input.channel_id,
    }))
}

async fn watch(
    state: &AppState,
    ctx: &Ctx,
    connection: &Connection,
    input: ChannelFrame,
    watching: bool,
) -> Result<ActionResult, ApiError> {
    let access = channels::load(&state.db, ctx, &input.channel_id).await?;
    access.require_read()?;
    let watch = Watch {
        app_id: ctx.app.app_id.clone(),
        channel_id: input.channel_id.clone(),
        connection_id: connection.connection_id.clone(),
        user_id: connection.user_id.clone(),
        expires: connection.expires,
    };
    if watching {
        state.db.put(&watch, Cond::Always).await?;
    } else {
        state.db.delete(&watch.key(), Cond::Always).await?;
    }
    Ok(ActionResult::Watch(Watching {
        channel_id: input.channel_id,
        watching,
    }))
}
