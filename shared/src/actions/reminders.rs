//! A reminder coming due: the user's sockets get `reminder.due` and their
//! devices a push made from the app's push template (title and body, with
//! the message's author, channel and text filled in).

use std::sync::Arc;

use crate::acting::Ctx;
use crate::error::ApiError;
use crate::keys;
use crate::messages::reminders::{self, Reminder, ReminderDue};
use crate::push::{self, Push};
use crate::realtime::publish;
use crate::state::AppState;
use crate::users::PushPreference;

/// Runs a due task: nothing when the reminder is gone or set for another
/// time; dropped when its message can no longer be read; otherwise told.
pub async fn run_due(state: &AppState, task: &ReminderDue) -> Result<(), ApiError> {
    let db = &state.db;
    let key = keys::reminder(&task.app_id, &task.user_id, &task.message_id);
    let Some(reminder) = db.get::<Reminder>(&key).await? else {
        return Ok(());
    };
    if reminder.remind_ms != Some(task.due_ms) {
        return Ok(());
    }
    let Some(app) = state.apps.by_id(db, &task.app_id).await? else {
        return Ok(());
    };
    let Some(user) = crate::users::get_user(db, &task.app_id, &task.user_id).await? else {
        return Ok(());
    };
    if user.deactivated_at.is_some() {
        return Ok(());
    }
    let ctx = Ctx {
        app: app.clone(),
        server: false,
        user: Some(task.user_id.clone()),
        me: Some(Arc::new(user.clone())),
    };
    let Some(kept) = reminders::resolve(state, &ctx, vec![reminder]).await?.pop() else {
        return Ok(());
    };
    publish::reminder_due(state, &kept).await;
    if !app.push.any() || user.push_preference == PushPreference::Off {
        return Ok(());
    }
    let author = &kept.message.user;
    let sender = author
        .display_name
        .clone()
        .or_else(|| author.username.clone())
        .unwrap_or_else(|| author.id.to_string());
    let text = kept
        .message
        .text
        .clone()
        .unwrap_or_else(|| "an attachment".to_string());
    let (title, body) = push::filled(
        &app,
        &sender,
        kept.channel_name.as_deref().unwrap_or(""),
        &text,
    );
    let push = Push {
        kind: "reminder.due".into(),
        channel_id: kept.reminder.channel_id.clone(),
        message_id: kept.reminder.message_id.clone(),
        title,
        body,
        badge: push::badges::badge(db, &task.app_id, &user).await?,
    };
    let mut report = push::Report::default();
    push::to_user(state, &app, &task.user_id, &push, &mut report).await?;
    tracing::info!(app = %task.app_id, user = %task.user_id, message = %task.message_id, delivered = report.delivered, "reminder due");
    Ok(())
}
