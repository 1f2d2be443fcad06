//! What every handler shares: the data layer, the app cache, the event
//! notifier and config. Built once per process (Lambda init or local start).

use std::sync::Arc;

use crate::apps::AppCache;
use crate::config::Config;
use crate::db::Db;
use crate::outbound::guard::Guard;
use crate::outbound::Outbound;
use crate::realtime::notifier::Notifier;
use crate::storage::Storage;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub apps: AppCache,
    pub notifier: Notifier,
    pub storage: Storage,
    /// Calls to the app's own servers (webhooks, before-send hook).
    pub outbound: Outbound,
    /// Work due later (webhook attempts, push retries).
    pub scheduler: crate::scheduler::Scheduler,
    /// Requests a minute per user and app (docs/api.md: Rate limits).
    pub limiter: crate::ratelimit::RateLimiter,
    pub config: Arc<Config>,
    sdk: aws_config::SdkConfig,
}

impl AppState {
    /// A Lambda's init: config from the environment, the table's client,
    /// and one pre-warm read. Nothing else touches the network before the
    /// first invocation (`local/tests/init_network.rs` checks it). A
    /// function adds the other clients it uses ([`AppState::with_notifier`],
    /// [`AppState::with_storage`]); those it does not add are neither built
    /// nor linked into its binary.
    pub async fn for_lambda() -> Result<Self, crate::config::ConfigError> {
        let state = Self::table_only(Config::from_env()?).await;
        state.db.prewarm().await;
        Ok(state)
    }

    async fn table_only(config: Config) -> Self {
        let sdk = crate::aws::sdk_config(&config).await;
        let db = Db::new(&sdk, &config);
        Self {
            notifier: Notifier::disabled(db.clone()),
            storage: Storage::without_client(&config),
            outbound: Outbound::disabled(Guard::from_config(&config)),
            scheduler: crate::scheduler::Scheduler::disabled(),
            limiter: crate::ratelimit::RateLimiter::new(db.clone()),
            db,
            apps: AppCache::new(config.app_cache_ttl),
            config: Arc::new(config),
            sdk,
        }
    }

    /// The same state reading through `db` (a view with reads ahead).
    pub fn with_db(&self, db: Db) -> Self {
        Self { db, ..self.clone() }
    }

    /// Adds the WebSocket API's management client (events, closing sockets).
    pub fn with_notifier(mut self) -> Self {
        self.notifier = Notifier::new(&self.sdk, &self.config, self.db.clone());
        self
    }

    /// Adds the S3 client (uploads, attachment links).
    pub fn with_storage(mut self) -> Self {
        self.storage = Storage::new(&self.sdk, &self.config);
        self
    }

    /// Allows calls to the app's own servers and the push providers (the
    /// client is built at the first call).
    pub fn with_outbound(mut self) -> Self {
        self.outbound = Outbound::new(self.outbound.guard().clone());
        self
    }

    /// Adds the scheduler's SQS client (the notify function).
    pub fn with_scheduler(mut self) -> Self {
        self.scheduler = crate::scheduler::Scheduler::new(&self.sdk, &self.config);
        self
    }

    /// Every client: the local stack and the tools.
    pub async fn connect(config: Config) -> Self {
        Self::table_only(config)
            .await
            .with_notifier()
            .with_storage()
            .with_outbound()
            .with_scheduler()
    }
}
