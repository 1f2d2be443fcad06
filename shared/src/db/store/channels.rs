//! The channel item as other writes touch it.

use serde_json::json;

use super::spec;
use crate::db::UpdateSpec;

/// A new message in the channel's history: `last_message_at` moves on.
/// Bumping the version keeps a concurrent PATCH from writing back a stale
/// value; the condition refuses a freeze in between.
pub fn message_posted(now: &str) -> UpdateSpec {
    spec(
        "SET #last = :now ADD #version :one",
        Some("#frozen = :no"),
        &[
            ("#last", "last_message_at"),
            ("#version", "version"),
            ("#frozen", "frozen"),
        ],
        vec![
            (":now", json!(now)),
            (":one", json!(1)),
            (":no", json!(false)),
        ],
    )
}

/// Changes nothing; fails the transaction it is part of if the channel is
/// frozen (a write that must not land in a frozen channel).
pub fn not_frozen() -> UpdateSpec {
    spec(
        "SET #frozen = :no",
        Some("#frozen = :no"),
        &[("#frozen", "frozen")],
        vec![(":no", json!(false))],
    )
}

/// Members joined (`delta > 0`) or left: the count moves without a read, so
/// concurrent changes never conflict; the version moves too.
pub fn member_count_change(delta: i64) -> UpdateSpec {
    spec(
        "ADD #count :delta, #version :one",
        None,
        &[("#count", "member_count"), ("#version", "version")],
        vec![(":delta", json!(delta)), (":one", json!(1))],
    )
}
