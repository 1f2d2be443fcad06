//! `GET /search`: case-insensitive substring search over the messages of one
//! channel or of all the caller's channels.
//!
//! DynamoDB has no text index, so this reads each channel's messages with a
//! `contains` filter on the lower-cased text: the cost is every message read
//! (1 RCU per 4 KB, eventually 8 KB), not the matches. A page stops after a
//! bounded number of reads and hands back a cursor. At scale, stream the
//! table (DynamoDB Streams) into a search engine (OpenSearch) and answer
//! this endpoint from it, keeping the same request and response.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{render, Message};
use crate::channels::{load, Channel, Ctx};
use crate::db::{Db, Entity, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::ChannelId;
use crate::keys;
use crate::storage::Storage;

/// DynamoDB query pages one search request may read.
pub const READ_BUDGET: usize = 10;
pub const MIN_QUERY: usize = 2;
pub const MAX_QUERY: usize = 200;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub query: Option<String>,
    pub channel_id: Option<ChannelId>,
    pub limit: Option<String>,
    pub next: Option<String>,
    pub user_id: Option<crate::ids::UserId>,
}

/// Where the previous page stopped: which channel, and inside it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    channel: usize,
    inner: Option<String>,
}

fn encode(cursor: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn decode(text: &str) -> Result<Cursor, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(|| ApiError::validation("invalid `next` cursor"))
}

pub async fn search(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    query: SearchQuery,
) -> Result<SearchResults, ApiError> {
    let needle = query
        .query
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_lowercase();
    let length = needle.chars().count();
    if !(MIN_QUERY..=MAX_QUERY).contains(&length) {
        return Err(ApiError::validation(format!(
            "query must be {MIN_QUERY} to {MAX_QUERY} characters"
        )));
    }
    let limit = match query.limit.as_deref() {
        None => 25,
        Some(text) => text.parse::<usize>().unwrap_or(0),
    };
    if limit == 0 || limit > 100 {
        return Err(ApiError::validation("limit must be between 1 and 100"));
    }
    let mut cursor = query
        .next
        .as_deref()
        .map(decode)
        .transpose()?
        .unwrap_or_default();

    // The channels searched, in a stable order: one, or all the actor's.
    let channels: Vec<Channel> = match &query.channel_id {
        Some(id) => {
            let access = load(db, ctx, id).await?;
            access.require_read()?;
            vec![access.channel]
        }
        None => my_readable_channels(db, ctx).await?,
    };

    let mut found: Vec<Message> = Vec::new();
    let mut reads = 0;
    while cursor.channel < channels.len() && found.len() < limit && reads < READ_BUDGET {
        let channel = &channels[cursor.channel];
        let partition = keys::channel_partition(&ctx.app.app_id, &channel.id);
        let floor = super::history_floor(channel);
        let replies_end = keys::upper(keys::REPLY_PREFIX);
        let result = db
            .run::<Message>(&Query {
                index: None,
                pk: &partition,
                // MSG# and REPLY# both sort between these.
                sk: SortCond::Between(&floor, &replies_end),
                page: PageRequest {
                    limit: 200,
                    cursor: cursor.inner.take(),
                    forward: true,
                },
                filter: Some(super::store::text_contains(&needle)),
            })
            .await?;
        reads += 1;
        found.extend(
            result
                .items
                .into_iter()
                .filter(|m| m.visible_to(ctx))
                // Replies sort after every MSG# key: the floor alone misses them.
                .filter(|m| !super::truncated_away(channel, &m.sort_id)),
        );
        if found.len() > limit {
            // Stop at the limit and resume right after the last one returned.
            found.truncate(limit);
            if let Some(last) = found.last() {
                cursor.inner = Some(Db::cursor_after(&last.key()));
            }
            break;
        }
        match result.next {
            Some(next) => cursor.inner = Some(next),
            None => cursor.channel += 1,
        }
    }
    let next = (cursor.channel < channels.len()).then(|| encode(&cursor));

    let mut rendered = Vec::with_capacity(found.len());
    for channel in &channels {
        let of_channel: Vec<Message> = found
            .iter()
            .filter(|m| m.channel_id == channel.id)
            .cloned()
            .collect();
        rendered.extend(render(db, storage, ctx, &channel.id, &of_channel).await?);
    }
    Ok(SearchResults {
        results: rendered,
        next,
    })
}

async fn my_readable_channels(db: &Db, ctx: &Ctx) -> Result<Vec<Channel>, ApiError> {
    let user = ctx.require_user()?.clone();
    // Not the channels the user is only invited to: accepting comes first.
    let mut channels: Vec<Channel> = crate::channels::my_memberships(db, &ctx.app.app_id, &user)
        .await?
        .into_iter()
        .filter(|(_, m)| m.invite.is_none())
        .map(|(c, _)| c)
        .collect();
    channels.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(channels)
}

/// Matching messages, oldest channel first; `next` resumes the search.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub results: Vec<super::MessageView>,
    pub next: Option<String>,
}
