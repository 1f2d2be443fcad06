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
