//! The realtime function: API Gateway WebSocket events for `$connect`,
//! `$disconnect` and `$default`. The Lambda and the local gateway emulator
//! call [`handle`] with the same event shape.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::connections::{self, Connection, Watch, CONNECTION_TTL_SECS};
use super::{publish, sessions};
use crate::auth::{self, Actor};
use crate::channels::{self, Ctx};
use crate::db::{Cond, Entity};
use crate::error::{ApiError, DisplayChain};
use crate::ids::{ChannelId, ConnectionId, MessageId};
use crate::messages::{read, send};
use crate::state::AppState;

/// API Gateway's frame limit: bigger frames get an error ack.
pub const MAX_FRAME: usize = 32 * 1024;

fn response(status: u16, body: Option<Value>) -> ApiGatewayProxyResponse {
    let mut out = ApiGatewayProxyResponse::default();
    out.status_code = i64::from(status);
    out.body = body.map(|b| Body::Text(b.to_string()));
    out
}

fn refuse(err: &ApiError) -> ApiGatewayProxyResponse {
    response(err.status().as_u16(), Some(err.body()))
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
            on_frame(
                state,
                &connection_id,
                request.body.as_deref().unwrap_or_default(),
            )
            .await;
            response(200, None)
        }
    }
}

/// Authenticates like REST (`?api_key=&token=`), stores the connection, and
/// on the user's first connection marks them online and tells their peers.
async fn connect(
    state: &AppState,
    request: &ApiGatewayWebsocketProxyRequest,
    id: &ConnectionId,
) -> Result<(), ApiError> {
    let query = &request.query_string_parameters;
    let caller = auth::authenticate(state, query.first("api_key"), query.first("token")).await?;
    let Actor::User(user) = caller.actor else {
        return Err(ApiError::forbidden("connect with a user token"));
    };
    let connection = Connection {
        connection_id: id.clone(),
        app_id: caller.app.app_id.clone(),
        api_key: caller.app.api_key.clone(),
        user_id: user.clone(),
        connected_at: crate::time::now_rfc3339(),
        token_issued_ms: caller.issued_ms,
        expires: crate::time::now_secs() + CONNECTION_TTL_SECS,
    };
    if !connections::add(&state.db, &connection).await? {
        // Full: first forget sockets API Gateway no longer has (a lost
        // `$disconnect`), then try once more.
        sessions::prune(state, &caller.app.app_id, &user).await?;
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
    let user_item = crate::users::require_user(&state.db, &caller.app.app_id, &user).await?;
    if let Err(refusal) = auth::check_user_state(&user_item, caller.issued_ms) {
        connections::remove(&state.db, &caller.app.app_id, &user, id).await?;
        return Err(refusal);
    }
    let open = connections::ids_of(&user_item);
    if open.len() == 1 {
        sessions::announce(state, &caller.app.app_id, &user, true).await;
    }
    Ok(())
}

fn ack(request_id: &Value, result: Result<Value, ApiError>) -> Value {
    match result {
        Ok(result) => {
            json!({ "type": "ack", "request_id": request_id, "ok": true, "result": result })
        }
        Err(err) => {
            if let ApiError::Internal(cause) = &err {
                tracing::error!(error = %DisplayChain(cause.as_ref()), "socket action failed");
            }
            json!({ "type": "ack", "request_id": request_id, "ok": false, "error": err.body()["error"] })
        }
    }
}

/// One client frame: parsed, dispatched by `action`, answered with an ack
/// carrying its `request_id`. Bad frames get an error ack, never a crash.
async fn on_frame(state: &AppState, id: &ConnectionId, body: &str) {
    let connection = match connections::get(&state.db, id).await {
        Ok(Some(connection)) => connection,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), "connection look-up failed");
            return;
        }
    };
    let (request_id, frame) = parse(body);
    let mut ended = false;
    let result = match frame {
        Ok(frame) => match sessions::check(state, &connection).await {
            Ok(()) => dispatch(state, &connection, frame).await,
            Err(refusal) => {
                ended = matches!(refusal, ApiError::Unauthorized { .. });
                Err(refusal)
            }
        },
        Err(err) => Err(err),
    };
    let reply = ack(&request_id, result);
    state
        .notifier
        .to_connection(&connection.app_id, &connection.user_id, id, &reply)
        .await;
    if ended {
        sessions::end(state, &connection.app_id, id).await;
    }
}

/// A frame's `request_id` (for the ack) and its fields, or why it is refused.
fn parse(body: &str) -> (Value, Result<Map<String, Value>, ApiError>) {
    if body.len() > MAX_FRAME {
        return (
            Value::Null,
            Err(ApiError::TooLarge(format!(
                "frames are limited to {MAX_FRAME} bytes"
            ))),
        );
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut frame)) => {
            let request_id = frame.remove("request_id").unwrap_or(Value::Null);
            (request_id, Ok(frame))
        }
        Ok(_) => (
            Value::Null,
            Err(ApiError::validation(
                "a frame is a JSON object with an `action`",
            )),
        ),
        Err(_) => (
            Value::Null,
            Err(ApiError::validation("the frame is not JSON")),
        ),
    }
}

fn fields<T: for<'de> Deserialize<'de>>(frame: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(frame))
        .map_err(|e| ApiError::validation(format!("invalid frame: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelFrame {
    channel_id: ChannelId,
    #[serde(default)]
    parent_id: Option<MessageId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadFrame {
    channel_id: ChannelId,
    #[serde(default)]
    message_id: Option<MessageId>,
}

async fn dispatch(
    state: &AppState,
    connection: &Connection,
    mut frame: Map<String, Value>,
) -> Result<Value, ApiError> {
    let action = match frame.remove("action") {
        Some(Value::String(action)) => action,
        _ => return Err(ApiError::validation("the frame has no `action`")),
    };
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
    };
    match action.as_str() {
        "message.send" => {
            let input: send::SendMessage = fields(frame)?;
            let (message, created) = send::send(&state.db, &state.storage, &ctx, input).await?;
            if created {
                publish::message(state, &ctx, "message.new", &message).await;
            }
            let view = crate::messages::render(
                &state.db,
                &state.storage,
                &ctx,
                &message.channel_id,
                std::slice::from_ref(&message),
            )
            .await?;
            Ok(json!({ "message": view.into_iter().next(), "created": created }))
        }
        "typing.start" | "typing.stop" => {
            let input: ChannelFrame = fields(frame)?;
            let access = channels::load(&state.db, &ctx, &input.channel_id).await?;
            let member = access.require_member()?;
            if !access.channel.settings.typing_events {
                return Err(ApiError::forbidden(
                    "typing events are turned off in this channel",
                ));
            }
            // A shadow-banned member's typing reaches nobody (their messages
            // do not either); the ack is the same, so they are not told.
            let shadowed =
                crate::channels::active_ban(&state.db, &ctx, &access.channel.id, &member.user_id)
                    .await?
                    .is_some_and(|b| b.shadow);
            if shadowed {
                return Ok(json!({ "channel_id": input.channel_id }));
            }
            publish::typing(
                state,
                &ctx,
                &action,
                &access.channel.id,
                &member.user_id,
                input.parent_id.as_ref(),
            )
            .await;
            Ok(json!({ "channel_id": input.channel_id }))
        }
        "channel.watch" | "channel.unwatch" => {
            let input: ChannelFrame = fields(frame)?;
            let access = channels::load(&state.db, &ctx, &input.channel_id).await?;
            access.require_read()?;
            let watch = Watch {
                app_id: ctx.app.app_id.clone(),
                channel_id: input.channel_id.clone(),
                connection_id: connection.connection_id.clone(),
                user_id: connection.user_id.clone(),
                expires: connection.expires,
            };
            let watching = action == "channel.watch";
            if watching {
                state.db.put(&watch, Cond::Always).await?;
            } else {
                state.db.delete(&watch.key(), Cond::Always).await?;
            }
            Ok(json!({ "channel_id": input.channel_id, "watching": watching }))
        }
        "message.read" => {
            let input: ReadFrame = fields(frame)?;
            let mark = read::MarkRead {
                message_id: input.message_id,
                user_id: None,
            };
            let marked = read::mark_read(&state.db, &ctx, &input.channel_id, mark).await?;
            if marked.announce {
                publish::read(
                    state,
                    &ctx,
                    &input.channel_id,
                    &connection.user_id,
                    &marked.view["last_read_message_id"],
                )
                .await;
            }
            Ok(marked.view)
        }
        "health.check" => Ok(json!({
            "connection_id": connection.connection_id,
            "user_id": connection.user_id,
            "created_at": crate::time::now_rfc3339(),
        })),
        other => Err(ApiError::validation(format!("unknown action `{other}`"))),
    }
}
