//! `/channels/{id}/draft` and `/drafts`: the caller's unsent text per channel or thread.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::http::common::{names_user, Acting, ApiJson, ApiPath, ApiQuery};
use crate::http::docs::Errors;
use crate::http::params::{ActingPageQuery, ChannelPath};
use crate::ids::{MessageId, UserId};
use crate::messages::{drafts, Draft, DraftView};
use crate::state::AppState;

names_user! {
    DraftQuery => user_id,
    drafts::DraftInput => user_id,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct DraftBody {
    draft: DraftView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct DraftPage {
    drafts: Vec<DraftView>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DraftQuery {
    /// thread parent
    #[param(value_type = Option<String>)]
    parent_id: Option<MessageId>,
    /// with a server token: the acting user
    #[param(value_type = Option<String>)]
    user_id: Option<UserId>,
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/draft",
    tag = "drafts",
    summary = "The caller's draft in a channel or thread",
    params(
        ChannelPath,
        DraftQuery,
    ),
    responses(
        (status = 200, description = "OK", body = DraftBody),
        Errors,
    ),
)]
pub(super) async fn get_draft(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<DraftQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = drafts::get(&state.db, &ctx, &id, query.parent_id.as_ref()).await?;
    Ok(Json(DraftBody {
        draft: draft.view(),
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/channels/{id}/draft",
    tag = "drafts",
    summary = "Save a draft",
    request_body = drafts::DraftInput,
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = DraftBody),
        Errors,
    ),
)]
pub(super) async fn put_draft(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<drafts::DraftInput>>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = drafts::put(&state.db, &ctx, &id, input).await?;
    Ok(Json(DraftBody {
        draft: draft.view(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/channels/{id}/draft",
    tag = "drafts",
    summary = "Delete a draft",
    params(
        ChannelPath,
        DraftQuery,
    ),
    responses(
        (status = 204, description = "deleted"),
        Errors,
    ),
)]
pub(super) async fn delete_draft(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<DraftQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    drafts::delete(&state.db, &ctx, &id, query.parent_id.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/drafts",
    tag = "drafts",
    summary = "All the caller's drafts",
    params(
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = DraftPage),
        Errors,
    ),
)]
pub(super) async fn list_drafts(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingPageQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let page = drafts::list(&state.db, &ctx, &query.page.request(true)?).await?;
    Ok(Json(DraftPage {
        drafts: page.items.iter().map(Draft::view).collect(),
        next: page.next,
    }))
}
