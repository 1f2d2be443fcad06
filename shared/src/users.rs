//! App users: the tenant's end users, identified by the tenant's own ids.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use validator::Validate;

use crate::apps::App;
use crate::db::{Cond, Db, DbError, Entity};
use crate::error::ApiError;
use crate::ids::{AppId, UserId};
use crate::keys::{self, Key};

pub const MAX_UPSERT: usize = 100;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserType {
    #[default]
    Regular,
    Anonymous,
    Guest,
    Bot,
}

/// A user as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub app_id: AppId,
    pub id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(default)]
    pub user_type: UserType,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_at: Option<String>,
    /// Epoch milliseconds; tokens issued before it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_revoked_at: Option<i64>,
    /// Has at least one WebSocket connection.
    #[serde(default)]
    pub online: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active: Option<String>,
    /// Open WebSocket connections (id → epoch seconds connected): the
    /// fan-out index, read for many users at once with BatchGetItem.
    #[serde(default)]
    pub connections: std::collections::BTreeMap<String, i64>,
    /// Which messages reach this user's devices while they are offline.
    #[serde(default)]
    pub push_preference: PushPreference,
    /// Users this user blocks (id → when), capped at [`crate::blocks::MAX_BLOCKS`]:
    /// on the user item because every filter that needs it (fan-out, push,
    /// history, unread counts) reads this item already.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub blocked: std::collections::BTreeMap<UserId, String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub version: u64,
}

/// Which messages are pushed to a user who is offline: all of them (but
/// muted channels'), only those that mention them, or none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushPreference {
    #[default]
    All,
    Mentions,
    Off,
}

/// What delivery reads of a user item: their open connections and whom
/// they block. The profile's other attributes are not decoded.
#[derive(Debug, Deserialize)]
pub struct Reach {
    pub id: UserId,
    #[serde(default)]
    pub connections: std::collections::BTreeMap<String, i64>,
    #[serde(default)]
    pub blocked: std::collections::BTreeMap<UserId, String>,
}

impl crate::db::FromItem for Reach {
    type Item = keys::item::User;
}

impl Entity for User {
    const TYPE: &'static str = "user";
    type Item = keys::item::User;
    fn key(&self) -> Key<Self::Item> {
        keys::user(&self.app_id, &self.id)
    }
}

/// A user as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserView<'a> {
    pub id: &'a UserId,
    pub username: &'a Option<String>,
    pub display_name: &'a Option<String>,
    pub avatar_url: &'a Option<String>,
    pub bio: &'a Option<String>,
    pub user_type: UserType,
    #[schema(value_type = Object)]
    pub metadata: &'a Map<String, Value>,
    pub deactivated: bool,
    pub deactivated_at: &'a Option<String>,
    pub online: bool,
    pub last_active: &'a Option<String>,
    /// Shown to the user themself and to the server only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_preference: Option<PushPreference>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
}

impl UserView<'_> {
    /// The view as someone who may not see this user's presence gets it:
    /// offline, never active (the same as a user who never connected).
    pub fn without_presence(mut self) -> Self {
        self.online = false;
        self.last_active = &None;
        self
    }

    /// The view as another user gets it: without the user's own settings.
    pub fn without_settings(mut self) -> Self {
        self.push_preference = None;
        self
    }
}

/// Who a user is, as shown beside what they wrote (a message, a quote).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: UserId,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// How a user is shown as a channel's member: who they are and whether they
/// are around.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileView {
    #[serde(flatten)]
    pub identity: Identity,
    pub online: bool,
    pub last_active: Option<String>,
}

pub fn identity(id: &UserId, user: Option<&User>) -> Identity {
    match user {
        Some(u) => Identity {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            avatar_url: u.avatar_url.clone(),
        },
        None => Identity {
            id: id.clone(),
            username: None,
            display_name: None,
            avatar_url: None,
        },
    }
}

pub fn profile(id: &UserId, user: Option<&User>) -> ProfileView {
    ProfileView {
        identity: identity(id, user),
        online: user.is_some_and(|u| u.online),
        last_active: user.and_then(|u| u.last_active.clone()),
    }
}

impl User {
    pub fn view(&self) -> UserView<'_> {
        UserView {
            id: &self.id,
            username: &self.username,
            display_name: &self.display_name,
            avatar_url: &self.avatar_url,
            bio: &self.bio,
            user_type: self.user_type,
            metadata: &self.metadata,
            deactivated: self.deactivated_at.is_some(),
            deactivated_at: &self.deactivated_at,
            online: self.online,
            last_active: &self.last_active,
            push_preference: Some(self.push_preference),
            created_at: &self.created_at,
            updated_at: &self.updated_at,
        }
    }
}

/// The fields a client may set: a whole user in `POST /users` (with `id`), the
/// `set` part of `PATCH /users/{id}` (without).
#[derive(Clone, Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub id: Option<UserId>,
    #[validate(length(min = 1, max = 64))]
    pub username: Option<String>,
    #[validate(length(min = 1, max = 128))]
    pub display_name: Option<String>,
    #[validate(custom(function = "crate::links::validate"), length(max = 2048))]
    pub avatar_url: Option<String>,
    #[validate(length(max = 1024))]
    pub bio: Option<String>,
    pub user_type: Option<UserType>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Kept when omitted from `POST /users` (a setting, not profile).
    pub push_preference: Option<PushPreference>,
}

/// `PATCH /users/{id}`: fields in `set` are replaced, fields in `unset` cleared.
#[derive(Clone, Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    #[validate(nested)]
    pub set: Profile,
    #[serde(default)]
    pub unset: Vec<UnsetField>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnsetField {
    Username,
    DisplayName,
    AvatarUrl,
    Bio,
    Metadata,
}

/// Metadata within the app's size limit and storable as given.
pub fn check_metadata(app: &App, metadata: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(problem) = crate::db::limits::unstorable(metadata) {
        return Err(ApiError::validation(problem));
    }
    let size = serde_json::to_vec(metadata)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > app.settings.max_metadata_bytes {
        return Err(ApiError::TooLarge(format!(
            "metadata is {size} bytes; the limit is {}",
            app.settings.max_metadata_bytes
        )));
    }
    Ok(())
}

pub async fn get_user(db: &Db, app: &AppId, user: &UserId) -> Result<Option<User>, ApiError> {
    Ok(db.get(&keys::user(app, user)).await?)
}

pub async fn require_user(db: &Db, app: &AppId, user: &UserId) -> Result<User, ApiError> {
    get_user(db, app, user)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {user} not found")))
}

/// Users by id, in the order asked; unknown ids are left out.
pub async fn get_users(db: &Db, app: &AppId, ids: &[UserId]) -> Result<Vec<User>, ApiError> {
    let keys: Vec<Key<_>> = ids.iter().map(|id| keys::user(app, id)).collect();
    let mut found: Vec<User> = db.batch_get(&keys).await?;
    found.sort_by_key(|u| ids.iter().position(|id| *id == u.id));
    Ok(found)
}

fn apply_profile(user: &mut User, profile: Profile) {
    if profile.username.is_some() {
        user.username = profile.username;
    }
    if profile.display_name.is_some() {
        user.display_name = profile.display_name;
    }
    if profile.avatar_url.is_some() {
        user.avatar_url = profile.avatar_url;
    }
    if profile.bio.is_some() {
        user.bio = profile.bio;
    }
    if let Some(t) = profile.user_type {
        user.user_type = t;
    }
    if let Some(m) = profile.metadata {
        user.metadata = m;
    }
    if let Some(p) = profile.push_preference {
        user.push_preference = p;
    }
}

/// Creates or replaces up to 100 users in one transaction: the profile is
/// replaced as given (omitted fields are cleared), while creation time,
/// deactivation and token revocation are kept. All or nothing.
pub async fn upsert_users(db: &Db, app: &App, inputs: Vec<Profile>) -> Result<Vec<User>, ApiError> {
    if inputs.is_empty() {
        return Err(ApiError::validation("users must hold at least one user"));
    }
    if inputs.len() > MAX_UPSERT {
        return Err(ApiError::validation(format!(
            "at most {MAX_UPSERT} users per request"
        )));
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        input.validate()?;
        let id = input
            .id
            .clone()
            .ok_or_else(|| ApiError::validation(format!("users[{index}].id is required")))?;
        if !seen.insert(id.clone()) {
            return Err(ApiError::validation(format!(
                "user {id} appears more than once"
            )));
        }
        if let Some(m) = &input.metadata {
            check_metadata(app, m)?;
        }
        ids.push(id);
    }
    let (existing, erased) = users_and_erasures(db, &app.app_id, &ids).await?;
    let now = crate::time::now_rfc3339();
    // A new incarnation of an erased id refuses every token issued before
    // the next whole second: a token's `iat` has whole seconds, so one dated
    // this second may have been issued before the id came back.
    let incarnation_ms = (crate::time::now_millis() / 1000 + 1) * 1000;
    let mut users = Vec::with_capacity(inputs.len());
    let mut writes = Vec::with_capacity(inputs.len());
    for (id, input) in ids.into_iter().zip(inputs) {
        let previous = existing.iter().find(|u| u.id == id);
        let reincarnated = previous.is_none() && erased.contains(&id);
        let mut user = User {
            app_id: app.app_id.clone(),
            id,
            username: None,
            display_name: None,
            avatar_url: None,
            bio: None,
            user_type: UserType::Regular,
            metadata: Map::new(),
            deactivated_at: previous.and_then(|p| p.deactivated_at.clone()),
            tokens_revoked_at: match previous {
                Some(p) => p.tokens_revoked_at,
                None => reincarnated.then_some(incarnation_ms),
            },
            online: previous.is_some_and(|p| p.online),
            last_active: previous.and_then(|p| p.last_active.clone()),
            connections: previous.map(|p| p.connections.clone()).unwrap_or_default(),
            push_preference: previous.map(|p| p.push_preference).unwrap_or_default(),
            blocked: previous.map(|p| p.blocked.clone()).unwrap_or_default(),
            created_at: previous.map_or_else(|| now.clone(), |p| p.created_at.clone()),
            updated_at: now.clone(),
            version: previous.map_or(0, |p| p.version) + 1,
        };
        apply_profile(&mut user, input);
        writes.push(db.put_write(&user, Cond::Version(user.version - 1))?);
        users.push(user);
    }
    match db.transact(writes).await {
        Ok(()) => Ok(users),
        Err(DbError::TransactionCanceled(_)) => Err(ApiError::conflict(
            "a user changed while this request ran; nothing was written, retry",
        )),
        Err(other) => Err(other.into()),
    }
}

/// The users among `ids`, and the ids that were ever erased
/// (`DELETE /users/{id}` leaves its erasure record), in one batch read: an
/// erased id created again starts a new incarnation that no earlier token
/// reaches.
async fn users_and_erasures(
    db: &Db,
    app: &AppId,
    ids: &[UserId],
) -> Result<(Vec<User>, HashSet<UserId>), ApiError> {
    /// A user item, or an erasure record (which has `user_id`, not `id`).
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        User(Box<User>),
        Erased { user_id: UserId },
    }
    let keys: Vec<Key> = ids
        .iter()
        .flat_map(|id| [keys::user(app, id).any(), keys::erasure(app, id).any()])
        .collect();
    let stored: Vec<Stored> = db.batch_get_items(&keys).await?.all()?;
    let mut users = Vec::new();
    let mut erased = HashSet::new();
    for item in stored {
        match item {
            Stored::User(user) => users.push(*user),
            Stored::Erased { user_id } => {
                erased.insert(user_id);
            }
        }
    }
    Ok((users, erased))
}

/// Reads a user, changes it, and writes it back only if nobody wrote in between.
pub async fn update_user(
    db: &Db,
    app: &AppId,
    id: &UserId,
    change: impl FnOnce(&mut User) -> Result<(), ApiError>,
) -> Result<User, ApiError> {
    let mut user = require_user(db, app, id).await?;
    let version = user.version;
    change(&mut user)?;
    user.version = version + 1;
    user.updated_at = crate::time::now_rfc3339();
    match db.put(&user, Cond::Version(version)).await {
        Ok(()) => Ok(user),
        Err(DbError::ConditionFailed) => Err(ApiError::conflict(
            "the user changed while this request ran; retry",
        )),
        Err(other) => Err(other.into()),
    }
}

pub async fn patch_user(
    db: &Db,
    app: &App,
    id: &UserId,
    patch: UserPatch,
    may_change_type: bool,
) -> Result<User, ApiError> {
    patch.validate()?;
    if patch.set.id.is_some() {
        return Err(ApiError::validation("a user's id cannot be changed"));
    }
    if patch.set.user_type.is_some() && !may_change_type {
        return Err(ApiError::forbidden(
            "only a server token may change user_type",
        ));
    }
    if let Some(m) = &patch.set.metadata {
        check_metadata(app, m)?;
    }
    for field in &patch.unset {
        let also_set = match field {
            UnsetField::Username => patch.set.username.is_some(),
            UnsetField::DisplayName => patch.set.display_name.is_some(),
            UnsetField::AvatarUrl => patch.set.avatar_url.is_some(),
            UnsetField::Bio => patch.set.bio.is_some(),
            UnsetField::Metadata => patch.set.metadata.is_some(),
        };
        if also_set {
            return Err(ApiError::validation(format!(
                "{field:?} is both set and unset"
            )));
        }
    }
    update_user(db, &app.app_id, id, |user| {
        for field in &patch.unset {
            match field {
                UnsetField::Username => user.username = None,
                UnsetField::DisplayName => user.display_name = None,
                UnsetField::AvatarUrl => user.avatar_url = None,
                UnsetField::Bio => user.bio = None,
                UnsetField::Metadata => user.metadata = Map::new(),
            }
        }
        apply_profile(user, patch.set);
        Ok(())
    })
    .await
}

pub async fn set_deactivated(
    db: &Db,
    app: &AppId,
    id: &UserId,
    deactivated: bool,
) -> Result<User, ApiError> {
    update_user(db, app, id, |user| {
        user.deactivated_at = if deactivated {
            user.deactivated_at
                .clone()
                .or_else(|| Some(crate::time::now_rfc3339()))
        } else {
            None
        };
        Ok(())
    })
    .await
}

/// Refuses every token of this user issued before now.
pub async fn revoke_tokens(db: &Db, app: &AppId, id: &UserId) -> Result<User, ApiError> {
    update_user(db, app, id, |user| {
        user.tokens_revoked_at = Some(crate::time::now_millis());
        Ok(())
    })
    .await
}
