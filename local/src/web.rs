//! The local web client: a single page (HTML/JS/CSS under `local/web/` and the
//! SDK's browser bundle, compiled into the binary) served at `/` beside the API, and
//! `/dev/session`, which hands the page the dev application's key and sample
//! users' tokens (and the sample page for link previews), and `/dev/pushes`,
//! what the local FCM and APNs received.
//! Local only: no Lambda serves these routes.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chat_shared::ids::{AppId, UserId};
use chat_shared::{apps, auth, users, ApiError, AppState};
use serde_json::json;

/// Users offered on the sign-in page (created with the dev app).
pub const SAMPLE_USERS: &[&str] = &["alice", "bob"];

#[derive(Clone)]
struct Web {
    state: AppState,
    ws_url: String,
    pushes: crate::push::Pushes,
    sample_page: String,
}

pub fn router(
    state: AppState,
    ws_url: String,
    pushes: crate::push::Pushes,
    sample_page: String,
) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(script))
        .route("/chat.js", get(sdk))
        .route("/app.css", get(style))
        .route("/dev/session", get(session))
        .route("/dev/pushes", get(pushes_received))
        .with_state(Web {
            state,
            ws_url,
            pushes,
            sample_page,
        })
}

/// What the local FCM and APNs accepted, newest first.
async fn pushes_received(State(web): State<Web>) -> Json<serde_json::Value> {
    let mut pushes = web.pushes.list();
    pushes.reverse();
    Json(json!({ "pushes": pushes }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    )
}

/// The TypeScript SDK's browser bundle (clients/typescript: `npm run build`
/// writes it here; its test run fails when this copy is stale).
async fn sdk() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../web/chat.min.js"),
    )
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("../web/app.css"))
}

async fn session(State(web): State<Web>) -> Result<Json<serde_json::Value>, ApiError> {
    let db = &web.state.db;
    let app_id = AppId::parse("dev")?;
    let app = apps::get_app(db, &app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no dev application on this server"))?;
    let mut offered = Vec::new();
    for id in SAMPLE_USERS {
        let user_id = UserId::parse(*id)?;
        if let Some(user) = users::get_user(db, &app.app_id, &user_id).await? {
            let token = auth::mint_user_token(&app.api_secret, &user_id, None)?;
            offered.push(json!({
                "id": user.id,
                "display_name": user.display_name,
                "token": token,
            }));
        }
    }
    Ok(Json(json!({
        "api_key": app.api_key,
        "ws_url": web.ws_url,
        "users": offered,
        // A page to paste in a message: its preview follows.
        "sample_page": web.sample_page,
    })))
}
