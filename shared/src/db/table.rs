//! The tables' definitions, once: attribute names, key schema, the GSI and
//! the TTL attribute of the single table, and the outbox beside it.
//! `create_table_if_missing` builds from them, and a test checks that
//! `template.yaml` declares exactly these.

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
