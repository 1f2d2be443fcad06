//! `/api/v1/threads` and `/api/v1/messages/{id}/thread/read`: the threads
//! the caller takes part in, and their read marks there.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{names_user, Acting, ApiJson, ApiPath, ApiQuery};
use super::docs::Errors;
use super::params::{ActingPageQuery, MessagePath};
use crate::error::ApiError;
use crate::ids::{MessageId, UserId};
use crate::messages::threads::{self, ThreadView};
use crate::state::AppState;

names_user! {
    ThreadRead => user_id,
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_threads))
        .routes(routes!(mark_thread_read))
}

/// `POST /messages/{id}/thread/read`: up to `message_id` (a reply in the
/// thread), or to its latest reply.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadRead {
    #[schema(value_type = Option<String>)]
    pub message_id: Option<MessageId>,
    /// With a server token: the user.
    #[schema(value_type = Option<String>)]
    pub user_id: Option<UserId>,
}

/// `{"thread": ...}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThreadBody {
    pub thread: ThreadView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThreadPage {
    threads: Vec<ThreadView>,
    next: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/threads",
    tag = "threads",
    summary = "The threads the caller takes part in, latest activity first, with their unread replies",
    params(ActingPageQuery),
    responses(
        (status = 200, description = "OK", body = ThreadPage),
        Errors,
    ),
)]
async fn list_threads(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingPageQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let page = query.page.request(true)?;
    let (threads, next) = threads::list(
        &state,
        &ctx,
        usize::try_from(page.limit).unwrap_or(25),
        page.cursor.as_deref(),
    )
    .await?;
    Ok(Json(ThreadPage { threads, next }))
}

#[utoipa::path(
    post,
    path = "/api/v1/messages/{id}/thread/read",
    tag = "threads",
    summary = "Mark a thread read (the caller takes part in it from then on)",
    request_body = ThreadRead,
    params(MessagePath),
    responses(
        (status = 200, description = "OK", body = ThreadBody),
        Errors,
    ),
)]
async fn mark_thread_read(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<ThreadRead>>,
) -> Result<impl IntoResponse, ApiError> {
    let thread = threads::mark_read(&state, &ctx, &id, input.message_id.as_ref()).await?;
    Ok(Json(ThreadBody { thread }))
}
