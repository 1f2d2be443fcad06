//! The chat backend's library: configuration, errors, ids and key formats, the
//! DynamoDB data layer, auth, domain services and the HTTP routers that both the
//! Lambda functions and the local server serve.

pub mod acting;
pub mod actions;
pub mod apps;
pub mod auth;
pub mod aws;
pub mod blocklists;
pub mod blocks;
pub mod channels;
pub mod config;
pub mod db;
pub mod devices;
pub mod erasure;
pub mod error;
pub mod export;
pub mod flags;
pub mod http;
pub mod ids;
pub mod keys;
pub mod links;
pub mod messages;
pub mod notify;
pub mod outbound;
pub mod push;
pub mod ratelimit;
pub mod realtime;
pub mod scheduler;
pub mod socket;
pub mod state;
pub mod storage;
pub mod stream_jobs;
pub mod sync;
pub mod telemetry;
pub mod time;
pub mod uploads;
pub mod users;
pub mod webhooks;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;
