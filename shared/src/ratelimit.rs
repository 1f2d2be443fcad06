//! Rate limits: requests per minute for each user (user tokens) or app
//! (server tokens) in each endpoint group, held across every Lambda
//! instance by one counter item per (subject, group, minute).
//!
//! A counter write per request would double what a cheap read costs, so an
//! instance claims requests in growing batches: 1, 2, 4, … up to a
//! twentieth of the limit. A subject whose requests land on one instance
//! pays one write for its first request of the minute and then one per
//! doubling; the total claimed never passes the limit (the claim is a
//! conditional `ADD`), and a batch an instance claimed but did not use
//! makes other instances refuse early by at most that much.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use serde::{Deserialize, Serialize};

use crate::db::{Cond, Db, DbError};
use crate::error::{ApiError, DisplayChain};
use crate::ids::AppId;
use crate::keys;

/// The window: limits are per minute.
pub const WINDOW_SECS: i64 = 60;

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// `POST /messages` and the socket's `message.send`.
    Send,
    /// Every other change: REST `POST`/`PUT`/`PATCH`/`DELETE`, socket
    /// actions.
    Write,
    /// REST `GET`.
    Read,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::Send => "send",
            Group::Write => "write",
            Group::Read => "read",
        }
    }

    /// A REST request's group.
    pub fn of_request(method: &Method, path: &str) -> Self {
        if *method == Method::GET || *method == Method::HEAD {
            Group::Read
        } else if *method == Method::POST && path.trim_end_matches('/').ends_with("/v1/messages") {
            Group::Send
        } else {
            Group::Write
        }
    }
}

/// Requests a minute for one user, and for an app's server tokens together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub user: u32,
    pub app: u32,
}

/// An app's limits per endpoint group (requests per minute). Defaults are
/// of the order the hosted chat APIs publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub send: Limit,
    pub write: Limit,
    pub read: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            send: Limit {
                user: 60,
                app: 6_000,
            },
            write: Limit {
                user: 300,
                app: 12_000,
            },
            read: Limit {
                user: 1_200,
                app: 60_000,
            },
        }
    }
}

/// The most one limit may be.
pub const MAX_LIMIT: u32 = 1_000_000;

impl RateLimits {
    fn of(&self, group: Group) -> Limit {
        match group {
            Group::Send => self.send,
            Group::Write => self.write,
            Group::Read => self.read,
        }
    }

    /// Why these limits cannot be set, if they cannot.
    pub fn problem(&self) -> Option<String> {
        [self.send, self.write, self.read]
            .iter()
            .flat_map(|l| [l.user, l.app])
            .any(|n| n == 0 || n > MAX_LIMIT)
            .then(|| format!("rate_limits: every limit is 1 to {MAX_LIMIT} a minute"))
    }
}

/// Who a limit counts: one user, or the app's server tokens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    User(crate::ids::UserId),
    Server,
}

impl Subject {
    fn key(&self) -> String {
        match self {
            Subject::User(user) => format!("user:{user}"),
            Subject::Server => "app".into(),
        }
    }
}

/// Where a subject stands in the current window: the response headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window ends and the count starts again.
    pub reset: i64,
}

impl Quota {
    /// Seconds until the window ends (at least 1).
    pub fn retry_after(&self) -> u64 {
        u64::try_from(self.reset - crate::time::now_secs())
            .unwrap_or(0)
            .max(1)
    }
}

/// One instance's claim on a window.
#[derive(Debug, Default)]
struct Lease {
    /// Claimed and not used yet.
    left: u32,
    /// Claims made (the next batch is `2^claims`).
    claims: u32,
    /// The counter after this instance's last claim.
    counted: u32,
}

type LeaseKey = (String, String, Group, i64);

/// The limiter a process shares. Its own table client, so its requests are
/// metered apart from the operations it guards (the cost table shows both).
#[derive(Clone)]
pub struct RateLimiter {
    db: Db,
    leases: moka::sync::Cache<LeaseKey, Arc<Mutex<Lease>>>,
}

impl RateLimiter {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            leases: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(2 * WINDOW_SECS as u64))
                .build(),
        }
    }

    /// The limiter's own requests (the cost table).
    pub fn costs(&self) -> std::collections::BTreeMap<String, crate::db::OpCost> {
        self.db.costs()
    }

    /// Admits one request of `subject` in `group`, or refuses it (`429`
    /// with the quota). A counter the table cannot update lets the request
    /// through: an outage of the limiter is not an outage of the API.
    pub async fn admit(
        &self,
        app: &AppId,
        limits: &RateLimits,
        subject: &Subject,
        group: Group,
    ) -> Result<Quota, (ApiError, Quota)> {
        let now = crate::time::now_secs();
        let window = now - now.rem_euclid(WINDOW_SECS);
        let limits = limits.of(group);
        let limit = match subject {
            Subject::User(_) => limits.user,
            Subject::Server => limits.app,
        };
        let reset = window + WINDOW_SECS;
        let lease = self
            .leases
            .get_with((app.to_string(), subject.key(), group, window), || {
                Arc::new(Mutex::new(Lease::default()))
            });
        let quota = |lease: &Lease| Quota {
            limit,
            remaining: limit.saturating_sub(lease.counted) + lease.left,
            reset,
        };
        let batch = {
            let mut lease = lease.lock().unwrap_or_else(|p| p.into_inner());
            if lease.left > 0 {
                lease.left -= 1;
                return Ok(quota(&lease));
            }
            (1u32 << lease.claims.min(16)).min((limit / 20).max(1))
        };
        let key = keys::rate(app, &subject.key(), group.name(), window);
        let expires = reset + WINDOW_SECS;
        let claimed = match self.claim(&key, batch, limit, expires).await {
            // Fewer than a batch left: try for the one this request needs.
            Err(DbError::ConditionFailed) if batch > 1 => {
                self.claim(&key, 1, limit, expires).await.map(|n| (n, 1))
            }
            other => other.map(|n| (n, batch)),
        };
        let mut lease = lease.lock().unwrap_or_else(|p| p.into_inner());
        match claimed {
            Ok((count, n)) => {
                lease.claims += 1;
                lease.left += n - 1;
                lease.counted = lease.counted.max(count);
                Ok(quota(&lease))
            }
            Err(DbError::ConditionFailed) => {
                lease.counted = limit;
                let quota = quota(&lease);
                Err((
                    ApiError::RateLimited {
                        message: format!(
                            "rate limit: {limit} {} requests a minute; retry after the window",
                            group.name()
                        ),
                        retry_after: quota.retry_after(),
                    },
                    quota,
                ))
            }
            Err(err) => {
                tracing::warn!(error = %DisplayChain(&err), "rate limit counter unavailable; request let through");
                Ok(Quota {
                    limit,
                    remaining: limit.saturating_sub(lease.counted),
                    reset,
                })
            }
        }
    }

    /// Adds `n` to the window's counter unless that passes `limit`; the
    /// counter's new value.
    async fn claim(
        &self,
        key: &keys::Key,
        n: u32,
        limit: u32,
        expires: i64,
    ) -> Result<u32, DbError> {
        #[derive(Deserialize)]
        struct Counted {
            count: u32,
        }
        let spec = crate::db::store::rates::claim(n, limit, expires);
        let counted: Counted = self.db.update_returning(key, &spec, Cond::Always).await?;
        Ok(counted.count)
    }
}

/// Where a request's quota is left for the response's headers (the
/// extractor that authenticates fills it; [`headers`] reads it).
#[derive(Clone, Default)]
pub struct QuotaSlot(Arc<Mutex<Option<Quota>>>);

impl QuotaSlot {
    pub fn set(&self, quota: Quota) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(quota);
        }
    }

    fn get(&self) -> Option<Quota> {
        self.0.lock().ok().and_then(|q| *q)
    }
}

/// Middleware: every authenticated response carries `X-RateLimit-Limit`,
/// `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds).
pub async fn headers(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let slot = QuotaSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(quota) = slot.get() {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", i64::from(quota.limit)),
            ("x-ratelimit-remaining", i64::from(quota.remaining)),
            ("x-ratelimit-reset", quota.reset),
        ] {
            headers.insert(name, axum::http::HeaderValue::from(value));
        }
    }
    response
}
