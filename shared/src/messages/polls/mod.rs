//! Polls: made by a user, sent once in a message (`poll_id` on a send),
//! voted on by the channel's members. Counts per option live on the poll
//! and move in each vote's transaction, with the vote, the voter's mark on
//! the option (one vote per option) and their ballot (how many votes they
//! may cast): O(1) requests whatever the number of voters. The poll dies
//! with its message.

pub mod model;
pub mod voters;

use std::time::Duration;

pub use model::*;

use crate::acting::Ctx;
use crate::channels::{self, Access};
use crate::db::{store as db_store, Cond, Db, DbError, Entity, PageRequest, Write};
use crate::error::ApiError;
use crate::ids::{AppId, PollId};
use crate::keys;
use crate::messages::{truncated_away, Message, MessageType};

/// How far ahead a poll may close by itself (the scheduler's reach).
const MAX_CLOSES_AHEAD_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Tries of a vote whose transaction met another on the same poll (busy
/// polls on DynamoDB cancel concurrent transactions on one item).
const CONFLICT_TRIES: u32 = 12;

fn not_found(id: &PollId) -> ApiError {
    ApiError::not_found(format!("poll {id} not found"))
}

fn check_text(what: &str, text: &str, max: usize) -> Result<String, ApiError> {
    let text = text.trim();
    let length = text.chars().count();
    if length == 0 || length > max {
        return Err(ApiError::validation(format!(
            "{what} must be 1 to {max} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(text.to_string())
}

fn option_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// `POST /polls`: the poll, not yet in any channel.
pub async fn create(db: &Db, ctx: &Ctx, input: PollInput) -> Result<Poll, ApiError> {
    let creator = ctx.require_user()?.clone();
    let question = check_text("question", &input.question, MAX_QUESTION_LEN)?;
    if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&input.options.len()) {
        return Err(ApiError::validation(format!(
            "a poll has {MIN_OPTIONS} to {MAX_OPTIONS} options"
        )));
    }
    let mut options: Vec<PollOption> = Vec::new();
    for option in &input.options {
        if option.user_id.is_some() {
            return Err(ApiError::validation(
                "options of a new poll take no user_id",
            ));
        }
        let text = check_text("an option's text", &option.text, MAX_OPTION_LEN)?;
        if options
            .iter()
            .any(|o| o.text.to_lowercase() == text.to_lowercase())
        {
            return Err(ApiError::validation(format!(
                "option {text:?} is given twice"
            )));
        }
        options.push(PollOption {
            id: option_id(),
            text,
        });
    }
    if let Some(max) = input.max_votes_allowed {
        if input.enforce_unique_vote {
            return Err(ApiError::validation(
                "enforce_unique_vote allows one vote; leave out max_votes_allowed",
            ));
        }
        if !(1..=MAX_OPTIONS_SUGGESTED as u32).contains(&max) {
            return Err(ApiError::validation(format!(
                "max_votes_allowed must be 1 to {MAX_OPTIONS_SUGGESTED}"
            )));
        }
    }
    let now_ms = crate::time::now_millis();
    let closes_ms = match &input.closes_at {
        Some(at) => {
            let at = chrono::DateTime::parse_from_rfc3339(at)
                .map_err(|_| ApiError::validation("closes_at must be an RFC 3339 time"))?
                .timestamp_millis();
            if at <= now_ms {
                return Err(ApiError::validation("closes_at must be in the future"));
            }
            if at > now_ms + MAX_CLOSES_AHEAD_MS {
                return Err(ApiError::validation(
                    "closes_at must be at most 30 days ahead",
                ));
            }
            Some(at)
        }
        None => None,
    };
    let now = crate::time::millis_to_rfc3339(now_ms);
    let poll = Poll {
        app_id: ctx.app.app_id.clone(),
        id: PollId::generate(),
        created_by: creator,
        question,
        vote_counts: options.iter().map(|o| (o.id.clone(), 0)).collect(),
        options,
        enforce_unique_vote: input.enforce_unique_vote,
        max_votes_allowed: input.max_votes_allowed,
        voting_visibility: input.voting_visibility,
        allow_user_suggested_options: input.allow_user_suggested_options,
        closes_at: closes_ms.map(crate::time::millis_to_rfc3339),
        closes_ms,
        closed_at: None,
        message: None,
        created_at: now.clone(),
        updated_at: now,
    };
    db.put(&poll, Cond::NotExists).await?;
    Ok(poll)
}

/// The task that closes a poll at its `closes_at`.
pub fn closes(poll: &Poll) -> Option<(i64, PollCloses)> {
    let closes_ms = poll.closes_ms?;
    let task = PollCloses {
        app_id: poll.app_id.clone(),
        poll_id: poll.id.clone(),
        closes_ms,
    };
    Some((closes_ms, task))
}

/// A poll and where the caller stands with it: `None` before it is sent
/// (then only its creator and the server see it).
pub struct Found {
    pub poll: Poll,
    pub access: Option<Access>,
    /// The caller's ban in the poll's channel.
    pub banned: bool,
}

/// Reads a poll the caller may see: a sent one with its message, the
/// channel and the caller's member item and ban in one more request.
pub async fn find(db: &Db, ctx: &Ctx, id: &PollId) -> Result<Found, ApiError> {
    let poll: Poll = db
        .get(&keys::poll(&ctx.app.app_id, id))
        .await?
        .ok_or_else(|| not_found(id))?;
    let (Some(placed), Some(message_key)) = (&poll.message, poll.message_key()) else {
        if ctx.server || poll.is_creator(ctx) {
            return Ok(Found {
                poll,
                access: None,
                banned: false,
            });
        }
        return Err(not_found(id));
    };
    let app = &ctx.app.app_id;
    let mut wanted = vec![message_key.any()];
    if let Some(user) = &ctx.user {
        wanted.extend(channels::access_keys(app, &placed.channel_id, user));
    } else {
        wanted.push(keys::channel(app, &placed.channel_id).any());
    }
    let ahead = db.read_ahead(&wanted).await?;
    let access = channels::load(&ahead, ctx, &placed.channel_id)
        .await
        .map_err(|_| not_found(id))?;
    let message: Message = ahead
        .get(&message_key)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !message.visible_to(ctx)
        || message.kind == MessageType::Deleted
        || truncated_away(&access.channel, &message.sort_id)
    {
        return Err(not_found(id));
    }
    access.require_read()?;
    let banned = match &ctx.user {
        Some(user) => channels::active_ban(&ahead, ctx, &placed.channel_id, user)
            .await?
            .is_some_and(|b| !b.shadow),
        None => false,
    };
    Ok(Found {
        poll,
        access: Some(access),
        banned,
    })
}

/// `GET /polls/{id}`: counts, the caller's votes and the latest voters.
pub async fn get(db: &Db, ctx: &Ctx, id: &PollId) -> Result<PollView, ApiError> {
    let Found { poll, .. } = find(db, ctx, id).await?;
    let partition = keys::poll_partition(&ctx.app.app_id, id);
    let own = async {
        match &ctx.user {
            Some(user) => own_votes(db, &poll, user).await,
            None => Ok(Vec::new()),
        }
    };
    let latest = async {
        if poll.anonymous() {
            return Ok(Vec::new());
        }
        let newest = PageRequest {
            limit: LATEST_VOTES,
            cursor: None,
            forward: false,
        };
        let votes = db
            .query::<Vote>(&partition, keys::VOTE_PREFIX, &newest)
            .await?;
        Ok::<_, ApiError>(votes.items)
    };
    let (own, latest) = futures::try_join!(own, latest)?;
    let mut view = poll.view();
    view.own_votes = own.iter().map(|v| v.view(false)).collect();
    view.latest_votes = latest
        .iter()
        .filter(|v| !ctx.blocks(&v.user_id))
        .map(|v| v.view(false))
        .collect();
    Ok(view)
}

/// The poll as the acting user sees it after their change: with their
/// votes, without the latest voters.
pub async fn with_own(db: &Db, ctx: &Ctx, poll: &Poll) -> Result<PollView, ApiError> {
    let mut view = poll.view();
    if let Some(user) = &ctx.user {
        view.own_votes = own_votes(db, poll, user)
            .await?
            .iter()
            .map(|v| v.view(false))
            .collect();
    }
    Ok(view)
}

/// A user's votes in a poll (at most one per option).
async fn own_votes(db: &Db, poll: &Poll, user: &crate::ids::UserId) -> Result<Vec<Vote>, ApiError> {
    votes_in(db, &poll.app_id, &poll.id, user).await
}

/// A voter's votes in one poll, oldest first.
async fn votes_in(
    db: &Db,
    app: &AppId,
    poll: &PollId,
    user: &crate::ids::UserId,
) -> Result<Vec<Vote>, ApiError> {
    let marks: Vec<VoteMark> = db
        .query_all(
            &keys::poll_partition(app, poll),
            &keys::vote_marks_prefix(user),
            MAX_OPTIONS_SUGGESTED as i32,
        )
        .await?;
    let keys: Vec<_> = marks.iter().map(VoteMark::vote_key).collect();
    let mut votes: Vec<Vote> = db.batch_get(&keys).await?;
    votes.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(votes)
}

/// Voting, suggesting: the poll must be sent, and the caller an active
/// member who is not banned, in a channel that is not frozen.
fn require_voter(found: &Found) -> Result<&Access, ApiError> {
    let access = found
        .access
        .as_ref()
        .ok_or_else(|| ApiError::conflict("the poll has not been sent in a message yet"))?;
    if !access
        .member
        .as_ref()
        .is_some_and(channels::Member::is_active)
    {
        return Err(ApiError::forbidden("only channel members may vote"));
    }
    if found.banned {
        return Err(ApiError::forbidden("you are banned from this channel"));
    }
    if access.channel.frozen {
        return Err(ApiError::forbidden("the channel is frozen"));
    }
    Ok(access)
}

fn closed(poll: &Poll) -> ApiError {
    ApiError::conflict(format!("poll {} is closed", poll.id))
}

/// Runs a poll's transaction, again while it meets another transaction on
/// the same items (`TransactionConflict`), with a growing, jittered pause.
async fn transact_busy(
    db: &Db,
    mut writes: impl FnMut() -> Result<Vec<Write>, DbError>,
) -> Result<(), DbError> {
    let mut attempt = 0;
    loop {
        match db.transact(writes()?).await {
            Err(DbError::TransactionCanceled(reasons))
                if attempt + 1 < CONFLICT_TRIES
                    && reasons.iter().flatten().any(|r| r == "TransactionConflict") =>
            {
                attempt += 1;
                let ceiling = 10u64 << attempt.min(5);
                tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=ceiling))).await;
            }
            other => return other,
        }
    }
}

/// Whether a cancelled transaction's write `i` failed.
fn failed(reasons: &[Option<String>], i: usize) -> bool {
    reasons.get(i).is_some_and(Option::is_some)
}

/// What a vote did.
pub struct Voted {
    pub poll: Poll,
    pub vote: Vote,
    /// `false`: the caller had voted for this option already.
    pub created: bool,
    /// The vote it replaced (a poll with `enforce_unique_vote`).
    pub replaced: Option<Vote>,
}

/// `POST /polls/{id}/votes`.
pub async fn vote(db: &Db, ctx: &Ctx, id: &PollId, input: VoteInput) -> Result<Voted, ApiError> {
    let user = ctx.require_user()?.clone();
    let found = find(db, ctx, id).await?;
    require_voter(&found)?;
    let poll = found.poll;
    if poll.is_closed(crate::time::now_millis()) {
        return Err(closed(&poll));
    }
    if !poll.options.iter().any(|o| o.id == input.option_id) {
        return Err(ApiError::validation(format!(
            "poll {id} has no option {:?}",
            input.option_id
        )));
    }
    // One vote per user: a vote on another option takes its place.
    let replaced = if poll.enforce_unique_vote {
        own_votes(db, &poll, &user).await?.into_iter().next()
    } else {
        None
    };
    if let Some(old) = replaced.as_ref().filter(|v| v.option_id == input.option_id) {
        return Ok(Voted {
            vote: old.clone(),
            poll,
            created: false,
            replaced: None,
        });
    }
    let now_ms = crate::time::now_millis();
    let vote = Vote {
        app_id: poll.app_id.clone(),
        poll_id: poll.id.clone(),
        id: uuid::Uuid::now_v7().simple().to_string(),
        option_id: input.option_id.clone(),
        user_id: user.clone(),
        created_at: crate::time::millis_to_rfc3339(now_ms),
    };
    let voter = keys::voter_ballot(&poll.app_id, &user, &poll.id);
    const MARK: usize = 1;
    const BALLOT: usize = 2;
    const POLL: usize = 3;
    let committed = transact_busy(db, || {
        let now_ms = crate::time::now_millis();
        let counts = db_store::polls::counted(
            Some(&vote.option_id),
            replaced.as_ref().map(|v| v.option_id.as_str()),
            now_ms,
            &crate::time::millis_to_rfc3339(now_ms),
        );
        // A replacement leaves the ballot as it is.
        let ballot = db_store::polls::ballot(
            "ballot",
            if replaced.is_some() { 0 } else { 1 },
            Some(poll.votes_allowed()),
            Some((poll.id.as_str(), &voter)),
        );
        let mut writes = vec![
            db.put_write(&vote, Cond::NotExists)?,
            db.put_write(&vote.mark(), Cond::NotExists)?,
            db.update_write(
                &keys::ballot(&poll.app_id, &poll.id, &user),
                &ballot,
                Cond::Always,
            )?,
            db.update_write(&poll.key(), &counts, Cond::Exists)?,
        ];
        if let Some(old) = &replaced {
            writes.push(db.delete_write(&old.key(), Cond::Exists)?);
            writes.push(db.delete_write(&old.mark().key(), Cond::Exists)?);
        }
        Ok(writes)
    })
    .await;
    match committed {
        Ok(()) => {}
        Err(DbError::TransactionCanceled(reasons)) if failed(&reasons, MARK) => {
            // A vote for this option exists (a retry, or a concurrent twin).
            let mark: Option<VoteMark> = db.get(&vote.mark().key()).await?;
            let existing: Option<Vote> = match mark {
                Some(mark) => db.get(&mark.vote_key()).await?,
                None => None,
            };
            return match existing {
                Some(vote) => Ok(Voted {
                    vote,
                    poll,
                    created: false,
                    replaced: None,
                }),
                None => Err(ApiError::conflict("the vote changed while voting; retry")),
            };
        }
        Err(DbError::TransactionCanceled(reasons)) if failed(&reasons, BALLOT) => {
            return Err(ApiError::validation(format!(
                "you have cast the {} votes this poll allows; remove one first",
                poll.votes_allowed()
            )));
        }
        Err(DbError::TransactionCanceled(reasons)) if failed(&reasons, POLL) => {
            return Err(match db.get::<Poll>(&poll.key()).await? {
                None => not_found(id),
                Some(now) if now.is_closed(crate::time::now_millis()) => closed(&now),
                Some(_) => ApiError::conflict("the poll changed while voting; retry"),
            });
        }
        Err(DbError::TransactionCanceled(_)) => {
            return Err(ApiError::conflict("your votes changed while voting; retry"))
        }
        Err(err) => return Err(err.into()),
    }
    let poll = db.get::<Poll>(&poll.key()).await?.unwrap_or(poll);
    Ok(Voted {
        poll,
        vote,
        created: true,
        replaced,
    })
}

/// `DELETE /polls/{id}/votes/{vote_id}`: the caller's own vote.
pub async fn unvote(
    db: &Db,
    ctx: &Ctx,
    id: &PollId,
    vote_id: &str,
) -> Result<(Poll, Vote), ApiError> {
    let user = ctx.require_user()?.clone();
    let Found { poll, access, .. } = find(db, ctx, id).await?;
    if access.is_none() {
        return Err(ApiError::conflict(
            "the poll has not been sent in a message yet",
        ));
    }
    let gone = || ApiError::not_found(format!("you have no vote {vote_id} in poll {id}"));
    let well_formed = vote_id.len() <= 64 && vote_id.chars().all(|c| c.is_ascii_alphanumeric());
    let vote: Vote = match well_formed {
        true => {
            db.get::<Vote>(&keys::vote(&ctx.app.app_id, id, vote_id))
                .await?
        }
        false => None,
    }
    .filter(|v| v.user_id == user)
    .ok_or_else(gone)?;
    if poll.is_closed(crate::time::now_millis()) {
        return Err(closed(&poll));
    }
    const VOTE: usize = 0;
    const POLL: usize = 3;
    let committed = transact_busy(db, || {
        let now_ms = crate::time::now_millis();
        let counts = db_store::polls::counted(
            None,
            Some(&vote.option_id),
            now_ms,
            &crate::time::millis_to_rfc3339(now_ms),
        );
        let ballot = db_store::polls::ballot("ballot", -1, None, None);
        Ok(vec![
            db.delete_write(&vote.key(), Cond::Exists)?,
            db.delete_write(&vote.mark().key(), Cond::Always)?,
            db.update_write(
                &keys::ballot(&poll.app_id, &poll.id, &user),
                &ballot,
                Cond::Exists,
            )?,
            db.update_write(&poll.key(), &counts, Cond::Exists)?,
        ])
    })
    .await;
    match committed {
        Ok(()) => {}
        Err(DbError::TransactionCanceled(reasons)) if failed(&reasons, VOTE) => return Err(gone()),
        Err(DbError::TransactionCanceled(reasons)) if failed(&reasons, POLL) => {
            return Err(match db.get::<Poll>(&poll.key()).await? {
                Some(now) if now.is_closed(crate::time::now_millis()) => closed(&now),
                _ => not_found(id),
            })
        }
        Err(err) => return Err(err.into()),
    }
    let poll = db.get::<Poll>(&poll.key()).await?.unwrap_or(poll);
    Ok((poll, vote))
}

/// `POST /polls/{id}/options`: its creator and the server always, its
/// voters where the poll allows suggestions.
pub async fn suggest(
    db: &Db,
    ctx: &Ctx,
    id: &PollId,
    input: OptionInput,
) -> Result<Poll, ApiError> {
    let found = find(db, ctx, id).await?;
    let privileged = ctx.server || found.poll.is_creator(ctx);
    if !privileged {
        if !found.poll.allow_user_suggested_options {
            return Err(ApiError::forbidden(
                "this poll does not take suggested options",
            ));
        }
        require_voter(&found)?;
    }
    let poll = found.poll;
    let text = check_text("an option's text", &input.text, MAX_OPTION_LEN)?;
    if poll
        .options
        .iter()
        .any(|o| o.text.to_lowercase() == text.to_lowercase())
    {
        return Err(ApiError::validation(format!(
            "poll {id} has an option {text:?} already"
        )));
    }
    let now_ms = crate::time::now_millis();
    if poll.is_closed(now_ms) {
        return Err(closed(&poll));
    }
    let option = PollOption {
        id: option_id(),
        text,
    };
    let spec = db_store::polls::option_added(
        serde_json::to_value(&option).map_err(ApiError::internal)?,
        &option.id,
        MAX_OPTIONS_SUGGESTED,
        now_ms,
        &crate::time::millis_to_rfc3339(now_ms),
    );
    match db.update(&poll.key(), &spec, Cond::Exists).await {
        Ok(()) => {}
        Err(DbError::ConditionFailed) => {
            return Err(match db.get::<Poll>(&poll.key()).await? {
                None => not_found(id),
                Some(now) if now.is_closed(crate::time::now_millis()) => closed(&now),
                Some(_) => ApiError::validation(format!(
                    "a poll has at most {MAX_OPTIONS_SUGGESTED} options"
                )),
            })
        }
        Err(err) => return Err(err.into()),
    }
    Ok(db.get::<Poll>(&poll.key()).await?.unwrap_or(poll))
}

/// `POST /polls/{id}/close`: its creator, the channel's owners and admins,
/// the server. `true` with the poll when this closed it.
pub async fn close(db: &Db, ctx: &Ctx, id: &PollId) -> Result<(Poll, bool), ApiError> {
    let found = find(db, ctx, id).await?;
    if !(ctx.server || found.poll.is_creator(ctx)) {
        match &found.access {
            Some(access) => access.require_moderator()?,
            None => return Err(not_found(id)),
        }
    }
    let poll = found.poll;
    if poll.closed_at.is_some() {
        return Ok((poll, false));
    }
    let spec = db_store::polls::close(&crate::time::now_rfc3339());
    match db.update(&poll.key(), &spec, Cond::Exists).await {
        Ok(()) => {}
        Err(DbError::ConditionFailed) => {
            let now = db
                .get::<Poll>(&poll.key())
                .await?
                .ok_or_else(|| not_found(id))?;
            return Ok((now, false));
        }
        Err(err) => return Err(err.into()),
    }
    let poll = db.get::<Poll>(&poll.key()).await?.unwrap_or(poll);
    Ok((poll, true))
}

/// The poll a send carries: its creator's, not sent before.
pub async fn for_send(db: &Db, ctx: &Ctx, id: &PollId) -> Result<Poll, ApiError> {
    let poll: Poll = db
        .get(&keys::poll(&ctx.app.app_id, id))
        .await?
        .ok_or_else(|| ApiError::validation(format!("poll {id} not found")))?;
    if !poll.is_creator(ctx) {
        return Err(ApiError::validation(format!(
            "poll {id} was made by another user; only its creator may send it"
        )));
    }
    if poll.message.is_some() {
        return Err(ApiError::validation(format!(
            "poll {id} was sent in a message already"
        )));
    }
    Ok(poll)
}

/// Closes a poll whose `closes_at` came, unless it was closed already or
/// is gone: the poll as closed, or `None`.
pub async fn close_when_due(db: &Db, task: &PollCloses) -> Result<Option<Poll>, ApiError> {
    let key = keys::poll(&task.app_id, &task.poll_id);
    let Some(poll) = db.get::<Poll>(&key).await? else {
        return Ok(None);
    };
    if poll.closed_at.is_some() || poll.closes_ms != Some(task.closes_ms) {
        return Ok(None);
    }
    let spec = db_store::polls::close(&crate::time::millis_to_rfc3339(task.closes_ms));
    match db.update(&key, &spec, Cond::Exists).await {
        Ok(()) => Ok(db.get::<Poll>(&key).await?),
        Err(DbError::ConditionFailed) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The poll of a deleted message goes with it: the poll first (then no one
/// reaches its votes), then its votes, marks and ballots.
pub async fn die(db: &Db, app: &AppId, id: &PollId) -> Result<(), ApiError> {
    db.delete(&keys::poll(app, id), Cond::Always).await?;
    let partition = keys::poll_partition(app, id);
    // `VOTE` spans the votes and the marks.
    for prefix in ["BALLOT#", "VOTE"] {
        db.delete_under(&partition, prefix).await?;
    }
    Ok(())
}
