//! Push devices registered by users.

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::db::{Cond, Db, DbError, Entity, Page, PageRequest};
use crate::error::ApiError;
use crate::ids::{AppId, DeviceId, UserId};
use crate::keys::{self, Key};

/// A user holds at most this many devices (as Stream does).
pub const MAX_DEVICES_PER_USER: usize = 25;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PushProvider {
    Apn,
    Firebase,
    Huawei,
    Xiaomi,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Device {
    pub app_id: AppId,
    pub id: DeviceId,
    pub user_id: UserId,
    pub push_provider: PushProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_provider_name: Option<String>,
    pub created_at: String,
}

impl Entity for Device {
    const TYPE: &'static str = "device";
    fn key(&self) -> Key {
        keys::device(&self.app_id, &self.user_id, &self.id)
    }
}

#[derive(Debug, Serialize)]
pub struct DeviceView<'a> {
    pub id: &'a DeviceId,
    pub user_id: &'a UserId,
    pub push_provider: PushProvider,
    pub push_provider_name: &'a Option<String>,
    pub created_at: &'a str,
}

impl Device {
    pub fn view(&self) -> DeviceView<'_> {
        DeviceView {
            id: &self.id,
            user_id: &self.user_id,
            push_provider: self.push_provider,
            push_provider_name: &self.push_provider_name,
            created_at: &self.created_at,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    pub id: DeviceId,
    pub push_provider: PushProvider,
    /// Names one of several push configurations of the app.
    #[validate(length(min = 1, max = 64))]
    pub push_provider_name: Option<String>,
    /// With a server token: the user the device belongs to.
    pub user_id: Option<UserId>,
}

/// Registers a device; registering the same id again updates it in place.
pub async fn register(
    db: &Db,
    app: &AppId,
    user: &UserId,
    input: DeviceInput,
) -> Result<(Device, bool), ApiError> {
    input.validate()?;
    let key = keys::device(app, user, &input.id);
    let existing: Option<Device> = db.get(&key).await?;
    if existing.is_none() {
        let count = db
            .count(&keys::user_partition(app, user), keys::DEVICE_PREFIX)
            .await?;
        if count >= MAX_DEVICES_PER_USER {
            return Err(ApiError::conflict(format!(
                "a user may register at most {MAX_DEVICES_PER_USER} devices; delete one first"
            )));
        }
    }
    let device = Device {
        app_id: app.clone(),
        id: input.id,
        user_id: user.clone(),
        push_provider: input.push_provider,
        push_provider_name: input.push_provider_name,
        created_at: existing
            .as_ref()
            .map_or_else(crate::time::now_rfc3339, |d| d.created_at.clone()),
    };
    db.put(&device, Cond::Always).await?;
    Ok((device, existing.is_none()))
}

pub async fn list(
    db: &Db,
    app: &AppId,
    user: &UserId,
    page: &PageRequest,
) -> Result<Page<Device>, ApiError> {
    Ok(db
        .query(&keys::user_partition(app, user), keys::DEVICE_PREFIX, page)
        .await?)
}

pub async fn remove(
    db: &Db,
    app: &AppId,
    user: &UserId,
    device: &DeviceId,
) -> Result<(), ApiError> {
    match db
        .delete(&keys::device(app, user, device), Cond::Exists)
        .await
    {
        Ok(()) => Ok(()),
        Err(DbError::ConditionFailed) => {
            Err(ApiError::not_found(format!("device {device} not found")))
        }
        Err(other) => Err(other.into()),
    }
}
