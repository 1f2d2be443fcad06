//! `/api/v1/moderation/flags...`: reports and the moderation queue. Served
//! by the channels function (moderation lives there).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{names_user, Acting, ApiJson, ApiPath, ApiQuery, PageParams};
use super::docs::Errors;
use crate::actions::flags as actions;
use crate::error::ApiError;
use crate::flags::{self, FlagAction, FlagInput, FlagScope, FlagStatus, FlagView};
use crate::ids::ChannelId;
use crate::state::AppState;

names_user! {
    FlagInput => reporter_id,
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(resolve))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct FlagBody<'a> {
    flag: FlagView<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct FlagPage<'a> {
    flags: Vec<FlagView<'a>>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    channel_id: Option<ChannelId>,
    status: Option<FlagStatus>,
    #[serde(flatten)]
    page: PageParams,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResolveInput {
    action: FlagAction,
}

#[utoipa::path(
    post,
    path = "/api/v1/moderation/flags",
    tag = "moderation",
    summary = "Report a message (members who can read it) or a user (any user); once per reporter and target",
    request_body = FlagInput,
    responses(
        (status = 201, description = "reported", body = FlagBody),
        Errors,
    ),
)]
async fn create(
    State(state): State<AppState>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<FlagInput>>,
) -> Result<impl IntoResponse, ApiError> {
    let flag = actions::create(&state, &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(FlagBody { flag: flag.view() })).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/moderation/flags",
    tag = "moderation",
    summary = "Reports, oldest first: all for the server, a channel's for its owners and admins",
    params(
        ("channel_id" = Option<String>, Query, description = "only this channel's (required for a user token)"),
        ("status" = Option<String>, Query, description = "open or resolved"),
        PageParams,
    ),
    responses(
        (status = 200, description = "OK", body = FlagPage),
        Errors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = FlagScope {
        channel_id: query.channel_id,
        status: query.status,
    };
    let page = flags::list(&state.db, &ctx, &filter, &query.page.request(true)?).await?;
    Ok(Json(FlagPage {
        flags: page.items.iter().map(|f| f.view()).collect(),
        next: page.next,
    })
    .into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/moderation/flags/{id}/resolve",
    tag = "moderation",
    summary = "Resolve a report with one action: dismiss, delete_message, ban or shadow_ban (the server, or the \
        channel's owners and admins)",
    request_body = ResolveInput,
    params(
        ("id" = String, Path, description = "flag id"),
    ),
    responses(
        (status = 200, description = "resolved", body = FlagBody),
        Errors,
    ),
)]
async fn resolve(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ResolveInput>,
) -> Result<impl IntoResponse, ApiError> {
    // Flag ids are 32 hex digits; anything else cannot name one.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found(format!("flag {id} not found")));
    }
    let flag = actions::resolve(&state, &ctx, &id, input.action).await?;
    Ok(Json(FlagBody { flag: flag.view() }).into_response())
}
