//! The one notifier: finds the connections an event is for and posts it to
//! each through the API Gateway management API (`PostToConnection`, see
//! `management.rs`), with bounded concurrency. Locally the same client talks
//! to the gateway emulator. A 410 Gone deletes exactly that stale connection; any other
//! failure is logged. Nothing here ever fails the request that caused it.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_apigatewaymanagement::Client;
use futures::stream::{self, StreamExt};

use super::connections;
use super::events::{payload, Event};
use super::management::{Posted, Poster};
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ConnectionId, UserId};

/// What one fan-out did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    /// Stale connections found (410) and deleted.
    pub gone: usize,
    pub failed: usize,
}

#[derive(Clone)]
pub struct Notifier {
    /// `GetConnection` and `DeleteConnection`.
    client: Option<Client>,
    /// `PostToConnection`, every recipient of every event.
    poster: Option<Arc<Poster>>,
    db: Db,
    concurrency: usize,
}

impl Delivery {
    /// Counts one post's outcome; a failed post's target joins `failed`.
    fn count<T>(&mut self, outcome: Outcome, target: T, failed: &mut Vec<T>) {
        match outcome {
            Outcome::Sent => self.sent += 1,
            Outcome::Gone => self.gone += 1,
            Outcome::Failed => {
                self.failed += 1;
                failed.push(target);
            }
        }
    }

    /// Adds another fan-out's counts to these.
    pub fn add(&mut self, other: Delivery) {
        self.sent += other.sent;
        self.gone += other.gone;
        self.failed += other.failed;
    }
}

enum Outcome {
    Sent,
    Gone,
    Failed,
}

impl Notifier {
    /// Whether events are pushed at all (a management endpoint is set).
    pub fn enabled(&self) -> bool {
        self.client.is_some()
    }

    /// A notifier that pushes nothing (a function without the WebSocket
    /// API): no management client is built or linked.
    pub fn disabled(db: Db) -> Self {
        Self {
            client: None,
            poster: None,
            db,
            concurrency: 1,
        }
    }

    pub fn new(sdk: &aws_config::SdkConfig, config: &Config, db: Db) -> Self {
        let client = config.websocket_endpoint.as_ref().map(|endpoint| {
            let conf = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
                .endpoint_url(endpoint)
                // A post is retried briefly: a delivery late by seconds is
                // worth less than the next event.
                .retry_config(crate::db::retry_config().with_max_attempts(3))
                // Bodies are a few KB each way: the stall watchdog (a timer
                // per request) guards nothing here and costs CPU per post.
                .stalled_stream_protection(
                    aws_sdk_apigatewaymanagement::config::StalledStreamProtectionConfig::disabled(),
                )
                .build();
            Client::from_conf(conf)
        });
        let poster = config
            .websocket_endpoint
            .as_ref()
            .and_then(|endpoint| Poster::new(sdk, endpoint))
            .map(Arc::new);
        if client.is_some() && poster.is_none() {
            tracing::error!(
                "no credentials to sign management-API posts with: events are not delivered"
            );
        }
        Self {
            client,
            poster,
            db,
            concurrency: config.fanout_concurrency.max(1),
        }
    }

    /// Lanes (posts in flight) a fan-out opens for each
    /// [`crate::realtime::fanout::CONNECTIONS_PER_STEP`] connections it
    /// queues (`CHAT_FANOUT_CONCURRENCY`).
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Sends an event to every connection of these users.
    pub async fn to_users(&self, app: &AppId, users: &[UserId], event: &Event) -> Delivery {
        if self.client.is_none() || users.is_empty() {
            return Delivery::default();
        }
        match self
            .user_targets(app, users.iter().cloned().collect())
            .await
        {
            Ok(targets) => self.to_targets(app, targets, event).await,
            Err(err) => {
                tracing::warn!(error = %DisplayChain(&err), event = event.kind(), "fan-out look-up failed");
                Delivery::default()
            }
        }
    }

    /// Sends to one connection (an ack to the sender).
    pub async fn to_connection(
        &self,
        app: &AppId,
        user: &UserId,
        connection: &ConnectionId,
        body: &serde_json::Value,
    ) -> bool {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        matches!(
            self.post(app, user, connection, &bytes).await,
            Outcome::Sent
        )
    }

    /// Closes a connection through the management API (`DeleteConnection`;
    /// API Gateway then runs `$disconnect`). One already gone counts as closed.
    pub async fn close(&self, connection: &ConnectionId) -> bool {
        let Some(client) = &self.client else {
            return false;
        };
        match client
            .delete_connection()
            .connection_id(connection.as_str())
            .send()
            .await
        {
            Ok(_) => true,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_gone_exception()) =>
            {
                true
            }
            Err(err) => {
                tracing::warn!(error = %DisplayChain(&err), %connection, "delete_connection failed");
                false
            }
        }
    }

    /// Whether API Gateway says the connection is gone (`GetConnection`
    /// answers 410). Any other failure counts as open.
    pub async fn is_gone(&self, connection: &ConnectionId) -> bool {
        let Some(client) = &self.client else {
            return false;
        };
        match client
            .get_connection()
            .connection_id(connection.as_str())
            .send()
            .await
        {
            Ok(_) => false,
            Err(err) => err
                .as_service_error()
                .is_some_and(|e| e.is_gone_exception()),
        }
    }

    async fn user_targets(
        &self,
        app: &AppId,
        users: BTreeSet<UserId>,
    ) -> Result<Vec<(UserId, ConnectionId)>, ApiError> {
        let users: Vec<UserId> = users.into_iter().collect();
        connections::of_users(&self.db, app, &users).await
    }

    /// Sends an event to these connections (the audience a caller worked
    /// out, see [`super::audience`]).
    pub async fn to_targets(
        &self,
        app: &AppId,
        targets: Vec<(UserId, ConnectionId)>,
        event: &Event,
    ) -> Delivery {
        self.deliver(app, targets, &payload(event)).await.0
    }

    /// Posts these bytes to each connection; also names the connections a
    /// post failed for (not the gone ones), for a retry to reach them only.
    pub async fn deliver(
        &self,
        app: &AppId,
        targets: Vec<(UserId, ConnectionId)>,
        bytes: &[u8],
    ) -> (Delivery, Vec<(UserId, ConnectionId)>) {
        let outcomes = stream::iter(targets)
            .map(|(user, connection)| async move {
                let outcome = self.post(app, &user, &connection, bytes).await;
                (outcome, user, connection)
            })
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        let mut delivery = Delivery::default();
        let mut failed = Vec::new();
        for (outcome, user, connection) in outcomes {
            delivery.count(outcome, (user, connection), &mut failed);
        }
        (delivery, failed)
    }

    /// Lanes that post to the connections [`Lanes::push`]ed to them, each
    /// its own body: [`Self::concurrency`] lanes for each `step` connections
    /// queued.
    pub fn lanes(&self, app: &AppId, step: usize) -> Lanes {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Lanes {
            notifier: self.clone(),
            app: app.clone(),
            step: step.max(1),
            tx,
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            queued: 0,
            lanes: Vec::new(),
        }
    }

    async fn post(
        &self,
        app: &AppId,
        user: &UserId,
        connection: &ConnectionId,
        bytes: &[u8],
    ) -> Outcome {
        let Some(poster) = &self.poster else {
            return Outcome::Failed;
        };
        match poster.post(connection, bytes).await {
            Posted::Sent => Outcome::Sent,
            Posted::Gone => {
                if let Err(err) = connections::remove(&self.db, app, user, connection).await {
                    tracing::warn!(error = %DisplayChain(&err), %connection, "could not delete a stale connection");
                }
                tracing::debug!(%connection, "stale connection removed (410)");
                Outcome::Gone
            }
            Posted::Failed(err) => {
                tracing::warn!(error = %DisplayChain(&err), %connection, "post_to_connection failed");
                Outcome::Failed
            }
        }
    }
}

/// Most posts one fan-out keeps in flight, whatever its size: each may hold
/// a connection of its own, and a Lambda function has 1,024 file
/// descriptors. 800 lanes at 20 ms a post are 40,000 posts a second, four
/// times the default management quota.
pub const MAX_LANES: usize = 800;

/// Lanes for `queued` connections: `concurrency` for each `step` of them,
/// never more than [`MAX_LANES`] nor than the connections.
pub fn lanes_for(queued: usize, step: usize, concurrency: usize) -> usize {
    (queued.div_ceil(step.max(1)) * concurrency)
        .min(queued)
        .min(MAX_LANES)
}

/// A connection to post to, and its user.
pub type Target = (UserId, ConnectionId);
/// A connection and the body posted to it (shared by all who get the same).
pub type Post = (Target, Arc<[u8]>);
/// What the lanes did, and the posts that failed (not the gone ones).
type LaneReport = (Delivery, Vec<Post>);

/// A fan-out's posts in flight. Each lane is a task of its own (so the
/// posts' CPU work spreads over the runtime's threads) taking the next
/// connection from one shared queue (so a lane done early takes over from
/// slow ones); connections can be queued while earlier ones are posted.
pub struct Lanes {
    notifier: Notifier,
    app: AppId,
    step: usize,
    tx: tokio::sync::mpsc::UnboundedSender<Post>,
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Post>>>,
    queued: usize,
    lanes: Vec<tokio::task::JoinHandle<LaneReport>>,
}

impl Lanes {
    /// Queues these connections, and opens lanes up to the concurrency for
    /// all queued so far.
    pub fn push(&mut self, posts: Vec<Post>) {
        self.queued += posts.len();
        for post in posts {
            // The receiver lives as long as `self`.
            let _ = self.tx.send(post);
        }
        // Never more lanes than connections (a retry holds a few).
        let wanted = lanes_for(self.queued, self.step, self.notifier.concurrency);
        while self.lanes.len() < wanted {
            let (notifier, app, rx) = (self.notifier.clone(), self.app.clone(), self.rx.clone());
            self.lanes.push(tokio::spawn(async move {
                let mut delivery = Delivery::default();
                let mut failed = Vec::new();
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(((user, connection), body)) = next else {
                        break;
                    };
                    let outcome = notifier.post(&app, &user, &connection, &body).await;
                    delivery.count(outcome, ((user, connection), body), &mut failed);
                }
                (delivery, failed)
            }));
        }
    }

    /// Waits for every queued connection to be posted to; names the posts
    /// that failed (not the gone ones).
    pub async fn finish(self) -> Result<LaneReport, tokio::task::JoinError> {
        let Lanes { tx, lanes, .. } = self;
        // Closing the queue lets each lane stop once it is empty.
        drop(tx);
        let mut delivery = Delivery::default();
        let mut failed = Vec::new();
        for lane in futures::future::join_all(lanes).await {
            let (lane_delivery, lane_failed) = lane?;
            delivery.add(lane_delivery);
            failed.extend(lane_failed);
        }
        Ok((delivery, failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_grow_with_the_audience_up_to_what_a_function_can_hold() {
        // 16 for each 400: 400 lanes for 10,000 connections.
        assert_eq!(lanes_for(10_000, 400, 16), 400);
        assert_eq!(lanes_for(401, 400, 16), 32);
        // Never more than the connections.
        assert_eq!(lanes_for(3, 400, 16), 3);
        // 100,000 would be 4,000 sockets: more than a Lambda may open.
        assert_eq!(lanes_for(100_000, 400, 16), MAX_LANES);
        assert_eq!(lanes_for(1_000_000, 400, 16), MAX_LANES);
    }
}
