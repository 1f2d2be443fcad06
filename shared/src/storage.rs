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

    /// The object key a URL points at when it points into this bucket,
    /// however it is spelled: any case of the host, a trailing dot, default
    /// ports, percent-encoding, virtual-hosted or path-style, any S3 endpoint
    /// name (regional, dual-stack, accelerated), loopback aliases of a local
    /// endpoint, or the public base.
    pub fn key_of(&self, url: &str) -> Option<String> {
        let parsed = url::Url::parse(url).ok()?;
        let host = normal_host(parsed.host_str()?);
        let port = parsed.port_or_known_default()?;
        // S3 decodes the path before it names a bucket or key.
        let path = percent_encoding::percent_decode_str(parsed.path())
            .decode_utf8()
            .ok()?;
        let path = path.strip_prefix('/')?;
        let path_style = || {
            path.strip_prefix(self.bucket.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .map(str::to_string)
        };
        if host == "amazonaws.com" || host.ends_with(".amazonaws.com") {
            if let Some(rest) = host.strip_prefix(&format!("{}.", self.bucket)) {
                return rest.starts_with("s3").then(|| path.to_string());
            }
            return if host.starts_with("s3") {
                path_style()
            } else {
                None
            };
        }
        if let Some((endpoint_host, endpoint_port)) = &self.endpoint {
            let same_host =
                host == *endpoint_host || (is_loopback(&host) && is_loopback(endpoint_host));
            if same_host && port == *endpoint_port {
                return path_style();
            }
        }
        let base = url::Url::parse(self.public_base.as_deref()?).ok()?;
        let base_path = percent_encoding::percent_decode_str(base.path())
            .decode_utf8()
            .ok()?;
        let same_origin =
            normal_host(base.host_str()?) == host && base.port_or_known_default() == Some(port);
        same_origin
            .then(|| {
                path.strip_prefix(base_path.trim_start_matches('/'))
                    .map(str::to_string)
            })
            .flatten()
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
