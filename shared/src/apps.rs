//! Applications (tenants): creation, look-up by API key, and the warm-process
//! cache that keeps secrets off the table's hot path.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::{Cond, Db, DbError, Entity};
use crate::error::ApiError;
use crate::ids::AppId;
use crate::keys::{self, Key};

/// Per-app limits. Defaults apply to fields an older item lacks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AppSettings {
    pub max_message_length: usize,
    /// Serialised JSON size limit of any `metadata` object, in bytes.
    pub max_metadata_bytes: usize,
    pub max_upload_bytes: u64,
    pub allowed_mime_types: Vec<String>,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            max_message_length: 5_000,
            max_metadata_bytes: 5_120,
            max_upload_bytes: 25 * 1024 * 1024,
            allowed_mime_types: [
                "image/*",
                "video/*",
                "audio/*",
                "application/pdf",
                "text/plain",
                "application/zip",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct App {
    pub app_id: AppId,
    pub name: String,
    pub api_key: String,
    /// HS256 signing key of the app's tokens. Never returned by the API.
    pub api_secret: String,
    #[serde(default)]
    pub settings: AppSettings,
    pub created_at: String,
}

impl Entity for App {
    const TYPE: &'static str = "app";
    fn key(&self) -> Key {
        keys::app(&self.app_id)
    }
}

/// Maps a public API key to its app.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ApiKeyItem {
    api_key: String,
    app_id: AppId,
}

impl Entity for ApiKeyItem {
    const TYPE: &'static str = "api_key";
    fn key(&self) -> Key {
        keys::api_key(&self.api_key)
    }
}

fn random_token(bytes_of_uuid: usize) -> String {
    (0..bytes_of_uuid)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect()
}

/// Creates an app with a fresh key and secret (app item and key mapping in one
/// transaction). With `app_id` given and already taken, returns `Conflict`.
pub async fn create_app(db: &Db, app_id: Option<AppId>, name: &str) -> Result<App, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::validation("app name must be 1 to 128 characters"));
    }
    let app = App {
        app_id: app_id.unwrap_or_else(AppId::generate),
        name: name.to_string(),
        // 128 random bits, public.
        api_key: random_token(1),
        // 2 x 122 random bits: the HS256 key.
        api_secret: random_token(2),
        settings: AppSettings::default(),
        created_at: crate::time::now_rfc3339(),
    };
    let mapping = ApiKeyItem {
        api_key: app.api_key.clone(),
        app_id: app.app_id.clone(),
    };
    let writes = vec![
        db.put_write(&app, Cond::NotExists)?,
        db.put_write(&mapping, Cond::NotExists)?,
    ];
    match db.transact(writes).await {
        Ok(()) => Ok(app),
        Err(DbError::TransactionCanceled(_)) => Err(ApiError::conflict(format!(
            "application {} already exists",
            app.app_id
        ))),
        Err(other) => Err(other.into()),
    }
}

pub async fn get_app(db: &Db, app_id: &AppId) -> Result<Option<App>, ApiError> {
    Ok(db.get(&keys::app(app_id)).await?)
}

/// Returns the app with this id, creating it when missing (the local dev app).
pub async fn ensure_app(db: &Db, app_id: &AppId, name: &str) -> Result<App, ApiError> {
    if let Some(app) = get_app(db, app_id).await? {
        return Ok(app);
    }
    match create_app(db, Some(app_id.clone()), name).await {
        Err(ApiError::Conflict(_)) => get_app(db, app_id)
            .await?
            .ok_or_else(|| ApiError::internal(std::io::Error::other("app vanished"))),
        other => other,
    }
}

/// API key → app, cached for a bounded time in the warm process so a request
/// costs no table read for auth. Unknown keys are not cached.
#[derive(Clone)]
pub struct AppCache {
    cache: moka::sync::Cache<String, Arc<App>>,
}

impl AppCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    pub async fn by_api_key(&self, db: &Db, api_key: &str) -> Result<Option<Arc<App>>, ApiError> {
        if let Some(app) = self.cache.get(api_key) {
            return Ok(Some(app));
        }
        // Keys are hex; anything else cannot exist and must not reach a key.
        if api_key.is_empty()
            || api_key.len() > 128
            || !api_key.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Ok(None);
        }
        let Some(mapping) = db.get::<ApiKeyItem>(&keys::api_key(api_key)).await? else {
            return Ok(None);
        };
        let Some(app) = get_app(db, &mapping.app_id).await? else {
            return Ok(None);
        };
        let app = Arc::new(app);
        self.cache.insert(api_key.to_string(), app.clone());
        Ok(Some(app))
    }
}
