//! Turning changes into events: called after a change succeeds, over REST or
//! the socket alike. Failures are logged inside the notifier; these never
//! return errors to the request.

use super::audience::{self, Audience, Plan};
use super::changes;
use super::events::payload;
use super::events::{
    DeletedMessage, Event, EventBody, RemovedMember, RemovedMessage, RemovedReaction, UserRef,
};
use super::fanout;
use super::notifier::Delivery;
use crate::channels::{Channel, Ctx, Member};
use crate::error::DisplayChain;
use crate::ids::{ChannelId, UserId};
use crate::messages::polls::{Poll, Vote};
use crate::messages::{self, Message, MessageView, ReactionView};
use crate::state::AppState;
use crate::webhooks;

/// Where a channel event goes, worked out now: to connections the caller
/// posts to, or to the fan-out function (a crowd); nowhere when delivery is
/// off or the look-up failed (logged: nothing here fails the request that
/// caused the event).
enum Route {
    Inline(Vec<(UserId, crate::ids::ConnectionId)>),
    Deferred(Audience),
}

impl Route {
    fn is_empty(&self) -> bool {
        matches!(self, Route::Inline(targets) if targets.is_empty())
    }
}

async fn route(
    state: &AppState,
    app: &crate::ids::AppId,
    channel: &ChannelId,
    audience: Audience,
) -> Route {
    if !state.notifier.enabled() {
        return Route::Inline(Vec::new());
    }
    let limit = state.config.fanout_inline_limit;
    match audience::plan(&state.db, app, channel, &audience, limit).await {
        Ok(Plan::Inline(targets)) => Route::Inline(targets),
        Ok(Plan::Crowd) => Route::Deferred(audience),
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), %channel, "fan-out look-up failed");
            Route::Inline(Vec::new())
        }
    }
}

/// Sends the event the way its route says.
async fn send(
    state: &AppState,
    app: &crate::ids::AppId,
    channel: &ChannelId,
    route: Route,
    event: &Event,
) -> Delivery {
    match route {
        Route::Inline(targets) if targets.is_empty() => Delivery::default(),
        Route::Inline(targets) => state.notifier.to_targets(app, targets, event).await,
        Route::Deferred(audience) => {
            let bytes = payload(event);
            if let Err(err) = fanout::defer(state, app, channel, &event.id, &bytes, audience).await
            {
                tracing::warn!(error = %DisplayChain(&err), %channel, event_id = %event.id, "could not hand an event to the fan-out function");
            }
            Delivery::default()
        }
    }
}

/// Sends a channel event to its audience, and to the app's webhook.
async fn to_channel(
    state: &AppState,
    ctx: &Ctx,
    channel: &ChannelId,
    event: &Event,
    audience: Audience,
) -> Delivery {
    webhooks::enqueue(state, &ctx.app, event).await;
    deliver(state, &ctx.app.app_id, channel, event, audience).await
}

/// Events are rendered for no one in particular (no own reactions).
fn neutral(ctx: &Ctx) -> Ctx {
    Ctx::server(ctx.app.clone())
}

async fn view(state: &AppState, ctx: &Ctx, message: &Message) -> MessageView {
    // The acting user's item, read by authentication, gives their profile
    // when they wrote the message.
    match messages::render_knowing(
        &state.db,
        &state.storage,
        &neutral(ctx),
        &message.channel_id,
        std::slice::from_ref(message),
        ctx.me.as_deref(),
    )
    .await
    {
        Ok(mut views) if !views.is_empty() => views.remove(0),
        Ok(_) => message.view(None, None, &[]),
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), "could not render a message for its event");
            message.view(None, None, &[])
        }
    }
}

/// A shadow-banned member's message and its changes reach them only; any
/// other, its readers but those who block its author.
fn audience_of(message: &Message) -> Audience {
    if message.shadowed {
        Audience::Only(message.user_id.clone())
    } else {
        Audience::AuthoredBy(message.user_id.clone())
    }
}

/// Sends an event about a message to whoever may see that message.
async fn about_message(state: &AppState, ctx: &Ctx, message: &Message, event: &Event) -> Delivery {
    to_channel(state, ctx, &message.channel_id, event, audience_of(message)).await
}

/// What happened to a message.
#[derive(Clone, Copy, Debug)]
pub enum MessageChange {
    New,
    /// Edited, pinned or unpinned.
    Updated,
    /// Soft-deleted: it reads as a tombstone now.
    Deleted,
}

/// `message.new` / `message.updated` / `message.deleted` (soft).
pub async fn message(
    state: &AppState,
    ctx: &Ctx,
    change: MessageChange,
    message: &Message,
) -> Delivery {
    let app = &ctx.app.app_id;
    let channel = &message.channel_id;
    let audience = audience_of(message);
    let route = route(state, app, channel, audience.clone()).await;
    // Nobody to tell (often: nobody online, no webhook) and nothing to log
    // for catch-up (a new message is in the history): no rendering either.
    let logged = !matches!(change, MessageChange::New);
    if route.is_empty() && ctx.app.settings.webhook_url.is_none() && !logged {
        return Delivery::default();
    }
    let shown = view(state, ctx, message).await;
    // A quote of another author's message: readers who block that author
    // get the message without it, as their reads show it.
    let quoted = match (&audience, &shown.quoted_message) {
        (Audience::AuthoredBy(author), Some(quote)) if quote.user_id != *author => {
            Some((author.clone(), quote.user_id.clone()))
        }
        _ => None,
    };
    let mut bare = None;
    if quoted.is_some() {
        let mut unquoted = shown.clone();
        unquoted.quoted_message = None;
        bare = Some(Event::channel(channel, message_body(change, unquoted)));
    }
    let event = Event::channel(channel, message_body(change, shown));
    webhooks::enqueue(state, &ctx.app, &event).await;
    let Some(((author, quoted), bare)) = quoted.zip(bare) else {
        // New messages are replayed from the history, the rest from the log.
        let logged = changes::record(state, app, channel, &event, &audience);
        return futures::join!(logged, send(state, app, channel, route, &event)).1;
    };
    let whole = Audience::AuthoredWith(author.clone(), quoted.clone());
    let (mut delivered, unquoted) = futures::join!(
        deliver(state, app, channel, &event, whole),
        deliver(
            state,
            app,
            channel,
            &bare,
            Audience::BlockersOf(author, quoted)
        ),
    );
    delivered.add(unquoted);
    delivered
}

fn message_body(change: MessageChange, shown: MessageView) -> EventBody {
    match change {
        MessageChange::New => EventBody::MessageNew { message: shown },
        MessageChange::Updated => EventBody::MessageUpdated { message: shown },
        MessageChange::Deleted => EventBody::MessageDeleted {
            message: DeletedMessage::Soft(Box::new(shown)),
            hard: false,
        },
    }
}

/// Logs a channel event for catch-up and sends it to its audience (no
/// webhook: the caller sent that once).
async fn deliver(
    state: &AppState,
    app: &crate::ids::AppId,
    channel: &ChannelId,
    event: &Event,
    audience: Audience,
) -> Delivery {
    let logged = changes::record(state, app, channel, event, &audience);
    let delivered = async {
        let route = route(state, app, channel, audience.clone()).await;
        send(state, app, channel, route, event).await
    };
    futures::join!(logged, delivered).1
}

/// `message.deleted` for a hard delete: the message no longer exists.
pub async fn message_removed(state: &AppState, ctx: &Ctx, message: &Message) -> Delivery {
    let event = Event::channel(
        &message.channel_id,
        EventBody::MessageDeleted {
            message: DeletedMessage::Hard(RemovedMessage {
                id: message.id.clone(),
                parent_id: message.parent_id.clone(),
            }),
            hard: true,
        },
    );
    about_message(state, ctx, message, &event).await
}

/// What happened to a reaction.
#[derive(Clone, Debug)]
pub enum ReactionChange {
    Added(ReactionView),
    Removed { user: UserId, kind: String },
}

/// `reaction.new` / `reaction.deleted`, with the message's new counts.
pub async fn reaction(
    state: &AppState,
    ctx: &Ctx,
    change: ReactionChange,
    message: &Message,
) -> Delivery {
    let message_id = message.id.clone();
    let reactor = match &change {
        ReactionChange::Added(reaction) => reaction.user_id.clone(),
        ReactionChange::Removed { user, .. } => user.clone(),
    };
    let reaction_counts = message
        .live_reaction_counts()
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    let body = match change {
        ReactionChange::Added(reaction) => EventBody::ReactionNew {
            message_id,
            reaction,
            reaction_counts,
        },
        ReactionChange::Removed { user, kind } => EventBody::ReactionDeleted {
            reaction: RemovedReaction {
                message_id: message_id.clone(),
                user_id: user,
                kind,
            },
            message_id,
            reaction_counts,
        },
    };
    let event = Event::channel(&message.channel_id, body);
    // Those who block the reactor do not see the reaction either.
    let audience = match audience_of(message) {
        Audience::AuthoredBy(author) if author != reactor => {
            Audience::AuthoredWith(author, reactor)
        }
        other => other,
    };
    to_channel(state, ctx, &message.channel_id, &event, audience).await
}

/// What happened to a poll; a vote with its voter.
#[derive(Clone, Debug)]
pub enum PollChange<'a> {
    VoteCast(&'a Vote),
    VoteRemoved(&'a Vote),
    Updated,
    Closed,
}

/// `poll.*`: to whoever reads the poll's message; a public poll's vote, not
/// to those who block the voter. An anonymous poll's events name no voter.
pub async fn poll(state: &AppState, ctx: &Ctx, change: PollChange<'_>, poll: &Poll) -> Delivery {
    let Some(placed) = &poll.message else {
        return Delivery::default();
    };
    let anonymous = poll.anonymous();
    let shown = |vote: &Vote| (!anonymous).then(|| vote.view(false));
    let (body, voter) = match change {
        PollChange::VoteCast(vote) => (
            EventBody::PollVoteCast {
                poll: poll.view(),
                vote: shown(vote),
            },
            Some(&vote.user_id),
        ),
        PollChange::VoteRemoved(vote) => (
            EventBody::PollVoteRemoved {
                poll: poll.view(),
                vote: shown(vote),
            },
            Some(&vote.user_id),
        ),
        PollChange::Updated => (EventBody::PollUpdated { poll: poll.view() }, None),
        PollChange::Closed => (EventBody::PollClosed { poll: poll.view() }, None),
    };
    let author = placed.author.clone();
    let audience = match voter {
        _ if placed.shadowed => Audience::Only(author),
        Some(voter) if !anonymous && *voter != author => {
            Audience::AuthoredWith(author, voter.clone())
        }
        _ => Audience::AuthoredBy(author),
    };
    let event = Event::channel(&placed.channel_id, body);
    to_channel(state, ctx, &placed.channel_id, &event, audience).await
}

/// Typing, reads and deliveries: to the app's webhook, and to the channel's
/// online members (not to watchers who are not members); in a big channel
/// (the app's `big_channel_size`) to no socket at all.
async fn chatter(
    state: &AppState,
    ctx: &Ctx,
    channel: &ChannelId,
    big: bool,
    event: &Event,
    except: Option<&UserId>,
) -> Delivery {
    webhooks::enqueue(state, &ctx.app, event).await;
    if big {
        return Delivery::default();
    }
    let audience = Audience::Participants(except.cloned());
    deliver(state, &ctx.app.app_id, channel, event, audience).await
}

/// `message.read`: a member read up to a message.
pub async fn read(
    state: &AppState,
    ctx: &Ctx,
    (channel, big): (&ChannelId, bool),
    user: &UserId,
    last_read: Option<&crate::ids::MessageId>,
) -> Delivery {
    let event = Event::channel(
        channel,
        EventBody::MessageRead {
            user: UserRef { id: user.clone() },
            last_read_message_id: last_read.cloned(),
        },
    );
    chatter(state, ctx, channel, big, &event, None).await
}

/// `message.delivered`: a member's devices received up to a message.
pub async fn delivered(
    state: &AppState,
    ctx: &Ctx,
    (channel, big): (&ChannelId, bool),
    user: &UserId,
    last_delivered: Option<&crate::ids::MessageId>,
) -> Delivery {
    let event = Event::channel(
        channel,
        EventBody::MessageDelivered {
            user: UserRef { id: user.clone() },
            last_delivered_message_id: last_delivered.cloned(),
        },
    );
    chatter(state, ctx, channel, big, &event, None).await
}

/// `member.added` (`added`) / `member.updated` for each member.
pub async fn members(
    state: &AppState,
    ctx: &Ctx,
    added: bool,
    channel: &ChannelId,
    members: &[Member],
) {
    let refs: Vec<&Member> = members.iter().collect();
    let views = match crate::channels::with_profiles(&state.db, &ctx.app.app_id, &refs).await {
        Ok(views) => views,
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), "could not read members' profiles for their event");
            members.iter().map(|m| m.view_with(None)).collect()
        }
    };
    for member in views {
        let body = if added {
            EventBody::MemberAdded { member }
        } else {
            EventBody::MemberUpdated { member }
        };
        let event = Event::channel(channel, body);
        to_channel(state, ctx, channel, &event, Audience::Readers).await;
    }
}

/// `member.removed`: to the remaining members and to the removed user.
pub async fn member_removed(state: &AppState, ctx: &Ctx, channel: &ChannelId, user: &UserId) {
    let event = Event::channel(
        channel,
        EventBody::MemberRemoved {
            member: RemovedMember {
                user_id: user.clone(),
            },
        },
    );
    to_channel(state, ctx, channel, &event, Audience::Readers).await;
    state
        .notifier
        .to_users(&ctx.app.app_id, std::slice::from_ref(user), &event)
        .await;
}

/// `notification.added_to_channel`: to users just added (not the one adding).
pub async fn added_to_channel(state: &AppState, ctx: &Ctx, channel: &Channel, users: &[UserId]) {
    let users: Vec<UserId> = users
        .iter()
        .filter(|u| ctx.user.as_ref() != Some(u))
        .cloned()
        .collect();
    let event = Event::channel(
        &channel.id,
        EventBody::AddedToChannel {
            channel: channel.view(),
        },
    );
    state
        .notifier
        .to_users(&ctx.app.app_id, &users, &event)
        .await;
}

/// What happened to a channel.
#[derive(Clone, Copy, Debug)]
pub enum ChannelChange {
    Updated,
    Frozen,
    Unfrozen,
    Truncated,
}

/// `channel.updated` / `channel.frozen` / `channel.unfrozen` / `channel.truncated`.
pub async fn channel(
    state: &AppState,
    ctx: &Ctx,
    change: ChannelChange,
    channel: &Channel,
) -> Delivery {
    let view = channel.view();
    let body = match change {
        ChannelChange::Updated => EventBody::ChannelUpdated { channel: view },
        ChannelChange::Frozen => EventBody::ChannelFrozen { channel: view },
        ChannelChange::Unfrozen => EventBody::ChannelUnfrozen { channel: view },
        ChannelChange::Truncated => EventBody::ChannelTruncated { channel: view },
    };
    let event = Event::channel(&channel.id, body);
    to_channel(state, ctx, &channel.id, &event, Audience::Members).await
}

/// `channel.deleted`: to the users who were members.
pub async fn channel_deleted(state: &AppState, ctx: &Ctx, channel: &ChannelId, former: &[UserId]) {
    let event = Event::channel(channel, EventBody::ChannelDeleted {});
    webhooks::enqueue(state, &ctx.app, &event).await;
    state
        .notifier
        .to_users(&ctx.app.app_id, former, &event)
        .await;
}

/// `typing.start` (`started`) / `typing.stop`: never to the typer.
pub async fn typing(
    state: &AppState,
    ctx: &Ctx,
    started: bool,
    (channel, big): (&ChannelId, bool),
    user: &UserId,
    parent: Option<&crate::ids::MessageId>,
) -> Delivery {
    let (user_ref, parent_id) = (UserRef { id: user.clone() }, parent.cloned());
    let body = if started {
        EventBody::TypingStart {
            user: user_ref,
            parent_id,
        }
    } else {
        EventBody::TypingStop {
            user: user_ref,
            parent_id,
        }
    };
    let event = Event::channel(channel, body);
    chatter(state, ctx, channel, big, &event, Some(user)).await
}

/// Reports a message's `flag` blocklists opened (see
/// [`crate::flags::by_blocklists`]), each announced like a member's report.
pub async fn blocklisted(state: &AppState, ctx: &Ctx, message: &Message, lists: &[String]) {
    if lists.is_empty() {
        return;
    }
    match crate::flags::by_blocklists(&state.db, message, lists).await {
        Ok(flags) => {
            for flag in &flags {
                flagged(state, ctx, flag).await;
            }
        }
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), message = %message.id, "could not file a blocklist's report");
        }
    }
}

/// `message.flagged`: to the channel's owners and admins (but the author),
/// and to the webhook.
pub async fn flagged(state: &AppState, ctx: &Ctx, flag: &crate::flags::Flag) {
    let (Some(channel), Some(message_id)) = (&flag.channel_id, &flag.message_id) else {
        return;
    };
    let event = Event::channel(
        channel,
        EventBody::MessageFlagged {
            flag: super::events::FlaggedView {
                id: flag.id.clone(),
                message_id: message_id.clone(),
                user_id: flag.user_id.clone(),
                reporter_id: flag.reporter_id.clone(),
                reason: flag.reason.clone(),
            },
        },
    );
    webhooks::enqueue(state, &ctx.app, &event).await;
    match crate::channels::moderators(&state.db, &ctx.app.app_id, channel).await {
        Ok(moderators) => {
            let to: Vec<UserId> = moderators
                .into_iter()
                .filter(|u| *u != flag.user_id)
                .collect();
            state.notifier.to_users(&ctx.app.app_id, &to, &event).await;
        }
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), %channel, "could not read a channel's moderators");
        }
    }
}

/// `message.scheduled_failed`: to the author's sockets.
pub async fn scheduled_failed(
    state: &AppState,
    ctx: &Ctx,
    scheduled: &crate::messages::scheduled::model::ScheduledMessage,
) {
    let event = Event::channel(
        &scheduled.input.channel_id,
        EventBody::ScheduledFailed {
            scheduled_message: scheduled.view(),
        },
    );
    state
        .notifier
        .to_users(
            &ctx.app.app_id,
            std::slice::from_ref(&scheduled.user_id),
            &event,
        )
        .await;
}

/// `reminder.due`: to the user's sockets.
pub async fn reminder_due(state: &AppState, reminder: &crate::messages::reminders::Kept) {
    let event = Event::channel(
        &reminder.reminder.channel_id,
        EventBody::ReminderDue {
            reminder: reminder.view(),
        },
    );
    state
        .notifier
        .to_users(
            &reminder.reminder.app_id,
            std::slice::from_ref(&reminder.reminder.user_id),
            &event,
        )
        .await;
}
