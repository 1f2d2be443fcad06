//! Every key format of the single table lives here, and only here. The tests
//! pin each format: changing one silently would orphan stored data.

use crate::ids::{AppId, ChannelId, ConnectionId, DeviceId, MessageId, UserId};

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }
}

pub const DEVICE_PREFIX: &str = "DEVICE#";
pub const DRAFT_PREFIX: &str = "DRAFT#";
pub const MEMBERSHIP_PREFIX: &str = "CHANNEL#";
pub const CONNECTION_PREFIX: &str = "CONN#";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const MESSAGE_PREFIX: &str = "MSG#";
pub const REACTION_PREFIX: &str = "REACTION#";
pub const BAN_PREFIX: &str = "BAN#";

pub fn app(app: &AppId) -> Key {
    Key::new(format!("APP#{app}"), "APP")
}

pub fn api_key(api_key: &str) -> Key {
    Key::new(format!("KEY#{api_key}"), "KEY")
}

/// Partition holding a user and everything owned by them.
pub fn user_partition(app: &AppId, user: &UserId) -> String {
    format!("APP#{app}#USER#{user}")
}

pub fn user(app: &AppId, user: &UserId) -> Key {
    Key::new(user_partition(app, user), "USER")
}

pub fn device(app: &AppId, user: &UserId, device: &DeviceId) -> Key {
    Key::new(
        user_partition(app, user),
        format!("{DEVICE_PREFIX}{device}"),
    )
}

pub fn draft(app: &AppId, user: &UserId, channel: &ChannelId) -> Key {
    Key::new(
        user_partition(app, user),
        format!("{DRAFT_PREFIX}{channel}"),
    )
}

pub fn membership(app: &AppId, user: &UserId, channel: &ChannelId) -> Key {
    Key::new(
        user_partition(app, user),
        format!("{MEMBERSHIP_PREFIX}{channel}"),
    )
}

pub fn user_connection(app: &AppId, user: &UserId, connection: &ConnectionId) -> Key {
    Key::new(
        user_partition(app, user),
        format!("{CONNECTION_PREFIX}{connection}"),
    )
}

pub fn connection(connection: &ConnectionId) -> Key {
    Key::new(format!("CONN#{connection}"), "CONN")
}

pub fn channel_partition(app: &AppId, channel: &ChannelId) -> String {
    format!("APP#{app}#CH#{channel}")
}

pub fn channel(app: &AppId, channel: &ChannelId) -> Key {
    Key::new(channel_partition(app, channel), "CHANNEL")
}

pub fn member(app: &AppId, channel: &ChannelId, user: &UserId) -> Key {
    Key::new(
        channel_partition(app, channel),
        format!("{MEMBER_PREFIX}{user}"),
    )
}

/// A ban of a user in a channel (a TTL item when the ban expires).
pub fn ban(app: &AppId, channel: &ChannelId, user: &UserId) -> Key {
    Key::new(
        channel_partition(app, channel),
        format!("{BAN_PREFIX}{user}"),
    )
}

/// The lock that makes a distinct channel unique per member set: its key is
/// a hash of the channel type and the sorted member ids.
pub fn distinct(app: &AppId, member_set_hash: &str) -> Key {
    Key::new(format!("APP#{app}#DISTINCT#{member_set_hash}"), "DISTINCT")
}

pub fn message(app: &AppId, channel: &ChannelId, message: &MessageId) -> Key {
    Key::new(
        channel_partition(app, channel),
        format!("{MESSAGE_PREFIX}{message}"),
    )
}

pub fn reaction(app: &AppId, message: &MessageId, user: &UserId, kind: &str) -> Key {
    Key::new(
        format!("APP#{app}#MSG#{message}"),
        format!("{REACTION_PREFIX}{user}#{kind}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (AppId, UserId, ChannelId, MessageId) {
        (
            AppId::parse("a1").unwrap(),
            UserId::parse("u1").unwrap(),
            ChannelId::parse("c1").unwrap(),
            MessageId::parse("m1").unwrap(),
        )
    }

    fn pair(k: Key) -> (String, String) {
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
