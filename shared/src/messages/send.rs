//! `POST /messages` (and the socket's `message.send`): validation, the
//! refusals, idempotency by client id, and one transaction of O(1) items
//! whatever the channel's size.

use sha2::{Digest, Sha256};
use validator::Validate;

use super::store::{self, SendRefused, SendWrites, SenderWrites};
use super::{draft_key, locate, Message, MessageRef, MessageType};
use crate::channels::{self, Ctx, Member, Role};
use crate::db::{Db, Entity};
use crate::error::ApiError;
use crate::ids::{MessageId, UserId};
use crate::keys::{self, Key};

pub const MAX_ATTACHMENTS: usize = 30;

/// Where callers have always named it; it lives in the model so the
/// before-send hook can take it without importing this module.
pub use super::model::SendMessage;

/// A send's input, hashed: a retry with the same input finds its message.
fn fingerprint(input: &SendMessage) -> String {
    let bytes = serde_json::to_vec(input).unwrap_or_default();
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn seconds_until(ms: i64, now_ms: i64) -> u64 {
    u64::try_from((ms - now_ms + 999) / 1000)
        .unwrap_or(1)
        .max(1)
}

/// What validation keeps of a send's input.
#[derive(Debug)]
struct Checked {
    kind: MessageType,
    text: Option<String>,
    mentions: Vec<UserId>,
    fingerprint: String,
}

/// What the channel and its members allow this send.
struct Granted {
    channel: channels::Channel,
    /// The sending member (absent for a server's system message).
    member: Option<Member>,
    shadowed: bool,
    parent: Option<Message>,
}

/// What a send did.
#[derive(Debug)]
pub struct SendOutcome {
    pub message: Message,
    /// `false` when an idempotent retry returned the stored message.
    pub created: bool,
    /// The app's `flag` blocklists its text matched: each opens a report.
    pub flagged_by: Vec<String>,
}

impl SendOutcome {
    fn retried(message: Message) -> Self {
        Self {
            message,
            created: false,
            flagged_by: Vec::new(),
        }
    }
}

/// Screens a text with the app's blocklists: refused (`block`), masked in
/// place (`true` when it changed), and the `flag` lists it matched.
pub fn screen(ctx: &Ctx, text: &mut Option<String>) -> Result<(bool, Vec<String>), ApiError> {
    let Some(original) = text.as_deref() else {
        return Ok((false, Vec::new()));
    };
    let app = &ctx.app;
    let screened =
        crate::blocklists::screen(&app.app_id, app.version, &app.settings.blocklists, original)?;
    let masked = screened.text != original;
    if masked {
        *text = Some(screened.text);
    }
    Ok((masked, screened.flagged_by))
}

/// Sends a message. A user's send is counted against their rate limit by
/// its own transaction (a refused one by a claim of its own); a server's
/// was counted when its request was admitted.
pub async fn send(
    state: &crate::state::AppState,
    ctx: &Ctx,
    input: SendMessage,
) -> Result<SendOutcome, ApiError> {
    let claim = match (ctx.server, &ctx.user) {
        (false, Some(user)) => Some(
            state
                .limiter
                .claim_in_send(&ctx.app.app_id, &ctx.app.settings.rate_limits, user)
                .map_err(|(refusal, _)| refusal)?
                .0,
        ),
        _ => None,
    };
    // Boxed: the send's future is large, and callers nest it in theirs.
    let sent = Box::pin(send_counted(state, ctx, input, claim.as_ref())).await;
    if let Some(claim) = claim.filter(|c| !c.settled()) {
        state.limiter.count_unwritten(&claim).await;
    }
    sent
}

async fn send_counted(
    state: &crate::state::AppState,
    ctx: &Ctx,
    mut input: SendMessage,
    claim: Option<&crate::ratelimit::SendClaim>,
) -> Result<SendOutcome, ApiError> {
    let (db, storage) = (&state.db, &state.storage);
    input.validate()?;
    crate::uploads::own_attachments(storage, &ctx.app, &mut input.attachments)?;
    let mut checked = validate(ctx, &input)?;
    // A retry of a send that already happened returns the stored message.
    if let Some(id) = &input.id {
        if let Some(stored) = stored_send(db, ctx, id, &checked.fingerprint).await? {
            return Ok(SendOutcome::retried(stored));
        }
    }
    // The user's rate-limit counter is read with the channel, the member
    // item and the ban (one request): a spent window refuses here.
    let ahead;
    let db = match claim {
        Some(claim) => {
            let mut keys =
                channels::access_keys(&ctx.app.app_id, &input.channel_id, ctx.require_user()?)
                    .to_vec();
            keys.push(claim.counter_key().any());
            ahead = db.read_ahead(&keys).await?;
            claim.observe(&ahead).await?;
            &ahead
        }
        None => db,
    };
    let granted = authorize(db, ctx, &input, &checked).await?;
    // The app's own check, once the send is allowed; a rewrite is checked
    // like the sender's input (the fingerprint stays the sender's, so a
    // retry still finds the stored message).
    let hooked = super::hook::before_send(state, ctx, ctx.require_user()?, &mut input).await?;
    if hooked {
        // Every check the sender's input passed, on what the hook wrote.
        input.validate()?;
        crate::uploads::own_attachments(storage, &ctx.app, &mut input.attachments)?;
    }
    // The app's blocklists see the text as it will be stored.
    let (masked, flagged_by) = screen(ctx, &mut input.text)?;
    if hooked || masked {
        checked = Checked {
            fingerprint: checked.fingerprint,
            ..validate(ctx, &input)?
        };
    }
    // Pushes only where a member has a device (the channel counts them).
    let pushable = granted.channel.reachable > 0;
    let parent = granted.parent.clone();
    let mut writes = plan(ctx, &input, checked, granted, crate::time::now_millis())?;
    writes.writes.rate = claim.map(crate::ratelimit::SendClaim::update);
    let slow_mode = writes.slow_mode;
    let committed = store::commit_send(db, &writes.writes).await;
    if let (Ok(()), Some(claim)) = (&committed, claim) {
        claim.written();
    }
    match committed {
        Ok(()) => {
            let message = writes.writes.message;
            if let Some(parent) = &parent {
                super::threads::replied(&state.db, &message, parent).await;
            }
            if pushable {
                crate::push::enqueue(state, &ctx.app, &message).await;
            }
            Ok(SendOutcome {
                message,
                created: true,
                flagged_by,
            })
        }
        Err(SendRefused::IdTaken) => {
            let message = &writes.writes.message;
            if let Some(id) = &input.id {
                if let Some(stored) = stored_send(db, ctx, id, &message.fingerprint).await? {
                    return Ok(SendOutcome::retried(stored));
                }
            }
            Err(ApiError::conflict("a message with this id already exists"))
        }
        Err(SendRefused::Frozen) => Err(ApiError::forbidden("the channel is frozen or gone")),
        Err(SendRefused::SlowMode) => Err(ApiError::RateLimited {
            message: format!("slow mode: one message every {slow_mode} seconds"),
            retry_after: u64::from(slow_mode),
        }),
        Err(SendRefused::Changed) => Err(ApiError::conflict(
            "the channel changed while sending; retry",
        )),
        Err(SendRefused::RateLimited) => Err(claim.map_or_else(
            || ApiError::conflict("the channel changed while sending; retry"),
            crate::ratelimit::SendClaim::refused,
        )),
        Err(SendRefused::PollTaken) => Err(ApiError::conflict(
            "the poll was sent in another message meanwhile",
        )),
        Err(SendRefused::Db(err)) => Err(err.into()),
    }
}

/// Whether `input` could be sent now, without sending it: validation, the
/// attachments' ownership and the channel's rules as they stand. What
/// scheduling checks up front; when due, the send checks everything again.
pub async fn check(
    state: &crate::state::AppState,
    ctx: &Ctx,
    input: &mut SendMessage,
) -> Result<(), ApiError> {
    input.validate()?;
    crate::uploads::own_attachments(&state.storage, &ctx.app, &mut input.attachments)?;
    let checked = validate(ctx, input)?;
    authorize(&state.db, ctx, input, &checked).await.map(|_| ())
}

/// The input alone, against the app's limits: no reads.
fn validate(ctx: &Ctx, input: &SendMessage) -> Result<Checked, ApiError> {
    input.validate()?;
    let app = &ctx.app;
    ctx.require_user()?;
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
    if text.is_none() && input.attachments.is_empty() && input.poll_id.is_none() {
        return Err(ApiError::validation(
            "a message needs text, attachments or a poll",
        ));
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
    let mut mentions: Vec<UserId> = Vec::new();
    for m in &input.mentions {
        if !mentions.contains(m) {
            mentions.push(m.clone());
        }
    }
    if mentions.len() > 100 {
        return Err(ApiError::validation("at most 100 mentions"));
    }
    Ok(Checked {
        kind,
        text,
        mentions,
        fingerprint: fingerprint(input),
    })
}

/// Membership, freeze, bans, the thread, the quote and the mentions, as the
/// channel stands now.
async fn authorize(
    db: &Db,
    ctx: &Ctx,
    input: &SendMessage,
    checked: &Checked,
) -> Result<Granted, ApiError> {
    let author = ctx.require_user()?;
    // The channel, the membership and the ban in one request.
    let (access, ban) = channels::load_with_ban(db, ctx, &input.channel_id).await?;
    let channel = access.channel;
    let member = access.member.filter(Member::is_active);
    let system_by_server = ctx.server && checked.kind == MessageType::System;
    if member.is_none() && !system_by_server {
        return Err(ApiError::forbidden(
            "only channel members may send messages",
        ));
    }
    if channel.frozen {
        return Err(ApiError::forbidden("the channel is frozen"));
    }
    if ban.as_ref().is_some_and(|b| !b.shadow) {
        return Err(ApiError::forbidden("you are banned from this channel"));
    }
    if member.is_some() {
        crate::blocks::check_direct(db, &ctx.app.app_id, &channel, author).await?;
    }
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
    if let Some(poll) = &input.poll_id {
        super::polls::for_send(db, ctx, poll).await?;
    }
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
    if !checked.mentions.is_empty() {
        let member_keys: Vec<Key<_>> = checked
            .mentions
            .iter()
            .map(|u| keys::member(&ctx.app.app_id, &channel.id, u))
            .collect();
        let found: Vec<Member> = db.batch_get(&member_keys).await?;
        let missing: Vec<&str> = checked
            .mentions
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
    Ok(Granted {
        channel,
        member,
        shadowed: ban.is_some(),
        parent,
    })
}

/// The planned transaction, and the channel's slow mode for the refusal.
#[derive(Debug)]
struct Planned {
    writes: SendWrites,
    slow_mode: u32,
}

/// The message and what its send writes, at `now_ms`: no reads. A member
/// still in slow mode is refused here (the transaction checks again).
fn plan(
    ctx: &Ctx,
    input: &SendMessage,
    checked: Checked,
    granted: Granted,
    now_ms: i64,
) -> Result<Planned, ApiError> {
    let app = &ctx.app.app_id;
    let author = ctx.require_user()?.clone();
    let channel = &granted.channel;
    let now = crate::time::millis_to_rfc3339(now_ms);
    let sort_id = MessageId::generate();
    let message = Message {
        app_id: app.clone(),
        channel_id: channel.id.clone(),
        id: input.id.clone().unwrap_or_else(|| sort_id.clone()),
        sort_id: sort_id.clone(),
        user_id: author.clone(),
        kind: checked.kind,
        search_text: checked.text.as_ref().map(|t| t.to_lowercase()),
        text: checked.text,
        silent: input.silent,
        metadata: input.metadata.clone().unwrap_or_default(),
        mentions: checked.mentions,
        quoted_message_id: input.quoted_message_id.clone(),
        parent_id: input.parent_id.clone(),
        show_in_channel: input.show_in_channel,
        attachments: input.attachments.clone(),
        poll_id: input.poll_id.clone(),
        reply_count: 0,
        shadowed_replies: 0,
        last_reply_at: None,
        reaction_counts: Default::default(),
        pinned_at: None,
        pinned_by: None,
        shadowed: granted.shadowed,
        created_at: now.clone(),
        updated_at: now,
        edited_at: None,
        moderated_by: None,
        deleted_at: None,
        fingerprint: checked.fingerprint,
        version: 1,
    };
    let reference = MessageRef {
        app_id: app.clone(),
        id: message.id.clone(),
        channel_id: channel.id.clone(),
        sort_id,
        in_channel: message.in_channel(),
    };
    let sender = match &granted.member {
        Some(member) => {
            let exempt = member.role >= Role::Admin || ctx.server;
            let mut slow_mode_threshold = None;
            if channel.slow_mode > 0 && !exempt {
                let threshold = now_ms - i64::from(channel.slow_mode) * 1000;
                if let Some(last) = member.last_sent_ms.filter(|last| *last > threshold) {
                    return Err(ApiError::RateLimited {
                        message: format!(
                            "slow mode: one message every {} seconds",
                            channel.slow_mode
                        ),
                        retry_after: seconds_until(
                            last + i64::from(channel.slow_mode) * 1000,
                            now_ms,
                        ),
                    });
                }
                slow_mode_threshold = Some(threshold);
            }
            // Sending reads the channel up to one's own message.
            let read = message.in_channel().then(|| message.key().sk);
            Some(SenderWrites {
                member: keys::member(app, &channel.id, &author),
                read,
                posted: input.parent_id.is_none(),
                now_ms,
                slow_mode_threshold,
            })
        }
        None => None,
    };
    let writes = SendWrites {
        bumps_channel: message.in_channel() && !granted.shadowed,
        reference,
        sender,
        parent: granted.parent.as_ref().map(Entity::key),
        // A reply clears its thread draft; a channel draft older than the
        // member's last post reads as gone (see `drafts.rs`), so a send
        // writes four items, not five.
        draft: input
            .parent_id
            .as_ref()
            .map(|parent| draft_key(app, &author, &channel.id, Some(parent))),
        rate: None,
        message,
    };
    Ok(Planned {
        writes,
        slow_mode: channel.slow_mode,
    })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::{json, Value};

    use super::*;

    fn ctx(server: bool) -> Ctx {
        let app = serde_json::from_value(json!({
            "app_id": "a1", "name": "t", "api_key": "k", "api_secret": "s",
            "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        Ctx {
            app,
            server,
            user: Some(UserId::parse("u1").unwrap()),
            me: None,
        }
    }

    fn input(fields: Value) -> SendMessage {
        let mut body = json!({ "channel_id": "c1" });
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        serde_json::from_value(body).unwrap()
    }

    fn granted(slow_mode: u32, last_sent_ms: Option<i64>, role: &str) -> Granted {
        let channel = serde_json::from_value(json!({
            "app_id": "a1", "id": "c1", "type": "group", "slow_mode": slow_mode,
            "created_by": "u1", "member_count": 2, "created_at": "t", "updated_at": "t",
        }))
        .unwrap();
        let member = serde_json::from_value(json!({
            "app_id": "a1", "channel_id": "c1", "user_id": "u1", "role": role,
            "joined_at": "t", "last_sent_ms": last_sent_ms,
        }))
        .unwrap();
        Granted {
            channel,
            member: Some(member),
            shadowed: false,
            parent: None,
        }
    }

    #[test]
    fn validation_needs_content_and_keeps_mentions_once() {
        let err = validate(&ctx(false), &input(json!({ "text": "   " }))).unwrap_err();
        assert!(
            err.to_string()
                .contains("needs text, attachments or a poll"),
            "{err}"
        );
        let err = validate(
            &ctx(false),
            &input(json!({ "text": "x", "show_in_channel": true })),
        )
        .unwrap_err();
        assert!(err.to_string().contains("show_in_channel"), "{err}");
        let err = validate(
            &ctx(false),
            &input(json!({ "text": "x", "type": "system" })),
        );
        assert!(matches!(err, Err(ApiError::Forbidden(_))));
        let checked = validate(
            &ctx(false),
            &input(json!({ "text": "hi", "mentions": ["u2", "u2", "u3"] })),
        )
        .unwrap();
        assert_eq!(checked.mentions.len(), 2);
    }

    #[test]
    fn slow_mode_refuses_before_writing_and_exempts_admins() {
        let now = 1_000_000;
        let send = input(json!({ "text": "hi" }));
        let checked = || validate(&ctx(false), &send).unwrap();
        let refused = plan(
            &ctx(false),
            &send,
            checked(),
            granted(10, Some(now - 3_000), "member"),
            now,
        );
        match refused {
            Err(ApiError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 7),
            other => panic!("expected slow mode, got {other:?}"),
        }
        let planned = plan(
            &ctx(false),
            &send,
            checked(),
            granted(10, Some(now - 11_000), "member"),
            now,
        )
        .unwrap();
        let sender = planned.writes.sender.unwrap();
        assert_eq!(sender.slow_mode_threshold, Some(now - 10_000));
        assert!(
            sender.read.is_some(),
            "a send reads the channel up to itself"
        );
        let admin = plan(
            &ctx(false),
            &send,
            checked(),
            granted(10, Some(now - 1), "admin"),
            now,
        )
        .unwrap();
        assert_eq!(admin.writes.sender.unwrap().slow_mode_threshold, None);
    }

    #[test]
    fn replies_touch_their_parent_and_not_the_channel_history() {
        let send = input(json!({ "text": "re", "parent_id": "m0" }));
        let checked = validate(&ctx(false), &send).unwrap();
        let mut grant = granted(0, None, "member");
        grant.parent = Some(
            serde_json::from_value(json!({
                "app_id": "a1", "channel_id": "c1", "id": "m0", "sort_id": "m0",
                "user_id": "u2", "type": "regular", "created_at": "t", "updated_at": "t",
                "fingerprint": "f",
            }))
            .unwrap(),
        );
        let planned = plan(&ctx(false), &send, checked, grant, 5).unwrap();
        assert!(!planned.writes.bumps_channel);
        assert!(planned.writes.parent.is_some());
        assert!(planned.writes.sender.unwrap().read.is_none());
        assert!(
            planned.writes.draft.unwrap().sk.contains("m0"),
            "the thread's draft is cleared"
        );
    }
}
