//! Storage has one boundary: outside `shared/src/db/`, the aggregates'
//! `store.rs` and `keys.rs`, no
//! source file builds a DynamoDB expression, names an attribute for one, or
//! spells the sort-key range trick. Domain code calls the store modules.

#![allow(clippy::expect_used)]

mod common;

use std::path::Path;

use common::sources;

/// What only the data layer may write.
const FORBIDDEN: &[&str] = &[
    "UpdateSpec {",
    "Filter {",
    "attribute_not_exists",
    "attribute_exists",
    "if_not_exists",
    "\"SET #",
    "\"ADD #",
    "\"REMOVE #",
    "\\u{10FFFF}",
];

/// An expression attribute name pair, as `("#name", ...)`.
fn names_an_attribute(line: &str) -> bool {
    line.match_indices("(\"#").any(|(at, _)| {
        let rest = &line[at + 3..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        name_len > 0
            && rest[name_len..].starts_with("\"")
            && (rest[name_len + 1..].starts_with(".into()")
                || rest[name_len + 1..].starts_with(", \""))
    })
}

#[test]
fn attribute_names_are_recognised() {
    assert!(names_an_attribute(
        r##"names: vec![("#read".into(), "read_up_to".into())],"##
    ));
    assert!(names_an_attribute(
        r##"&[("#counts", "reaction_counts")],"##
    ));
    assert!(!names_an_attribute(
        r##"trim_start_matches("#/components/schemas/")"##
    ));
}

#[test]
fn no_expression_outside_the_data_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    sources(&root.join("shared/src"), &mut files);
    sources(&root.join("functions"), &mut files);
    let allowed = [
        root.join("shared/src/db"),
        root.join("shared/src/keys.rs"),
        root.join("shared/src/messages/store.rs"),
    ];
    let mut leaks = Vec::new();
    let mut checked = 0;
    for file in files {
        if allowed.iter().any(|a| file.starts_with(a)) {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            if let Some(pattern) = FORBIDDEN.iter().find(|p| line.contains(*p)) {
                leaks.push(format!(
                    "{}:{}: `{pattern}` in {}",
                    file.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        checked > 30,
        "the scan found the domain's files ({checked})"
    );
    assert!(
        leaks.is_empty(),
        "storage details outside db/:\n{}",
        leaks.join("\n")
    );
}
