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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot, Mutex as AsyncMutex};

use chat_shared::Config;

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

/// One REST route of the template: `Path` (with `{name}` and `{proxy+}`),
/// `Method` (or `ANY`), and the function it invokes.
#[derive(Clone, Debug)]
struct Route {
    path: String,
    method: String,
    function: String,
}

/// What the emulator reads from `template.yaml`.
#[derive(Clone, Debug)]
pub struct Template {
    routes: Vec<Route>,
    /// `multipart/form-data`, `image/*`, `*/*`, ...
    binary_media_types: Vec<String>,
    stage: String,
    /// Logical id → binary name and what it is given.
    functions: HashMap<String, (String, Gets)>,
    /// The function the WebSocket API's integration invokes.
    realtime: Option<String>,
    /// The functions the outbox stream feeds (events of `Type: DynamoDB`),
    /// each with the key prefixes its filters let through.
    stream_consumers: Vec<(String, Vec<String>)>,
    /// The functions the scheduler's queue feeds (events of `Type: SQS`).
    queue_consumers: Vec<String>,
    /// Plain `AWS_LAMBDA_*` and `RUST_LOG` values of `Globals.Function`.
    globals: Vec<(String, String)>,
}

/// What the template gives a function beyond the table.
#[derive(Clone, Copy, Debug, Default)]
struct Gets {
    /// The management API (`CHAT_WEBSOCKET_ENDPOINT`).
    management: bool,
    /// The scheduler's queue (`CHAT_SCHEDULE_QUEUE_URL`).
    queue: bool,
}

/// The `prefix` of each of a stream event's filters on `dynamodb.Keys.pk`.
fn stream_prefixes(properties: &serde_yaml_ng::Value) -> Option<Vec<String>> {
    properties["FilterCriteria"]["Filters"]
        .as_sequence()?
        .iter()
        .map(|filter| {
            let pattern: serde_json::Value =
                serde_json::from_str(filter["Pattern"].as_str()?).ok()?;
            pattern["dynamodb"]["Keys"]["pk"]["S"][0]["prefix"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

impl Template {
    pub fn read(path: &Path) -> Result<Self, LambdaError> {
        let bad = |why: String| LambdaError::Template(path.to_path_buf(), why);
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let resources = doc["Resources"]
            .as_mapping()
            .ok_or_else(|| bad("no Resources".into()))?;
        let mut routes = Vec::new();
        let mut functions = HashMap::new();
        let mut realtime = None;
        let mut stream_consumers = Vec::new();
        let mut queue_consumers = Vec::new();
        for (name, resource) in resources {
            let Some(name) = name.as_str() else { continue };
            match resource["Type"].as_str() {
                Some("AWS::Serverless::Function") => {
                    let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                        .as_str()
                        .ok_or_else(|| bad(format!("{name} names no Binary")))?;
                    let vars = &resource["Properties"]["Environment"]["Variables"];
                    let gets = Gets {
                        management: !vars["CHAT_WEBSOCKET_ENDPOINT"].is_null(),
                        queue: !vars["CHAT_SCHEDULE_QUEUE_URL"].is_null(),
                    };
                    functions.insert(name.to_string(), (binary.to_string(), gets));
                    for (_, event) in resource["Properties"]["Events"]
                        .as_mapping()
                        .into_iter()
                        .flatten()
                    {
                        if event["Type"].as_str() == Some("DynamoDB") {
                            let prefixes =
                                stream_prefixes(&event["Properties"]).ok_or_else(|| {
                                    bad(format!("{name}'s stream has no key-prefix filter"))
                                })?;
                            stream_consumers.push((name.to_string(), prefixes));
                        }
                        if event["Type"].as_str() == Some("SQS") {
                            queue_consumers.push(name.to_string());
                        }
                        if event["Type"].as_str() != Some("Api") {
                            continue;
                        }
                        let props = &event["Properties"];
                        if let (Some(path), Some(method)) =
                            (props["Path"].as_str(), props["Method"].as_str())
                        {
                            routes.push(Route {
                                path: path.to_string(),
                                method: method.to_ascii_uppercase(),
                                function: name.to_string(),
                            });
                        }
                    }
                }
                Some("AWS::ApiGatewayV2::Integration") => {
                    realtime =
                        tagged_text(&resource["Properties"]["IntegrationUri"]).and_then(|uri| {
                            // `...functions/${RealtimeFunction.Arn}/invocations`
                            let end = uri.find(".Arn}")?;
                            let start = uri[..end].rfind("${")? + 2;
                            Some(uri[start..end].to_string())
                        });
                }
                _ => {}
            }
        }
        let binary_media_types = resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Api"))
            .flat_map(|(_, r)| {
                r["Properties"]["BinaryMediaTypes"]
                    .as_sequence()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|t| t.as_str().map(|t| t.replace("~1", "/")))
            .collect();
        let stage = doc["Parameters"]["StageName"]["Default"]
            .as_str()
            .unwrap_or("prod")
            .to_string();
        let globals = doc["Globals"]["Function"]["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
            .filter(|(k, _)| k.starts_with("AWS_LAMBDA_") || k == "RUST_LOG")
            .collect();
        Ok(Self {
            routes,
            binary_media_types,
            stage,
            functions,
            realtime,
            stream_consumers,
            queue_consumers,
            globals,
        })
    }

    /// Every function binary the template declares, sorted.
    pub fn binaries(&self) -> Vec<String> {
        let mut names: Vec<String> = self.functions.values().map(|(b, _)| b.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The route API Gateway would pick: first the most specific resource
    /// whose path matches (literal segments beat `{param}`, which beats
    /// `{proxy+}`), then that resource's method, or `ANY`. A resource without
    /// the method is no match, even if a less specific one has it.
    fn route(&self, method: &str, path: &str) -> Option<(&Route, Map<String, Value>)> {
        let (_, best, params) = self
            .routes
            .iter()
            .filter_map(|r| matches(&r.path, path).map(|(rank, params)| (rank, r, params)))
            .max_by_key(|(rank, _, _)| rank.clone())?;
        let resource = &best.path;
        let chosen = self
            .routes
            .iter()
            .filter(|r| &r.path == resource)
            .filter(|r| r.method == "ANY" || r.method == method)
            .max_by_key(|r| r.method != "ANY")?;
        Some((chosen, params))
    }

    fn is_binary(&self, content_type: &str) -> bool {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        self.binary_media_types.iter().any(|declared| {
            declared == "*/*"
                || declared == media
                || declared
                    .strip_suffix("/*")
                    .is_some_and(|family| media.split('/').next() == Some(family))
        })
    }
}

/// A `!Sub` or plain string value.
fn tagged_text(value: &serde_yaml_ng::Value) -> Option<String> {
    match value {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Tagged(tagged) => tagged.value.as_str().map(str::to_string),
        _ => None,
    }
}

/// Whether `path` fits the resource `pattern`; a rank (literal segments per
/// position, higher is more specific) and the path parameters.
fn matches(pattern: &str, path: &str) -> Option<(Vec<u8>, Map<String, Value>)> {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut rank = Vec::new();
    let mut params = Map::new();
    for (i, part) in pattern.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            let rest = segments.get(i..).filter(|r| !r.is_empty())?;
            params.insert(name.to_string(), json!(rest.join("/")));
            rank.push(0);
            return Some((rank, params));
        }
        let segment = segments.get(i)?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            params.insert(name.to_string(), json!(segment));
            rank.push(1);
        } else if part == segment {
            rank.push(2);
        } else {
            return None;
        }
    }
    (pattern.len() == segments.len()).then_some((rank, params))
}

type Pending = (Value, oneshot::Sender<Result<Value, String>>);

/// How to start one more process of a function.
struct Launcher {
    path: PathBuf,
    runtime_api: String,
    logical: String,
    vars: Vec<(String, String)>,
    logs: bool,
}

impl Launcher {
    fn spawn(&self) -> Result<Child, LambdaError> {
        Command::new(&self.path)
            .env("AWS_LAMBDA_RUNTIME_API", &self.runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.logical)
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if self.logs {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(|e| LambdaError::Spawn(self.path.clone(), e))
    }
}

/// A function: its processes, polling one local Runtime API. Like Lambda,
/// it starts another process when every one is busy, up to its limit.
pub struct Function {
    name: String,
    queue: mpsc::UnboundedSender<Pending>,
    children: Mutex<Vec<Child>>,
    launcher: Launcher,
    /// Invocations in flight.
    busy: AtomicUsize,
    max_instances: usize,
}

struct Runtime {
    queue: AsyncMutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>,
    next_id: AtomicU64,
}

impl Function {
    /// Invokes the function with an event and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        let busy = self.busy.fetch_add(1, Ordering::SeqCst) + 1;
        let answer = self.invoke_one(event, busy).await;
        self.busy.fetch_sub(1, Ordering::SeqCst);
        answer
    }

    async fn invoke_one(&self, event: Value, busy: usize) -> Result<Value, String> {
        {
            let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
            if busy > children.len() && children.len() < self.max_instances {
                match self.launcher.spawn() {
                    Ok(child) => children.push(child),
                    Err(err) => tracing::warn!(error = %err, "could not start another process"),
                }
            }
        }
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((event, tx))
            .map_err(|_| format!("{} is not running", self.name))?;
        match tokio::time::timeout(INVOCATION_TIMEOUT, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(format!("{} dropped the invocation", self.name)),
            Err(_) => Err(format!("{} timed out", self.name)),
        }
    }
}

impl Function {
    /// CPU time (user and system, ms) its processes have used so far, from
    /// `/proc/{pid}/stat`: what Lambda bills as duration is at least this.
    pub fn cpu_ms(&self) -> f64 {
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|child| process_cpu_ms(child.id()))
            .sum()
    }
}

/// CPU time (ms) of a process, 0 where `/proc` is not there.
pub fn process_cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    cpu_ms_of_stat(&stat)
}

/// utime + stime of a `/proc/.../stat` line, in ms: the 12th and 13th
/// fields after the `)` that closes the name; USER_HZ is 100 on Linux.
pub fn cpu_ms_of_stat(stat: &str) -> f64 {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks as f64 * 10.0
}

impl Drop for Function {
    fn drop(&mut self) {
        for child in self
            .children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn next(State(runtime): State<Arc<Runtime>>) -> Response {
    let Some((event, reply)) = runtime.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let id = format!("local-{}", runtime.next_id.fetch_add(1, Ordering::Relaxed));
    runtime
        .waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), reply);
    let deadline = chat_shared::time::now_millis() + INVOCATION_TIMEOUT.as_millis() as i64;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:local".to_string(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_string(),
        ),
        ("content-type", "application/json".to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, event.to_string()).into_response()
}

fn finish(runtime: &Runtime, id: &str, answer: Result<Value, String>) -> StatusCode {
    let reply = runtime
        .waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match reply {
        Some(reply) => {
            let _ = reply.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn respond(
    State(runtime): State<Arc<Runtime>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let answer = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"));
    finish(&runtime, &id, answer)
}

async fn fail(
    State(runtime): State<Arc<Runtime>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(
        &runtime,
        &id,
        Err(String::from_utf8_lossy(&body).into_owned()),
    )
}

async fn init_error(body: Bytes) -> StatusCode {
    tracing::error!(error = %String::from_utf8_lossy(&body), "a function failed its init");
    StatusCode::ACCEPTED
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
            let (tx, rx) = mpsc::unbounded_channel();
            let runtime = Arc::new(Runtime {
                queue: AsyncMutex::new(rx),
                waiting: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            });
            let api = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route(
                    "/2018-06-01/runtime/invocation/{id}/response",
                    post(respond),
                )
                .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
                .route("/2018-06-01/runtime/init/error", post(init_error))
                .with_state(runtime);
            let address = listener.local_addr()?;
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, api).await {
                    tracing::error!(error = %err, "a local Runtime API stopped");
                }
            });
            let launcher = Launcher {
                path: options.bin_dir.join(binary),
                runtime_api: address.to_string(),
                logical: logical.clone(),
                vars: env.vars(&template, *gets),
                logs: options.logs,
            };
            let mut children = Vec::new();
            for _ in 0..options.instances.max(1) {
                children.push(launcher.spawn()?);
            }
            by_name.insert(
                logical.clone(),
                Arc::new(Function {
                    name: logical.clone(),
                    queue: tx,
                    children: Mutex::new(children),
                    launcher,
                    busy: AtomicUsize::new(0),
                    max_instances: options.max_instances.max(options.instances),
                }),
            );
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

    /// The API Gateway REST emulator: every request, routed by the template.
    pub fn rest_service(self: &Arc<Self>) -> Router {
        Router::new()
            .fallback(proxy)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST))
            .with_state(self.clone())
    }

    /// The REST API proxy event API Gateway would build for this request.
    fn event(&self, route: &Route, params: Map<String, Value>, request: &RestRequest) -> Value {
        let mut single = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (name, value) in &request.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            single.insert(name.to_string(), json!(value));
            match multi.get_mut(name.as_str()) {
                Some(Value::Array(values)) => values.push(json!(value)),
                _ => {
                    multi.insert(name.to_string(), json!([value]));
                }
            }
        }
        let query: Vec<(String, String)> = request
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let mut query_single = Map::new();
        let mut query_multi: Map<String, Value> = Map::new();
        for (name, value) in &query {
            query_single.insert(name.clone(), json!(value));
            match query_multi.get_mut(name) {
                Some(Value::Array(values)) => values.push(json!(value)),
                _ => {
                    query_multi.insert(name.clone(), json!([value]));
                }
            }
        }
        let content_type = request
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let binary = self.template.is_binary(content_type);
        let body = if request.body.is_empty() {
            Value::Null
        } else if binary {
            json!(base64::engine::general_purpose::STANDARD.encode(&request.body))
        } else {
            // Not a binary media type: the body travels as text, so bytes that
            // are not UTF-8 are lost, exactly as on API Gateway.
            json!(String::from_utf8_lossy(&request.body))
        };
        let path = request.uri.path();
        let optional = |m: Map<String, Value>| {
            if m.is_empty() {
                Value::Null
            } else {
                Value::Object(m)
            }
        };
        json!({
            "resource": route.path,
            "path": path,
            "httpMethod": request.method.as_str(),
            "headers": single,
            "multiValueHeaders": multi,
            "queryStringParameters": optional(query_single),
            "multiValueQueryStringParameters": optional(query_multi),
            "pathParameters": optional(params),
            "stageVariables": null,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": request.method.as_str(),
                "path": format!("/{}{path}", self.template.stage),
                "stage": self.template.stage,
                "accountId": "123456789012",
                "apiId": "local",
                "requestId": uuid::Uuid::new_v4().to_string(),
                "identity": { "sourceIp": "127.0.0.1" },
                "protocol": "HTTP/1.1",
                "requestTimeEpoch": chat_shared::time::now_millis(),
            },
            "body": body,
            "isBase64Encoded": binary && !request.body.is_empty(),
        })
    }
}

struct RestRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// One REST request through the template's routing to its function.
async fn proxy(
    State(functions): State<Arc<Functions>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RestRequest {
        method,
        uri,
        headers,
        body,
    };
    let Some((route, params)) = functions
        .template
        .route(request.method.as_str(), request.uri.path())
    else {
        // What API Gateway answers for a path and method no resource has.
        return (
            StatusCode::FORBIDDEN,
            [("x-amzn-errortype", "MissingAuthenticationTokenException")],
            axum::Json(json!({ "message": "Missing Authentication Token" })),
        )
            .into_response();
    };
    let Some(function) = functions.by_name.get(&route.function) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "no such function");
    };
    let event = functions.event(route, params, &request);
    if event.to_string().len() > MAX_EVENT {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long");
    }
    match function.invoke(event).await {
        Ok(answer) => to_response(&answer),
        Err(err) => {
            tracing::warn!(function = %route.function, error = %err, "invocation failed");
            gateway_error(StatusCode::BAD_GATEWAY, "Internal server error")
        }
    }
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// The function's proxy response as the HTTP response API Gateway sends.
pub fn to_response(answer: &Value) -> Response {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let text = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, values) in answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for value in values.as_array().into_iter().flatten() {
            if let (Ok(name), Some(Ok(value))) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.append(name, value);
            }
        }
    }
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_as_api_gateway_picks_them() {
        let (rank, params) =
            matches("/api/v1/users/{proxy+}", "/api/v1/users/alice/token").unwrap();
        assert_eq!(params["proxy"], "alice/token");
        assert_eq!(rank, vec![2, 2, 2, 0]);
        assert!(matches("/api/v1/users", "/api/v1/users/alice").is_none());
        assert!(matches("/api/v1/users/{proxy+}", "/api/v1/users").is_none());
        let (_, params) = matches(
            "/api/v1/channels/{id}/messages",
            "/api/v1/channels/c1/messages",
        )
        .unwrap();
        assert_eq!(params["id"], "c1");
    }

    #[test]
    fn the_repositorys_template_routes_every_group() {
        let template =
            Template::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
                .unwrap();
        let to = |method: &str, path: &str| {
            template
                .route(method, path)
                .map(|(r, _)| r.function.clone())
        };
        assert_eq!(
            to("GET", "/api/v1/users/alice").as_deref(),
            Some("UsersFunction")
        );
        assert_eq!(
            to("POST", "/api/v1/messages").as_deref(),
            Some("MessagesFunction")
        );
        assert_eq!(
            to("GET", "/api/v1/channels/c1/messages").as_deref(),
            Some("MessagesFunction")
        );
        assert_eq!(
            to("POST", "/api/v1/channels/c1/members").as_deref(),
            Some("ChannelsFunction")
        );
        assert_eq!(
            to("POST", "/api/v1/upload").as_deref(),
            Some("UploadsFunction")
        );
        // Unknown paths reach the users function's JSON 404 (`/{proxy+}`)...
        assert_eq!(to("GET", "/nowhere").as_deref(), Some("UsersFunction"));
        // ...but a resource without the method is API Gateway's 403, even
        // though a less specific resource takes every method.
        assert_eq!(to("POST", "/api/v1/openapi.json"), None);
        assert!(template.is_binary("multipart/form-data; boundary=x"));
        assert!(!template.is_binary("application/json"));
        assert_eq!(template.realtime.as_deref(), Some("RealtimeFunction"));
        assert_eq!(
            template.stream_consumers,
            [
                ("FanoutFunction".to_string(), vec!["FANOUT#".to_string()]),
                (
                    "NotifyFunction".to_string(),
                    vec!["WEBHOOK#".to_string(), "PUSH#".to_string()]
                ),
                ("EraseFunction".to_string(), vec!["ERASE#".to_string()])
            ]
        );
        assert_eq!(template.queue_consumers, ["NotifyFunction"]);
        assert!(template.functions["NotifyFunction"].1.queue);
        assert!(!template.functions["EraseFunction"].1.queue);
        assert_eq!(template.stage, "prod");
    }
}
