//! Scheduled messages: scheduling one (over REST or the socket), and its
//! send when due, as its author would make it.

use std::sync::Arc;

use crate::acting::Ctx;
use crate::error::ApiError;
use crate::messages::scheduled::{self, Claimed, Due, ScheduledMessage};
use crate::messages::SendMessage;
use crate::ratelimit::{Group, Subject};
use crate::realtime::publish;
use crate::state::AppState;

/// A send with `scheduled_at`: counted as a write now (the send counts
/// itself when due), checked, stored and queued.
pub async fn schedule(
    state: &AppState,
    ctx: &Ctx,
    input: SendMessage,
) -> Result<ScheduledMessage, ApiError> {
    if let (false, Some(user)) = (ctx.server, &ctx.user) {
        let app = &ctx.app;
        state
            .limiter
            .admit(
                &app.app_id,
                &app.settings.rate_limits,
                &Subject::User(user.clone()),
                Group::Write,
            )
            .await
            .map_err(|(refusal, _)| refusal)?;
    }
    scheduled::schedule(state, ctx, input).await
}

/// Sends a due message with every rule evaluated now. A refusal (a 4xx the
/// author would have got) leaves it `failed` and tells the author's
/// sockets; anything else fails the task, which the queue runs again.
pub async fn run_due(state: &AppState, task: &Due) -> Result<(), ApiError> {
    let db = &state.db;
    let Claimed::Send(item) = scheduled::claim(db, task).await? else {
        return Ok(());
    };
    let Some(app) = state.apps.by_id(db, &task.app_id).await? else {
        // The app is gone, and its data with it.
        return scheduled::sent(db, &item).await;
    };
    let author = crate::users::get_user(db, &task.app_id, &task.user_id).await?;
    let ctx = Ctx {
        app,
        server: false,
        user: Some(task.user_id.clone()),
        me: author.clone().map(Arc::new),
    };
    let sent = match author {
        None => Err(ApiError::not_found("the author no longer exists")),
        Some(user) if user.deactivated_at.is_some() => {
            Err(ApiError::forbidden("the author is deactivated"))
        }
        Some(_) => crate::actions::messages::send(state, &ctx, item.input.clone())
            .await
            .map(|_| ()),
    };
    match sent {
        Ok(()) => scheduled::sent(db, &item).await,
        Err(refused) if refused.status().is_client_error() => {
            tracing::info!(app = %task.app_id, scheduled = %task.id, code = refused.code(), "scheduled message refused");
            let failed = scheduled::failed(db, *item, &refused).await?;
            publish::scheduled_failed(state, &ctx, &failed).await;
            Ok(())
        }
        Err(other) => Err(other),
    }
}
