//! The data layer: the only module that talks to DynamoDB. Domain code works
//! with [`Entity`] values and [`Key`]s; SDK types never leave this module.

mod batch;
mod endpoint;
mod error;
mod extras;
pub mod limits;
mod meter;
mod query;
pub mod store;
pub mod table;
mod write;

pub use batch::Items;
pub use error::DbError;
pub use meter::OpCost;
pub use query::{Filter, Page, PageRequest, Query, SortCond};
pub use write::{Cond, UpdateSpec, Write};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::Config;
use crate::keys::{item, Key};

type Item = HashMap<String, AttributeValue>;

/// A stored thing with a key. The data layer adds `pk`, `sk`, `entity` and the
/// optional GSI and TTL attributes around the serialised value.
pub trait Entity: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    /// The kind of item it is stored as (a marker of [`crate::keys::item`]).
    type Item;
    fn key(&self) -> Key<Self::Item>;
    fn gsi1(&self) -> Option<Key<item::Index>> {
        None
    }
    /// Epoch seconds after which the item is gone.
    fn ttl(&self) -> Option<i64> {
        None
    }
}

/// What can be read from an item of kind `Item`: an entity, or a view of
/// some of its attributes. [`Db::get`] takes a key of that kind only.
pub trait FromItem: DeserializeOwned {
    type Item;
}

impl<T: Entity> FromItem for T {
    type Item = T::Item;
}

/// Any item as stored, attributes and all (what tests and tools inspect).
impl FromItem for serde_json::Value {
    type Item = item::Any;
}

/// Batch reads of one large read in flight at once.
const BATCH_GETS_IN_FLIGHT: usize = 8;

/// Throttling, 5xx and network errors are retried by the SDK with jittered
/// exponential backoff. The SDK's default first backoff (1 s) is long for a
/// chat request; DynamoDB recovers from a throttle in tens of milliseconds.
pub fn retry_config() -> aws_sdk_dynamodb::config::retry::RetryConfig {
    aws_sdk_dynamodb::config::retry::RetryConfig::standard()
        .with_max_attempts(RETRY_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(2))
}

/// Attempts per request, the first included.
pub const RETRY_ATTEMPTS: u32 = 5;

#[derive(Clone)]
pub struct Db {
    client: Client,
    table: Arc<str>,
    outbox: Arc<str>,
    meter: meter::Meter,
    /// Answers read ahead for this view ([`Db::read_ahead`]).
    ahead: Option<Arc<batch::Ahead>>,
}

impl Db {
    /// Builds the client from the shared SDK config. The endpoint comes from
    /// config or the SDK's own environment resolution (`AWS_ENDPOINT_URL_DYNAMODB`);
    /// there is no code path per environment.
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let meter = meter::Meter::default();
        let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(extras::WithoutExtras)
            .interceptor(meter.clone())
            .endpoint_resolver(endpoint::Remembered::default())
            .retry_config(retry_config())
            // Items are at most 400 KB and answers a few KB: the stall
            // watchdog (a timer per request) guards nothing and costs CPU.
            .stalled_stream_protection(
                aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
            );
        if let Some(endpoint) = &config.dynamodb_endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
            table: config.table_name.as_str().into(),
            outbox: config.outbox_table.as_str().into(),
            meter,
            ahead: None,
        }
    }

    /// The same client on the outbox table (see [`table::outbox_spec`]).
    pub fn outbox(&self) -> Db {
        Db {
            table: self.outbox.clone(),
            ..self.clone()
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// One cheap read so the TLS handshake happens at init, not on the first
    /// request. Failures are only logged: the function can still serve.
    pub async fn prewarm(&self) {
        let key = Key::from_stored("WARM", "WARM");
        if let Err(err) = self.get_raw(&key).await {
            tracing::warn!(error = %crate::error::DisplayChain(&err), "pre-warm call failed");
        }
    }

    #[tracing::instrument(level = "debug", skip(self), fields(pk = %key.pk, sk = %key.sk))]
    pub async fn get<T: FromItem>(&self, key: &Key<T::Item>) -> Result<Option<T>, DbError> {
        if let Some(answer) = self.ahead.as_ref().and_then(|ahead| ahead.take(key)) {
            return batch::decode(answer);
        }
        batch::decode(self.get_raw(key).await?)
    }

    /// A view of this client whose next [`Db::get`] of each of `keys` is
    /// answered from one batch read made now (keys this view already holds
    /// an answer for are not read again). See [`batch`].
    pub async fn read_ahead<K>(&self, keys: &[Key<K>]) -> Result<Db, DbError> {
        self.read_ahead_with(keys, &[]).await
    }

    /// As [`Db::read_ahead`], and in the same request `for_batch`, whose
    /// answers serve this view's next batch read of them, each once.
    pub async fn read_ahead_with<K>(
        &self,
        keys: &[Key<K>],
        for_batch: &[Key],
    ) -> Result<Db, DbError> {
        let ahead = self.ahead.clone().unwrap_or_default();
        let gets: Vec<Key> = keys
            .iter()
            .filter(|k| !ahead.holds(k))
            .map(Key::any)
            .collect();
        let batches: Vec<Key> = for_batch
            .iter()
            .filter(|k| !ahead.holds_for_batch(k))
            .map(Key::any)
            .collect();
        // A key asked for both is read once (DynamoDB refuses duplicates).
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&Key> = gets
            .iter()
            .chain(&batches)
            .filter(|k| seen.insert((k.pk.as_str(), k.sk.as_str())))
            .collect();
        if !unique.is_empty() {
            let found = self.read_items(&unique).await?;
            ahead.fill(&gets, &batches, found);
        }
        Ok(Db {
            ahead: Some(ahead),
            ..self.clone()
        })
    }

    /// Items of any kinds by key, in one request per 100 keys; answered
    /// from what this view read ahead for it first (see [`batch`]).
    pub async fn batch_get_items<K>(&self, keys: &[Key<K>]) -> Result<batch::Items, DbError> {
        let Some(ahead) = &self.ahead else {
            return self.read_items(&keys.iter().collect::<Vec<_>>()).await;
        };
        let (mut items, missing) = ahead.take_for_batch(keys);
        if !missing.is_empty() {
            let read = self.read_items(&missing.iter().collect::<Vec<_>>()).await?;
            items.extend(read.into_items());
        }
        Ok(batch::Items::new(items))
    }

    /// Items of any kinds by key, read now: one request per 100 keys.
    async fn read_items<K>(&self, keys: &[&Key<K>]) -> Result<batch::Items, DbError> {
        // DynamoDB answers in no particular order anyway: the chunks of a
        // large read (a crowd's member items) go out side by side.
        // Owned chunks: a borrowed one trips the compiler's Send check in
        // the routers that await this.
        let chunks: Vec<Vec<Item>> = keys
            .chunks(100)
            .map(|chunk| chunk.iter().map(|&k| key_item(k)).collect())
            .collect();
        let chunks: Vec<Vec<Item>> = futures::stream::iter(chunks)
            .map(|chunk| self.batch_get_chunk(chunk))
            .buffer_unordered(BATCH_GETS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(batch::Items::new(chunks.into_iter().flatten().collect()))
    }

    async fn get_raw<K>(&self, key: &Key<K>) -> Result<Option<Item>, DbError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table.as_ref())
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(DbError::sdk)?;
        Ok(out.item)
    }

    /// Reads many items by key (any number; chunked to DynamoDB's 100 and
    /// retrying unprocessed keys). Missing items are left out; order is not kept.
    pub async fn batch_get<T: FromItem>(&self, keys: &[Key<T::Item>]) -> Result<Vec<T>, DbError> {
        self.batch_get_items(keys).await?.all()
    }

    /// The live items of one batch read (at most 100 keys).
    async fn batch_get_chunk(&self, chunk: Vec<Item>) -> Result<Vec<Item>, DbError> {
        let mut found = Vec::with_capacity(chunk.len());
        let mut pending: Vec<Item> = chunk;
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(DbError::build)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(self.table.as_ref(), request)
                .send()
                .await
                .map_err(DbError::sdk)?;
            if let Some(mut responses) = out.responses {
                for item in responses.remove(self.table.as_ref()).unwrap_or_default() {
                    if is_live(&item) {
                        found.push(item);
                    }
                }
            }
            if let Some(mut unprocessed) = out.unprocessed_keys {
                if let Some(rest) = unprocessed.remove(self.table.as_ref()) {
                    pending = rest.keys;
                }
            }
            if !pending.is_empty() {
                attempt += 1;
                if attempt > 8 {
                    return Err(DbError::Sdk("unprocessed keys after retries".into()));
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
            }
        }
        Ok(found)
    }

    /// Requests this client has sent, by operation (every attempt counts).
    pub fn request_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.costs()
            .into_iter()
            .map(|(op, cost)| (op, cost.requests))
            .collect()
    }

    /// Requests sent (every attempt) and capacity units consumed, by
    /// operation, since this client was built.
    pub fn costs(&self) -> std::collections::BTreeMap<String, OpCost> {
        self.meter.snapshot()
    }
}

fn key_item<K>(key: &Key<K>) -> Item {
    HashMap::from([
        (table::PK.to_string(), AttributeValue::S(key.pk.clone())),
        (table::SK.to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

/// The entity a stream record's image holds, when it is one of type `T`
/// (`None` for any other item).
pub fn from_image<T: Entity>(image: &serde_dynamo::Item) -> Option<Result<T, DbError>> {
    match image.get(table::ENTITY) {
        Some(serde_dynamo::AttributeValue::S(kind)) if kind == T::TYPE => {
            Some(serde_dynamo::from_item(image.clone()).map_err(DbError::from))
        }
        _ => None,
    }
}

fn to_item<T: Entity>(entity: &T) -> Result<Item, DbError> {
    let mut item: Item = serde_dynamo::to_item(entity)?;
    let key = entity.key();
    item.insert(table::PK.into(), AttributeValue::S(key.pk));
    item.insert(table::SK.into(), AttributeValue::S(key.sk));
    item.insert(table::ENTITY.into(), AttributeValue::S(T::TYPE.into()));
    if let Some(gsi) = entity.gsi1() {
        item.insert(table::GSI1_PK.into(), AttributeValue::S(gsi.pk));
        item.insert(table::GSI1_SK.into(), AttributeValue::S(gsi.sk));
    }
    if let Some(ttl) = entity.ttl() {
        item.insert(table::TTL.into(), AttributeValue::N(ttl.to_string()));
    }
    Ok(item)
}

/// DynamoDB deletes expired items lazily (and the emulator only on a sweep),
/// so reads treat an expired item as absent.
fn is_live(item: &Item) -> bool {
    match item.get(table::TTL) {
        Some(AttributeValue::N(n)) => n
            .parse::<i64>()
            .map_or(true, |ttl| ttl > crate::time::now_secs()),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_items_read_as_absent() {
        let mut item = key_item(&Key::from_stored("p", "s"));
        assert!(is_live(&item));
        item.insert(table::TTL.into(), AttributeValue::N("1".into()));
        assert!(!is_live(&item));
        let later = crate::time::now_secs() + 100;
        item.insert(table::TTL.into(), AttributeValue::N(later.to_string()));
        assert!(is_live(&item));
    }
}
