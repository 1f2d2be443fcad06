//! The route index in docs/api.md is what the routers serve: each route with the
//! file and handler that serve it and the function it is deployed in,
//! generated from the routers' own OpenAPI descriptions. A stale copy fails
//! here; `UPDATE_DOCS=1 cargo test -p chat-shared --test route_index`
//! writes the current one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_shared::http;

const BEGIN: &str = "<!-- routes:begin -->";
const END: &str = "<!-- routes:end -->";

fn index() -> String {
    let groups = [
        ("users", http::users::api()),
        ("channels", http::channels::api()),
        ("messages", http::messages::api()),
        ("uploads", http::uploads::api()),
    ];
    let mut rows = Vec::new();
    for (function, api) in groups {
        let (_, doc) = api.split_for_parts();
        for (path, item) in &doc.paths.paths {
            for (method, operation) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                let Some(operation) = operation else { continue };
                let handler = operation.operation_id.clone().unwrap_or_default();
                let tag = operation
                    .tags
                    .as_ref()
                    .and_then(|t| t.first().cloned())
                    .unwrap_or_default();
                // The file that defines the handler: the tag's file, the
                // router group's files, then any router file.
                let file = handler_file(function, &tag, &handler);
                assert!(!file.is_empty(), "no router file defines `{handler}`");
                rows.push(format!(
                    "| `{method} {}` | `{file}` `{handler}` | `functions/{function}` |",
                    path.trim_start_matches("/api/v1")
                ));
            }
        }
    }
    let mut out =
        String::from("| route (base `/api/v1`) | handler | Lambda |\n| --- | --- | --- |\n");
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out.push_str(
        "| WebSocket `$connect`, `$disconnect`, `$default` | `shared/src/socket.rs` `handle` | `functions/realtime` |\n",
    );
    out
}

#[test]
fn the_route_index_in_the_docs_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find(BEGIN).expect("docs/api.md has the routes markers") + BEGIN.len();
    let end = doc.find(END).expect("docs/api.md has the routes markers");
    let current = format!("{}\n{}{}", &doc[..start], index(), &doc[end..]);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &current).unwrap();
        return;
    }
    assert!(
        current == doc,
        "the route index in docs/api.md is stale; run \
         `UPDATE_DOCS=1 cargo test -p chat-shared --test route_index`"
    );
}

/// The router file (from the repository root) that defines `handler`.
fn handler_file(function: &str, tag: &str, handler: &str) -> String {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let http = root.join("shared/src/http");
    let listed = |dir: std::path::PathBuf| {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|f| f.extension().is_some_and(|e| e == "rs"));
        files.sort();
        files
    };
    let mut candidates = vec![http.join(format!("{tag}.rs"))];
    candidates.extend(listed(http.join(function)));
    candidates.push(http.join(format!("{function}.rs")));
    candidates.extend(listed(http.clone()));
    let defines = format!("fn {handler}(");
    candidates
        .into_iter()
        .find(|f| std::fs::read_to_string(f).is_ok_and(|text| text.contains(&defines)))
        .and_then(|f| f.strip_prefix(root).ok().map(|p| p.display().to_string()))
        .unwrap_or_default()
}
