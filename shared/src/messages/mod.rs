//! Messages: send, history, threads, edit and delete, pins, reactions, read
//! state, drafts and search.

pub mod authored;
pub mod delivered;
pub mod drafts;
pub mod edit;
pub mod history;
pub mod hook;
mod model;
pub mod polls;
pub mod previews;
pub mod reactions;
pub mod read;
pub mod reminders;
pub mod scheduled;
pub mod search;
pub mod send;
pub mod store;
pub mod threads;

pub use model::*;

use std::collections::{BTreeSet, HashMap};

use crate::channels::{self, Access, Ctx};
use crate::db::{Db, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::{ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::storage::Storage;

/// Finds a message of the caller's app by its id, with the actor's access
/// to its channel. Another app's id, a deleted channel, a hard-deleted or an
/// invisible (shadowed) message, and one from before the channel's
/// truncation are all simply not found: every read and write by id starts
/// here.
pub async fn locate(db: &Db, ctx: &Ctx, id: &MessageId) -> Result<(Access, Message), ApiError> {
    let not_found = || ApiError::not_found(format!("message {id} not found"));
    let reference: MessageRef = db
        .get(&keys::message_ref(&ctx.app.app_id, id))
        .await?
        .ok_or_else(not_found)?;
    let access = channels::load(db, ctx, &reference.channel_id)
        .await
        .map_err(|_| not_found())?;
    let message: Message = db
        .get(&reference.message_key())
        .await?
        .ok_or_else(not_found)?;
    if !message.visible_to(ctx) || truncated_away(&access.channel, &message.sort_id) {
        return Err(not_found());
    }
    Ok((access, message))
}

/// The messages at `wanted` (each with its channel) that the actor can read
/// now: in a channel they may read, visible to them, not deleted, not
/// truncated away; with the channels read (one batch read in all, with the
/// actor's member items).
pub async fn readable(
    db: &Db,
    ctx: &Ctx,
    wanted: &[(ChannelId, Key<keys::item::Message>)],
) -> Result<(Vec<Message>, HashMap<ChannelId, channels::Channel>), ApiError> {
    let app = &ctx.app.app_id;
    let mut keys: Vec<Key> = wanted.iter().map(|(_, key)| key.any()).collect();
    let mut channel_ids: Vec<&ChannelId> = wanted.iter().map(|(c, _)| c).collect();
    channel_ids.sort();
    channel_ids.dedup();
    for channel in &channel_ids {
        keys.push(keys::channel(app, channel).any());
        if let Some(user) = &ctx.user {
            keys.push(keys::member(app, channel, user).any());
        }
    }
    if keys.is_empty() {
        return Ok((Vec::new(), HashMap::new()));
    }
    let mut items = db.batch_get_items(&keys).await?;
    let channels: HashMap<ChannelId, channels::Channel> = items
        .of::<channels::Channel>()?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let members: HashMap<ChannelId, channels::Member> = items
        .of::<channels::Member>()?
        .into_iter()
        .map(|m| (m.channel_id.clone(), m))
        .collect();
    let messages = items
        .of::<Message>()?
        .into_iter()
        .filter(|m| {
            let channel = channels.get(&m.channel_id).cloned();
            let member = members.get(&m.channel_id).cloned();
            channels::access(ctx, &m.channel_id, channel, member).is_ok_and(|access| {
                access.may_read()
                    && m.deleted_at.is_none()
                    && m.visible_to(ctx)
                    && !truncated_away(&access.channel, &m.sort_id)
            })
        })
        .collect();
    Ok((messages, channels))
}

/// Renders messages of any channels (each channel's in one [`render`]), by
/// id.
pub async fn render_each(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    messages: &[Message],
) -> Result<HashMap<MessageId, MessageView>, ApiError> {
    let mut by_channel: HashMap<&ChannelId, Vec<Message>> = HashMap::new();
    for message in messages {
        by_channel
            .entry(&message.channel_id)
            .or_default()
            .push(message.clone());
    }
    let rendered = futures::future::try_join_all(by_channel.into_iter().map(
        |(channel, messages)| async move { render(db, storage, ctx, channel, &messages).await },
    ))
    .await?;
    Ok(rendered
        .into_iter()
        .flatten()
        .map(|view| (view.id.clone(), view))
        .collect())
}

/// Messages by id (any channels of the app); unknown ids are left out.
pub async fn by_ids(db: &Db, ctx: &Ctx, ids: &[MessageId]) -> Result<Vec<Message>, ApiError> {
    let ref_keys: Vec<Key<_>> = ids
        .iter()
        .map(|id| keys::message_ref(&ctx.app.app_id, id))
        .collect();
    let refs: Vec<MessageRef> = db.batch_get(&ref_keys).await?;
    let keys: Vec<Key<_>> = refs.iter().map(MessageRef::message_key).collect();
    Ok(db.batch_get(&keys).await?)
}

/// Renders messages of one channel for the actor: authors (one batch read),
/// quoted summaries (two batch reads), the actor's own reactions (one GSI
/// query over the page's range), and a fresh link for each attachment
/// stored in the bucket (presigning is local: no request).
pub async fn render(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    channel: &ChannelId,
    messages: &[Message],
) -> Result<Vec<MessageView>, ApiError> {
    render_knowing(db, storage, ctx, channel, messages, ctx.me.as_deref()).await
}

/// [`render`], with a user item already read (the acting user's, the
/// author's of an event): not read again.
pub async fn render_knowing(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    channel: &ChannelId,
    messages: &[Message],
    known: Option<&crate::users::User>,
) -> Result<Vec<MessageView>, ApiError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let quoted_ids: Vec<MessageId> = messages
        .iter()
        .filter_map(|m| m.quoted_message_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let quoted: HashMap<MessageId, Message> = if quoted_ids.is_empty() {
        HashMap::new()
    } else {
        let found = by_ids(db, ctx, &quoted_ids).await?;
        // A quote never brings back text from before its channel's truncation.
        let channel_keys: Vec<Key<_>> = found
            .iter()
            .map(|m| &m.channel_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|c| keys::channel(&ctx.app.app_id, c))
            .collect();
        let channels: Vec<channels::Channel> = db.batch_get(&channel_keys).await?;
        found
            .into_iter()
            .filter(|m| m.visible_to(ctx))
            .filter(|m| {
                channels
                    .iter()
                    .find(|c| c.id == m.channel_id)
                    .is_some_and(|c| !truncated_away(c, &m.sort_id))
            })
            .map(|m| (m.id.clone(), m))
            .collect()
    };
    // Authors of the messages and of what they quote: one batch read.
    let author_ids: Vec<UserId> = messages
        .iter()
        .chain(quoted.values())
        .map(|m| m.user_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // An item already read (the actor's, by authentication): not again.
    let mut authors: Authors = Authors::new();
    if let Some(known) = known.filter(|user| author_ids.contains(&user.id)) {
        authors.insert(known.id.clone(), known.clone());
    }
    let missing: Vec<UserId> = author_ids
        .into_iter()
        .filter(|id| !authors.contains_key(id))
        .collect();
    if !missing.is_empty() {
        authors.extend(
            crate::users::get_users(db, &ctx.app.app_id, &missing)
                .await?
                .into_iter()
                .map(|u| (u.id.clone(), u)),
        );
    }
    let own = own_reactions(db, ctx, channel, messages).await?;
    let mut views = Vec::with_capacity(messages.len());
    for m in messages {
        let mine = own.get(&m.sort_id).map(Vec::as_slice).unwrap_or_default();
        let quote = m
            .quoted_message_id
            .as_ref()
            .and_then(|q| quoted.get(q))
            .map(|q| (q, authors.get(&q.user_id)));
        let mut view = m.view(authors.get(&m.user_id), quote, mine);
        link_attachments(storage, &mut view.attachments).await?;
        view.reply_count += hidden_replies(db, ctx, m).await?;
        views.push(view);
    }
    Ok(views)
}

/// Every reply of a thread (through `filter`, if any), oldest first.
pub async fn thread_replies(
    db: &Db,
    app: &crate::ids::AppId,
    parent: &Message,
    filter: Option<crate::db::Filter>,
) -> Result<Vec<Message>, ApiError> {
    let partition = keys::thread(app, &parent.id, &parent.sort_id).pk;
    Ok(db
        .run_all(Query {
            index: Some(crate::db::table::GSI1),
            pk: &partition,
            sk: SortCond::Prefix(keys::MESSAGE_PREFIX),
            page: PageRequest {
                limit: 1000,
                cursor: None,
                forward: true,
            },
            filter,
        })
        .await?)
}

/// How this reader's count of a thread's replies differs from the count
/// every reader sees: their own shadowed replies are in it, replies by
/// users they block are not, as in the thread they read. A query of the
/// thread, only when the reader blocks someone who may have replied or the
/// thread holds shadowed replies; other reads cost nothing more.
async fn hidden_replies(db: &Db, ctx: &Ctx, parent: &Message) -> Result<i64, ApiError> {
    let Some(me) = ctx.user.as_ref() else {
        return Ok(0);
    };
    let mut authors = ctx.blocked();
    let shown = parent.shown_replies();
    let may_hide = shown > 0 && !authors.is_empty();
    if parent.parent_id.is_some() || !(may_hide || parent.shadowed_replies > 0) {
        return Ok(0);
    }
    authors.push(me.clone());
    let replies = thread_replies(
        db,
        &ctx.app.app_id,
        parent,
        Some(store::by_any_of(&authors)),
    )
    .await?;
    let delta: i64 = replies
        .iter()
        .map(|reply| match (&reply.user_id == me, reply.shadowed) {
            (true, true) => 1,
            (false, false) => -1,
            _ => 0,
        })
        .sum();
    Ok(delta.max(-shown))
}

/// Points each stored attachment's `url` at a link that works now: a
/// presigned GET made for this read (or the public base). Messages keep the
/// object key, never a signed URL that expires.
async fn link_attachments(
    storage: &Storage,
    attachments: &mut [Attachment],
) -> Result<(), ApiError> {
    for attachment in attachments {
        if let Some(key) = &attachment.key {
            let name = attachment
                .file_name
                .as_deref()
                .unwrap_or_else(|| key.rsplit('/').next().unwrap_or("file"));
            let mime = attachment
                .mime_type
                .as_deref()
                .unwrap_or("application/octet-stream");
            attachment.url = storage.link(key, name, mime).await?;
        }
    }
    Ok(())
}

async fn own_reactions(
    db: &Db,
    ctx: &Ctx,
    channel: &ChannelId,
    messages: &[Message],
) -> Result<HashMap<MessageId, Vec<String>>, ApiError> {
    let mut own: HashMap<MessageId, Vec<String>> = HashMap::new();
    let Some(user) = &ctx.user else {
        return Ok(own);
    };
    // Without any reaction on the page, the actor has none either.
    if messages.iter().all(|m| m.live_reaction_counts().is_empty()) {
        return Ok(own);
    }
    let (Some(lo), Some(hi)) = (
        messages.iter().map(|m| m.sort_id.as_str()).min(),
        messages.iter().map(|m| m.sort_id.as_str()).max(),
    ) else {
        return Ok(own);
    };
    let partition = keys::reactor_partition(&ctx.app.app_id, channel, user);
    let hi = keys::reactor_upper(hi);
    let reactions: Vec<Reaction> = db
        .run_all(Query {
            index: Some(crate::db::table::GSI1),
            pk: &partition,
            sk: SortCond::Between(lo, &hi),
            page: PageRequest {
                limit: 1000,
                cursor: None,
                forward: true,
            },
            filter: None,
        })
        .await?;
    for reaction in reactions {
        own.entry(reaction.sort_id).or_default().push(reaction.kind);
    }
    Ok(own)
}

/// Whether a message (by its sort id) is behind the channel's truncation:
/// gone for every read and write.
pub fn truncated_away(channel: &channels::Channel, sort_id: &MessageId) -> bool {
    channel
        .truncated_at_ms
        .is_some_and(|ms| sort_id.as_str() < MessageId::lower_bound_at(ms).as_str())
}

/// The sort-key floor of a channel's visible history (its truncation).
pub fn history_floor(channel: &channels::Channel) -> String {
    match channel.truncated_at_ms {
        Some(ms) => format!("{}{}", keys::MESSAGE_PREFIX, MessageId::lower_bound_at(ms)),
        None => keys::MESSAGE_PREFIX.to_string(),
    }
}
