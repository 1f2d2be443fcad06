//! What every handler shares: the data layer, the app cache, the event
//! notifier and config. Built once per process (Lambda init or local start).

use std::sync::Arc;

use crate::apps::AppCache;
use crate::config::Config;
use crate::db::Db;
use crate::realtime::notifier::Notifier;
use crate::storage::Storage;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub apps: AppCache,
    pub notifier: Notifier,
    pub storage: Storage,
    pub config: Arc<Config>,
}

impl AppState {
    /// A Lambda's init: config from the environment, the clients, and one
    /// pre-warm read. Nothing else touches the network before the first
    /// invocation (`local/tests/init_network.rs` checks it).
    pub async fn for_lambda() -> Result<Self, crate::config::ConfigError> {
        let state = Self::connect(Config::from_env()?).await;
        state.db.prewarm().await;
        Ok(state)
    }

    pub async fn connect(config: Config) -> Self {
        let sdk = crate::aws::sdk_config(&config).await;
        let db = Db::new(&sdk, &config);
        let notifier = Notifier::new(&sdk, &config, db.clone());
        let storage = Storage::new(&sdk, &config);
        Self {
            db,
            apps: AppCache::new(config.app_cache_ttl),
            notifier,
            storage,
            config: Arc::new(config),
        }
    }
}
