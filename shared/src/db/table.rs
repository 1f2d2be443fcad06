//! The table's definition, once: attribute names, key schema, the GSI and the
//! TTL attribute. `create_table_if_missing` builds from it, and a test checks
//! that `template.yaml` declares exactly this.

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
    /// The table's stream (what each record shows): large fan-outs are
    /// handed to the fan-out function through it.
    pub stream_view_type: &'static str,
}

pub fn spec() -> TableSpec {
    TableSpec {
        key_schema: vec![(PK, "HASH"), (SK, "RANGE")],
        attributes: vec![(PK, "S"), (SK, "S"), (GSI1_PK, "S"), (GSI1_SK, "S")],
        global_indexes: vec![(GSI1, vec![(GSI1_PK, "HASH"), (GSI1_SK, "RANGE")])],
        ttl_attribute: TTL,
        stream_view_type: "NEW_IMAGE",
    }
}
