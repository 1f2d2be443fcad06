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
//!
//! A user's send is counted by the send itself ([`SendClaim`]): its counter
//! is read with the send's other items and claimed inside the send's
//! transaction, so the send makes no request of its own for its limit.

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

/// The limiter a process shares, on the table's client: its requests are
/// metered with the operations they guard.
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

    /// Drops what this instance has claimed (the cost table measures each
    /// operation as a subject's first request of a window).
    pub fn forget_claims(&self) {
        self.leases.invalidate_all();
    }

    fn lease(
        &self,
        app: &AppId,
        subject: &Subject,
        group: Group,
        window: i64,
    ) -> Arc<Mutex<Lease>> {
        self.leases
            .get_with((app.to_string(), subject.key(), group, window), || {
                Arc::new(Mutex::new(Lease::default()))
            })
    }

    /// A user's send, counted by the send's own transaction rather than by
    /// a request of its own: refused at once when this instance knows the
    /// user's window is spent; otherwise the claim the transaction carries
    /// (its condition refuses the send at the limit) and the quota shown if
    /// the send goes through.
    pub fn claim_in_send(
        &self,
        app: &AppId,
        limits: &RateLimits,
        user: &crate::ids::UserId,
    ) -> Result<(SendClaim, Quota), (ApiError, Quota)> {
        let now = crate::time::now_secs();
        let window = now - now.rem_euclid(WINDOW_SECS);
        let limit = limits.send.user;
        let subject = Subject::User(user.clone());
        let claim = SendClaim {
            lease: self.lease(app, &subject, Group::Send, window),
            key: send_counter_key(app, user),
            limit,
            reset: window + WINDOW_SECS,
            settled: false.into(),
        };
        let lease = claim.lease.lock().unwrap_or_else(|p| p.into_inner());
        if lease.left == 0 && lease.counted >= limit {
            let quota = claim.quota(&lease, 0);
            drop(lease);
            return Err((claim.refusal(), quota));
        }
        let quota = claim.quota(&lease, 1);
        drop(lease);
        Ok((claim, quota))
    }

    /// Where a user's sends stand in the current window, as this instance
    /// last saw the counter (after a send: the send's own read, plus it).
    pub fn send_quota(&self, app: &AppId, limits: &RateLimits, user: &crate::ids::UserId) -> Quota {
        match self.claim_in_send(app, limits, user) {
            Ok((claim, _)) => {
                let lease = claim.lease.lock().unwrap_or_else(|p| p.into_inner());
                claim.quota(&lease, 0)
            }
            Err((_, quota)) => quota,
        }
    }

    /// A user's send refused before its write (or answered from an earlier
    /// one) still counts: one claim of its own.
    pub async fn count_unwritten(&self, claim: &SendClaim) {
        let spec = crate::db::store::rates::claim(1, claim.limit, claim.reset + WINDOW_SECS);
        match self.db.update(&claim.key, &spec, Cond::Always).await {
            Ok(()) => claim.written(),
            Err(DbError::ConditionFailed) => {
                claim.refused();
            }
            Err(err) => {
                tracing::warn!(error = %DisplayChain(&err), "rate limit counter unavailable");
            }
        }
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
        let lease = self.lease(app, subject, group, window);
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
        key: &keys::Key<keys::item::Counter>,
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

/// The counter item of the user's sends in the current window.
pub fn send_counter_key(app: &AppId, user: &crate::ids::UserId) -> keys::Key<keys::item::Counter> {
    let now = crate::time::now_secs();
    let window = now - now.rem_euclid(WINDOW_SECS);
    keys::rate(
        app,
        &Subject::User(user.clone()).key(),
        Group::Send.name(),
        window,
    )
}

/// One send's claim on its user's window, made by the send's transaction.
pub struct SendClaim {
    lease: Arc<Mutex<Lease>>,
    key: keys::Key<keys::item::Counter>,
    limit: u32,
    reset: i64,
    /// Counted (written, or refused by the counter).
    settled: std::sync::atomic::AtomicBool,
}

impl SendClaim {
    /// The window's counter item.
    pub fn counter_key(&self) -> &keys::Key<keys::item::Counter> {
        &self.key
    }

    /// Takes the counter as it stands (read ahead with the send's other
    /// items): refused now if the window is spent.
    pub async fn observe(&self, db: &Db) -> Result<(), ApiError> {
        #[derive(Deserialize)]
        struct Counter {
            #[serde(default)]
            count: u32,
        }
        impl crate::db::FromItem for Counter {
            type Item = keys::item::Counter;
        }
        let count = db.get::<Counter>(&self.key).await?.map_or(0, |c| c.count);
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        lease.counted = lease.counted.max(count);
        if count >= self.limit {
            drop(lease);
            return Err(self.refused());
        }
        Ok(())
    }

    /// The counter's update for the send's transaction: one more, refused
    /// at the limit.
    pub fn update(&self) -> (keys::Key<keys::item::Counter>, crate::db::UpdateSpec) {
        let spec = crate::db::store::rates::claim(1, self.limit, self.reset + WINDOW_SECS);
        (self.key.clone(), spec)
    }

    /// Whether the send has been counted.
    pub fn settled(&self) -> bool {
        self.settled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The send's transaction committed: one more counted.
    pub fn written(&self) {
        self.settled
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        lease.counted = lease.counted.saturating_add(1);
    }

    /// The counter refused: the window is spent (later sends on this
    /// instance are refused without a read).
    pub fn refused(&self) -> ApiError {
        self.settled
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        lease.counted = self.limit;
        self.refusal()
    }

    fn refusal(&self) -> ApiError {
        ApiError::RateLimited {
            message: format!(
                "rate limit: {} send requests a minute; retry after the window",
                self.limit
            ),
            retry_after: u64::try_from(self.reset - crate::time::now_secs())
                .unwrap_or(0)
                .max(1),
        }
    }

    /// The quota once `more` sends are counted.
    fn quota(&self, lease: &Lease, more: u32) -> Quota {
        Quota {
            limit: self.limit,
            remaining: self
                .limit
                .saturating_sub(lease.counted.saturating_add(more))
                + lease.left,
            reset: self.reset,
        }
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
