//! Connection items: by id (what `$disconnect` looks up) and
//! under the user (what fan-out looks up), both expiring just past API
//! Gateway's 2-hour connection limit; and channel watches.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::{store, Cond, Db, DbError, Entity};
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, ConnectionId, UserId};
use crate::keys::{self, Key};
use crate::users::Reach;

/// API Gateway closes a connection after 2 hours; the items outlive it a little.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 300;

/// Open sockets one user may hold (phones, tabs, desktop apps); each costs a
/// post per event, so a single token cannot make every message cost thousands.
pub const MAX_CONNECTIONS_PER_USER: usize = 30;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: ConnectionId,
    pub app_id: AppId,
    /// The key the client connected with, to find the app (cached).
    pub api_key: String,
    pub user_id: UserId,
    pub connected_at: String,
    /// The connecting token's `iat` (epoch ms): a revocation after it ends
    /// the socket.
    #[serde(default)]
    pub token_issued_ms: Option<i64>,
    pub expires: i64,
}

impl Entity for Connection {
    const TYPE: &'static str = "connection";
    type Item = keys::item::Connection;
    fn key(&self) -> Key<Self::Item> {
        keys::connection(&self.connection_id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserConnection {
    pub app_id: AppId,
    pub user_id: UserId,
    pub connection_id: ConnectionId,
    pub connected_at: String,
    pub expires: i64,
}

impl Entity for UserConnection {
    const TYPE: &'static str = "user_connection";
    type Item = keys::item::UserConnection;
    fn key(&self) -> Key<Self::Item> {
        keys::user_connection(&self.app_id, &self.user_id, &self.connection_id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Watch {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub expires: i64,
}

impl Entity for Watch {
    const TYPE: &'static str = "watch";
    type Item = keys::item::Watch;
    fn key(&self) -> Key<Self::Item> {
        keys::watch(&self.app_id, &self.channel_id, &self.connection_id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

/// Stores a new connection: its item, its item under the user, and its
/// entry in the user's connection index, in one transaction. `false` (and
/// nothing written) when the user already holds
/// [`MAX_CONNECTIONS_PER_USER`]: the index's size is the condition, so
/// racing connects cannot pass it together.
pub async fn add(db: &Db, connection: &Connection) -> Result<bool, ApiError> {
    let by_user = UserConnection {
        app_id: connection.app_id.clone(),
        user_id: connection.user_id.clone(),
        connection_id: connection.connection_id.clone(),
        connected_at: connection.connected_at.clone(),
        expires: connection.expires,
    };
    let index = store::connections::index_add(
        &connection.connection_id,
        crate::time::now_secs(),
        MAX_CONNECTIONS_PER_USER,
    );
    let written = db
        .transact(vec![
            db.put_write(connection, Cond::Always)?,
            db.put_write(&by_user, Cond::Always)?,
            db.update_write(
                &keys::user(&connection.app_id, &connection.user_id),
                &index,
                Cond::Exists,
            )?,
        ])
        .await;
    match written {
        Ok(()) => Ok(true),
        Err(DbError::TransactionCanceled(reasons))
            if reasons.get(2).is_some_and(Option::is_some) =>
        {
            Ok(false)
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn get(db: &Db, id: &ConnectionId) -> Result<Option<Connection>, ApiError> {
    Ok(db.get(&keys::connection(id)).await?)
}

/// The connection's grant: what the `$connect` route's authorizer returns as
/// its context, which API Gateway hands back in `requestContext.authorizer`
/// with every later event of the connection. Values are strings, as API
/// Gateway passes them on.
pub fn grant(
    app: &AppId,
    api_key: &str,
    user: &UserId,
    issued_ms: Option<i64>,
) -> Map<String, Value> {
    let mut grant = Map::new();
    grant.insert(GRANT_APP.into(), Value::from(app.as_str()));
    grant.insert(GRANT_KEY.into(), Value::from(api_key));
    grant.insert(GRANT_USER.into(), Value::from(user.as_str()));
    if let Some(issued) = issued_ms {
        grant.insert(GRANT_ISSUED.into(), Value::from(issued.to_string()));
    }
    grant
}

const GRANT_APP: &str = "app_id";
const GRANT_KEY: &str = "api_key";
const GRANT_USER: &str = "user_id";
const GRANT_ISSUED: &str = "issued_ms";

/// The connection an event's grant describes (see [`grant`]), so a frame
/// need not read its item; `None` for an event without one (a stage
/// deployed without the authorizer, a hand-made event).
pub fn granted(
    id: &ConnectionId,
    connected_at_ms: i64,
    fields: &HashMap<String, Value>,
) -> Option<Connection> {
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let issued_ms = match fields.get(GRANT_ISSUED) {
        None => None,
        Some(Value::Number(n)) => Some(n.as_i64()?),
        Some(other) => Some(other.as_str()?.parse().ok()?),
    };
    Some(Connection {
        connection_id: id.clone(),
        app_id: AppId::parse(text(GRANT_APP)?).ok()?,
        api_key: text(GRANT_KEY)?.to_string(),
        user_id: UserId::parse(text(GRANT_USER)?).ok()?,
        connected_at: crate::time::millis_to_rfc3339(connected_at_ms),
        token_issued_ms: issued_ms,
        expires: connected_at_ms / 1000 + CONNECTION_TTL_SECS,
    })
}

/// Deletes exactly this connection: its two items and its index entry.
pub async fn remove(
    db: &Db,
    app: &AppId,
    user: &UserId,
    id: &ConnectionId,
) -> Result<(), ApiError> {
    db.batch_delete(&[
        keys::connection(id).any(),
        keys::user_connection(app, user, id).any(),
    ])
    .await?;
    let index = store::connections::index_remove(id);
    match db
        .update(&keys::user(app, user), &index, Cond::Exists)
        .await
    {
        Ok(()) | Err(DbError::ConditionFailed) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// The user's open connections, from their index (one read).
pub async fn of_user(db: &Db, app: &AppId, user: &UserId) -> Result<Vec<ConnectionId>, ApiError> {
    let user: Option<Reach> = db.get(&keys::user(app, user)).await?;
    Ok(user.map(|u| ids_of(&u.connections)).unwrap_or_default())
}

/// Connection ids in a user item's index (its `connections`).
pub fn ids_of(index: &BTreeMap<String, i64>) -> Vec<ConnectionId> {
    index
        .keys()
        .filter_map(|id| ConnectionId::parse(id.as_str()).ok())
        .collect()
}

/// Connections of many users: one BatchGetItem per 100 users.
pub async fn of_users(
    db: &Db,
    app: &AppId,
    users: &[UserId],
) -> Result<Vec<(UserId, ConnectionId)>, ApiError> {
    let keys: Vec<_> = users.iter().map(|u| keys::user(app, u)).collect();
    let found: Vec<Reach> = db.batch_get(&keys).await?;
    Ok(found
        .iter()
        .flat_map(|u| {
            ids_of(&u.connections)
                .into_iter()
                .map(|c| (u.id.clone(), c))
        })
        .collect())
}

/// Drops the user's watches of a channel: removed, gone or banned, they may
/// no longer read it.
pub async fn drop_watches(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    user: &UserId,
) -> Result<(), ApiError> {
    let keys: Vec<Key<_>> = watchers(db, app, channel)
        .await?
        .iter()
        .filter(|w| w.user_id == *user)
        .map(Entity::key)
        .collect();
    if !keys.is_empty() {
        db.batch_delete(&keys).await?;
    }
    Ok(())
}

/// The connections watching a channel (all pages), with their users.
pub async fn watchers(db: &Db, app: &AppId, channel: &ChannelId) -> Result<Vec<Watch>, ApiError> {
    Ok(db
        .query_all(
            &keys::channel_partition(app, channel),
            keys::WATCH_PREFIX,
            100,
        )
        .await?)
}
