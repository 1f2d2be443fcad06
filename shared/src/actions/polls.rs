//! Polls: votes, suggested options and closing, each told to the poll's
//! channel.

use crate::channels::Ctx;
use crate::error::ApiError;
use crate::ids::PollId;
use crate::messages::polls::{self, OptionInput, Poll, PollCloses, PollInput, VoteInput, Voted};
use crate::realtime::publish::{self, PollChange};
use crate::state::AppState;

/// Makes a poll; one with `closes_at` is closed then by the scheduler (a
/// queue that cannot be reached costs the poll its `poll.closed` event, not
/// its closing: votes are refused from then on either way).
pub async fn create(state: &AppState, ctx: &Ctx, input: PollInput) -> Result<Poll, ApiError> {
    let poll = polls::create(&state.db, ctx, input).await?;
    if let Some(task) = polls::closes(&poll) {
        if let Err(err) = state.scheduler.schedule(&[task]).await {
            tracing::warn!(error = %crate::error::DisplayChain(&err), poll = %poll.id, "poll's closing not queued");
        }
    }
    Ok(poll)
}

/// A poll's `closes_at` came: closed, and told.
pub async fn run_closes(state: &AppState, task: &PollCloses) -> Result<(), ApiError> {
    let Some(poll) = polls::close_when_due(&state.db, task).await? else {
        return Ok(());
    };
    let Some(app) = state.apps.by_id(&state.db, &task.app_id).await? else {
        return Ok(());
    };
    let ctx = Ctx::server(app);
    publish::poll(state, &ctx, PollChange::Closed, &poll).await;
    Ok(())
}

/// Casts a vote; a replaced vote is told as removed first. A vote the
/// caller had already cast tells nobody.
pub async fn vote(
    state: &AppState,
    ctx: &Ctx,
    id: &PollId,
    input: VoteInput,
) -> Result<Voted, ApiError> {
    let voted = polls::vote(&state.db, ctx, id, input).await?;
    if voted.created {
        if let Some(old) = &voted.replaced {
            publish::poll(state, ctx, PollChange::VoteRemoved(old), &voted.poll).await;
        }
        publish::poll(state, ctx, PollChange::VoteCast(&voted.vote), &voted.poll).await;
    }
    Ok(voted)
}

pub async fn unvote(
    state: &AppState,
    ctx: &Ctx,
    id: &PollId,
    vote_id: &str,
) -> Result<Poll, ApiError> {
    let (poll, vote) = polls::unvote(&state.db, ctx, id, vote_id).await?;
    publish::poll(state, ctx, PollChange::VoteRemoved(&vote), &poll).await;
    Ok(poll)
}

pub async fn suggest(
    state: &AppState,
    ctx: &Ctx,
    id: &PollId,
    input: OptionInput,
) -> Result<Poll, ApiError> {
    let poll = polls::suggest(&state.db, ctx, id, input).await?;
    publish::poll(state, ctx, PollChange::Updated, &poll).await;
    Ok(poll)
}

/// Closes a poll; told when this closed it.
pub async fn close(state: &AppState, ctx: &Ctx, id: &PollId) -> Result<Poll, ApiError> {
    let (poll, closed) = polls::close(&state.db, ctx, id).await?;
    if closed {
        publish::poll(state, ctx, PollChange::Closed, &poll).await;
    }
    Ok(poll)
}
