//! `/api/v1/blocks...`: whom a user blocks. Served by the users function.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{ApiJson, ApiPath, ApiQuery, PageParams};
use super::docs::Errors;
use crate::auth::{Actor, Caller};
use crate::blocks::{self, BlockView};
use crate::error::ApiError;
use crate::ids::UserId;
use crate::state::AppState;

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(block, list))
        .routes(routes!(unblock))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BlockInput {
    /// The user to block.
    user_id: UserId,
    /// With a server token: the user who blocks.
    #[serde(default)]
    blocker_id: Option<UserId>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BlockBody {
    block: BlockView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BlockPage {
    blocks: Vec<BlockView>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct BlockerQuery {
    blocker_id: Option<UserId>,
    #[serde(flatten)]
    page: PageParams,
}

/// The blocking user: the token's, or the `blocker_id` a server token names.
async fn blocker(
    state: &AppState,
    caller: &Caller,
    named: Option<&UserId>,
) -> Result<UserId, ApiError> {
    match (&caller.actor, named) {
        (Actor::Server, None) => Err(ApiError::validation(
            "blocker_id is required when acting with a server token",
        )),
        (Actor::Server, Some(named)) => {
            crate::users::require_user(&state.db, &caller.app.app_id, named).await?;
            Ok(named.clone())
        }
        (Actor::User(_), named) => caller.acting_user(named),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/blocks",
    tag = "blocks",
    summary = "Block a user: their messages, typing and pushes no longer reach the blocker, and they cannot open or \
        send to a direct channel with them (they are not told)",
    request_body = BlockInput,
    responses(
        (status = 201, description = "blocked", body = BlockBody),
        (status = 200, description = "already blocked", body = BlockBody),
        Errors,
    ),
)]
async fn block(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<BlockInput>,
) -> Result<impl IntoResponse, ApiError> {
    let who = blocker(&state, &caller, input.blocker_id.as_ref()).await?;
    let (block, created) =
        blocks::block(&state.db, &caller.app.app_id, &who, &input.user_id).await?;
    tracing::info!(blocker = %who, blocked = %input.user_id, created, "block");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(BlockBody { block })).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/blocks",
    tag = "blocks",
    summary = "Whom the user blocks, by user id",
    params(
        ("blocker_id" = Option<String>, Query, description = "with a server token: whose blocks"),
        PageParams,
    ),
    responses(
        (status = 200, description = "OK", body = BlockPage),
        Errors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<BlockerQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let who = blocker(&state, &caller, query.blocker_id.as_ref()).await?;
    let page = blocks::list(
        &state.db,
        &caller.app.app_id,
        &who,
        &query.page.request(true)?,
    )
    .await?;
    Ok(Json(BlockPage {
        blocks: page.items,
        next: page.next,
    })
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/blocks/{user_id}",
    tag = "blocks",
    summary = "Unblock a user",
    params(
        ("user_id" = String, Path, description = "the blocked user"),
        ("blocker_id" = Option<String>, Query, description = "with a server token: the user who blocks"),
    ),
    responses(
        (status = 204, description = "unblocked"),
        Errors,
    ),
)]
async fn unblock(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<UserId>,
    ApiQuery(query): ApiQuery<BlockerQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let who = blocker(&state, &caller, query.blocker_id.as_ref()).await?;
    blocks::unblock(&state.db, &caller.app.app_id, &who, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
