//! Reactions: one per type per user per message; counts per type kept on the
//! message by atomic updates in the same transaction.

use serde::Deserialize;

use super::store::{self, ReactionRefused};
use super::{locate, Message, MessageType, Reaction};
use crate::channels::Ctx;
use crate::db::{store as db_store, Cond, Db, DbError, Entity, Page, PageRequest};
use crate::error::ApiError;
use crate::ids::MessageId;
use crate::keys;

pub const MAX_TYPE_LEN: usize = 32;
/// Distinct reaction types one message may carry: its counts ride in every
/// history page and event, so they stay small (25 × ~40 bytes).
pub const MAX_TYPES_PER_MESSAGE: usize = 25;
/// Distinct reaction types one user may put on one message.
pub const MAX_TYPES_PER_USER: usize = 10;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub score: Option<i64>,
    pub user_id: Option<crate::ids::UserId>,
}

/// A reaction type: a short name such as `like` or `thumbs_up`, or an emoji
/// (emoji joiners and variation selectors included). Letters, digits and
/// `_ - + :` in ASCII; no path characters (`/ \ .`), no key separator, no
/// spaces, controls, or invisible and direction-changing characters.
pub fn check_type(kind: &str) -> Result<(), ApiError> {
    let allowed = |c: char| {
        if c.is_ascii() {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | ':')
        } else {
            !c.is_control() && !c.is_whitespace() && !is_invisible_or_bidi(c)
        }
    };
    let ok = !kind.is_empty() && kind.chars().count() <= MAX_TYPE_LEN && kind.chars().all(allowed);
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "a reaction type is 1 to {MAX_TYPE_LEN} letters, digits, _ - + : or emoji"
        )))
    }
}

/// Characters that change direction or hide text (the right-to-left
/// override among them); the zero-width joiner stays, emoji need it.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}' | '\u{200C}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Drops a type whose count reached zero, so counts hold only live types.
/// Conditional: a reaction added meanwhile keeps it.
async fn drop_if_zero(db: &Db, message: &Message, kind: &str) -> Result<(), ApiError> {
    let spec = db_store::reactions::drop_if_zero(kind);
    match db.update(&message.key(), &spec, Cond::Exists).await {
        Ok(()) | Err(DbError::ConditionFailed) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// Adds a reaction; adding the same type again returns the stored one.
pub async fn add(
    db: &Db,
    ctx: &Ctx,
    id: &MessageId,
    input: ReactionInput,
) -> Result<(Message, Reaction, bool), ApiError> {
    check_type(&input.kind)?;
    let score = input.score.unwrap_or(1);
    if !(1..=1000).contains(&score) {
        return Err(ApiError::validation("score must be between 1 and 1000"));
    }
    let (access, message) = locate(db, ctx, id).await?;
    let user = ctx.require_user()?.clone();
    access.require_read()?;
    if !access.member.as_ref().is_some_and(|m| m.is_active()) {
        return Err(ApiError::forbidden("only channel members may react"));
    }
    if access.channel.frozen {
        return Err(ApiError::forbidden("the channel is frozen"));
    }
    if !access.channel.settings.reactions {
        return Err(ApiError::forbidden(
            "reactions are turned off in this channel",
        ));
    }
    if message.kind == MessageType::Deleted {
        return Err(ApiError::validation(
            "a deleted message cannot get reactions",
        ));
    }
    if crate::channels::active_ban(db, ctx, &access.channel.id, &user)
        .await?
        .is_some_and(|b| !b.shadow)
    {
        return Err(ApiError::forbidden("you are banned from this channel"));
    }
    let key = keys::reaction(&ctx.app.app_id, &message.id, &user, &input.kind);
    if let Some(existing) = db.get::<Reaction>(&key).await? {
        return Ok((message, existing, false));
    }
    let mine = db
        .count(
            &keys::reaction_partition(&ctx.app.app_id, &message.id),
            &keys::user_reactions_prefix(&user),
        )
        .await?;
    if mine >= MAX_TYPES_PER_USER {
        return Err(ApiError::validation(format!(
            "you have {MAX_TYPES_PER_USER} reaction types on this message already; remove one first"
        )));
    }
    let reaction = Reaction {
        app_id: ctx.app.app_id.clone(),
        channel_id: message.channel_id.clone(),
        message_id: message.id.clone(),
        sort_id: message.sort_id.clone(),
        user_id: user,
        kind: input.kind.clone(),
        score,
        created_at: crate::time::now_rfc3339(),
    };
    match store::commit_reaction(db, &reaction, &message.key(), MAX_TYPES_PER_MESSAGE).await {
        Ok(()) => {}
        Err(ReactionRefused::Exists) => {
            // A concurrent identical reaction won: same result.
            if let Some(existing) = db.get::<Reaction>(&key).await? {
                return Ok((message, existing, false));
            }
            return Err(ApiError::conflict(
                "the reaction changed while this request ran; retry",
            ));
        }
        Err(ReactionRefused::TooManyTypes) => {
            return Err(ApiError::validation(format!(
                "this message has {MAX_TYPES_PER_MESSAGE} reaction types already"
            )));
        }
        Err(ReactionRefused::Frozen) => return Err(ApiError::forbidden("the channel is frozen")),
        Err(ReactionRefused::Changed) => {
            return Err(ApiError::conflict(
                "the message changed while this request ran; retry",
            ))
        }
        Err(ReactionRefused::Db(err)) => return Err(err.into()),
    }
    let updated = db.get::<Message>(&message.key()).await?.unwrap_or(message);
    Ok((updated, reaction, true))
}

pub async fn remove(db: &Db, ctx: &Ctx, id: &MessageId, kind: &str) -> Result<Message, ApiError> {
    check_type(kind)?;
    let (access, message) = locate(db, ctx, id).await?;
    let user = ctx.require_user()?.clone();
    access.require_read()?;
    let key = keys::reaction(&ctx.app.app_id, &message.id, &user, kind);
    match store::commit_unreaction(db, &key, &message.key(), kind).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(ApiError::not_found(format!(
                "you have no {kind} reaction on this message"
            )))
        }
        Err(err) => return Err(err.into()),
    }
    drop_if_zero(db, &message, kind).await?;
    Ok(db.get::<Message>(&message.key()).await?.unwrap_or(message))
}

pub async fn list(
    db: &Db,
    ctx: &Ctx,
    id: &MessageId,
    page: &PageRequest,
) -> Result<Page<Reaction>, ApiError> {
    let (access, message) = locate(db, ctx, id).await?;
    access.require_read()?;
    let mut listed: Page<Reaction> = db
        .query(
            &keys::reaction_partition(&ctx.app.app_id, &message.id),
            keys::REACTION_PREFIX,
            page,
        )
        .await?;
    // Reactions of users the reader blocks are not shown, as on the socket.
    listed.items.retain(|r| !ctx.blocks(&r.user_id));
    Ok(listed)
}
