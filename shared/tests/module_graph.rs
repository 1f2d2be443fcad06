//! The modules of the `shared` crate import one another without circles: a
//! test reads every `use` and every `crate::`/`super::` path of
//! `shared/src`, resolves each to the file of the module it names, and
//! fails on any loop of files importing each other (it names the loop).
//! Declaring a child module (`mod x;`) is not an import, nor is a file
//! naming what its own folder's `mod.rs` defines.

#![allow(clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::sources;

type Module = Vec<String>;

/// `a/b.rs` is `[a, b]`, `a/mod.rs` is `[a]`, `lib.rs` is `[]`.
fn module_of(root: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(root).expect("under src");
    let mut parts: Module = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The source without comments and string literals' contents, with the
/// unit tests (`#[cfg(test)]` to the end of the file) left out.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    let strings = regex::Regex::new(r#""(?:[^"\\]|\\.)*""#).expect("a regex");
    strings.replace_all(&out, "\"\"").into_owned()
}

/// The paths a use tree names: `a::{b, c::{d, self}}` is `a::b`, `a::c::d`
/// and `a::c`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    fn parse(chars: &[char], at: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        let mut word = String::new();
        while *at < chars.len() {
            let c = chars[*at];
            match c {
                '{' => {
                    *at += 1;
                    loop {
                        parse(chars, at, &path, out);
                        if *at >= chars.len() || chars[*at] == '}' {
                            break;
                        }
                        *at += 1; // ','
                    }
                    *at += 1; // '}'
                    return;
                }
                ',' | '}' => break,
                ':' => {
                    if !word.is_empty() {
                        path.push(std::mem::take(&mut word));
                    }
                    *at += 1;
                    continue;
                }
                c if c.is_whitespace() => {
                    if word == "as" {
                        word.clear();
                        // The alias names nothing new.
                        while *at < chars.len() && !matches!(chars[*at], ',' | '}') {
                            *at += 1;
                        }
                        break;
                    }
                    if !word.is_empty() {
                        path.push(std::mem::take(&mut word));
                    }
                }
                _ => word.push(c),
            }
            *at += 1;
        }
        if !word.is_empty() && word != "*" && word != "self" {
            path.push(word);
        }
        out.push(path);
    }
    let chars: Vec<char> = tree.chars().collect();
    let mut out = Vec::new();
    parse(&chars, &mut 0, &[], &mut out);
    out
}

/// Every module path a file names, made absolute.
fn named(
    module: &Module,
    is_dir_module: bool,
    code: &str,
    modules: &BTreeSet<Module>,
) -> Vec<Module> {
    let uses = regex::Regex::new(r"(?s)\buse\s+([^;]+);").expect("a regex");
    let inline = regex::Regex::new(r"\b(?:crate|super|self)(?:::\w+)+").expect("a regex");
    let mut paths: Vec<Vec<String>> = Vec::new();
    for found in uses.captures_iter(code) {
        paths.extend(expand(&found[1]));
    }
    let without_uses = uses.replace_all(code, "");
    for found in inline.find_iter(&without_uses) {
        paths.push(found.as_str().split("::").map(str::to_string).collect());
    }
    // `super` of module `a::b` (`a/b.rs`, or `a/b/mod.rs`) is `a`.
    let parent: Module = module[..module.len().saturating_sub(1)].to_vec();
    paths
        .into_iter()
        .filter_map(|path| {
            let (start, rest): (Module, &[String]) = match path.first().map(String::as_str) {
                Some("crate") => (Vec::new(), &path[1..]),
                Some("super") => {
                    let mut up = parent.clone();
                    let mut rest = &path[1..];
                    while rest.first().map(String::as_str) == Some("super") {
                        up.pop();
                        rest = &rest[1..];
                    }
                    (up, rest)
                }
                Some("self") => (module.clone(), &path[1..]),
                Some(first) => {
                    // A child module named without a prefix.
                    let mut child = module.clone();
                    child.push(first.to_string());
                    if modules.contains(&child) && is_dir_module {
                        (module.clone(), &path[..])
                    } else {
                        return None;
                    }
                }
                None => return None,
            };
            let mut full = start;
            full.extend(rest.iter().cloned());
            Some(full)
        })
        .collect()
}

/// The names each file defines.
type Definitions = BTreeMap<Module, BTreeSet<String>>;

/// The file that defines what `path` names: the longest module that
/// prefixes it or, for an item that module re-exports, the file below it
/// that defines the item.
fn resolve(path: &[String], modules: &BTreeSet<Module>, defined: &Definitions) -> Option<Module> {
    let n = (1..=path.len())
        .rev()
        .find(|n| modules.contains(&path[..*n]))?;
    let module = path[..n].to_vec();
    let Some(item) = path.get(n) else {
        return Some(module);
    };
    if defined.get(&module).is_some_and(|d| d.contains(item)) {
        return Some(module);
    }
    let below = defined
        .iter()
        .find(|(m, d)| m.len() > module.len() && m.starts_with(&module) && d.contains(item))
        .map(|(m, _)| m.clone());
    Some(below.unwrap_or(module))
}

fn definitions(code: &str) -> BTreeSet<String> {
    let item = regex::Regex::new(
        r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:fn|struct|enum|trait|type|const|static)\s+(\w+)",
    )
    .expect("a regex");
    item.captures_iter(code).map(|c| c[1].to_string()).collect()
}

/// Each file's imports, as modules.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&root, f)).collect();
    let texts: BTreeMap<Module, (bool, String)> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).expect("a readable source file");
            let is_dir_module = file.file_name().is_some_and(|n| n == "mod.rs");
            (module_of(&root, file), (is_dir_module, code(&text)))
        })
        .collect();
    let defined: Definitions = texts
        .iter()
        .map(|(m, (_, code))| (m.clone(), definitions(code)))
        .collect();
    let mut graph = BTreeMap::new();
    for (module, (is_dir_module, code)) in &texts {
        if module.is_empty() {
            continue; // lib.rs only declares the modules
        }
        let module = module.clone();
        let edges: BTreeSet<Module> = named(&module, *is_dir_module, code, &modules)
            .iter()
            .filter_map(|p| resolve(p, &modules, &defined))
            // A child naming its folder's own items (`super::X` in
            // `a/b.rs` for `a/mod.rs`) is the folder's face, not an import.
            .filter(|target| !module.starts_with(target))
            .collect();
        graph.insert(module, edges);
    }
    graph
}

/// The strongly connected components of more than one file.
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a Module) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        if let Some(edges) = w.graph.get(v) {
            for u in edges {
                let Some((u, _)) = w.graph.get_key_value(u) else {
                    continue;
                };
                if !w.index.contains_key(u) {
                    visit(w, u);
                    let low = w.low[v].min(w.low[u]);
                    w.low.insert(v, low);
                } else if w.on_stack.contains(u) {
                    let low = w.low[v].min(w.index[u]);
                    w.low.insert(v, low);
                }
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(u) = w.stack.pop() {
                w.on_stack.remove(u);
                component.push(u.clone());
                if u == v {
                    break;
                }
            }
            if component.len() > 1 {
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v) {
            visit(&mut walk, v);
        }
    }
    walk.found
}

#[test]
fn use_trees_are_expanded() {
    assert_eq!(
        expand("crate::channels::{self, listing, Ctx as C}"),
        vec![
            vec!["crate", "channels"],
            vec!["crate", "channels", "listing"],
            vec!["crate", "channels", "Ctx"],
        ]
    );
    assert_eq!(
        expand("super::{a::{b, c}, d}"),
        vec![
            vec!["super", "a", "b"],
            vec!["super", "a", "c"],
            vec!["super", "d"],
        ]
    );
}

#[test]
fn a_circle_is_found() {
    let m = |s: &str| vec![s.to_string()];
    let graph = BTreeMap::from([
        (m("a"), BTreeSet::from([m("b")])),
        (m("b"), BTreeSet::from([m("c")])),
        (m("c"), BTreeSet::from([m("a")])),
        (m("d"), BTreeSet::from([m("a")])),
    ]);
    let found = circles(&graph);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 3);
}

#[test]
fn the_shared_crates_modules_import_each_other_without_circles() {
    let graph = graph();
    assert!(graph.len() > 80, "{} files", graph.len());
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 300, "{edges} imports read");
    let found: Vec<String> = circles(&graph)
        .iter()
        .map(|c| {
            c.iter()
                .map(|m| m.join("/"))
                .collect::<Vec<_>>()
                .join(" ↔ ")
        })
        .collect();
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

/// The crate's layers, lowest first: a file belongs to the layer of the
/// longest module path listed for it. A file may import its own layer and
/// those below; an import of a higher layer points up.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "ground: errors, ids, keys, configuration, clients of other services",
        &[
            "error", "time", "config", "ids", "keys", "aws", "telemetry", "storage",
            "scheduler", "outbound", "links", "blocklists",
        ],
    ),
    ("data: the table and rate limits", &["db", "ratelimit", "stream_jobs"]),
    (
        "models: apps, users, who is acting, channels and messages as stored, events",
        &[
            "apps", "users", "acting", "channels/model", "channels/listing",
            "messages/model", "messages/store", "push/credentials", "realtime/events",
            "realtime/management", "realtime/pace", "realtime/connections",
        ],
    ),
    (
        "domain: channels, messages, pushes, uploads, reports, and the real-time indexes and publishing",
        &[
            "state", "channels", "messages", "blocks", "push", "devices", "uploads", "flags",
            "webhooks", "realtime",
        ],
    ),
    (
        "use cases with their effects, background jobs, authentication",
        &["actions", "erasure", "export", "sync", "notify", "auth", "realtime/sessions"],
    ),
    ("transports: the REST routers and the socket adapter", &["http", "socket"]),
];

/// The layer of a file, by the longest listed prefix of its module path.
fn layer_of(module: &Module) -> Option<usize> {
    (1..=module.len()).rev().find_map(|n| {
        let path = module[..n].join("/");
        LAYERS
            .iter()
            .position(|(_, names)| names.contains(&path.as_str()))
    })
}

#[test]
fn imports_point_down_the_layers() {
    let graph = graph();
    let unplaced: Vec<String> = graph
        .keys()
        .filter(|m| layer_of(m).is_none())
        .map(|m| m.join("/"))
        .collect();
    assert!(
        unplaced.is_empty(),
        "files in no layer (add them to LAYERS): {unplaced:?}"
    );
    let mut up = Vec::new();
    for (from, edges) in &graph {
        for to in edges {
            let (low, high) = (layer_of(from), layer_of(to));
            if high > low {
                up.push(format!("{} -> {}", from.join("/"), to.join("/")));
            }
        }
    }
    assert!(
        up.len() <= 5,
        "{} imports point up a layer (at most 5):\n{}",
        up.len(),
        up.join("\n")
    );
}
