//! The caller's own state in a channel: hidden, muted, read up to; `/unread`.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use crate::channels::{moderation, Ctx, MembershipView};
use crate::error::ApiError;
use crate::http::common::{names_user, Acting, ApiPath, ApiQuery, OptionalJson};
use crate::http::docs::Errors;
use crate::http::params::{ActingUserQuery, ChannelPath};
use crate::ids::ChannelId;
use crate::messages::{delivered, read};
use crate::state::AppState;

use super::ActingUser;

names_user! {
    read::MarkRead => user_id,
    delivered::MarkDelivered => user_id,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct MembershipBody {
    membership: MembershipView,
}

async fn switch(
    state: AppState,
    ctx: Ctx,
    id: ChannelId,
    switch: moderation::Switch,
) -> Result<Json<MembershipBody>, ApiError> {
    let (channel, membership) = moderation::set_switch(&state.db, &ctx, &id, switch).await?;
    Ok(Json(MembershipBody {
        membership: membership.view(&channel),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/hide",
    tag = "channels",
    summary = "Hide the channel for the caller",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = MembershipBody),
        Errors,
    ),
)]
pub(super) async fn hide(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, ctx, id, moderation::Switch::Hide(true)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/show",
    tag = "channels",
    summary = "Show a hidden channel again",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = MembershipBody),
        Errors,
    ),
)]
pub(super) async fn show_hidden(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, ctx, id, moderation::Switch::Hide(false)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/mute",
    tag = "channels",
    summary = "Mute the channel for the caller",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = MembershipBody),
        Errors,
    ),
)]
pub(super) async fn mute(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, ctx, id, moderation::Switch::Mute(true)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/unmute",
    tag = "channels",
    summary = "Unmute",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = MembershipBody),
        Errors,
    ),
)]
pub(super) async fn unmute(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, ctx, id, moderation::Switch::Mute(false)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/read",
    tag = "read state",
    summary = "Mark read up to a message (default: the latest)",
    request_body(content = Option<read::MarkRead>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = read::ReadMark),
        Errors,
    ),
)]
pub(super) async fn mark_read(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(input)): Acting<OptionalJson<read::MarkRead>>,
) -> Result<impl IntoResponse, ApiError> {
    let marked = crate::actions::messages::mark_read(&state, &ctx, &id, input).await?;
    Ok(Json(marked))
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/delivered",
    tag = "read state",
    summary = "Mark delivered up to a message (default: the latest); never moves back",
    request_body(content = Option<delivered::MarkDelivered>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = delivered::DeliveredMark),
        Errors,
    ),
)]
pub(super) async fn mark_delivered(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(input)): Acting<OptionalJson<delivered::MarkDelivered>>,
) -> Result<impl IntoResponse, ApiError> {
    let marks = [(id, input.message_id)];
    let mut marked = crate::actions::messages::mark_delivered(&state, &ctx, &marks).await?;
    let mark = marked
        .pop()
        .ok_or_else(|| ApiError::Internal("no mark came back".into()))?;
    Ok(Json(mark))
}

#[utoipa::path(
    get,
    path = "/api/v1/unread",
    tag = "read state",
    summary = "Unread counts of all the caller's channels",
    params(
        ActingUserQuery,
    ),
    responses(
        (status = 200, description = "OK", body = read::Unread),
        Errors,
    ),
)]
pub(super) async fn unread(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(read::unread(&state.db, &ctx).await?))
}
