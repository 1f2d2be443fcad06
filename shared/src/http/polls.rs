//! `/api/v1/polls`: polls made by users and sent in messages (`poll_id`
//! on a send), their votes, suggested options and closing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{names_user, Acting, ApiJson, ApiPath, ApiQuery};
use super::docs::Errors;
use super::params::{ActingUserQuery, PollPath};
use crate::actions::polls as actions;
use crate::error::ApiError;
use crate::ids::PollId;
use crate::messages::polls::{self, OptionInput, PollInput, PollView, VoteInput, VoteView};
use crate::state::AppState;

names_user! {
    PollInput => user_id,
    VoteInput => user_id,
    OptionInput => user_id,
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_poll))
        .routes(routes!(get_poll))
        .routes(routes!(cast_vote))
        .routes(routes!(remove_vote))
        .routes(routes!(suggest_option))
        .routes(routes!(close_poll))
}

/// `{"poll": ...}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PollBody {
    pub poll: PollView,
}

/// `{"vote": ..., "poll": ...}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VoteBody {
    pub vote: VoteView,
    pub poll: PollView,
}

/// `{vote_id}` of `/polls/{id}/votes/{vote_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct VotePath {
    /// poll id
    #[param(value_type = String)]
    id: PollId,
    /// vote id
    vote_id: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/polls",
    tag = "polls",
    summary = "Make a poll; send it in a message with `poll_id`",
    request_body = PollInput,
    responses(
        (status = 201, description = "Created", body = PollBody),
        Errors,
    ),
)]
async fn create_poll(
    State(state): State<AppState>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<PollInput>>,
) -> Result<impl IntoResponse, ApiError> {
    let poll = actions::create(&state, &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(PollBody { poll: poll.view() })))
}

#[utoipa::path(
    get,
    path = "/api/v1/polls/{id}",
    tag = "polls",
    summary = "A poll: counts per option, the caller's votes, the latest voters unless anonymous",
    params(PollPath, ActingUserQuery),
    responses(
        (status = 200, description = "OK", body = PollBody),
        Errors,
    ),
)]
async fn get_poll(
    State(state): State<AppState>,
    ApiPath(PollPath { id }): ApiPath<PollPath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(PollBody {
        poll: polls::get(&state.db, &ctx, &id).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/polls/{id}/votes",
    tag = "polls",
    summary = "Vote for an option (201; 200 when the caller had voted for it)",
    request_body = VoteInput,
    params(PollPath),
    responses(
        (status = 201, description = "voted", body = VoteBody),
        (status = 200, description = "the vote existed", body = VoteBody),
        Errors,
    ),
)]
async fn cast_vote(
    State(state): State<AppState>,
    ApiPath(PollPath { id }): ApiPath<PollPath>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<VoteInput>>,
) -> Result<Response, ApiError> {
    let voted = actions::vote(&state, &ctx, &id, input).await?;
    let poll = polls::with_own(&state.db, &ctx, &voted.poll).await?;
    let status = if voted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = VoteBody {
        vote: voted.vote.view(false),
        poll,
    };
    Ok((status, Json(body)).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/polls/{id}/votes/{vote_id}",
    tag = "polls",
    summary = "Take back one of the caller's votes",
    params(VotePath, ActingUserQuery),
    responses(
        (status = 200, description = "OK", body = PollBody),
        Errors,
    ),
)]
async fn remove_vote(
    State(state): State<AppState>,
    ApiPath(VotePath { id, vote_id }): ApiPath<VotePath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let poll = actions::unvote(&state, &ctx, &id, &vote_id).await?;
    Ok(Json(PollBody {
        poll: polls::with_own(&state.db, &ctx, &poll).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/polls/{id}/options",
    tag = "polls",
    summary = "Add an option (its creator; members where suggestions are allowed)",
    request_body = OptionInput,
    params(PollPath),
    responses(
        (status = 201, description = "Created", body = PollBody),
        Errors,
    ),
)]
async fn suggest_option(
    State(state): State<AppState>,
    ApiPath(PollPath { id }): ApiPath<PollPath>,
    Acting(ctx, ApiJson(input)): Acting<ApiJson<OptionInput>>,
) -> Result<impl IntoResponse, ApiError> {
    let poll = actions::suggest(&state, &ctx, &id, input).await?;
    let poll = polls::with_own(&state.db, &ctx, &poll).await?;
    Ok((StatusCode::CREATED, Json(PollBody { poll })))
}

#[utoipa::path(
    post,
    path = "/api/v1/polls/{id}/close",
    tag = "polls",
    summary = "Close a poll: no more votes (its creator, the channel's owners and admins, the server)",
    params(PollPath, ActingUserQuery),
    responses(
        (status = 200, description = "OK", body = PollBody),
        Errors,
    ),
)]
async fn close_poll(
    State(state): State<AppState>,
    ApiPath(PollPath { id }): ApiPath<PollPath>,
    Acting(ctx, ApiQuery(_)): Acting<ApiQuery<ActingUserQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let poll = actions::close(&state, &ctx, &id).await?;
    Ok(Json(PollBody {
        poll: polls::with_own(&state.db, &ctx, &poll).await?,
    }))
}
