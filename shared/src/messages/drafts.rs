//! Drafts: one per user per channel, and per thread. Sending clears it: a
//! reply deletes its thread draft in its transaction; a channel draft is
//! not deleted by a send (that would be a fifth item in every send's
//! transaction) but reads as gone once the member posted after it (their
//! member item's `last_posted_ms`), and the next save overwrites it.

use serde::Deserialize;
use serde_json::{Map, Value};
use validator::Validate;

use super::{draft_key, locate, Attachment, Draft};
use crate::channels::{load, Ctx, Member};
use crate::db::{Cond, Db, DbError, Page, PageRequest};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId};
use crate::keys;

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftInput {
    pub text: Option<String>,
    #[serde(default)]
    #[validate(nested)]
    pub attachments: Vec<Attachment>,
    pub parent_id: Option<MessageId>,
    pub quoted_message_id: Option<MessageId>,
    /// Users the draft mentions (kept as given, at most 100; a send checks
    /// they are members).
    #[serde(default)]
    #[validate(length(max = 100))]
    pub mentions: Vec<crate::ids::UserId>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub user_id: Option<crate::ids::UserId>,
}

async fn check_thread(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    parent: Option<&MessageId>,
) -> Result<(), ApiError> {
    if let Some(parent) = parent {
        let (_, message) = locate(db, ctx, parent)
            .await
            .map_err(|_| ApiError::validation(format!("parent message {parent} not found")))?;
        if &message.channel_id != channel_id {
            return Err(ApiError::validation(
                "the parent message is in another channel",
            ));
        }
    }
    Ok(())
}

pub async fn put(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    input: DraftInput,
) -> Result<Draft, ApiError> {
    input.validate()?;
    let access = load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?.clone();
    access.require_member()?;
    if let Some(text) = &input.text {
        if text.chars().count() > ctx.app.settings.max_message_length {
            return Err(ApiError::validation(
                "the draft's text is longer than a message may be",
            ));
        }
    }
    if input.attachments.len() > super::send::MAX_ATTACHMENTS {
        return Err(ApiError::validation("at most 30 attachments"));
    }
    if let Some(m) = &input.metadata {
        crate::users::check_metadata(&ctx.app, m)?;
    }
    check_thread(db, ctx, channel_id, input.parent_id.as_ref()).await?;
    if let Some(quoted) = &input.quoted_message_id {
        // As a send checks it: the quote must be a message the author can
        // read, in this channel. One it cannot read, or in another channel,
        // answers as an unknown id: a draft is no way to learn what exists.
        let unknown = || ApiError::validation(format!("quoted message {quoted} not found"));
        let (quoted_access, message) = locate(db, ctx, quoted).await.map_err(|_| unknown())?;
        if quoted_access.require_read().is_err() || &message.channel_id != channel_id {
            return Err(unknown());
        }
    }
    let draft = Draft {
        app_id: ctx.app.app_id.clone(),
        user_id: user,
        channel_id: channel_id.clone(),
        parent_id: input.parent_id,
        text: input.text,
        attachments: input.attachments,
        quoted_message_id: input.quoted_message_id,
        mentions: {
            let mut mentions = input.mentions;
            mentions.dedup();
            mentions
        },
        metadata: input.metadata.unwrap_or_default(),
        updated_at: crate::time::now_rfc3339(),
    };
    db.put(&draft, Cond::Always).await?;
    Ok(draft)
}

pub async fn get(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    parent: Option<&MessageId>,
) -> Result<Draft, ApiError> {
    let access = load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?.clone();
    access.require_member()?;
    db.get::<Draft>(&draft_key(&ctx.app.app_id, &user, channel_id, parent))
        .await?
        .filter(|d| !sent_since(d, access.member.as_ref()))
        .ok_or_else(|| ApiError::not_found("no draft here"))
}

/// A channel draft the member has posted since: it was sent.
fn sent_since(draft: &Draft, member: Option<&Member>) -> bool {
    if draft.parent_id.is_some() {
        return false;
    }
    let saved_ms = chrono::DateTime::parse_from_rfc3339(&draft.updated_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(i64::MIN);
    member
        .and_then(|m| m.last_posted_ms)
        .is_some_and(|posted| posted >= saved_ms)
}

pub async fn delete(
    db: &Db,
    ctx: &Ctx,
    channel_id: &ChannelId,
    parent: Option<&MessageId>,
) -> Result<(), ApiError> {
    let access = load(db, ctx, channel_id).await?;
    let user = ctx.require_user()?.clone();
    access.require_member()?;
    let key = draft_key(&ctx.app.app_id, &user, channel_id, parent);
    if parent.is_none() {
        // A channel draft already sent is not there to delete.
        let stored: Option<Draft> = db.get(&key).await?;
        if stored.is_some_and(|d| sent_since(&d, access.member.as_ref())) {
            return Err(ApiError::not_found("no draft here"));
        }
    }
    match db.delete(&key, Cond::Exists).await {
        Ok(()) => Ok(()),
        Err(DbError::ConditionFailed) => Err(ApiError::not_found("no draft here")),
        Err(other) => Err(other.into()),
    }
}

/// All the actor's drafts, by channel (channel drafts already sent left
/// out: one batch read of the page's member items).
pub async fn list(db: &Db, ctx: &Ctx, page: &PageRequest) -> Result<Page<Draft>, ApiError> {
    let user = ctx.require_user()?.clone();
    let app = &ctx.app.app_id;
    let mut found: Page<Draft> = db
        .query(&keys::user_partition(app, &user), keys::DRAFT_PREFIX, page)
        .await?;
    let member_keys: Vec<keys::Key<_>> = found
        .items
        .iter()
        .filter(|d| d.parent_id.is_none())
        .map(|d| keys::member(app, &d.channel_id, &user))
        .collect();
    if !member_keys.is_empty() {
        let members: Vec<Member> = db.batch_get(&member_keys).await?;
        found.items.retain(|d| {
            let member = members.iter().find(|m| m.channel_id == d.channel_id);
            !sent_since(d, member)
        });
    }
    Ok(found)
}
