//! The user item as presence writes it.

use serde_json::json;

use super::spec;
use crate::db::UpdateSpec;

/// Online or not, and since when. Bumping the version keeps a concurrent
/// profile PATCH from undoing it.
pub fn presence(online: bool, now: &str) -> UpdateSpec {
    spec(
        "SET #online = :online, #last = :now ADD #version :one",
        None,
        &[
            ("#online", "online"),
            ("#last", "last_active"),
            ("#version", "version"),
        ],
        vec![
            (":online", json!(online)),
            (":now", json!(now)),
            (":one", json!(1)),
        ],
    )
}

/// Replaces the user's block map, if the item is still at `version` (the
/// caller read it; a concurrent change makes it read again).
pub fn blocked(map: serde_json::Value) -> UpdateSpec {
    spec(
        "SET #blocked = :blocked ADD #version :one",
        None,
        &[("#blocked", "blocked"), ("#version", "version")],
        vec![(":blocked", map), (":one", json!(1))],
    )
}
