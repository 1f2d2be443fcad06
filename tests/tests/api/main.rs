//! End-to-end tests: each test starts the whole local stack in-process (an
//! in-memory emulator on ephemeral ports) and drives it over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod application;
mod auth;
mod bad_input;
mod before_send;
mod blocklists;
mod blocks;
mod channel_list;
mod channel_members;
mod channel_moderation;
mod channel_tenancy;
mod channels;
mod costs;
mod devices;
mod drafts;
mod fanout;
mod faults;
mod flags;
mod health;
mod helpers;
mod message_edit;
mod message_history;
mod message_send;
mod message_tenancy;
mod online;
mod openapi;
mod permissions;
mod push;
mod rate_limits;
mod reactions;
mod read_access;
mod read_state;
mod realtime;
mod realtime_load;
mod rules;
mod search;
mod security;
mod sessions;
mod tenancy;
mod truncation;
mod uploads;
mod users;
mod webhooks;
mod ws;
