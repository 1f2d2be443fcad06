//! Who is acting in a request: the app, whether with a server token, and
//! the acting user. Low in the crate, so models can take it; authentication
//! builds it (`auth.rs`).

use std::sync::Arc;

use crate::apps::App;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::users;

/// Who is acting: the app, whether with a server token, and the acting user
/// (the token's user, or the `user_id` a server token names).
#[derive(Clone, Debug)]
pub struct Ctx {
    pub app: Arc<App>,
    pub server: bool,
    pub user: Option<UserId>,
    /// The acting user's item when this request already read it (a user
    /// token's authentication): their own messages render without reading
    /// it again.
    pub me: Option<Arc<users::User>>,
}

impl Ctx {
    /// The app's server acting for no one: what background work (a due
    /// task, a preview) publishes as.
    pub fn server(app: Arc<App>) -> Self {
        Self {
            app,
            server: true,
            user: None,
            me: None,
        }
    }

    /// Whether the acting user blocks `author`: known when this request read
    /// the acting user's item (a user token, a socket frame). A server token
    /// sees everything, like it sees shadow-banned messages.
    pub fn blocks(&self, author: &UserId) -> bool {
        self.me
            .as_ref()
            .is_some_and(|me| me.blocked.contains_key(author))
    }

    /// Everyone the acting user blocks (see [`Ctx::blocks`]).
    pub fn blocked(&self) -> Vec<UserId> {
        self.me
            .as_ref()
            .map(|me| me.blocked.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The acting user, required (a server token must name one).
    pub fn require_user(&self) -> Result<&UserId, ApiError> {
        self.user.as_ref().ok_or_else(|| {
            ApiError::validation("user_id is required when acting with a server token")
        })
    }

    /// The acting user as themselves: a server token naming a user reads
    /// and writes as that user would (their memberships, their messages).
    pub fn as_user(&self) -> Result<Ctx, ApiError> {
        let user = self.require_user()?.clone();
        Ok(Ctx {
            server: false,
            user: Some(user),
            ..self.clone()
        })
    }
}
