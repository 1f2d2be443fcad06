//! What one user wrote in a channel, and their reactions there, a table
//! page at a time: the walks of erasing and exporting a user. A page of
//! messages reads `page.limit` items of the channel and keeps the user's,
//! so it may hold none and still have a `next`.

use super::{Message, Reaction};
use crate::db::{Db, Page, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::{AppId, ChannelId, UserId};
use crate::keys;

/// Their messages in the channel's history (`replies`: their thread replies
/// kept out of it).
pub async fn written(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    user: &UserId,
    replies: bool,
    page: PageRequest,
) -> Result<Page<Message>, ApiError> {
    let prefix = if replies {
        keys::REPLY_PREFIX
    } else {
        keys::MESSAGE_PREFIX
    };
    let partition = keys::channel_partition(app, channel);
    Ok(db
        .run(&Query {
            index: None,
            pk: &partition,
            sk: SortCond::Prefix(prefix),
            page,
            filter: Some(super::store::by_author(user)),
        })
        .await?)
}

/// Their reactions in the channel, in message order.
pub async fn reactions(
    db: &Db,
    app: &AppId,
    channel: &ChannelId,
    user: &UserId,
    page: PageRequest,
) -> Result<Page<Reaction>, ApiError> {
    let partition = keys::reactor_partition(app, channel, user);
    let (lo, hi) = keys::whole_range();
    Ok(db
        .run(&Query {
            index: Some(crate::db::table::GSI1),
            pk: &partition,
            sk: SortCond::Between(lo, &hi),
            page,
            filter: None,
        })
        .await?)
}
