//! Reports (flags) and the moderation queue: any member flags a message, any
//! user flags another user, once per target; the channel's owners and admins
//! (and server tokens) list the open reports and resolve each with one
//! action. The reporter is shown to moderators, never to the reported user.

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::channels::moderation::BanInput;
use crate::channels::{self, Ctx};
use crate::db::{Cond, Db, DbError, Entity, Page, PageRequest};
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::messages::Message;

/// `POST /moderation/flags`: a message or a user, with a reason.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagInput {
    pub message_id: Option<MessageId>,
    pub user_id: Option<UserId>,
    /// A short word or phrase (`spam`, `harassment`, ...), 1 to 64 characters.
    #[validate(length(min = 1, max = 64))]
    pub reason: String,
    #[validate(length(max = 1000))]
    pub note: Option<String>,
    /// With a server token: the reporting user.
    pub reporter_id: Option<UserId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    Open,
    Resolved,
}

/// What a moderator does with a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagAction {
    /// Nothing to do: the report is closed.
    Dismiss,
    /// The flagged message is deleted (soft, as a moderator's delete).
    DeleteMessage,
    /// The reported user is banned from the channel.
    Ban,
    /// The reported user is shadow-banned in the channel.
    ShadowBan,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flag {
    pub app_id: AppId,
    pub id: String,
    /// The reported user: the message's author, or the user flagged.
    pub user_id: UserId,
    pub message_id: Option<MessageId>,
    pub channel_id: Option<ChannelId>,
    /// Who reported; none when an app's `flag` blocklist did.
    #[serde(default)]
    pub reporter_id: Option<UserId>,
    pub reason: String,
    pub note: Option<String>,
    pub status: FlagStatus,
    pub created_at: String,
    pub action: Option<FlagAction>,
    pub resolved_by: Option<UserId>,
    pub resolved_at: Option<String>,
}

impl Entity for Flag {
    const TYPE: &'static str = "flag";
    type Item = keys::item::Flag;
    fn key(&self) -> Key<Self::Item> {
        keys::flag(&self.app_id, &self.id)
    }
}

/// The mark that a reporter already flagged a target (once each).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Flagged {
    app_id: AppId,
    target: String,
    reporter_id: UserId,
    flag_id: String,
}

impl Entity for Flagged {
    const TYPE: &'static str = "flagged";
    type Item = keys::item::Flagged;
    fn key(&self) -> Key<Self::Item> {
        keys::flagged(&self.app_id, &self.target, &self.reporter_id)
    }
}

/// A report as moderators see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Flag)]
pub struct FlagView<'a> {
    pub id: &'a str,
    pub user_id: &'a UserId,
    pub message_id: &'a Option<MessageId>,
    pub channel_id: &'a Option<ChannelId>,
    /// `null`: opened by a `flag` blocklist (`reason` is `blocklist`).
    pub reporter_id: &'a Option<UserId>,
    pub reason: &'a str,
    pub note: &'a Option<String>,
    pub status: FlagStatus,
    pub created_at: &'a str,
    pub action: Option<FlagAction>,
    pub resolved_by: &'a Option<UserId>,
    pub resolved_at: &'a Option<String>,
}

impl Flag {
    pub fn view(&self) -> FlagView<'_> {
        FlagView {
            id: &self.id,
            user_id: &self.user_id,
            message_id: &self.message_id,
            channel_id: &self.channel_id,
            reporter_id: &self.reporter_id,
            reason: &self.reason,
            note: &self.note,
            status: self.status,
            created_at: &self.created_at,
            action: self.action,
            resolved_by: &self.resolved_by,
            resolved_at: &self.resolved_at,
        }
    }
}

/// Files a report; the message (if any) comes back for the event.
pub async fn create(
    db: &Db,
    ctx: &Ctx,
    input: FlagInput,
) -> Result<(Flag, Option<Message>), ApiError> {
    input.validate()?;
    let reporter = ctx.require_user()?.clone();
    let (user, message) = match (&input.message_id, &input.user_id) {
        (Some(id), None) => {
            let (access, message) = crate::messages::locate(db, ctx, id).await?;
            // A message one cannot read answers as one that does not exist.
            access
                .require_read()
                .map_err(|_| ApiError::not_found(format!("message {id} not found")))?;
            (message.user_id.clone(), Some(message))
        }
        (None, Some(user)) => {
            crate::users::require_user(db, &ctx.app.app_id, user).await?;
            (user.clone(), None)
        }
        _ => {
            return Err(ApiError::validation(
                "a flag names a message_id or a user_id, not both",
            ))
        }
    };
    if user == reporter {
        return Err(ApiError::validation("you cannot flag yourself"));
    }
    let flag = Flag {
        app_id: ctx.app.app_id.clone(),
        id: uuid::Uuid::now_v7().simple().to_string(),
        user_id: user.clone(),
        message_id: message.as_ref().map(|m| m.id.clone()),
        channel_id: message.as_ref().map(|m| m.channel_id.clone()),
        reporter_id: Some(reporter.clone()),
        reason: input.reason.trim().to_string(),
        note: input.note,
        status: FlagStatus::Open,
        created_at: crate::time::now_rfc3339(),
        action: None,
        resolved_by: None,
        resolved_at: None,
    };
    let target = match &flag.message_id {
        Some(id) => format!("message:{id}"),
        None => format!("user:{user}"),
    };
    let mark = Flagged {
        app_id: ctx.app.app_id.clone(),
        target,
        reporter_id: reporter,
        flag_id: flag.id.clone(),
    };
    let writes = vec![
        db.put_write(&flag, Cond::NotExists)?,
        db.put_write(&mark, Cond::NotExists)?,
    ];
    match db.transact(writes).await {
        Ok(()) => Ok((flag, message)),
        Err(DbError::TransactionCanceled(_)) => Err(ApiError::conflict("you already flagged this")),
        Err(other) => Err(other.into()),
    }
}

/// Opens one report on a message for each `flag` blocklist its text
/// matched (`reason` `blocklist`, the list's name as the note, no
/// reporter). A later edit that matches again opens another.
pub async fn by_blocklists(
    db: &Db,
    message: &Message,
    lists: &[String],
) -> Result<Vec<Flag>, ApiError> {
    let now = crate::time::now_rfc3339();
    let flags: Vec<Flag> = lists
        .iter()
        .map(|list| Flag {
            app_id: message.app_id.clone(),
            id: uuid::Uuid::now_v7().simple().to_string(),
            user_id: message.user_id.clone(),
            message_id: Some(message.id.clone()),
            channel_id: Some(message.channel_id.clone()),
            reporter_id: None,
            reason: "blocklist".into(),
            note: Some(list.clone()),
            status: FlagStatus::Open,
            created_at: now.clone(),
            action: None,
            resolved_by: None,
            resolved_at: None,
        })
        .collect();
    db.batch_put(&flags).await?;
    Ok(flags)
}

/// Which reports a list shows.
#[derive(Debug, Default, Deserialize)]
pub struct FlagScope {
    pub channel_id: Option<ChannelId>,
    pub status: Option<FlagStatus>,
}

/// `GET /moderation/flags`: the server sees every report; a user sees a
/// channel's, when they moderate it (`channel_id` is then required). A page
/// may hold fewer than `limit` reports when filtered; follow `next`.
pub async fn list(
    db: &Db,
    ctx: &Ctx,
    filter: &FlagScope,
    page: &PageRequest,
) -> Result<Page<Flag>, ApiError> {
    if !ctx.server {
        let channel = filter.channel_id.as_ref().ok_or_else(|| {
            ApiError::forbidden(
                "only a server token lists every report; name a channel_id you moderate",
            )
        })?;
        channels::load(db, ctx, channel)
            .await?
            .require_moderator()?;
    }
    let mut result: Page<Flag> = db
        .query(&keys::flags(&ctx.app.app_id), keys::FLAG_PREFIX, page)
        .await?;
    // A moderator never sees reports about themselves (nor who made them).
    result.items.retain(|f| {
        filter
            .channel_id
            .as_ref()
            .is_none_or(|c| f.channel_id.as_ref() == Some(c))
            && filter.status.is_none_or(|s| f.status == s)
            && ctx.user.as_ref() != Some(&f.user_id)
    });
    Ok(result)
}

/// `POST /moderation/flags/{id}/resolve`: one action, by the server or a
/// moderator of the flag's channel; a report is resolved once.
pub async fn resolve(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    action: FlagAction,
) -> Result<(Flag, Option<Message>), ApiError> {
    let mut flag: Flag = db
        .get(&keys::flag(&ctx.app.app_id, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("flag {id} not found")))?;
    match (&flag.channel_id, ctx.server) {
        (_, true) => {}
        (Some(channel), false) => channels::load(db, ctx, channel)
            .await?
            .require_moderator()?,
        (None, false) => {
            return Err(ApiError::forbidden(
                "only a server token resolves reports of users",
            ))
        }
    }
    if !ctx.server && ctx.user.as_ref() == Some(&flag.user_id) {
        return Err(ApiError::forbidden(
            "a report about you is resolved by another moderator",
        ));
    }
    if flag.status == FlagStatus::Resolved {
        return Err(ApiError::conflict("this report is already resolved"));
    }
    let mut deleted = None;
    match (action, &flag.channel_id, &flag.message_id) {
        (FlagAction::Dismiss, _, _) => {}
        (FlagAction::DeleteMessage, _, Some(message)) => {
            deleted = Some(crate::messages::edit::delete(db, ctx, message, false).await?);
        }
        (FlagAction::Ban | FlagAction::ShadowBan, Some(channel), _) => {
            let input = BanInput {
                user_id: flag.user_id.clone(),
                timeout: None,
                shadow: action == FlagAction::ShadowBan,
                reason: Some(flag.reason.clone()),
            };
            channels::moderation::ban(db, ctx, channel, input).await?;
        }
        _ => {
            return Err(ApiError::validation(
                "this action needs a flagged message (its channel)",
            ))
        }
    }
    flag.status = FlagStatus::Resolved;
    flag.action = Some(action);
    flag.resolved_by = if ctx.server { None } else { ctx.user.clone() };
    flag.resolved_at = Some(crate::time::now_rfc3339());
    db.put(&flag, Cond::Exists).await?;
    Ok((flag, deleted))
}
