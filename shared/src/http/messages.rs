//! `/api/v1/messages...`, `/api/v1/channels/{id}/messages`,
//! `/api/v1/channels/{id}/pinned` and `/api/v1/search`: the messages
//! function's routes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{finish, ApiJson, ApiPath, ApiQuery, OptionalJson, PageParams};
use crate::auth::Caller;
use crate::channels::{self, Ctx};
use crate::db::Db;
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::messages::{self, edit, history, reactions, read, search, send, Message, Reaction};
use crate::realtime::publish;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    finish(routes(state))
}

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/messages", post(send_message))
        .route(
            "/api/v1/messages/{id}",
            get(get_message).patch(edit_message).delete(delete_message),
        )
        .route("/api/v1/messages/{id}/replies", get(replies))
        .route("/api/v1/messages/{id}/pin", post(pin).delete(unpin))
        .route(
            "/api/v1/messages/{id}/reactions",
            post(react).get(list_reactions),
        )
        .route("/api/v1/messages/{id}/reactions/{kind}", delete(unreact))
        .route("/api/v1/messages/{id}/read", get(read_by))
        .route("/api/v1/channels/{id}/messages", get(channel_messages))
        .route("/api/v1/channels/{id}/pinned", get(pinned))
        .route("/api/v1/search", get(search_messages))
        .with_state(state)
}

#[derive(Debug, Default, Deserialize)]
struct ActingQuery {
    user_id: Option<UserId>,
    #[serde(flatten)]
    page: PageParams,
}

#[derive(Debug, Default, Deserialize)]
struct ActingUser {
    user_id: Option<UserId>,
}

async fn rendered(db: &Db, ctx: &Ctx, message: &Message) -> Result<Value, ApiError> {
    let mut views =
        messages::render(db, ctx, &message.channel_id, std::slice::from_ref(message)).await?;
    Ok(views.pop().unwrap_or(Value::Null))
}

async fn send_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<send::SendMessage>,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&caller, input.user_id.as_ref())?;
    let (message, created) = send::send(&state.db, &state.storage, &ctx, input).await?;
    if created {
        publish::message(&state, &ctx, "message.new", &message).await;
    }
    let body = json!({ "message": rendered(&state.db, &ctx, &message).await? });
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    Ok(Json(history::one(&state.db, &ctx, &id).await?))
}

async fn edit_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiJson(change): ApiJson<edit::MessageEdit>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, change.user_id.as_ref())?;
    let message = edit::edit(&state.db, &state.storage, &ctx, &id, change).await?;
    publish::message(&state, &ctx, "message.updated", &message).await;
    Ok(Json(
        json!({ "message": rendered(&state.db, &ctx, &message).await? }),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct DeleteQuery {
    hard: Option<bool>,
    user_id: Option<UserId>,
}

async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    let hard = query.hard.unwrap_or(false);
    let message = edit::delete(&state.db, &ctx, &id, hard).await?;
    if hard {
        publish::message_removed(&state, &ctx, &message).await;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    publish::message(&state, &ctx, "message.deleted", &message).await;
    let body = json!({ "message": rendered(&state.db, &ctx, &message).await? });
    Ok(Json(body).into_response())
}

async fn replies(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    Ok(Json(
        history::replies(&state.db, &ctx, &id, &query.page.request(true)?).await?,
    ))
}

async fn pinning(
    state: AppState,
    caller: Caller,
    id: MessageId,
    acting: ActingUser,
    value: bool,
) -> Result<Json<Value>, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    let message = edit::set_pinned(&state.db, &ctx, &id, value).await?;
    publish::message(&state, &ctx, "message.updated", &message).await;
    Ok(Json(
        json!({ "message": rendered(&state.db, &ctx, &message).await? }),
    ))
}

async fn pin(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    pinning(state, caller, id, acting, true).await
}

async fn unpin(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(acting): ApiQuery<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    pinning(state, caller, id, acting, false).await
}

async fn react(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiJson(input): ApiJson<reactions::ReactionInput>,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&caller, input.user_id.as_ref())?;
    let (message, reaction, created) = reactions::add(&state.db, &ctx, &id, input).await?;
    if created {
        publish::reaction(&state, &ctx, "reaction.new", &message, reaction.view()).await;
    }
    let body = json!({ "reaction": reaction.view(), "message": rendered(&state.db, &ctx, &message).await? });
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

async fn unreact(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, kind)): ApiPath<(MessageId, String)>,
    ApiQuery(acting): ApiQuery<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    let message = reactions::remove(&state.db, &ctx, &id, &kind).await?;
    if let Some(user) = &ctx.user {
        let removed = json!({ "message_id": message.id, "user_id": user, "type": kind });
        publish::reaction(&state, &ctx, "reaction.deleted", &message, removed).await;
    }
    Ok(Json(
        json!({ "message": rendered(&state.db, &ctx, &message).await? }),
    ))
}

async fn list_reactions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    let page = reactions::list(&state.db, &ctx, &id, &query.page.request(true)?).await?;
    let views: Vec<Value> = page.items.iter().map(Reaction::view).collect();
    Ok(Json(json!({ "reactions": views, "next": page.next })))
}

async fn read_by(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    Ok(Json(
        read::read_by(&state.db, &ctx, &id, &query.page.request(true)?).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
struct HistoryParams {
    user_id: Option<UserId>,
    #[serde(flatten)]
    query: history::HistoryQuery,
}

async fn channel_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, params.user_id.as_ref())?;
    let access = channels::load(&state.db, &ctx, &id).await?;
    Ok(Json(
        history::channel_history(&state.db, &ctx, &access, params.query).await?,
    ))
}

async fn pinned(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    let access = channels::load(&state.db, &ctx, &id).await?;
    Ok(Json(
        history::pinned(&state.db, &ctx, &access, &query.page.request(true)?).await?,
    ))
}

async fn search_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<search::SearchQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    Ok(Json(search::search(&state.db, &ctx, query).await?))
}
