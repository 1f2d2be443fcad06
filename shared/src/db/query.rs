//! Queries of one partition: pages with cursors bound to their partition, and counts.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use base64::Engine;
use serde::de::DeserializeOwned;

use crate::keys::Key;

use super::{is_live, key_item, table, Db, DbError, Item};

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

impl Query<'_> {
    /// What tells this query from another (its whole text).
    fn slot(&self) -> String {
        format!("{self:?}")
    }
}

fn decode_page<T: DeserializeOwned>(
    items: Vec<Item>,
    next: Option<String>,
) -> Result<Page<T>, DbError> {
    let items = items
        .into_iter()
        .map(|item| serde_dynamo::from_item(item).map_err(DbError::from))
        .collect::<Result<_, _>>()?;
    Ok(Page { items, next })
}

impl Db {
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
        self.count_after_on(None, pk, prefix, after, cap, filter)
            .await
    }

    /// [`Db::count_after_where`] on the table or on an index's keys.
    pub async fn count_after_on(
        &self,
        index: Option<&str>,
        pk: &str,
        prefix: &str,
        after: &str,
        cap: usize,
        filter: Option<&Filter>,
    ) -> Result<usize, DbError> {
        // BETWEEN is inclusive; the successor of `after` makes it exclusive.
        self.count_between(
            index,
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
        index: Option<&str>,
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
            let (pk_attr, sk_attr) = match index {
                Some(_) => (table::GSI1_PK, table::GSI1_SK),
                None => (table::PK, table::SK),
            };
            let out = request
                .table_name(self.table.as_ref())
                .set_index_name(index.map(str::to_string))
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_names("#sk", sk_attr)
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

    /// Runs a query on the table or GSI1: one DynamoDB request, one page
    /// (none when this view kept the page, [`Db::run_kept`]).
    #[tracing::instrument(level = "debug", skip(self, query), fields(pk = %query.pk))]
    pub async fn run<T: DeserializeOwned>(&self, query: &Query<'_>) -> Result<Page<T>, DbError> {
        let kept = self
            .ahead
            .as_ref()
            .and_then(|ahead| ahead.take_query(&query.slot()));
        let (items, next) = match kept {
            Some(page) => page,
            None => self.run_raw(query).await?,
        };
        decode_page(items, next)
    }

    /// Runs a query now, and returns its page with a view of this client
    /// whose next run of the same query is answered with that page.
    pub async fn run_kept<T: DeserializeOwned>(
        &self,
        query: &Query<'_>,
    ) -> Result<(Db, Page<T>), DbError> {
        let (items, next) = self.run_raw(query).await?;
        let ahead = self.ahead.clone().unwrap_or_default();
        ahead.keep_query(query.slot(), (items.clone(), next.clone()));
        let view = Db {
            ahead: Some(ahead),
            ..self.clone()
        };
        Ok((view, decode_page(items, next)?))
    }

    /// One page of a query, as stored: its live items and the next cursor.
    async fn run_raw(&self, query: &Query<'_>) -> Result<super::batch::RawPage, DbError> {
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
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(is_live)
            .collect();
        Ok((items, next))
    }

    /// A cursor that resumes a table query right after `key`.
    pub fn cursor_after<K>(key: &Key<K>) -> String {
        encode_cursor(&key_item(key))
    }

    /// How many items of partition `pk` have a sort key starting with `sk_prefix`.
    pub async fn count(&self, pk: &str, sk_prefix: &str) -> Result<usize, DbError> {
        self.count_between(
            None,
            pk,
            sk_prefix.to_string(),
            format!("{sk_prefix}\u{10FFFF}"),
            None,
            None,
        )
        .await
    }
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
    use crate::keys::Key;

    #[test]
    fn cursor_round_trips_and_is_bound_to_its_partition() {
        let key = key_item(&Key::from_stored("APP#a#USER#u", "DEVICE#d"));
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
}
