//! `/api/v1/upload...`: the uploads function's routes.

use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{finish, names_user, Acting, ApiMultipart, ApiQuery};
use super::docs::Errors;
use crate::auth::Caller;
use crate::channels::Ctx;
use crate::error::ApiError;
use crate::ids::{ChannelId, UserId};
use crate::state::AppState;
use crate::uploads::{self, SignRequest, MAX_DIRECT_UPLOAD};

names_user! {
    SignQuery => user_id,
}

pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    finish(routes(state), &config)
}

pub fn routes(state: AppState) -> Router {
    api().split_for_parts().0.with_state(state)
}

/// The routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    let (schemas, paths, upload) = routes!(direct_upload);
    // Room for the multipart framing around the largest file.
    let upload = upload.layer(DefaultBodyLimit::max(MAX_DIRECT_UPLOAD + 64 * 1024));
    OpenApiRouter::new()
        .routes(routes!(signed_url))
        .routes((schemas, paths, upload))
}

#[derive(Debug, Deserialize)]
struct SignQuery {
    file_name: Option<String>,
    mime_type: Option<String>,
    size: Option<String>,
    channel_id: Option<ChannelId>,
    user_id: Option<UserId>,
}

/// A channel's file when one is named, else the acting user's own.
fn owner(channel: Option<ChannelId>) -> uploads::Owner {
    channel.map_or(uploads::Owner::User, uploads::Owner::Channel)
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::validation(format!("{name} is required")))
}

#[utoipa::path(
    get,
    path = "/api/v1/upload/signed-url",
    tag = "uploads",
    summary = "A presigned PUT for a new file, and where to read it",
    params(
        ("file_name" = String, Query, description = ""),
        ("mime_type" = String, Query, description = ""),
        ("size" = u64, Query, description = "bytes"),
        ("channel_id" = Option<String>, Query, description = "the channel the file is for; without it, the acting \
            user's own file (an avatar)"),
        ("user_id" = Option<String>, Query, description = "with a server token"),
    ),
    responses(
        (status = 200, description = "OK", body = crate::uploads::UploadTicket),
        Errors,
    ),
)]
async fn signed_url(
    State(state): State<AppState>,
    Acting(ctx, ApiQuery(query)): Acting<ApiQuery<SignQuery>>,
) -> Result<impl IntoResponse, ApiError> {
    let size = required(query.size, "size")?
        .parse::<u64>()
        .map_err(|_| ApiError::validation("size must be a whole number of bytes"))?;
    let request = SignRequest {
        file_name: required(query.file_name, "file_name")?,
        mime_type: required(query.mime_type, "mime_type")?,
        size,
        owner: owner(query.channel_id),
    };
    let ttl = state.config.upload_url_ttl;
    Ok(Json(
        uploads::sign(&state.db, &state.storage, &ctx, ttl, request).await?,
    ))
}

/// Multipart fields: `channel_id` (text), `file` (the file, with its name
/// and content type), and `user_id` with a server token.
#[utoipa::path(
    post,
    path = "/api/v1/upload",
    tag = "uploads",
    summary = "Upload a small file (multipart: channel_id, file)",
    responses(
        (status = 201, description = "stored", body = crate::uploads::StoredFile),
        Errors,
    ),
)]
async fn direct_upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiMultipart(mut form): ApiMultipart,
) -> Result<impl IntoResponse, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!(
                "POST /upload takes files up to {MAX_DIRECT_UPLOAD} bytes; use a signed URL"
            ))
        } else {
            ApiError::validation(format!("invalid multipart body: {}", e.body_text()))
        }
    };
    let mut channel: Option<ChannelId> = None;
    let mut user: Option<UserId> = None;
    let mut file: Option<(String, String, Vec<u8>)> = None;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "channel_id" => channel = Some(ChannelId::parse(field.text().await.map_err(bad)?)?),
            "user_id" => user = Some(UserId::parse(field.text().await.map_err(bad)?)?),
            "file" => {
                let name = field.file_name().unwrap_or("file").to_string();
                let mime = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let bytes = field.bytes().await.map_err(bad)?.to_vec();
                if bytes.len() > MAX_DIRECT_UPLOAD {
                    return Err(ApiError::TooLarge(format!(
                        "POST /upload takes files up to {MAX_DIRECT_UPLOAD} bytes; use a signed URL"
                    )));
                }
                file = Some((name, mime, bytes));
            }
            other => return Err(ApiError::validation(format!("unexpected field `{other}`"))),
        }
    }
    let ctx = Ctx::new(&caller, user.as_ref())?;
    let (name, mime, bytes) = required(file, "file")?;
    let ttl = state.config.upload_url_ttl;
    let file = uploads::DirectFile {
        owner: owner(channel),
        file_name: name,
        mime_type: mime,
        bytes,
    };
    let body = uploads::direct(&state.db, &state.storage, &ctx, ttl, file).await?;
    Ok((axum::http::StatusCode::CREATED, Json(body)))
}
