//! Calls the service makes to servers outside it (webhooks, the
//! before-send hook, the push providers): one pair of HTTP clients per
//! process, every request through [`guard::Guard`], and the signature a
//! customer's receiver checks to tell the call is ours.

pub mod guard;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use guard::{Destination, Guard, Refusal, ResolveError};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header with the body's signature: hex HMAC-SHA256 keyed with the
/// app's secret.
pub const SIGNATURE: &str = "X-Signature";

/// Hex HMAC-SHA256 of `body`, keyed with the app's secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Makes the SDK's TLS provider (aws-lc-rs) the process's default. reqwest
/// is built here without a provider of its own (so none is linked twice),
/// and then any `reqwest::Client` in the process needs this first: a
/// program builds one before anything else (the local stack does so when
/// it starts). Idempotent.
pub fn install_tls_provider() {
    // Already installed is fine: one provider per process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("the HTTP client could not be built: {0}")]
    Build(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the request failed: {0}")]
    Request(#[source] reqwest::Error),
    #[error("this function makes no outbound calls")]
    Disabled,
    #[error("the URL is not valid")]
    Url,
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the page is not text/html")]
    NotHtml,
    #[error("more than {0} redirects")]
    Redirects(usize),
}

/// What went wrong with an outbound call, as a failure records it: a
/// category, with nothing about the receiver's network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No answer in time.
    Timeout,
    /// The connection could not be made, or broke.
    ConnectFailed,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The address is one the service may not reach (private, loopback,
    /// metadata and the like).
    RefusedAddress,
    /// The receiver answered with a status outside 2xx.
    HttpStatus,
    /// Recorded before failures had categories.
    #[serde(other)]
    Unknown,
}

impl OutboundError {
    /// The failure's category.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Timeout(_) => Failure::Timeout,
            Self::Refused(_) | Self::Url => Failure::RefusedAddress,
            Self::Request(err) if err.is_timeout() => Failure::Timeout,
            Self::Request(err) => {
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
                while let Some(cause) = source {
                    if let Some(ResolveError::Refused(_)) = cause.downcast_ref::<ResolveError>() {
                        return Failure::RefusedAddress;
                    }
                    if cause.downcast_ref::<rustls::Error>().is_some() {
                        return Failure::Tls;
                    }
                    source = cause.source();
                }
                Failure::ConnectFailed
            }
            Self::Status(_) | Self::NotHtml | Self::Redirects(_) => Failure::HttpStatus,
            Self::Build(_) | Self::Disabled => Failure::ConnectFailed,
        }
    }
}

/// What the receiver answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// At most this much of an answer is read.
const MAX_ANSWER: usize = 256 * 1024;

/// What a page fetch may take: redirects followed, bytes read, time in all.
#[derive(Clone, Copy, Debug)]
pub struct PageLimits {
    pub redirects: usize,
    pub bytes: usize,
    pub timeout: Duration,
}

/// A page as fetched: where it ended up, and its first bytes.
#[derive(Debug)]
pub struct Page {
    pub url: reqwest::Url,
    pub body: Vec<u8>,
}

/// How the service names itself to the sites it reads pages from.
pub const PAGE_AGENT: &str = concat!(
    "chat-backend-link-preview/",
    env!("CARGO_PKG_VERSION"),
    " (reads a link's title and description for a chat message)"
);

/// Reads a response's body up to `max` bytes.
async fn read_up_to(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, OutboundError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(OutboundError::Request)? {
        body.extend_from_slice(&chunk);
        if body.len() >= max {
            body.truncate(max);
            break;
        }
    }
    Ok(body)
}

/// The two clients: HTTP/1.1-or-2 (ALPN decides), and HTTP/2 only (APNs
/// speaks nothing else; to a local emulator, cleartext with prior knowledge).
struct Clients {
    http: reqwest::Client,
    http2: reqwest::Client,
}

#[derive(Clone, Default)]
pub struct Outbound {
    /// Built at the first call, not at start-up: a function's init loads no
    /// root certificates for a hook that may never be called.
    clients: Option<Arc<OnceLock<Result<Clients, String>>>>,
    guard: Guard,
}

impl Outbound {
    /// No client: every call answers [`OutboundError::Disabled`]; the
    /// guard still judges hook URLs when settings change.
    pub fn disabled(guard: Guard) -> Self {
        Self {
            clients: None,
            guard,
        }
    }

    /// Outbound calls allowed where `guard` allows them; the clients are
    /// built on first use.
    pub fn new(guard: Guard) -> Self {
        Self {
            clients: Some(Arc::new(OnceLock::new())),
            guard,
        }
    }

    fn clients(&self) -> Result<&Clients, OutboundError> {
        let cell = self.clients.as_ref().ok_or(OutboundError::Disabled)?;
        cell.get_or_init(|| {
            install_tls_provider();
            let builder = || {
                reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .redirect(reqwest::redirect::Policy::none())
                    // A proxy would connect where the guard never looked.
                    .no_proxy()
                    .dns_resolver(Arc::new(guard::Resolver(self.guard.clone())))
                    .user_agent(concat!("chat-backend/", env!("CARGO_PKG_VERSION")))
            };
            Ok(Clients {
                http: builder().build().map_err(|e| e.to_string())?,
                http2: builder()
                    .http2_prior_knowledge()
                    .build()
                    .map_err(|e| e.to_string())?,
            })
        })
        .as_ref()
        .map_err(|e| OutboundError::Build(e.clone()))
    }

    /// The guard every call passes.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The guard's URL checks, then the parsed URL.
    fn checked(&self, url: &str, to: Destination) -> Result<reqwest::Url, OutboundError> {
        let url = reqwest::Url::parse(url).map_err(|_| OutboundError::Url)?;
        self.guard
            .check_url(&url, to)
            .map_err(OutboundError::Refused)?;
        Ok(url)
    }

    /// A POST through the HTTP/1.1-or-2 client (ALPN decides), once the
    /// guard has passed the URL; the client's resolver passes the addresses
    /// its host resolves to.
    pub fn post(
        &self,
        url: &str,
        to: Destination,
    ) -> Result<reqwest::RequestBuilder, OutboundError> {
        let url = self.checked(url, to)?;
        Ok(self.clients()?.http.post(url))
    }

    /// A POST through the HTTP/2-only client, guarded the same way.
    pub fn post_http2(
        &self,
        url: &str,
        to: Destination,
    ) -> Result<reqwest::RequestBuilder, OutboundError> {
        let url = self.checked(url, to)?;
        Ok(self.clients()?.http2.post(url))
    }

    /// POSTs a JSON body signed with `secret`, with the extra headers, and
    /// reads the answer within `timeout` (redirects are not followed).
    pub async fn post_signed(
        &self,
        url: &str,
        secret: &str,
        headers: &[(&str, String)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Answer, OutboundError> {
        let mut request = self
            .post(url, Destination::Customer)?
            .header("Content-Type", "application/json")
            .header(SIGNATURE, signature(secret, body))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let call = async {
            let response = request.send().await.map_err(OutboundError::Request)?;
            let status = response.status().as_u16();
            let body = read_up_to(response, MAX_ANSWER).await?;
            Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| OutboundError::Timeout(timeout))?
    }

    /// GETs an HTML page for a user's link: every hop (redirects followed
    /// here, within `limits`) passes the guard's URL checks, and every
    /// connection the resolver's address checks; only `text/html` is read,
    /// up to `limits.bytes`, all within `limits.timeout`.
    pub async fn get_page(&self, url: &str, limits: PageLimits) -> Result<Page, OutboundError> {
        let call = async {
            let mut url = self.checked(url, Destination::Customer)?;
            let mut hops = 0;
            loop {
                let response = self
                    .clients()?
                    .http
                    .get(url.clone())
                    .header(reqwest::header::ACCEPT, "text/html")
                    .header(reqwest::header::USER_AGENT, PAGE_AGENT)
                    .send()
                    .await
                    .map_err(OutboundError::Request)?;
                let status = response.status();
                if status.is_redirection() {
                    let next = response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|l| l.to_str().ok())
                        .and_then(|l| url.join(l).ok())
                        .ok_or(OutboundError::Status(status.as_u16()))?;
                    hops += 1;
                    if hops > limits.redirects {
                        return Err(OutboundError::Redirects(limits.redirects));
                    }
                    url = self.checked(next.as_str(), Destination::Customer)?;
                    continue;
                }
                if !status.is_success() {
                    return Err(OutboundError::Status(status.as_u16()));
                }
                let html = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|t| t.to_str().ok())
                    .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
                if !html {
                    return Err(OutboundError::NotHtml);
                }
                let body = read_up_to(response, limits.bytes).await?;
                return Ok(Page { url, body });
            }
        };
        tokio::time::timeout(limits.timeout, call)
            .await
            .map_err(|_| OutboundError::Timeout(limits.timeout))?
    }
}

#[cfg(test)]
mod tests {
    /// RFC 4231, test case 2.
    #[test]
    fn signs_as_hmac_sha256_in_hex() {
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
