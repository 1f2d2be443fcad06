//! `/api/v1/channels...`: the channels function's routes. Here the channel
//! itself (create, list, show, change, freeze, truncate); its members, bans
//! and invites in [`members`], the caller's own state in it in
//! [`membership`], drafts in [`drafts`]. Handlers parse and render; the
//! actions and the channels domain check permissions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{finish, names_user, Acting, ApiJson, ApiPath, ApiQuery, PageParams};
use super::docs::Errors;
use super::params::{ActingPageQuery, ActingUserQuery, ChannelPath};
use crate::actions::channels as actions;
use crate::channels::{self, listing, service, ChannelType, ChannelView, Ctx};
use crate::error::ApiError;
use crate::ids::{ChannelId, UserId};
use crate::state::AppState;

mod drafts;
mod members;
mod membership;

names_user! {
    service::CreateChannel => user_id,
    ListQuery => user_id,
    service::ChannelPatch => user_id,
    ActingUser => user_id,
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
        .merge(super::moderation::api())
        .routes(routes!(create, list))
        .routes(routes!(show, update, remove))
        .routes(routes!(members::list_members, members::add_members))
        .routes(routes!(members::set_role, members::remove_member))
        .routes(routes!(members::join))
        .routes(routes!(members::leave))
        .routes(routes!(freeze))
        .routes(routes!(unfreeze))
        .routes(routes!(truncate))
        .routes(routes!(membership::hide))
        .routes(routes!(membership::show_hidden))
        .routes(routes!(membership::mute))
        .routes(routes!(membership::unmute))
        .routes(routes!(members::ban, members::list_bans))
        .routes(routes!(members::unban))
        .routes(routes!(members::accept_invite))
        .routes(routes!(members::reject_invite))
        .routes(routes!(membership::mark_read))
        .routes(routes!(membership::mark_delivered))
        .routes(routes!(
            drafts::get_draft,
            drafts::put_draft,
            drafts::delete_draft
        ))
        .routes(routes!(drafts::list_drafts))
        .routes(routes!(membership::unread))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChannelBody {
    channel: ChannelView,
}

/// `user_id` naming the acting user, for server tokens.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ActingUser {
    user_id: Option<UserId>,
}

#[utoipa::path(
    post,
    path = "/api/v1/channels",
    tag = "channels",
    summary = "Create a channel (200 with the existing one for a distinct member set)",
    request_body = service::CreateChannel,
    responses(
        (status = 201, description = "created", body = service::ChannelDetail),
        (status = 200, description = "the existing distinct channel", body = service::ChannelDetail),
        Errors,
    ),
)]
async fn create(
    State(state): State<AppState>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<service::CreateChannel>>,
) -> Result<impl IntoResponse, ApiError> {
    let (channel, created) = actions::create(&state, &ctx, input).await?;
    let access = channels::load(&state.db, &ctx, &channel.id).await?;
    let body = service::detail(&state.db, &ctx, &access).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    kind: Option<ChannelType>,
    user_id: Option<UserId>,
    #[serde(flatten)]
    page: PageParams,
}

#[utoipa::path(
    get,
    path = "/api/v1/channels",
    tag = "channels",
    summary = "The caller's channels, last activity first, with unread counts",
    params(
        ("type" = Option<ChannelType>, Query, description = "direct, group or public"),
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = listing::ChannelPage),
        Errors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ListQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let request = query.page.request(true)?;
    let body = listing::my_channels(
        &state.db,
        &ctx,
        listing::ListOptions {
            kind: query.kind,
            limit: usize::try_from(request.limit).unwrap_or(25),
            cursor: request.cursor,
        },
    )
    .await?;
    Ok(Json(body))
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}",
    tag = "channels",
    summary = "A channel with its first members and the caller's membership",
    params(
        ChannelPath,
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "OK", body = service::ChannelDetail),
        Errors,
    ),
)]
async fn show(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let access = channels::load(&state.db, &ctx, &id).await?;
    access.require_view()?;
    Ok(Json(service::detail(&state.db, &ctx, &access).await?))
}

#[utoipa::path(
    patch,
    path = "/api/v1/channels/{id}",
    tag = "channels",
    summary = "Update a channel (owner, admin, server)",
    request_body = service::ChannelPatch,
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = ChannelBody),
        Errors,
    ),
)]
async fn update(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiJson(patch)): Acting<ApiJson<service::ChannelPatch>>,
) -> Result<impl IntoResponse, ApiError> {
    let channel = actions::update(&state, &ctx, &id, patch).await?;
    Ok(Json(ChannelBody {
        channel: channel.view(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/channels/{id}",
    tag = "channels",
    summary = "Delete a channel (owner, server)",
    params(
        ChannelPath,
        ActingUserQuery,
    ),
    responses(
        (status = 204, description = "deleted"),
        Errors,
    ),
)]
async fn remove(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    actions::delete(&state, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn frozen(
    state: AppState,
    ctx: Ctx,
    id: ChannelId,
    value: bool,
) -> Result<Json<ChannelBody>, ApiError> {
    let channel = actions::set_frozen(&state, &ctx, &id, value).await?;
    Ok(Json(ChannelBody {
        channel: channel.view(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/freeze",
    tag = "channels",
    summary = "Freeze: no messages or reactions",
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = ChannelBody),
        Errors,
    ),
)]
async fn freeze(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
) -> Result<impl IntoResponse, ApiError> {
    frozen(state, ctx, id, true).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/unfreeze",
    tag = "channels",
    summary = "Unfreeze",
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = ChannelBody),
        Errors,
    ),
)]
async fn unfreeze(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
) -> Result<impl IntoResponse, ApiError> {
    frozen(state, ctx, id, false).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/truncate",
    tag = "channels",
    summary = "Hide all history before now",
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = ChannelBody),
        Errors,
    ),
)]
async fn truncate(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
) -> Result<impl IntoResponse, ApiError> {
    let channel = actions::truncate(&state, &ctx, &id).await?;
    Ok(Json(ChannelBody {
        channel: channel.view(),
    }))
}
