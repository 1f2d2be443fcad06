//! `/api/v1/channels...`: the channels function's routes (channels, members,
//! moderation, per-member switches). Handlers build the acting context, then
//! call the channels domain, which checks permissions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{
    finish, names_user, Acting, ApiJson, ApiPath, ApiQuery, OptionalJson, PageParams,
};
use super::docs::Errors;
use crate::actions::channels as actions;
use crate::auth::Caller;
use crate::channels::{
    self, listing, members, moderation, service, BanView, ChannelType, ChannelView, Ctx, Member,
    MemberView, MembershipView, Role,
};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::messages::{drafts, read, Draft, DraftView};
use crate::state::AppState;

names_user! {
    service::CreateChannel => user_id,
    ListQuery => user_id,
    ActingQuery => user_id,
    service::ChannelPatch => user_id,
    ActingUser => user_id,
    read::MarkRead => user_id,
    DraftQuery => user_id,
    drafts::DraftInput => user_id,
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
        .routes(routes!(list_members, add_members))
        .routes(routes!(set_role, remove_member))
        .routes(routes!(join))
        .routes(routes!(leave))
        .routes(routes!(freeze))
        .routes(routes!(unfreeze))
        .routes(routes!(truncate))
        .routes(routes!(hide))
        .routes(routes!(show_hidden))
        .routes(routes!(mute))
        .routes(routes!(unmute))
        .routes(routes!(ban, list_bans))
        .routes(routes!(unban))
        .routes(routes!(accept_invite))
        .routes(routes!(reject_invite))
        .routes(routes!(mark_read))
        .routes(routes!(get_draft, put_draft, delete_draft))
        .routes(routes!(list_drafts))
        .routes(routes!(unread))
}

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
struct ChannelBody {
    channel: ChannelView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MemberBody {
    member: MemberView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MemberPage {
    members: Vec<MemberView>,
    next: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AddedBody {
    /// The members added or invited, with their profiles.
    added: Vec<MemberView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MembershipBody {
    membership: MembershipView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BanBody {
    ban: BanView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BanPage {
    bans: Vec<BanView>,
    next: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DraftBody {
    draft: DraftView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DraftPage {
    drafts: Vec<DraftView>,
    next: Option<String>,
}

/// `user_id` naming the acting user, for server tokens.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ActingUser {
    user_id: Option<UserId>,
}

#[derive(Debug, Default, Deserialize)]
struct ActingQuery {
    user_id: Option<UserId>,
    #[serde(flatten)]
    page: PageParams,
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
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
        ("limit" = Option<u32>, Query, description = "1-100, default 25"),
        ("next" = Option<String>, Query, description = "cursor from the previous page"),
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
        ("id" = String, Path, description = "channel id"),
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
    ),
    responses(
        (status = 200, description = "OK", body = service::ChannelDetail),
        Errors,
    ),
)]
async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingQuery>>,
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = ChannelBody),
        Errors,
    ),
)]
async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
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
        ("id" = String, Path, description = "channel id"),
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
    ),
    responses(
        (status = 204, description = "deleted"),
        Errors,
    ),
)]
async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    actions::delete(&state, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/members",
    tag = "channels",
    summary = "Members, paginated",
    params(
        ("id" = String, Path, description = "channel id"),
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
        ("limit" = Option<u32>, Query, description = "1-100, default 25"),
        ("next" = Option<String>, Query, description = "cursor from the previous page"),
    ),
    responses(
        (status = 200, description = "OK", body = MemberPage),
        Errors,
    ),
)]
async fn list_members(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingQuery>>,
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = AddedBody),
        Errors,
    ),
)]
async fn add_members(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(body): ApiJson<members::AddMembers>,
) -> Result<impl IntoResponse, ApiError> {
    let added = actions::add_members(&state, &ctx, &id, body).await?;
    let added = shown(&state, &ctx, &added).await?;
    Ok(Json(AddedBody { added }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Role,
}

#[utoipa::path(
    patch,
    path = "/api/v1/channels/{id}/members/{user_id}",
    tag = "channels",
    summary = "Change a member's role (owner, server)",
    request_body = RoleBody,
    params(
        ("id" = String, Path, description = "channel id"),
        ("user_id" = String, Path, description = "member's user id"),
    ),
    responses(
        (status = 200, description = "OK", body = MemberBody),
        Errors,
    ),
)]
async fn set_role(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath((id, user)): ApiPath<(ChannelId, UserId)>,
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
        ("id" = String, Path, description = "channel id"),
        ("user_id" = String, Path, description = "member's user id"),
    ),
    responses(
        (status = 204, description = "removed"),
        Errors,
    ),
)]
async fn remove_member(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath((id, user)): ApiPath<(ChannelId, UserId)>,
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = MemberBody),
        Errors,
    ),
)]
async fn join(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 204, description = "left"),
        Errors,
    ),
)]
async fn leave(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    actions::leave(&state, &ctx, &id).await?;
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = ChannelBody),
        Errors,
    ),
)]
async fn freeze(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<impl IntoResponse, ApiError> {
    frozen(state, ctx, id, true).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/unfreeze",
    tag = "channels",
    summary = "Unfreeze",
    params(
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = ChannelBody),
        Errors,
    ),
)]
async fn unfreeze(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<impl IntoResponse, ApiError> {
    frozen(state, ctx, id, false).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/truncate",
    tag = "channels",
    summary = "Hide all history before now",
    params(
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = ChannelBody),
        Errors,
    ),
)]
async fn truncate(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<impl IntoResponse, ApiError> {
    let channel = actions::truncate(&state, &ctx, &id).await?;
    Ok(Json(ChannelBody {
        channel: channel.view(),
    }))
}

async fn switch(
    state: AppState,
    caller: Caller,
    id: ChannelId,
    acting: ActingUser,
    switch: moderation::Switch,
) -> Result<Json<MembershipBody>, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = MembershipBody),
        Errors,
    ),
)]
async fn hide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, caller, id, acting, moderation::Switch::Hide(true)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/show",
    tag = "channels",
    summary = "Show a hidden channel again",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = MembershipBody),
        Errors,
    ),
)]
async fn show_hidden(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, caller, id, acting, moderation::Switch::Hide(false)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/mute",
    tag = "channels",
    summary = "Mute the channel for the caller",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = MembershipBody),
        Errors,
    ),
)]
async fn mute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, caller, id, acting, moderation::Switch::Mute(true)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/unmute",
    tag = "channels",
    summary = "Unmute",
    request_body(content = Option<ActingUser>, description = "optional"),
    params(
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = MembershipBody),
        Errors,
    ),
)]
async fn unmute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, caller, id, acting, moderation::Switch::Mute(false)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/bans",
    tag = "channels",
    summary = "Ban a user (optionally timed or shadow)",
    request_body = moderation::BanInput,
    params(
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 201, description = "banned", body = BanBody),
        Errors,
    ),
)]
async fn ban(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath(id): ApiPath<ChannelId>,
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
        ("id" = String, Path, description = "channel id"),
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
        ("limit" = Option<u32>, Query, description = "1-100, default 25"),
        ("next" = Option<String>, Query, description = "cursor from the previous page"),
    ),
    responses(
        (status = 200, description = "OK", body = BanPage),
        Errors,
    ),
)]
async fn list_bans(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingQuery>>,
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
        ("id" = String, Path, description = "channel id"),
        ("user_id" = String, Path, description = "member's user id"),
    ),
    responses(
        (status = 204, description = "lifted"),
        Errors,
    ),
)]
async fn unban(
    State(state): State<AppState>,
    Acting(ctx, ()): Acting<()>,
    ApiPath((id, user)): ApiPath<(ChannelId, UserId)>,
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = MemberBody),
        Errors,
    ),
)]
async fn accept_invite(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 204, description = "rejected"),
        Errors,
    ),
)]
async fn reject_invite(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
    Acting(ctx, OptionalJson(_)): Acting<OptionalJson<ActingUser>>,
) -> Result<impl IntoResponse, ApiError> {
    actions::reject_invite(&state, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/read",
    tag = "read state",
    summary = "Mark read up to a message (default: the latest)",
    request_body(content = Option<read::MarkRead>, description = "optional"),
    params(
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = read::ReadMark),
        Errors,
    ),
)]
async fn mark_read(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
    Acting(ctx, OptionalJson(input)): Acting<OptionalJson<read::MarkRead>>,
) -> Result<impl IntoResponse, ApiError> {
    let marked = crate::actions::messages::mark_read(&state, &ctx, &id, input).await?;
    Ok(Json(marked))
}

#[derive(Debug, Default, Deserialize)]
struct DraftQuery {
    parent_id: Option<MessageId>,
    user_id: Option<UserId>,
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/draft",
    tag = "drafts",
    summary = "The caller's draft in a channel or thread",
    params(
        ("id" = String, Path, description = "channel id"),
        ("parent_id" = Option<String>, Query, description = "thread parent"),
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
    ),
    responses(
        (status = 200, description = "OK", body = DraftBody),
        Errors,
    ),
)]
async fn get_draft(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
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
        ("id" = String, Path, description = "channel id"),
    ),
    responses(
        (status = 200, description = "OK", body = DraftBody),
        Errors,
    ),
)]
async fn put_draft(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
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
        ("id" = String, Path, description = "channel id"),
        ("parent_id" = Option<String>, Query, description = "thread parent"),
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
    ),
    responses(
        (status = 204, description = "deleted"),
        Errors,
    ),
)]
async fn delete_draft(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
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
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
        ("limit" = Option<u32>, Query, description = "1-100, default 25"),
        ("next" = Option<String>, Query, description = "cursor from the previous page"),
    ),
    responses(
        (status = 200, description = "OK", body = DraftPage),
        Errors,
    ),
)]
async fn list_drafts(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ActingQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let page = drafts::list(&state.db, &ctx, &query.page.request(true)?).await?;
    Ok(Json(DraftPage {
        drafts: page.items.iter().map(Draft::view).collect(),
        next: page.next,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/unread",
    tag = "read state",
    summary = "Unread counts of all the caller's channels",
    params(
        ("user_id" = Option<String>, Query, description = "with a server token: the acting user"),
    ),
    responses(
        (status = 200, description = "OK", body = read::Unread),
        Errors,
    ),
)]
async fn unread(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(read::unread(&state.db, &ctx).await?))
}
