//! The app item: settings changed under optimistic concurrency.

use serde_json::{json, Value};

use super::spec;
use crate::db::UpdateSpec;

/// Replaces settings, push credentials and name, only if the version read is
/// still current.
pub fn settings_change(settings: Value, push: Value, name: &str, read_version: u64) -> UpdateSpec {
    spec(
        "SET #settings = :settings, #push = :push, #name = :name ADD #version :one",
        Some("attribute_not_exists(#version) OR #version = :read"),
        &[
            ("#settings", "settings"),
            ("#push", "push"),
            ("#name", "name"),
            ("#version", "version"),
        ],
        vec![
            (":settings", settings),
            (":push", push),
            (":name", json!(name)),
            (":one", json!(1)),
            (":read", json!(read_version)),
        ],
    )
}
