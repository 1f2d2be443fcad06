//! A link preview coming in: the message gains its `link` attachment and
//! its audience gets `message.updated`.

use crate::acting::Ctx;
use crate::error::ApiError;
use crate::messages::previews::{self, LinkJob};
use crate::realtime::publish::{self, MessageChange};
use crate::state::AppState;

pub async fn run(state: &AppState, job: &LinkJob) -> Result<(), ApiError> {
    let Some(app) = state.apps.by_id(&state.db, &job.app_id).await? else {
        return Ok(());
    };
    let Some(message) = previews::enrich(state, job).await? else {
        return Ok(());
    };
    let ctx = Ctx::server(app);
    publish::message(state, &ctx, MessageChange::Updated, &message).await;
    tracing::info!(app = %job.app_id, message = %job.message_id, "link previewed");
    Ok(())
}
