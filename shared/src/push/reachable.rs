//! Who in each channel can get a push: one small item per (channel, member
//! with a device), and their number on the channel item (`reachable`). A
//! send reads the channel item anyway, so it writes no push job where the
//! number is 0; the notify function reads the entries, not the members, so
//! its work follows the members who have a device, not the room.
//!
//! Kept in step with devices and membership, as the online index is with
//! connections (`realtime/online.rs`):
//! - a user's first device writes their entries in all their channels; the
//!   removal of their last one (by them, or by a provider that calls its
//!   token dead) deletes them;
//! - adding members writes entries for those who have a device; removal,
//!   leaving, rejecting an invite and erasure delete theirs.
//!
//! The badge marks ([`badges`]) follow the entries: written with a
//! user's entry, dropped with it.
//!
//! Each entry and its count change in one transaction, on the condition
//! that the entry is (or is not) there, so the count stays exact when the
//! same change runs twice. Order makes the device/membership race safe: a
//! device is written before the memberships are read, a membership before
//! the devices are read, so one of the two sees the other. An entry left
//! behind (a last device removed while a membership was added) costs the
//! notify function a read and sends nothing: mutes, blocks, preferences and
//! who is online are checked on the user's own items at delivery.

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::badges;
use crate::channels::channel_ids_of as channels_of;
use crate::db::{store, Cond, Db, DbError, Entity};
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, UserId};
use crate::keys::{self, Key};

/// Index writes in flight at once for one user or one channel.
const IN_FLIGHT: usize = 8;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reachable {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
}

impl Entity for Reachable {
    const TYPE: &'static str = "reachable";
    type Item = keys::item::Reachable;
    fn key(&self) -> Key<Self::Item> {
        keys::reachable(&self.app_id, &self.channel_id, &self.user_id)
    }
}

/// Writes the entry and counts it, unless it is there (or the channel is
/// gone).
async fn add(db: &Db, app: &AppId, channel: &ChannelId, user: &UserId) -> Result<(), ApiError> {
    let entry = Reachable {
        app_id: app.clone(),
        channel_id: channel.clone(),
        user_id: user.clone(),
    };
    let writes = vec![
        db.put_write(&entry, Cond::NotExists)?,
        db.update_write(
            &keys::channel(app, channel),
            &store::channels::reachable_change(1),
            Cond::Live,
        )?,
    ];
    settle(db.transact(writes).await)
}

/// Deletes the entry and uncounts it, if it is there; whether it was.
async fn remove(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    user: &UserId,
) -> Result<bool, ApiError> {
    let writes = vec![
        db.delete_write(&keys::reachable(app, channel, user), Cond::Exists)?,
        db.update_write(
            &keys::channel(app, channel),
            &store::channels::reachable_change(-1),
            Cond::Exists,
        )?,
    ];
    match db.transact(writes).await {
        Ok(()) => Ok(true),
        Err(DbError::TransactionCanceled(_)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// A cancelled transaction means there was nothing to change.
fn settle(result: Result<(), DbError>) -> Result<(), ApiError> {
    match result {
        Ok(()) | Err(DbError::TransactionCanceled(_)) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

async fn has_device(db: &Db, app: &AppId, user: &UserId) -> Result<bool, ApiError> {
    Ok(db
        .count(&keys::user_partition(app, user), keys::DEVICE_PREFIX)
        .await?
        > 0)
}

/// Writes the entry, then the user's badge marks in the channel.
async fn reach(db: &Db, app: &AppId, channel: &ChannelId, user: &UserId) -> Result<(), ApiError> {
    add(db, app, channel, user).await?;
    badges::backfill(db, app, user, channel).await
}

/// A user's first device: they are reachable in each of their channels.
/// Call after the device is written.
pub async fn device_added(db: &Db, app: &AppId, user: &UserId) -> Result<(), ApiError> {
    let channels = channels_of(db, app, user).await?;
    futures::stream::iter(channels)
        .map(|c| async move { reach(db, app, &c, user).await })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await
}

/// A device was removed: with none left, the user is reachable nowhere.
/// Call after the device is deleted.
pub async fn device_removed(db: &Db, app: &AppId, user: &UserId) -> Result<(), ApiError> {
    if has_device(db, app, user).await? {
        return Ok(());
    }
    let channels = channels_of(db, app, user).await?;
    futures::stream::iter(channels)
        .map(|c| async move { remove(db, app, &c, user).await })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<bool>>()
        .await?;
    badges::unreachable(db, app, user).await
}

/// New members of a channel: those with a device get their entry. Call
/// after the memberships are written (it reads the devices).
pub async fn joined(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    users: &[UserId],
) -> Result<(), ApiError> {
    futures::stream::iter(users.to_vec())
        .map(|user| async move {
            if has_device(db, app, &user).await? {
                reach(db, app, channel, &user).await?;
            }
            Ok::<(), ApiError>(())
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await
}

/// A member left, was removed or erased.
pub async fn left(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    user: &UserId,
) -> Result<(), ApiError> {
    if remove(db, app, channel, user).await? {
        badges::left(db, app, user, channel).await?;
    }
    Ok(())
}

/// The members of the channel who have a device (all pages).
pub async fn in_channel(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
) -> Result<BTreeSet<UserId>, ApiError> {
    let entries: Vec<Reachable> = db
        .query_all(
            &keys::channel_partition(app, channel),
            keys::REACHABLE_PREFIX,
            1000,
        )
        .await?;
    Ok(entries.into_iter().map(|e| e.user_id).collect())
}
