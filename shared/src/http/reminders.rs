//! `/api/v1/messages/{id}/reminder` and `/api/v1/reminders`: messages the
//! caller keeps, with a time to be reminded or saved for later.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{names_user, Acting, ApiJson, ApiPath, ApiQuery};
use super::docs::Errors;
use super::params::{ActingPageQuery, ActingUserQuery, MessagePath};
use crate::error::ApiError;
use crate::ids::UserId;
use crate::messages::reminders::{
    self, Kept, ReminderEdit, ReminderInput, ReminderStatus, ReminderView,
};
use crate::state::AppState;

names_user! {
    ReminderInput => user_id,
    ReminderEdit => user_id,
}

impl super::common::NamesUser for RemindersQuery {
    fn named_user(&self) -> Option<&UserId> {
        self.acting.user_id.as_ref()
    }
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reminders))
        .routes(routes!(create_reminder, edit_reminder, delete_reminder))
}

/// `{"reminder": ...}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReminderBody {
    pub reminder: ReminderView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReminderPage {
    reminders: Vec<ReminderView>,
    next: Option<String>,
}

/// `?filter=&user_id=&limit=&next=`
#[derive(Debug, Default, Deserialize)]
pub struct RemindersQuery {
    filter: Option<ReminderStatus>,
    #[serde(flatten)]
    acting: ActingPageQuery,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ByStatus {
    /// `due` (their time has come), `upcoming`, or `saved` (no time)
    filter: Option<ReminderStatus>,
}

/// utoipa's derive cannot follow `#[serde(flatten)]`: the halves, in order.
impl IntoParams for RemindersQuery {
    fn into_params(in_provider: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = ByStatus::into_params(&in_provider);
        params.extend(ActingPageQuery::into_params(&in_provider));
        params
    }
}

fn body(kept: &Kept) -> Json<ReminderBody> {
    Json(ReminderBody {
        reminder: kept.view(),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/reminders",
    tag = "reminders",
    summary = "The caller's reminders, soonest first, then their saved messages",
    params(RemindersQuery),
    responses(
        (status = 200, description = "OK", body = ReminderPage),
        Errors,
    ),
)]
async fn list_reminders(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<RemindersQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let page = query.acting.page.request(true)?;
    let (kept, next) = reminders::list(
        &state,
        &ctx,
        query.filter,
        usize::try_from(page.limit).unwrap_or(25),
        page.cursor.as_deref(),
    )
    .await?;
    Ok(Json(ReminderPage {
        reminders: kept.iter().map(Kept::view).collect(),
        next,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/messages/{id}/reminder",
    tag = "reminders",
    summary = "Be reminded of a message (remind_at), or save it for later (no remind_at)",
    request_body = ReminderInput,
    params(MessagePath),
    responses(
        (status = 201, description = "Created", body = ReminderBody),
        Errors,
    ),
)]
async fn create_reminder(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<ReminderInput>>,
) -> Result<impl IntoResponse, ApiError> {
    let kept = reminders::create(&state, &ctx, &id, input).await?;
    Ok((StatusCode::CREATED, body(&kept)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/messages/{id}/reminder",
    tag = "reminders",
    summary = "Change a reminder's time (null: saved for later, no reminder)",
    request_body = ReminderEdit,
    params(MessagePath),
    responses(
        (status = 200, description = "OK", body = ReminderBody),
        Errors,
    ),
)]
async fn edit_reminder(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiJson(change)): Acting<ApiJson<ReminderEdit>>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(body(&reminders::edit(&state, &ctx, &id, change).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/messages/{id}/reminder",
    tag = "reminders",
    summary = "Delete a reminder or saved message",
    params(MessagePath, ActingUserQuery),
    responses(
        (status = 204, description = "deleted"),
        Errors,
    ),
)]
async fn delete_reminder(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    reminders::delete(&state.db, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
