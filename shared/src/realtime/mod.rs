//! The real-time layer: WebSocket connections and sessions,
//! typed events, and the one notifier that delivers them
//! through the API Gateway management API.

pub mod asyncapi;
pub mod audience;
pub mod changes;
pub mod connections;
pub mod events;
pub mod fanout;
pub mod frames;
pub mod management;
pub mod notifier;
pub mod online;
pub mod pace;
pub mod presence;
pub mod publish;
pub mod sessions;
