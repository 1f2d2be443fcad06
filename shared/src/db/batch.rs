//! Items of several kinds read in one request, and reads answered ahead.
//!
//! A use case that knows the items it will need (the caller's user, a
//! channel, their member item and ban; an audience's member and user items)
//! reads them in one `BatchGetItem` instead of one `GetItem` each.
//! [`Db::read_ahead`](super::Db::read_ahead) returns a view of the client
//! whose next `get` of each of those keys is answered from that batch, once:
//! a second `get` of the same key reads the table again, so a read after a
//! write sees the write. Keys read ahead for a later batch read (an
//! audience's, [`Db::read_ahead_with`](super::Db::read_ahead_with)) answer
//! that batch read only, once each, and a query answered ahead
//! ([`Db::run_kept`](super::Db::run_kept)) answers the same query once more.

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

    pub(super) fn into_items(self) -> Vec<Item> {
        self.0
    }

    /// Every item, as `T` (a read of keys of one kind).
    pub fn all<T: DeserializeOwned>(self) -> Result<Vec<T>, DbError> {
        self.0
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(DbError::from))
            .collect()
    }

    /// The items of type `T`, taken out of this read.
    pub fn of<T: Entity>(&mut self) -> Result<Vec<T>, DbError> {
        self.of_view::<T, T>()
    }

    /// The items of type `E`, taken out of this read, each as `V`: a view
    /// of the attributes the caller needs, so the others are not decoded.
    pub fn of_view<E: Entity, V: DeserializeOwned>(&mut self) -> Result<Vec<V>, DbError> {
        self.0
            .extract_if(.., |item| is_a::<E>(item))
            .map(|item| serde_dynamo::from_item(item).map_err(DbError::from))
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

type Slot = (String, String);
/// A query's page as stored: its live items and the next cursor.
pub(super) type RawPage = (Vec<Item>, Option<String>);

fn slot<K>(key: &Key<K>) -> Slot {
    (key.pk.clone(), key.sk.clone())
}

/// Answers read ahead, each taken once (`None`: the item does not exist):
/// for `get`, for batch reads, and query pages.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    gets: Mutex<HashMap<Slot, Option<Item>>>,
    batches: Mutex<HashMap<Slot, Option<Item>>>,
    queries: Mutex<HashMap<String, RawPage>>,
}

impl Ahead {
    /// Whether `key` has an answer waiting for a `get`.
    pub(super) fn holds<K>(&self, key: &Key<K>) -> bool {
        self.gets
            .lock()
            .is_ok_and(|answers| answers.contains_key(&slot(key)))
    }

    /// Whether `key` has an answer waiting for a batch read.
    pub(super) fn holds_for_batch<K>(&self, key: &Key<K>) -> bool {
        self.batches
            .lock()
            .is_ok_and(|answers| answers.contains_key(&slot(key)))
    }

    /// The answers of one batch read: of `gets` for `get`, of `batches`
    /// for a batch read.
    pub(super) fn fill(&self, gets: &[Key], batches: &[Key], found: Items) {
        let found: HashMap<Slot, Item> = found
            .0
            .into_iter()
            .filter_map(|item| Some((key_of(&item)?, item)))
            .collect();
        for (keys, answers) in [(gets, &self.gets), (batches, &self.batches)] {
            if let Ok(mut answers) = answers.lock() {
                for key in keys {
                    let slot = slot(key);
                    let item = found.get(&slot).cloned();
                    answers.insert(slot, item);
                }
            }
        }
    }

    /// The answer for `key`, if one is waiting (taken: the next read of
    /// that key goes to the table).
    pub(super) fn take<K>(&self, key: &Key<K>) -> Option<Option<Item>> {
        self.gets.lock().ok()?.remove(&slot(key))
    }

    /// Of a batch read's keys, the items read ahead for it (taken), and
    /// the keys still to read.
    pub(super) fn take_for_batch<K>(&self, keys: &[Key<K>]) -> (Vec<Item>, Vec<Key>) {
        let Ok(mut answers) = self.batches.lock() else {
            return (Vec::new(), keys.iter().map(Key::any).collect());
        };
        let (mut items, mut missing) = (Vec::new(), Vec::new());
        for key in keys {
            match answers.remove(&slot(key)) {
                Some(Some(item)) if super::is_live(&item) => items.push(item),
                Some(_) => {}
                None => missing.push(key.any()),
            }
        }
        (items, missing)
    }

    /// Keeps a query's page for one more run of the same query.
    pub(super) fn keep_query(&self, query: String, page: RawPage) {
        if let Ok(mut queries) = self.queries.lock() {
            queries.insert(query, page);
        }
    }

    /// The kept page of this query, if any (taken).
    pub(super) fn take_query(&self, query: &str) -> Option<RawPage> {
        self.queries.lock().ok()?.remove(query)
    }
}

/// The entity an item holds, when the item is live.
pub(super) fn decode<T: DeserializeOwned>(item: Option<Item>) -> Result<Option<T>, DbError> {
    match item {
        Some(item) if super::is_live(&item) => Ok(Some(serde_dynamo::from_item(item)?)),
        _ => Ok(None),
    }
}
