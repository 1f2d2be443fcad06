//! The big-channel model's table in docs/past-the-ceiling.md is what the
//! model gives today, and the model's template figures are the template's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_bench::ceiling;

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_ceiling_table_in_the_docs_is_current() {
    let doc = repo_file("docs/past-the-ceiling.md");
    let table = ceiling::table();
    let fresh = ceiling::splice(&doc, &table).expect("the ceiling markers");
    assert!(
        fresh == doc,
        "docs/past-the-ceiling.md is stale: run `chat-bench ceiling --write docs/past-the-ceiling.md`\n{table}"
    );
}

#[test]
fn the_model_takes_the_fan_out_function_as_the_template_deploys_it() {
    let template = repo_file("template.yaml");
    // From `  FanoutFunction:` to the next resource (a line indented by two).
    let section: String = template
        .lines()
        .skip_while(|l| *l != "  FanoutFunction:")
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("   ") || l.starts_with("  #"))
        .collect::<Vec<_>>()
        .join("\n");
    let value = |key: &str| -> String {
        let at = section
            .find(key)
            .unwrap_or_else(|| panic!("{key} in FanoutFunction"));
        section[at + key.len()..]
            .lines()
            .next()
            .unwrap()
            .trim()
            .trim_matches('"')
            .to_string()
    };
    assert_eq!(
        value("MemorySize:").parse::<f64>().unwrap(),
        ceiling::FANOUT_MEMORY_MB
    );
    assert_eq!(
        value("CHAT_FANOUT_CONCURRENCY:").parse::<usize>().unwrap(),
        ceiling::FANOUT_CONCURRENCY
    );
    assert_eq!(
        value("BatchSize:").parse::<f64>().unwrap(),
        ceiling::STREAM_BATCH
    );
}
