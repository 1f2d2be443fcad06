//! Local FCM and APNs: emulators of the real protocols that check what the
//! real services check, and record what they accept (`GET /dev/pushes`).
//!
//! - FCM: `POST /token` takes the OAuth2 JWT-bearer grant (an RS256 JWT
//!   signed by the service account's key, for the messaging scope, with the
//!   token endpoint as audience) and issues an access token;
//!   `POST /v1/projects/{project}/messages:send` needs that bearer token and
//!   FCM v1's message shape (a token, string-only `data`).
//! - APNs: HTTP/2 only, `POST /3/device/{token}` with an ES256 provider JWT
//!   (`kid` the key id, `iss` the team), the app's bundle id as
//!   `apns-topic`, a push type and an `aps` payload.
//!
//! Both know the development keys in `local/dev-keys/` (the accounts
//! Google and Apple would know); other keys are refused. Device tokens
//! starting with `dead` are unregistered (FCM 404 `UNREGISTERED`, APNs 410),
//! `bad` is malformed (APNs 400 `BadDeviceToken`) and `throttled` is
//! throttled once (429), so each answer can be seen locally.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chat_shared::push::credentials::{ApnCredentials, FirebaseCredentials};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

const FCM_PROJECT: &str = "chat-local";
const FCM_CLIENT_EMAIL: &str = "push@chat-local.iam.gserviceaccount.com";
const FCM_KEY_ID: &str = "chat-local-dev-key";
const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const APNS_TEAM: &str = "DEVTEAM001";
const APNS_KEY_ID: &str = "DEVKEY0001";
const APNS_TOPIC: &str = "com.example.chat";

/// The development app's service account (its private key signs).
pub fn dev_firebase() -> FirebaseCredentials {
    FirebaseCredentials {
        project_id: FCM_PROJECT.into(),
        client_email: FCM_CLIENT_EMAIL.into(),
        private_key: include_str!("../dev-keys/fcm-private.pem").into(),
        private_key_id: Some(FCM_KEY_ID.into()),
    }
}

/// The development app's APNs key.
pub fn dev_apn() -> ApnCredentials {
    ApnCredentials {
        team_id: APNS_TEAM.into(),
        key_id: APNS_KEY_ID.into(),
        private_key: include_str!("../dev-keys/apns-private.p8").into(),
        bundle_id: APNS_TOPIC.into(),
        production: false,
    }
}

/// One push an emulator accepted.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    /// `firebase` or `apn`.
    pub provider: &'static str,
    pub device_token: String,
    pub title: Option<String>,
    pub body: Option<String>,
    pub badge: Option<u64>,
    /// FCM's `data`, or APNs' custom keys.
    pub data: Value,
    pub received_at: String,
}

/// What the emulators accepted, oldest first.
#[derive(Clone, Default)]
pub struct Pushes(Arc<Mutex<Vec<Recorded>>>);

impl Pushes {
    pub fn list(&self) -> Vec<Recorded> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn record(&self, push: Recorded) {
        if let Ok(mut list) = self.0.lock() {
            list.push(push);
        }
    }
}

/// The running emulators.
pub struct Emulators {
    /// FCM's base (`CHAT_FCM_URL`).
    pub fcm_url: String,
    /// The OAuth2 token endpoint (`CHAT_FCM_TOKEN_URL`).
    pub fcm_token_url: String,
    /// APNs' base (`CHAT_APNS_URL`), HTTP/2 without TLS.
    pub apns_url: String,
    pub pushes: Pushes,
}

#[derive(Clone)]
struct Emu {
    pushes: Pushes,
    token_url: String,
    access_tokens: Arc<Mutex<HashSet<String>>>,
    /// Device tokens already throttled once.
    throttled: Arc<Mutex<HashSet<String>>>,
}

impl Emu {
    /// `true` the first time a `throttled…` token is seen.
    fn throttle(&self, token: &str) -> bool {
        token.starts_with("throttled")
            && self
                .throttled
                .lock()
                .is_ok_and(|mut seen| seen.insert(token.to_string()))
    }
}

/// Starts both on loopback ports; they stop with `stop`.
pub async fn start(stop: watch::Receiver<bool>) -> std::io::Result<Emulators> {
    let fcm_listener = TcpListener::bind("127.0.0.1:0").await?;
    let apns_listener = TcpListener::bind("127.0.0.1:0").await?;
    let fcm_url = format!("http://{}", fcm_listener.local_addr()?);
    let apns_url = format!("http://{}", apns_listener.local_addr()?);
    let emu = Emu {
        pushes: Pushes::default(),
        token_url: format!("{fcm_url}/token"),
        access_tokens: Arc::default(),
        throttled: Arc::default(),
    };
    let fcm = Router::new()
        .route("/token", post(fcm_token))
        .route("/v1/projects/{project}/messages:send", post(fcm_send))
        .with_state(emu.clone());
    let mut fcm_stop = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(fcm_listener, fcm)
            .with_graceful_shutdown(async move {
                let _ = fcm_stop.wait_for(|s| *s).await;
            })
            .await;
    });
    let apns = Router::new()
        .route("/3/device/{token}", post(apns_send))
        .with_state(emu.clone());
    tokio::spawn(serve_http2_only(apns_listener, apns, stop));
    Ok(Emulators {
        fcm_token_url: emu.token_url.clone(),
        fcm_url,
        apns_url,
        pushes: emu.pushes,
    })
}

/// APNs speaks HTTP/2 and nothing else (here without TLS: prior knowledge).
async fn serve_http2_only(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = Builder::new(TokioExecutor::new())
                .http2_only()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn google_error(status: StatusCode, name: &str, detail: Option<&str>) -> Response {
    let mut error = json!({ "code": status.as_u16(), "message": name, "status": name });
    if let Some(code) = detail {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": code,
        }]);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// The JWT-bearer grant: the assertion must be signed by the service
/// account's key, name it as issuer, ask for messaging and be meant for
/// this endpoint.
async fn fcm_token(State(emu): State<Emu>, body: Bytes) -> Response {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let refuse = |why: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": why })),
        )
            .into_response()
    };
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("unsupported grant_type".into());
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("no assertion".into());
    };
    let Ok(key) = DecodingKey::from_rsa_pem(include_bytes!("../dev-keys/fcm-public.pem")) else {
        return refuse("emulator key unreadable".into());
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&emu.token_url]);
    validation.set_issuer(&[FCM_CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let claims = match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(err) => return refuse(format!("invalid JWT signature or claims: {err}")),
    };
    let scopes = claims["scope"].as_str().unwrap_or("");
    if !scopes.split(' ').any(|s| s == FCM_SCOPE) {
        return refuse("the assertion does not ask for the messaging scope".into());
    }
    let token = format!("ya29.emulator-{}", uuid::Uuid::new_v4().simple());
    if let Ok(mut tokens) = emu.access_tokens.lock() {
        tokens.insert(token.clone());
    }
    Json(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

async fn fcm_send(
    State(emu): State<Emu>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let known = emu
        .access_tokens
        .lock()
        .is_ok_and(|tokens| tokens.contains(bearer));
    if !known {
        return google_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", None);
    }
    if project != FCM_PROJECT {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            Some("SENDER_ID_MISMATCH"),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
        );
    };
    let message = &request["message"];
    let token = message["token"].as_str().unwrap_or("");
    let data_ok = message["data"]
        .as_object()
        .is_none_or(|data| data.values().all(Value::is_string));
    if token.is_empty() || !data_ok {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
        );
    }
    if token.starts_with("dead") {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", Some("UNREGISTERED"));
    }
    if emu.throttle(token) {
        return google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            Some("QUOTA_EXCEEDED"),
        );
    }
    emu.pushes.record(Recorded {
        provider: "firebase",
        device_token: token.to_string(),
        title: message["notification"]["title"]
            .as_str()
            .map(str::to_string),
        body: message["notification"]["body"].as_str().map(str::to_string),
        badge: message["android"]["notification"]["notification_count"].as_u64(),
        data: message["data"].clone(),
        received_at: chat_shared::time::now_rfc3339(),
    });
    let name = format!(
        "projects/{project}/messages/{}",
        uuid::Uuid::new_v4().simple()
    );
    Json(json!({ "name": name })).into_response()
}

fn apns_error(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "reason": reason }))).into_response()
}

/// The provider JWT: ES256 with the key's id, issued by the team, at most an
/// hour old.
fn apns_jwt_ok(headers: &HeaderMap) -> bool {
    let Some(jwt) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bearer "))
    else {
        return false;
    };
    let Ok(header) = jsonwebtoken::decode_header(jwt) else {
        return false;
    };
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(APNS_KEY_ID) {
        return false;
    }
    let Ok(key) = DecodingKey::from_ec_pem(include_bytes!("../dev-keys/apns-public.pem")) else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[APNS_TEAM]);
    validation.set_required_spec_claims(&["iss", "iat"]);
    validation.validate_exp = false;
    let Ok(data) = jsonwebtoken::decode::<Value>(jwt, &key, &validation) else {
        return false;
    };
    let age = chat_shared::time::now_secs() - data.claims["iat"].as_i64().unwrap_or(0);
    (-60..=3600).contains(&age)
}

async fn apns_send(
    State(emu): State<Emu>,
    Path(token): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if version != Version::HTTP_2 {
        return apns_error(StatusCode::BAD_REQUEST, "BadRequest");
    }
    if !apns_jwt_ok(&headers) {
        return apns_error(StatusCode::FORBIDDEN, "InvalidProviderToken");
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("apns-topic") != Some(APNS_TOPIC) {
        return apns_error(StatusCode::BAD_REQUEST, "BadTopic");
    }
    if !matches!(header("apns-push-type"), Some("alert" | "background")) {
        return apns_error(StatusCode::BAD_REQUEST, "InvalidPushType");
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return apns_error(StatusCode::BAD_REQUEST, "PayloadEmpty");
    };
    if !payload["aps"].is_object() {
        return apns_error(StatusCode::BAD_REQUEST, "PayloadEmpty");
    }
    if token.starts_with("dead") {
        let at = chat_shared::time::now_millis();
        return (
            StatusCode::GONE,
            Json(json!({ "reason": "Unregistered", "timestamp": at })),
        )
            .into_response();
    }
    if token.starts_with("bad") {
        return apns_error(StatusCode::BAD_REQUEST, "BadDeviceToken");
    }
    if emu.throttle(&token) {
        return apns_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    }
    let aps = &payload["aps"];
    let mut data = payload.clone();
    if let Some(map) = data.as_object_mut() {
        map.remove("aps");
    }
    emu.pushes.record(Recorded {
        provider: "apn",
        device_token: token,
        title: aps["alert"]["title"].as_str().map(str::to_string),
        body: aps["alert"]["body"].as_str().map(str::to_string),
        badge: aps["badge"].as_u64(),
        data,
        received_at: chat_shared::time::now_rfc3339(),
    });
    let id = uuid::Uuid::new_v4().to_string();
    (StatusCode::OK, [("apns-id", id)]).into_response()
}
