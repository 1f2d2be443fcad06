//! Pieces every router uses: extractors that turn rejections into the JSON
//! error shape, pagination parameters, and the 404/405 fallbacks.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::db::PageRequest;
use crate::error::ApiError;

/// `axum::Json` whose rejection is an [`ApiError`].
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Query` whose rejection is an [`ApiError`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path` whose rejection is an [`ApiError`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Multipart` whose rejection (a body that is not
/// `multipart/form-data`) is an [`ApiError`].
pub struct ApiMultipart(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for ApiMultipart {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                ApiError::validation(format!(
                    "expected a multipart/form-data body: {}",
                    rejection.body_text()
                ))
            })
    }
}

/// A JSON body that may be left out (or empty): then `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::TooLarge("request body is too large".into()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))
    }
}

pub const DEFAULT_LIMIT: u32 = 25;
pub const MAX_LIMIT: u32 = 100;

/// `?limit=&next=` of every list endpoint. `limit` is kept as text so this
/// can be `#[serde(flatten)]`ed into other query structs (serde_urlencoded
/// cannot parse numbers through a flatten) and gets a clear error.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub limit: Option<String>,
    pub next: Option<String>,
}

impl PageParams {
    pub fn request(&self, forward: bool) -> Result<PageRequest, ApiError> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => text.parse::<u32>().unwrap_or(0),
        };
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::validation(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(PageRequest {
            limit: i32::try_from(limit).unwrap_or(25),
            cursor: self.next.clone().filter(|c| !c.is_empty()),
            forward,
        })
    }
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> impl IntoResponse {
    let body = serde_json::json!({
        "error": { "code": "method_not_allowed", "message": "method not allowed on this route" }
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
}

/// Adds the JSON 404/405 fallbacks and CORS; call once on the final router.
pub fn finish(router: Router, config: &crate::config::Config) -> Router {
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::ratelimit::headers));
    match cors(config) {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// Browsers calling the API from another origin need CORS headers on every
/// response (API Gateway only answers the preflight).
fn cors(config: &crate::config::Config) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origin = config.cors_origin.as_deref()?;
    let allow = if origin == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::exact(HeaderValue::from_str(origin).ok()?)
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                "x-api-key".parse().ok()?,
            ])
            // A browser client reads its quota too.
            .expose_headers([
                "x-ratelimit-limit".parse().ok()?,
                "x-ratelimit-remaining".parse().ok()?,
                "x-ratelimit-reset".parse().ok()?,
                header::RETRY_AFTER,
            ]),
    )
}
