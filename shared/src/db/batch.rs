//! Items of several kinds read in one request, and reads answered ahead.
//!
//! A use case that knows the items it will need (the caller's user, a
//! channel, their member item and ban; an audience's member and user items)
//! reads them in one `BatchGetItem` instead of one `GetItem` each.
//! [`Db::read_ahead`](super::Db::read_ahead) returns a view of the client
//! whose next `get` of each of those keys is answered from that batch, once:
//! a second `get` of the same key reads the table again, so a read after a
//! write sees the write.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

use super::{table, DbError, Entity, Item};
use crate::keys::Key;

/// Live items of a batch read, of any kind.
#[derive(Debug, Default)]
pub struct Items(Vec<Item>);

impl Items {
    pub(super) fn new(items: Vec<Item>) -> Self {
        Self(items)
    }

    /// Every item, as `T` (a read of keys of one kind).
    pub fn all<T: DeserializeOwned>(self) -> Result<Vec<T>, DbError> {
        self.0
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(DbError::from))
            .collect()
    }

    /// The items of type `T`.
    pub fn of<T: Entity>(&self) -> Result<Vec<T>, DbError> {
        self.0
            .iter()
            .filter(|item| is_a::<T>(item))
            .map(|item| serde_dynamo::from_item(item.clone()).map_err(DbError::from))
            .collect()
    }
}

fn is_a<T: Entity>(item: &Item) -> bool {
    matches!(item.get(table::ENTITY), Some(AttributeValue::S(kind)) if kind == T::TYPE)
}

fn key_of(item: &Item) -> Option<(String, String)> {
    match (item.get(table::PK), item.get(table::SK)) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
            Some((pk.clone(), sk.clone()))
        }
        _ => None,
    }
}

/// Answers read ahead, each taken once (`None`: the item does not exist).
#[derive(Debug, Default)]
pub(super) struct Ahead(Mutex<HashMap<(String, String), Option<Item>>>);

impl Ahead {
    fn slot<K>(key: &Key<K>) -> (String, String) {
        (key.pk.clone(), key.sk.clone())
    }

    /// Whether `key` has an answer waiting.
    pub(super) fn holds<K>(&self, key: &Key<K>) -> bool {
        self.0
            .lock()
            .is_ok_and(|answers| answers.contains_key(&Self::slot(key)))
    }

    /// The answers of one batch read of `keys`.
    pub(super) fn fill(&self, keys: &[Key], found: Items) {
        if let Ok(mut answers) = self.0.lock() {
            for key in keys {
                answers.insert(Self::slot(key), None);
            }
            for item in found.0 {
                if let Some(slot) = key_of(&item) {
                    answers.insert(slot, Some(item));
                }
            }
        }
    }

    /// The answer for `key`, if one is waiting (taken: the next read of
    /// that key goes to the table).
    pub(super) fn take<K>(&self, key: &Key<K>) -> Option<Option<Item>> {
        self.0.lock().ok()?.remove(&Self::slot(key))
    }
}

/// The entity an item holds, when the item is live.
pub(super) fn decode<T: DeserializeOwned>(item: Option<Item>) -> Result<Option<T>, DbError> {
    match item {
        Some(item) if super::is_live(&item) => Ok(Some(serde_dynamo::from_item(item)?)),
        _ => Ok(None),
    }
}
