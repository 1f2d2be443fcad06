//! The channel item as other writes touch it.

use serde_json::json;

use super::spec;
use crate::db::UpdateSpec;

/// A new message in the channel's history: `last_message_at` moves on.
/// Bumping the version keeps a concurrent PATCH from writing back a stale
/// value; the condition refuses a freeze in between.
pub fn message_posted(now: &str, now_ms: i64) -> UpdateSpec {
    spec(
        "SET #last = :now, #changed = :ms ADD #version :one",
        Some("#frozen = :no"),
        &[
            ("#last", "last_message_at"),
            ("#changed", "changed_ms"),
            ("#version", "version"),
            ("#frozen", "frozen"),
        ],
        vec![
            (":now", json!(now)),
            (":ms", json!(now_ms)),
            (":one", json!(1)),
            (":no", json!(false)),
        ],
    )
}

/// A thread reply kept out of the history: the channel must not be
/// frozen, and it changed (catch-up reads channels that changed).
pub fn reply_posted(now_ms: i64) -> UpdateSpec {
    spec(
        "SET #frozen = :no, #changed = :ms",
        Some("#frozen = :no"),
        &[("#frozen", "frozen"), ("#changed", "changed_ms")],
        vec![(":no", json!(false)), (":ms", json!(now_ms))],
    )
}

/// Something in the channel changed at `ms` (an edit, a reaction, a
/// member...): catch-up looks there. Never moves the mark back.
pub fn changed(ms: i64) -> UpdateSpec {
    spec(
        "SET #changed = :ms",
        Some("attribute_not_exists(#changed) OR #changed < :ms"),
        &[("#changed", "changed_ms")],
        vec![(":ms", json!(ms))],
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
/// The number of members with a device (`push/reachable.rs`) moves by
/// `delta`; the version moves too, so a whole-item write read before it
/// fails instead of putting the old number back.
pub fn reachable_change(delta: i64) -> UpdateSpec {
    spec(
        "ADD #reachable :delta, #version :one",
        None,
        &[("#reachable", "reachable"), ("#version", "version")],
        vec![(":delta", json!(delta)), (":one", json!(1))],
    )
}

pub fn member_count_change(delta: i64) -> UpdateSpec {
    spec(
        "ADD #count :delta, #version :one",
        None,
        &[("#count", "member_count"), ("#version", "version")],
        vec![(":delta", json!(delta)), (":one", json!(1))],
    )
}
