//! A socket lives only as long as its user may act: revoking a user's tokens
//! or deactivating the user closes their sockets at once through the
//! management API (API Gateway then runs `$disconnect`), and every frame
//! re-checks the user as every REST request does.

use super::connections::{self, Connection};
use super::{online, presence};
use crate::auth;
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ConnectionId, UserId};
use crate::state::AppState;
use crate::users::{self, User};

/// Whether the socket's user may still act (the rule of its token's
/// `iat`); the user as read for this frame.
pub async fn check(state: &AppState, connection: &Connection) -> Result<User, ApiError> {
    let user = users::get_user(&state.db, &connection.app_id, &connection.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("unknown_user", "the socket's user no longer exists")
        })?;
    auth::check_user_state(&user, connection.token_issued_ms)?;
    Ok(user)
}

/// Closes every open socket of the user (as the user item lists them).
pub async fn end_user(state: &AppState, app: &AppId, user: &User) {
    for id in connections::ids_of(&user.connections) {
        end(state, app, &id).await;
    }
}

/// Forgets the user's connections that API Gateway no longer has (their
/// `$disconnect` was lost): one `GetConnection` each.
pub async fn prune(state: &AppState, app: &AppId, user: &UserId) -> Result<(), ApiError> {
    for id in connections::of_user(&state.db, app, user).await? {
        if state.notifier.is_gone(&id).await {
            connections::remove(&state.db, app, user, &id).await?;
        }
    }
    Ok(())
}

/// Closes one socket and forgets it: no event reaches it after this returns.
pub async fn end(state: &AppState, app: &AppId, id: &ConnectionId) {
    state.notifier.close(id).await;
    // `$disconnect` does the same when API Gateway delivers it; doing it here
    // stops fan-out to the connection even if that event is late or lost.
    if let Err(err) = disconnect(state, id).await {
        tracing::warn!(error = %DisplayChain(&err), %app, connection = %id, "could not forget a closed connection");
    }
}

/// Records presence and tells the user's peers.
pub(crate) async fn announce(
    state: &AppState,
    app: &crate::apps::App,
    user: &crate::ids::UserId,
    online: bool,
) {
    let result = async {
        let app_id = &app.app_id;
        let last_active = presence::set(&state.db, app_id, user, online).await?;
        let event = presence::event(user, online, &last_active);
        crate::webhooks::enqueue(state, app, &event).await;
        let peers = presence::peers(&state.db, app, user).await?;
        state.notifier.to_users(app_id, &peers, &event).await;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(err) = result {
        tracing::warn!(error = %DisplayChain(&err), "presence update failed");
    }
}

/// Forgets a closed connection; the user's last one marks them offline.
pub(crate) async fn disconnect(state: &AppState, id: &ConnectionId) -> Result<(), ApiError> {
    let Some(connection) = connections::get(&state.db, id).await? else {
        return Ok(());
    };
    connections::remove(&state.db, &connection.app_id, &connection.user_id, id).await?;
    let open = connections::of_user(&state.db, &connection.app_id, &connection.user_id).await?;
    if open.is_empty() {
        // Peers are found through the online index: tell them first. The app
        // (for its webhook) is cached in a warm process.
        if let Some(app) = state.apps.by_id(&state.db, &connection.app_id).await? {
            announce(state, &app, &connection.user_id, false).await;
        }
        online::leave_all(&state.db, &connection.app_id, &connection.user_id).await?;
    }
    Ok(())
}
