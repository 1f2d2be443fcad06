//! Firebase Cloud Messaging, HTTP v1: an OAuth2 access token obtained by
//! signing the service account's JWT (RS256) at Google's token endpoint
//! (cached until shortly before it expires), then one `messages:send` per
//! device token.

use crate::outbound::guard::Destination;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::credentials::FirebaseCredentials;
use super::{Notification, PushError, Sent};
use crate::state::AppState;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const TIMEOUT: Duration = Duration::from_secs(10);

/// Access tokens by token endpoint and service account (they live 60
/// minutes).
fn tokens() -> &'static moka::sync::Cache<String, String> {
    static TOKENS: super::TokenCache = std::sync::OnceLock::new();
    super::token_cache(&TOKENS)
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// Which cached token serves these credentials at this token endpoint.
fn cache_key(state: &AppState, creds: &FirebaseCredentials) -> String {
    format!(
        "{}\n{}\n{}",
        state.config.fcm_token_url,
        creds.client_email,
        creds.private_key_id.as_deref().unwrap_or("")
    )
}

/// The service account's access token: cached, or obtained now.
async fn access_token(state: &AppState, creds: &FirebaseCredentials) -> Result<String, PushError> {
    let cache_key = cache_key(state, creds);
    if let Some(token) = tokens().get(&cache_key) {
        return Ok(token);
    }
    let token_url = &state.config.fcm_token_url;
    let now = crate::time::now_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = creds.private_key_id.clone();
    let claims = Claims {
        iss: &creds.client_email,
        scope: SCOPE,
        aud: token_url,
        iat: now,
        exp: now + 3600,
    };
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(creds.private_key.as_bytes())?;
    let assertion = jsonwebtoken::encode(&header, &claims, &key)?;
    let answer = state
        .outbound
        .post(token_url, Destination::Provider)?
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .timeout(TIMEOUT)
        .send()
        .await?;
    if !answer.status().is_success() {
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        return Err(PushError::Auth(format!(
            "token endpoint: HTTP {status}: {body}"
        )));
    }
    let token = answer.json::<TokenAnswer>().await?.access_token;
    tokens().insert(cache_key, token.clone());
    Ok(token)
}

/// One push to one registration token.
pub async fn send(
    state: &AppState,
    creds: &FirebaseCredentials,
    token: &str,
    n: &Notification,
) -> Result<Sent, PushError> {
    let access = access_token(state, creds).await?;
    let data: serde_json::Map<String, serde_json::Value> = n
        .data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let body = json!({
        "message": {
            "token": token,
            "notification": { "title": n.title, "body": n.body },
            "data": data,
            "android": { "notification": { "notification_count": n.badge } },
            "apns": { "payload": { "aps": { "badge": n.badge } } },
        }
    });
    let url = format!(
        "{}/v1/projects/{}/messages:send",
        state.config.fcm_url.trim_end_matches('/'),
        creds.project_id
    );
    let answer = state
        .outbound
        .post(&url, Destination::Provider)?
        .bearer_auth(&access)
        .json(&body)
        .timeout(TIMEOUT)
        .send()
        .await?;
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    Ok(match status {
        200..=299 => Sent::Delivered,
        // UNREGISTERED: the app was uninstalled or the token expired.
        404 => Sent::Dead,
        400 if text.contains("UNREGISTERED") => Sent::Dead,
        401 => {
            // An access token revoked or expired early: the next attempt
            // obtains a new one.
            tokens().invalidate(&cache_key(state, creds));
            Sent::Retry
        }
        429 | 500 | 503 => Sent::Retry,
        _ => Sent::Failed(format!("HTTP {status}: {text}")),
    })
}
