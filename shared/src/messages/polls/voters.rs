//! One voter's votes across the app's polls, found through their index
//! (GSI1, [`keys::voter_partition`]): export lists them, erasure removes
//! them poll by poll, each poll's ballot last.

use serde::Deserialize;

use super::{failed, transact_busy, votes_in, Vote};
use crate::db::{store as db_store, Cond, Db, DbError, Entity, Page, PageRequest, Query, SortCond};
use crate::error::ApiError;
use crate::ids::{AppId, PollId, UserId};
use crate::keys;

/// A voter's ballot in one poll, as their index finds it.
#[derive(Deserialize)]
struct Ballot {
    poll_id: PollId,
}

/// The voter's votes in every poll, oldest first.
pub async fn votes(db: &Db, app: &AppId, user: &UserId) -> Result<Vec<Vote>, DbError> {
    let partition = keys::voter_partition(app, user);
    db.run_all(Query {
        index: Some(crate::db::table::GSI1),
        pk: &partition,
        sk: SortCond::Prefix(keys::VOTE_PREFIX),
        page: PageRequest {
            limit: 1000,
            cursor: None,
            forward: true,
        },
        filter: None,
    })
    .await
}

/// Removes the voter's votes in the next poll they hold a ballot in, then
/// that ballot: how many votes went, `None` when no ballot is left. The
/// counts move whether the poll is open or closed: an erased voter's votes
/// are not counted. Run again after a failure, it picks up where it stopped
/// (the ballot goes last).
pub async fn erase_next(db: &Db, app: &AppId, user: &UserId) -> Result<Option<usize>, ApiError> {
    let partition = keys::voter_partition(app, user);
    let first: Page<Ballot> = db
        .run(&Query {
            index: Some(crate::db::table::GSI1),
            pk: &partition,
            sk: SortCond::Prefix(keys::BALLOT_PREFIX),
            page: PageRequest {
                limit: 1,
                cursor: None,
                forward: true,
            },
            filter: None,
        })
        .await?;
    let Some(ballot) = first.items.into_iter().next() else {
        return Ok(None);
    };
    let poll_id = ballot.poll_id;
    let votes = votes_in(db, app, &poll_id, user).await?;
    for vote in &votes {
        erase_vote(db, app, &poll_id, vote).await?;
    }
    db.delete(&keys::ballot(app, &poll_id, user), Cond::Always)
        .await?;
    Ok(Some(votes.len()))
}

/// One vote, its mark and its count; without the count when the poll or
/// its option is gone.
async fn erase_vote(db: &Db, app: &AppId, poll: &PollId, vote: &Vote) -> Result<(), ApiError> {
    const POLL: usize = 2;
    let writes = |counted: bool| {
        let mut writes = vec![
            db.delete_write(&vote.key(), Cond::Always)?,
            db.delete_write(&vote.mark().key(), Cond::Always)?,
        ];
        if counted {
            let now = crate::time::now_rfc3339();
            let counts = db_store::polls::uncounted(&vote.option_id, &now);
            writes.push(db.update_write(&keys::poll(app, poll), &counts, Cond::Exists)?);
        }
        Ok(writes)
    };
    match transact_busy(db, || writes(true)).await {
        Err(DbError::TransactionCanceled(reasons)) if failed(&reasons, POLL) => {
            transact_busy(db, || writes(false)).await?;
        }
        other => other?,
    }
    Ok(())
}
