//! File uploads: validation against the app's settings, the key scheme
//! (`{app}/{channel}/{id}[.ext]` for a channel's files,
//! `{app}/~users/{user}/{id}[.ext]` for a user's own, such as an avatar), and
//! attachment ownership checks.

use serde::Serialize;

use crate::apps::App;
use crate::channels::{load, Ctx};
use crate::db::Db;
use crate::error::ApiError;
use crate::ids::ChannelId;
use crate::storage::{BucketLink, Storage};

/// `POST /upload` stays under Lambda's 6 MB payload limit (with multipart
/// overhead and base64 in API Gateway, 4 MB of file is the safe size).
pub const MAX_DIRECT_UPLOAD: usize = 4 * 1024 * 1024;

/// A client's file name made safe: its last path component, printable
/// characters only, no leading dots, at most 200 characters.
pub fn sanitize_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let mut name: String = trimmed.chars().take(200).collect();
    if name.is_empty() {
        name = "file".into();
    }
    name
}

fn extension(name: &str) -> Option<String> {
    let (_, ext) = name.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    (!ext.is_empty() && ext.len() <= 10 && ext.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(ext)
}

/// Whose file an upload is.
#[derive(Clone, Debug)]
pub enum Owner {
    /// Shared in a channel: its active members may upload.
    Channel(ChannelId),
    /// The acting user's own (an avatar, a profile file): only they, or a
    /// server token naming them, may upload.
    User,
}

/// `{app}/{channel}/{uuid}[.ext]` or `{app}/~users/{user}/{uuid}[.ext]`:
/// tenants, channels and users never share a prefix (`~` is in no id), and
/// nothing of the client's name can steer the key.
pub fn object_key(app: &App, prefix: &str, file_name: &str) -> String {
    let id = uuid::Uuid::now_v7().simple();
    match extension(file_name) {
        Some(ext) => format!("{}/{prefix}/{id}.{ext}", app.app_id),
        None => format!("{}/{prefix}/{id}", app.app_id),
    }
}

/// Who may upload there, and the key prefix under the app's.
async fn place(db: &Db, ctx: &Ctx, owner: &Owner) -> Result<String, ApiError> {
    match owner {
        Owner::Channel(channel) => {
            require_member(db, ctx, channel).await?;
            Ok(channel.to_string())
        }
        Owner::User => {
            // A user token acts for its own user; a server token must name one.
            let user = ctx.require_user()?;
            crate::users::require_user(db, &ctx.app.app_id, user).await?;
            Ok(format!("~users/{user}"))
        }
    }
}

fn mime_allowed(app: &App, mime: &str) -> bool {
    app.settings
        .allowed_mime_types
        .iter()
        .any(|allowed| match allowed.strip_suffix("/*") {
            Some(family) => mime.split('/').next() == Some(family),
            None => allowed == mime,
        })
}

/// Checks a declared upload against the app's settings.
pub fn check(app: &App, mime: &str, size: u64) -> Result<(), ApiError> {
    let well_formed = mime.len() <= 127
        && mime.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.chars().all(|c| c.is_ascii_lowercase())
                && b.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '+' | '-')
                })
        });
    if !well_formed {
        return Err(ApiError::validation(
            "mime_type must look like type/subtype, lower case",
        ));
    }
    if !mime_allowed(app, mime) {
        return Err(ApiError::validation(format!(
            "files of type {mime} are not allowed in this app"
        )));
    }
    if size == 0 {
        return Err(ApiError::validation("size must be at least 1 byte"));
    }
    if size > app.settings.max_upload_bytes {
        return Err(ApiError::TooLarge(format!(
            "the file is {size} bytes; the limit is {}",
            app.settings.max_upload_bytes
        )));
    }
    Ok(())
}

/// Who may upload to a channel: its active members, unless uploads are off
/// in it or they are banned from it (a shadow ban is not told); and the
/// server.
pub async fn require_member(db: &Db, ctx: &Ctx, channel: &ChannelId) -> Result<(), ApiError> {
    let access = load(db, ctx, channel).await?;
    if ctx.server {
        return Ok(());
    }
    let Some(user) = access
        .member
        .as_ref()
        .filter(|m| m.is_active())
        .map(|m| &m.user_id)
    else {
        return Err(ApiError::forbidden(
            "only channel members may upload files to it",
        ));
    };
    if !access.channel.settings.uploads {
        return Err(ApiError::forbidden(
            "uploads are turned off in this channel",
        ));
    }
    if crate::channels::active_ban(db, ctx, channel, user)
        .await?
        .is_some_and(|b| !b.shadow)
    {
        return Err(ApiError::forbidden("you are banned from this channel"));
    }
    Ok(())
}

pub struct SignRequest {
    pub file_name: String,
    pub mime_type: String,
    pub size: u64,
    pub owner: Owner,
}

/// A presigned PUT for a new object and where it will be readable.
pub async fn sign(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    ttl: std::time::Duration,
    request: SignRequest,
) -> Result<UploadTicket, ApiError> {
    let prefix = place(db, ctx, &request.owner).await?;
    check(&ctx.app, &request.mime_type, request.size)?;
    let file_name = sanitize_file_name(&request.file_name);
    let key = object_key(&ctx.app, &prefix, &file_name);
    let length =
        i64::try_from(request.size).map_err(|_| ApiError::validation("size is too large"))?;
    let put = storage
        .presign_put(&key, &request.mime_type, length, ttl)
        .await?;
    let file_url = storage
        .read_url(&key, &file_name, &request.mime_type, ttl)
        .await?;
    let expires_at = crate::time::millis_to_rfc3339(
        crate::time::now_millis() + i64::try_from(ttl.as_millis()).unwrap_or(0),
    );
    Ok(UploadTicket {
        upload_url: put.url,
        method: put.method,
        headers: put.headers,
        key,
        file_url,
        file_name,
        mime_type: request.mime_type,
        size: request.size,
        expires_at,
    })
}

/// A small file sent through the API itself.
pub struct DirectFile {
    pub owner: Owner,
    pub file_name: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

/// Stores a small file sent through the API itself.
pub async fn direct(
    db: &Db,
    storage: &Storage,
    ctx: &Ctx,
    ttl: std::time::Duration,
    file: DirectFile,
) -> Result<StoredFile, ApiError> {
    let prefix = place(db, ctx, &file.owner).await?;
    let size = u64::try_from(file.bytes.len()).unwrap_or(u64::MAX);
    check(&ctx.app, &file.mime_type, size)?;
    let file_name = sanitize_file_name(&file.file_name);
    let key = object_key(&ctx.app, &prefix, &file_name);
    storage.put(&key, &file.mime_type, file.bytes).await?;
    let url = storage
        .read_url(&key, &file_name, &file.mime_type, ttl)
        .await?;
    Ok(StoredFile {
        url,
        file_name,
        file_size: size,
        mime_type: file.mime_type,
        key,
    })
}

/// Checks each attachment's link and records the bucket object it names
/// (replacing any `key` the client sent), so reads can link it afresh.
pub fn own_attachments(
    storage: &Storage,
    app: &App,
    attachments: &mut [crate::messages::Attachment],
) -> Result<(), ApiError> {
    for attachment in attachments {
        check_attachment_url(storage, app, &attachment.url)?;
        attachment.key = storage.key_of(&attachment.url);
    }
    Ok(())
}

/// An attachment linking into this deployment's bucket must be the app's own
/// object: another tenant's files cannot be attached by URL.
pub fn check_attachment_url(storage: &Storage, app: &App, url: &str) -> Result<(), ApiError> {
    match storage.bucket_link(url) {
        BucketLink::Object(key) if !key.starts_with(&format!("{}/", app.app_id)) => Err(
            ApiError::forbidden("the attachment points at a file that does not belong to this app"),
        ),
        BucketLink::Refused => Err(ApiError::forbidden(
            "the attachment links into this deployment's storage other than as the API gave it",
        )),
        BucketLink::Object(_) | BucketLink::Outside => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("..\\windows\\system32\\x.dll"), "x.dll");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.png"), "abc.png");
        assert_eq!(sanitize_file_name("...hidden"), "hidden");
        assert_eq!(sanitize_file_name("/"), "file");
        assert_eq!(sanitize_file_name("ünïcode name.JPG"), "_n_code name.JPG");
        assert_eq!(extension("photo.JPG").as_deref(), Some("jpg"));
        assert_eq!(extension("archive.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension("weird.p/ng"), None);
        assert_eq!(extension("noext"), None);
    }
}

/// A presigned upload: send the bytes to `upload_url` with `method` and
/// exactly these `headers`; then attach `file_url` (or the key) to a message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadTicket {
    pub upload_url: String,
    pub method: String,
    /// Signed headers the upload must carry unchanged.
    pub headers: std::collections::BTreeMap<String, String>,
    pub key: String,
    /// A link to the file once uploaded (it expires; messages keep the key).
    pub file_url: String,
    pub file_name: String,
    pub mime_type: String,
    pub size: u64,
    pub expires_at: String,
}

/// A file stored through the API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoredFile {
    /// A link that works now (messages keep the key and link it afresh).
    pub url: String,
    pub file_name: String,
    pub file_size: u64,
    pub mime_type: String,
    pub key: String,
}
