//! Pieces every router uses: extractors that turn rejections into the JSON
//! error shape, pagination parameters, and the 404/405 fallbacks.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::acting::Ctx;
use crate::auth::Caller;
use crate::db::PageRequest;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::state::AppState;

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

/// An input that may name the acting user: the `user_id` (or the like) a
/// server token acts for; a user token may only name itself.
pub trait NamesUser {
    fn named_user(&self) -> Option<&UserId>;
}

/// `NamesUser` for input types, each naming its field.
macro_rules! names_user {
    ($($input:ty => $field:ident),* $(,)?) => {
        $(impl $crate::http::common::NamesUser for $input {
            fn named_user(&self) -> Option<&$crate::ids::UserId> {
                self.$field.as_ref()
            }
        })*
    };
}
pub(crate) use names_user;

/// Who is acting, with the input that names them: `Acting(ctx, input)`
/// authenticates the caller and builds the acting-user context
/// ([`Ctx::new`]) from the input's [`NamesUser`]. `Acting<()>`: a server
/// token acts as the server, a user token as its user.
pub struct Acting<E>(pub Ctx, pub E);

impl<S, T> FromRequestParts<S> for Acting<ApiQuery<T>>
where
    AppState: axum::extract::FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + NamesUser,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let query = ApiQuery::<T>::from_request_parts(parts, state).await?;
        let ctx = Ctx::new(&caller, query.0.named_user())?;
        Ok(Self(ctx, query))
    }
}

impl<S> FromRequestParts<S> for Acting<()>
where
    AppState: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Self(Ctx::new(&caller, None)?, ()))
    }
}

/// The caller from the request's head, then the body through `E`.
async fn with_body<S, E, T>(
    req: Request,
    state: &S,
    input: fn(&E) -> &T,
) -> Result<Acting<E>, ApiError>
where
    AppState: axum::extract::FromRef<S>,
    S: Send + Sync,
    E: FromRequest<S, Rejection = ApiError>,
    T: NamesUser,
{
    let (mut parts, body) = req.into_parts();
    let caller = Caller::from_request_parts(&mut parts, state).await?;
    let body = E::from_request(Request::from_parts(parts, body), state).await?;
    let ctx = Ctx::new(&caller, input(&body).named_user())?;
    Ok(Acting(ctx, body))
}

impl<S, T> FromRequest<S> for Acting<ApiJson<T>>
where
    AppState: axum::extract::FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + NamesUser + 'static,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        with_body(req, state, |body: &ApiJson<T>| &body.0).await
    }
}

impl<S, T> FromRequest<S> for Acting<OptionalJson<T>>
where
    AppState: axum::extract::FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + Default + NamesUser + 'static,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        with_body(req, state, |body: &OptionalJson<T>| &body.0).await
    }
}

pub const DEFAULT_LIMIT: u32 = 25;
pub const MAX_LIMIT: u32 = 100;

/// `?limit=&next=` of every list endpoint. `limit` is kept as text so this
/// can be `#[serde(flatten)]`ed into other query structs (serde_urlencoded
/// cannot parse numbers through a flatten) and gets a clear error.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-100, default 25
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// cursor from the previous page
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
