//! The one notifier: finds the connections an event is for and posts it to
//! each through the API Gateway management API (`post_to_connection`), with
//! bounded concurrency. Locally the same client talks to the gateway
//! emulator. A 410 Gone deletes exactly that stale connection; any other
//! failure is logged. Nothing here ever fails the request that caused it.

use std::collections::BTreeSet;

use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;
use futures::stream::{self, StreamExt};

use super::connections;
use super::events::{payload, Event};
use crate::channels::Member;
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ChannelId, ConnectionId, UserId};
use crate::keys;

/// Who in a channel gets an event.
#[derive(Clone, Debug)]
pub enum Audience {
    /// Every member, and connections watching the channel.
    Members,
    /// Everyone but this user (typing is never echoed to the typer).
    Except(UserId),
    /// Only this user (a shadow-banned member's messages).
    Only(UserId),
}

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
    client: Option<Client>,
    db: Db,
    concurrency: usize,
}

enum Outcome {
    Sent,
    Gone,
    Failed,
}

impl Notifier {
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config, db: Db) -> Self {
        let client = config.websocket_endpoint.as_ref().map(|endpoint| {
            let conf = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
                .endpoint_url(endpoint)
                // A post is retried briefly: a delivery late by seconds is
                // worth less than the next event.
                .retry_config(crate::db::retry_config().with_max_attempts(3))
                .build();
            Client::from_conf(conf)
        });
        Self {
            client,
            db,
            concurrency: config.fanout_concurrency.max(1),
        }
    }

    /// Sends a channel event to its audience.
    pub async fn to_channel(
        &self,
        app: &AppId,
        channel: &ChannelId,
        event: &Event,
        audience: Audience,
    ) -> Delivery {
        if self.client.is_none() {
            return Delivery::default();
        }
        match self.channel_targets(app, channel, &audience).await {
            Ok(targets) => self.deliver(app, targets, event).await,
            Err(err) => {
                tracing::warn!(error = %DisplayChain(&err), event = event.kind(), "fan-out look-up failed");
                Delivery::default()
            }
        }
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
            Ok(targets) => self.deliver(app, targets, event).await,
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
        matches!(self.post(app, user, connection, bytes).await, Outcome::Sent)
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

    async fn channel_targets(
        &self,
        app: &AppId,
        channel: &ChannelId,
        audience: &Audience,
    ) -> Result<Vec<(UserId, ConnectionId)>, ApiError> {
        let users: BTreeSet<UserId> = match audience {
            Audience::Only(user) => BTreeSet::from([user.clone()]),
            Audience::Members | Audience::Except(_) => {
                // Member items are small: 1,000 a request keeps most channels to one read.
                let members: Vec<Member> = self
                    .db
                    .query_all(
                        &keys::channel_partition(app, channel),
                        keys::MEMBER_PREFIX,
                        1000,
                    )
                    .await?;
                let mut users: BTreeSet<UserId> = members.into_iter().map(|m| m.user_id).collect();
                if let Audience::Except(user) = audience {
                    users.remove(user);
                }
                users
            }
        };
        let mut targets = self.user_targets(app, users).await?;
        if !matches!(audience, Audience::Only(_)) {
            for watch in connections::watchers(&self.db, app, channel).await? {
                let excluded = matches!(audience, Audience::Except(u) if *u == watch.user_id);
                if !excluded && !targets.iter().any(|(_, c)| *c == watch.connection_id) {
                    targets.push((watch.user_id, watch.connection_id));
                }
            }
        }
        Ok(targets)
    }

    async fn user_targets(
        &self,
        app: &AppId,
        users: BTreeSet<UserId>,
    ) -> Result<Vec<(UserId, ConnectionId)>, ApiError> {
        let users: Vec<UserId> = users.into_iter().collect();
        connections::of_users(&self.db, app, &users).await
    }

    async fn deliver(
        &self,
        app: &AppId,
        targets: Vec<(UserId, ConnectionId)>,
        event: &Event,
    ) -> Delivery {
        let bytes = payload(event);
        let outcomes = stream::iter(targets)
            .map(|(user, connection)| {
                let bytes = bytes.clone();
                async move { self.post(app, &user, &connection, bytes).await }
            })
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        let mut delivery = Delivery::default();
        for outcome in outcomes {
            match outcome {
                Outcome::Sent => delivery.sent += 1,
                Outcome::Gone => delivery.gone += 1,
                Outcome::Failed => delivery.failed += 1,
            }
        }
        delivery
    }

    async fn post(
        &self,
        app: &AppId,
        user: &UserId,
        connection: &ConnectionId,
        bytes: Vec<u8>,
    ) -> Outcome {
        let Some(client) = &self.client else {
            return Outcome::Failed;
        };
        let result = client
            .post_to_connection()
            .connection_id(connection.as_str())
            .data(Blob::new(bytes))
            .send()
            .await;
        match result {
            Ok(_) => Outcome::Sent,
            // The error kind, not only the status: GoneException is the contract.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_gone_exception()) =>
            {
                if let Err(err) = connections::remove(&self.db, app, user, connection).await {
                    tracing::warn!(error = %DisplayChain(&err), %connection, "could not delete a stale connection");
                }
                tracing::debug!(%connection, "stale connection removed (410)");
                Outcome::Gone
            }
            Err(err) => {
                tracing::warn!(error = %DisplayChain(&err), %connection, "post_to_connection failed");
                Outcome::Failed
            }
        }
    }
}
