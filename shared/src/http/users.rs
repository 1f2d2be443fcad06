//! `/api/v1/users...`, `/api/v1/devices...` and `/api/v1/health`: the users
//! function's routes. Handlers check permission, then call the domain.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{finish, ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::docs::Errors;
use super::params::{ActingPageQuery, ActingUserQuery, UserPath};
use crate::auth::{self, Caller};
use crate::devices::{self, DeviceInput, DeviceView};
use crate::error::ApiError;
use crate::ids::{DeviceId, UserId};
use crate::realtime::{presence, sessions};
use crate::state::AppState;
use crate::users::{self, Profile, UserPatch, UserView};

/// The users function's router, ready to serve.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    finish(routes(state), &config)
}

/// The routes alone, for merging with other groups; with the whole API's
/// OpenAPI document, so a deployment serves it too.
pub fn routes(state: AppState) -> Router {
    api()
        .split_for_parts()
        .0
        .route("/api/v1/openapi.json", axum::routing::get(openapi_document))
        .route(
            "/api/v1/asyncapi.json",
            axum::routing::get(asyncapi_document),
        )
        .with_state(state)
}

/// The document as generated into `docs/openapi.json` (a test keeps it
/// current): building it here would link every group's handlers into this
/// function.
async fn openapi_document() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../../../docs/openapi.json"),
    )
}

/// The WebSocket protocol's AsyncAPI document, as generated into
/// `docs/asyncapi.json` (a test keeps it current).
async fn asyncapi_document() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../../../docs/asyncapi.json"),
    )
}

/// The routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(super::application::api())
        .routes(routes!(health))
        .routes(routes!(upsert_users, list_users))
        .routes(routes!(get_user, patch_user, erase_user))
        .routes(routes!(erasure_progress))
        .routes(routes!(export_user))
        .routes(routes!(deactivate))
        .routes(routes!(reactivate))
        .routes(routes!(mint_token))
        .routes(routes!(revoke_tokens))
        .routes(routes!(register_device, list_devices))
        .routes(routes!(delete_device))
        .merge(super::blocks::api())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct HealthBody {
    /// `ok`.
    status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UsersBody<'a> {
    users: Vec<UserView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UserBody<'a> {
    user: UserView<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenIssued {
    user_id: UserId,
    token: String,
    /// Absent for a token without expiry.
    expires_at: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokensRevoked {
    user_id: UserId,
    /// Tokens issued before this instant are refused.
    tokens_revoked_at: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeviceBody<'a> {
    device: DeviceView<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DevicePage<'a> {
    devices: Vec<DeviceView<'a>>,
    next: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "health",
    summary = "Liveness, no auth",
    responses(
        (status = 200, description = "OK", body = HealthBody),
        Errors,
    ),
)]
async fn health() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpsertBody {
    users: Vec<Profile>,
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    summary = "Create or replace up to 100 users (server token)",
    request_body = UpsertBody,
    responses(
        (status = 200, description = "the users as stored", body = UsersBody),
        Errors,
    ),
)]
#[tracing::instrument(skip_all, fields(app = %caller.app.app_id))]
async fn upsert_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UpsertBody>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    let users = users::upsert_users(&state.db, &caller.app, body.users).await?;
    let views: Vec<_> = users.iter().map(|u| u.view()).collect();
    Ok(Json(UsersBody { users: views }).into_response())
}

#[derive(Deserialize)]
struct ListUsersQuery {
    ids: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    summary = "Users by id",
    params(
        ("ids" = String, Query, description = "comma-separated, up to 100"),
    ),
    responses(
        (status = 200, description = "OK", body = UsersBody),
        Errors,
    ),
)]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListUsersQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let raw = query
        .ids
        .filter(|ids| !ids.trim().is_empty())
        .ok_or_else(|| {
            ApiError::validation("ids is required: a comma-separated list of user ids")
        })?;
    let mut ids = Vec::new();
    for id in raw.split(',').map(str::trim) {
        let id = UserId::parse(id)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > users::MAX_UPSERT {
        return Err(ApiError::validation(format!(
            "at most {} ids per request",
            users::MAX_UPSERT
        )));
    }
    let found = users::get_users(&state.db, &caller.app.app_id, &ids).await?;
    let visible = presence_visible(&state, &caller, &ids).await?;
    let views: Vec<_> = found
        .iter()
        .map(|u| {
            let view = match &visible {
                Some(visible) if !visible.contains(&u.id) => u.view().without_presence(),
                _ => u.view(),
            };
            for_caller(&caller, view)
        })
        .collect();
    Ok(Json(UsersBody { users: views }).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "One user",
    params(
        UserPath,
    ),
    responses(
        (status = 200, description = "OK", body = UserBody),
        Errors,
    ),
)]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
) -> Result<impl IntoResponse, ApiError> {
    let user = users::require_user(&state.db, &caller.app.app_id, &id).await?;
    let visible = presence_visible(&state, &caller, std::slice::from_ref(&id)).await?;
    let view = match visible {
        Some(visible) if !visible.contains(&id) => user.view().without_presence(),
        _ => user.view(),
    };
    Ok(Json(UserBody {
        user: for_caller(&caller, view),
    })
    .into_response())
}

/// Another user's settings are not shown to a user token.
fn for_caller<'a>(caller: &Caller, view: users::UserView<'a>) -> users::UserView<'a> {
    match &caller.actor {
        auth::Actor::User(me) if me != view.id => view.without_settings(),
        _ => view,
    }
}

/// Whose presence a user token may see among `ids` (`None`: a server token
/// sees everyone's). The socket's rule: presence reaches channel peers only.
async fn presence_visible(
    state: &AppState,
    caller: &Caller,
    ids: &[UserId],
) -> Result<Option<std::collections::BTreeSet<UserId>>, ApiError> {
    match &caller.actor {
        auth::Actor::Server => Ok(None),
        auth::Actor::User(me) => presence::visible_to(&state.db, &caller.app.app_id, me, ids)
            .await
            .map(Some),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Set and unset profile fields (self or server)",
    request_body = UserPatch,
    params(
        UserPath,
    ),
    responses(
        (status = 200, description = "OK", body = UserBody),
        Errors,
    ),
)]
async fn patch_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<impl IntoResponse, ApiError> {
    if !caller.is_self_or_server(&id) {
        return Err(ApiError::forbidden(
            "a user may only change their own profile",
        ));
    }
    let user = users::patch_user(&state.db, &caller.app, &id, patch, caller.is_server()).await?;
    Ok(Json(UserBody { user: user.view() }).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeletionBody<'a> {
    deletion: crate::erasure::ErasureView<'a>,
}

#[derive(Debug, Default, Deserialize)]
struct EraseQuery {
    hard: Option<bool>,
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Erase a user (server): deactivated at once, then their messages (soft-deleted, or removed with \
        hard=true), reactions, memberships, devices, drafts and profile are removed by a background job; 202 with \
        its progress (asking again returns the same job)",
    params(
        UserPath,
        ("hard" = Option<bool>, Query, description = "remove their messages instead of leaving deleted placeholders"),
    ),
    responses(
        (status = 202, description = "erasing", body = DeletionBody),
        Errors,
    ),
)]
async fn erase_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
    ApiQuery(query): ApiQuery<EraseQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    let (erasure, started) =
        crate::erasure::start(&state, &caller.app.app_id, &id, query.hard.unwrap_or(false)).await?;
    tracing::info!(user = %id, started, "erase user");
    Ok((
        StatusCode::ACCEPTED,
        Json(DeletionBody {
            deletion: erasure.view(),
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/deletion",
    tag = "users",
    summary = "How far a user's erasure is (server)",
    params(
        UserPath,
    ),
    responses(
        (status = 200, description = "OK", body = DeletionBody),
        Errors,
    ),
)]
async fn erasure_progress(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    let erasure = crate::erasure::progress(&state.db, &caller.app.app_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no erasure of {id}")))?;
    Ok(Json(DeletionBody {
        deletion: erasure.view(),
    })
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
struct ExportQuery {
    next: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/export",
    tag = "users",
    summary = "Everything stored about a user, page by page (the server, or the user themself): the first page has \
        their profile, devices, memberships, channels left and drafts; the next pages their messages and reactions, \
        channel by channel",
    params(
        UserPath,
        ("next" = Option<String>, Query, description = "cursor from the previous page"),
    ),
    responses(
        (status = 200, description = "OK", body = crate::export::ExportPage),
        Errors,
    ),
)]
async fn export_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    if let auth::Actor::User(me) = &caller.actor {
        if *me != id {
            return Err(ApiError::forbidden(
                "a user exports only themself; the server exports anyone",
            ));
        }
    }
    crate::export::page(
        &state.db,
        &caller.app.app_id,
        &id,
        query.next.as_deref(),
        |page| Json(page).into_response(),
    )
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/deactivate",
    tag = "users",
    summary = "Deactivate a user (server)",
    params(
        UserPath,
    ),
    responses(
        (status = 200, description = "OK", body = UserBody),
        Errors,
    ),
)]
async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    let user = users::set_deactivated(&state.db, &caller.app.app_id, &id, true).await?;
    sessions::end_user(&state, &caller.app.app_id, &user).await;
    Ok(Json(UserBody { user: user.view() }).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/reactivate",
    tag = "users",
    summary = "Reactivate a user (server)",
    params(
        UserPath,
    ),
    responses(
        (status = 200, description = "OK", body = UserBody),
        Errors,
    ),
)]
async fn reactivate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    if crate::erasure::progress(&state.db, &caller.app.app_id, &id)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            "this user is being (or was) erased; they cannot be reactivated",
        ));
    }
    let user = users::set_deactivated(&state.db, &caller.app.app_id, &id, false).await?;
    Ok(Json(UserBody { user: user.view() }).into_response())
}

/// Ten years: longer-lived tokens should simply have no expiry.
const MAX_TOKEN_SECONDS: i64 = 10 * 365 * 24 * 3600;

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    expires_in: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/token",
    tag = "users",
    summary = "Mint a user token (server)",
    request_body(content = Option<TokenBody>, description = "optional"),
    params(
        UserPath,
    ),
    responses(
        (status = 200, description = "OK", body = TokenIssued),
        Errors,
    ),
)]
async fn mint_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
    OptionalJson(body): OptionalJson<TokenBody>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    if let Some(secs) = body.expires_in {
        if !(1..=MAX_TOKEN_SECONDS).contains(&secs) {
            return Err(ApiError::validation(format!(
                "expires_in must be between 1 and {MAX_TOKEN_SECONDS} seconds"
            )));
        }
    }
    let user = users::require_user(&state.db, &caller.app.app_id, &id).await?;
    if user.deactivated_at.is_some() {
        return Err(ApiError::forbidden(format!("user {id} is deactivated")));
    }
    let token = auth::mint_user_token(&caller.app.api_secret, &id, body.expires_in)?;
    let expires_at = body
        .expires_in
        .map(|s| crate::time::millis_to_rfc3339((crate::time::now_secs() + s) * 1000));
    Ok(Json(TokenIssued {
        user_id: id,
        token,
        expires_at,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/revoke-tokens",
    tag = "users",
    summary = "Refuse tokens issued before now (self or server)",
    params(
        UserPath,
    ),
    responses(
        (status = 200, description = "OK", body = TokensRevoked),
        Errors,
    ),
)]
async fn revoke_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(UserPath { id }): ApiPath<UserPath>,
) -> Result<impl IntoResponse, ApiError> {
    if !caller.is_self_or_server(&id) {
        return Err(ApiError::forbidden(
            "a user may only revoke their own tokens",
        ));
    }
    let user = users::revoke_tokens(&state.db, &caller.app.app_id, &id).await?;
    sessions::end_user(&state, &caller.app.app_id, &user).await;
    let at = user.tokens_revoked_at.map(crate::time::millis_to_rfc3339);
    Ok(Json(TokensRevoked {
        user_id: id,
        tokens_revoked_at: at,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/devices",
    tag = "devices",
    summary = "Register a push device",
    request_body = DeviceInput,
    responses(
        (status = 201, description = "registered", body = DeviceBody),
        (status = 200, description = "already registered: updated", body = DeviceBody),
        Errors,
    ),
)]
async fn register_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<DeviceInput>,
) -> Result<impl IntoResponse, ApiError> {
    let user = caller.acting_user(input.user_id.as_ref())?;
    if caller.is_server() {
        users::require_user(&state.db, &caller.app.app_id, &user).await?;
    }
    let (device, created) = devices::register(&state.db, &caller.app.app_id, &user, input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(DeviceBody {
            device: device.view(),
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/devices",
    tag = "devices",
    summary = "The user's devices",
    params(
        ActingPageQuery,
    ),
    responses(
        (status = 200, description = "OK", body = DevicePage),
        Errors,
    ),
)]
async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActingPageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let user = caller.acting_user(query.user_id.as_ref())?;
    let page = devices::list(
        &state.db,
        &caller.app.app_id,
        &user,
        &query.page.request(true)?,
    )
    .await?;
    let devices: Vec<_> = page.items.iter().map(|d| d.view()).collect();
    Ok(Json(DevicePage {
        devices,
        next: page.next,
    })
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/devices/{device_id}",
    tag = "devices",
    summary = "Delete a device",
    params(
        ("device_id" = String, Path, description = "the push token"),
        ActingUserQuery,
    ),
    responses(
        (status = 204, description = "deleted"),
        Errors,
    ),
)]
async fn delete_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(device): ApiPath<DeviceId>,
    ApiQuery(query): ApiQuery<ActingUserQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let user = caller.acting_user(query.user_id.as_ref())?;
    devices::remove(&state.db, &caller.app.app_id, &user, &device).await?;
    Ok(StatusCode::NO_CONTENT)
}
