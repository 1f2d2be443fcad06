//! Applications (tenants): creation, look-up by API key, and the warm-process
//! cache that keeps secrets off the table's hot path.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use validator::Validate;

use crate::db::{Cond, Db, DbError, Entity};
use crate::error::ApiError;
use crate::ids::AppId;
use crate::keys::{self, Key};
use crate::push::credentials::{
    ApnCredentials, FirebaseCredentials, PushConfigured, PushCredentials,
};

/// Per-app limits. Defaults apply to fields an older item lacks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default)]
pub struct AppSettings {
    pub max_message_length: usize,
    /// Serialised JSON size limit of any `metadata` object, in bytes.
    pub max_metadata_bytes: usize,
    pub max_upload_bytes: u64,
    pub allowed_mime_types: Vec<String>,
    /// Every event is POSTed here, signed (docs/integrations.md: Webhooks); unset: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Each send is POSTed here first and waits for its verdict (docs/integrations.md:
    /// Before-send hook); unset: sends call nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_message_send_url: Option<String>,
    /// How long a send waits for the hook, in milliseconds.
    pub before_message_send_timeout_ms: u64,
    /// What a send does when the hook times out or fails.
    pub before_message_send_on_error: HookFailure,
    /// A push's title: `{sender}` (the author's display name, else
    /// username, else id), `{channel}` (the channel's name) and `{text}`
    /// are filled in.
    pub push_title: String,
    /// A push's body, with the same placeholders.
    pub push_body: String,
    /// Words and patterns screened out of messages' text (docs/safety.md:
    /// Blocklists).
    pub blocklists: Vec<crate::blocklists::Blocklist>,
    /// Requests a minute per user and per app's server tokens, by endpoint
    /// group (docs/api.md: Rate limits).
    pub rate_limits: crate::ratelimit::RateLimits,
    /// Scheduled messages one user may hold (pending and failed); 0 turns
    /// scheduling off.
    pub max_scheduled_messages: u32,
    /// Reminders and saved messages one user may hold; 0 turns them off.
    pub max_reminders: u32,
    /// Channels with more members than this are big: their connections
    /// get messages, edits, deletes, reactions and member and channel
    /// changes, and no typing, read, delivery or presence events (docs/realtime.md:
    /// Big channels).
    pub big_channel_size: u32,
    /// The first link in a message's text gets a preview after the send:
    /// an attachment of type `link` (docs/api.md: Link previews).
    pub enrich_urls: bool,
}

impl AppSettings {
    /// Whether a channel of `members` members is big: its connections are
    /// passive watchers.
    pub fn is_big(&self, members: i64) -> bool {
        members > i64::from(self.big_channel_size)
    }
}

/// A before-send hook that times out or fails lets the message through
/// (`pass`) or refuses it (`block`: the sender gets a 503 to retry).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookFailure {
    #[default]
    Pass,
    Block,
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
            webhook_url: None,
            before_message_send_url: None,
            before_message_send_timeout_ms: 1_500,
            before_message_send_on_error: HookFailure::Pass,
            push_title: "{sender}".into(),
            push_body: "{text}".into(),
            blocklists: Vec::new(),
            rate_limits: crate::ratelimit::RateLimits::default(),
            max_scheduled_messages: 100,
            max_reminders: 200,
            big_channel_size: 200,
            enrich_urls: true,
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
    /// Bumped by every settings change (0 on items older than `PATCH /app`).
    #[serde(default)]
    pub version: u64,
    /// Push provider credentials: write-only, never returned.
    #[serde(default)]
    pub push: PushCredentials,
}

/// The app as `GET /app` shows it: everything but the secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = App)]
pub struct AppView<'a> {
    pub app_id: &'a AppId,
    pub name: &'a str,
    pub api_key: &'a str,
    pub settings: &'a AppSettings,
    /// Which push providers are configured (their keys are never shown).
    pub push: PushConfigured,
    pub created_at: &'a str,
}

impl App {
    pub fn view(&self) -> AppView<'_> {
        AppView {
            app_id: &self.app_id,
            name: &self.name,
            api_key: &self.api_key,
            settings: &self.settings,
            push: self.push.view(),
            created_at: &self.created_at,
        }
    }
}

/// `PATCH /app`: fields in `set` are replaced, fields in `unset` return to
/// their defaults.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    #[serde(default)]
    #[validate(nested)]
    pub set: AppFields,
    #[serde(default)]
    pub unset: Vec<AppField>,
}

/// What an app's backend may change. The caps keep every item well under
/// DynamoDB's 400 KB (see docs/storage.md's item budget) and a single PUT within
/// S3's 5 GB.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppFields {
    #[validate(length(min = 1, max = 128))]
    pub name: Option<String>,
    /// Characters of a message's text, 1 to 20,000.
    #[validate(range(min = 1, max = 20_000))]
    pub max_message_length: Option<usize>,
    /// Serialised bytes of any `metadata` object, 2 to 20,480.
    #[validate(range(min = 2, max = 20_480))]
    pub max_metadata_bytes: Option<usize>,
    /// Bytes of one upload, 1 to 5 GiB.
    #[validate(range(min = 1, max = 5_368_709_120_u64))]
    pub max_upload_bytes: Option<u64>,
    /// `type/subtype` or `type/*`, lower case; at most 50.
    #[validate(length(max = 50))]
    pub allowed_mime_types: Option<Vec<String>>,
    /// `https` URL every event is POSTed to, signed.
    #[validate(length(min = 1, max = 2048))]
    pub webhook_url: Option<String>,
    /// `https` URL each send is POSTed to before it is stored.
    #[validate(length(min = 1, max = 2048))]
    pub before_message_send_url: Option<String>,
    /// 100 to 10,000 ms (default 1,500).
    #[validate(range(min = 100, max = 10_000))]
    pub before_message_send_timeout_ms: Option<u64>,
    pub before_message_send_on_error: Option<HookFailure>,
    /// `{sender}`, `{channel}`, `{text}` filled in; at most 256 characters.
    #[validate(length(min = 1, max = 256))]
    pub push_title: Option<String>,
    #[validate(length(min = 1, max = 256))]
    pub push_body: Option<String>,
    /// A Firebase service account key file (write-only).
    #[validate(nested)]
    pub firebase: Option<FirebaseCredentials>,
    /// APNs token authentication (write-only).
    #[validate(nested)]
    pub apn: Option<ApnCredentials>,
    /// Replaces every list (docs/safety.md: Blocklists).
    pub blocklists: Option<Vec<crate::blocklists::Blocklist>>,
    /// Replaces the limits; a group left out returns to its defaults.
    pub rate_limits: Option<crate::ratelimit::RateLimits>,
    /// Scheduled messages per user, 0 (off) to 1,000 (default 100).
    #[validate(range(max = 1_000))]
    pub max_scheduled_messages: Option<u32>,
    /// Reminders and saved messages per user, 0 (off) to 2,000 (default
    /// 200).
    #[validate(range(max = 2_000))]
    pub max_reminders: Option<u32>,
    /// Members above which a channel is big, 2 to 1,000,000 (default 200).
    #[validate(range(min = 2, max = 1_000_000))]
    pub big_channel_size: Option<u32>,
    /// Link previews on sends (default on).
    pub enrich_urls: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppField {
    MaxMessageLength,
    MaxMetadataBytes,
    MaxUploadBytes,
    AllowedMimeTypes,
    WebhookUrl,
    BeforeMessageSendUrl,
    BeforeMessageSendTimeoutMs,
    BeforeMessageSendOnError,
    PushTitle,
    PushBody,
    Firebase,
    Apn,
    Blocklists,
    RateLimits,
    MaxScheduledMessages,
    MaxReminders,
    BigChannelSize,
    EnrichUrls,
}

fn mime_pattern_ok(pattern: &str) -> bool {
    let Some((kind, sub)) = pattern.split_once('/') else {
        return false;
    };
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 64
            && p.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '+' | '-')
            })
    };
    part(kind) && (sub == "*" || part(sub))
}

/// Applies a settings change, conditional on the version read (a concurrent
/// change is a 409, never a lost update). Hook URLs must pass `guard`, the
/// deployment's outbound guard.
pub async fn patch(
    db: &Db,
    app_id: &AppId,
    patch: AppPatch,
    guard: &crate::outbound::guard::Guard,
) -> Result<App, ApiError> {
    patch.validate()?;
    let set = &patch.set;
    let set_fields = [
        (AppField::MaxMessageLength, set.max_message_length.is_some()),
        (AppField::MaxMetadataBytes, set.max_metadata_bytes.is_some()),
        (AppField::MaxUploadBytes, set.max_upload_bytes.is_some()),
        (AppField::AllowedMimeTypes, set.allowed_mime_types.is_some()),
        (AppField::WebhookUrl, set.webhook_url.is_some()),
        (
            AppField::BeforeMessageSendUrl,
            set.before_message_send_url.is_some(),
        ),
        (
            AppField::BeforeMessageSendTimeoutMs,
            set.before_message_send_timeout_ms.is_some(),
        ),
        (
            AppField::BeforeMessageSendOnError,
            set.before_message_send_on_error.is_some(),
        ),
        (AppField::PushTitle, set.push_title.is_some()),
        (AppField::PushBody, set.push_body.is_some()),
        (AppField::Firebase, set.firebase.is_some()),
        (AppField::Apn, set.apn.is_some()),
        (AppField::Blocklists, set.blocklists.is_some()),
        (AppField::RateLimits, set.rate_limits.is_some()),
        (
            AppField::MaxScheduledMessages,
            set.max_scheduled_messages.is_some(),
        ),
        (AppField::MaxReminders, set.max_reminders.is_some()),
        (AppField::BigChannelSize, set.big_channel_size.is_some()),
        (AppField::EnrichUrls, set.enrich_urls.is_some()),
    ];
    let key_problem = set
        .firebase
        .as_ref()
        .and_then(FirebaseCredentials::problem)
        .or_else(|| set.apn.as_ref().and_then(ApnCredentials::problem));
    let key_problem = key_problem.or_else(|| {
        set.blocklists
            .as_deref()
            .and_then(crate::blocklists::problem)
            .or_else(|| set.rate_limits.as_ref().and_then(|r| r.problem()))
    });
    if let Some(why) = key_problem {
        return Err(ApiError::validation(why));
    }
    for (name, url) in [
        ("webhook_url", &set.webhook_url),
        ("before_message_send_url", &set.before_message_send_url),
    ] {
        if let Some(why) = url
            .as_deref()
            .and_then(|u| crate::links::hook_problem(u, guard))
        {
            return Err(ApiError::validation(format!("{name}: {why}")));
        }
    }
    if let Some((field, _)) = set_fields
        .iter()
        .find(|(field, is_set)| *is_set && patch.unset.contains(field))
    {
        return Err(ApiError::validation(format!(
            "{field:?} is both set and unset"
        )));
    }
    if let Some(bad) = set
        .allowed_mime_types
        .iter()
        .flatten()
        .find(|m| !mime_pattern_ok(m))
    {
        return Err(ApiError::validation(format!(
            "allowed_mime_types: `{bad}` is not type/subtype or type/*, lower case"
        )));
    }
    let mut app = get_app(db, app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("application not found"))?;
    let defaults = AppSettings::default();
    for field in &patch.unset {
        match field {
            AppField::MaxMessageLength => {
                app.settings.max_message_length = defaults.max_message_length
            }
            AppField::MaxMetadataBytes => {
                app.settings.max_metadata_bytes = defaults.max_metadata_bytes
            }
            AppField::MaxUploadBytes => app.settings.max_upload_bytes = defaults.max_upload_bytes,
            AppField::AllowedMimeTypes => {
                app.settings.allowed_mime_types = defaults.allowed_mime_types.clone();
            }
            AppField::WebhookUrl => app.settings.webhook_url = None,
            AppField::BeforeMessageSendUrl => app.settings.before_message_send_url = None,
            AppField::BeforeMessageSendTimeoutMs => {
                app.settings.before_message_send_timeout_ms =
                    defaults.before_message_send_timeout_ms
            }
            AppField::BeforeMessageSendOnError => {
                app.settings.before_message_send_on_error = defaults.before_message_send_on_error
            }
            AppField::PushTitle => app.settings.push_title = defaults.push_title.clone(),
            AppField::PushBody => app.settings.push_body = defaults.push_body.clone(),
            AppField::Firebase => app.push.firebase = None,
            AppField::Apn => app.push.apn = None,
            AppField::Blocklists => app.settings.blocklists = Vec::new(),
            AppField::RateLimits => app.settings.rate_limits = defaults.rate_limits,
            AppField::MaxScheduledMessages => {
                app.settings.max_scheduled_messages = defaults.max_scheduled_messages
            }
            AppField::MaxReminders => app.settings.max_reminders = defaults.max_reminders,
            AppField::BigChannelSize => app.settings.big_channel_size = defaults.big_channel_size,
            AppField::EnrichUrls => app.settings.enrich_urls = defaults.enrich_urls,
        }
    }
    let set = patch.set;
    if let Some(name) = set.name {
        app.name = name.trim().to_string();
    }
    if let Some(v) = set.max_message_length {
        app.settings.max_message_length = v;
    }
    if let Some(v) = set.max_metadata_bytes {
        app.settings.max_metadata_bytes = v;
    }
    if let Some(v) = set.max_upload_bytes {
        app.settings.max_upload_bytes = v;
    }
    if let Some(v) = set.allowed_mime_types {
        app.settings.allowed_mime_types = v;
    }
    if let Some(v) = set.webhook_url {
        app.settings.webhook_url = Some(v);
    }
    if let Some(v) = set.before_message_send_url {
        app.settings.before_message_send_url = Some(v);
    }
    if let Some(v) = set.before_message_send_timeout_ms {
        app.settings.before_message_send_timeout_ms = v;
    }
    if let Some(v) = set.before_message_send_on_error {
        app.settings.before_message_send_on_error = v;
    }
    if let Some(v) = set.push_title {
        app.settings.push_title = v;
    }
    if let Some(v) = set.push_body {
        app.settings.push_body = v;
    }
    if let Some(v) = set.firebase {
        app.push.firebase = Some(v);
    }
    if let Some(v) = set.apn {
        app.push.apn = Some(v);
    }
    if let Some(v) = set.blocklists {
        app.settings.blocklists = v;
    }
    if let Some(v) = set.rate_limits {
        app.settings.rate_limits = v;
    }
    if let Some(v) = set.max_scheduled_messages {
        app.settings.max_scheduled_messages = v;
    }
    if let Some(v) = set.max_reminders {
        app.settings.max_reminders = v;
    }
    if let Some(v) = set.big_channel_size {
        app.settings.big_channel_size = v;
    }
    if let Some(v) = set.enrich_urls {
        app.settings.enrich_urls = v;
    }
    let settings = serde_json::to_value(&app.settings).map_err(ApiError::internal)?;
    let push = serde_json::to_value(&app.push).map_err(ApiError::internal)?;
    let spec = crate::db::store::apps::settings_change(settings, push, &app.name, app.version);
    match db.update(&app.key(), &spec, Cond::Exists).await {
        Ok(()) => {
            app.version += 1;
            Ok(app)
        }
        Err(DbError::ConditionFailed) => Err(ApiError::conflict(
            "the application's settings changed while this request ran; retry",
        )),
        Err(other) => Err(other.into()),
    }
}

impl Entity for App {
    const TYPE: &'static str = "app";
    type Item = keys::item::App;
    fn key(&self) -> Key<Self::Item> {
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
    type Item = keys::item::ApiKey;
    fn key(&self) -> Key<Self::Item> {
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
        version: 1,
        push: PushCredentials::default(),
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
    /// The same apps by id, for work that starts from an id (webhooks).
    by_id: moka::sync::Cache<AppId, Arc<App>>,
}

impl AppCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            by_id: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Forgets a cached app (this process sees its change at once; others
    /// within the cache lifetime).
    pub fn forget(&self, app: &App) {
        self.cache.invalidate(&app.api_key);
        self.by_id.invalidate(&app.app_id);
    }

    /// The app with this id, cached like [`AppCache::by_api_key`].
    pub async fn by_id(&self, db: &Db, app_id: &AppId) -> Result<Option<Arc<App>>, ApiError> {
        if let Some(app) = self.by_id.get(app_id) {
            return Ok(Some(app));
        }
        let Some(app) = get_app(db, app_id).await? else {
            return Ok(None);
        };
        let app = Arc::new(app);
        self.by_id.insert(app_id.clone(), app.clone());
        Ok(Some(app))
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
