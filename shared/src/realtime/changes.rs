//! The change log catch-up replays (`GET /sync`): every channel event but
//! new messages (the history holds those) and typing, kept for
//! [`RETENTION_SECS`] beside the channel's messages, with its audience so a
//! replay shows each user only what the socket would have. Writing one
//! costs a PutItem and an UpdateItem (the channel's `changed_ms`, so a
//! catch-up reads only channels that changed); a send costs nothing more,
//! its channel write already moves `changed_ms`.

use serde::{Deserialize, Serialize};

use super::audience::Audience;
use super::events::{payload, Event, EventBody};
use crate::db::{Cond, Entity};
use crate::error::DisplayChain;
use crate::ids::{AppId, ChannelId};
use crate::keys::{self, Key};
use crate::state::AppState;

/// How long a change is kept: a client away longer reloads instead.
pub const RETENTION_SECS: i64 = 3 * 86_400;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Change {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub event_id: String,
    pub audience: Audience,
    /// The event as sockets got it.
    pub payload: String,
    pub expires: i64,
}

impl Entity for Change {
    const TYPE: &'static str = "change";
    type Item = keys::item::Change;
    fn key(&self) -> Key<Self::Item> {
        keys::change(&self.app_id, &self.channel_id, &self.event_id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

/// Whether catch-up replays this kind of event (by variant: no rendering
/// on the path of every typing frame).
fn replayed(event: &Event) -> bool {
    !matches!(
        event.body,
        EventBody::MessageNew { .. }
            | EventBody::TypingStart { .. }
            | EventBody::TypingStop { .. }
            | EventBody::MessageFlagged { .. }
    )
}

/// Logs a channel event for catch-up. Never fails the request (logged): a
/// client that missed it live then misses it on replay too.
pub async fn record(
    state: &AppState,
    app: &AppId,
    channel: &ChannelId,
    event: &Event,
    audience: &Audience,
) {
    if !replayed(event) {
        return;
    }
    let change = Change {
        app_id: app.clone(),
        channel_id: channel.clone(),
        event_id: event.id.clone(),
        audience: audience.clone(),
        payload: String::from_utf8_lossy(&payload(event)).into_owned(),
        expires: crate::time::now_secs() + RETENTION_SECS,
    };
    let db = &state.db;
    let spec = crate::db::store::channels::changed(crate::time::now_millis());
    let channel_key = keys::channel(app, channel);
    let (logged, marked) = futures::join!(
        db.put(&change, Cond::Always),
        db.update(&channel_key, &spec, Cond::Exists)
    );
    if let Err(err) = logged {
        tracing::warn!(error = %DisplayChain(&err), %channel, event_id = %event.id, "could not log a change for catch-up");
    }
    match marked {
        // A later change already moved the mark.
        Ok(()) | Err(crate::db::DbError::ConditionFailed) => {}
        Err(err) => {
            tracing::warn!(error = %DisplayChain(&err), %channel, "could not mark a channel changed for catch-up");
        }
    }
}
