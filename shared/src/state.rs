//! What every handler shares: the data layer, the app cache and config. Built
//! once per process (Lambda init or local start).

use std::sync::Arc;

use crate::apps::AppCache;
use crate::config::Config;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub apps: AppCache,
    pub config: Arc<Config>,
}

impl AppState {
    pub async fn connect(config: Config) -> Self {
        let db = Db::connect(&config).await;
        Self::new(db, config)
    }

    pub fn new(db: Db, config: Config) -> Self {
        Self {
            db,
            apps: AppCache::new(config.app_cache_ttl),
            config: Arc::new(config),
        }
    }
}
