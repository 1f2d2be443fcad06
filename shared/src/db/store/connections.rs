//! The user item's connection index: a map of connection id → connect time,
//! whose size caps a user's connections.

use serde_json::json;

use super::spec;
use crate::db::UpdateSpec;
use crate::ids::ConnectionId;

/// Adds `id` to the index, refused once it holds `cap` connections (racing
/// connects cannot pass the cap together).
pub fn index_add(id: &ConnectionId, at: i64, cap: usize) -> UpdateSpec {
    spec(
        "SET #conns.#cid = :at ADD #version :one",
        Some("attribute_not_exists(#conns) OR size(#conns) < :cap"),
        &[
            ("#conns", "connections"),
            ("#cid", id.as_str()),
            ("#version", "version"),
        ],
        vec![(":one", json!(1)), (":at", json!(at)), (":cap", json!(cap))],
    )
}

/// Removes `id` from the index.
pub fn index_remove(id: &ConnectionId) -> UpdateSpec {
    spec(
        "REMOVE #conns.#cid ADD #version :one",
        None,
        &[
            ("#conns", "connections"),
            ("#cid", id.as_str()),
            ("#version", "version"),
        ],
        vec![(":one", json!(1))],
    )
}
