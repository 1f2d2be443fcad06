//! Link previews: after a send, the first `http(s)` link in its text is
//! read by the notify function (a task on the schedule queue, due at once,
//! so a slow site holds back no send and no other job) and added to the
//! message as an attachment of type `link`. The page is fetched through the
//! outbound guard (`GET`, `text/html` only, 512 KB and 3 s at most, 3
//! redirects, each one checked); its image is referenced, never fetched.
//! Previews are cached per app and URL for a day; a link that gave none (a
//! failed read, a page without metadata) is not read again for an hour. A
//! failure leaves the message as it was.

pub mod meta;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{message_key, Attachment, Message, MessageType};
use crate::apps::App;
use crate::db::{Cond, Db, DbError, Entity};
use crate::error::{ApiError, DisplayChain};
use crate::ids::{AppId, ChannelId, MessageId};
use crate::keys::{self, Key};
use crate::outbound::{Outbound, PageLimits};
use crate::scheduler::Task;
use crate::state::AppState;

/// What a page fetch may take.
pub const LIMITS: PageLimits = PageLimits {
    redirects: 3,
    bytes: 512 * 1024,
    timeout: std::time::Duration::from_secs(3),
};

/// How long a preview is kept for an app's other messages.
const CACHE_SECS: i64 = 24 * 60 * 60;
/// How long a link that gave no preview is not read again.
const NONE_CACHE_SECS: i64 = 60 * 60;

pub const LINK: &str = "link";

/// The first `http(s)` link in a text, as written.
pub fn first_link(text: &str) -> Option<String> {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    finder
        .links(text)
        .map(|link| link.as_str())
        .find(|link| {
            url::Url::parse(link)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        })
        .map(str::to_string)
}

/// The task: preview this message's link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkJob {
    pub app_id: AppId,
    pub channel_id: ChannelId,
    pub message_id: MessageId,
    pub sort_id: MessageId,
    pub in_channel: bool,
    pub url: String,
}

impl Task for LinkJob {
    const KIND: &'static str = "link_preview";
}

impl LinkJob {
    fn message_key(&self) -> Key<keys::item::Message> {
        message_key(
            &self.app_id,
            &self.channel_id,
            &self.sort_id,
            self.in_channel,
        )
    }
}

/// A page's preview, kept per app and URL.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkPreview {
    pub app_id: AppId,
    pub hash: String,
    /// The link as written in the message.
    pub link: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// Epoch seconds when it was read.
    pub fetched_at: i64,
    /// The read gave no preview: only this is kept, for a shorter while.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub none: bool,
}

impl Entity for LinkPreview {
    const TYPE: &'static str = "link_preview";
    type Item = keys::item::LinkPreview;
    fn key(&self) -> Key<Self::Item> {
        keys::link_preview(&self.app_id, &self.hash)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.fetched_at + self.kept_secs())
    }
}

impl LinkPreview {
    fn kept_secs(&self) -> i64 {
        if self.none {
            NONE_CACHE_SECS
        } else {
            CACHE_SECS
        }
    }

    /// What is kept of a link that gave no preview.
    fn none(job: &LinkJob, hash: String, now: i64) -> Self {
        Self {
            app_id: job.app_id.clone(),
            hash,
            link: job.url.clone(),
            url: job.url.clone(),
            title: None,
            description: None,
            image_url: None,
            site_name: None,
            fetched_at: now,
            none: true,
        }
    }

    /// The attachment a message gets: links that may be shown, only.
    fn attachment(&self) -> Attachment {
        let safe = |link: &str| crate::links::problem(link).is_none();
        Attachment {
            kind: LINK.to_string(),
            url: if safe(&self.url) {
                self.url.clone()
            } else {
                self.link.clone()
            },
            file_name: None,
            file_size: None,
            mime_type: None,
            key: None,
            title: self.title.clone(),
            description: self.description.clone(),
            image_url: self.image_url.clone().filter(|i| safe(i)),
            site_name: self.site_name.clone(),
        }
    }
}

fn hash(link: &str) -> String {
    Sha256::digest(link.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The preview task a new message asks for, if any: the app enriches
/// links, the send did not opt out, and the text has a link that may be
/// shown.
pub fn job_for(app: &App, message: &Message, skip: bool) -> Option<LinkJob> {
    if skip || !app.settings.enrich_urls || message.kind != MessageType::Regular {
        return None;
    }
    let url = first_link(message.text.as_deref()?)?;
    crate::links::problem(&url).is_none().then(|| LinkJob {
        app_id: message.app_id.clone(),
        channel_id: message.channel_id.clone(),
        message_id: message.id.clone(),
        sort_id: message.sort_id.clone(),
        in_channel: message.in_channel(),
        url,
    })
}

/// Queues the task, due now; a queue that cannot be reached costs the
/// message its preview, never its send.
pub async fn enqueue(state: &AppState, job: LinkJob) {
    let now = crate::time::now_millis();
    if let Err(err) = state.scheduler.schedule(&[(now, job.clone())]).await {
        tracing::warn!(error = %DisplayChain(&err), message = %job.message_id, "link preview not queued");
    }
}

/// The cached preview, or the page read now (and cached); `None` when the
/// page could not be read or says nothing (cached too), now or within the
/// last hour.
async fn preview(
    db: &Db,
    outbound: &Outbound,
    job: &LinkJob,
) -> Result<Option<LinkPreview>, ApiError> {
    let hash = hash(&job.url);
    let now = crate::time::now_secs();
    let key = keys::link_preview(&job.app_id, &hash);
    if let Some(cached) = db.get::<LinkPreview>(&key).await? {
        if cached.fetched_at + cached.kept_secs() > now {
            return Ok((!cached.none).then_some(cached));
        }
    }
    let meta = match outbound.get_page(&job.url, LIMITS).await {
        Ok(page) => meta::parse(&page.body, &page.url),
        Err(err) => {
            tracing::info!(error = %DisplayChain(&err), message = %job.message_id, "link not previewed");
            meta::PageMeta::default()
        }
    };
    if meta.is_empty() {
        db.put(&LinkPreview::none(job, hash, now), Cond::Always)
            .await?;
        return Ok(None);
    }
    let preview = LinkPreview {
        app_id: job.app_id.clone(),
        hash,
        link: job.url.clone(),
        url: meta.url,
        title: meta.title,
        description: meta.description,
        image_url: meta.image_url,
        site_name: meta.site_name,
        fetched_at: now,
        none: false,
    };
    db.put(&preview, Cond::Always).await?;
    Ok(Some(preview))
}

/// Runs the task: the message gets its `link` attachment, if it still
/// reads as sent (not deleted, the link still in its text, no preview yet).
/// The updated message, or `None` when nothing changed.
pub async fn enrich(state: &AppState, job: &LinkJob) -> Result<Option<Message>, ApiError> {
    let db = &state.db;
    let wanted = |m: &Message| {
        m.kind == MessageType::Regular
            && m.text.as_deref().is_some_and(|t| t.contains(&job.url))
            && !m.attachments.iter().any(|a| a.kind == LINK)
            && m.attachments.len() < super::send::MAX_ATTACHMENTS
    };
    match db.get::<Message>(&job.message_key()).await? {
        Some(m) if wanted(&m) => {}
        _ => return Ok(None),
    }
    let Some(preview) = preview(db, &state.outbound, job).await? else {
        return Ok(None);
    };
    // Read again: an edit may have come while the page was read.
    for _ in 0..3 {
        let Some(mut message) = db.get::<Message>(&job.message_key()).await? else {
            return Ok(None);
        };
        if !wanted(&message) {
            return Ok(None);
        }
        let read_version = message.version;
        message.attachments.push(preview.attachment());
        message.version += 1;
        message.updated_at = crate::time::now_rfc3339();
        match db.put(&message, Cond::Version(read_version)).await {
            Ok(()) => return Ok(Some(message)),
            Err(DbError::ConditionFailed) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(None)
}
