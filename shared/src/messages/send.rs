//! `POST /messages` (and the socket's `message.send`): validation, the
//! refusals, idempotency by client id, and one transaction of O(1) items
//! whatever the channel's size.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use validator::Validate;

use super::{draft_key, locate, Attachment, Message, MessageRef, MessageType};
use crate::channels::{self, Ctx, Member, Role};
use crate::db::{Cond, Db, DbError, Entity, UpdateSpec, Write};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::keys::{self, Key};

pub const MAX_ATTACHMENTS: usize = 30;

#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub channel_id: ChannelId,
    /// A client id makes the send idempotent.
    pub id: Option<MessageId>,
    pub text: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<MessageType>,
    #[serde(default)]
    pub silent: bool,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub mentions: Vec<UserId>,
    pub quoted_message_id: Option<MessageId>,
    pub parent_id: Option<MessageId>,
    #[serde(default)]
    pub show_in_channel: bool,
    #[serde(default)]
    #[validate(nested)]
    pub attachments: Vec<Attachment>,
    /// With a server token: the author.
    pub user_id: Option<UserId>,
}

impl SendMessage {
    fn fingerprint(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn seconds_until(ms: i64) -> u64 {
    u64::try_from((ms - crate::time::now_millis() + 999) / 1000)
        .unwrap_or(1)
        .max(1)
}

/// Sends a message; `false` when an idempotent retry returned the stored one.
pub async fn send(
    db: &Db,
    storage: &crate::storage::Storage,
    ctx: &Ctx,
    mut input: SendMessage,
) -> Result<(Message, bool), ApiError> {
    input.validate()?;
    crate::uploads::own_attachments(storage, &ctx.app, &mut input.attachments)?;
    let app = &ctx.app;
    let author = ctx.require_user()?.clone();
    let kind = input.kind.unwrap_or_default();
    match kind {
        MessageType::Deleted => return Err(ApiError::validation("type must be regular or system")),
        MessageType::System if !ctx.server => {
            return Err(ApiError::forbidden(
                "only a server token may send system messages",
            ))
        }
        _ => {}
    }
    let text = input.text.clone().filter(|t| !t.trim().is_empty());
    if text.is_none() && input.attachments.is_empty() {
        return Err(ApiError::validation("a message needs text or attachments"));
    }
    if let Some(text) = &text {
        let length = text.chars().count();
        if length > app.settings.max_message_length {
            return Err(ApiError::validation(format!(
                "text is {length} characters; the limit is {}",
                app.settings.max_message_length
            )));
        }
    }
    if input.attachments.len() > MAX_ATTACHMENTS {
        return Err(ApiError::validation(format!(
            "at most {MAX_ATTACHMENTS} attachments"
        )));
    }
    if let Some(m) = &input.metadata {
        crate::users::check_metadata(app, m)?;
    }
    if input.show_in_channel && input.parent_id.is_none() {
        return Err(ApiError::validation("show_in_channel needs a parent_id"));
    }
    let fingerprint = input.fingerprint();

    // A retry of a send that already happened returns the stored message.
    if let Some(id) = &input.id {
        if let Some(stored) = stored_send(db, ctx, id, &fingerprint).await? {
            return Ok((stored, false));
        }
    }

    let access = channels::load(db, ctx, &input.channel_id).await?;
    let channel = &access.channel;
    let member: Option<&Member> = access.member.as_ref().filter(|m| m.is_active());
    let system_by_server = ctx.server && kind == MessageType::System;
    if member.is_none() && !system_by_server {
        return Err(ApiError::forbidden(
            "only channel members may send messages",
        ));
    }
    if channel.frozen {
        return Err(ApiError::forbidden("the channel is frozen"));
    }
    let ban = crate::channels::active_ban(db, ctx, &channel.id, &author).await?;
    if ban.as_ref().is_some_and(|b| !b.shadow) {
        return Err(ApiError::forbidden("you are banned from this channel"));
    }
    let shadowed = ban.is_some();

    let parent = match &input.parent_id {
        Some(parent_id) => {
            let (_, parent) = locate(db, ctx, parent_id).await.map_err(|_| {
                ApiError::validation(format!("parent message {parent_id} not found"))
            })?;
            if parent.channel_id != channel.id {
                return Err(ApiError::validation(
                    "the parent message is in another channel",
                ));
            }
            if parent.parent_id.is_some() {
                return Err(ApiError::validation(
                    "replies cannot have replies; reply to the thread's parent",
                ));
            }
            if !channel.settings.replies {
                return Err(ApiError::forbidden(
                    "replies are turned off in this channel",
                ));
            }
            Some(parent)
        }
        None => None,
    };
    if let Some(quoted_id) = &input.quoted_message_id {
        let quoted = locate(db, ctx, quoted_id)
            .await
            .map(|(_, m)| m)
            .map_err(|_| ApiError::validation(format!("quoted message {quoted_id} not found")))?;
        if quoted.channel_id != channel.id {
            return Err(ApiError::validation(
                "the quoted message is in another channel",
            ));
        }
    }
    let mut mentions: Vec<UserId> = Vec::new();
    for m in &input.mentions {
        if !mentions.contains(m) {
            mentions.push(m.clone());
        }
    }
    if mentions.len() > 100 {
        return Err(ApiError::validation("at most 100 mentions"));
    }
    if !mentions.is_empty() {
        let member_keys: Vec<Key> = mentions
            .iter()
            .map(|u| keys::member(&app.app_id, &channel.id, u))
            .collect();
        let found: Vec<Member> = db.batch_get(&member_keys).await?;
        let missing: Vec<&str> = mentions
            .iter()
            .filter(|u| !found.iter().any(|m| &m.user_id == *u))
            .map(UserId::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::validation(format!(
                "mentioned users are not members: {}",
                missing.join(", ")
            )));
        }
    }

    let now_ms = crate::time::now_millis();
    let now = crate::time::millis_to_rfc3339(now_ms);
    let sort_id = MessageId::generate();
    let message = Message {
        app_id: app.app_id.clone(),
        channel_id: channel.id.clone(),
        id: input.id.clone().unwrap_or_else(|| sort_id.clone()),
        sort_id: sort_id.clone(),
        user_id: author.clone(),
        kind,
        search_text: text.as_ref().map(|t| t.to_lowercase()),
        text,
        silent: input.silent,
        metadata: input.metadata.clone().unwrap_or_default(),
        mentions,
        quoted_message_id: input.quoted_message_id.clone(),
        parent_id: input.parent_id.clone(),
        show_in_channel: input.show_in_channel,
        attachments: input.attachments.clone(),
        reply_count: 0,
        reaction_counts: Default::default(),
        pinned_at: None,
        pinned_by: None,
        shadowed,
        created_at: now.clone(),
        updated_at: now.clone(),
        edited_at: None,
        moderated_by: None,
        deleted_at: None,
        fingerprint: fingerprint.clone(),
        version: 1,
    };
    let reference = MessageRef {
        app_id: app.app_id.clone(),
        id: message.id.clone(),
        channel_id: channel.id.clone(),
        sort_id: sort_id.clone(),
        in_channel: message.in_channel(),
    };
    let message_sk = message.key().sk;

    // [0] message, [1] id lock, [2] channel, then the optional ones.
    let mut writes: Vec<Write> = vec![
        db.put_write(&message, Cond::NotExists)?,
        db.put_write(&reference, Cond::NotExists)?,
    ];
    let channel_update = if message.in_channel() && !shadowed {
        // Bumping the version keeps a concurrent PATCH from writing back a
        // stale last_message_at; the condition refuses a freeze in between.
        UpdateSpec {
            expression: "SET #last = :now ADD #version :one".into(),
            condition: Some("#frozen = :no".into()),
            names: vec![
                ("#last".into(), "last_message_at".into()),
                ("#version".into(), "version".into()),
                ("#frozen".into(), "frozen".into()),
            ],
            values: vec![
                (":now".into(), json!(now)),
                (":one".into(), json!(1)),
                (":no".into(), json!(false)),
            ],
        }
    } else {
        UpdateSpec {
            expression: "SET #frozen = :no".into(),
            condition: Some("#frozen = :no".into()),
            names: vec![("#frozen".into(), "frozen".into())],
            values: vec![(":no".into(), json!(false))],
        }
    };
    writes.push(db.update_write(
        &keys::channel(&app.app_id, &channel.id),
        &channel_update,
        Cond::Live,
    )?);

    let mut slow_mode_index = None;
    if let Some(member) = member {
        let exempt = member.role >= Role::Admin || ctx.server;
        let mut spec = UpdateSpec {
            expression: "SET #sent = :now".into(),
            condition: None,
            names: vec![("#sent".into(), "last_sent_ms".into())],
            values: vec![(":now".into(), json!(now_ms))],
        };
        if message.in_channel() {
            // Sending reads the channel up to one's own message.
            spec.expression.push_str(", #read = :sk");
            spec.names.push(("#read".into(), "read_up_to".into()));
            spec.values.push((":sk".into(), json!(message_sk)));
        }
        if channel.slow_mode > 0 && !exempt {
            let threshold = now_ms - i64::from(channel.slow_mode) * 1000;
            spec.condition = Some("attribute_not_exists(#sent) OR #sent <= :threshold".into());
            spec.values.push((":threshold".into(), json!(threshold)));
            if let Some(last) = member.last_sent_ms.filter(|last| *last > threshold) {
                return Err(ApiError::RateLimited {
                    message: format!("slow mode: one message every {} seconds", channel.slow_mode),
                    retry_after: seconds_until(last + i64::from(channel.slow_mode) * 1000),
                });
            }
            slow_mode_index = Some(writes.len());
        }
        writes.push(db.update_write(
            &keys::member(&app.app_id, &channel.id, &author),
            &spec,
            Cond::Exists,
        )?);
        if message.in_channel() {
            let read = UpdateSpec {
                expression: "SET #read = :sk, #rid = :id, #rat = :now".into(),
                condition: None,
                names: vec![
                    ("#read".into(), "read_up_to".into()),
                    ("#rid".into(), "last_read_message_id".into()),
                    ("#rat".into(), "last_read_at".into()),
                ],
                values: vec![
                    (":sk".into(), json!(message_sk)),
                    (":id".into(), json!(message.id)),
                    (":now".into(), json!(now)),
                ],
            };
            writes.push(db.update_write(
                &keys::membership(&app.app_id, &author, &channel.id),
                &read,
                Cond::Exists,
            )?);
        }
    }
    if let Some(parent) = &parent {
        let spec = UpdateSpec {
            expression: "ADD #replies :one".into(),
            condition: None,
            names: vec![("#replies".into(), "reply_count".into())],
            values: vec![(":one".into(), json!(1))],
        };
        writes.push(db.update_write(&parent.key(), &spec, Cond::Exists)?);
    }
    writes.push(db.delete_write(
        &draft_key(&app.app_id, &author, &channel.id, input.parent_id.as_ref()),
        Cond::Always,
    )?);

    match db.transact(writes).await {
        Ok(()) => Ok((message, true)),
        Err(DbError::TransactionCanceled(reasons)) => {
            let failed = |i: usize| reasons.get(i).is_some_and(Option::is_some);
            if failed(1) {
                if let Some(id) = &input.id {
                    if let Some(stored) = stored_send(db, ctx, id, &fingerprint).await? {
                        return Ok((stored, false));
                    }
                }
                return Err(ApiError::conflict("a message with this id already exists"));
            }
            if failed(2) {
                return Err(ApiError::forbidden("the channel is frozen or gone"));
            }
            if slow_mode_index.is_some_and(failed) {
                return Err(ApiError::RateLimited {
                    message: format!("slow mode: one message every {} seconds", channel.slow_mode),
                    retry_after: u64::from(channel.slow_mode),
                });
            }
            Err(ApiError::conflict(
                "the channel changed while sending; retry",
            ))
        }
        Err(other) => Err(other.into()),
    }
}

/// The message already stored under a client id: the same request returns
/// it, a different one under the same id is a conflict.
async fn stored_send(
    db: &Db,
    ctx: &Ctx,
    id: &MessageId,
    fingerprint: &str,
) -> Result<Option<Message>, ApiError> {
    let Some(reference) = db
        .get::<MessageRef>(&keys::message_ref(&ctx.app.app_id, id))
        .await?
    else {
        return Ok(None);
    };
    let stored: Option<Message> = db.get(&reference.message_key()).await?;
    match stored {
        Some(m) if m.fingerprint == fingerprint && ctx.user.as_ref() == Some(&m.user_id) => {
            Ok(Some(m))
        }
        _ => Err(ApiError::conflict(format!(
            "message id {id} is already used by a different message"
        ))),
    }
}
