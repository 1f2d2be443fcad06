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
use crate::channels::{Ban, Channel, ChannelType, Member};
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ChannelId, ConnectionId, UserId};
use crate::keys;

/// Who in a channel gets an event. Whatever the audience, a socket gets an
/// event only if its user may read it at delivery time.
#[derive(Clone, Debug)]
pub enum Audience {
    /// Who may read the channel's history now: accepted members, and
    /// connections watching it whose user may read it (a public channel
    /// they are not banned from). Messages, reactions, reads, member changes.
    Readers,
    /// Readers but this user (typing is never echoed to the typer).
    ReadersExcept(UserId),
    /// Readers and pending invitees: changes to the channel itself, which an
    /// invitee sees before accepting.
    Members,
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

    async fn channel_targets(
        &self,
        app: &AppId,
        channel: &ChannelId,
        audience: &Audience,
    ) -> Result<Vec<(UserId, ConnectionId)>, ApiError> {
        let (excluded, invitees_too) = match audience {
            Audience::Only(user) => {
                return self.user_targets(app, BTreeSet::from([user.clone()])).await;
            }
            Audience::Readers => (None, false),
            Audience::ReadersExcept(user) => (Some(user), false),
            Audience::Members => (None, true),
        };
        // Member items are small: 1,000 a request keeps most channels to one read.
        let members: Vec<Member> = self
            .db
            .query_all(
                &keys::channel_partition(app, channel),
                keys::MEMBER_PREFIX,
                1000,
            )
            .await?;
        let readers: BTreeSet<UserId> = members
            .into_iter()
            .filter(|m| invitees_too || m.is_active())
            .map(|m| m.user_id)
            .filter(|u| Some(u) != excluded)
            .collect();
        let watches = connections::watchers(&self.db, app, channel).await?;
        let outsiders: BTreeSet<UserId> = watches
            .iter()
            .map(|w| w.user_id.clone())
            .filter(|u| !readers.contains(u) && Some(u) != excluded)
            .collect();
        let public_readers = self.public_readers(app, channel, outsiders).await?;
        let mut targets = self.user_targets(app, readers.clone()).await?;
        for watch in watches {
            let may_read =
                readers.contains(&watch.user_id) || public_readers.contains(&watch.user_id);
            if may_read && !targets.iter().any(|(_, c)| *c == watch.connection_id) {
                targets.push((watch.user_id, watch.connection_id));
            }
        }
        Ok(targets)
    }

    /// Of these users, those who may read the channel without being its
    /// readers: it is public and they have no active ban in it. One read of
    /// the channel and one batch read of bans, only when there are any.
    async fn public_readers(
        &self,
        app: &AppId,
        channel: &ChannelId,
        users: BTreeSet<UserId>,
    ) -> Result<BTreeSet<UserId>, ApiError> {
        if users.is_empty() {
            return Ok(users);
        }
        let live: Option<Channel> = self.db.get(&keys::channel(app, channel)).await?;
        if !live.is_some_and(|c| c.deleted_at.is_none() && c.kind == ChannelType::Public) {
            return Ok(BTreeSet::new());
        }
        let ban_keys: Vec<keys::Key> = users.iter().map(|u| keys::ban(app, channel, u)).collect();
        let bans: Vec<Ban> = self.db.batch_get(&ban_keys).await?;
        let now = crate::time::now_secs();
        Ok(users
            .into_iter()
            .filter(|u| {
                !bans
                    .iter()
                    .any(|b| b.user_id == *u && b.expires_epoch.is_none_or(|e| e > now))
            })
            .collect())
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
