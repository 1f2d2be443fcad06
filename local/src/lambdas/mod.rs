//! The faithful local mode (`chat-local --lambdas`, [`crate::StackOptions`]'s
//! `lambdas`): each function's real binary runs as its own process against a
//! local Lambda Runtime API, and an API Gateway emulator in front routes each
//! REST request by `template.yaml` (its paths and methods, read from the
//! template) to the function's process as a REST API proxy event, with what
//! API Gateway adds: the stage in `requestContext.path`, multi-value headers
//! and query strings, path parameters, and bodies base64-encoded only for the
//! template's binary media types (others arrive as text, and a binary body
//! that is not declared arrives mangled, as on AWS). The WebSocket emulator
//! hands its events to the realtime function's process the same way.
//!
//! Here the functions' start and environment; the template's reading in
//! `template`, the processes and their Runtime API in `runtime`, the REST
//! emulator in `rest`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chat_shared::Config;

mod rest;
mod runtime;
mod template;

pub use rest::to_response;
use runtime::Launcher;
pub use runtime::{cpu_ms_of_stat, process_cpu_ms, Function};
pub use template::Template;
use template::{Gets, Route};

/// How long an invocation may take before the emulator answers 504, as API
/// Gateway's integration timeout does.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(29);

/// API Gateway's REST payload limit.
const MAX_REQUEST: usize = 10 * 1024 * 1024;

/// Lambda's synchronous invocation payload limit (the whole event).
const MAX_EVENT: usize = 6 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct LambdaOptions {
    /// Folder with the function binaries (`users`, `channels`, ...).
    pub bin_dir: PathBuf,
    /// The SAM template that routes requests to functions.
    pub template: PathBuf,
    /// Processes per function at start (each takes one invocation at a
    /// time, as a Lambda instance does).
    pub instances: usize,
    /// Processes a function may grow to while all are busy.
    pub max_instances: usize,
    /// Pass the functions' logs through (off in tests unless asked).
    pub logs: bool,
}

impl LambdaOptions {
    /// The repository's template, and binaries in `bin_dir`.
    pub fn new(bin_dir: PathBuf) -> Self {
        Self {
            bin_dir,
            template: Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
            instances: 2,
            max_instances: 8,
            logs: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("template {0}: {1}")]
    Template(PathBuf, String),
    #[error("function binary {0} could not start: {1}")]
    Spawn(PathBuf, std::io::Error),
    #[error(
        "function binaries missing in {dir}: {names} (the template declares them; build them with \
         `cargo build --release {flags}`, or without --release for a debug folder)",
        names = .1.join(", "),
        flags = .1.iter().map(|b| format!("--bin {b}")).collect::<Vec<_>>().join(" "),
        dir = .0.display()
    )]
    MissingBinaries(PathBuf, Vec<String>),
    #[error("building the function binaries failed: {0}")]
    Build(String),
    #[error("could not bind a loopback port")]
    Bind(#[from] std::io::Error),
}

/// What the functions are told, as the template and Lambda tell them on AWS.
pub struct Environment {
    pub config: Config,
    pub dynamodb_url: String,
    pub s3_url: String,
    pub management_url: String,
    /// The functions' local Runtime APIs (filled in as they start).
    pub runtime_ports: Vec<u16>,
}

impl Environment {
    fn vars(&self, template: &Template, gets: Gets) -> Vec<(String, String)> {
        let c = &self.config;
        let mut vars: Vec<(String, String)> = template.globals.clone();
        vars.extend(
            [
                ("AWS_REGION", "us-east-1".to_string()),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_string()),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
                ("CHAT_REGION", "us-east-1".to_string()),
                ("CHAT_STATIC_CREDENTIALS", "1".to_string()),
                ("CHAT_DYNAMODB_ENDPOINT", self.dynamodb_url.clone()),
                ("CHAT_S3_ENDPOINT", self.s3_url.clone()),
                ("CHAT_TABLE_NAME", c.table_name.clone()),
                ("CHAT_OUTBOX_TABLE", c.outbox_table.clone()),
                ("CHAT_UPLOADS_BUCKET", c.uploads_bucket.clone()),
                (
                    "CHAT_APP_CACHE_SECONDS",
                    c.app_cache_ttl.as_secs().to_string(),
                ),
                ("CHAT_FANOUT_CONCURRENCY", c.fanout_concurrency.to_string()),
                (
                    "CHAT_FANOUT_INLINE_LIMIT",
                    c.fanout_inline_limit.to_string(),
                ),
                (
                    "CHAT_FANOUT_COALESCE_MS",
                    c.fanout_coalesce.as_millis().to_string(),
                ),
                ("CHAT_ERASE_SLICE_ITEMS", c.erase_slice_items.to_string()),
                (
                    "CHAT_UPLOAD_URL_SECONDS",
                    c.upload_url_ttl.as_secs().max(1).to_string(),
                ),
                (
                    "CHAT_HOOKS_ALLOW_LOOPBACK",
                    if c.hooks_allow_loopback { "1" } else { "0" }.to_string(),
                ),
                (
                    "CHAT_OUTBOUND_OWN_PORTS",
                    c.outbound_own_ports
                        .iter()
                        .chain(&self.runtime_ports)
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                (
                    "CHAT_OUTBOUND_HOSTS",
                    c.outbound_hosts
                        .iter()
                        .map(|(name, ip)| format!("{name}={ip}"))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                (
                    "CHAT_WEBHOOK_MAX_ATTEMPTS",
                    c.webhook_max_attempts.to_string(),
                ),
                (
                    "CHAT_WEBHOOK_BACKOFF_MS",
                    c.webhook_backoff.as_millis().to_string(),
                ),
                (
                    "CHAT_WEBHOOK_TIMEOUT_MS",
                    c.webhook_timeout.as_millis().to_string(),
                ),
                ("CHAT_FCM_URL", c.fcm_url.clone()),
                ("CHAT_FCM_TOKEN_URL", c.fcm_token_url.clone()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        if let Some(origin) = &c.cors_origin {
            vars.push(("CHAT_CORS_ORIGIN".into(), origin.clone()));
        }
        if let Some(base) = &c.uploads_public_base {
            vars.push(("CHAT_UPLOADS_PUBLIC_BASE".into(), base.clone()));
        }
        if let Some(url) = &c.apns_url {
            vars.push(("CHAT_APNS_URL".into(), url.clone()));
        }
        // Only the functions the template gives the queue get it.
        if let (true, Some(queue)) = (gets.queue, &c.schedule_queue_url) {
            vars.push(("CHAT_SCHEDULE_QUEUE_URL".into(), queue.clone()));
            if let Some(url) = &c.sqs_endpoint {
                vars.push(("CHAT_SQS_ENDPOINT".into(), url.clone()));
            }
        }
        // Only the functions the template gives the management API get it.
        if gets.management {
            vars.push((
                "CHAT_WEBSOCKET_ENDPOINT".into(),
                self.management_url.clone(),
            ));
        }
        vars
    }
}

/// Every function of the template, running.
pub struct Functions {
    template: Template,
    by_name: HashMap<String, Arc<Function>>,
}

impl Functions {
    /// Starts each function's binary (`instances` processes each), every
    /// one polling its own local Runtime API.
    pub async fn start(options: &LambdaOptions, env: &Environment) -> Result<Self, LambdaError> {
        let template = Template::read(&options.template)?;
        let missing: Vec<String> = template
            .binaries()
            .into_iter()
            .filter(|binary| !options.bin_dir.join(binary).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(LambdaError::MissingBinaries(
                options.bin_dir.clone(),
                missing,
            ));
        }
        // Every Runtime API is bound before any function starts, so each
        // function is told all of them as ports it may not call.
        let mut listeners = Vec::new();
        for logical in template.functions.keys() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            listeners.push((logical.clone(), listener));
        }
        let env = &Environment {
            runtime_ports: listeners
                .iter()
                .filter_map(|(_, l)| l.local_addr().ok().map(|a| a.port()))
                .collect(),
            config: env.config.clone(),
            dynamodb_url: env.dynamodb_url.clone(),
            s3_url: env.s3_url.clone(),
            management_url: env.management_url.clone(),
        };
        let mut by_name = HashMap::new();
        for (logical, listener) in listeners {
            let (binary, gets) = &template.functions[&logical];
            let logical = &logical;
            let launcher = Launcher {
                path: options.bin_dir.join(binary),
                runtime_api: listener.local_addr()?.to_string(),
                logical: logical.clone(),
                vars: env.vars(&template, *gets),
                logs: options.logs,
            };
            let function = Function::start(
                listener,
                launcher,
                options.instances.max(1),
                options.max_instances.max(options.instances),
            )?;
            by_name.insert(logical.clone(), Arc::new(function));
        }
        Ok(Self { template, by_name })
    }

    /// Each function's CPU time so far (ms), by its template name.
    pub fn cpu_ms(&self) -> std::collections::BTreeMap<String, f64> {
        self.by_name
            .iter()
            .map(|(name, function)| (name.clone(), function.cpu_ms()))
            .collect()
    }

    /// The function the WebSocket API invokes.
    pub fn realtime(&self) -> Option<Arc<Function>> {
        self.by_name
            .get(self.template.realtime.as_deref()?)
            .cloned()
    }

    /// The function the WebSocket API's `$connect` authorizer invokes.
    pub fn authorizer(&self) -> Option<Arc<Function>> {
        self.by_name
            .get(self.template.authorizer.as_deref()?)
            .cloned()
    }

    /// Whether the `$default` route sends the function's answer back on the
    /// socket (a two-way route).
    pub fn two_way(&self) -> bool {
        self.template.two_way
    }

    /// The functions the outbox stream feeds, with the key prefixes each
    /// one's filters let through.
    pub fn stream_consumers(&self) -> Vec<(Vec<String>, Arc<Function>)> {
        self.template
            .stream_consumers
            .iter()
            .filter_map(|(name, prefixes)| {
                Some((prefixes.clone(), self.by_name.get(name)?.clone()))
            })
            .collect()
    }

    /// The functions the scheduler's queue feeds.
    pub fn queue_consumers(&self) -> Vec<Arc<Function>> {
        self.template
            .queue_consumers
            .iter()
            .filter_map(|name| self.by_name.get(name).cloned())
            .collect()
    }
}
