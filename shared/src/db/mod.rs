//! The data layer: the only module that talks to DynamoDB. Domain code works
//! with [`Entity`] values and [`Key`]s; SDK types never leave this module.

mod batch;
pub mod limits;
mod meter;
pub mod store;
pub mod table;

pub use batch::Items;
pub use meter::OpCost;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, PutRequest,
    ScalarAttributeType, Select, StreamSpecification, StreamViewType, TimeToLiveSpecification,
    TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::Config;
use crate::error::ApiError;
use crate::keys::Key;

type Item = HashMap<String, AttributeValue>;

/// A stored thing with a key. The data layer adds `pk`, `sk`, `entity` and the
/// optional GSI and TTL attributes around the serialised value.
pub trait Entity: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    fn key(&self) -> Key;
    fn gsi1(&self) -> Option<Key> {
        None
    }
    /// Epoch seconds after which the item is gone.
    fn ttl(&self) -> Option<i64> {
        None
    }
}

/// The condition a write must meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Always,
    /// The item must not exist yet (create).
    NotExists,
    /// The item must exist (update, delete).
    Exists,
    /// The stored item's `version` must be this (optimistic concurrency);
    /// `Version(0)` means "must not exist".
    Version(u64),
    /// The item must exist and not be soft-deleted (no `deleted_at`).
    Live,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; one reason per write, `None` where that
    /// write was fine.
    #[error("transaction cancelled: {0:?}")]
    TransactionCanceled(Vec<Option<String>>),
    #[error("invalid pagination cursor")]
    BadCursor,
    #[error("item mapping failed")]
    Mapping(#[from] serde_dynamo::Error),
    /// Throttled, 5xx or unreachable on every attempt the SDK made.
    #[error("DynamoDB stayed unavailable after retries")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("DynamoDB request failed")]
    Sdk(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl DbError {
    fn sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let transient = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ) || err
            .as_service_error()
            .and_then(ProvideErrorMetadata::code)
            .is_some_and(|code| TRANSIENT_CODES.contains(&code));
        if transient {
            Self::Unavailable(Box::new(err))
        } else {
            Self::Sdk(Box::new(err))
        }
    }

    fn build(err: aws_sdk_dynamodb::error::BuildError) -> Self {
        Self::Sdk(Box::new(err))
    }
}

/// Batch reads of one large read in flight at once.
const BATCH_GETS_IN_FLIGHT: usize = 8;

/// Error codes that mean "try again later", as the SDK's retry classifier
/// sees them: once its attempts are spent, the caller gets a 503.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::ConditionFailed | DbError::TransactionCanceled(_) => {
                ApiError::conflict("the item was changed by another request; retry")
            }
            DbError::BadCursor => ApiError::validation("invalid `next` cursor"),
            DbError::Unavailable(cause) => {
                tracing::warn!(error = %crate::error::DisplayChain(cause.as_ref()), "DynamoDB unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

/// One page of a query.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque cursor for the next page, when there may be one.
    pub next: Option<String>,
}

/// What page of a partition to read.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub limit: i32,
    pub cursor: Option<String>,
    /// Ascending sort-key order when true.
    pub forward: bool,
}

/// One write of a transaction.
pub struct Write(TransactWriteItem);

/// The sort-key condition of a query.
#[derive(Clone, Copy, Debug)]
pub enum SortCond<'a> {
    Prefix(&'a str),
    /// Inclusive bounds.
    Between(&'a str, &'a str),
}

/// A filter applied after the key condition (it does not lower read cost).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub expression: String,
    pub names: Vec<(String, String)>,
    pub values: Vec<(String, serde_json::Value)>,
}

/// A query of the table (`index: None`) or of GSI1 (`Some("gsi1")`).
#[derive(Clone, Debug)]
pub struct Query<'a> {
    pub index: Option<&'static str>,
    pub pk: &'a str,
    pub sk: SortCond<'a>,
    pub page: PageRequest,
    pub filter: Option<Filter>,
}

/// An update expression with its names and values; `condition` is ANDed
/// with the write's [`Cond`].
#[derive(Clone, Debug, Default)]
pub struct UpdateSpec {
    pub expression: String,
    pub condition: Option<String>,
    pub names: Vec<(String, String)>,
    pub values: Vec<(String, serde_json::Value)>,
}

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
            .interceptor(meter.clone())
            .retry_config(retry_config());
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
        let key = Key {
            pk: "WARM".into(),
            sk: "WARM".into(),
        };
        if let Err(err) = self.get_raw(&key).await {
            tracing::warn!(error = %crate::error::DisplayChain(&err), "pre-warm call failed");
        }
    }

    /// Creates the table and the outbox (and turns on their TTL) unless
    /// they exist.
    pub async fn create_table_if_missing(&self) -> Result<(), DbError> {
        self.create_if_missing(&self.table, &table::spec()).await?;
        self.create_if_missing(&self.outbox, &table::outbox_spec())
            .await
    }

    async fn create_if_missing(&self, name: &str, spec: &table::TableSpec) -> Result<(), DbError> {
        let key_element = |(name, kind): &(&str, &str)| {
            KeySchemaElement::builder()
                .attribute_name(*name)
                .key_type(if *kind == "HASH" {
                    KeyType::Hash
                } else {
                    KeyType::Range
                })
                .build()
                .map_err(DbError::build)
        };
        let mut request = self
            .client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest);
        if let Some(view) = spec.stream_view_type {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view))
                    .build()
                    .map_err(DbError::build)?,
            );
        }
        for (name, _) in &spec.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(DbError::build)?,
            );
        }
        for element in &spec.key_schema {
            request = request.key_schema(key_element(element)?);
        }
        for (index, schema) in &spec.global_indexes {
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(*index)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                );
            for element in schema {
                gsi = gsi.key_schema(key_element(element)?);
            }
            request = request.global_secondary_indexes(gsi.build().map_err(DbError::build)?);
        }
        match request.send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(err) => return Err(DbError::sdk(err)),
        }
        self.client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(spec.ttl_attribute)
                    .build()
                    .map_err(DbError::build)?,
            )
            .send()
            .await
            .map_err(DbError::sdk)?;
        Ok(())
    }

    /// This table's stream (the outbox's: `db.outbox().stream_arn()`).
    pub async fn stream_arn(&self) -> Result<String, DbError> {
        let described = self
            .client
            .describe_table()
            .table_name(self.table.as_ref())
            .send()
            .await
            .map_err(DbError::sdk)?;
        described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_string)
            .ok_or_else(|| DbError::Sdk(format!("{} has no stream", self.table).into()))
    }

    #[tracing::instrument(level = "debug", skip(self), fields(pk = %key.pk, sk = %key.sk))]
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, DbError> {
        if let Some(answer) = self.ahead.as_ref().and_then(|ahead| ahead.take(key)) {
            return batch::decode(answer);
        }
        batch::decode(self.get_raw(key).await?)
    }

    /// A view of this client whose next [`Db::get`] of each of `keys` is
    /// answered from one batch read made now (keys this view already holds
    /// an answer for are not read again). See [`batch`].
    pub async fn read_ahead(&self, keys: &[Key]) -> Result<Db, DbError> {
        let ahead = self.ahead.clone().unwrap_or_default();
        let missing: Vec<Key> = keys.iter().filter(|k| !ahead.holds(k)).cloned().collect();
        if !missing.is_empty() {
            ahead.fill(&missing, self.batch_get_items(&missing).await?);
        }
        Ok(Db {
            ahead: Some(ahead),
            ..self.clone()
        })
    }

    /// Items of any kinds by key, in one request per 100 keys.
    pub async fn batch_get_items(&self, keys: &[Key]) -> Result<batch::Items, DbError> {
        // DynamoDB answers in no particular order anyway: the chunks of a
        // large read (a crowd's member items) go out side by side.
        // Owned chunks: a borrowed one trips the compiler's Send check in
        // the routers that await this.
        let chunks: Vec<Vec<Key>> = keys.chunks(100).map(<[Key]>::to_vec).collect();
        let chunks: Vec<Vec<Item>> = futures::stream::iter(chunks)
            .map(|chunk| async move { self.batch_get_chunk(&chunk).await })
            .buffer_unordered(BATCH_GETS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(batch::Items::new(chunks.into_iter().flatten().collect()))
    }

    async fn get_raw(&self, key: &Key) -> Result<Option<Item>, DbError> {
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
    pub async fn batch_get<T: DeserializeOwned>(&self, keys: &[Key]) -> Result<Vec<T>, DbError> {
        self.batch_get_items(keys).await?.all()
    }

    /// The live items of one batch read (at most 100 keys).
    async fn batch_get_chunk(&self, chunk: &[Key]) -> Result<Vec<Item>, DbError> {
        let mut found = Vec::with_capacity(chunk.len());
        let mut pending: Vec<Item> = chunk.iter().map(key_item).collect();
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

    /// Writes an entity under a condition.
    #[tracing::instrument(level = "debug", skip_all, fields(entity = T::TYPE))]
    pub async fn put<T: Entity>(&self, entity: &T, cond: Cond) -> Result<(), DbError> {
        let item = to_item(entity)?;
        let (expr, names, values) = condition(cond);
        let result = self
            .client
            .put_item()
            .table_name(self.table.as_ref())
            .set_item(Some(item))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await;
        written(result)
    }

    /// Deletes one item under a condition.
    #[tracing::instrument(level = "debug", skip(self), fields(pk = %key.pk, sk = %key.sk))]
    pub async fn delete(&self, key: &Key, cond: Cond) -> Result<(), DbError> {
        let (expr, names, values) = condition(cond);
        let result = self
            .client
            .delete_item()
            .table_name(self.table.as_ref())
            .set_key(Some(key_item(key)))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await;
        written(result)
    }

    /// A put for [`Db::transact`].
    pub fn put_write<T: Entity>(&self, entity: &T, cond: Cond) -> Result<Write, DbError> {
        let (expr, names, values) = condition(cond);
        let put = Put::builder()
            .table_name(self.table.as_ref())
            .set_item(Some(to_item(entity)?))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(DbError::build)?;
        Ok(Write(TransactWriteItem::builder().put(put).build()))
    }

    /// A delete for [`Db::transact`].
    pub fn delete_write(&self, key: &Key, cond: Cond) -> Result<Write, DbError> {
        let (expr, names, values) = condition(cond);
        let delete = Delete::builder()
            .table_name(self.table.as_ref())
            .set_key(Some(key_item(key)))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(DbError::build)?;
        Ok(Write(TransactWriteItem::builder().delete(delete).build()))
    }

    /// Deletes many items, unconditionally (clean-up after a commit point).
    pub async fn batch_delete(&self, keys: &[Key]) -> Result<(), DbError> {
        let requests = keys
            .iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key_item(key)))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(DbError::build)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }

    /// Writes many items, unconditionally (index entries whose loss a reader
    /// tolerates: no transaction, 25 a request).
    pub async fn batch_put<T: Entity>(&self, entities: &[T]) -> Result<(), DbError> {
        let requests = entities
            .iter()
            .map(|entity| {
                let item = to_item(entity)?;
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(DbError::build)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }

    /// BatchWriteItem, 25 a request, retrying what comes back unprocessed.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), DbError> {
        for chunk in requests.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.as_ref(), std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(DbError::sdk)?;
                if let Some(mut rest) = out.unprocessed_items {
                    pending = rest.remove(self.table.as_ref()).unwrap_or_default();
                }
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(DbError::Sdk("unprocessed writes after retries".into()));
                    }
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                }
            }
        }
        Ok(())
    }

    /// Counts items of `pk` whose sort key starts with `prefix` and is greater
    /// than `after`, stopping at `cap` (unread counts are shown as "99+").
    pub async fn count_after(
        &self,
        pk: &str,
        prefix: &str,
        after: &str,
        cap: usize,
    ) -> Result<usize, DbError> {
        self.count_after_where(pk, prefix, after, cap, None).await
    }

    /// [`Db::count_after`], counting only the items that pass `filter`.
    pub async fn count_after_where(
        &self,
        pk: &str,
        prefix: &str,
        after: &str,
        cap: usize,
        filter: Option<&Filter>,
    ) -> Result<usize, DbError> {
        // BETWEEN is inclusive; the successor of `after` makes it exclusive.
        self.count_between(
            pk,
            format!("{after}\u{0}"),
            format!("{prefix}\u{10FFFF}"),
            Some(cap),
            filter,
        )
        .await
    }

    /// Counts the sort keys of `pk` in `lo..=hi` with `Select: COUNT`,
    /// following pages, and stops once past `cap` when one is given.
    async fn count_between(
        &self,
        pk: &str,
        lo: String,
        hi: String,
        cap: Option<usize>,
        filter: Option<&Filter>,
    ) -> Result<usize, DbError> {
        let limit = cap.map(|cap| i32::try_from(cap + 1).unwrap_or(i32::MAX));
        let mut total = 0usize;
        let mut start = None;
        loop {
            let mut request = self.client.query();
            if let Some(filter) = filter {
                request = request.filter_expression(&filter.expression);
                for (name, attr) in &filter.names {
                    request = request.expression_attribute_names(name, attr);
                }
                for (name, value) in &filter.values {
                    request = request.expression_attribute_values(
                        name,
                        serde_dynamo::to_attribute_value(value)?,
                    );
                }
            }
            let out = request
                .table_name(self.table.as_ref())
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .expression_attribute_names("#pk", table::PK)
                .expression_attribute_names("#sk", table::SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                .expression_attribute_values(":lo", AttributeValue::S(lo.clone()))
                .expression_attribute_values(":hi", AttributeValue::S(hi.clone()))
                .select(Select::Count)
                .set_limit(limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(DbError::sdk)?;
            total += usize::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(key) if cap.is_none_or(|cap| total <= cap) => start = Some(key),
                _ => return Ok(cap.map_or(total, |cap| total.min(cap))),
            }
        }
    }

    /// All writes succeed together or none does (at most 100).
    pub async fn transact(&self, writes: Vec<Write>) -> Result<(), DbError> {
        if writes.is_empty() {
            return Ok(());
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes.into_iter().map(|w| w.0).collect()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e)) => {
                    let reasons = e
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().filter(|c| *c != "None").map(str::to_string))
                        .collect();
                    Err(DbError::TransactionCanceled(reasons))
                }
                _ => {
                    tracing::debug!(code = ?err.code(), "transaction failed");
                    Err(DbError::sdk(err))
                }
            },
        }
    }

    /// One page of the items of partition `pk` whose sort key starts with
    /// `sk_prefix`. The cursor is checked to belong to this partition, so a
    /// cursor can never reach another tenant's data.
    pub async fn query<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<T>, DbError> {
        self.run(&Query {
            index: None,
            pk,
            sk: SortCond::Prefix(sk_prefix),
            page: page.clone(),
            filter: None,
        })
        .await
    }

    /// Every item of `pk` under `sk_prefix`, reading `page_size` at a time.
    pub async fn query_all<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: &str,
        page_size: i32,
    ) -> Result<Vec<T>, DbError> {
        self.run_all(Query {
            index: None,
            pk,
            sk: SortCond::Prefix(sk_prefix),
            page: PageRequest {
                limit: page_size,
                cursor: None,
                forward: true,
            },
            filter: None,
        })
        .await
    }

    /// Every page of a query, from its first (`query.page.limit` at a time).
    pub async fn run_all<T: DeserializeOwned>(
        &self,
        mut query: Query<'_>,
    ) -> Result<Vec<T>, DbError> {
        query.page.cursor = None;
        let mut out = Vec::new();
        loop {
            let result = self.run::<T>(&query).await?;
            out.extend(result.items);
            match result.next {
                Some(next) => query.page.cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Runs a query on the table or GSI1: one DynamoDB request, one page.
    #[tracing::instrument(level = "debug", skip(self, query), fields(pk = %query.pk))]
    pub async fn run<T: DeserializeOwned>(&self, query: &Query<'_>) -> Result<Page<T>, DbError> {
        let (pk_attr, sk_attr) = match query.index {
            Some(_) => (table::GSI1_PK, table::GSI1_SK),
            None => (table::PK, table::SK),
        };
        let start = match &query.page.cursor {
            Some(cursor) => Some(decode_cursor(
                cursor, pk_attr, query.pk, sk_attr, &query.sk,
            )?),
            None => None,
        };
        let mut request = self
            .client
            .query()
            .table_name(self.table.as_ref())
            .set_index_name(query.index.map(str::to_string))
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_names("#sk", sk_attr)
            .expression_attribute_values(":pk", AttributeValue::S(query.pk.to_string()))
            .limit(query.page.limit.max(1))
            .scan_index_forward(query.page.forward)
            // GSIs can only be read eventually consistent.
            .consistent_read(query.index.is_none())
            .set_exclusive_start_key(start);
        request = match query.sk {
            SortCond::Prefix(prefix) => request
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string())),
            SortCond::Between(lo, hi) => request
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":lo", AttributeValue::S(lo.to_string()))
                .expression_attribute_values(":hi", AttributeValue::S(hi.to_string())),
        };
        if let Some(filter) = &query.filter {
            request = request.filter_expression(&filter.expression);
            for (name, attr) in &filter.names {
                request = request.expression_attribute_names(name, attr);
            }
            for (name, value) in &filter.values {
                request = request
                    .expression_attribute_values(name, serde_dynamo::to_attribute_value(value)?);
            }
        }
        let out = request.send().await.map_err(DbError::sdk)?;
        let next = out.last_evaluated_key.as_ref().map(encode_cursor);
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            if is_live(&item) {
                items.push(serde_dynamo::from_item(item)?);
            }
        }
        Ok(Page { items, next })
    }

    /// Applies an update expression to one item under a condition.
    pub async fn update(&self, key: &Key, spec: &UpdateSpec, cond: Cond) -> Result<(), DbError> {
        written(self.update_request(key, spec, cond)?.send().await)
    }

    /// Applies an update and returns the attributes it changed, as `T`.
    pub async fn update_returning<T: DeserializeOwned>(
        &self,
        key: &Key,
        spec: &UpdateSpec,
        cond: Cond,
    ) -> Result<T, DbError> {
        let result = self
            .update_request(key, spec, cond)?
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(serde_dynamo::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
                Err(DbError::ConditionFailed)
            }
            Err(err) => Err(DbError::sdk(err)),
        }
    }

    fn update_request(
        &self,
        key: &Key,
        spec: &UpdateSpec,
        cond: Cond,
    ) -> Result<aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder, DbError>
    {
        let (expr, names, values) = update_parts(spec, cond)?;
        Ok(self
            .client
            .update_item()
            .table_name(self.table.as_ref())
            .set_key(Some(key_item(key)))
            .update_expression(&spec.expression)
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values))
    }

    /// An update for [`Db::transact`].
    pub fn update_write(&self, key: &Key, spec: &UpdateSpec, cond: Cond) -> Result<Write, DbError> {
        let (expr, names, values) = update_parts(spec, cond)?;
        let update = Update::builder()
            .table_name(self.table.as_ref())
            .set_key(Some(key_item(key)))
            .update_expression(&spec.expression)
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(DbError::build)?;
        Ok(Write(TransactWriteItem::builder().update(update).build()))
    }

    /// A cursor that resumes a table query right after `key`.
    pub fn cursor_after(key: &Key) -> String {
        encode_cursor(&key_item(key))
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

    /// How many items of partition `pk` have a sort key starting with `sk_prefix`.
    pub async fn count(&self, pk: &str, sk_prefix: &str) -> Result<usize, DbError> {
        self.count_between(
            pk,
            sk_prefix.to_string(),
            format!("{sk_prefix}\u{10FFFF}"),
            None,
            None,
        )
        .await
    }
}

/// The outcome of a conditional write: a failed condition is its own error.
fn written<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<(), DbError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
            Err(DbError::ConditionFailed)
        }
        Err(err) => Err(DbError::sdk(err)),
    }
}

fn key_item(key: &Key) -> Item {
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

type CondParts = (
    Option<String>,
    Option<HashMap<String, String>>,
    Option<HashMap<String, AttributeValue>>,
);

fn condition(cond: Cond) -> CondParts {
    let pk_name = || Some(HashMap::from([("#pk".to_string(), table::PK.to_string())]));
    match cond {
        Cond::Always => (None, None, None),
        Cond::NotExists | Cond::Version(0) => {
            (Some("attribute_not_exists(#pk)".into()), pk_name(), None)
        }
        Cond::Exists => (Some("attribute_exists(#pk)".into()), pk_name(), None),
        Cond::Live => (
            Some("attribute_exists(#pk) AND attribute_not_exists(#deleted)".into()),
            Some(HashMap::from([
                ("#pk".to_string(), table::PK.to_string()),
                ("#deleted".to_string(), "deleted_at".to_string()),
            ])),
            None,
        ),
        Cond::Version(v) => (
            Some("#version = :version".into()),
            Some(HashMap::from([(
                "#version".to_string(),
                "version".to_string(),
            )])),
            Some(HashMap::from([(
                ":version".to_string(),
                AttributeValue::N(v.to_string()),
            )])),
        ),
    }
}

fn update_parts(spec: &UpdateSpec, cond: Cond) -> Result<CondParts, DbError> {
    let (expr, names, values) = condition(cond);
    let expr = match (expr, &spec.condition) {
        (Some(a), Some(b)) => Some(format!("({a}) AND ({b})")),
        (a, b) => a.or_else(|| b.clone()),
    };
    let mut names = names.unwrap_or_default();
    for (name, attr) in &spec.names {
        names.insert(name.clone(), attr.clone());
    }
    let mut values = values.unwrap_or_default();
    for (name, value) in &spec.values {
        values.insert(name.clone(), serde_dynamo::to_attribute_value(value)?);
    }
    Ok((
        expr,
        (!names.is_empty()).then_some(names),
        (!values.is_empty()).then_some(values),
    ))
}

fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    let json = serde_json::to_vec(&plain).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(
    cursor: &str,
    pk_attr: &str,
    pk: &str,
    sk_attr: &str,
    sk: &SortCond<'_>,
) -> Result<Item, DbError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| DbError::BadCursor)?;
    let plain: HashMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| DbError::BadCursor)?;
    // Exactly the key attributes of what is queried: anything else is forged
    // (DynamoDB would refuse it as a start key).
    let expected: &[&str] = if pk_attr == table::PK {
        &[table::PK, table::SK]
    } else {
        &[table::PK, table::SK, table::GSI1_PK, table::GSI1_SK]
    };
    if plain.len() != expected.len() || !expected.iter().all(|k| plain.contains_key(*k)) {
        return Err(DbError::BadCursor);
    }
    let same_partition = plain.get(pk_attr).is_some_and(|p| p == pk);
    let in_range = plain.get(sk_attr).is_some_and(|s| match sk {
        SortCond::Prefix(prefix) => s.starts_with(prefix),
        SortCond::Between(lo, hi) => s.as_str() >= *lo && s.as_str() <= *hi,
    });
    if !same_partition || !in_range {
        return Err(DbError::BadCursor);
    }
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_bound_to_its_partition() {
        let key = key_item(&Key {
            pk: "APP#a#USER#u".into(),
            sk: "DEVICE#d".into(),
        });
        let cursor = encode_cursor(&key);
        let decode = |c: &str, pk: &str, prefix: &str| {
            decode_cursor(c, "pk", pk, "sk", &SortCond::Prefix(prefix))
        };
        assert_eq!(decode(&cursor, "APP#a#USER#u", "DEVICE#").unwrap(), key);
        assert!(decode(&cursor, "APP#b#USER#u", "DEVICE#").is_err());
        assert!(decode(&cursor, "APP#a#USER#u", "CHANNEL#").is_err());
        assert!(decode("not base64!", "APP#a#USER#u", "DEVICE#").is_err());
        let between = SortCond::Between("DEVICE#a", "DEVICE#e");
        assert!(decode_cursor(&cursor, "pk", "APP#a#USER#u", "sk", &between).is_ok());
        let outside = SortCond::Between("DEVICE#e", "DEVICE#f");
        assert!(decode_cursor(&cursor, "pk", "APP#a#USER#u", "sk", &outside).is_err());
        // A table cursor is no GSI cursor.
        let gsi = SortCond::Prefix("");
        assert!(decode_cursor(&cursor, "gsi1pk", "APP#a#USER#u", "gsi1sk", &gsi).is_err());
        // A forged cursor with an attribute beyond the key is refused, not sent.
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"pk":"APP#a#USER#u","sk":"DEVICE#d","extra":"x"}"#);
        assert!(matches!(
            decode(&forged, "APP#a#USER#u", "DEVICE#"),
            Err(DbError::BadCursor)
        ));
    }

    #[test]
    fn expired_items_read_as_absent() {
        let mut item = key_item(&Key {
            pk: "p".into(),
            sk: "s".into(),
        });
        assert!(is_live(&item));
        item.insert(table::TTL.into(), AttributeValue::N("1".into()));
        assert!(!is_live(&item));
        let later = crate::time::now_secs() + 100;
        item.insert(table::TTL.into(), AttributeValue::N(later.to_string()));
        assert!(is_live(&item));
    }
}
