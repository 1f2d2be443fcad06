//! `docs/asyncapi.json`, which the users function serves at
//! `/api/v1/asyncapi.json`, is the document made from the protocol's types.
//! A stale copy fails here;
//! `UPDATE_ASYNCAPI=1 cargo test -p chat-shared --test asyncapi_file` writes
//! the current one.

#![allow(clippy::unwrap_used)]

#[test]
fn the_served_asyncapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/asyncapi.json");
    let document = chat_shared::realtime::asyncapi::document();
    let generated = serde_json::to_string_pretty(&document).unwrap() + "\n";
    if std::env::var_os("UPDATE_ASYNCAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == generated,
        "docs/asyncapi.json is stale; run `UPDATE_ASYNCAPI=1 cargo test -p chat-shared --test asyncapi_file`"
    );
}
