//! Blocking: a user hides another user of the app from themself. The set
//! lives on the blocker's user item (see [`crate::users::User::blocked`]);
//! what it hides is decided where each thing is read: history, search and
//! unread counts through the acting user's item, events and pushes through
//! the listeners' items that fan-out and push read anyway. The blocked user
//! is never told.

use serde::Serialize;

use crate::db::{Cond, Db, DbError, Page, PageRequest};
use crate::error::ApiError;
use crate::ids::{AppId, UserId};
use crate::keys;
use crate::users::{self, User};

/// Users one user may block: the set rides on every read of their item, and
/// unread counts filter on it in one expression.
pub const MAX_BLOCKS: usize = 250;

/// Tries of a block or unblock that lost a race with another change to the
/// blocker's item.
const TRIES: usize = 3;

/// A blocked user, as the blocker lists them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlockView {
    pub user_id: UserId,
    pub created_at: String,
}

/// Blocks `target` for `blocker`; `false` when it was blocked already.
pub async fn block(
    db: &Db,
    app: &AppId,
    blocker: &UserId,
    target: &UserId,
) -> Result<(BlockView, bool), ApiError> {
    if blocker == target {
        return Err(ApiError::validation("a user cannot block themself"));
    }
    users::require_user(db, app, target).await?;
    change(db, app, blocker, |user| {
        if let Some(at) = user.blocked.get(target) {
            return Ok(Some(BlockView {
                user_id: target.clone(),
                created_at: at.clone(),
            }));
        }
        if user.blocked.len() >= MAX_BLOCKS {
            return Err(ApiError::conflict(format!(
                "a user blocks at most {MAX_BLOCKS} users; unblock one first"
            )));
        }
        user.blocked
            .insert(target.clone(), crate::time::now_rfc3339());
        Ok(None)
    })
    .await
    .map(|(user, existing)| match existing {
        Some(view) => (view, false),
        None => (
            BlockView {
                user_id: target.clone(),
                created_at: user.blocked.get(target).cloned().unwrap_or_default(),
            },
            true,
        ),
    })
}

/// Unblocks `target`; 404 when `blocker` does not block them.
pub async fn unblock(
    db: &Db,
    app: &AppId,
    blocker: &UserId,
    target: &UserId,
) -> Result<(), ApiError> {
    change(db, app, blocker, |user| {
        user.blocked
            .remove(target)
            .map(|_| None::<()>)
            .ok_or_else(|| ApiError::not_found(format!("you do not block {target}")))
    })
    .await
    .map(|_| ())
}

/// Whom `blocker` blocks, by user id, `page.limit` at a time; the cursor is
/// the last id of the page.
pub async fn list(
    db: &Db,
    app: &AppId,
    blocker: &UserId,
    page: &PageRequest,
) -> Result<Page<BlockView>, ApiError> {
    let user = users::require_user(db, app, blocker).await?;
    let limit = usize::try_from(page.limit).unwrap_or(25);
    let after = page.cursor.as_deref();
    let mut items: Vec<BlockView> = user
        .blocked
        .iter()
        .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
        .take(limit + 1)
        .map(|(id, at)| BlockView {
            user_id: id.clone(),
            created_at: at.clone(),
        })
        .collect();
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|b| b.user_id.to_string())
    });
    Ok(Page {
        items,
        next: next.flatten(),
    })
}

/// The refusal of a direct channel with a user who blocks the sender.
pub fn direct_refused() -> ApiError {
    ApiError::forbidden("this user does not accept direct messages from you")
}

/// Refuses `sender` in a direct channel whose other member blocks them: two
/// small reads, only for direct channels.
pub async fn check_direct(
    db: &Db,
    app: &AppId,
    channel: &crate::channels::Channel,
    sender: &UserId,
) -> Result<(), ApiError> {
    if channel.kind != crate::channels::ChannelType::Direct {
        return Ok(());
    }
    let members: Page<crate::channels::Member> = db
        .query(
            &keys::channel_partition(app, &channel.id),
            keys::MEMBER_PREFIX,
            &PageRequest {
                limit: 3,
                cursor: None,
                forward: true,
            },
        )
        .await?;
    let peers: Vec<UserId> = members
        .items
        .into_iter()
        .map(|m| m.user_id)
        .filter(|u| u != sender)
        .collect();
    let peers = users::get_users(db, app, &peers).await?;
    if peers.iter().any(|p| p.blocked.contains_key(sender)) {
        return Err(direct_refused());
    }
    Ok(())
}

/// Applies `edit` to the blocker's item and writes its block set back, if
/// nothing changed the item meanwhile (then it reads it again). `edit`
/// returns `Some` to stop without writing.
async fn change<T>(
    db: &Db,
    app: &AppId,
    blocker: &UserId,
    edit: impl Fn(&mut User) -> Result<Option<T>, ApiError>,
) -> Result<(User, Option<T>), ApiError> {
    for _ in 0..TRIES {
        let mut user = users::require_user(db, app, blocker).await?;
        if let Some(done) = edit(&mut user)? {
            return Ok((user, Some(done)));
        }
        let map =
            serde_json::to_value(&user.blocked).map_err(|e| ApiError::Internal(Box::new(e)))?;
        let spec = crate::db::store::users::blocked(map);
        match db
            .update(
                &keys::user(app, blocker),
                &spec,
                Cond::Version(user.version),
            )
            .await
        {
            Ok(()) => return Ok((user, None)),
            Err(DbError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::conflict(
        "the user changed while this request ran; retry",
    ))
}
