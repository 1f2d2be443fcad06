//! Thread participation items: made by the first reply or mention that
//! concerns a user, with their read mark in the thread.

use serde_json::json;

use super::spec;
use crate::db::{table, UpdateSpec};
use crate::ids::{AppId, ChannelId, MessageId, UserId};

/// Where a user's participation is: the thread, and the parent's channel
/// and sort id (to read the parent by its key).
pub struct Thread<'a> {
    pub app: &'a AppId,
    pub channel: &'a ChannelId,
    pub parent: &'a MessageId,
    pub parent_sort: &'a MessageId,
}

/// Makes `user`'s participation if missing (`since` kept); `read`: also
/// moves their read mark forward to a reply (its thread sort key and id).
pub fn follow(
    entity: &str,
    thread: &Thread<'_>,
    user: &UserId,
    now: &str,
    read: Option<(&str, &MessageId)>,
) -> UpdateSpec {
    let mut expression = "SET #entity = :entity, #app = :app, #user = :user, #channel = :channel, \
                          #parent = :parent, #psort = :psort, #since = if_not_exists(#since, :now)"
        .to_string();
    let mut names = vec![
        ("#entity", table::ENTITY),
        ("#app", "app_id"),
        ("#user", "user_id"),
        ("#channel", "channel_id"),
        ("#parent", "parent_id"),
        ("#psort", "parent_sort_id"),
        ("#since", "since"),
    ];
    let mut values = vec![
        (":entity", json!(entity)),
        (":app", json!(thread.app)),
        (":user", json!(user)),
        (":channel", json!(thread.channel)),
        (":parent", json!(thread.parent)),
        (":psort", json!(thread.parent_sort)),
        (":now", json!(now)),
    ];
    let mut condition = None;
    if let Some((sort_key, reply)) = read {
        expression.push_str(", #read = :sk, #rid = :rid, #rat = :now");
        names.extend([
            ("#read", "read_up_to"),
            ("#rid", "last_read_reply_id"),
            ("#rat", "last_read_at"),
        ]);
        values.extend([(":sk", json!(sort_key)), (":rid", json!(reply))]);
        condition = Some("attribute_not_exists(#read) OR #read <= :sk");
    }
    spec(&expression, condition, &names, values)
}
