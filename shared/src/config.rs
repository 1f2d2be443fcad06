//! Configuration, read once at start-up into one typed struct.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// The single DynamoDB table (`CHAT_TABLE_NAME`, default `chat`).
    pub table_name: String,
    /// The outbox table, whose stream feeds the fan-out function
    /// (`CHAT_OUTBOX_TABLE`, default `chat-outbox`).
    pub outbox_table: String,
    /// Explicit DynamoDB endpoint (`CHAT_DYNAMODB_ENDPOINT`); when unset the SDK's
    /// own resolution applies, which also honours `AWS_ENDPOINT_URL_DYNAMODB`.
    pub dynamodb_endpoint: Option<String>,
    /// Region override (`AWS_REGION` is read by the SDK when unset).
    pub region: Option<String>,
    /// Use fixed dummy credentials: the local emulators accept any, and a laptop
    /// may have none configured.
    pub static_credentials: bool,
    /// How long a warm process trusts a cached application (and its secret).
    pub app_cache_ttl: Duration,
    /// The WebSocket API's management endpoint (`CHAT_WEBSOCKET_ENDPOINT`,
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`); unset: no
    /// events are pushed.
    pub websocket_endpoint: Option<String>,
    /// At most this many `post_to_connection` calls in flight per fan-out
    /// (`CHAT_FANOUT_CONCURRENCY`).
    pub fanout_concurrency: usize,
    /// A channel event goes to at most this many listeners from the request
    /// that caused it; beyond, the fan-out function delivers it
    /// (`CHAT_FANOUT_INLINE_LIMIT`, 0..10000).
    pub fanout_inline_limit: usize,
    /// A channel's crowd fan-outs start at least this far apart; the events
    /// produced meanwhile go to each connection as one batch frame
    /// (`CHAT_FANOUT_COALESCE_MS`, 0..5000).
    pub fanout_coalesce: Duration,
    /// Messages and reactions one slice of a user's erasure handles before
    /// it hands on to the next (`CHAT_ERASE_SLICE_ITEMS`, 1..10000).
    pub erase_slice_items: usize,
    /// The uploads bucket (`CHAT_UPLOADS_BUCKET`).
    pub uploads_bucket: String,
    /// Explicit S3 endpoint (`CHAT_S3_ENDPOINT`; the SDK's own
    /// `AWS_ENDPOINT_URL_S3` also works), path-style when set.
    pub s3_endpoint: Option<String>,
    /// Explicit SQS endpoint (`CHAT_SQS_ENDPOINT`; the SDK's own
    /// `AWS_ENDPOINT_URL_SQS` also works).
    pub sqs_endpoint: Option<String>,
    /// The scheduler's queue (`CHAT_SCHEDULE_QUEUE_URL`): work due later
    /// ([`crate::scheduler`]). Unset: nothing can be scheduled.
    pub schedule_queue_url: Option<String>,
    /// How long presigned upload and download URLs live (`CHAT_UPLOAD_URL_SECONDS`).
    pub upload_url_ttl: Duration,
    /// A public or CDN base for reading uploads (`CHAT_UPLOADS_PUBLIC_BASE`);
    /// unset: `file_url` is a presigned GET.
    pub uploads_public_base: Option<String>,
    /// The origin browsers may call the REST API from (`CHAT_CORS_ORIGIN`,
    /// `*` for any); unset: no CORS headers.
    pub cors_origin: Option<String>,
    /// Webhook and before-send URLs may be `http` to a loopback host
    /// (`CHAT_HOOKS_ALLOW_LOOPBACK=1`: the local stack). Off on AWS, where a
    /// loopback address is the function's own runtime.
    pub hooks_allow_loopback: bool,
    /// Ports on loopback that no outbound call may reach even where loopback
    /// is allowed: the local stack's own (`CHAT_OUTBOUND_OWN_PORTS`, a comma
    /// list).
    pub outbound_own_ports: Vec<u16>,
    /// Fixed answers for host names (`CHAT_OUTBOUND_HOSTS`,
    /// `name=address,...`), consulted before DNS; the addresses still pass
    /// the outbound guard. For tests that must show a name resolving to a
    /// refused address without sending anything.
    pub outbound_hosts: Vec<(String, std::net::IpAddr)>,
    /// Deliveries of a webhook before it is dead-lettered
    /// (`CHAT_WEBHOOK_MAX_ATTEMPTS`, 1..20).
    pub webhook_max_attempts: u32,
    /// The wait before a webhook's second attempt; each later one waits four
    /// times longer (`CHAT_WEBHOOK_BACKOFF_MS`, 1..60000).
    pub webhook_backoff: Duration,
    /// How long a webhook receiver may take to answer (`CHAT_WEBHOOK_TIMEOUT_MS`).
    pub webhook_timeout: Duration,
    /// FCM HTTP v1's base (`CHAT_FCM_URL`).
    pub fcm_url: String,
    /// Google's OAuth2 token endpoint for service accounts (`CHAT_FCM_TOKEN_URL`).
    pub fcm_token_url: String,
    /// APNs' base (`CHAT_APNS_URL`); unset: Apple's production or sandbox
    /// gateway, as each app's credentials say.
    pub apns_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Default for Config {
    fn default() -> Self {
        Self {
            table_name: "chat".into(),
            outbox_table: "chat-outbox".into(),
            dynamodb_endpoint: None,
            region: None,
            static_credentials: false,
            app_cache_ttl: Duration::from_secs(60),
            websocket_endpoint: None,
            fanout_concurrency: 32,
            fanout_inline_limit: 100,
            fanout_coalesce: Duration::from_millis(50),
            erase_slice_items: 1_000,
            uploads_bucket: "chat-uploads".into(),
            s3_endpoint: None,
            sqs_endpoint: None,
            schedule_queue_url: None,
            upload_url_ttl: Duration::from_secs(900),
            uploads_public_base: None,
            cors_origin: None,
            hooks_allow_loopback: false,
            outbound_own_ports: Vec::new(),
            outbound_hosts: Vec::new(),
            webhook_max_attempts: 5,
            webhook_backoff: Duration::from_secs(1),
            webhook_timeout: Duration::from_secs(5),
            fcm_url: "https://fcm.googleapis.com".into(),
            fcm_token_url: "https://oauth2.googleapis.com/token".into(),
            apns_url: None,
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(table) = get("CHAT_TABLE_NAME").filter(|t| !t.is_empty()) {
            config.table_name = table;
        }
        if let Some(table) = get("CHAT_OUTBOX_TABLE").filter(|t| !t.is_empty()) {
            config.outbox_table = table;
        }
        config.dynamodb_endpoint = get("CHAT_DYNAMODB_ENDPOINT").filter(|e| !e.is_empty());
        config.region = get("CHAT_REGION").filter(|r| !r.is_empty());
        config.static_credentials = get("CHAT_STATIC_CREDENTIALS").is_some_and(|v| v == "1");
        config.websocket_endpoint = get("CHAT_WEBSOCKET_ENDPOINT").filter(|e| !e.is_empty());
        if let Some(bucket) = get("CHAT_UPLOADS_BUCKET").filter(|b| !b.is_empty()) {
            config.uploads_bucket = bucket;
        }
        config.s3_endpoint = get("CHAT_S3_ENDPOINT").filter(|e| !e.is_empty());
        config.sqs_endpoint = get("CHAT_SQS_ENDPOINT").filter(|e| !e.is_empty());
        config.schedule_queue_url = get("CHAT_SCHEDULE_QUEUE_URL").filter(|e| !e.is_empty());
        config.cors_origin = get("CHAT_CORS_ORIGIN").filter(|e| !e.is_empty());
        config.uploads_public_base = get("CHAT_UPLOADS_PUBLIC_BASE").filter(|e| !e.is_empty());
        if let Some(secs) = get("CHAT_UPLOAD_URL_SECONDS") {
            let secs: u64 = secs
                .parse()
                .ok()
                .filter(|s| (1..=604_800).contains(s))
                .ok_or_else(|| {
                    ConfigError(format!("CHAT_UPLOAD_URL_SECONDS={secs} is not 1..604800"))
                })?;
            config.upload_url_ttl = Duration::from_secs(secs);
        }
        if let Some(n) = get("CHAT_FANOUT_CONCURRENCY") {
            config.fanout_concurrency = n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!("CHAT_FANOUT_CONCURRENCY={n} is not 1..1000"))
                })?;
        }
        if let Some(n) = get("CHAT_FANOUT_INLINE_LIMIT") {
            config.fanout_inline_limit = n
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 10_000)
                .ok_or_else(|| {
                    ConfigError(format!("CHAT_FANOUT_INLINE_LIMIT={n} is not 0..10000"))
                })?;
        }
        if let Some(n) = get("CHAT_FANOUT_COALESCE_MS") {
            let ms = n
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 5_000)
                .ok_or_else(|| {
                    ConfigError(format!("CHAT_FANOUT_COALESCE_MS={n} is not 0..5000"))
                })?;
            config.fanout_coalesce = Duration::from_millis(ms);
        }
        if let Some(n) = get("CHAT_ERASE_SLICE_ITEMS") {
            config.erase_slice_items = n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!("CHAT_ERASE_SLICE_ITEMS={n} is not 1..10000"))
                })?;
        }
        config.hooks_allow_loopback = get("CHAT_HOOKS_ALLOW_LOOPBACK").is_some_and(|v| v == "1");
        if let Some(ports) = get("CHAT_OUTBOUND_OWN_PORTS").filter(|p| !p.is_empty()) {
            config.outbound_own_ports = ports
                .split(',')
                .map(|p| p.trim().parse::<u16>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    ConfigError(format!(
                        "CHAT_OUTBOUND_OWN_PORTS={ports} is not a list of ports"
                    ))
                })?;
        }
        if let Some(hosts) = get("CHAT_OUTBOUND_HOSTS").filter(|h| !h.is_empty()) {
            config.outbound_hosts = hosts
                .split(',')
                .map(|pair| {
                    let (name, ip) = pair.split_once('=')?;
                    Some((name.trim().to_ascii_lowercase(), ip.trim().parse().ok()?))
                })
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ConfigError(format!(
                        "CHAT_OUTBOUND_HOSTS={hosts} is not name=address,..."
                    ))
                })?;
        }
        if let Some(url) = get("CHAT_FCM_URL").filter(|u| !u.is_empty()) {
            config.fcm_url = url;
        }
        if let Some(url) = get("CHAT_FCM_TOKEN_URL").filter(|u| !u.is_empty()) {
            config.fcm_token_url = url;
        }
        config.apns_url = get("CHAT_APNS_URL").filter(|u| !u.is_empty());
        if let Some(n) = get("CHAT_WEBHOOK_MAX_ATTEMPTS") {
            config.webhook_max_attempts = n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=20).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!("CHAT_WEBHOOK_MAX_ATTEMPTS={n} is not 1..20"))
                })?;
        }
        for (name, slot, max) in [
            (
                "CHAT_WEBHOOK_BACKOFF_MS",
                &mut config.webhook_backoff,
                60_000,
            ),
            (
                "CHAT_WEBHOOK_TIMEOUT_MS",
                &mut config.webhook_timeout,
                30_000,
            ),
        ] {
            if let Some(ms) = get(name) {
                let ms = ms
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (1..=max).contains(ms))
                    .ok_or_else(|| ConfigError(format!("{name}={ms} is not 1..{max}")))?;
                *slot = Duration::from_millis(ms);
            }
        }
        if let Some(secs) = get("CHAT_APP_CACHE_SECONDS") {
            let secs: u64 = secs.parse().map_err(|_| {
                ConfigError(format!("CHAT_APP_CACHE_SECONDS={secs} is not a number"))
            })?;
            config.app_cache_ttl = Duration::from_secs(secs);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_variables_and_refuses_garbage() {
        let c = Config::from_lookup(|k| match k {
            "CHAT_TABLE_NAME" => Some("t1".into()),
            "CHAT_APP_CACHE_SECONDS" => Some("5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.table_name, "t1");
        assert_eq!(c.app_cache_ttl, Duration::from_secs(5));
        assert!(
            Config::from_lookup(|k| (k == "CHAT_APP_CACHE_SECONDS").then(|| "x".into())).is_err()
        );
    }
}
