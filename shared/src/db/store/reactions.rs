//! A message's reaction counts, one map entry per live type.

use serde_json::json;

use super::spec;
use crate::db::UpdateSpec;

/// Adds `delta` to the count of `kind`. A new type is refused (the write's
/// condition fails) once the message holds `max_types` types.
pub fn count_change(kind: &str, delta: i64, max_types: usize) -> UpdateSpec {
    let mut update = spec(
        "SET #counts.#kind = if_not_exists(#counts.#kind, :zero) + :delta",
        None,
        &[("#counts", "reaction_counts"), ("#kind", kind)],
        vec![(":zero", json!(0)), (":delta", json!(delta))],
    );
    if delta > 0 {
        update.condition = Some(
            "attribute_not_exists(#counts) OR attribute_exists(#counts.#kind) OR size(#counts) < :types"
                .into(),
        );
        update.values.push((":types".into(), json!(max_types)));
    }
    update
}

/// Drops `kind` from the counts if it reached zero (a reaction added
/// meanwhile keeps it: the condition fails).
pub fn drop_if_zero(kind: &str) -> UpdateSpec {
    spec(
        "REMOVE #counts.#kind",
        Some("#counts.#kind <= :zero"),
        &[("#counts", "reaction_counts"), ("#kind", kind)],
        vec![(":zero", json!(0))],
    )
}
