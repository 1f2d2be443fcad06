//! `/api/v1/channels...`: the channels function's routes (channels, members,
//! moderation, per-member switches). Handlers build the acting context, then
//! call the channels domain, which checks permissions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::common::{finish, ApiJson, ApiPath, ApiQuery, OptionalJson, PageParams};
use crate::auth::Caller;
use crate::channels::{
    self, listing, members, moderation, service, ChannelType, Ctx, Member, Role,
};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::messages::{drafts, read, Draft};
use crate::realtime::publish;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    finish(routes(state))
}

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/channels", post(create).get(list))
        .route(
            "/api/v1/channels/{id}",
            get(show).patch(update).delete(remove),
        )
        .route(
            "/api/v1/channels/{id}/members",
            get(list_members).post(add_members),
        )
        .route(
            "/api/v1/channels/{id}/members/{user_id}",
            patch(set_role).delete(remove_member),
        )
        .route("/api/v1/channels/{id}/join", post(join))
        .route("/api/v1/channels/{id}/leave", post(leave))
        .route("/api/v1/channels/{id}/freeze", post(freeze))
        .route("/api/v1/channels/{id}/unfreeze", post(unfreeze))
        .route("/api/v1/channels/{id}/truncate", post(truncate))
        .route("/api/v1/channels/{id}/hide", post(hide))
        .route("/api/v1/channels/{id}/show", post(show_hidden))
        .route("/api/v1/channels/{id}/mute", post(mute))
        .route("/api/v1/channels/{id}/unmute", post(unmute))
        .route("/api/v1/channels/{id}/bans", post(ban))
        .route("/api/v1/channels/{id}/bans/{user_id}", delete(unban))
        .route("/api/v1/channels/{id}/invites/accept", post(accept_invite))
        .route("/api/v1/channels/{id}/invites/reject", post(reject_invite))
        .route("/api/v1/channels/{id}/read", post(mark_read))
        .route(
            "/api/v1/channels/{id}/draft",
            get(get_draft).put(put_draft).delete(delete_draft),
        )
        .route("/api/v1/drafts", get(list_drafts))
        .route("/api/v1/unread", get(unread))
        .with_state(state)
}

/// `user_id` naming the acting user, for server tokens.
#[derive(Debug, Default, Deserialize)]
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

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<service::CreateChannel>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, input.user_id.as_ref())?;
    let (channel, created) = service::create(&state.db, &ctx, input).await?;
    let access = channels::load(&state.db, &ctx, &channel.id).await?;
    let body = service::detail(&state.db, &ctx, &access).await?;
    if created {
        let all = members::page(
            &state.db,
            &ctx,
            &channel.id,
            &crate::db::PageRequest {
                limit: 100,
                cursor: None,
                forward: true,
            },
        )
        .await?;
        let users: Vec<UserId> = all.items.into_iter().map(|m| m.user_id).collect();
        publish::added_to_channel(&state, &ctx, &channel, &users).await;
    }
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

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
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

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    let access = channels::load(&state.db, &ctx, &id).await?;
    access.require_read()?;
    Ok(Json(service::detail(&state.db, &ctx, &access).await?))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(patch): ApiJson<service::ChannelPatch>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, patch.user_id.as_ref())?;
    let channel = service::update(&state.db, &ctx, &id, patch).await?;
    publish::channel(&state, &ctx, "channel.updated", &channel).await;
    Ok(Json(json!({ "channel": channel.view() })))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiQuery(acting): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    let former = service::delete(&state.db, &ctx, &id).await?;
    publish::channel_deleted(&state, &ctx, &id, &former).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    let access = channels::load(&state.db, &ctx, &id).await?;
    access.require_read()?;
    let page = members::page(&state.db, &ctx, &id, &query.page.request(true)?).await?;
    let views: Vec<_> = page.items.iter().map(Member::view).collect();
    Ok(Json(json!({ "members": views, "next": page.next })))
}

async fn add_members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(body): ApiJson<members::AddMembers>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, None)?;
    let access = channels::load(&state.db, &ctx, &id).await?;
    let added = members::add(&state.db, &ctx, &access, body).await?;
    publish::members(&state, &ctx, "member.added", &id, &added).await;
    let users: Vec<UserId> = added.iter().map(|m| m.user_id.clone()).collect();
    publish::added_to_channel(&state, &ctx, &access.channel, &users).await;
    let views: Vec<_> = added.iter().map(Member::view).collect();
    Ok(Json(json!({ "added": views })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Role,
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, user)): ApiPath<(ChannelId, UserId)>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, None)?;
    let access = channels::load(&state.db, &ctx, &id).await?;
    let member = members::set_role(&state.db, &ctx, &access, &user, body.role).await?;
    publish::members(
        &state,
        &ctx,
        "member.updated",
        &id,
        std::slice::from_ref(&member),
    )
    .await;
    Ok(Json(json!({ "member": member.view() })))
}

async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, user)): ApiPath<(ChannelId, UserId)>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, None)?;
    let access = channels::load(&state.db, &ctx, &id).await?;
    members::remove(&state.db, &ctx, &access, &user).await?;
    publish::member_removed(&state, &ctx, &id, &user).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn join(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    let (member, joined) = members::join(&state.db, &ctx, &id).await?;
    if joined {
        publish::members(
            &state,
            &ctx,
            "member.added",
            &id,
            std::slice::from_ref(&member),
        )
        .await;
    }
    Ok(Json(json!({ "member": member.view() })))
}

async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    members::leave(&state.db, &ctx, &id).await?;
    if let Some(user) = &ctx.user {
        publish::member_removed(&state, &ctx, &id, user).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn frozen(
    state: AppState,
    caller: Caller,
    id: ChannelId,
    value: bool,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ctx = Ctx::new(&caller, None)?;
    let channel = moderation::set_frozen(&state.db, &ctx, &id, value).await?;
    let kind = if value {
        "channel.frozen"
    } else {
        "channel.unfrozen"
    };
    publish::channel(&state, &ctx, kind, &channel).await;
    Ok(Json(json!({ "channel": channel.view() })))
}

async fn freeze(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<impl IntoResponse, ApiError> {
    frozen(state, caller, id, true).await
}

async fn unfreeze(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<impl IntoResponse, ApiError> {
    frozen(state, caller, id, false).await
}

async fn truncate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, None)?;
    let channel = moderation::truncate(&state.db, &ctx, &id).await?;
    publish::channel(&state, &ctx, "channel.truncated", &channel).await;
    Ok(Json(json!({ "channel": channel.view() })))
}

async fn switch(
    state: AppState,
    caller: Caller,
    id: ChannelId,
    acting: ActingUser,
    switch: moderation::Switch,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    let (channel, membership) = moderation::set_switch(&state.db, &ctx, &id, switch).await?;
    Ok(Json(json!({ "membership": membership.view(&channel) })))
}

async fn hide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, caller, id, acting, moderation::Switch::Hide(true)).await
}

async fn show_hidden(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, caller, id, acting, moderation::Switch::Hide(false)).await
}

async fn mute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, caller, id, acting, moderation::Switch::Mute(true)).await
}

async fn unmute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    switch(state, caller, id, acting, moderation::Switch::Mute(false)).await
}

async fn ban(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(input): ApiJson<moderation::BanInput>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, None)?;
    let ban = moderation::ban(&state.db, &ctx, &id, input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "ban": ban.view() }))))
}

async fn unban(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, user)): ApiPath<(ChannelId, UserId)>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, None)?;
    moderation::unban(&state.db, &ctx, &id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn accept_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    let member = members::accept_invite(&state.db, &ctx, &id).await?;
    publish::members(
        &state,
        &ctx,
        "member.updated",
        &id,
        std::slice::from_ref(&member),
    )
    .await;
    Ok(Json(json!({ "member": member.view() })))
}

async fn reject_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(acting): OptionalJson<ActingUser>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    members::reject_invite(&state.db, &ctx, &id).await?;
    if let Some(user) = &ctx.user {
        publish::member_removed(&state, &ctx, &id, user).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    OptionalJson(input): OptionalJson<read::MarkRead>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, input.user_id.as_ref())?;
    let result = read::mark_read(&state.db, &ctx, &id, input).await?;
    if let Some(user) = &ctx.user {
        publish::read(&state, &ctx, &id, user, &result["last_read_message_id"]).await;
    }
    Ok(Json(result))
}

#[derive(Debug, Default, Deserialize)]
struct DraftQuery {
    parent_id: Option<MessageId>,
    user_id: Option<UserId>,
}

async fn get_draft(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiQuery(query): ApiQuery<DraftQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    let draft = drafts::get(&state.db, &ctx, &id, query.parent_id.as_ref()).await?;
    Ok(Json(json!({ "draft": draft.view() })))
}

async fn put_draft(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(input): ApiJson<drafts::DraftInput>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, input.user_id.as_ref())?;
    let draft = drafts::put(&state.db, &ctx, &id, input).await?;
    Ok(Json(json!({ "draft": draft.view() })))
}

async fn delete_draft(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiQuery(query): ApiQuery<DraftQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    drafts::delete(&state.db, &ctx, &id, query.parent_id.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_drafts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, query.user_id.as_ref())?;
    let page = drafts::list(&state.db, &ctx, &query.page.request(true)?).await?;
    let views: Vec<_> = page.items.iter().map(Draft::view).collect();
    Ok(Json(json!({ "drafts": views, "next": page.next })))
}

async fn unread(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(acting): ApiQuery<ActingQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = Ctx::new(&caller, acting.user_id.as_ref())?;
    Ok(Json(read::unread(&state.db, &ctx).await?))
}
