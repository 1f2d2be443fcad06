//! The storage of message items: a send's transaction, thread reply counts,
//! and the filters of search and unread counts. Every attribute name and
//! expression about messages is here (the generic ones are in `db::store`).

use serde_json::json;

use super::polls::model::PollMessage;
use super::{Message, MessageRef, MessageType};
use crate::db::store::{self, names, spec, values};
use crate::db::{Cond, Db, DbError, Filter, UpdateSpec};
use crate::ids::{MessageId, PollId, UserId};
use crate::keys::{self, Key};

/// Unread counts stop here; clients show "99+".
pub const UNREAD_CAP: usize = 100;

/// A thread's parent gains (`+1`) or loses (`-1`) a reply; a shadowed one
/// counts in `shadowed_replies` too, which readers do not see. A reply
/// everyone sees, sent `at`, is the thread's latest activity.
pub fn replies_changed(delta: i64, shadowed: bool, at: Option<&str>) -> UpdateSpec {
    let mut expression = if shadowed {
        "ADD #replies :delta, #shadowed :delta".to_string()
    } else {
        "ADD #replies :delta".to_string()
    };
    let mut names = vec![("#replies", "reply_count")];
    if shadowed {
        names.push(("#shadowed", "shadowed_replies"));
    }
    let mut values = vec![(":delta", json!(delta))];
    if let Some(at) = at.filter(|_| !shadowed) {
        expression.push_str(" SET #last = :at");
        names.push(("#last", "last_reply_at"));
        values.push((":at", json!(at)));
    }
    spec(&expression, None, &names, values)
}

/// Replies (and messages) by any of `authors`.
pub fn by_any_of(authors: &[UserId]) -> Filter {
    // `IN` takes at most 100 operands: one clause per hundred.
    let mut clauses = Vec::new();
    let mut pairs = Vec::new();
    for (n, chunk) in authors.chunks(100).enumerate() {
        let operands: Vec<String> = (0..chunk.len()).map(|i| format!(":a{n}_{i}")).collect();
        clauses.push(format!("#user IN ({})", operands.join(", ")));
        pairs.extend(operands.into_iter().zip(chunk.iter().map(|u| json!(u))));
    }
    Filter {
        expression: clauses.join(" OR "),
        names: names(&[("#user", "user_id")]),
        values: pairs,
    }
}

/// Live messages whose lower-cased text contains `needle`.
pub fn text_contains(needle: &str) -> Filter {
    Filter {
        expression: "#entity = :message AND contains(#text, :needle) AND #kind <> :deleted".into(),
        names: names(&[
            ("#entity", "entity"),
            ("#text", "search_text"),
            ("#kind", "type"),
        ]),
        values: values(vec![
            (":message", json!("message")),
            (":needle", json!(needle)),
            (":deleted", json!(MessageType::Deleted)),
        ]),
    }
}

/// Messages (and replies) written by `author`.
pub fn by_author(author: &UserId) -> Filter {
    Filter {
        expression: "#user = :author".into(),
        names: names(&[("#user", "user_id")]),
        values: values(vec![(":author", json!(author))]),
    }
}

/// Messages that count as unread for `reader`: not shadowed, not deleted,
/// not their own, not by a user in `hidden` (whom they block). Each clause
/// passes an item without the attribute: DynamoDB compares a missing
/// attribute as false, whatever the comparator.
pub fn unread_for(reader: &UserId, hidden: &[UserId], followed: &[MessageId]) -> Filter {
    let mut expression = "(attribute_not_exists(#shadowed) OR #shadowed = :no) \
                          AND (attribute_not_exists(#type) OR #type <> :deleted) \
                          AND (attribute_not_exists(#user) OR #user <> :me)"
        .to_string();
    let mut pairs = vec![
        (":no".to_string(), json!(false)),
        (":deleted".to_string(), json!(MessageType::Deleted)),
        (":me".to_string(), json!(reader)),
    ];
    let mut attributes = vec![
        ("#shadowed", "shadowed"),
        ("#type", "type"),
        ("#user", "user_id"),
    ];
    // `IN` takes at most 100 operands: one clause per hundred.
    for (n, chunk) in hidden.chunks(100).enumerate() {
        let operands: Vec<String> = (0..chunk.len()).map(|i| format!(":h{n}_{i}")).collect();
        expression.push_str(&format!(" AND NOT (#user IN ({}))", operands.join(", ")));
        pairs.extend(operands.into_iter().zip(chunk.iter().map(|u| json!(u))));
    }
    // Replies of threads the reader takes part in count in the thread only.
    for (n, chunk) in followed.chunks(100).enumerate() {
        let operands: Vec<String> = (0..chunk.len()).map(|i| format!(":f{n}_{i}")).collect();
        expression.push_str(&format!(" AND NOT (#parent IN ({}))", operands.join(", ")));
        pairs.extend(operands.into_iter().zip(chunk.iter().map(|p| json!(p))));
    }
    if !followed.is_empty() {
        attributes.push(("#parent", "parent_id"));
    }
    Filter {
        expression,
        names: names(&attributes),
        values: pairs,
    }
}

/// Everything one send writes, in one transaction of O(1) items whatever
/// the channel's size.
#[derive(Debug)]
pub struct SendWrites {
    pub message: Message,
    pub reference: MessageRef,
    /// `true`: the message is in the channel's history and moves its
    /// `last_message_at`; either way the channel must not be frozen.
    pub bumps_channel: bool,
    pub sender: Option<SenderWrites>,
    /// The thread's parent, whose reply count grows.
    pub parent: Option<Key<keys::item::Message>>,
    /// The sender's thread draft, cleared by a reply. A channel draft is not
    /// deleted: one older than the member's `last_posted_ms` reads as gone.
    pub draft: Option<Key<keys::item::Draft>>,
    /// The user's rate-limit counter for the window: one more, refused at
    /// the limit (see `ratelimit::SendClaim`).
    pub rate: Option<(Key<keys::item::Counter>, crate::db::UpdateSpec)>,
}

/// The sending member's items after a send.
#[derive(Debug)]
pub struct SenderWrites {
    pub member: Key<keys::item::Member>,
    /// Read up to the new message (its sort key), if it is in the history.
    /// Only the member item moves: lists read the mark from there.
    pub read: Option<String>,
    /// A message in the channel itself (not a thread reply).
    pub posted: bool,
    pub now_ms: i64,
    /// Slow mode: refused if the member sent after this instant (epoch ms).
    pub slow_mode_threshold: Option<i64>,
}

/// Why a send's transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum SendRefused {
    #[error("a message with this id already exists")]
    IdTaken,
    #[error("the channel is frozen or gone")]
    Frozen,
    #[error("the sender is in slow mode")]
    SlowMode,
    #[error("the channel changed while sending")]
    Changed,
    #[error("the sender's rate limit is reached")]
    RateLimited,
    #[error("the poll was sent in another message")]
    PollTaken,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Commits a send, telling a refusal by which write's condition failed.
pub async fn commit_send(db: &Db, send: &SendWrites) -> Result<(), SendRefused> {
    let message = &send.message;
    let channel_key = keys::channel(&message.app_id, &message.channel_id);
    let now_ms = crate::time::now_millis();
    let channel_update = if send.bumps_channel {
        store::channels::message_posted(&message.created_at, now_ms)
    } else {
        store::channels::reply_posted(now_ms)
    };
    let mut writes = vec![
        db.put_write(message, Cond::NotExists)?,
        db.put_write(&send.reference, Cond::NotExists)?,
        db.update_write(&channel_key, &channel_update, Cond::Live)?,
    ];
    const ID_LOCK: usize = 1;
    const CHANNEL: usize = 2;
    let mut slow_mode_at = None;
    if let Some(sender) = &send.sender {
        let read = sender
            .read
            .as_deref()
            .map(|sk| (sk, &message.id, message.created_at.as_str()));
        let update = store::members::sent(
            sender.now_ms,
            read,
            sender.posted,
            sender.slow_mode_threshold,
        );
        if sender.slow_mode_threshold.is_some() {
            slow_mode_at = Some(writes.len());
        }
        writes.push(db.update_write(&sender.member, &update, Cond::Exists)?);
    }
    if let Some(parent) = &send.parent {
        writes.push(db.update_write(
            parent,
            &replies_changed(1, send.message.shadowed, Some(&send.message.created_at)),
            Cond::Exists,
        )?);
    }
    if let Some(draft) = &send.draft {
        writes.push(db.delete_write(draft, Cond::Always)?);
    }
    let mut poll_at = None;
    if let Some(poll) = &message.poll_id {
        poll_at = Some(writes.len());
        writes.push(poll_placed(db, poll, message)?);
    }
    let mut rate_at = None;
    if let Some((key, claim)) = &send.rate {
        rate_at = Some(writes.len());
        writes.push(db.update_write(key, claim, Cond::Always)?);
    }
    match db.transact(writes).await {
        Ok(()) => Ok(()),
        Err(DbError::TransactionCanceled(reasons)) => {
            let failed = |i: usize| reasons.get(i).is_some_and(Option::is_some);
            Err(if failed(ID_LOCK) {
                SendRefused::IdTaken
            } else if failed(CHANNEL) {
                SendRefused::Frozen
            } else if slow_mode_at.is_some_and(failed) {
                SendRefused::SlowMode
            } else if rate_at.is_some_and(failed) {
                SendRefused::RateLimited
            } else if poll_at.is_some_and(failed) {
                SendRefused::PollTaken
            } else {
                SendRefused::Changed
            })
        }
        Err(other) => Err(other.into()),
    }
}

/// The send's write that puts its poll in the message: once, and only by
/// the poll's creator (the condition fails otherwise).
fn poll_placed(db: &Db, poll: &PollId, message: &Message) -> Result<crate::db::Write, DbError> {
    let placed = PollMessage {
        channel_id: message.channel_id.clone(),
        message_id: message.id.clone(),
        sort_id: message.sort_id.clone(),
        in_channel: message.in_channel(),
        author: message.user_id.clone(),
        shadowed: message.shadowed,
    };
    let spec = store::polls::bind(
        serde_json::to_value(&placed).map_err(|e| DbError::Sdk(Box::new(e)))?,
        message.user_id.as_str(),
        &message.created_at,
    );
    db.update_write(&keys::poll(&message.app_id, poll), &spec, Cond::Exists)
}

/// Why a new reaction's transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum ReactionRefused {
    /// The same user's reaction of this type exists (a concurrent twin).
    #[error("the reaction exists")]
    Exists,
    #[error("the message has the most reaction types it may")]
    TooManyTypes,
    #[error("the channel is frozen or gone")]
    Frozen,
    #[error("the message changed")]
    Changed,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Stores a reaction and counts it on its message, only while the channel
/// is not frozen and the message has room for a new type.
pub async fn commit_reaction(
    db: &Db,
    reaction: &super::Reaction,
    message: &Key<keys::item::Message>,
    max_types: usize,
) -> Result<(), ReactionRefused> {
    let channel = keys::channel(&reaction.app_id, &reaction.channel_id);
    let writes = vec![
        db.put_write(reaction, Cond::NotExists)?,
        db.update_write(
            message,
            &store::reactions::count_change(&reaction.kind, 1, max_types),
            Cond::Exists,
        )?,
        db.update_write(&channel, &store::channels::not_frozen(), Cond::Live)?,
    ];
    match db.transact(writes).await {
        Ok(()) => Ok(()),
        Err(DbError::TransactionCanceled(reasons)) => {
            let failed = |i: usize| reasons.get(i).is_some_and(Option::is_some);
            Err(if failed(0) {
                ReactionRefused::Exists
            } else if failed(1) {
                ReactionRefused::TooManyTypes
            } else if failed(2) {
                ReactionRefused::Frozen
            } else {
                ReactionRefused::Changed
            })
        }
        Err(other) => Err(other.into()),
    }
}

/// Deletes a reaction and uncounts it; `false` (nothing written) when the
/// user had no such reaction.
pub async fn commit_unreaction(
    db: &Db,
    reaction: &Key<keys::item::Reaction>,
    message: &Key<keys::item::Message>,
    kind: &str,
) -> Result<bool, DbError> {
    let writes = vec![
        db.delete_write(reaction, Cond::Exists)?,
        db.update_write(
            message,
            &store::reactions::count_change(kind, -1, 0),
            Cond::Exists,
        )?,
    ];
    match db.transact(writes).await {
        Ok(()) => Ok(true),
        Err(DbError::TransactionCanceled(reasons))
            if reasons.first().is_some_and(Option::is_some) =>
        {
            Ok(false)
        }
        Err(other) => Err(other),
    }
}
