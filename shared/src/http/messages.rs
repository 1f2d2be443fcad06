//! `/api/v1/messages...`, `/api/v1/channels/{id}/messages`,
//! `/api/v1/channels/{id}/pinned`, `/api/v1/search`, `/api/v1/reminders` and
//! `/api/v1/threads`: the messages function's routes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{finish, names_user, Acting, ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::docs::Errors;
use super::params::{ActingPageQuery, ActingUserQuery, ChannelPath, MessagePath};
use crate::actions::messages as actions;
use crate::channels::{self, Ctx};
use crate::error::ApiError;
use crate::ids::{MessageId, UserId};
use crate::messages::{
    self, edit, history, reactions, read, search, send, Message, MessageView, Reaction,
    ReactionView,
};
use crate::ratelimit::QuotaSlot;
use crate::state::AppState;

names_user! {
    send::SendMessage => user_id,
    edit::MessageEdit => user_id,
    DeleteQuery => user_id,
    reactions::ReactionInput => user_id,
    ActingUser => user_id,
    HistoryParams => user_id,
    search::SearchQuery => user_id,
    SyncQuery => user_id,
}

pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    finish(routes(state), &config)
}

pub fn routes(state: AppState) -> Router {
    api().split_for_parts().0.with_state(state)
}

/// The routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_message))
        .routes(routes!(get_message, edit_message, delete_message))
        .routes(routes!(replies))
        .routes(routes!(pin, unpin))
        .routes(routes!(react, list_reactions))
        .routes(routes!(unreact))
        .routes(routes!(read_by))
        .routes(routes!(channel_messages))
        .routes(routes!(pinned))
        .routes(routes!(search_messages))
        .routes(routes!(sync_changes))
        .merge(super::scheduled::api())
        .merge(super::reminders::api())
        .merge(super::threads::api())
        .merge(super::polls::api())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct ActingUser {
    user_id: Option<UserId>,
}

/// `{"message": ...}`: one message as the caller sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageBody {
    pub message: MessageView,
}

/// A reaction with its message's new state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReactionBody {
    pub reaction: ReactionView,
    pub message: MessageView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReactionPage {
    pub reactions: Vec<ReactionView>,
    pub next: Option<String>,
}

async fn rendered(state: &AppState, ctx: &Ctx, message: &Message) -> Result<MessageView, ApiError> {
    messages::render(
        &state.db,
        &state.storage,
        ctx,
        &message.channel_id,
        std::slice::from_ref(message),
    )
    .await?
    .pop()
    .ok_or_else(|| ApiError::Internal("a message rendered as nothing".into()))
}

async fn message_body(
    state: &AppState,
    ctx: &Ctx,
    message: &Message,
) -> Result<Json<MessageBody>, ApiError> {
    Ok(Json(MessageBody {
        message: rendered(state, ctx, message).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/messages",
    tag = "messages",
    summary = "Send a message (201; 200 for a retry with the same client id; 202 when scheduled)",
    request_body = send::SendMessage,
    responses(
        (status = 201, description = "sent", body = MessageBody),
        (status = 200, description = "a retry: the stored message", body = MessageBody),
        (
            status = 202,
            description = "scheduled (`scheduled_at`): sent when due",
            body = super::scheduled::ScheduledBody,
        ),
        Errors,
    ),
)]
async fn send_message(
    State(state): State<AppState>,
    slot: Option<Extension<QuotaSlot>>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<send::SendMessage>>,
) -> Result<Response, ApiError> {
    if input.scheduled_at.is_some() {
        let item = crate::actions::scheduled::schedule(&state, &ctx, input).await?;
        return Ok((StatusCode::ACCEPTED, super::scheduled::body(&item)).into_response());
    }
    let sent = actions::send(&state, &ctx, input).await;
    // A user's send counted itself: its quota as the send left it.
    if let (false, Some(user), Some(Extension(slot))) = (ctx.server, &ctx.user, slot) {
        let app = &ctx.app;
        slot.set(
            state
                .limiter
                .send_quota(&app.app_id, &app.settings.rate_limits, user),
        );
    }
    let send::SendOutcome {
        message, created, ..
    } = sent?;
    let body = message_body(&state, &ctx, &message).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, body).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}",
    tag = "messages",
    summary = "One message",
    params(
        MessagePath,
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "OK", body = MessageBody),
        Errors,
    ),
)]
async fn get_message(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let message = history::one(&state.db, &state.storage, &ctx, &id).await?;
    Ok(Json(MessageBody { message }))
}

#[utoipa::path(
    patch,
    path = "/api/v1/messages/{id}",
    tag = "messages",
    summary = "Edit a message (author, or owner/admin/server as moderation)",
    request_body = edit::MessageEdit,
    params(
        MessagePath,
    ),
    responses(
        (status = 200, description = "OK", body = MessageBody),
        Errors,
    ),
)]
async fn edit_message(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiJson(change)): Acting<ApiJson<edit::MessageEdit>>,
) -> Result<impl IntoResponse, ApiError> {
    let message = actions::edit(&state, &ctx, &id, change).await?;
    message_body(&state, &ctx, &message).await
}

#[derive(Debug, Default, Deserialize)]
struct DeleteQuery {
    hard: Option<bool>,
    user_id: Option<UserId>,
}

#[utoipa::path(
    delete,
    path = "/api/v1/messages/{id}",
    tag = "messages",
    summary = "Soft-delete a message, or hard-delete with hard=true (204)",
    params(
        MessagePath,
        ("hard" = Option<bool>, Query, description = "remove the message and its reactions"),
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "soft-deleted: the placeholder", body = MessageBody),
        (status = 204, description = "hard-deleted"),
        Errors,
    ),
)]
async fn delete_message(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<DeleteQuery>>,
) -> Result<Response, ApiError> {
    let hard = query.hard.unwrap_or(false);
    let message = actions::delete(&state, &ctx, &id, hard).await?;
    if hard {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(message_body(&state, &ctx, &message).await?.into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/replies",
    tag = "messages",
    summary = "A thread's replies, oldest first",
    params(
        MessagePath,
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = history::MessagePage),
        Errors,
    ),
)]
async fn replies(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingPageQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        history::replies(
            &state.db,
            &state.storage,
            &ctx,
            &id,
            &query.page.request(true)?,
        )
        .await?,
    ))
}

async fn pinning(
    state: AppState,
    ctx: Ctx,
    id: MessageId,
    value: bool,
) -> Result<Json<MessageBody>, ApiError> {
    let message = actions::set_pinned(&state, &ctx, &id, value).await?;
    message_body(&state, &ctx, &message).await
}

#[utoipa::path(
    post,
    path = "/api/v1/messages/{id}/pin",
    tag = "messages",
    summary = "Pin a message",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        MessagePath,
    ),
    responses(
        (status = 200, description = "OK", body = MessageBody),
        Errors,
    ),
)]
async fn pin(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    pinning(state, ctx, id, true).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/messages/{id}/pin",
    tag = "messages",
    summary = "Unpin a message",
    params(
        MessagePath,
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "OK", body = MessageBody),
        Errors,
    ),
)]
async fn unpin(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    pinning(state, ctx, id, false).await
}

#[utoipa::path(
    post,
    path = "/api/v1/messages/{id}/reactions",
    tag = "reactions",
    summary = "Add a reaction (201; 200 when it existed)",
    request_body = reactions::ReactionInput,
    params(
        MessagePath,
    ),
    responses(
        (status = 201, description = "added", body = ReactionBody),
        (status = 200, description = "it already existed", body = ReactionBody),
        Errors,
    ),
)]
async fn react(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<reactions::ReactionInput>>,
) -> Result<Response, ApiError> {
    let (message, reaction, created) = actions::react(&state, &ctx, &id, input).await?;
    let body = ReactionBody {
        reaction: reaction.view(),
        message: rendered(&state, &ctx, &message).await?,
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/messages/{id}/reactions/{kind}",
    tag = "reactions",
    summary = "Remove the caller's reaction of a type",
    params(
        MessagePath,
        ("kind" = String, Path, description = "reaction type"),
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "OK", body = MessageBody),
        Errors,
    ),
)]
async fn unreact(
    State(state): State<AppState>,
    ApiPath((id, kind)): ApiPath<(MessageId, String)>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let message = actions::unreact(&state, &ctx, &id, &kind).await?;
    message_body(&state, &ctx, &message).await
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/reactions",
    tag = "reactions",
    summary = "Reactions, paginated",
    params(
        MessagePath,
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = ReactionPage),
        Errors,
    ),
)]
async fn list_reactions(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingPageQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let page = reactions::list(&state.db, &ctx, &id, &query.page.request(true)?).await?;
    Ok(Json(ReactionPage {
        reactions: page.items.iter().map(Reaction::view).collect(),
        next: page.next,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/read",
    tag = "read state",
    summary = "Members who have read a message",
    params(
        MessagePath,
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = read::Readers),
        Errors,
    ),
)]
async fn read_by(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingPageQuery>>,
) -> Result<impl IntoResponse, ApiError> {
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

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/messages",
    tag = "messages",
    summary = "Channel history, oldest first within a page",
    params(
        ChannelPath,
        ("limit" = Option<u32>, Query, description = "1-100, default 25"),
        ("before" = Option<String>, Query, description = "message id"),
        ("after" = Option<String>, Query, description = "message id"),
        ("around" = Option<String>, Query, description = "message id"),
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "OK", body = history::Messages),
        Errors,
    ),
)]
async fn channel_messages(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiQuery(params)): Acting<ApiQuery<HistoryParams>>,
) -> Result<impl IntoResponse, ApiError> {
    let access = channels::load(&state.db, &ctx, &id).await?;
    Ok(Json(
        history::channel_history(&state.db, &state.storage, &ctx, &access, params.query).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/pinned",
    tag = "messages",
    summary = "Pinned messages",
    params(
        ChannelPath,
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = history::MessagePage),
        Errors,
    ),
)]
async fn pinned(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingPageQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let access = channels::load(&state.db, &ctx, &id).await?;
    Ok(Json(
        history::pinned(
            &state.db,
            &state.storage,
            &ctx,
            &access,
            &query.page.request(true)?,
        )
        .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/search",
    tag = "search",
    summary = "Case-insensitive substring search",
    params(
        ("query" = String, Query, description = "2-200 characters"),
        ("channel_id" = Option<String>, Query, description = "one channel; default: all the caller's"),
        ("limit" = Option<u32>, Query, description = "1-100"),
        ("next" = Option<String>, Query, description = "cursor"),
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "OK", body = search::SearchResults),
        Errors,
    ),
)]
async fn search_messages(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<search::SearchQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        search::search(&state.db, &state.storage, &ctx, query).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
struct SyncQuery {
    since: Option<String>,
    limit: Option<String>,
    user_id: Option<UserId>,
}

#[utoipa::path(
    get,
    path = "/api/v1/sync",
    tag = "sync",
    summary = "What changed in the caller's channels since a cursor (an event id, or the last page's next): new, \
        edited and deleted messages, reactions, read marks, member and channel changes, in order; gap=true when the \
        cursor is older than what is kept (reload instead); without since, a cursor for now",
    params(
        ("since" = Option<String>, Query, description = "cursor: an event id, or a previous page's next"),
        ("limit" = Option<u32>, Query, description = "1-500, default 100"),
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "OK", body = crate::sync::SyncPage),
        Errors,
    ),
)]
async fn sync_changes(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<SyncQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = match query.limit.as_deref() {
        None => crate::sync::DEFAULT_LIMIT,
        Some(text) => text.parse::<usize>().unwrap_or(0),
    };
    if limit == 0 || limit > crate::sync::MAX_LIMIT {
        return Err(ApiError::validation(format!(
            "limit must be between 1 and {}",
            crate::sync::MAX_LIMIT
        )));
    }
    Ok(Json(
        crate::sync::sync(
            &state.db,
            &state.storage,
            &ctx,
            query.since.as_deref(),
            limit,
        )
        .await?,
    ))
}
