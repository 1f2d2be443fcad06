//! HTTP routers, one per endpoint group. Each Lambda serves its group's
//! router; the local server serves [`app`], all of them merged.

pub mod application;
pub mod blocks;
pub mod channels;
pub mod common;
pub mod docs;
pub mod messages;
pub mod moderation;
pub mod params;
pub mod polls;
pub mod reminders;
pub mod scheduled;
pub mod threads;
pub mod uploads;
pub mod users;

use axum::Router;

use crate::state::AppState;

pub const BASE: &str = "/api/v1";

/// Every endpoint group in one router (the local server, tests), with the
/// OpenAPI document at `/api/v1/openapi.json`.
pub fn app(state: AppState) -> Router {
    let (router, api) = all().split_for_parts();
    let document = docs::finish(api);
    let router = router.route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    let config = state.config.clone();
    common::finish(router.with_state(state), &config)
}

/// Every group's routes with their description.
pub fn all() -> utoipa_axum::router::OpenApiRouter<AppState> {
    users::api()
        .merge(channels::api())
        .merge(messages::api())
        .merge(uploads::api())
}

/// The whole REST API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    docs::finish(all().split_for_parts().1)
}
