//! Member and membership items: read marks and the sender's slow-mode
//! stamp.

use serde_json::json;

use super::{names, spec, values};
use crate::db::UpdateSpec;
use crate::ids::MessageId;

/// Moves a read mark to `sort_key` (both the member and the membership item
/// carry it). `forward_only`: refused if the stored mark is already later.
pub fn read_mark(
    sort_key: &str,
    message: Option<&MessageId>,
    now: &str,
    forward_only: bool,
) -> UpdateSpec {
    spec(
        "SET #read = :sk, #rid = :id, #rat = :now",
        forward_only.then_some("attribute_not_exists(#read) OR #read <= :sk"),
        &[
            ("#read", "read_up_to"),
            ("#rid", "last_read_message_id"),
            ("#rat", "last_read_at"),
        ],
        vec![
            (":sk", json!(sort_key)),
            (":id", json!(message)),
            (":now", json!(now)),
        ],
    )
}

/// Moves a delivery mark forward to `sort_key` (the member item alone);
/// refused unless it is later than the stored one.
pub fn delivered_mark(sort_key: &str, message: Option<&MessageId>, now: &str) -> UpdateSpec {
    spec(
        "SET #dlv = :sk, #did = :id, #dat = :now",
        Some("attribute_not_exists(#dlv) OR #dlv < :sk"),
        &[
            ("#dlv", "delivered_up_to"),
            ("#did", "last_delivered_message_id"),
            ("#dat", "last_delivered_at"),
        ],
        vec![
            (":sk", json!(sort_key)),
            (":id", json!(message)),
            (":now", json!(now)),
        ],
    )
}

/// The sender's member item after a send: when they last sent (slow mode),
/// when they last posted in the channel itself (a channel draft older than
/// that was sent), and, for a message in the channel's history, read up to
/// it (`read`: its sort key, id and time). `slow_mode_threshold`: refused if
/// they sent after it.
pub fn sent(
    now_ms: i64,
    read: Option<(&str, &MessageId, &str)>,
    posted: bool,
    slow_mode_threshold: Option<i64>,
) -> UpdateSpec {
    let mut update = spec(
        "SET #sent = :now",
        None,
        &[("#sent", "last_sent_ms")],
        vec![(":now", json!(now_ms))],
    );
    if posted {
        update.expression.push_str(", #posted = :now");
        update.names.extend(names(&[("#posted", "last_posted_ms")]));
    }
    if let Some((sort_key, id, at)) = read {
        update
            .expression
            .push_str(", #read = :sk, #rid = :rid, #rat = :rat");
        update.names.extend(names(&[
            ("#read", "read_up_to"),
            ("#rid", "last_read_message_id"),
            ("#rat", "last_read_at"),
        ]));
        update.values.extend(values(vec![
            (":sk", json!(sort_key)),
            (":rid", json!(id)),
            (":rat", json!(at)),
        ]));
    }
    if let Some(threshold) = slow_mode_threshold {
        update.condition = Some("attribute_not_exists(#sent) OR #sent <= :threshold".into());
        update
            .values
            .extend(values(vec![(":threshold", json!(threshold))]));
    }
    update
}
