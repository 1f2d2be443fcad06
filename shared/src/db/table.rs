//! The tables' definitions, once: attribute names, key schema, the GSI and
//! the TTL attribute of the single table, and the outbox beside it.
//! `create_table_if_missing` builds from them, and a test checks that
//! `template.yaml` declares exactly these.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use super::{Db, DbError};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const TTL: &str = "ttl";
/// Every item names its entity type, so a partition holding several kinds of
/// item can be read and migrated safely.
pub const ENTITY: &str = "entity";

/// A plain description of the table, comparable with what a template declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// (attribute, key type "HASH" | "RANGE")
    pub key_schema: Vec<(&'static str, &'static str)>,
    /// Every key attribute, all strings ("S").
    pub attributes: Vec<(&'static str, &'static str)>,
    /// (index name, key schema); every index projects ALL attributes.
    pub global_indexes: Vec<(&'static str, Vec<(&'static str, &'static str)>)>,
    pub ttl_attribute: &'static str,
    /// The table's stream (what each record shows), if it has one.
    pub stream_view_type: Option<&'static str>,
}

pub fn spec() -> TableSpec {
    TableSpec {
        key_schema: vec![(PK, "HASH"), (SK, "RANGE")],
        attributes: vec![(PK, "S"), (SK, "S"), (GSI1_PK, "S"), (GSI1_SK, "S")],
        global_indexes: vec![(GSI1, vec![(GSI1_PK, "HASH"), (GSI1_SK, "RANGE")])],
        ttl_attribute: TTL,
        stream_view_type: None,
    }
}

/// The outbox: items written only to start work outside the request that
/// wrote them (fan-out jobs). Its stream feeds the fan-out function; the
/// single table has none, so its every write is not a stream record.
pub fn outbox_spec() -> TableSpec {
    TableSpec {
        key_schema: vec![(PK, "HASH"), (SK, "RANGE")],
        attributes: vec![(PK, "S"), (SK, "S")],
        global_indexes: vec![],
        ttl_attribute: TTL,
        stream_view_type: Some("NEW_IMAGE"),
    }
}

impl Db {
    /// Creates the table and the outbox (and turns on their TTL) unless
    /// they exist.
    pub async fn create_table_if_missing(&self) -> Result<(), DbError> {
        self.create_if_missing(&self.table, &spec()).await?;
        self.create_if_missing(&self.outbox, &outbox_spec()).await
    }

    async fn create_if_missing(&self, name: &str, spec: &TableSpec) -> Result<(), DbError> {
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
}
