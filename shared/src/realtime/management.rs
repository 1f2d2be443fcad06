//! `PostToConnection` of the API Gateway management API, the one call made
//! for every recipient of every event: signed with `aws-sigv4` and sent on
//! one pooled HTTP client. The SDK's per-request orchestration (interceptors,
//! the config bag, endpoint and identity resolution) cost more CPU than the
//! post itself; the rare calls (`GetConnection`, `DeleteConnection`) stay on
//! the SDK client.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::ids::ConnectionId;
use crate::realtime::pace::Pace;

/// API Gateway's signing name.
const SERVICE: &str = "execute-api";
/// Attempts per post, the first included: a delivery late by seconds is
/// worth less than the next event.
const ATTEMPTS: u32 = 3;
/// Before the second attempt; doubled before the third.
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
/// Attempts of a post throttled by the account's request quota (429
/// `LimitExceededException`): the quota refills within a second, so these
/// wait longer, with jitter so that a fan-out's lanes do not retry in step.
const THROTTLED_ATTEMPTS: u32 = 8;
/// The longest wait before a throttled post's next attempt.
const MAX_THROTTLED_BACKOFF: Duration = Duration::from_millis(1600);
/// Credentials closer than this to their expiry are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// What the management API said of a post.
#[derive(Debug)]
pub enum Posted {
    Sent,
    /// 410: the connection is gone.
    Gone,
    Failed(PostError),
}

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("no credentials: {0}")]
    Credentials(String),
    #[error("the request could not be signed: {0}")]
    Signing(String),
    #[error("the request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("the management API answered {0}")]
    Status(u16),
}

impl PostError {
    /// Worth another attempt: throttled, a server error, or no answer.
    fn is_transient(&self) -> bool {
        match self {
            PostError::Status(status) => *status >= 500,
            PostError::Request(_) => true,
            PostError::Credentials(_) | PostError::Signing(_) => false,
        }
    }
}

/// Posts to connections of one WebSocket API stage.
pub struct Poster {
    http: reqwest::Client,
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`, no
    /// trailing slash.
    endpoint: String,
    region: String,
    provider: SharedCredentialsProvider,
    /// The provider's last answer, until close to its expiry.
    cached: Mutex<Option<Credentials>>,
    /// Every lane's posts, under the quota learnt from 429s.
    pace: Pace,
}

impl Poster {
    /// `None` when the SDK configuration has no credentials provider.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Option<Self> {
        // The client's TLS takes the process's provider (the one the SDK
        // links).
        crate::outbound::install_tls_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .ok()?;
        Some(Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            provider: sdk.credentials_provider()?,
            cached: Mutex::new(None),
            pace: Pace::default(),
        })
    }

    /// Posts `body` to the connection, again after a transient failure.
    pub async fn post(&self, connection: &ConnectionId, body: &[u8]) -> Posted {
        let mut backoff = FIRST_BACKOFF;
        let (mut failures, mut throttles) = (0, 0);
        loop {
            self.pace.turn().await;
            let attempt = self.attempt(connection, body).await;
            match &attempt {
                Ok(()) => self.pace.sent(std::time::Instant::now()),
                Err(PostError::Status(429)) => self.pace.throttled(std::time::Instant::now()),
                Err(_) => {}
            }
            match attempt {
                Ok(()) => return Posted::Sent,
                Err(PostError::Status(410)) => return Posted::Gone,
                Err(PostError::Status(429)) if throttles + 1 < THROTTLED_ATTEMPTS => {
                    throttles += 1;
                    // Full jitter over twice the last wait, up to the cap.
                    let ceiling = (FIRST_BACKOFF * 2u32.pow(throttles)).min(MAX_THROTTLED_BACKOFF);
                    tokio::time::sleep(ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)).await;
                }
                Err(err) if err.is_transient() && failures + 1 < ATTEMPTS => {
                    failures += 1;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(err) => return Posted::Failed(err),
            }
        }
    }

    async fn attempt(&self, connection: &ConnectionId, body: &[u8]) -> Result<(), PostError> {
        let url = format!(
            "{}/@connections/{}",
            self.endpoint,
            utf8_percent_encode(connection.as_str(), NON_ALPHANUMERIC)
        );
        let credentials = self.credentials().await?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| PostError::Signing(e.to_string()))?
            .into();
        let signable =
            SignableRequest::new("POST", &url, std::iter::empty(), SignableBody::Bytes(body))
                .map_err(|e| PostError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| PostError::Signing(e.to_string()))?
            .into_parts();
        let mut request = self.http.post(&url).body(body.to_vec());
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status();
        // The body is read so the connection goes back to the pool.
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(PostError::Status(status.as_u16()))
        }
    }

    /// The credentials to sign with: the provider's, cached until five
    /// minutes before they expire (never, for a Lambda's own).
    async fn credentials(&self) -> Result<Credentials, PostError> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
        };
        if let Some(cached) = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|c| fresh(c))
        {
            return Ok(cached.clone());
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| PostError::Credentials(e.to_string()))?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(credentials.clone());
        Ok(credentials)
    }
}
