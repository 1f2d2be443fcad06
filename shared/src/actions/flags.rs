//! Reports: a report is told to the app's moderators; resolving one by
//! deleting its message tells the channel.

use crate::channels::Ctx;
use crate::error::ApiError;
use crate::flags::{self, Flag, FlagAction, FlagInput};
use crate::realtime::publish::{self, MessageChange};
use crate::state::AppState;

pub async fn create(state: &AppState, ctx: &Ctx, input: FlagInput) -> Result<Flag, ApiError> {
    let (flag, _) = flags::create(&state.db, ctx, input).await?;
    publish::flagged(state, ctx, &flag).await;
    Ok(flag)
}

pub async fn resolve(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    action: FlagAction,
) -> Result<Flag, ApiError> {
    let (flag, deleted) = flags::resolve(&state.db, ctx, id, action).await?;
    if let Some(message) = &deleted {
        publish::message(state, ctx, MessageChange::Deleted, message).await;
    }
    Ok(flag)
}
