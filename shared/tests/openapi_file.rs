//! `docs/openapi.json`, which the users function serves, is the document the
//! routers generate. A stale copy fails here;
//! `UPDATE_OPENAPI=1 cargo test -p chat-shared --test openapi_file` writes
//! the current one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn the_served_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let generated = serde_json::to_string_pretty(&chat_shared::http::openapi()).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == generated,
        "docs/openapi.json is stale; run `UPDATE_OPENAPI=1 cargo test -p chat-shared --test openapi_file`"
    );
}
