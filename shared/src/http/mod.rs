//! HTTP routers, one per endpoint group. Each Lambda serves its group's
//! router; the local server serves [`app`], all of them merged.

pub mod channels;
pub mod common;
pub mod messages;
pub mod uploads;
pub mod users;

use axum::Router;

use crate::state::AppState;

pub const BASE: &str = "/api/v1";

/// Every endpoint group in one router (the local server, tests).
pub fn app(state: AppState) -> Router {
    common::finish(
        users::routes(state.clone())
            .merge(channels::routes(state.clone()))
            .merge(messages::routes(state.clone()))
            .merge(uploads::routes(state)),
    )
}
