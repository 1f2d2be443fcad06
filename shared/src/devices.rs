//! Push devices registered by users.

use serde::{Deserialize, Serialize};
use serde_json::Value;
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
    /// Web Push: the browser's subscription is stored with the device.
    Web,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Device {
    pub app_id: AppId,
    pub id: DeviceId,
    pub user_id: UserId,
    pub push_provider: PushProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_provider_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// A Web Push subscription (`endpoint`, `keys`), stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_push_subscription: Option<Value>,
    pub created_at: String,
    /// Refreshed by every registration: how recently the device was seen.
    #[serde(default)]
    pub last_active_at: String,
}

impl Entity for Device {
    const TYPE: &'static str = "device";
    type Item = keys::item::Device;
    fn key(&self) -> Key<Self::Item> {
        keys::device(&self.app_id, &self.user_id, &self.id)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Device)]
pub struct DeviceView<'a> {
    pub id: &'a DeviceId,
    pub user_id: &'a UserId,
    pub push_provider: PushProvider,
    pub push_provider_name: &'a Option<String>,
    pub platform: &'a Option<String>,
    pub app_version: &'a Option<String>,
    pub os_version: &'a Option<String>,
    #[schema(value_type = Option<Object>)]
    pub web_push_subscription: &'a Option<Value>,
    pub created_at: &'a str,
    pub last_active_at: &'a str,
}

impl Device {
    pub fn view(&self) -> DeviceView<'_> {
        DeviceView {
            id: &self.id,
            user_id: &self.user_id,
            push_provider: self.push_provider,
            push_provider_name: &self.push_provider_name,
            platform: &self.platform,
            app_version: &self.app_version,
            os_version: &self.os_version,
            web_push_subscription: &self.web_push_subscription,
            created_at: &self.created_at,
            last_active_at: if self.last_active_at.is_empty() {
                &self.created_at
            } else {
                &self.last_active_at
            },
        }
    }
}

/// A platform name: `ios`, `android`, `web`, `macos`, `windows`, ... (lower
/// case letters, digits, `_` and `-`).
fn platform_name(value: &str) -> Result<(), validator::ValidationError> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(validator::ValidationError::new("platform")
            .with_message("a platform is 1 to 32 lower-case letters, digits, _ or -".into()))
    }
}

/// A Web Push subscription as browsers give it: an https `endpoint` and the
/// `p256dh` and `auth` keys, at most 2 KB.
fn web_push_problem(subscription: &Value) -> Option<&'static str> {
    let text = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 256);
    let endpoint = subscription["endpoint"].as_str().unwrap_or_default();
    if serde_json::to_vec(subscription).map_or(true, |b| b.len() > 2048) {
        return Some("web_push_subscription is at most 2 KB");
    }
    if !subscription.is_object()
        || crate::links::problem(endpoint).is_some()
        || !endpoint.starts_with("https://")
        || !text(&subscription["keys"]["p256dh"])
        || !text(&subscription["keys"]["auth"])
    {
        return Some("web_push_subscription needs an https endpoint and keys.p256dh and keys.auth");
    }
    None
}

#[derive(Clone, Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    pub id: DeviceId,
    pub push_provider: PushProvider,
    /// Names one of several push configurations of the app.
    #[validate(length(min = 1, max = 64))]
    pub push_provider_name: Option<String>,
    /// `ios`, `android`, `web`, ...
    #[validate(custom(function = "platform_name"))]
    pub platform: Option<String>,
    #[validate(length(min = 1, max = 64))]
    pub app_version: Option<String>,
    #[validate(length(min = 1, max = 64))]
    pub os_version: Option<String>,
    /// Required with `push_provider: web`: the browser's `PushSubscription`
    /// as JSON (`endpoint`, `keys.p256dh`, `keys.auth`), stored as given.
    #[schema(value_type = Option<Object>)]
    pub web_push_subscription: Option<Value>,
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
    match (&input.push_provider, &input.web_push_subscription) {
        (PushProvider::Web, Some(subscription)) => {
            if let Some(problem) = web_push_problem(subscription) {
                return Err(ApiError::validation(problem));
            }
        }
        (PushProvider::Web, None) => {
            return Err(ApiError::validation(
                "push_provider web needs a web_push_subscription",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::validation(
                "web_push_subscription goes with push_provider web",
            ))
        }
        (_, None) => {}
    }
    let key = keys::device(app, user, &input.id);
    let existing: Option<Device> = db.get(&key).await?;
    let mut first = false;
    if existing.is_none() {
        let count = db
            .count(&keys::user_partition(app, user), keys::DEVICE_PREFIX)
            .await?;
        first = count == 0;
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
        platform: input.platform,
        app_version: input.app_version,
        os_version: input.os_version,
        web_push_subscription: input.web_push_subscription,
        created_at: existing
            .as_ref()
            .map_or_else(crate::time::now_rfc3339, |d| d.created_at.clone()),
        last_active_at: crate::time::now_rfc3339(),
    };
    db.put(&device, Cond::Always).await?;
    if first {
        crate::push::reachable::device_added(db, app, user).await?;
    }
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
        Ok(()) => crate::push::reachable::device_removed(db, app, user).await,
        Err(DbError::ConditionFailed) => {
            Err(ApiError::not_found(format!("device {device} not found")))
        }
        Err(other) => Err(other.into()),
    }
}
