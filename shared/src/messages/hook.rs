//! The before-send hook: with `before_message_send_url` set, each send (REST
//! and socket alike) is POSTed there, signed like a webhook, after the
//! sender's rights are checked and before anything is written. The answer
//! lets the message through, rewrites its text, attachments or metadata, or
//! rejects it; a timeout or a failure follows the app's policy. With no hook
//! set, a send calls nothing and costs nothing more.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::SendMessage;
use super::{Attachment, MessageType};
use crate::apps::HookFailure;
use crate::channels::Ctx;
use crate::error::{ApiError, DisplayChain};
use crate::ids::{ChannelId, MessageId, UserId};
use crate::state::AppState;

/// What the hook receives.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HookRequest<'a> {
    /// Always `message.before_send`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub channel_id: &'a ChannelId,
    pub user: HookUser<'a>,
    pub message: Proposed<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HookUser<'a> {
    pub id: &'a UserId,
}

/// The message as the sender proposed it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Proposed<'a> {
    pub text: Option<&'a str>,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub attachments: &'a [Attachment],
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<&'a Map<String, Value>>,
    pub mentions: &'a [UserId],
    pub parent_id: Option<&'a MessageId>,
    pub quoted_message_id: Option<&'a MessageId>,
    pub silent: bool,
}

/// The hook's answer (a 2xx; an empty body passes).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Verdict {
    /// Send as proposed.
    Pass,
    /// Send with these fields replaced (each one optional); the result is
    /// checked like the sender's own input.
    Rewrite { message: Rewrite },
    /// Refuse: the sender gets a 403 `message_rejected` with the reason.
    Reject { reason: Option<String> },
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    pub text: Option<String>,
    pub attachments: Option<Vec<Attachment>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// A rejection's reason is shown to the sender: at most this many characters.
const MAX_REASON: usize = 500;

/// Asks the app's hook about a send; `true` when it rewrote `input`.
pub async fn before_send(
    state: &AppState,
    ctx: &Ctx,
    author: &UserId,
    input: &mut SendMessage,
) -> Result<bool, ApiError> {
    let settings = &ctx.app.settings;
    let Some(url) = settings.before_message_send_url.as_deref() else {
        return Ok(false);
    };
    let request = HookRequest {
        kind: "message.before_send",
        channel_id: &input.channel_id,
        user: HookUser { id: author },
        message: Proposed {
            text: input.text.as_deref(),
            kind: input.kind.unwrap_or_default(),
            attachments: &input.attachments,
            metadata: input.metadata.as_ref(),
            mentions: &input.mentions,
            parent_id: input.parent_id.as_ref(),
            quoted_message_id: input.quoted_message_id.as_ref(),
            silent: input.silent,
        },
    };
    let body = serde_json::to_vec(&request).map_err(ApiError::internal)?;
    let timeout = std::time::Duration::from_millis(settings.before_message_send_timeout_ms);
    let verdict = match state
        .outbound
        .post_signed(url, &ctx.app.api_secret, &[], &body, timeout)
        .await
    {
        Ok(answer) if (200..300).contains(&answer.status) => {
            if answer.body.iter().all(u8::is_ascii_whitespace) {
                Ok(Verdict::Pass)
            } else {
                serde_json::from_slice::<Verdict>(&answer.body)
                    .map_err(|e| format!("unreadable answer: {e}"))
            }
        }
        Ok(answer) => Err(format!("HTTP {}", answer.status)),
        Err(err) => Err(DisplayChain(&err).to_string()),
    };
    match verdict {
        Ok(Verdict::Pass) => Ok(false),
        Ok(Verdict::Reject { reason }) => {
            let reason = reason
                .filter(|r| !r.trim().is_empty())
                .map(|r| r.chars().take(MAX_REASON).collect())
                .unwrap_or_else(|| "the application refused this message".to_string());
            Err(ApiError::Rejected(reason))
        }
        Ok(Verdict::Rewrite { message }) => {
            if let Some(text) = message.text {
                input.text = Some(text);
            }
            if let Some(attachments) = message.attachments {
                input.attachments = attachments;
            }
            if let Some(metadata) = message.metadata {
                input.metadata = Some(metadata);
            }
            Ok(true)
        }
        Err(why) => {
            tracing::warn!(app = %ctx.app.app_id, %why, policy = ?settings.before_message_send_on_error, "before-send hook failed");
            match settings.before_message_send_on_error {
                HookFailure::Pass => Ok(false),
                // The hook's address and error stay in the logs.
                HookFailure::Block => Err(ApiError::HookUnavailable(
                    "the application's message check is unavailable; retry shortly".into(),
                )),
            }
        }
    }
}
