//! `/channels/{id}/members…`, bans and invites: who is in a channel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::actions::channels as actions;
use crate::channels::{self, members, moderation, BanView, Ctx, Member, MemberView, Role};
use crate::error::ApiError;
use crate::http::common::{Acting, ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::http::docs::Errors;
use crate::http::params::{ActingPageQuery, ChannelPath, MemberPath};
use crate::ids::UserId;
use crate::state::AppState;

use super::ActingUser;

/// Members with their users' profiles (one batch read).
async fn shown(
    state: &AppState,
    ctx: &Ctx,
    members: &[Member],
) -> Result<Vec<MemberView>, ApiError> {
    let refs: Vec<&Member> = members.iter().collect();
    channels::with_profiles(&state.db, &ctx.app.app_id, &refs).await
}

async fn member_body(
    state: &AppState,
    ctx: &Ctx,
    member: &Member,
) -> Result<Json<MemberBody>, ApiError> {
    let member = shown(state, ctx, std::slice::from_ref(member))
        .await?
        .pop()
        .ok_or_else(|| ApiError::Internal("a member rendered as nothing".into()))?;
    Ok(Json(MemberBody { member }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct MemberBody {
    member: MemberView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct MemberPage {
    members: Vec<MemberView>,
    next: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct AddedBody {
    /// The members added or invited, with their profiles.
    added: Vec<MemberView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct BanBody {
    ban: BanView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct BanPage {
    bans: Vec<BanView>,
    next: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/members",
    tag = "channels",
    summary = "Members, paginated",
    params(
        ChannelPath,
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = MemberPage),
        Errors,
    ),
)]
pub(super) async fn list_members(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingPageQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let access = channels::load(&state.db, &ctx, &id).await?;
    access.require_read()?;
    let page = members::page(&state.db, &ctx, &id, &query.page.request(true)?).await?;
    let members = shown(&state, &ctx, &page.items).await?;
    Ok(Json(MemberPage {
        members,
        next: page.next,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/members",
    tag = "channels",
    summary = "Add or invite members (owner, admin, server)",
    request_body = members::AddMembers,
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = AddedBody),
        Errors,
    ),
)]
pub(super) async fn add_members(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    ApiJson(body): ApiJson<members::AddMembers>,
) -> Result<impl IntoResponse, ApiError> {
    let added = actions::add_members(&state, &ctx, &id, body).await?;
    let added = shown(&state, &ctx, &added).await?;
    Ok(Json(AddedBody { added }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleBody {
    role: Role,
}

#[utoipa::path(
    patch,
    path = "/api/v1/channels/{id}/members/{user_id}",
    tag = "channels",
    summary = "Change a member's role (owner, server)",
    request_body = RoleBody,
    params(
        MemberPath,
    ),
    responses(
        (status = 200, description = "OK", body = MemberBody),
        Errors,
    ),
)]
pub(super) async fn set_role(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(MemberPath { id, user_id: user }): ApiPath<MemberPath>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<impl IntoResponse, ApiError> {
    let member = actions::set_role(&state, &ctx, &id, &user, body.role).await?;
    member_body(&state, &ctx, &member).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/channels/{id}/members/{user_id}",
    tag = "channels",
    summary = "Remove a member (or oneself)",
    params(
        MemberPath,
    ),
    responses(
        (status = 204, description = "removed"),
        Errors,
    ),
)]
pub(super) async fn remove_member(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(MemberPath { id, user_id: user }): ApiPath<MemberPath>,
) -> Result<impl IntoResponse, ApiError> {
    actions::remove_member(&state, &ctx, &id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/join",
    tag = "channels",
    summary = "Join a public channel",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = MemberBody),
        Errors,
    ),
)]
pub(super) async fn join(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    let member = actions::join(&state, &ctx, &id).await?;
    member_body(&state, &ctx, &member).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/leave",
    tag = "channels",
    summary = "Leave a channel",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 204, description = "left"),
        Errors,
    ),
)]
pub(super) async fn leave(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    actions::leave(&state, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/bans",
    tag = "channels",
    summary = "Ban a user (optionally timed or shadow)",
    request_body = moderation::BanInput,
    params(
        ChannelPath,
    ),
    responses(
        (status = 201, description = "banned", body = BanBody),
        Errors,
    ),
)]
pub(super) async fn ban(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    ApiJson(input): ApiJson<moderation::BanInput>,
) -> Result<impl IntoResponse, ApiError> {
    let ban = moderation::ban(&state.db, &ctx, &id, input).await?;
    Ok((StatusCode::CREATED, Json(BanBody { ban: ban.view() })))
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/bans",
    tag = "channels",
    summary = "Bans in force (owner, admin, server), paginated",
    params(
        ChannelPath,
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = BanPage),
        Errors,
    ),
)]
pub(super) async fn list_bans(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingPageQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let page = moderation::bans(&state.db, &ctx, &id, &query.page.request(true)?).await?;
    let ids: Vec<UserId> = page.items.iter().map(|b| b.user_id.clone()).collect();
    let users = crate::users::get_users(&state.db, &ctx.app.app_id, &ids).await?;
    let bans = page
        .items
        .iter()
        .map(|ban| {
            let mut view = ban.view();
            let user = users.iter().find(|u| u.id == ban.user_id);
            view.user = Some(crate::users::identity(&ban.user_id, user));
            view
        })
        .collect();
    Ok(Json(BanPage {
        bans,
        next: page.next,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/channels/{id}/bans/{user_id}",
    tag = "channels",
    summary = "Lift a ban",
    params(
        MemberPath,
    ),
    responses(
        (status = 204, description = "lifted"),
        Errors,
    ),
)]
pub(super) async fn unban(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(MemberPath { id, user_id: user }): ApiPath<MemberPath>,
) -> Result<impl IntoResponse, ApiError> {
    moderation::unban(&state.db, &ctx, &id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/invites/accept",
    tag = "channels",
    summary = "Accept a pending invite",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 200, description = "OK", body = MemberBody),
        Errors,
    ),
)]
pub(super) async fn accept_invite(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    let member = actions::accept_invite(&state, &ctx, &id).await?;
    member_body(&state, &ctx, &member).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/invites/reject",
    tag = "channels",
    summary = "Reject a pending invite",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ChannelPath,
    ),
    responses(
        (status = 204, description = "rejected"),
        Errors,
    ),
)]
pub(super) async fn reject_invite(
    State(state): State<AppState>,
    ApiPath(ChannelPath { id }): ApiPath<ChannelPath>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    actions::reject_invite(&state, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
