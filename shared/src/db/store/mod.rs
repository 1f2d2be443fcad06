//! The storage boundary's vocabulary: per aggregate, every attribute name,
//! update, condition and filter expression the domain needs, as typed
//! functions. Domain code composes these with keys from `keys.rs`; no file
//! outside `db/` and the aggregates' own `store.rs` (today
//! `messages/store.rs`, whose items are the domain's types) names an
//! attribute or writes an expression (`shared/tests/storage_boundary.rs`
//! holds that).

pub mod apps;
pub mod channels;
pub mod connections;
pub mod members;
pub mod polls;
pub mod rates;
pub mod reactions;
pub mod threads;
pub mod users;

use serde_json::Value;

use super::UpdateSpec;

/// `#name` → `attribute` pairs.
pub(crate) fn names(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, a)| ((*n).to_string(), (*a).to_string()))
        .collect()
}

/// `:value` → JSON pairs.
pub(crate) fn values(pairs: Vec<(&str, Value)>) -> Vec<(String, Value)> {
    pairs.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}

pub(crate) fn spec(
    expression: &str,
    condition: Option<&str>,
    name_pairs: &[(&str, &str)],
    value_pairs: Vec<(&str, Value)>,
) -> UpdateSpec {
    UpdateSpec {
        expression: expression.into(),
        condition: condition.map(Into::into),
        names: names(name_pairs),
        values: values(value_pairs),
    }
}
