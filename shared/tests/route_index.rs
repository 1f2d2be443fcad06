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
                // The file is named for the router group, except the
                // groups served by another function: the application's
                // settings and blocks (users), reports (channels).
                let file = match tag.as_str() {
                    "application" | "moderation" | "blocks" => format!("shared/src/http/{tag}.rs"),
                    _ => format!("shared/src/http/{function}.rs"),
                };
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
