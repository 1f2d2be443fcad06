//! How a request to the table fails, and what the caller of the API sees of it.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; one reason per write, `None` where that
    /// write was fine.
    #[error("transaction cancelled: {0:?}")]
    TransactionCanceled(Vec<Option<String>>),
    #[error("invalid pagination cursor")]
    BadCursor,
    #[error("item mapping failed")]
    Mapping(#[from] serde_dynamo::Error),
    /// Throttled, 5xx or unreachable on every attempt the SDK made.
    #[error("DynamoDB stayed unavailable after retries")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("DynamoDB request failed")]
    Sdk(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl DbError {
    pub(super) fn sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let transient = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ) || err
            .as_service_error()
            .and_then(ProvideErrorMetadata::code)
            .is_some_and(|code| TRANSIENT_CODES.contains(&code));
        if transient {
            Self::Unavailable(Box::new(err))
        } else {
            Self::Sdk(Box::new(err))
        }
    }

    pub(super) fn build(err: aws_sdk_dynamodb::error::BuildError) -> Self {
        Self::Sdk(Box::new(err))
    }
}

/// Error codes that mean "try again later", as the SDK's retry classifier
/// sees them: once its attempts are spent, the caller gets a 503.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::ConditionFailed | DbError::TransactionCanceled(_) => {
                ApiError::conflict("the item was changed by another request; retry")
            }
            DbError::BadCursor => ApiError::validation("invalid `next` cursor"),
            DbError::Unavailable(cause) => {
                tracing::warn!(error = %crate::error::DisplayChain(cause.as_ref()), "DynamoDB unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}
