//! The runtime's modules form layers that call down, never up (see ARCHITECTURE.md): this test
//! reads every `crate::` and `super::` path in `src/` (outside `#[cfg(test)] mod tests`; nested
//! `use` groups expanded, items re-exported at the crate root traced to their module), fails on
//! an import cycle between modules, and fails on an import from a lower layer into a higher one.
//! A new module must be given its layer here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module, bottom layer first. A module may name modules of its own layer or below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "values",
        &[
            "actor",
            "arg",
            "array",
            "buffer",
            "bytes",
            "chrome_trace",
            "cluster",
            "codec",
            "context",
            "decoded",
            "error",
            "id",
            "in_flight",
            "log",
            "object",
            "process_guard",
            "protocol",
            "registry",
            "reply",
            "segment",
            "spin",
            "stats",
            "test_alloc",
            "test_support",
            "timeline",
            "timeline_page",
        ],
    ),
    (
        "transport",
        &[
            "transport",
            "transport::backoff",
            "transport::doorbell",
            "transport::local",
            "transport::mpi",
            "transport::mpi_errors",
        ],
    ),
    ("loop", &["event_loop"]),
    (
        "nodes",
        &[
            "executor",
            "garbage_collector",
            "heartbeat",
            "invoke",
            "object_store",
            "root",
            "scheduler",
            "worker",
            "worker::actor_queue",
            "worker::command",
        ],
    ),
    (
        "api",
        &[
            "actor_ref",
            "api",
            "awaiting",
            "docs_rs",
            "into_arg",
            "object_ref",
            "progress",
            "runtime",
            "settings",
            "task_options",
        ],
    ),
];

/// Module name (`a::b`) to its source, for every file under `src`.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().map_or(true, |e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src").with_extension("");
            let mut parts: Vec<String> =
                relative.components().map(|c| c.as_os_str().to_string_lossy().into()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let name = if parts.is_empty() { "lib".to_string() } else { parts.join("::") };
            found.insert(name, std::fs::read_to_string(&path).expect("a source file"));
        }
    }
    found
}

/// The paths a `use` tree or a path expression spells, braces expanded:
/// `a::{b::{C, D}, e}` gives `a::b::C`, `a::b::D` and `a::e`.
fn expand(text: &str) -> Vec<String> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = text.find('{') else { return vec![text.trim_end_matches(':').to_string()] };
    let prefix = &text[..open];
    // The group's items, split at the commas of its own depth.
    let (mut items, mut depth, mut start) = (Vec::new(), 0, open + 1);
    for (i, c) in text.char_indices().skip(open) {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => {
                items.push(&text[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 1 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| expand(&format!("{prefix}{item}")))
        .collect()
}

/// Where each path that starts with `crate::` or `super::` in `code` (of module `module`) leads,
/// as a path from the crate root.
fn paths(code: &str, module: &str) -> Vec<String> {
    let mut found = Vec::new();
    for start in ["crate::", "super::"] {
        for (at, _) in code.match_indices(start) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue; // the middle of a longer path, as the second `super::` of two
            }
            // The path runs on through names, `::` and balanced braces.
            let (mut end, mut depth) = (at, 0);
            for (i, c) in code[at..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    c if c.is_ascii_alphanumeric() || c == '_' || c == ':' => {}
                    c if depth > 0 && (c == ',' || c.is_whitespace()) => {}
                    _ => break,
                }
                end = at + i + c.len_utf8();
            }
            for path in expand(&code[at..end]) {
                let mut segments: Vec<&str> = path.split("::").collect();
                let mut base: Vec<&str> = module.split("::").collect();
                if segments[0] == "crate" {
                    base.clear();
                    segments.remove(0);
                } else {
                    while segments.first() == Some(&"super") {
                        base.pop();
                        segments.remove(0);
                    }
                }
                base.extend(segments);
                found.push(base.join("::"));
            }
        }
    }
    found
}

/// The module a path from the crate root names: its longest prefix that is a module, or the
/// module an item re-exported at the crate root (`crate::get`) comes from.
fn target(
    path: &str,
    names: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len())
        .rev()
        .map(|k| segments[..k].join("::"))
        .find(|m| names.contains(m))
        .or_else(|| reexports.get(segments[0]).cloned())
}

/// The code of `source` without its unit tests and its comments (a doc link to
/// `crate::get` is no import).
fn code_of(source: &str) -> String {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or(source);
    code.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The items lib.rs re-exports at the crate root (`pub use api::get`), by the module they come
/// from, so that `crate::get` counts as naming `api`.
fn reexports(lib: &str, names: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for (at, _) in lib.match_indices("pub use ") {
        let rest = &lib[at + "pub use ".len()..];
        let tree = &rest[..rest.find(';').expect("a `use` ends with `;`")];
        for path in expand(tree) {
            let path = path.trim_start_matches("crate::");
            let item = path.rsplit("::").next().expect("a path has a last segment");
            if let Some(m) = target(path, names, &BTreeMap::new()) {
                found.insert(item.to_string(), m);
            }
        }
    }
    found
}

/// The modules `source` (of module `module`) names, its unit tests left out.
fn imports(
    source: &str,
    module: &str,
    names: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    paths(&code_of(source), module)
        .iter()
        .filter_map(|path| target(path, names, reexports))
        .collect()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let reexports = reexports(&modules["lib"], &names);
    modules
        .iter()
        .filter(|(name, _)| name.as_str() != "lib")
        .map(|(name, source)| {
            let mut edges = imports(source, name, &names, &reexports);
            edges.remove(name);
            edges.remove("lib");
            (name.clone(), edges)
        })
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<String> = graph().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(missing.is_empty(), "give these modules a layer in tests/layers.rs: {missing:?}");
}

#[test]
fn every_layer_entry_is_a_module() {
    let modules = graph();
    let stale: Vec<&str> = LAYERS
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .filter(|name| !modules.contains_key(*name))
        .collect();
    assert!(stale.is_empty(), "no such modules: remove them from tests/layers.rs: {stale:?}");
}

#[test]
fn no_module_imports_from_a_higher_layer() {
    let mut upward = Vec::new();
    for (module, edges) in graph() {
        let Some(own) = layer_of(&module) else { continue };
        for target in edges {
            if layer_of(&target).is_some_and(|theirs| theirs > own) {
                upward.push(format!(
                    "{module} ({}) imports {target} ({})",
                    LAYERS[own].0,
                    LAYERS[layer_of(&target).unwrap()].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports that go up a layer:\n{}", upward.join("\n"));
}

#[test]
fn no_import_cycle_between_modules() {
    let graph = graph();
    // A module is in a cycle if it can reach itself.
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = graph[start].iter().collect();
        while let Some(m) = stack.pop() {
            if m == start {
                cycles.push(start.clone());
                break;
            }
            if seen.insert(m.clone()) {
                stack.extend(graph.get(m).into_iter().flatten());
            }
        }
    }
    assert!(cycles.is_empty(), "these modules import themselves through others: {cycles:?}");
}

#[test]
fn the_reader_sees_imports() {
    // The check is only as good as its reading of `use` lines: pin it on known edges.
    let graph = graph();
    assert!(graph["root"].contains("event_loop"));
    assert!(graph["event_loop"].contains("transport"));
    assert!(graph["api"].contains("runtime"));
    assert!(graph["executor"].contains("worker::command"));
    assert!(!graph["executor"].contains("worker"), "the executor never names the worker");
    // `super::` paths, from a module in a folder.
    assert!(graph["transport::mpi"].contains("transport::mpi_errors"));
    assert!(graph["transport::local"].contains("transport"));
}

#[test]
fn the_reader_expands_paths() {
    let names: BTreeSet<String> =
        ["a", "a::b", "c", "d", "e"].into_iter().map(String::from).collect();
    let reexports = BTreeMap::from([("get".to_string(), "e".to_string())]);
    let code = "use crate::{a::{b::X, Y}, c};\nfn f() { crate::get(1); super::super::d::Z; }";
    let found = imports(code, "a::b", &names, &reexports);
    let expected: BTreeSet<String> =
        ["a::b", "a", "c", "e", "d"].into_iter().map(String::from).collect();
    assert_eq!(found, expected);
    assert_eq!(paths("use super::super::d;", "a::b"), vec!["d"]);
    assert_eq!(paths("use super::X;", "a"), vec!["X"]);
    let doc_link = "/// Like [`crate::c`].\nfn f() {} // not crate::d either";
    assert!(imports(doc_link, "a", &names, &reexports).is_empty());
}
