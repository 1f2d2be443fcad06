//! `GET /app` and `PATCH /app`: the calling application's settings, for its
//! server tokens; its failed webhooks and their replay. Served by the users
//! function.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::http::StatusCode;

use super::common::{ApiJson, ApiPath, ApiQuery, PageParams};
use super::docs::Errors;
use crate::apps::{self, AppPatch, AppView};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::webhooks::{self, DeadLetterView};

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AppBody<'a> {
    app: AppView<'a>,
}

/// The routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, update))
        .routes(routes!(failed_webhooks))
        .routes(routes!(replay_webhook))
}

#[utoipa::path(
    get,
    path = "/api/v1/app",
    tag = "application",
    summary = "The application and its settings (server token; never the secret)",
    responses(
        (status = 200, description = "OK", body = AppBody),
        Errors,
    ),
)]
async fn show(caller: Caller) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    Ok(Json(AppBody {
        app: caller.app.view(),
    })
    .into_response())
}

#[utoipa::path(
    patch,
    path = "/api/v1/app",
    tag = "application",
    summary = "Change the application's name and limits (server token)",
    request_body = AppPatch,
    responses(
        (status = 200, description = "OK", body = AppBody),
        Errors,
    ),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(patch): ApiJson<AppPatch>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    let app = apps::patch(&state.db, &caller.app.app_id, patch, state.outbound.guard()).await?;
    state.apps.forget(&app);
    Ok(Json(AppBody { app: app.view() }).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeadLetterPage {
    failed: Vec<DeadLetterView>,
    next: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/app/webhooks/failed",
    tag = "application",
    summary = "Events whose webhook used up its attempts, oldest first (server token; kept 14 days)",
    params(
        PageParams,
    ),
    responses(
        (status = 200, description = "OK", body = DeadLetterPage),
        Errors,
    ),
)]
async fn failed_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    let page = webhooks::dead_letters(&state, &caller.app.app_id, &page.request(true)?).await?;
    Ok(Json(DeadLetterPage {
        failed: page.items.iter().map(|d| d.view()).collect(),
        next: page.next,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/app/webhooks/failed/{event_id}/replay",
    tag = "application",
    summary = "Send a failed webhook again, with a fresh series of attempts (server token)",
    params(
        ("event_id" = String, Path, description = "the event's id (X-Webhook-Id)"),
    ),
    responses(
        (status = 202, description = "queued again; it leaves the failed list"),
        Errors,
    ),
)]
async fn replay_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(event_id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    // Event ids are 32 hex digits; anything else cannot name one.
    if event_id.len() != 32 || !event_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found(format!(
            "no failed webhook for event {event_id}"
        )));
    }
    webhooks::replay(&state, &caller.app, &event_id).await?;
    Ok(StatusCode::ACCEPTED)
}
