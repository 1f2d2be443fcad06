//! Rate-limit counters: requests claimed in one window.

use serde_json::json;

use super::spec;
use crate::db::{table, UpdateSpec};

/// Claims `n` more requests of a window whose limit is `limit`, refused
/// when fewer than `n` are left; the counter expires at `expires`.
pub fn claim(n: u32, limit: u32, expires: i64) -> UpdateSpec {
    spec(
        "ADD #count :n SET #ttl = if_not_exists(#ttl, :ttl)",
        Some("attribute_not_exists(#count) OR #count <= :room"),
        &[("#count", "count"), ("#ttl", table::TTL)],
        vec![
            (":n", json!(n)),
            (":room", json!(limit.saturating_sub(n))),
            (":ttl", json!(expires)),
        ],
    )
}
