//! `GET /app` and `PATCH /app`: the calling application's settings, for its
//! server tokens. Served by the users function.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::ApiJson;
use super::docs::Errors;
use crate::apps::{self, AppPatch, AppView};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AppBody<'a> {
    app: AppView<'a>,
}

/// The routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, update))
}

#[utoipa::path(get, path = "/api/v1/app", tag = "application", summary = "The application and its settings (server token; never the secret)", responses((status = 200, description = "OK", body = AppBody), Errors))]
async fn show(caller: Caller) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    Ok(Json(AppBody {
        app: caller.app.view(),
    })
    .into_response())
}

#[utoipa::path(patch, path = "/api/v1/app", tag = "application", summary = "Change the application's name and limits (server token)", request_body = AppPatch, responses((status = 200, description = "OK", body = AppBody), Errors))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(patch): ApiJson<AppPatch>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_server()?;
    let app = apps::patch(&state.db, &caller.app.app_id, patch).await?;
    state.apps.forget(&app.api_key);
    Ok(Json(AppBody { app: app.view() }).into_response())
}
