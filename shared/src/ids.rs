//! Id newtypes. Each is validated once at the edge, so an id that could break a
//! key (a `#`, a control character, an empty string) never reaches the data layer.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

use crate::error::ApiError;

/// Characters allowed in tenant-chosen ids (users, channels, messages): the
/// set Stream and Sendbird accept, minus the key separator `#`.
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@' | '.' | '=' | '!' | ':')
}

/// API Gateway connection ids are base64-like (`+`, `/`, `=`).
fn is_connection_char(c: char) -> bool {
    c.is_ascii_graphic() && c != '#'
}

fn check(kind: &str, value: &str, max: usize) -> Result<(), ApiError> {
    check_chars(kind, value, max, is_id_char)
}

fn check_chars(
    kind: &str,
    value: &str,
    max: usize,
    allowed: fn(char) -> bool,
) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::validation(format!("{kind} must not be empty")));
    }
    if value.len() > max {
        return Err(ApiError::validation(format!(
            "{kind} must be at most {max} characters"
        )));
    }
    if !value.chars().all(allowed) {
        return Err(ApiError::validation(format!(
            "{kind} may contain only letters, digits and _ - @ . = ! :"
        )));
    }
    // `.` and `..` would be path segments wherever an id meets a path.
    if value.chars().all(|c| c == '.') {
        return Err(ApiError::validation(format!(
            "{kind} must not be only dots"
        )));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        id_type!($(#[$doc])* $name, $kind, $max, check);
    };
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(value: impl Into<String>) -> Result<Self, ApiError> {
                let value = value.into();
                $check($kind, &value, $max)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An application (tenant).
    AppId, "app id", 64
);
id_type!(
    /// A tenant's end user, identified by the tenant's own id.
    UserId, "user id", 128
);
id_type!(
    /// A push device token registered by a user (APNs/FCM tokens are long).
    DeviceId, "device id", 512
);
id_type!(ChannelId, "channel id", 128);
id_type!(MessageId, "message id", 128);
id_type!(
    /// A poll, made before the message that carries it.
    PollId, "poll id", 64
);
id_type!(
    /// A WebSocket connection id as API Gateway assigns it.
    ConnectionId,
    "connection id",
    128,
    |kind, value: &str, max| check_chars(kind, value, max, is_connection_char)
);

impl PollId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }
}

impl MessageId {
    /// A new time-ordered id (UUIDv7), so sort keys follow send order.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl MessageId {
    /// The smallest time-ordered id of millisecond `ms`: every id generated at
    /// or after that time sorts above it. Bounds unread counts and truncation.
    pub fn lower_bound_at(ms: i64) -> String {
        let ms = u64::try_from(ms).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(ms, &[0u8; 10])
            .into_uuid()
            .to_string()
    }
}

impl ChannelId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }
}

impl AppId {
    pub fn generate() -> Self {
        Self(format!("app_{}", uuid::Uuid::now_v7().simple()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_separator_empty_and_oversized() {
        assert!(UserId::parse("alice").is_ok());
        assert!(UserId::parse("a.b-c_d@e").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a#b").is_err());
        assert!(UserId::parse("a b").is_err());
        assert!(UserId::parse("a/b").is_err());
        assert!(UserId::parse("x".repeat(129)).is_err());
        assert!(UserId::parse("x".repeat(128)).is_ok());
    }

    #[test]
    fn ids_deserialize_with_validation() {
        let ok: Result<UserId, _> = serde_json::from_str("\"bob\"");
        assert!(ok.is_ok());
        let bad: Result<UserId, _> = serde_json::from_str("\"bo#b\"");
        assert!(bad.is_err());
    }

    #[test]
    fn lower_bound_sorts_below_ids_generated_later() {
        let bound = MessageId::lower_bound_at(crate::time::now_millis());
        let later = MessageId::generate();
        assert!(bound.as_str() <= later.as_str());
        let earlier_bound = MessageId::lower_bound_at(crate::time::now_millis() - 60_000);
        assert!(earlier_bound < bound);
    }

    #[test]
    fn generated_message_ids_are_time_ordered() {
        let a = MessageId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = MessageId::generate();
        assert!(a.as_str() < b.as_str());
    }
}
