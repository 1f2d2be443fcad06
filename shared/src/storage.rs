//! Object storage for uploads: the only module that talks to S3. Presigned
//! URLs are made by the SDK, so they work the same against AWS and against
//! the local S3 server.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::config::Config;
use crate::error::ApiError;

/// A request the client makes itself.
#[derive(Clone, Debug)]
pub struct Presigned {
    pub url: String,
    pub method: String,
    /// Headers the client must send exactly (they are signed).
    pub headers: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct Storage {
    /// `None` in a function that does not use S3: its binary then links no
    /// S3 client code.
    client: Option<Client>,
    bucket: String,
    /// The explicit endpoint's host and port (the local S3 server), whose
    /// URLs are path-style.
    endpoint: Option<(String, u16)>,
    public_base: Option<String>,
    /// How long the links made for a read live (`CHAT_UPLOAD_URL_SECONDS`).
    link_ttl: Duration,
}

impl Storage {
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let mut builder = aws_sdk_s3::config::Builder::from(sdk);
        let mut endpoint = None;
        if let Some(url) = &config.s3_endpoint {
            builder = builder.endpoint_url(url).force_path_style(true);
            endpoint = url::Url::parse(url)
                .ok()
                .and_then(|u| Some((normal_host(u.host_str()?), u.port_or_known_default()?)));
        }
        let public_base = config
            .uploads_public_base
            .as_ref()
            .map(|b| format!("{}/", b.trim_end_matches('/')));
        Self {
            client: Some(Client::from_conf(builder.build())),
            bucket: config.uploads_bucket.clone(),
            endpoint,
            public_base,
            link_ttl: config.upload_url_ttl,
        }
    }

    /// Storage for a function without uploads: knows the bucket's links (for
    /// ownership checks) but has no client.
    pub fn without_client(config: &Config) -> Self {
        let endpoint = config.s3_endpoint.as_ref().and_then(|url| {
            let u = url::Url::parse(url).ok()?;
            Some((normal_host(u.host_str()?), u.port_or_known_default()?))
        });
        Self {
            client: None,
            bucket: config.uploads_bucket.clone(),
            endpoint,
            public_base: config
                .uploads_public_base
                .as_ref()
                .map(|b| format!("{}/", b.trim_end_matches('/'))),
            link_ttl: config.upload_url_ttl,
        }
    }

    fn client(&self) -> Result<&Client, ApiError> {
        self.client.as_ref().ok_or_else(|| {
            ApiError::internal(std::io::Error::other(
                "this function was built without an S3 client (AppState::with_storage)",
            ))
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists (the local stack; SAM creates it on AWS).
    pub async fn create_bucket_if_missing(&self) -> Result<(), ApiError> {
        match self
            .client()?
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err)
                if err.as_service_error().is_some_and(|e| {
                    e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(err) => Err(ApiError::internal(err)),
        }
    }

    /// A PUT the client performs with these exact headers, within `ttl`.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        length: i64,
        ttl: Duration,
    ) -> Result<Presigned, ApiError> {
        let config = PresigningConfig::expires_in(ttl).map_err(ApiError::internal)?;
        let request = self
            .client()?
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            // A PUT URL can never overwrite: once an object is attached, its
            // bytes are what the message showed.
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(ApiError::internal)?;
        Ok(Presigned {
            url: request.uri().to_string(),
            method: request.method().to_string(),
            headers: request
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// A link to read a stored object now, for the configured lifetime.
    pub async fn link(&self, key: &str, file_name: &str, mime: &str) -> Result<String, ApiError> {
        self.read_url(key, file_name, mime, self.link_ttl).await
    }

    /// Where the object can be read: under the public base when configured,
    /// else a presigned GET that downloads under `file_name`. Only passive
    /// types are shown inline; SVG, HTML and every other type that can run
    /// script in the bucket's origin are downloads (`attachment`).
    pub async fn read_url(
        &self,
        key: &str,
        file_name: &str,
        mime: &str,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        if let Some(base) = &self.public_base {
            return Ok(format!("{base}{key}"));
        }
        let config = PresigningConfig::expires_in(ttl).map_err(ApiError::internal)?;
        let request = self
            .client()?
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!(
                "{}; filename=\"{file_name}\"",
                if shown_inline(mime) {
                    "inline"
                } else {
                    "attachment"
                }
            ))
            .presigned(config)
            .await
            .map_err(ApiError::internal)?;
        Ok(request.uri().to_string())
    }

    pub async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), ApiError> {
        self.client()?
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }

    /// The object key a URL points at when it points into this bucket.
    pub fn key_of(&self, url: &str) -> Option<String> {
        match self.bucket_link(url) {
            BucketLink::Object(key) => Some(key),
            BucketLink::Outside | BucketLink::Refused => None,
        }
    }

    /// What a URL names in this deployment's storage, however it is
    /// spelled: any case of the host, a trailing dot, default ports,
    /// percent-encoding, virtual-hosted or path-style, any S3 endpoint name
    /// (regional, dual-stack, accelerated), loopback aliases of a local
    /// endpoint, or the public base. A URL on one of those hosts that is not
    /// the canonical spelling of an object of this bucket (the bucket in
    /// another case, empty or dot segments, a backslash) is
    /// [`BucketLink::Refused`]: S3 or a file server in front of it might
    /// resolve it to an object the key would not show.
    pub fn bucket_link(&self, url: &str) -> BucketLink {
        let Ok(parsed) = url::Url::parse(url) else {
            return BucketLink::Outside;
        };
        let Some(host) = parsed.host_str().map(normal_host) else {
            return BucketLink::Outside;
        };
        let Some(port) = parsed.port_or_known_default() else {
            return BucketLink::Outside;
        };
        // S3 decodes the path before it names a bucket or key.
        let Ok(path) = percent_encoding::percent_decode_str(parsed.path()).decode_utf8() else {
            return BucketLink::Refused;
        };
        let Some(path) = path.strip_prefix('/') else {
            return BucketLink::Refused;
        };
        // `bucket/key` on a host that serves buckets by path.
        let path_style = |only_ours: bool| match path.split_once('/') {
            Some((bucket, key)) if bucket == self.bucket => object(key),
            Some((bucket, _)) if bucket.eq_ignore_ascii_case(&self.bucket) => BucketLink::Refused,
            _ if only_ours => BucketLink::Refused,
            _ => BucketLink::Outside,
        };
        if host == "amazonaws.com" || host.ends_with(".amazonaws.com") {
            if let Some(rest) = host.strip_prefix(&format!("{}.", self.bucket)) {
                return if rest.starts_with("s3") {
                    object(path)
                } else {
                    BucketLink::Outside
                };
            }
            return if host.starts_with("s3") {
                path_style(false)
            } else {
                BucketLink::Outside
            };
        }
        if let Some((endpoint_host, endpoint_port)) = &self.endpoint {
            let same_host =
                host == *endpoint_host || (is_loopback(&host) && is_loopback(endpoint_host));
            if same_host && port == *endpoint_port {
                // The configured endpoint serves this deployment's bucket only.
                return path_style(true);
            }
        }
        let Some(base) = self
            .public_base
            .as_deref()
            .and_then(|b| url::Url::parse(b).ok())
        else {
            return BucketLink::Outside;
        };
        let Ok(base_path) = percent_encoding::percent_decode_str(base.path()).decode_utf8() else {
            return BucketLink::Outside;
        };
        let same_origin = base.host_str().map(normal_host) == Some(host)
            && base.port_or_known_default() == Some(port);
        if !same_origin {
            return BucketLink::Outside;
        }
        match path.strip_prefix(base_path.trim_start_matches('/')) {
            Some(key) => object(key),
            None => BucketLink::Refused,
        }
    }
}

/// What a URL names in this deployment's storage.
#[derive(Debug, PartialEq, Eq)]
pub enum BucketLink {
    /// Somewhere else.
    Outside,
    /// This object of the bucket.
    Object(String),
    /// A spelling that may reach the bucket but is not an object's
    /// canonical link.
    Refused,
}

/// A key as S3 stores it literally, or refused: no empty, `.` or `..`
/// segments (a doubled slash, a dot path a server in front might resolve),
/// no backslash or control characters.
fn object(key: &str) -> BucketLink {
    let canonical = !key.is_empty()
        && key
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
        && !key.chars().any(|c| c == '\\' || c.is_control());
    if canonical {
        BucketLink::Object(key.to_string())
    } else {
        BucketLink::Refused
    }
}

/// Types a browser only displays: raster images, audio, video, PDF and
/// plain text.
fn shown_inline(mime: &str) -> bool {
    matches!(
        mime,
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "image/bmp"
            | "application/pdf"
            | "text/plain"
    ) || mime.starts_with("video/")
        || mime.starts_with("audio/")
}

/// A host as a resolver sees it: lower case, without a trailing dot.
fn normal_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::{BucketLink, Storage};
    use crate::Config;

    #[test]
    fn links_into_the_bucket_are_canonical_or_refused() {
        let storage = Storage::without_client(&Config {
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            uploads_bucket: "chat-uploads".into(),
            ..Config::default()
        });
        let object = |k: &str| BucketLink::Object(k.to_string());
        for (url, want) in [
            (
                "http://127.0.0.1:9000/chat-uploads/a1/c/x.png",
                object("a1/c/x.png"),
            ),
            (
                "http://LOCALHOST.:9000/chat-uploads/a1/x%20y.png",
                object("a1/x y.png"),
            ),
            (
                "https://chat-uploads.s3.us-east-1.amazonaws.com/a1/x.png",
                object("a1/x.png"),
            ),
            (
                "https://s3.dualstack.eu-west-1.amazonaws.com/chat-uploads/a2/x",
                object("a2/x"),
            ),
            (
                "http://127.0.0.1:9000/CHAT-UPLOADS/a2/x.png",
                BucketLink::Refused,
            ),
            (
                "http://127.0.0.1:9000//chat-uploads/a2/x.png",
                BucketLink::Refused,
            ),
            (
                "http://127.0.0.1:9000/chat-uploads//a2/x.png",
                BucketLink::Refused,
            ),
            // The URL parser resolves these dot segments itself.
            (
                "http://127.0.0.1:9000/chat-uploads/a1/%2e%2e/a2/x",
                object("a2/x"),
            ),
            (
                "http://127.0.0.1:9000/chat-uploads/a1/..%2Fa2/x",
                BucketLink::Refused,
            ),
            (
                "http://127.0.0.1:9000/chat-uploads/a1\\..\\a2/x",
                object("a2/x"),
            ),
            (
                "http://127.0.0.1:9000/chat-uploads/a1/.%2F..%2Fa2/x",
                BucketLink::Refused,
            ),
            (
                "http://127.0.0.1:9000/other-bucket/a1/x",
                BucketLink::Refused,
            ),
            (
                "https://s3.amazonaws.com/Chat-Uploads/a2/x",
                BucketLink::Refused,
            ),
            (
                "https://s3.amazonaws.com/someone-elses/a2/x",
                BucketLink::Outside,
            ),
            ("https://example.com/chat-uploads/a2/x", BucketLink::Outside),
            (
                "http://127.0.0.1:9001/chat-uploads/a2/x",
                BucketLink::Outside,
            ),
        ] {
            assert_eq!(storage.bucket_link(url), want, "{url}");
        }
    }
}
