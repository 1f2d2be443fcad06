//! The app item: settings changed under optimistic concurrency.

use serde_json::{json, Value};

use super::spec;
use crate::db::UpdateSpec;

/// Replaces settings and name, only if the version read is still current.
pub fn settings_change(settings: Value, name: &str, read_version: u64) -> UpdateSpec {
    spec(
        "SET #settings = :settings, #name = :name ADD #version :one",
        Some("attribute_not_exists(#version) OR #version = :read"),
        &[
            ("#settings", "settings"),
            ("#name", "name"),
            ("#version", "version"),
        ],
        vec![
            (":settings", settings),
            (":name", json!(name)),
            (":one", json!(1)),
            (":read", json!(read_version)),
        ],
    )
}
