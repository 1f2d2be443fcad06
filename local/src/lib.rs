//! The whole backend in one process: the DynamoDB emulator (dynoxide) on a
//! loopback port, the SQS and S3 emulators, the API Gateway WebSocket
//! emulator, and every router served
//! by the same code the Lambdas run, talking to the emulators through the
//! real AWS SDK clients.

pub mod accept;
pub mod binaries;
pub mod gateway;
pub mod lambdas;
pub mod push;
pub mod queues;
pub mod relay;
pub mod s3;
pub mod sample_site;
pub mod sqs;
pub mod streams;
pub mod tap;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat_shared::apps::{self, App};
use chat_shared::ids::{AppId, UserId};
use chat_shared::users::{self, Profile};
use chat_shared::{AppState, Config};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The scheduler's queue, as the template names it.
pub const SCHEDULE_QUEUE: &str = "chat-schedule";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("could not open the emulator's database: {0}")]
    Database(String),
    #[error("could not bind a loopback port")]
    Bind(#[from] std::io::Error),
    #[error("could not prepare the table: {0}")]
    Setup(String),
    #[error(transparent)]
    Lambdas(#[from] lambdas::LambdaError),
}

#[derive(Clone, Debug)]
pub struct StackOptions {
    /// Folder for the SQLite file; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// REST port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// DynamoDB emulator port on 127.0.0.1 (0 picks a free one).
    pub dynamodb_port: u16,
    /// What the functions read from `CHAT_*` variables (table, bucket, cache and
    /// URL lifetimes, fan-out concurrency, ...). The stack replaces the endpoints,
    /// region and credentials with its own emulators'.
    pub config: Config,
    /// How often expired (TTL) items are deleted.
    pub ttl_sweep_every: Duration,
    /// WebSocket gateway port on 127.0.0.1 (0 picks a free one).
    pub ws_port: u16,
    pub gateway: gateway::GatewayOptions,
    /// S3 server port on 127.0.0.1 (0 picks a free one).
    pub s3_port: u16,
    /// The schedule queue's visibility timeout: a failed task comes back
    /// after this long (the template says 360 s, six times the function's
    /// timeout; a laptop need not wait that long).
    pub schedule_visibility: Duration,
    /// Put a [`tap::Tap`] between the SDK clients and the emulator (request
    /// log, injected faults).
    pub dynamodb_tap: bool,
    /// The faithful mode: the functions' real binaries as processes behind an
    /// API Gateway emulator routed by the template ([`lambdas`]); `None`
    /// merges every router into this process.
    pub lambdas: Option<lambdas::LambdaOptions>,
}

impl StackOptions {
    /// In memory, ephemeral ports: what tests use.
    pub fn ephemeral() -> Self {
        Self {
            data_dir: None,
            port: 0,
            dynamodb_port: 0,
            config: Config::default(),
            ttl_sweep_every: Duration::from_secs(30),
            ws_port: 0,
            gateway: gateway::GatewayOptions::default(),
            s3_port: 0,
            schedule_visibility: Duration::from_secs(30),
            dynamodb_tap: false,
            lambdas: None,
        }
    }
}

/// A running stack. Dropping it stops its servers.
pub struct Stack {
    pub rest_url: String,
    /// `ws://127.0.0.1:{port}`: connect with `?api_key=...&token=...`.
    pub ws_url: String,
    /// The management API (`{url}/@connections/{id}`): a loopback port of its
    /// own, not the clients' WebSocket port.
    pub management_url: String,
    pub dynamodb_url: String,
    pub s3_url: String,
    /// Where uploaded files live on disk.
    pub s3_root: PathBuf,
    pub state: AppState,
    pub gateway: gateway::Gateway,
    /// Present when started with `dynamodb_tap`.
    pub tap: Option<tap::Tap>,
    /// The function processes, in the faithful mode.
    pub functions: Option<Arc<lambdas::Functions>>,
    /// What the local FCM and APNs emulators accepted.
    pub pushes: push::Pushes,
    /// A page with Open Graph tags, for link previews (`sample_site`).
    pub sample_page: String,
    /// Invocations of the stream's functions (fan-out, notify).
    pub stream_invocations: streams::Invocations,
    /// The SQS emulator (the scheduler's queue).
    pub sqs: sqs::Sqs,
    /// Invocations of the queue's function (notify).
    pub queue_invocations: streams::Invocations,
    ephemeral_uploads: bool,
    shutdown: watch::Sender<bool>,
}

impl Stack {
    pub async fn start(options: StackOptions) -> Result<Self, LocalError> {
        // Before any HTTP client is built (the tap's, the tools').
        chat_shared::outbound::install_tls_provider();
        let db = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let path = dir.join("chat.sqlite");
                dynoxide::Database::new(&path.to_string_lossy())
            }
            None => dynoxide::Database::memory(),
        }
        .map_err(|e| LocalError::Database(e.to_string()))?;

        let (shutdown, stop) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };

        let dynamo_port = if options.dynamodb_tap {
            0
        } else {
            options.dynamodb_port
        };
        let dynamo_listener = TcpListener::bind(("127.0.0.1", dynamo_port)).await?;
        let mut dynamodb_url = format!("http://{}", dynamo_listener.local_addr()?);
        // The stream is read past the tap: Lambda's polling is not the
        // functions' traffic, and is not billed as requests.
        let emulator_url = dynamodb_url.clone();
        tokio::spawn(dynoxide::server::serve_with_shutdown(
            dynamo_listener,
            db.clone(),
            stopped(stop.clone()),
        ));
        let tap = if options.dynamodb_tap {
            let listener = TcpListener::bind(("127.0.0.1", options.dynamodb_port)).await?;
            let url = format!("http://{}", listener.local_addr()?);
            let tap = tap::Tap::serve(listener, dynamodb_url, stopped(stop.clone()));
            dynamodb_url = url;
            Some(tap)
        } else {
            None
        };
        tokio::spawn(sweep_ttl(db, options.ttl_sweep_every, stop.clone()));

        // Uploads live beside the table; a memory stack uses a fresh temp folder.
        let s3_root = match &options.data_dir {
            Some(dir) => dir.join("uploads"),
            None => std::env::temp_dir().join(format!(
                "chat-s3-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            )),
        };
        let s3_listener = TcpListener::bind(("127.0.0.1", options.s3_port)).await?;
        let s3_url = format!("http://{}", s3_listener.local_addr()?);
        s3::serve(&s3_root, s3_listener, stopped(stop.clone()))?;
        let sqs_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let sqs = sqs::Sqs::serve(sqs_listener, stopped(stop.clone()))?;
        let sqs_client = queues::client(sqs.url());
        let schedule_queue = sqs_client
            .create_queue()
            .queue_name(SCHEDULE_QUEUE)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                options.schedule_visibility.as_secs().to_string(),
            )
            .send()
            .await
            .map_err(|e| LocalError::Setup(chat_shared::error::DisplayChain(&e).to_string()))?
            .queue_url
            .ok_or_else(|| LocalError::Setup("CreateQueue answered no URL".into()))?;

        let ws_listener = TcpListener::bind(("127.0.0.1", options.ws_port)).await?;
        let ws_addr = ws_listener.local_addr()?;
        // A fan-out to a crowd opens thousands of connections at once: with
        // tokio's default backlog (1024) the surplus SYNs are dropped and
        // retried a second later, a stall API Gateway does not have.
        let management_listener = {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            socket.listen(8192)?
        };
        let management_addr = management_listener.local_addr()?;
        let push_emulators = push::start(stop.clone()).await?;
        let rest_listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let rest_addr: SocketAddr = rest_listener.local_addr()?;
        // Receivers on loopback are allowed here, but never the stack's own
        // services (the functions' runtime APIs are added where they start).
        let mut own_ports = vec![
            rest_addr.port(),
            ws_addr.port(),
            management_addr.port(),
            port_of(&dynamodb_url),
            port_of(&emulator_url),
            port_of(&s3_url),
            port_of(sqs.url()),
            port_of(&push_emulators.fcm_url),
            port_of(&push_emulators.apns_url),
        ];
        own_ports.dedup();
        let config = Config {
            dynamodb_endpoint: Some(dynamodb_url.clone()),
            region: Some("us-east-1".into()),
            static_credentials: true,
            // The management API is served by the gateway emulator.
            websocket_endpoint: Some(format!("http://{management_addr}")),
            s3_endpoint: Some(s3_url.clone()),
            sqs_endpoint: Some(sqs.url().to_string()),
            schedule_queue_url: Some(schedule_queue.clone()),
            // Browser apps on other local ports may call the API.
            cors_origin: options.config.cors_origin.clone().or(Some("*".into())),
            // Webhook receivers and before-send hooks on this machine.
            hooks_allow_loopback: true,
            outbound_own_ports: own_ports,
            // Pushes go to the local FCM and APNs.
            fcm_url: push_emulators.fcm_url.clone(),
            fcm_token_url: push_emulators.fcm_token_url.clone(),
            apns_url: Some(push_emulators.apns_url.clone()),
            ..options.config.clone()
        };
        let state = AppState::connect(config).await;
        state
            .db
            .create_table_if_missing()
            .await
            .map_err(|e| LocalError::Setup(chat_shared::error::DisplayChain(&e).to_string()))?;
        state
            .storage
            .create_bucket_if_missing()
            .await
            .map_err(|e| LocalError::Setup(e.to_string()))?;

        let gateway =
            gateway::Gateway::new(state.clone(), options.gateway.clone(), ws_addr.to_string());
        gateway::serve_clients(
            ws_listener,
            gateway.router(),
            options.gateway.handshake_timeout,
            stopped(stop.clone()),
        );
        let management = gateway.management_router();
        let management_stop = stopped(stop.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(management_listener, management)
                .with_graceful_shutdown(management_stop)
                .await
            {
                tracing::error!(error = %err, "management API stopped");
            }
        });

        let functions = match &options.lambdas {
            Some(lambda_options) => {
                let env = lambdas::Environment {
                    config: state.config.as_ref().clone(),
                    dynamodb_url: dynamodb_url.clone(),
                    s3_url: s3_url.clone(),
                    management_url: format!("http://{management_addr}"),
                    runtime_ports: Vec::new(),
                };
                let functions = Arc::new(lambdas::Functions::start(lambda_options, &env).await?);
                let realtime = functions.realtime().ok_or_else(|| {
                    LocalError::Setup("the template names no WebSocket integration function".into())
                })?;
                gateway.invoke_through(realtime, functions.authorizer(), functions.two_way());
                Some(functions)
            }
            None => None,
        };
        // Large fan-outs and webhooks reach their handlers through the
        // outbox's stream.
        let mappings = match &functions {
            Some(functions) => functions
                .stream_consumers()
                .into_iter()
                .map(|(prefixes, function)| streams::Mapping {
                    prefixes,
                    consumer: streams::Consumer::Process(function),
                })
                .collect(),
            None => streams::Mapping::in_process(&state),
        };
        let stream_invocations = streams::start(&state, &emulator_url, mappings, stop.clone())
            .await
            .map_err(LocalError::Setup)?;
        // Scheduled work reaches its handler through the queue.
        let queue_invocations = streams::Invocations::default();
        let queue_consumers = match &functions {
            Some(functions) => functions
                .queue_consumers()
                .into_iter()
                .map(queues::Consumer::Process)
                .collect(),
            None => vec![queues::Consumer::InProcess(Box::new(state.clone()))],
        };
        for consumer in queue_consumers {
            queues::start(
                &sqs_client,
                &schedule_queue,
                consumer,
                queue_invocations.clone(),
                stop.clone(),
            );
        }
        // Either every router in this process, or API Gateway in front of the
        // function processes; the local-only pages are served here in both.
        let api = match &functions {
            Some(functions) => functions.rest_service(),
            None => chat_shared::http::app(state.clone()),
        };
        // Not among the guard's own ports: the notify function may read it.
        let sample_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let sample_page = format!("http://{}/article", sample_listener.local_addr()?);
        let sample_stop = stopped(stop.clone());
        tokio::spawn(async move {
            let serve = axum::serve(sample_listener, sample_site::router());
            if let Err(err) = serve.with_graceful_shutdown(sample_stop).await {
                tracing::error!(error = %err, "sample site stopped");
            }
        });
        let app = api.merge(web::router(
            state.clone(),
            format!("ws://{ws_addr}"),
            push_emulators.pushes.clone(),
            sample_page.clone(),
        ));
        let rest_stop = stopped(stop);
        tokio::spawn(async move {
            if let Err(err) = axum::serve(rest_listener, app)
                .with_graceful_shutdown(rest_stop)
                .await
            {
                tracing::error!(error = %err, "REST server stopped");
            }
        });

        Ok(Self {
            rest_url: format!("http://{rest_addr}/api/v1"),
            ws_url: format!("ws://{ws_addr}"),
            management_url: format!("http://{management_addr}"),
            dynamodb_url,
            s3_url,
            s3_root,
            state,
            gateway,
            tap,
            functions,
            pushes: push_emulators.pushes,
            sample_page,
            stream_invocations,
            sqs,
            queue_invocations,
            ephemeral_uploads: options.data_dir.is_none(),
            shutdown,
        })
    }

    /// The development app (id `dev`) with sample users `alice` and `bob`,
    /// created on first start and reused after; it pushes through the local
    /// FCM and APNs with the development keys.
    pub async fn ensure_dev_app(&self) -> Result<App, LocalError> {
        let setup = |e: chat_shared::ApiError| LocalError::Setup(e.to_string());
        let app_id = AppId::parse("dev").map_err(setup)?;
        let mut app = apps::ensure_app(&self.state.db, &app_id, "Development app")
            .await
            .map_err(setup)?;
        if !app.push.any() {
            let patch = apps::AppPatch {
                set: apps::AppFields {
                    firebase: Some(push::dev_firebase()),
                    apn: Some(push::dev_apn()),
                    ..apps::AppFields::default()
                },
                unset: Vec::new(),
            };
            app = apps::patch(&self.state.db, &app_id, patch, self.state.outbound.guard())
                .await
                .map_err(setup)?;
        }
        for (id, name) in [("alice", "Alice"), ("bob", "Bob")] {
            let user_id = UserId::parse(id).map_err(setup)?;
            if users::get_user(&self.state.db, &app.app_id, &user_id)
                .await
                .map_err(setup)?
                .is_none()
            {
                let profile = Profile {
                    id: Some(user_id),
                    display_name: Some(name.into()),
                    ..Profile::default()
                };
                users::upsert_users(&self.state.db, &app, vec![profile])
                    .await
                    .map_err(setup)?;
                // A phone each, so a push to whoever is signed out shows
                // at /dev/pushes (and on the web client's sign-in page).
                let (device, provider) = match id {
                    "alice" => ("alice-iphone", chat_shared::devices::PushProvider::Apn),
                    _ => ("bob-android", chat_shared::devices::PushProvider::Firebase),
                };
                let input: chat_shared::devices::DeviceInput = serde_json::from_value(
                    serde_json::json!({ "id": device, "push_provider": provider, "platform": if id == "alice" { "ios" } else { "android" } }),
                )
                .map_err(|e| LocalError::Setup(e.to_string()))?;
                chat_shared::devices::register(
                    &self.state.db,
                    &app.app_id,
                    &UserId::parse(id).map_err(setup)?,
                    input,
                )
                .await
                .map_err(setup)?;
            }
        }
        Ok(app)
    }

    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
        // A memory stack's uploads go with it.
        if self.ephemeral_uploads {
            let _ = std::fs::remove_dir_all(&self.s3_root);
        }
    }
}

/// The emulator never expires TTL items by itself (AWS does, lazily). The
/// first sweep runs `every` after the start: reads already skip expired items.
async fn sweep_ttl(db: dynoxide::Database, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let db = db.clone();
        match tokio::task::spawn_blocking(move || db.sweep_ttl()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(deleted = n, "TTL sweep"),
            Ok(Err(err)) => tracing::warn!(error = %err, "TTL sweep failed"),
            Err(err) => tracing::warn!(error = %err, "TTL sweep task failed"),
        }
    }
}

/// The port of a `http://127.0.0.1:port` URL the stack made itself.
fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or_default()
}
