//! The one error type every handler returns, and its single mapping to the
//! public JSON shape `{"error": {"code", "message"}}`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or fails validation.
    #[error("{0}")]
    Validation(String),
    /// 401: missing or invalid credentials; `code` tells which.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// 413
    #[error("{0}")]
    TooLarge(String),
    /// 429, with the seconds after which a retry can succeed.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// 503: a dependency stayed throttled or failing after the SDK's
    /// retries; nothing was written, the request can be repeated.
    #[error("the service is busy; retry shortly")]
    Unavailable,
    /// 403: the app's before-send hook refused the message (its reason).
    #[error("{0}")]
    Rejected(String),
    /// 503: the app's before-send hook failed and its policy is to block;
    /// nothing was written, the send can be repeated.
    #[error("{0}")]
    HookUnavailable(String),
    /// 500: the cause is logged, never returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation(message.into())
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(cause))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Rejected(_) => StatusCode::FORBIDDEN,
            Self::HookUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_error",
            Self::Unauthorized { code, .. } => code,
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Rejected(_) => "message_rejected",
            Self::HookUnavailable(_) => "hook_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Seconds after which a retry can succeed (429 and 503).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Unavailable | Self::HookUnavailable(_) => Some(1),
            _ => None,
        }
    }

    /// The JSON body clients see; internal detail never appears in it.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        if let Some(retry_after) = self.retry_after() {
            error["retry_after"] = json!(retry_after);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %DisplayChain(cause.as_ref()), "request failed");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(retry_after) = self.retry_after() {
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Formats an error with its whole `source()` chain, for logs.
pub struct DisplayChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::TooLarge("request body is too large".into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::validation("expected a JSON body with Content-Type: application/json")
            }
            _ => Self::validation(format!("invalid JSON body: {}", rejection.body_text())),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::validation(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::validation(format!("invalid path: {}", rejection.body_text()))
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        Self::Validation(describe_validation(&errors))
    }
}

/// Flattens validator's nested report into `field: reason; ...`, deterministic order.
fn describe_validation(errors: &validator::ValidationErrors) -> String {
    let mut parts = Vec::new();
    collect_validation("", errors, &mut parts);
    parts.sort();
    parts.join("; ")
}

fn collect_validation(prefix: &str, errors: &validator::ValidationErrors, out: &mut Vec<String>) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let reason = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe_code(e));
                    out.push(format!("{path}: {reason}"));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect_validation(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect_validation(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

fn describe_code(e: &validator::ValidationError) -> String {
    match e.code.as_ref() {
        "length" => {
            let min = e.params.get("min").map(|v| v.to_string());
            let max = e.params.get("max").map(|v| v.to_string());
            match (min, max) {
                (Some(min), Some(max)) => format!("length must be between {min} and {max}"),
                (None, Some(max)) => format!("length must be at most {max}"),
                (Some(min), None) => format!("length must be at least {min}"),
                _ => "invalid length".into(),
            }
        }
        "url" => "must be a valid URL".into(),
        other => format!("invalid ({other})"),
    }
}

/// The public error shape (for the API documents).
#[derive(utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
pub struct ErrorDetail {
    /// e.g. `validation_error`, `invalid_signature`, `forbidden`.
    pub code: String,
    pub message: String,
    /// Seconds until a retry can succeed (429 and 503 only).
    pub retry_after: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_and_message_and_hides_internal_detail() {
        let err = ApiError::internal(std::io::Error::other("secret table detail"));
        let body = err.body();
        assert_eq!(body["error"]["code"], "internal_error");
        assert!(!body.to_string().contains("secret"));
        let limited = ApiError::RateLimited {
            message: "slow down".into(),
            retry_after: 7,
        };
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.body()["error"]["retry_after"], 7);
    }
}
