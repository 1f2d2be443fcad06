//! Push notifications to members who are not connected.
//!
//! A send writes one job item to the outbox where a member has a device
//! ([`reachable`]), for a message that counts as unread or that the app can
//! push (never a shadow-banned sender's); the notify function gets it from
//! the stream ([`crate::notify`]), writes the message's badge marks
//! ([`badges`]), and works out, then, who gets a push: each member with a
//! device and no open connection, but not the sender, not a member who
//! muted the channel, not a user whose preference is `off`, or `mentions`
//! without a mention, and nobody for a silent message. A thread reply goes
//! to the thread's participants (its starter and everyone who replied) and
//! to the mentioned. Each of their devices gets one push through its
//! provider (FCM HTTP v1 or APNs) with the user's total unread count as the
//! badge; a token the provider calls dead deletes the device; a push the
//! provider throttles is tried again later through the scheduler
//! ([`Retry`]), 1 s then 4 s on, never waited for inside the function.

pub mod apns;
pub mod badges;
pub mod credentials;
pub mod fcm;
pub mod reachable;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::apps::App;
use crate::channels::{Channel, Ctx, Membership};
use crate::db::{Cond, Entity};
use crate::devices::{Device, PushProvider};
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ChannelId, MessageId, UserId};
use crate::keys::{self, Key};
use crate::messages::Message;
use crate::state::AppState;
use crate::users::{PushPreference, User};

/// Job items are kept this long (for the record).
const JOB_TTL_SECS: i64 = 3600;
/// The text a push shows is cut to this many characters.
const PREVIEW_CHARS: usize = 200;
/// Tries of one push the provider throttles.
const THROTTLE_TRIES: u32 = 3;
/// The wait before the second try; each later one waits four times longer.
const THROTTLE_BACKOFF_MS: i64 = 1000;

/// A process-wide cache of a provider's tokens.
type TokenCache = std::sync::OnceLock<moka::sync::Cache<String, String>>;

/// The cache in `cell`: tokens are reused for 50 minutes.
fn token_cache(cell: &'static TokenCache) -> &'static moka::sync::Cache<String, String> {
    cell.get_or_init(|| {
        moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(50 * 60))
            .build()
    })
}

/// The pushes of one message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub message_id: MessageId,
    pub parent_id: Option<MessageId>,
    pub sender: UserId,
    pub mentions: Vec<UserId>,
    /// The start of the text (attachments only: none).
    pub preview: Option<String>,
    /// The message's sort id when it counts as unread (in the channel's
    /// history, not shadow-banned): its badge marks ([`badges`]).
    #[serde(default)]
    pub sort_id: Option<MessageId>,
    /// Silent: marked unread, pushed to nobody.
    #[serde(default)]
    pub silent: bool,
    pub expires: i64,
}

impl Entity for Job {
    const TYPE: &'static str = "push";
    type Item = keys::item::PushJob;
    fn key(&self) -> Key<Self::Item> {
        keys::push(&self.app_id, &self.channel_id, &self.message_id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

/// Hands a new message to the notify function, for its pushes and its
/// badge marks: one outbox write, only when there is work (the send calls
/// it only where a member has a device): a message that counts as unread,
/// or one the app can push. Never fails the send (logged).
pub async fn enqueue(state: &AppState, app: &App, message: &Message) {
    let counts = message.in_channel() && !message.shadowed;
    let pushable = app.push.any() && !message.silent && !message.shadowed;
    if !counts && !pushable {
        return;
    }
    let job = Job {
        app_id: app.app_id.clone(),
        channel_id: message.channel_id.clone(),
        message_id: message.id.clone(),
        parent_id: message.parent_id.clone(),
        sender: message.user_id.clone(),
        mentions: message.mentions.clone(),
        preview: message
            .text
            .as_ref()
            .map(|t| t.chars().take(PREVIEW_CHARS).collect()),
        sort_id: counts.then(|| message.sort_id.clone()),
        silent: message.silent,
        expires: crate::time::now_secs() + JOB_TTL_SECS,
    };
    if let Err(err) = state.db.outbox().put(&job, Cond::Always).await {
        tracing::warn!(error = %DisplayChain(&err), message = %message.id, "could not hand a message to push");
    }
}

/// What one push is made of, for every provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub title: String,
    pub body: String,
    pub badge: usize,
    /// Strings only (FCM's rule): `channel_id`, `message_id`, `type`.
    pub data: Vec<(&'static str, String)>,
}

/// One push to one user's devices: what it says and what it is about. A
/// push the provider throttled keeps it to try again ([`Retry`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Push {
    /// The event the push tells of (`message.new`, `reminder.due`).
    #[serde(default = "new_message_kind")]
    pub kind: String,
    pub channel_id: ChannelId,
    pub message_id: MessageId,
    pub title: String,
    pub body: String,
    pub badge: usize,
}

fn new_message_kind() -> String {
    "message.new".into()
}

impl Push {
    fn notification(&self) -> Notification {
        Notification {
            title: self.title.clone(),
            body: self.body.clone(),
            badge: self.badge,
            data: vec![
                ("type", self.kind.clone()),
                ("channel_id", self.channel_id.to_string()),
                ("message_id", self.message_id.to_string()),
            ],
        }
    }
}

/// A push to one device that the provider throttled, to try again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Retry {
    pub app_id: AppId,
    pub user_id: UserId,
    pub device_id: String,
    #[serde(flatten)]
    pub push: Push,
    /// The try this is, from 2.
    pub attempt: u32,
}

impl crate::scheduler::Task for Retry {
    const KIND: &'static str = "push";
}

/// Schedules the next try of a throttled push, if tries are left.
async fn schedule_retry(state: &AppState, retry: Retry) -> Result<bool, ApiError> {
    if retry.attempt > THROTTLE_TRIES {
        return Ok(false);
    }
    let wait = THROTTLE_BACKOFF_MS * 4i64.pow(retry.attempt.saturating_sub(2));
    let due = crate::time::now_millis() + wait;
    state.scheduler.schedule(&[(due, retry)]).await?;
    Ok(true)
}

/// The scheduler's run of a throttled push: the device must still be there
/// (and the app able to push to it).
pub async fn retry(state: &AppState, retry: &Retry) -> Result<(), ApiError> {
    let Some(app) = state.apps.by_id(&state.db, &retry.app_id).await? else {
        return Ok(());
    };
    let devices = devices(state, &app, &retry.user_id).await?;
    let Some(device) = devices
        .into_iter()
        .find(|d| d.id.as_str() == retry.device_id)
    else {
        return Ok(());
    };
    match push_one(state, &app, &device, &retry.push.notification()).await {
        Sent::Delivered => {
            tracing::info!(device = %device.id, attempt = retry.attempt, "throttled push delivered");
        }
        Sent::Dead => forget(state, &retry.app_id, &retry.user_id, &device).await?,
        Sent::Retry => {
            let next = Retry {
                attempt: retry.attempt + 1,
                ..retry.clone()
            };
            if !schedule_retry(state, next).await? {
                tracing::warn!(device = %device.id, "push still throttled after {THROTTLE_TRIES} tries; given up");
            }
        }
        Sent::Failed(_) => {}
    }
    Ok(())
}

/// A device whose token the provider calls dead is deleted.
async fn forget(
    state: &AppState,
    app: &AppId,
    user: &UserId,
    device: &Device,
) -> Result<(), ApiError> {
    tracing::info!(user = %user, device = %device.id, "the provider says the token is dead; device deleted");
    state.db.delete(&device.key(), Cond::Always).await?;
    reachable::device_removed(&state.db, app, user).await?;
    Ok(())
}

/// What a provider said of one push.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// The token is dead: forget the device.
    Dead,
    /// Throttled or briefly unavailable: try again later.
    Retry,
    /// Refused for another reason (logged).
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("signing the provider's token failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    #[error(transparent)]
    Http(#[from] crate::outbound::OutboundError),
    #[error("the provider's request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("the provider refused the credentials: {0}")]
    Auth(String),
}

/// What the job came to: pushes sent, devices forgotten.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub recipients: usize,
    pub delivered: usize,
    pub dead: usize,
    /// Throttled: tried again later.
    pub retrying: usize,
    pub failed: usize,
}

/// The notify function's work for one message: its badge marks, then its
/// pushes.
pub async fn deliver(state: &AppState, job: &Job) -> Result<Report, ApiError> {
    let Some(app) = state.apps.by_id(&state.db, &job.app_id).await? else {
        return Ok(Report::default());
    };
    let db = &state.db;
    // Only members with a device are marked or pushed: the channel's index
    // of them, not its member list.
    let reachable = reachable::in_channel(db, &job.app_id, &job.channel_id).await?;
    let counted = job.sort_id.as_ref().map(|sort_id| badges::Counted {
        app: &job.app_id,
        channel: &job.channel_id,
        sort_id,
        author: &job.sender,
    });
    let mut marked: Vec<UserId> = match &counted {
        Some(_) => reachable
            .iter()
            .filter(|u| **u != job.sender)
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    // A reply shown in the channel counts in its thread for those who take
    // part in it, not in the channel (as `GET /unread` counts).
    if let (Some(parent), false) = (&job.parent_id, marked.is_empty()) {
        let keys: Vec<Key<_>> = marked
            .iter()
            .map(|u| keys::following(&job.app_id, u, parent))
            .collect();
        let following: Vec<crate::messages::threads::Following> = db.batch_get(&keys).await?;
        marked.retain(|u| !following.iter().any(|f| &f.user_id == u));
    }
    if let Some(counted) = &counted {
        counted.mark(db, &marked).await?;
    }
    let candidates = if app.push.any() && !job.silent {
        candidates(state, &app, job, &reachable).await?
    } else {
        Vec::new()
    };
    // One read for everything after the marks: the check of the marks, and
    // the candidates' memberships (mutes) and profiles, the sender's too.
    let mut wanted = match &counted {
        Some(counted) => counted.check_keys(&marked),
        None => vec![keys::channel(&job.app_id, &job.channel_id).any()],
    };
    if !candidates.is_empty() {
        wanted.extend(
            candidates
                .iter()
                .map(|u| keys::membership(&job.app_id, u, &job.channel_id).any()),
        );
        wanted.extend(
            candidates
                .iter()
                .chain(std::iter::once(&job.sender))
                .map(|u| keys::user(&job.app_id, u).any()),
        );
    }
    let mut items = db.batch_get_items(&wanted).await?;
    let channel = items.of::<Channel>()?.into_iter().next();
    if let Some(counted) = &counted {
        let message = items.of::<Message>()?.into_iter().next();
        let stale = counted.stale(
            &marked,
            channel.as_ref(),
            message.as_ref(),
            &items.of::<crate::channels::Member>()?,
        );
        db.batch_delete(&stale).await?;
        // A send reads the sender's channel up to their message.
        if reachable.contains(&job.sender) {
            let up_to = keys::message(&job.app_id, &job.channel_id, counted.sort_id).sk;
            badges::read(db, &job.app_id, &job.sender, &job.channel_id, &up_to).await?;
        }
    }
    let Some(channel) = channel.filter(|c| c.deleted_at.is_none()) else {
        return Ok(Report::default());
    };
    let users = items.of::<User>()?;
    let recipients = recipients(job, &candidates, &items.of::<Membership>()?, &users);
    let mut report = Report {
        recipients: recipients.len(),
        ..Report::default()
    };
    if recipients.is_empty() {
        return Ok(report);
    }
    let sender = users.iter().find(|u| u.id == job.sender);
    let sender_name = sender
        .and_then(|u| u.display_name.clone().or_else(|| u.username.clone()))
        .unwrap_or_else(|| job.sender.to_string());
    let text = job
        .preview
        .clone()
        .unwrap_or_else(|| "sent an attachment".to_string());
    let (title, body) = filled(
        &app,
        &sender_name,
        channel.name.as_deref().unwrap_or(""),
        &text,
    );
    for recipient in recipients {
        let push = Push {
            kind: new_message_kind(),
            channel_id: job.channel_id.clone(),
            message_id: job.message_id.clone(),
            title: title.clone(),
            body: body.clone(),
            badge: badges::badge(db, &job.app_id, &recipient).await?,
        };
        to_user(state, &app, &recipient.id, &push, &mut report).await?;
    }
    tracing::info!(message = %job.message_id, recipients = report.recipients, delivered = report.delivered, dead = report.dead, retrying = report.retrying, failed = report.failed, "pushes sent");
    Ok(report)
}

/// The app's push title and body, with `{sender}`, `{channel}` and
/// `{text}` filled in.
pub fn filled(app: &App, sender: &str, channel: &str, text: &str) -> (String, String) {
    let fill = |template: &str| {
        template
            .replace("{sender}", sender)
            .replace("{channel}", channel)
            .replace("{text}", text)
    };
    (
        fill(&app.settings.push_title),
        fill(&app.settings.push_body),
    )
}

/// The user's devices the app can push to (its credentials for their
/// providers).
async fn devices(state: &AppState, app: &App, user: &UserId) -> Result<Vec<Device>, ApiError> {
    let devices: Vec<Device> = state
        .db
        .query_all(
            &keys::user_partition(&app.app_id, user),
            keys::DEVICE_PREFIX,
            25,
        )
        .await?;
    Ok(devices
        .into_iter()
        .filter(|d| match d.push_provider {
            PushProvider::Firebase => app.push.firebase.is_some(),
            PushProvider::Apn => app.push.apn.is_some(),
            _ => false,
        })
        .collect())
}

/// One push to each of a user's devices: a dead token deletes its device,
/// a throttled push is tried again later; `report` counts what happened.
pub async fn to_user(
    state: &AppState,
    app: &App,
    user: &UserId,
    push: &Push,
    report: &mut Report,
) -> Result<(), ApiError> {
    let notification = push.notification();
    for device in devices(state, app, user).await? {
        match push_one(state, app, &device, &notification).await {
            Sent::Delivered => report.delivered += 1,
            Sent::Dead => {
                report.dead += 1;
                forget(state, &app.app_id, user, &device).await?;
            }
            Sent::Retry => {
                report.retrying += 1;
                let retry = Retry {
                    app_id: app.app_id.clone(),
                    user_id: user.clone(),
                    device_id: device.id.to_string(),
                    push: push.clone(),
                    attempt: 2,
                };
                schedule_retry(state, retry).await?;
            }
            Sent::Failed(_) => report.failed += 1,
        }
    }
    Ok(())
}

/// One push to one device, tried once.
async fn push_one(state: &AppState, app: &App, device: &Device, n: &Notification) -> Sent {
    let sent = match (&device.push_provider, &app.push.firebase, &app.push.apn) {
        (PushProvider::Firebase, Some(creds), _) => {
            fcm::send(state, creds, device.id.as_str(), n).await
        }
        (PushProvider::Apn, _, Some(creds)) => {
            apns::send(state, creds, device.id.as_str(), n).await
        }
        _ => return Sent::Failed("no credentials for this provider".into()),
    };
    match sent {
        Ok(sent) => {
            if let Sent::Failed(why) = &sent {
                tracing::warn!(device = %device.id, %why, "push refused");
            }
            sent
        }
        Err(err) => {
            tracing::warn!(device = %device.id, error = %DisplayChain(&err), "push failed");
            Sent::Failed(err.to_string())
        }
    }
}

/// Who may get this message's push: the reachable members it is for (the
/// channel's, or a thread reply's participants, and the mentioned), not the
/// sender.
async fn candidates(
    state: &AppState,
    app: &Arc<App>,
    job: &Job,
    reachable: &BTreeSet<UserId>,
) -> Result<Vec<UserId>, ApiError> {
    let mut candidates: BTreeSet<UserId> = match &job.parent_id {
        None => reachable.clone(),
        Some(parent) => thread_participants(state, app, parent).await?,
    };
    candidates.extend(job.mentions.iter().cloned());
    candidates.remove(&job.sender);
    Ok(candidates
        .into_iter()
        .filter(|u| reachable.contains(u))
        .collect())
}

/// Who of the candidates gets the push, by their memberships and profiles
/// read now (see the module's rules).
fn recipients(
    job: &Job,
    candidates: &[UserId],
    memberships: &[Membership],
    users: &[User],
) -> Vec<User> {
    // An entry is a hint: the membership must still be there and active.
    let members: BTreeSet<&UserId> = memberships
        .iter()
        .filter(|m| m.invite.is_none() && !m.muted)
        .map(|m| &m.user_id)
        .collect();
    let by_id: HashMap<&UserId, &User> = users.iter().map(|u| (&u.id, u)).collect();
    candidates
        .iter()
        .filter(|u| members.contains(u))
        .filter_map(|u| by_id.get(u).copied())
        .filter(|user| {
            let mentioned = job.mentions.contains(&user.id);
            let wants = match user.push_preference {
                PushPreference::All => true,
                PushPreference::Mentions => mentioned,
                PushPreference::Off => false,
            };
            // Offline: no open connection; deactivated users get nothing,
            // nor does a user who blocks the sender.
            wants
                && user.connections.is_empty()
                && user.deactivated_at.is_none()
                && !user.blocked.contains_key(&job.sender)
        })
        .cloned()
        .collect()
}

/// The thread's starter and everyone who replied in it.
async fn thread_participants(
    state: &AppState,
    app: &Arc<App>,
    parent: &MessageId,
) -> Result<BTreeSet<UserId>, ApiError> {
    let db = &state.db;
    let ctx = Ctx {
        app: app.clone(),
        server: true,
        user: None,
        me: None,
    };
    let parent = match crate::messages::locate(db, &ctx, parent).await {
        Ok((_, parent)) => parent,
        // Deleted since: the mentioned still hear of the reply.
        Err(ApiError::NotFound(_)) => return Ok(BTreeSet::new()),
        Err(other) => return Err(other),
    };
    let replies = crate::messages::thread_replies(db, &app.app_id, &parent, None).await?;
    let mut participants = BTreeSet::from([parent.user_id]);
    participants.extend(replies.into_iter().map(|m| m.user_id));
    Ok(participants)
}
