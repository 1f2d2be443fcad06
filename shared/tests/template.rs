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

#[test]
fn template_declares_the_table_the_code_defines() {
    let template = template();
    let tables: Vec<&Value> = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .collect();
    assert_eq!(tables.len(), 1, "exactly one table");
    let props = &tables[0]["Properties"];
    let spec = table::spec();

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

    let indexes = props["GlobalSecondaryIndexes"].as_sequence().expect("GSIs");
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
