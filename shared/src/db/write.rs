//! Writes: puts, deletes, updates and transactions, each with its [`Cond`].

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use serde::de::DeserializeOwned;

use crate::keys::Key;

use super::{key_item, table, to_item, Db, DbError, Entity};

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

/// One write of a transaction.
pub struct Write(TransactWriteItem);

/// An update expression with its names and values; `condition` is ANDed
/// with the write's [`Cond`].
#[derive(Clone, Debug, Default)]
pub struct UpdateSpec {
    pub expression: String,
    pub condition: Option<String>,
    pub names: Vec<(String, String)>,
    pub values: Vec<(String, serde_json::Value)>,
}

impl Db {
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
    pub async fn delete<K>(&self, key: &Key<K>, cond: Cond) -> Result<(), DbError> {
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
    pub fn delete_write<K>(&self, key: &Key<K>, cond: Cond) -> Result<Write, DbError> {
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
    pub async fn batch_delete<K>(&self, keys: &[Key<K>]) -> Result<(), DbError> {
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

    /// Deletes every item of partition `pk` under `sk_prefix`, a page at a
    /// time (clean-up after a commit point: what is left of a deleted
    /// aggregate).
    pub async fn delete_under(&self, pk: &str, sk_prefix: &str) -> Result<(), DbError> {
        let mut page = super::PageRequest {
            limit: 100,
            cursor: None,
            forward: true,
        };
        loop {
            let result = self
                .query::<serde_json::Value>(pk, sk_prefix, &page)
                .await?;
            let doomed: Vec<Key> = result
                .items
                .iter()
                .filter_map(|item| {
                    Some(Key::from_stored(
                        item.get(super::table::PK)?.as_str()?,
                        item.get(super::table::SK)?.as_str()?,
                    ))
                })
                .collect();
            self.batch_delete(&doomed).await?;
            match result.next {
                Some(next) => page.cursor = Some(next),
                None => return Ok(()),
            }
        }
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

    /// Applies an update expression to one item under a condition.
    pub async fn update<K>(
        &self,
        key: &Key<K>,
        spec: &UpdateSpec,
        cond: Cond,
    ) -> Result<(), DbError> {
        written(self.update_request(key, spec, cond)?.send().await)
    }

    /// Applies an update and returns the attributes it changed, as `T`.
    pub async fn update_returning<T: DeserializeOwned, K>(
        &self,
        key: &Key<K>,
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

    fn update_request<K>(
        &self,
        key: &Key<K>,
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
    pub fn update_write<K>(
        &self,
        key: &Key<K>,
        spec: &UpdateSpec,
        cond: Cond,
    ) -> Result<Write, DbError> {
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
