//! Authentication: the app's API key plus an HS256 JWT signed with the app's
//! secret. One axum extractor, [`Caller`], serves every router; the WebSocket
//! `$connect` route calls [`authenticate`] with the same rules.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::acting::Ctx;
use crate::apps::App;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::state::AppState;
use crate::users;

pub const API_KEY_HEADER: &str = "x-api-key";

/// The claims of both token kinds. A server token has `server: true`; a user
/// token has `user_id`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Not before (epoch seconds): refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// Clock skew tolerated on `exp`, `nbf` and a future `iat`, in seconds.
pub const CLOCK_LEEWAY_SECS: u64 = 5;

fn sign(secret: &str, claims: &Claims) -> Result<String, ApiError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(ApiError::internal)
}

/// A token for one user; `expires_in` seconds, or no expiry.
pub fn mint_user_token(
    secret: &str,
    user_id: &UserId,
    expires_in: Option<i64>,
) -> Result<String, ApiError> {
    let now = crate::time::now_secs();
    sign(
        secret,
        &Claims {
            user_id: Some(user_id.to_string()),
            iat: Some(now),
            exp: expires_in.map(|s| now + s),
            ..Claims::default()
        },
    )
}

/// A server token: acts for the app's backend, may act for any user.
pub fn mint_server_token(secret: &str, expires_in: Option<i64>) -> Result<String, ApiError> {
    let now = crate::time::now_secs();
    sign(
        secret,
        &Claims {
            server: true,
            iat: Some(now),
            exp: expires_in.map(|s| now + s),
            ..Claims::default()
        },
    )
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Server,
    User(UserId),
}

/// An authenticated caller, scoped to one app.
#[derive(Clone, Debug)]
pub struct Caller {
    pub app: Arc<App>,
    pub actor: Actor,
    /// The token's `iat` in epoch milliseconds, when it has one.
    pub issued_ms: Option<i64>,
    /// A user token's user, as authentication read it for this request.
    pub me: Option<Arc<users::User>>,
}

impl Caller {
    pub fn is_server(&self) -> bool {
        self.actor == Actor::Server
    }

    pub fn require_server(&self) -> Result<(), ApiError> {
        if self.is_server() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this action needs a server token"))
        }
    }

    /// True for a server token or the user themself.
    pub fn is_self_or_server(&self, user: &UserId) -> bool {
        match &self.actor {
            Actor::Server => true,
            Actor::User(me) => me == user,
        }
    }

    /// Whose rate limits a request counts against.
    pub fn subject(&self) -> crate::ratelimit::Subject {
        match &self.actor {
            Actor::User(user) => crate::ratelimit::Subject::User(user.clone()),
            Actor::Server => crate::ratelimit::Subject::Server,
        }
    }

    /// The user an action is done as: the token's user, or with a server token
    /// the `user_id` the request names.
    pub fn acting_user(&self, named: Option<&UserId>) -> Result<UserId, ApiError> {
        match (&self.actor, named) {
            (Actor::User(me), None) => Ok(me.clone()),
            (Actor::User(me), Some(named)) if named == me => Ok(me.clone()),
            (Actor::User(_), Some(_)) => Err(ApiError::forbidden(
                "a user token can only act for its own user",
            )),
            (Actor::Server, Some(named)) => Ok(named.clone()),
            (Actor::Server, None) => Err(ApiError::validation(
                "user_id is required when acting with a server token",
            )),
        }
    }
}

impl Ctx {
    /// `named` is the `user_id` of the request, used only with a server token.
    pub fn new(caller: &Caller, named: Option<&UserId>) -> Result<Self, ApiError> {
        match &caller.actor {
            Actor::Server => Ok(Self {
                app: caller.app.clone(),
                server: true,
                user: named.cloned(),
                me: None,
            }),
            Actor::User(me) => {
                if named.is_some_and(|n| n != me) {
                    return Err(ApiError::forbidden(
                        "a user token can only act for its own user",
                    ));
                }
                Ok(Self {
                    app: caller.app.clone(),
                    server: false,
                    user: Some(me.clone()),
                    me: caller.me.clone(),
                })
            }
        }
    }
}

fn refused(code: &'static str, message: &str) -> ApiError {
    ApiError::unauthorized(code, message)
}

/// Checks an API key and token against the app's secret and, for a user
/// token, the user's state. Every refusal is a 401.
pub async fn authenticate(
    state: &AppState,
    api_key: Option<&str>,
    token: Option<&str>,
) -> Result<Caller, ApiError> {
    let api_key = api_key.filter(|k| !k.is_empty()).ok_or_else(|| {
        refused(
            "missing_api_key",
            "an API key is required (X-Api-Key header or api_key query)",
        )
    })?;
    let app = state
        .apps
        .by_api_key(&state.db, api_key)
        .await?
        .ok_or_else(|| refused("invalid_api_key", "unknown API key"))?;
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| refused("missing_token", "a bearer token is required"))?;
    let claims = verify(&app.api_secret, token)?;
    let issued_ms = claims.iat.map(|s| s.saturating_mul(1000));
    if claims.server {
        return Ok(Caller {
            app,
            actor: Actor::Server,
            issued_ms,
            me: None,
        });
    }
    let user_id = claims
        .user_id
        .as_deref()
        .ok_or_else(|| refused("invalid_token", "token has neither user_id nor server"))
        .and_then(|id| {
            UserId::parse(id).map_err(|_| refused("invalid_token", "token user_id is malformed"))
        })?;
    let user = users::get_user(&state.db, &app.app_id, &user_id)
        .await?
        .ok_or_else(|| refused("unknown_user", "the token's user does not exist"))?;
    check_user_state(&user, issued_ms)?;
    Ok(Caller {
        app,
        actor: Actor::User(user_id),
        issued_ms,
        me: Some(Arc::new(user)),
    })
}

/// The user's side of a credential: refused when the user is deactivated, or
/// when their tokens were revoked after `issued_ms` (a token's `iat`, or the
/// time a socket was opened with one; unknown counts as before). REST checks
/// it on every request, the socket on every frame.
pub fn check_user_state(user: &users::User, issued_ms: Option<i64>) -> Result<(), ApiError> {
    if user.deactivated_at.is_some() {
        return Err(refused(
            "user_deactivated",
            "the token's user is deactivated",
        ));
    }
    if let Some(revoked_ms) = user.tokens_revoked_at {
        if issued_ms.is_none_or(|issued| issued < revoked_ms) {
            return Err(refused(
                "token_revoked",
                "the token was issued before the user's tokens were revoked",
            ));
        }
    }
    Ok(())
}

/// Verifies signature and expiry. Only HS256 is accepted: `alg: none` and
/// every other algorithm (including RS/ES key confusion) is refused.
pub fn verify(secret: &str, token: &str) -> Result<Claims, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = CLOCK_LEEWAY_SECS;
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|err| match err.kind() {
        ErrorKind::ExpiredSignature => refused("token_expired", "the token has expired"),
        ErrorKind::ImmatureSignature => {
            refused("token_not_yet_valid", "the token is not valid yet (nbf)")
        }
        ErrorKind::InvalidSignature => refused(
            "invalid_signature",
            "the token's signature does not match this app",
        ),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            refused("invalid_token", "only HS256 tokens are accepted")
        }
        _ => refused("invalid_token", "the token is malformed"),
    })?;
    // A token dated ahead would pass a later revocation's `iat` check.
    let latest = crate::time::now_secs().saturating_add(CLOCK_LEEWAY_SECS as i64);
    if claims.iat.is_some_and(|iat| iat > latest) {
        return Err(refused("invalid_token", "the token's iat is in the future"));
    }
    Ok(claims)
}

#[derive(Deserialize)]
struct ApiKeyQuery {
    api_key: Option<String>,
}

impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header_key = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let api_key = match header_key {
            Some(key) => Some(key),
            None => Query::<ApiKeyQuery>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|q| q.0.api_key),
        };
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let caller = authenticate(&state, api_key.as_deref(), token).await?;
        let group = crate::ratelimit::Group::of_request(&parts.method, parts.uri.path());
        let limits = &caller.app.settings.rate_limits;
        let admitted = match (&caller.actor, group) {
            // A user's send is counted by its own transaction: here only
            // refused when this instance knows the window is spent.
            (Actor::User(user), crate::ratelimit::Group::Send) => state
                .limiter
                .claim_in_send(&caller.app.app_id, limits, user)
                .map(|(_, quota)| quota),
            _ => {
                state
                    .limiter
                    .admit(&caller.app.app_id, limits, &caller.subject(), group)
                    .await
            }
        };
        let quota = match &admitted {
            Ok(quota) | Err((_, quota)) => *quota,
        };
        if let Some(slot) = parts.extensions.get::<crate::ratelimit::QuotaSlot>() {
            slot.set(quota);
        }
        admitted.map_err(|(refusal, _)| refusal)?;
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &str = "s3cret-s3cret-s3cret";

    fn code(err: ApiError) -> &'static str {
        err.code()
    }

    #[test]
    fn minted_tokens_verify() {
        let user = UserId::parse("alice").unwrap();
        let claims = verify(SECRET, &mint_user_token(SECRET, &user, Some(60)).unwrap()).unwrap();
        assert_eq!(claims.user_id.as_deref(), Some("alice"));
        assert!(!claims.server);
        let server = verify(SECRET, &mint_server_token(SECRET, None).unwrap()).unwrap();
        assert!(server.server);
    }

    #[test]
    fn refuses_wrong_key_expired_none_and_other_algs() {
        let user = UserId::parse("alice").unwrap();
        let token = mint_user_token("another-secret", &user, None).unwrap();
        assert_eq!(
            code(verify(SECRET, &token).unwrap_err()),
            "invalid_signature"
        );

        let expired = mint_user_token(SECRET, &user, Some(-3600)).unwrap();
        assert_eq!(code(verify(SECRET, &expired).unwrap_err()), "token_expired");

        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(r#"{"user_id":"alice"}"#)
        );
        assert_eq!(code(verify(SECRET, &none).unwrap_err()), "invalid_token");

        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &Claims {
                user_id: Some("alice".into()),
                ..Claims::default()
            },
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(code(verify(SECRET, &hs512).unwrap_err()), "invalid_token");
        assert_eq!(
            code(verify(SECRET, "garbage").unwrap_err()),
            "invalid_token"
        );
    }

    fn signed(claims: &Claims) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn refuses_future_iat_and_honours_nbf() {
        let now = crate::time::now_secs();
        let at = |iat: i64, nbf: Option<i64>| Claims {
            user_id: Some("alice".into()),
            iat: Some(iat),
            nbf,
            ..Claims::default()
        };
        assert_eq!(
            code(verify(SECRET, &signed(&at(now + 3600, None))).unwrap_err()),
            "invalid_token"
        );
        // Within the leeway: a backend clock a little ahead still works.
        assert!(verify(SECRET, &signed(&at(now + 2, None))).is_ok());
        assert_eq!(
            code(verify(SECRET, &signed(&at(now, Some(now + 600)))).unwrap_err()),
            "token_not_yet_valid"
        );
        assert!(verify(SECRET, &signed(&at(now, Some(now - 1)))).is_ok());
    }
}
