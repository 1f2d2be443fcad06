//! `/api/v1/messages/scheduled...`: the caller's messages waiting for their
//! time (`POST /messages` with `scheduled_at` makes them).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use super::common::{names_user, Acting, ApiJson, ApiPath, ApiQuery};
use super::docs::Errors;
use super::params::{ActingPageQuery, ActingUserQuery, MessagePath};
use crate::error::ApiError;
use crate::ids::{ChannelId, UserId};
use crate::messages::scheduled::{self, ScheduledEdit, ScheduledMessage, ScheduledView};
use crate::state::AppState;

names_user! {
    ScheduledEdit => user_id,
}

impl super::common::NamesUser for ScheduledQuery {
    fn named_user(&self) -> Option<&UserId> {
        self.acting.user_id.as_ref()
    }
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_scheduled))
        .routes(routes!(get_scheduled, edit_scheduled, delete_scheduled))
}

/// `{"scheduled_message": ...}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduledBody {
    pub scheduled_message: ScheduledView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduledPage {
    scheduled_messages: Vec<ScheduledView>,
    next: Option<String>,
}

/// `?channel_id=&user_id=&limit=&next=`
#[derive(Debug, Default, Deserialize)]
pub struct ScheduledQuery {
    channel_id: Option<ChannelId>,
    #[serde(flatten)]
    acting: ActingPageQuery,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct OfChannel {
    /// only this channel's
    #[param(value_type = Option<String>)]
    channel_id: Option<ChannelId>,
}

/// utoipa's derive cannot follow `#[serde(flatten)]`: the halves, in order.
impl IntoParams for ScheduledQuery {
    fn into_params(in_provider: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = OfChannel::into_params(&in_provider);
        params.extend(ActingPageQuery::into_params(&in_provider));
        params
    }
}

pub fn body(item: &ScheduledMessage) -> Json<ScheduledBody> {
    Json(ScheduledBody {
        scheduled_message: item.view(),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/scheduled",
    tag = "scheduled",
    summary = "The caller's scheduled messages (pending, sending and failed), in the order scheduled",
    params(ScheduledQuery),
    responses(
        (status = 200, description = "OK", body = ScheduledPage),
        Errors,
    ),
)]
async fn list_scheduled(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<ScheduledQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let page = scheduled::list(
        &state.db,
        &ctx,
        query.channel_id.as_ref(),
        &query.acting.page.request(true)?,
    )
    .await?;
    Ok(Json(ScheduledPage {
        scheduled_messages: page.items.iter().map(ScheduledMessage::view).collect(),
        next: page.next,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/scheduled/{id}",
    tag = "scheduled",
    summary = "One of the caller's scheduled messages",
    params(MessagePath, ActingUserQuery),
    responses(
        (status = 200, description = "OK", body = ScheduledBody),
        Errors,
    ),
)]
async fn get_scheduled(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(body(&scheduled::get(&state.db, &ctx, &id).await?))
}

#[utoipa::path(
    patch,
    path = "/api/v1/messages/scheduled/{id}",
    tag = "scheduled",
    summary = "Change a scheduled message's text, attachments, mentions or time (409 once it is being sent)",
    request_body = ScheduledEdit,
    params(MessagePath),
    responses(
        (status = 200, description = "OK", body = ScheduledBody),
        Errors,
    ),
)]
async fn edit_scheduled(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiJson(change)): Acting<ApiJson<ScheduledEdit>>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(body(&scheduled::edit(&state, &ctx, &id, change).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/messages/scheduled/{id}",
    tag = "scheduled",
    summary = "Cancel a scheduled message (409 once it is being sent)",
    params(MessagePath, ActingUserQuery),
    responses(
        (status = 204, description = "deleted"),
        Errors,
    ),
)]
async fn delete_scheduled(
    State(state): State<AppState>,
    ApiPath(MessagePath { id }): ApiPath<MessagePath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    scheduled::delete(&state.db, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
