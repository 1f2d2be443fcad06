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
    client: Client,
    bucket: String,
    /// Base URLs under which this bucket's objects live, for recognising
    /// links to it (path-style endpoint, virtual-hosted, public base).
    bases: Vec<String>,
    public_base: Option<String>,
}

impl Storage {
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let mut builder = aws_sdk_s3::config::Builder::from(sdk);
        let mut bases = Vec::new();
        if let Some(endpoint) = &config.s3_endpoint {
            builder = builder.endpoint_url(endpoint).force_path_style(true);
            bases.push(format!(
                "{}/{}/",
                endpoint.trim_end_matches('/'),
                config.uploads_bucket
            ));
        }
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        bases.push(format!(
            "https://{}.s3.{region}.amazonaws.com/",
            config.uploads_bucket
        ));
        bases.push(format!(
            "https://{}.s3.amazonaws.com/",
            config.uploads_bucket
        ));
        bases.push(format!(
            "https://s3.{region}.amazonaws.com/{}/",
            config.uploads_bucket
        ));
        let public_base = config
            .uploads_public_base
            .as_ref()
            .map(|b| format!("{}/", b.trim_end_matches('/')));
        if let Some(base) = &public_base {
            bases.push(base.clone());
        }
        Self {
            client: Client::from_conf(builder.build()),
            bucket: config.uploads_bucket.clone(),
            bases,
            public_base,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists (the local stack; SAM creates it on AWS).
    pub async fn create_bucket_if_missing(&self) -> Result<(), ApiError> {
        match self
            .client
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
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
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

    /// Where the object can be read: under the public base when configured,
    /// else a presigned GET that downloads under `file_name`.
    pub async fn read_url(
        &self,
        key: &str,
        file_name: &str,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        if let Some(base) = &self.public_base {
            return Ok(format!("{base}{key}"));
        }
        let config = PresigningConfig::expires_in(ttl).map_err(ApiError::internal)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("inline; filename=\"{file_name}\""))
            .presigned(config)
            .await
            .map_err(ApiError::internal)?;
        Ok(request.uri().to_string())
    }

    pub async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), ApiError> {
        self.client
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

    /// The object key a URL points at, when it points into this bucket.
    pub fn key_of(&self, url: &str) -> Option<String> {
        let parsed = url::Url::parse(url).ok()?;
        let without_query = format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str()?,
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
        ) + parsed.path();
        // The path as parsed (dot segments resolved), not percent-decoded:
        // S3 keys are literal, so a prefix check on it is exact.
        self.bases.iter().find_map(|base| {
            without_query
                .strip_prefix(base.as_str())
                .map(str::to_string)
        })
    }
}
