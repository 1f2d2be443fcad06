//! Editing, soft and hard deletion, and pinning.

use serde::Deserialize;
use serde_json::{Map, Value};
use validator::Validate;

use super::{locate, Attachment, Message, MessageRef, MessageType, Pin};
use crate::channels::{Access, Ctx};
use crate::db::{Cond, Db, DbError, Entity};
use crate::error::ApiError;
use crate::ids::MessageId;
use crate::keys;

#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageEdit {
    pub text: Option<String>,
    #[validate(nested)]
    pub attachments: Option<Vec<Attachment>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// With a server token: who edits (recorded).
    pub user_id: Option<crate::ids::UserId>,
}

fn is_author(ctx: &Ctx, message: &Message) -> bool {
    !ctx.server && ctx.user.as_ref() == Some(&message.user_id)
}

/// Who moderated: the server, or the owner/admin acting.
fn moderator_name(ctx: &Ctx) -> String {
    match (&ctx.user, ctx.server) {
        (_, true) => "server".into(),
        (Some(user), false) => user.to_string(),
        (None, false) => "unknown".into(),
    }
}

async fn save(db: &Db, mut message: Message) -> Result<Message, ApiError> {
    let read_version = message.version;
    message.version += 1;
    message.updated_at = crate::time::now_rfc3339();
    match db.put(&message, Cond::Version(read_version)).await {
        Ok(()) => Ok(message),
        Err(DbError::ConditionFailed) => Err(ApiError::conflict(
            "the message changed while this request ran; retry",
        )),
        Err(other) => Err(other.into()),
    }
}

/// `PATCH /messages/{id}`: the author, or an owner/admin/server (recorded in
/// `moderated_by`); with the `flag` blocklists the new text matched.
pub async fn edit(
    db: &Db,
    storage: &crate::storage::Storage,
    ctx: &Ctx,
    id: &MessageId,
    mut change: MessageEdit,
) -> Result<(Message, Vec<String>), ApiError> {
    change.validate()?;
    if let Some(attachments) = &mut change.attachments {
        crate::uploads::own_attachments(storage, &ctx.app, attachments)?;
    }
    let (access, mut message) = locate(db, ctx, id).await?;
    access.require_read()?;
    if message.kind == MessageType::Deleted {
        return Err(ApiError::validation("a deleted message cannot be edited"));
    }
    if !is_author(ctx, &message) {
        access.require_moderator()?;
        message.moderated_by = Some(moderator_name(ctx));
    }
    if change.text.is_none() && change.attachments.is_none() && change.metadata.is_none() {
        return Err(ApiError::validation(
            "nothing to change: give text, attachments or metadata",
        ));
    }
    let mut flagged_by = Vec::new();
    if let Some(mut text) = change.text {
        let mut screened = Some(text);
        flagged_by = super::send::screen(ctx, &mut screened)?.1;
        text = screened.unwrap_or_default();
        let length = text.chars().count();
        if length > ctx.app.settings.max_message_length {
            return Err(ApiError::validation(format!(
                "text is {length} characters; the limit is {}",
                ctx.app.settings.max_message_length
            )));
        }
        let text = Some(text).filter(|t| !t.trim().is_empty());
        message.search_text = text.as_ref().map(|t| t.to_lowercase());
        message.text = text;
    }
    if let Some(attachments) = change.attachments {
        if attachments.len() > super::send::MAX_ATTACHMENTS {
            return Err(ApiError::validation("at most 30 attachments"));
        }
        message.attachments = attachments;
    }
    if let Some(metadata) = change.metadata {
        crate::users::check_metadata(&ctx.app, &metadata)?;
        message.metadata = metadata;
    }
    if message.text.is_none() && message.attachments.is_empty() && message.poll_id.is_none() {
        return Err(ApiError::validation(
            "a message needs text, attachments or a poll",
        ));
    }
    message.edited_at = Some(crate::time::now_rfc3339());
    Ok((save(db, message).await?, flagged_by))
}

/// `DELETE /messages/{id}`: soft by default (a placeholder of type `deleted`
/// stays, without text or attachments); `hard` removes the message, its id,
/// its pin and its reactions. Author, owner/admin or server. Returns the
/// placeholder, or (hard) the message as it was.
pub async fn delete(db: &Db, ctx: &Ctx, id: &MessageId, hard: bool) -> Result<Message, ApiError> {
    let (access, mut message) = locate(db, ctx, id).await?;
    access.require_read()?;
    if !is_author(ctx, &message) {
        access.require_moderator()?;
    }
    if !hard {
        if message.kind == MessageType::Deleted {
            return Ok(message);
        }
        message.kind = MessageType::Deleted;
        message.text = None;
        message.search_text = None;
        message.attachments.clear();
        let poll = message.poll_id.take();
        message.deleted_at = Some(crate::time::now_rfc3339());
        if !is_author(ctx, &message) {
            message.moderated_by = Some(moderator_name(ctx));
        }
        let message = save(db, message).await?;
        unmark(db, ctx, &access.channel, &message).await?;
        if let Some(poll) = &poll {
            super::polls::die(db, &ctx.app.app_id, poll).await?;
        }
        return Ok(message);
    }
    let app = &ctx.app.app_id;
    let reference = MessageRef {
        app_id: app.clone(),
        id: message.id.clone(),
        channel_id: message.channel_id.clone(),
        sort_id: message.sort_id.clone(),
        in_channel: message.in_channel(),
    };
    let mut writes = vec![
        db.delete_write(&message.key(), Cond::Version(message.version))?,
        db.delete_write(&reference.key(), Cond::Always)?,
        db.delete_write(
            &keys::pin(app, &message.channel_id, &message.sort_id),
            Cond::Always,
        )?,
    ];
    if let Some(parent) = &message.parent_id {
        if let Some(parent_ref) = db
            .get::<MessageRef>(&keys::message_ref(app, parent))
            .await?
        {
            let spec = super::store::replies_changed(-1, message.shadowed, None);
            writes.push(db.update_write(&parent_ref.message_key(), &spec, Cond::Exists)?);
        }
    }
    db.transact(writes)
        .await
        .map_err(|_| ApiError::conflict("the message changed while deleting; retry"))?;
    // The message is gone (the commit point); its badge marks and its
    // reactions follow.
    unmark(db, ctx, &access.channel, &message).await?;
    if let Some(poll) = &message.poll_id {
        super::polls::die(db, app, poll).await?;
    }
    let partition = keys::reaction_partition(app, &message.id);
    db.delete_under(&partition, keys::REACTION_PREFIX).await?;
    Ok(message)
}

/// A deleted message no longer counts in badges.
async fn unmark(
    db: &Db,
    ctx: &Ctx,
    channel: &crate::channels::Channel,
    message: &Message,
) -> Result<(), ApiError> {
    if channel.reachable == 0 || !message.in_channel() {
        return Ok(());
    }
    let app = &ctx.app.app_id;
    let holders = crate::push::reachable::in_channel(db, app, &channel.id).await?;
    crate::push::badges::message_gone(db, app, &channel.id, &message.sort_id, holders).await
}

/// Pins or unpins: owners, admins, the server, and the message's author.
pub async fn set_pinned(
    db: &Db,
    ctx: &Ctx,
    id: &MessageId,
    pinned: bool,
) -> Result<Message, ApiError> {
    let (access, mut message) = locate(db, ctx, id).await?;
    require_pin_permission(ctx, &access, &message)?;
    if message.kind == MessageType::Deleted {
        return Err(ApiError::validation("a deleted message cannot be pinned"));
    }
    if message.pinned_at.is_some() == pinned {
        return Ok(message);
    }
    let now = crate::time::now_rfc3339();
    let pin = Pin {
        app_id: ctx.app.app_id.clone(),
        channel_id: message.channel_id.clone(),
        message_id: message.id.clone(),
        sort_id: message.sort_id.clone(),
        in_channel: message.in_channel(),
        pinned_by: ctx.user.clone(),
        pinned_at: now.clone(),
    };
    let read_version = message.version;
    if pinned {
        message.pinned_at = Some(now);
        message.pinned_by = if ctx.server { None } else { ctx.user.clone() };
    } else {
        message.pinned_at = None;
        message.pinned_by = None;
    }
    message.version += 1;
    message.updated_at = crate::time::now_rfc3339();
    let writes = vec![
        db.put_write(&message, Cond::Version(read_version))?,
        if pinned {
            db.put_write(&pin, Cond::Always)?
        } else {
            db.delete_write(&pin.key(), Cond::Always)?
        },
    ];
    db.transact(writes)
        .await
        .map_err(|_| ApiError::conflict("the message changed while this request ran; retry"))?;
    Ok(message)
}

fn require_pin_permission(ctx: &Ctx, access: &Access, message: &Message) -> Result<(), ApiError> {
    access.require_read()?;
    if is_author(ctx, message) && access.member.as_ref().is_some_and(|m| m.is_active()) {
        return Ok(());
    }
    access.require_moderator()
}
