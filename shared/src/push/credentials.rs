//! An app's push provider credentials: write-only. `PATCH /app` sets them
//! (checked to parse as the key each provider signs with); `GET /app` says
//! only whether each is set.

use serde::{Deserialize, Serialize};
use validator::Validate;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushCredentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firebase: Option<FirebaseCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apn: Option<ApnCredentials>,
}

impl PushCredentials {
    pub fn any(&self) -> bool {
        self.firebase.is_some() || self.apn.is_some()
    }

    pub fn view(&self) -> PushConfigured {
        PushConfigured {
            firebase: self.firebase.is_some(),
            apn: self.apn.is_some(),
        }
    }
}

/// Which providers an app can push through (`GET /app`; never the keys).
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct PushConfigured {
    pub firebase: bool,
    pub apn: bool,
}

/// A Firebase service account: the JSON key file as Google gives it (its
/// other fields are ignored). Pushes go through FCM HTTP v1 with an OAuth2
/// access token obtained by signing a JWT with this key (RS256).
#[derive(Clone, Debug, Serialize, Deserialize, Validate, PartialEq, Eq, utoipa::ToSchema)]
pub struct FirebaseCredentials {
    #[validate(length(min = 1, max = 128))]
    pub project_id: String,
    #[validate(length(min = 3, max = 256))]
    pub client_email: String,
    /// PEM, PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    #[validate(length(min = 1, max = 8192))]
    pub private_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 128))]
    pub private_key_id: Option<String>,
}

/// APNs token-based authentication: the `.p8` key, its id, the team and
/// the app's bundle id (the `apns-topic`).
#[derive(Clone, Debug, Serialize, Deserialize, Validate, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApnCredentials {
    #[validate(length(equal = 10))]
    pub team_id: String,
    #[validate(length(equal = 10))]
    pub key_id: String,
    /// The `.p8` file's contents (PEM, PKCS#8, P-256).
    #[validate(length(min = 1, max = 4096))]
    pub private_key: String,
    #[validate(length(min = 1, max = 255))]
    pub bundle_id: String,
    /// `false`: the sandbox gateway (development builds).
    #[serde(default)]
    pub production: bool,
}

impl FirebaseCredentials {
    /// Why the key cannot sign, or nothing.
    pub fn problem(&self) -> Option<String> {
        jsonwebtoken::EncodingKey::from_rsa_pem(self.private_key.as_bytes())
            .err()
            .map(|e| format!("firebase.private_key is not an RSA private key in PEM: {e}"))
    }
}

impl ApnCredentials {
    /// Why the key cannot sign, or nothing.
    pub fn problem(&self) -> Option<String> {
        jsonwebtoken::EncodingKey::from_ec_pem(self.private_key.as_bytes())
            .err()
            .map(|e| format!("apn.private_key is not a P-256 private key in PEM (.p8): {e}"))
    }
}
