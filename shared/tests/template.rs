//! The table the code creates (shared/src/db/table.rs) and the one
//! `template.yaml` deploys must be the same table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_shared::db::table;
use serde_yaml_ng::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml is readable");
    serde_yaml_ng::from_str(&text).expect("template.yaml parses")
}

fn pairs(list: &Value, name: &str, value: &str) -> Vec<(String, String)> {
    list.as_sequence()
        .expect("a list")
        .iter()
        .map(|entry| {
            (
                entry[name].as_str().expect("name").to_string(),
                entry[value].as_str().expect("value").to_string(),
            )
        })
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The template's declaration of one table matches the code's spec.
fn check_table(props: &Value, spec: &table::TableSpec) {
    assert_eq!(
        pairs(&props["KeySchema"], "AttributeName", "KeyType"),
        owned(&spec.key_schema)
    );
    let mut declared = pairs(
        &props["AttributeDefinitions"],
        "AttributeName",
        "AttributeType",
    );
    declared.sort();
    let mut expected = owned(&spec.attributes);
    expected.sort();
    assert_eq!(declared, expected);

    let indexes = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    assert_eq!(indexes.len(), spec.global_indexes.len());
    for (name, schema) in &spec.global_indexes {
        let index = indexes
            .iter()
            .find(|i| i["IndexName"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("index {name} declared"));
        assert_eq!(
            pairs(&index["KeySchema"], "AttributeName", "KeyType"),
            owned(schema)
        );
        assert_eq!(index["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    }
    assert_eq!(
        props["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(spec.ttl_attribute)
    );
    assert_eq!(
        props["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        props["StreamSpecification"]["StreamViewType"].as_str(),
        spec.stream_view_type
    );
}

#[test]
fn template_declares_the_tables_the_code_defines() {
    let template = template();
    let tables: Vec<(&str, &Value)> = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .map(|(name, r)| (name.as_str().expect("name"), r))
        .collect();
    assert_eq!(tables.len(), 2, "the single table and the outbox");
    for (name, resource) in tables {
        let spec = match name {
            "Table" => table::spec(),
            "OutboxTable" => table::outbox_spec(),
            other => panic!("unexpected table {other}"),
        };
        check_table(&resource["Properties"], &spec);
    }
    // Every function is told both names.
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(!variables["CHAT_TABLE_NAME"].is_null());
    assert!(!variables["CHAT_OUTBOX_TABLE"].is_null());
}

#[test]
fn every_function_crate_is_in_the_template() {
    let template = template();
    let functions_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");
    let mut crates: Vec<String> = std::fs::read_dir(functions_dir)
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| format!("functions/{}", e.file_name().to_string_lossy()))
        .collect();
    crates.sort();
    let mut declared: Vec<String> = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|r| r["Properties"]["CodeUri"].as_str().map(str::to_string))
        .collect();
    declared.sort();
    assert_eq!(crates, declared);
}

/// (path, method, function) of every REST route the template declares.
fn template_routes(template: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (name, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() == Some("Api") {
                out.push((
                    event["Properties"]["Path"]
                        .as_str()
                        .expect("Path")
                        .to_string(),
                    event["Properties"]["Method"]
                        .as_str()
                        .expect("Method")
                        .to_uppercase(),
                    name.as_str().expect("name").to_string(),
                ));
            }
        }
    }
    out
}

/// How specifically an API Gateway resource path matches a concrete path;
/// `None` when it does not. More literal segments win, greedy loses.
fn specificity(pattern: &str, path: &str) -> Option<(u8, usize)> {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut literal = 0;
    for (i, segment) in pattern.iter().enumerate() {
        if segment.ends_with("+}") {
            return (path.len() > i).then_some((0, literal));
        }
        let actual = path.get(i)?;
        if segment.starts_with('{') {
            continue;
        }
        if segment != actual {
            return None;
        }
        literal += 1;
    }
    (pattern.len() == path.len()).then_some((1, literal))
}

#[test]
fn every_served_rest_route_is_routed_to_its_function_and_back() {
    use chat_shared::http;
    let template = template();
    let routes = template_routes(&template);
    let groups = [
        ("UsersFunction", http::users::api()),
        ("ChannelsFunction", http::channels::api()),
        ("MessagesFunction", http::messages::api()),
        ("UploadsFunction", http::uploads::api()),
    ];
    let mut served = Vec::new();
    for (function, api) in groups {
        let (_, doc) = api.split_for_parts();
        for (path, item) in &doc.paths.paths {
            let methods = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            for (method, present) in methods {
                if !present {
                    continue;
                }
                // A concrete path, as a client would call it.
                let concrete: String = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "x1" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                let best = routes
                    .iter()
                    .filter(|(_, m, _)| m == "ANY" || m == method)
                    .filter_map(|r| specificity(&r.0, &concrete).map(|s| (s, r)))
                    .max_by_key(|(s, _)| *s)
                    .map(|(_, r)| r.2.clone());
                assert_eq!(
                    best.as_deref(),
                    Some(function),
                    "{method} {path} is routed to {best:?}"
                );
                served.push(concrete);
            }
        }
    }
    // The users function also serves the whole API's document.
    served.push("/api/v1/openapi.json".to_string());
    served.push("/api/v1/asyncapi.json".to_string());
    // ...and every template route leads somewhere that is served.
    for (pattern, method, function) in &routes {
        assert!(
            served.iter().any(|p| specificity(pattern, p).is_some()),
            "{method} {pattern} ({function}) serves nothing"
        );
    }
}

/// API Gateway corrupts a binary multipart body unless the REST API declares
/// it a binary media type (`~1` is SAM's escape for `/`).
#[test]
fn the_rest_api_passes_multipart_bodies_as_binary() {
    let template = template();
    let types: Vec<String> = template["Resources"]["RestApi"]["Properties"]["BinaryMediaTypes"]
        .as_sequence()
        .expect("RestApi declares BinaryMediaTypes")
        .iter()
        .filter_map(|t| t.as_str())
        .map(|t| t.replace("~1", "/"))
        .collect();
    assert!(
        types.iter().any(|t| t == "multipart/form-data"),
        "{types:?}"
    );
}
