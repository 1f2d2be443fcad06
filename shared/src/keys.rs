//! Every key format of the single table lives here, and only here. The tests
//! pin each format: changing one silently would orphan stored data.

use std::marker::PhantomData;

use crate::ids::{AppId, ChannelId, ConnectionId, DeviceId, MessageId, PollId, UserId};

/// The primary key of an item of kind `K`, one of the markers in [`item`]:
/// a key made for one kind of item cannot read another.
///
/// ```
/// # async fn read(db: &chat_shared::db::Db, app: &chat_shared::ids::AppId, id: &chat_shared::ids::ChannelId) {
/// use chat_shared::{channels::Channel, keys};
/// let channel: Option<Channel> = db.get(&keys::channel(app, id)).await.unwrap();
/// # }
/// ```
///
/// ```compile_fail
/// # async fn read(db: &chat_shared::db::Db, app: &chat_shared::ids::AppId, id: &chat_shared::ids::UserId) {
/// use chat_shared::{channels::Channel, keys};
/// let channel: Option<Channel> = db.get(&keys::user(app, id)).await.unwrap();
/// # }
/// ```
pub struct Key<K = item::Any> {
    pub pk: String,
    pub sk: String,
    kind: PhantomData<fn() -> K>,
}

/// What a [`Key`] addresses: one marker per kind of item in the table.
pub mod item {
    macro_rules! kinds {
        ($($name:ident),* $(,)?) => {
            $(
                #[derive(Debug)]
                pub enum $name {}
            )*
        };
    }
    kinds!(
        App,
        ApiKey,
        User,
        Device,
        Draft,
        Scheduled,
        Reminder,
        Following,
        Membership,
        UserConnection,
        Connection,
        Channel,
        Member,
        Online,
        Watch,
        FanoutJob,
        WebhookJob,
        Flag,
        Flagged,
        Reachable,
        UnreadMark,
        PushJob,
        DeadWebhook,
        Ban,
        Distinct,
        Message,
        MessageRef,
        Pin,
        Reaction,
        Counter,
        Former,
        Erasure,
        EraseJob,
        Change,
        Poll,
        Vote,
        VoteMark,
        Ballot,
        LinkPreview,
    );
    /// A key of a secondary index (an item's GSI attributes), never read by.
    #[derive(Debug)]
    pub enum Index {}
    /// Some item, as read back from the table (what erasure deletes).
    #[derive(Debug)]
    pub enum Any {}
}

impl<K> Key<K> {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self {
            pk,
            sk: sk.into(),
            kind: PhantomData,
        }
    }

    /// The same key, as a key of some item (for reads of several kinds at
    /// once, whose items the caller tells apart).
    pub fn any(&self) -> Key {
        Key::new(self.pk.clone(), self.sk.clone())
    }
}

impl Key {
    /// The key of an item as read back from the table.
    pub fn from_stored(pk: &str, sk: &str) -> Self {
        Self::new(pk.to_string(), sk)
    }
}

impl<K> Clone for Key<K> {
    fn clone(&self) -> Self {
        Self::new(self.pk.clone(), self.sk.clone())
    }
}

impl<K> PartialEq for Key<K> {
    fn eq(&self, other: &Self) -> bool {
        self.pk == other.pk && self.sk == other.sk
    }
}

impl<K> Eq for Key<K> {}

impl<K> std::fmt::Debug for Key<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("pk", &self.pk)
            .field("sk", &self.sk)
            .finish()
    }
}

pub const DEVICE_PREFIX: &str = "DEVICE#";
pub const DRAFT_PREFIX: &str = "DRAFT#";
/// A message the user scheduled, in their own partition (erased with it).
pub const SCHEDULED_PREFIX: &str = "SCHED#";
/// A message the user keeps (a reminder, or saved for later), in their own
/// partition (erased with it).
pub const REMINDER_PREFIX: &str = "REMIND#";
/// A thread the user takes part in, with their read mark there, in their
/// own partition (erased with it).
pub const FOLLOW_PREFIX: &str = "THREAD#";
pub const MEMBERSHIP_PREFIX: &str = "CHANNEL#";
pub const CONNECTION_PREFIX: &str = "CONN#";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const MESSAGE_PREFIX: &str = "MSG#";
pub const REACTION_PREFIX: &str = "REACTION#";
pub const BAN_PREFIX: &str = "BAN#";
/// Thread replies not shown in the channel: beside `MSG#` in the channel's
/// partition, so history and unread counts (prefix `MSG#`) skip them.
pub const REPLY_PREFIX: &str = "REPLY#";
pub const PIN_PREFIX: &str = "PIN#";
pub const WATCH_PREFIX: &str = "WATCH#";
/// A channel member who has an open connection (see `realtime/online.rs`).
/// It sorts right after the watches (`WATCH#` < `WATCHING#`, and no other
/// sort key lies between): one query reads everyone an event may reach.
pub const ONLINE_PREFIX: &str = "WATCHING#";
/// A channel member who has a device to push to (see `push/reachable.rs`).
pub const REACHABLE_PREFIX: &str = "PUSHTO#";
/// A message a member with a device has not read, in the member's own
/// partition (see `push/badges.rs`): what a push's badge counts.
pub const UNREAD_PREFIX: &str = "UNREAD#";

/// Partitions of fan-out jobs; the fan-out function's stream filter matches
/// this prefix (template.yaml, and the local event source mapping).
pub const FANOUT_PREFIX: &str = "FANOUT#";
/// Partitions of webhook deliveries; the notify function's stream filter
/// matches this prefix.
pub const WEBHOOK_PREFIX: &str = "WEBHOOK#";
/// Partitions of push jobs (one per message); the notify function's stream
/// filter matches this prefix too.
pub const PUSH_PREFIX: &str = "PUSH#";
/// Partitions of erasure slices (`DELETE /users/{id}`); the notify
/// function's stream filter matches this prefix too.
pub const ERASE_PREFIX: &str = "ERASE#";
/// A channel the user was a member of and left (or was removed from): where
/// their messages and reactions may still be, for erasure and export.
pub const FORMER_PREFIX: &str = "FORMER#";
/// A channel's change log (edits, deletions, reactions, reads, members,
/// channel changes) for catch-up; new messages are read from the history.
pub const CHANGE_PREFIX: &str = "CHG#";
/// An app's webhooks that used up their attempts (never on a stream filter).
pub const DEAD_WEBHOOK_PREFIX: &str = "DEADHOOK#";

/// The sort-key range of a channel's listeners: its watches, then its
/// online members.
pub fn listeners_range() -> (&'static str, String) {
    (WATCH_PREFIX, upper(ONLINE_PREFIX))
}

pub fn app(app: &AppId) -> Key<item::App> {
    Key::new(format!("APP#{app}"), "APP")
}

pub fn api_key(api_key: &str) -> Key<item::ApiKey> {
    Key::new(format!("KEY#{api_key}"), "KEY")
}

/// Partition holding a user and everything owned by them.
pub fn user_partition(app: &AppId, user: &UserId) -> String {
    format!("APP#{app}#USER#{user}")
}

pub fn user(app: &AppId, user: &UserId) -> Key<item::User> {
    Key::new(user_partition(app, user), "USER")
}

pub fn device(app: &AppId, user: &UserId, device: &DeviceId) -> Key<item::Device> {
    Key::new(
        user_partition(app, user),
        format!("{DEVICE_PREFIX}{device}"),
    )
}

pub fn draft(app: &AppId, user: &UserId, channel: &ChannelId) -> Key<item::Draft> {
    Key::new(
        user_partition(app, user),
        format!("{DRAFT_PREFIX}{channel}"),
    )
}

pub fn scheduled(app: &AppId, user: &UserId, id: &MessageId) -> Key<item::Scheduled> {
    Key::new(user_partition(app, user), format!("{SCHEDULED_PREFIX}{id}"))
}

pub fn reminder(app: &AppId, user: &UserId, message: &MessageId) -> Key<item::Reminder> {
    Key::new(
        user_partition(app, user),
        format!("{REMINDER_PREFIX}{message}"),
    )
}

pub fn following(app: &AppId, user: &UserId, parent: &MessageId) -> Key<item::Following> {
    Key::new(
        user_partition(app, user),
        format!("{FOLLOW_PREFIX}{parent}"),
    )
}

pub fn membership(app: &AppId, user: &UserId, channel: &ChannelId) -> Key<item::Membership> {
    Key::new(
        user_partition(app, user),
        format!("{MEMBERSHIP_PREFIX}{channel}"),
    )
}

pub fn user_connection(
    app: &AppId,
    user: &UserId,
    connection: &ConnectionId,
) -> Key<item::UserConnection> {
    Key::new(
        user_partition(app, user),
        format!("{CONNECTION_PREFIX}{connection}"),
    )
}

pub fn connection(connection: &ConnectionId) -> Key<item::Connection> {
    Key::new(format!("CONN#{connection}"), "CONN")
}

pub fn channel_partition(app: &AppId, channel: &ChannelId) -> String {
    format!("APP#{app}#CH#{channel}")
}

pub fn channel(app: &AppId, channel: &ChannelId) -> Key<item::Channel> {
    Key::new(channel_partition(app, channel), "CHANNEL")
}

pub fn member(app: &AppId, channel: &ChannelId, user: &UserId) -> Key<item::Member> {
    Key::new(
        channel_partition(app, channel),
        format!("{MEMBER_PREFIX}{user}"),
    )
}

/// A member of the channel who is online: the fan-out index.
pub fn online(app: &AppId, channel: &ChannelId, user: &UserId) -> Key<item::Online> {
    Key::new(
        channel_partition(app, channel),
        format!("{ONLINE_PREFIX}{user}"),
    )
}

/// A connection watching a channel (receives its events without being a
/// member; public channels).
pub fn watch(app: &AppId, channel: &ChannelId, connection: &ConnectionId) -> Key<item::Watch> {
    Key::new(
        channel_partition(app, channel),
        format!("{WATCH_PREFIX}{connection}"),
    )
}

/// A fan-out job (an event for a large audience, or the part of one still
/// to deliver after a failure): a channel's jobs share a partition, so its
/// stream records, and so its events, are handled in order.
pub fn fanout(
    app: &AppId,
    channel: &ChannelId,
    event_id: &str,
    attempt: u32,
) -> Key<item::FanoutJob> {
    Key::new(
        format!("{FANOUT_PREFIX}{app}#{channel}"),
        format!("{event_id}#{attempt:02}"),
    )
}

/// One delivery attempt (or series of them, after a replay) of an event to
/// the app's webhook: an event's deliveries share a partition; each job is a
/// new item, so each is a stream insert.
pub fn webhook(app: &AppId, event_id: &str, job: &str) -> Key<item::WebhookJob> {
    Key::new(format!("{WEBHOOK_PREFIX}{app}#{event_id}"), job)
}

/// An app's reports, oldest first (ids are time-ordered).
pub fn flags(app: &AppId) -> String {
    format!("APP#{app}#FLAGS")
}

/// Sort keys of reports in their partition.
pub const FLAG_PREFIX: &str = "FLAG#";

/// A report.
pub fn flag(app: &AppId, id: &str) -> Key<item::Flag> {
    Key::new(flags(app), format!("{FLAG_PREFIX}{id}"))
}

/// The mark that `reporter` flagged `target` (`message:{id}` or `user:{id}`).
pub fn flagged(app: &AppId, target: &str, reporter: &UserId) -> Key<item::Flagged> {
    Key::new(format!("APP#{app}#FLAGGED#{target}"), reporter.as_str())
}

/// The mark that `user`, a member of `channel`, has a device.
pub fn reachable(app: &AppId, channel: &ChannelId, user: &UserId) -> Key<item::Reachable> {
    Key::new(
        channel_partition(app, channel),
        format!("{REACHABLE_PREFIX}{user}"),
    )
}

/// The unread mark of message `sort_id` of `channel` for `user`.
pub fn unread_mark(
    app: &AppId,
    user: &UserId,
    channel: &ChannelId,
    sort_id: &MessageId,
) -> Key<item::UnreadMark> {
    Key::new(
        user_partition(app, user),
        format!("{}{sort_id}", unread_marks_in(channel)),
    )
}

/// The sort-key prefix of a user's unread marks in one channel.
pub fn unread_marks_in(channel: &ChannelId) -> String {
    format!("{UNREAD_PREFIX}{channel}#")
}

/// The pushes of one message, to whoever of its channel is offline.
pub fn push(app: &AppId, channel: &ChannelId, message: &MessageId) -> Key<item::PushJob> {
    Key::new(format!("{PUSH_PREFIX}{app}#{channel}"), message.as_str())
}

/// The app's dead-lettered webhooks, in event order (ids are time-ordered).
pub fn dead_webhooks(app: &AppId) -> String {
    format!("{DEAD_WEBHOOK_PREFIX}{app}")
}

/// Sort keys of dead-lettered webhooks in their partition.
pub const DEAD_WEBHOOK_SK: &str = "HOOK#";

/// An event whose webhook used up its attempts.
pub fn dead_webhook(app: &AppId, event_id: &str) -> Key<item::DeadWebhook> {
    Key::new(dead_webhooks(app), format!("{DEAD_WEBHOOK_SK}{event_id}"))
}

/// A ban of a user in a channel (a TTL item when the ban expires).
pub fn ban(app: &AppId, channel: &ChannelId, user: &UserId) -> Key<item::Ban> {
    Key::new(
        channel_partition(app, channel),
        format!("{BAN_PREFIX}{user}"),
    )
}

/// The lock that makes a distinct channel unique per member set: its key is
/// a hash of the channel type and the sorted member ids.
pub fn distinct(app: &AppId, member_set_hash: &str) -> Key<item::Distinct> {
    Key::new(format!("APP#{app}#DISTINCT#{member_set_hash}"), "DISTINCT")
}

/// A message in its channel, by its time-ordered sort id.
pub fn message(app: &AppId, channel: &ChannelId, sort_id: &MessageId) -> Key<item::Message> {
    Key::new(
        channel_partition(app, channel),
        format!("{MESSAGE_PREFIX}{sort_id}"),
    )
}

/// A thread reply that is not also shown in the channel.
pub fn reply(app: &AppId, channel: &ChannelId, sort_id: &MessageId) -> Key<item::Message> {
    Key::new(
        channel_partition(app, channel),
        format!("{REPLY_PREFIX}{sort_id}"),
    )
}

/// Message id → where the message is. Also the idempotency lock of a send.
pub fn message_ref(app: &AppId, message: &MessageId) -> Key<item::MessageRef> {
    Key::new(format!("APP#{app}#MSGID#{message}"), "MSGID")
}

/// GSI1 key of a thread reply: the parent's replies in order.
pub fn thread(app: &AppId, parent: &MessageId, sort_id: &MessageId) -> Key<item::Index> {
    Key::new(
        format!("APP#{app}#THREAD#{parent}"),
        format!("{MESSAGE_PREFIX}{sort_id}"),
    )
}

/// A pinned message's entry in its channel.
pub fn pin(app: &AppId, channel: &ChannelId, sort_id: &MessageId) -> Key<item::Pin> {
    Key::new(
        channel_partition(app, channel),
        format!("{PIN_PREFIX}{sort_id}"),
    )
}

/// GSI1 key of a reaction: one user's reactions in a channel by message
/// order, so a history page finds the caller's own reactions in one query.
pub fn reactor(
    app: &AppId,
    channel: &ChannelId,
    user: &UserId,
    sort_id: &MessageId,
    kind: &str,
) -> Key<item::Index> {
    Key::new(
        reactor_partition(app, channel, user),
        format!("{sort_id}#{kind}"),
    )
}

pub fn reactor_partition(app: &AppId, channel: &ChannelId, user: &UserId) -> String {
    format!("APP#{app}#CH#{channel}#REACTOR#{user}")
}

/// The last GSI1 sort key of a user's reactions to messages up to `sort_id`
/// (all their types): the upper bound of a range over a page of messages.
pub fn reactor_upper(sort_id: &str) -> String {
    upper(&format!("{sort_id}#"))
}

/// The highest sort key that starts with `prefix`: `BETWEEN lo AND
/// upper(prefix)` takes every key under the prefix from `lo` on.
pub fn upper(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// A draft of a thread reply (`draft` is the channel's own draft).
pub fn thread_draft(
    app: &AppId,
    user: &UserId,
    channel: &ChannelId,
    parent: &MessageId,
) -> Key<item::Draft> {
    Key::new(
        user_partition(app, user),
        format!("{DRAFT_PREFIX}{channel}#{parent}"),
    )
}

pub fn reaction_partition(app: &AppId, message: &MessageId) -> String {
    format!("APP#{app}#MSG#{message}")
}

/// Sort-key prefix of one user's reactions on a message (in its reaction partition).
pub fn user_reactions_prefix(user: &UserId) -> String {
    format!("{REACTION_PREFIX}{user}#")
}

pub fn reaction(
    app: &AppId,
    message: &MessageId,
    user: &UserId,
    kind: &str,
) -> Key<item::Reaction> {
    Key::new(
        reaction_partition(app, message),
        format!("{REACTION_PREFIX}{user}#{kind}"),
    )
}

/// A poll's partition: the poll, its votes (time-ordered), each voter's
/// mark per option and their ballot (how many votes they cast).
pub fn poll_partition(app: &AppId, poll: &PollId) -> String {
    format!("APP#{app}#POLL#{poll}")
}

pub const VOTE_PREFIX: &str = "VOTE#";
pub const VOTED_PREFIX: &str = "VOTED#";

pub fn poll(app: &AppId, poll: &PollId) -> Key<item::Poll> {
    Key::new(poll_partition(app, poll), "POLL".to_string())
}

/// A vote, by its time-ordered id: the newest are the latest voters.
pub fn vote(app: &AppId, poll: &PollId, vote: &str) -> Key<item::Vote> {
    Key::new(poll_partition(app, poll), format!("{VOTE_PREFIX}{vote}"))
}

/// A voter's mark on one option: at most one vote per user and option.
pub fn vote_mark(app: &AppId, poll: &PollId, user: &UserId, option: &str) -> Key<item::VoteMark> {
    Key::new(
        poll_partition(app, poll),
        format!("{VOTED_PREFIX}{user}#{option}"),
    )
}

/// Sort-key prefix of one voter's marks in a poll.
pub fn vote_marks_prefix(user: &UserId) -> String {
    format!("{VOTED_PREFIX}{user}#")
}

pub fn ballot(app: &AppId, poll: &PollId, user: &UserId) -> Key<item::Ballot> {
    Key::new(poll_partition(app, poll), format!("{BALLOT_PREFIX}{user}"))
}

/// GSI1 partition of one voter's votes and ballots, in every poll of the
/// app: what erasure removes and export lists.
pub fn voter_partition(app: &AppId, user: &UserId) -> String {
    format!("APP#{app}#VOTER#{user}")
}

pub const BALLOT_PREFIX: &str = "BALLOT#";

/// GSI1 key of a vote: its voter's votes in time order.
pub fn voter_vote(app: &AppId, user: &UserId, vote: &str) -> Key<item::Index> {
    Key::new(voter_partition(app, user), format!("{VOTE_PREFIX}{vote}"))
}

/// GSI1 key of a ballot: the polls a voter has voted in.
pub fn voter_ballot(app: &AppId, user: &UserId, poll: &PollId) -> Key<item::Index> {
    Key::new(voter_partition(app, user), format!("{BALLOT_PREFIX}{poll}"))
}

/// A link's preview, cached per app for a day: `hash` is the URL's SHA-256.
pub fn link_preview(app: &AppId, hash: &str) -> Key<item::LinkPreview> {
    Key::new(format!("APP#{app}#PREVIEW#{hash}"), "PREVIEW".to_string())
}

#[cfg(test)]
mod listener_tests {
    use super::*;

    #[test]
    fn watches_and_online_members_are_one_range_with_nothing_else_in_it() {
        let (lo, hi) = listeners_range();
        let others = [
            DEVICE_PREFIX,
            DRAFT_PREFIX,
            SCHEDULED_PREFIX,
            REMINDER_PREFIX,
            FOLLOW_PREFIX,
            MEMBERSHIP_PREFIX,
            CONNECTION_PREFIX,
            MEMBER_PREFIX,
            MESSAGE_PREFIX,
            REACTION_PREFIX,
            BAN_PREFIX,
            REPLY_PREFIX,
            PIN_PREFIX,
            "CHANNEL",
        ];
        for other in others {
            let key = format!("{other}zzz");
            assert!(
                key.as_str() < lo || key.as_str() > hi.as_str(),
                "{other} is in the range"
            );
        }
        assert!(format!("{WATCH_PREFIX}conn1").as_str() >= lo);
        assert!(format!("{ONLINE_PREFIX}zed").as_str() <= hi.as_str());
        assert!(format!("{WATCH_PREFIX}\u{10FFFF}").as_str() < ONLINE_PREFIX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds_span_every_key_under_a_prefix() {
        let top = upper(MESSAGE_PREFIX);
        assert!(format!("{MESSAGE_PREFIX}zzzz-9999") < top);
        assert!(top.as_str() < REPLY_PREFIX);
        assert!(reactor_upper("0190").as_str() > "0190#👍");
        assert!(reactor_upper("0190").as_str() < "0191#a");
    }

    fn ids() -> (AppId, UserId, ChannelId, MessageId) {
        (
            AppId::parse("a1").unwrap(),
            UserId::parse("u1").unwrap(),
            ChannelId::parse("c1").unwrap(),
            MessageId::parse("m1").unwrap(),
        )
    }

    fn pair<K>(k: Key<K>) -> (String, String) {
        (k.pk, k.sk)
    }

    #[test]
    fn key_formats_are_pinned() {
        let (a, u, c, m) = ids();
        let d = DeviceId::parse("d1").unwrap();
        let conn = ConnectionId::parse("x1").unwrap();
        let s = |p: &str, q: &str| (p.to_string(), q.to_string());
        assert_eq!(pair(app(&a)), s("APP#a1", "APP"));
        assert_eq!(pair(api_key("k1")), s("KEY#k1", "KEY"));
        assert_eq!(pair(user(&a, &u)), s("APP#a1#USER#u1", "USER"));
        assert_eq!(pair(device(&a, &u, &d)), s("APP#a1#USER#u1", "DEVICE#d1"));
        assert_eq!(pair(draft(&a, &u, &c)), s("APP#a1#USER#u1", "DRAFT#c1"));
        assert_eq!(pair(scheduled(&a, &u, &m)), s("APP#a1#USER#u1", "SCHED#m1"));
        assert_eq!(
            pair(membership(&a, &u, &c)),
            s("APP#a1#USER#u1", "CHANNEL#c1")
        );
        assert_eq!(
            pair(user_connection(&a, &u, &conn)),
            s("APP#a1#USER#u1", "CONN#x1")
        );
        assert_eq!(pair(connection(&conn)), s("CONN#x1", "CONN"));
        assert_eq!(pair(channel(&a, &c)), s("APP#a1#CH#c1", "CHANNEL"));
        assert_eq!(pair(member(&a, &c, &u)), s("APP#a1#CH#c1", "MEMBER#u1"));
        assert_eq!(pair(message(&a, &c, &m)), s("APP#a1#CH#c1", "MSG#m1"));
        assert_eq!(pair(ban(&a, &c, &u)), s("APP#a1#CH#c1", "BAN#u1"));
        assert_eq!(pair(reply(&a, &c, &m)), s("APP#a1#CH#c1", "REPLY#m1"));
        assert_eq!(pair(watch(&a, &c, &conn)), s("APP#a1#CH#c1", "WATCH#x1"));
        assert_eq!(
            pair(unread_mark(&a, &u, &c, &m)),
            s("APP#a1#USER#u1", "UNREAD#c1#m1")
        );
        assert_eq!(pair(fanout(&a, &c, "e1", 2)), s("FANOUT#a1#c1", "e1#02"));
        assert_eq!(pair(webhook(&a, "e1", "j1")), s("WEBHOOK#a1#e1", "j1"));
        assert_eq!(pair(dead_webhook(&a, "e1")), s("DEADHOOK#a1", "HOOK#e1"));
        assert_eq!(pair(message_ref(&a, &m)), s("APP#a1#MSGID#m1", "MSGID"));
        assert_eq!(pair(thread(&a, &m, &m)), s("APP#a1#THREAD#m1", "MSG#m1"));
        assert_eq!(pair(pin(&a, &c, &m)), s("APP#a1#CH#c1", "PIN#m1"));
        let p = PollId::parse("p1").unwrap();
        assert_eq!(pair(poll(&a, &p)), s("APP#a1#POLL#p1", "POLL"));
        assert_eq!(pair(vote(&a, &p, "v1")), s("APP#a1#POLL#p1", "VOTE#v1"));
        assert_eq!(
            pair(vote_mark(&a, &p, &u, "o1")),
            s("APP#a1#POLL#p1", "VOTED#u1#o1")
        );
        assert_eq!(pair(ballot(&a, &p, &u)), s("APP#a1#POLL#p1", "BALLOT#u1"));
        assert_eq!(
            pair(voter_vote(&a, &u, "v1")),
            s("APP#a1#VOTER#u1", "VOTE#v1")
        );
        assert_eq!(
            pair(voter_ballot(&a, &u, &p)),
            s("APP#a1#VOTER#u1", "BALLOT#p1")
        );
        assert_eq!(
            pair(link_preview(&a, "h1")),
            s("APP#a1#PREVIEW#h1", "PREVIEW")
        );
        assert_eq!(
            pair(reactor(&a, &c, &u, &m, "like")),
            s("APP#a1#CH#c1#REACTOR#u1", "m1#like")
        );
        assert_eq!(
            pair(thread_draft(&a, &u, &c, &m)),
            s("APP#a1#USER#u1", "DRAFT#c1#m1")
        );
        assert_eq!(
            pair(distinct(&a, "h1")),
            s("APP#a1#DISTINCT#h1", "DISTINCT")
        );
        assert_eq!(
            pair(reaction(&a, &m, &u, "like")),
            s("APP#a1#MSG#m1", "REACTION#u1#like")
        );
    }

    #[test]
    fn partitions_of_two_apps_never_meet() {
        let (_, u, c, _) = ids();
        let a = AppId::parse("a").unwrap();
        let b = AppId::parse("b").unwrap();
        assert_ne!(user(&a, &u), user(&b, &u));
        assert_ne!(channel(&a, &c), channel(&b, &c));
    }
}

/// A rate-limit counter: `subject` (`user:{id}` or `app`) in one endpoint
/// group and one window (epoch seconds at its start).
pub fn rate(app: &AppId, subject: &str, group: &str, window: i64) -> Key<item::Counter> {
    Key::new(format!("RATE#{app}#{subject}"), format!("{group}#{window}"))
}

/// The mark of a channel `user` left (in their partition).
pub fn former(app: &AppId, user: &UserId, channel: &ChannelId) -> Key<item::Former> {
    Key::new(
        user_partition(app, user),
        format!("{FORMER_PREFIX}{channel}"),
    )
}

/// The progress of erasing a user: outside their partition, so it outlives
/// it.
pub fn erasure(app: &AppId, user: &UserId) -> Key<item::Erasure> {
    Key::new(format!("APP#{app}#ERASURE#{user}"), "ERASURE")
}

/// One slice of erasing a user (an outbox job): a new item per slice, so
/// each is a stream insert.
pub fn erase_job(app: &AppId, user: &UserId, slice: u64) -> Key<item::EraseJob> {
    Key::new(format!("{ERASE_PREFIX}{app}#{user}"), format!("{slice:08}"))
}

/// The sort-key range of a whole partition (every key format here starts
/// above a space).
pub fn whole_range() -> (&'static str, String) {
    (" ", upper(""))
}

/// One entry of a channel's change log: an event, by its time-ordered id.
pub fn change(app: &AppId, channel: &ChannelId, event_id: &str) -> Key<item::Change> {
    Key::new(
        channel_partition(app, channel),
        format!("{CHANGE_PREFIX}{event_id}"),
    )
}
