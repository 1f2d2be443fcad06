//! Reading messages: channel history (newest last), one message, a thread's
//! replies and the channel's pinned messages.

use serde::{Deserialize, Serialize};

use super::{history_floor, locate, render, Message, MessageRef, MessageView, Pin};
use crate::channels::{Access, Ctx};
use crate::db::{Db, Entity, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId};
use crate::keys::{self, Key};
use crate::storage::Storage;

pub const MAX_HISTORY: usize = 100;
pub const DEFAULT_HISTORY: usize = 25;

#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    pub limit: Option<String>,
    pub before: Option<MessageId>,
    pub after: Option<MessageId>,
    pub around: Option<MessageId>,
}

fn top() -> String {
    keys::upper(keys::MESSAGE_PREFIX)
}

/// A message of this channel's history, as an anchor for before/after/around.
async fn anchor(
    db: &Db,
    ctx: &Ctx,
    channel: &ChannelId,
    id: &MessageId,
) -> Result<String, ApiError> {
    let reference: Option<MessageRef> = db.get(&keys::message_ref(&ctx.app.app_id, id)).await?;
    match reference {
        Some(r) if &r.channel_id == channel && r.in_channel => {
            Ok(keys::message(&ctx.app.app_id, channel, &r.sort_id).sk)
        }
        _ => Err(ApiError::validation(format!(
            "message {id} is not in this channel's history"
        ))),
    }
}

/// Up to `limit` messages of the channel between `lo` and `hi` (inclusive),
/// nearest to `hi` when `backward`, without `skip`.
async fn range(
    db: &Db,
    ctx: &Ctx,
    access: &Access,
    (lo, hi): (&str, &str),
    limit: usize,
    backward: bool,
    skip: Option<&str>,
) -> Result<Vec<Message>, ApiError> {
    let partition = keys::channel_partition(&ctx.app.app_id, &access.channel.id);
    let mut out: Vec<Message> = Vec::new();
    let mut page = PageRequest {
        limit: i32::try_from(limit + 1).unwrap_or(101),
        cursor: None,
        forward: !backward,
    };
    if lo > hi || limit == 0 {
        return Ok(out);
    }
    // Shadowed messages of others are filtered out, so a page may need more reads.
    loop {
        let result = db
            .run::<Message>(&Query {
                index: None,
                pk: &partition,
                sk: SortCond::Between(lo, hi),
                page: page.clone(),
                filter: None,
            })
            .await?;
        for m in result.items {
            if skip.is_some_and(|s| m.key().sk == s) {
                continue;
            }
            if m.visible_to(ctx) {
                out.push(m);
            }
            if out.len() == limit {
                break;
            }
        }
        match result.next {
            Some(next) if out.len() < limit => page.cursor = Some(next),
            _ => break,
        }
    }
    if backward {
        out.reverse();
    }
    Ok(out)
}

/// `GET /channels/{id}/messages`: oldest first within the page. With no
/// anchor, the latest `limit` messages; `before`/`after` page backwards and
/// forwards from a message; `around` centres on one.
pub async fn channel_history(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    access: &Access,
    query: HistoryQuery,
) -> Result<Messages, ApiError> {
    access.require_read()?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_HISTORY,
        Some(text) => text.parse::<usize>().unwrap_or(0),
    };
    if limit == 0 || limit > MAX_HISTORY {
        return Err(ApiError::validation(format!(
            "limit must be between 1 and {MAX_HISTORY}"
        )));
    }
    let anchors = [&query.before, &query.after, &query.around]
        .iter()
        .filter(|a| a.is_some())
        .count();
    if anchors > 1 {
        return Err(ApiError::validation(
            "use at most one of before, after, around",
        ));
    }
    let channel = &access.channel;
    let floor = history_floor(channel);
    let top = top();
    let messages = if let Some(before) = &query.before {
        let sk = anchor(db, ctx, &channel.id, before).await?;
        range(db, ctx, access, (&floor, &sk), limit, true, Some(&sk)).await?
    } else if let Some(after) = &query.after {
        let sk = anchor(db, ctx, &channel.id, after).await?;
        let lo = if sk > floor {
            sk.clone()
        } else {
            floor.clone()
        };
        range(db, ctx, access, (&lo, &top), limit, false, Some(&sk)).await?
    } else if let Some(around) = &query.around {
        let sk = anchor(db, ctx, &channel.id, around).await?;
        let older = (limit - 1) / 2;
        let mut page = range(db, ctx, access, (&floor, &sk), older + 1, true, None).await?;
        let newer = limit - page.len();
        let lo = if sk > floor {
            sk.clone()
        } else {
            floor.clone()
        };
        page.extend(range(db, ctx, access, (&lo, &top), newer, false, Some(&sk)).await?);
        page
    } else {
        range(db, ctx, access, (&floor, &top), limit, true, None).await?
    };
    let rendered = render(db, storage, ctx, &channel.id, &messages).await?;
    Ok(Messages { messages: rendered })
}

/// `GET /messages/{id}`.
pub async fn one(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    id: &MessageId,
) -> Result<MessageView, ApiError> {
    let (access, message) = locate(db, ctx, id).await?;
    access.require_read()?;
    let rendered = render(
        db,
        storage,
        ctx,
        &access.channel.id,
        std::slice::from_ref(&message),
    )
    .await?;
    rendered
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("a message rendered as nothing".into()))
}

/// `GET /messages/{id}/replies`: a thread, oldest first, paginated.
pub async fn replies(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    id: &MessageId,
    page: &PageRequest,
) -> Result<MessagePage, ApiError> {
    let (access, parent) = locate(db, ctx, id).await?;
    access.require_read()?;
    let partition = keys::thread(&ctx.app.app_id, &parent.id, &parent.sort_id).pk;
    let result = db
        .run::<Message>(&Query {
            index: Some(crate::db::table::GSI1),
            pk: &partition,
            sk: SortCond::Prefix(keys::MESSAGE_PREFIX),
            page: page.clone(),
            filter: None,
        })
        .await?;
    let visible: Vec<Message> = result
        .items
        .into_iter()
        .filter(|m| m.visible_to(ctx))
        .filter(|m| !super::truncated_away(&access.channel, &m.sort_id))
        .collect();
    let rendered = render(db, storage, ctx, &access.channel.id, &visible).await?;
    Ok(MessagePage {
        messages: rendered,
        next: result.next,
    })
}

/// `GET /channels/{id}/pinned`: pinned messages, oldest first, paginated.
pub async fn pinned(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    access: &Access,
    page: &PageRequest,
) -> Result<MessagePage, ApiError> {
    access.require_read()?;
    let channel = &access.channel;
    let result = db
        .query::<Pin>(
            &keys::channel_partition(&ctx.app.app_id, &channel.id),
            keys::PIN_PREFIX,
            page,
        )
        .await?;
    let message_keys: Vec<Key<_>> = result
        .items
        .iter()
        .map(|p| super::message_key(&ctx.app.app_id, &channel.id, &p.sort_id, p.in_channel))
        .collect();
    let mut messages: Vec<Message> = db.batch_get(&message_keys).await?;
    messages.retain(|m| m.visible_to(ctx) && !super::truncated_away(channel, &m.sort_id));
    messages.sort_by(|a, b| a.sort_id.cmp(&b.sort_id));
    let rendered = render(db, storage, ctx, &channel.id, &messages).await?;
    Ok(MessagePage {
        messages: rendered,
        next: result.next,
    })
}

/// A channel's history around an anchor (no cursor: anchors page it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Messages {
    pub messages: Vec<MessageView>,
}

/// A page of messages; `next` is the cursor of the following page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    pub next: Option<String>,
}
