//! Apple Push Notification service: token-based authentication (an ES256
//! JWT from the app's `.p8` key, reused for 50 minutes as Apple asks), one
//! HTTP/2 POST per device token.

use crate::outbound::guard::Destination;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::credentials::ApnCredentials;
use super::{Notification, PushError, Sent};
use crate::state::AppState;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Provider JWTs by team and key (Apple refuses one older than an hour,
/// and one renewed more often than every 20 minutes).
fn jwts() -> &'static moka::sync::Cache<String, String> {
    static JWTS: super::TokenCache = std::sync::OnceLock::new();
    super::token_cache(&JWTS)
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

fn provider_jwt(creds: &ApnCredentials) -> Result<String, PushError> {
    let cache_key = format!("{}\n{}", creds.team_id, creds.key_id);
    if let Some(jwt) = jwts().get(&cache_key) {
        return Ok(jwt);
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(creds.key_id.clone());
    let claims = Claims {
        iss: &creds.team_id,
        iat: crate::time::now_secs(),
    };
    let key = jsonwebtoken::EncodingKey::from_ec_pem(creds.private_key.as_bytes())?;
    let jwt = jsonwebtoken::encode(&header, &claims, &key)?;
    jwts().insert(cache_key, jwt.clone());
    Ok(jwt)
}

/// One push to one device token.
pub async fn send(
    state: &AppState,
    creds: &ApnCredentials,
    token: &str,
    n: &Notification,
) -> Result<Sent, PushError> {
    let jwt = provider_jwt(creds)?;
    let base = match (&state.config.apns_url, creds.production) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, true) => "https://api.push.apple.com".to_string(),
        (None, false) => "https://api.sandbox.push.apple.com".to_string(),
    };
    let mut body = json!({
        "aps": {
            "alert": { "title": n.title, "body": n.body },
            "badge": n.badge,
            "sound": "default",
        }
    });
    for (k, v) in &n.data {
        body[*k] = json!(v);
    }
    let answer = state
        .outbound
        .post_http2(&format!("{base}/3/device/{token}"), Destination::Provider)?
        .header("authorization", format!("bearer {jwt}"))
        .header("apns-topic", &creds.bundle_id)
        .header("apns-push-type", "alert")
        .header("apns-priority", "10")
        .json(&body)
        .timeout(TIMEOUT)
        .send()
        .await?;
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    Ok(match status {
        200..=299 => Sent::Delivered,
        // Unregistered: the token is no longer active for the topic.
        410 => Sent::Dead,
        400 if text.contains("BadDeviceToken") || text.contains("DeviceTokenNotForTopic") => {
            Sent::Dead
        }
        403 if text.contains("ExpiredProviderToken") => {
            jwts().invalidate(&format!("{}\n{}", creds.team_id, creds.key_id));
            Sent::Retry
        }
        429 | 500 | 503 => Sent::Retry,
        _ => Sent::Failed(format!("HTTP {status}: {text}")),
    })
}
