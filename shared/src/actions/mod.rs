//! Use cases with their effects. Each function does its write through the
//! domain and then publishes everything the write caused (events, the
//! change log, outbox jobs for push and webhooks), after it commits. The
//! REST routers and the socket handler only parse, call one of these and
//! render, so a new transport or a new effect is added in one place.

pub mod channels;
pub mod flags;
pub mod messages;
pub mod polls;
pub mod previews;
pub mod reminders;
pub mod scheduled;
