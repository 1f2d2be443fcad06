//! Threads a user takes part in: its parent's author, everyone who replied
//! and everyone a reply mentioned. Each has a participation item in their
//! own partition (`THREAD#{parent}`: erased with them) holding their read
//! mark in the thread, made by the first reply or mention that concerns
//! them (a reply moves its author's mark to it). Unread replies are counted
//! from the thread's sort keys after the mark, with the rules of channel
//! unread counts (not one's own, not deleted, not a shadow-banned member's,
//! not by someone one blocks, not before the channel's truncation).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::store::UNREAD_CAP;
use super::{locate, Message, MessageView};
use crate::acting::Ctx;
use crate::channels::Channel;
use crate::db::store::threads::{follow, Thread};
use crate::db::{table, Cond, Db, DbError, Entity, PageRequest, Query, SortCond};
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::state::AppState;

/// A user's part in a thread.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Following {
    pub app_id: AppId,
    pub user_id: UserId,
    pub parent_id: MessageId,
    pub channel_id: ChannelId,
    pub parent_sort_id: MessageId,
    /// The thread sort key of the last reply read.
    #[serde(default)]
    pub read_up_to: Option<String>,
    #[serde(default)]
    pub last_read_reply_id: Option<MessageId>,
    #[serde(default)]
    pub last_read_at: Option<String>,
    pub since: String,
}

impl Entity for Following {
    const TYPE: &'static str = "thread_participant";
    type Item = keys::item::Following;
    fn key(&self) -> Key<Self::Item> {
        keys::following(&self.app_id, &self.user_id, &self.parent_id)
    }
}

impl Following {
    fn parent_key(&self) -> Key<keys::item::Message> {
        keys::message(&self.app_id, &self.channel_id, &self.parent_sort_id)
    }
}

/// A thread as a participant sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Thread)]
pub struct ThreadView {
    pub parent_id: MessageId,
    pub channel_id: ChannelId,
    pub parent: MessageView,
    pub reply_count: i64,
    pub last_reply_at: Option<String>,
    /// Replies after the caller's read mark (at most 100).
    pub unread_replies: usize,
    pub last_read_reply_id: Option<MessageId>,
    pub last_read_at: Option<String>,
}

/// One thread with unread replies, in `GET /unread`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadThread {
    pub parent_id: MessageId,
    pub channel_id: ChannelId,
    pub unread_replies: usize,
}

fn thread_partition(app: &AppId, parent: &MessageId) -> String {
    keys::thread(app, parent, parent).pk
}

/// After a reply is stored: its author takes part (read up to it), and,
/// unless it is shadowed, so do the parent's author and the mentioned. A
/// failure is logged: the reply stands.
pub async fn replied(db: &Db, reply: &Message, parent: &Message) {
    let thread = Thread {
        app: &reply.app_id,
        channel: &reply.channel_id,
        parent: &parent.id,
        parent_sort: &parent.sort_id,
    };
    let now = crate::time::now_rfc3339();
    let reply_key = keys::thread(&reply.app_id, &parent.id, &reply.sort_id).sk;
    let mut writes = vec![(
        &reply.user_id,
        follow(
            Following::TYPE,
            &thread,
            &reply.user_id,
            &now,
            Some((&reply_key, &reply.id)),
        ),
    )];
    if !reply.shadowed {
        let mut others: Vec<&UserId> = std::iter::once(&parent.user_id)
            .chain(reply.mentions.iter())
            .filter(|u| **u != reply.user_id)
            .collect();
        others.sort();
        others.dedup();
        writes.extend(
            others
                .into_iter()
                .map(|u| (u, follow(Following::TYPE, &thread, u, &now, None))),
        );
    }
    let done = futures::future::join_all(writes.iter().map(|(user, spec)| async move {
        let key = keys::following(&reply.app_id, user, &parent.id);
        match db.update(&key, spec, Cond::Always).await {
            Ok(()) | Err(DbError::ConditionFailed) => Ok(()),
            Err(err) => Err(err),
        }
    }))
    .await;
    for err in done.into_iter().filter_map(Result::err) {
        tracing::warn!(reply = %reply.id, error = %DisplayChain(&err), "a thread participation was not written");
    }
}

/// Unread replies of a thread for `user` (capped at 100).
async fn unread_replies(
    db: &Db,
    user: &UserId,
    hidden: &[UserId],
    following: &Following,
    channel: &Channel,
) -> Result<usize, ApiError> {
    let mark = following
        .read_up_to
        .clone()
        .unwrap_or_else(|| keys::MESSAGE_PREFIX.to_string());
    let floor = mark.max(super::history_floor(channel));
    let countable = super::store::unread_for(user, hidden, &[]);
    Ok(db
        .count_after_on(
            Some(table::GSI1),
            &thread_partition(&following.app_id, &following.parent_id),
            keys::MESSAGE_PREFIX,
            &floor,
            UNREAD_CAP,
            Some(&countable),
        )
        .await?)
}

/// The threads `user` takes part in, by channel (their replies count in
/// the thread, not in the channel).
pub async fn followed_by_channel(
    db: &Db,
    app: &AppId,
    user: &UserId,
) -> Result<HashMap<ChannelId, Vec<MessageId>>, ApiError> {
    let mut by_channel: HashMap<ChannelId, Vec<MessageId>> = HashMap::new();
    for f in followed(db, app, user).await? {
        by_channel
            .entry(f.channel_id)
            .or_default()
            .push(f.parent_id);
    }
    Ok(by_channel)
}

/// The user's participations.
async fn followed(db: &Db, app: &AppId, user: &UserId) -> Result<Vec<Following>, ApiError> {
    Ok(db
        .query_all(&keys::user_partition(app, user), keys::FOLLOW_PREFIX, 1000)
        .await?)
}

/// Participations with their parents, where the user can still read them.
async fn with_parents(
    db: &Db,
    ctx: &Ctx,
    all: Vec<Following>,
) -> Result<(Vec<(Following, Message)>, HashMap<ChannelId, Channel>), ApiError> {
    let wanted: Vec<(ChannelId, Key<_>)> = all
        .iter()
        .map(|f| (f.channel_id.clone(), f.parent_key()))
        .collect();
    let (parents, channels) = super::readable(db, ctx, &wanted).await?;
    let mut parents: HashMap<MessageId, Message> =
        parents.into_iter().map(|m| (m.id.clone(), m)).collect();
    let kept = all
        .into_iter()
        .filter_map(|f| parents.remove(&f.parent_id).map(|p| (f, p)))
        .collect();
    Ok((kept, channels))
}

/// Marks a thread read up to `reply` (by default its latest), making the
/// caller a participant if they were not.
pub async fn mark_read(
    state: &AppState,
    ctx: &Ctx,
    parent_id: &MessageId,
    reply: Option<&MessageId>,
) -> Result<ThreadView, ApiError> {
    let ctx = ctx.as_user()?;
    let user = ctx.require_user()?.clone();
    let db = &state.db;
    let (access, parent) = locate(db, &ctx, parent_id).await?;
    access.require_read()?;
    if parent.parent_id.is_some() {
        return Err(ApiError::validation(
            "a reply has no thread: mark its parent's",
        ));
    }
    let app = &ctx.app.app_id;
    let up_to = match reply {
        Some(id) => {
            let (_, reply) = locate(db, &ctx, id).await?;
            if reply.parent_id.as_ref() != Some(parent_id) {
                return Err(ApiError::validation(format!(
                    "message {id} is not a reply in this thread"
                )));
            }
            Some((keys::thread(app, parent_id, &reply.sort_id).sk, reply.id))
        }
        None => {
            let partition = thread_partition(app, parent_id);
            let latest = db
                .run::<Message>(&Query {
                    index: Some(table::GSI1),
                    pk: &partition,
                    sk: SortCond::Prefix(keys::MESSAGE_PREFIX),
                    page: PageRequest {
                        limit: 1,
                        cursor: None,
                        forward: false,
                    },
                    filter: None,
                })
                .await?;
            latest
                .items
                .into_iter()
                .next()
                .map(|r| (keys::thread(app, parent_id, &r.sort_id).sk, r.id))
        }
    };
    let thread = Thread {
        app,
        channel: &parent.channel_id,
        parent: &parent.id,
        parent_sort: &parent.sort_id,
    };
    let now = crate::time::now_rfc3339();
    let read = up_to.as_ref().map(|(sk, id)| (sk.as_str(), id));
    let spec = follow(Following::TYPE, &thread, &user, &now, read);
    match db
        .update(&keys::following(app, &user, parent_id), &spec, Cond::Always)
        .await
    {
        // Already read further: the mark never moves back.
        Ok(()) | Err(DbError::ConditionFailed) => {}
        Err(other) => return Err(other.into()),
    }
    let following: Following = db
        .get(&keys::following(app, &user, parent_id))
        .await?
        .ok_or_else(|| ApiError::Internal("a participation just written is missing".into()))?;
    let mut views = view(
        state,
        &ctx,
        vec![(following, parent)],
        &HashMap::from([(access.channel.id.clone(), access.channel.clone())]),
    )
    .await?;
    views
        .pop()
        .ok_or_else(|| ApiError::Internal("a thread rendered as nothing".into()))
}

/// Views of threads, with their unread counts and parents rendered.
async fn view(
    state: &AppState,
    ctx: &Ctx,
    threads: Vec<(Following, Message)>,
    channels: &HashMap<ChannelId, Channel>,
) -> Result<Vec<ThreadView>, ApiError> {
    let user = ctx.require_user()?;
    let hidden = ctx.blocked();
    let hidden = &hidden;
    let counts = futures::future::try_join_all(threads.iter().map(|(f, _)| async move {
        match channels.get(&f.channel_id) {
            Some(channel) => unread_replies(&state.db, user, hidden, f, channel).await,
            None => Ok(0),
        }
    }))
    .await?;
    let parents: Vec<Message> = threads.iter().map(|(_, p)| p.clone()).collect();
    let mut rendered = super::render_each(&state.db, &state.storage, ctx, &parents).await?;
    Ok(threads
        .into_iter()
        .zip(counts)
        .filter_map(|((f, p), unread_replies)| {
            Some(ThreadView {
                parent: rendered.remove(&p.id)?,
                parent_id: f.parent_id,
                channel_id: f.channel_id,
                reply_count: p.shown_replies(),
                last_reply_at: p.last_reply_at,
                unread_replies,
                last_read_reply_id: f.last_read_reply_id,
                last_read_at: f.last_read_at,
            })
        })
        .collect())
}

/// A thread's place in `GET /threads` (URL-safe: it is the cursor): latest
/// activity first.
fn order_key(parent: &Message) -> String {
    let active = parent
        .last_reply_at
        .as_deref()
        .unwrap_or(&parent.created_at);
    let ms = chrono::DateTime::parse_from_rfc3339(active)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    format!("{:015}.{}", i64::MAX / 1000 - ms, parent.id)
}

/// `GET /threads`: the caller's threads they can still read, latest
/// activity first, `limit` a page after the cursor `after`.
pub async fn list(
    state: &AppState,
    ctx: &Ctx,
    limit: usize,
    after: Option<&str>,
) -> Result<(Vec<ThreadView>, Option<String>), ApiError> {
    let ctx = ctx.as_user()?;
    let user = ctx.require_user()?;
    let all = followed(&state.db, &ctx.app.app_id, user).await?;
    let (mut threads, channels) = with_parents(&state.db, &ctx, all).await?;
    threads.retain(|(_, p)| after.is_none_or(|after| order_key(p).as_str() > after));
    threads.sort_by_key(|(_, p)| order_key(p));
    let more = threads.len() > limit;
    threads.truncate(limit);
    let next = more
        .then(|| threads.last().map(|(_, p)| order_key(p)))
        .flatten();
    Ok((view(state, &ctx, threads, &channels).await?, next))
}

/// Where a user stands in their threads: which they take part in, by
/// channel (those replies count in the thread, not in the channel), and
/// which have unread replies (only threads with a reply since their last
/// read are counted).
pub struct Standing {
    pub followed: HashMap<ChannelId, Vec<MessageId>>,
    pub unread: Vec<UnreadThread>,
}

impl Standing {
    /// The threads followed in `channel`.
    pub fn followed_in(&self, channel: &ChannelId) -> &[MessageId] {
        self.followed
            .get(channel)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// How many threads of `channel` have unread replies.
    pub fn unread_in(&self, channel: &ChannelId) -> usize {
        self.unread
            .iter()
            .filter(|t| &t.channel_id == channel)
            .count()
    }
}

/// The caller's [`Standing`]: one query of their participations, and for
/// threads with any, one batch read of the parents and a count per thread
/// with new replies.
pub async fn standing(db: &Db, ctx: &Ctx) -> Result<Standing, ApiError> {
    let ctx = &ctx.as_user()?;
    let user = ctx.require_user()?;
    let all = followed(db, &ctx.app.app_id, user).await?;
    let mut by_channel: HashMap<ChannelId, Vec<MessageId>> = HashMap::new();
    for f in &all {
        by_channel
            .entry(f.channel_id.clone())
            .or_default()
            .push(f.parent_id.clone());
    }
    if all.is_empty() {
        return Ok(Standing {
            followed: by_channel,
            unread: Vec::new(),
        });
    }
    let (threads, channels) = with_parents(db, ctx, all).await?;
    let hidden = ctx.blocked();
    let hidden = &hidden;
    let active = threads
        .into_iter()
        .filter(|(f, p)| match (&p.last_reply_at, &f.last_read_at) {
            (None, _) => false,
            (Some(reply), Some(read)) => reply >= read,
            (Some(_), None) => true,
        });
    let counted = futures::future::try_join_all(active.map(|(f, _)| {
        let channels = &channels;
        async move {
            let n = match channels.get(&f.channel_id) {
                Some(channel) => unread_replies(db, user, hidden, &f, channel).await?,
                None => 0,
            };
            Ok::<_, ApiError>(UnreadThread {
                parent_id: f.parent_id,
                channel_id: f.channel_id,
                unread_replies: n,
            })
        }
    }))
    .await?;
    Ok(Standing {
        followed: by_channel,
        unread: counted
            .into_iter()
            .filter(|t| t.unread_replies > 0)
            .collect(),
    })
}
