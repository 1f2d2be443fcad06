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

/// The object schema a body's schema stands for: through `$ref`, and
/// through `oneOf`/`allOf` (Option wrappers).
fn has_properties(schema: &serde_json::Value, doc: &serde_json::Value) -> bool {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return has_properties(&doc["components"]["schemas"][name], doc);
    }
    for combinator in ["oneOf", "allOf", "anyOf"] {
        if let Some(parts) = schema[combinator].as_array() {
            return parts
                .iter()
                .filter(|p| p["type"] != "null")
                .all(|p| has_properties(p, doc));
        }
    }
    schema["properties"]
        .as_object()
        .is_some_and(|p| !p.is_empty())
}

#[test]
fn every_body_has_a_concrete_schema() {
    let doc = serde_json::to_value(chat_shared::http::openapi()).unwrap();
    let mut bare = Vec::new();
    let mut bodies = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let request = operation["requestBody"]["content"].as_object();
            let responses = operation["responses"]
                .as_object()
                .into_iter()
                .flat_map(|r| {
                    r.iter()
                        .filter_map(|(status, r)| Some((status.clone(), r["content"].as_object()?)))
                });
            let mut contents: Vec<(String, &serde_json::Map<String, serde_json::Value>)> = request
                .map(|c| ("request".to_string(), c))
                .into_iter()
                .collect();
            contents.extend(responses);
            for (what, content) in contents {
                for (media, body) in content {
                    if media != "application/json" {
                        continue;
                    }
                    bodies += 1;
                    if !has_properties(&body["schema"], &doc) {
                        bare.push(format!("{method} {path} {what}"));
                    }
                }
            }
        }
    }
    assert!(
        bodies > 100,
        "the check saw the document's bodies ({bodies})"
    );
    assert!(
        bare.is_empty(),
        "bodies without a concrete schema:\n{}",
        bare.join("\n")
    );
}
