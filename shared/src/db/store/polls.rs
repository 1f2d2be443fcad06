//! A poll's counts per option, its options, its message and its closing;
//! a voter's ballot (how many votes they cast).

use serde_json::{json, Value};

use super::spec;
use crate::db::UpdateSpec;
use crate::keys::{item, Key};

/// Open at `now_ms`: not closed, and its `closes_at` still ahead.
const OPEN: &str =
    "attribute_not_exists(#closed) AND (attribute_not_exists(#closes) OR #closes > :now_ms)";

const OPEN_NAMES: [(&str, &str); 2] = [("#closed", "closed_at"), ("#closes", "closes_ms")];

/// The poll is sent in a message: it takes the message's place once, and
/// only from its creator.
pub fn bind(message: Value, creator: &str, now: &str) -> UpdateSpec {
    spec(
        "SET #message = :message, #updated = :now",
        Some("attribute_not_exists(#message) AND #by = :by"),
        &[
            ("#message", "message"),
            ("#by", "created_by"),
            ("#updated", "updated_at"),
        ],
        vec![
            (":message", message),
            (":by", json!(creator)),
            (":now", json!(now)),
        ],
    )
}

/// Moves the counts by a vote: `add` one more, `remove` one fewer. Refused
/// (the condition fails) when the poll is closed, not sent, or lacks an
/// option.
pub fn counted(add: Option<&str>, remove: Option<&str>, now_ms: i64, now: &str) -> UpdateSpec {
    moved(add, remove, Some(now_ms), now)
}

/// One vote fewer on `option`, whatever the poll's state: an erased voter's
/// vote. Refused only when the poll or the option is gone.
pub fn uncounted(option: &str, now: &str) -> UpdateSpec {
    moved(None, Some(option), None, now)
}

/// The counts moved; while the poll is open at `open_at` (ms) if given.
fn moved(add: Option<&str>, remove: Option<&str>, open_at: Option<i64>, now: &str) -> UpdateSpec {
    let mut sets = vec!["#updated = :now".to_string()];
    let mut conditions = vec![];
    let mut names = vec![
        ("#counts".to_string(), "vote_counts".to_string()),
        ("#updated".to_string(), "updated_at".to_string()),
    ];
    let mut values = vec![(":one", json!(1)), (":now", json!(now))];
    if let Some(now_ms) = open_at {
        conditions.extend(["attribute_exists(#message)".to_string(), OPEN.to_string()]);
        names.push(("#message".to_string(), "message".to_string()));
        names.extend(
            OPEN_NAMES
                .iter()
                .map(|(n, a)| (n.to_string(), a.to_string())),
        );
        values.push((":now_ms", json!(now_ms)));
    }
    for (name, option, sign) in [("#add", add, "+"), ("#remove", remove, "-")] {
        if let Some(option) = option {
            sets.push(format!("#counts.{name} = #counts.{name} {sign} :one"));
            conditions.push(format!("attribute_exists(#counts.{name})"));
            names.push((name.to_string(), option.to_string()));
        }
    }
    UpdateSpec {
        expression: format!("SET {}", sets.join(", ")),
        condition: Some(conditions.join(" AND ")),
        names,
        values: super::values(values),
    }
}

/// One more option (`{"id", "text"}`) with no votes, while the poll is
/// open and has fewer than `max` options.
pub fn option_added(option: Value, id: &str, max: usize, now_ms: i64, now: &str) -> UpdateSpec {
    let mut names = vec![
        ("#options", "options"),
        ("#counts", "vote_counts"),
        ("#id", id),
        ("#updated", "updated_at"),
    ];
    names.extend(OPEN_NAMES);
    spec(
        "SET #options = list_append(#options, :new), #counts.#id = :zero, #updated = :now",
        Some(&format!("size(#options) < :max AND {OPEN}")),
        &names,
        vec![
            (":new", json!([option])),
            (":zero", json!(0)),
            (":max", json!(max)),
            (":now", json!(now)),
            (":now_ms", json!(now_ms)),
        ],
    )
}

/// Closes the poll, once.
pub fn close(now: &str) -> UpdateSpec {
    spec(
        "SET #closed = :now, #updated = :now",
        Some("attribute_not_exists(#closed)"),
        &[("#closed", "closed_at"), ("#updated", "updated_at")],
        vec![(":now", json!(now))],
    )
}

/// A voter's ballot: `delta` votes more (or fewer); one more is refused at
/// `max`. A ballot that may be new gets its poll and its place in the
/// voter's index (`voter`: their GSI1 key), so it is found by voter.
pub fn ballot(
    entity: &str,
    delta: i64,
    max: Option<u32>,
    voter: Option<(&str, &Key<item::Index>)>,
) -> UpdateSpec {
    let mut update = spec(
        "SET #entity = :entity ADD #votes :delta",
        None,
        &[("#entity", crate::db::table::ENTITY), ("#votes", "votes")],
        vec![(":entity", json!(entity)), (":delta", json!(delta))],
    );
    if let (true, Some(max)) = (delta > 0, max) {
        update.condition = Some("attribute_not_exists(#votes) OR #votes < :max".into());
        update.values.push((":max".into(), json!(max)));
    }
    if let Some((poll, index)) = voter {
        update.expression = "SET #entity = :entity, #poll = :poll, #gpk = :gpk, #gsk = :gsk \
                             ADD #votes :delta"
            .into();
        for (name, attribute) in [
            ("#poll", "poll_id"),
            ("#gpk", crate::db::table::GSI1_PK),
            ("#gsk", crate::db::table::GSI1_SK),
        ] {
            update.names.push((name.into(), attribute.into()));
        }
        for (name, value) in [(":poll", poll), (":gpk", &index.pk), (":gsk", &index.sk)] {
            update.values.push((name.into(), json!(value)));
        }
    }
    update
}
