//! The runtime's modules form layers that call down, never up (see ARCHITECTURE.md): this test
//! reads every `crate::` path in `src/` (outside `#[cfg(test)] mod tests`), fails on an import
//! cycle between modules, and fails on an import from a lower layer into a higher one. A new
//! module must be given its layer here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module, bottom layer first. A module may name modules of its own layer or below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "values",
        &[
            "arg",
            "buffer",
            "cluster",
            "codec",
            "context",
            "error",
            "id",
            "log",
            "object",
            "process_guard",
            "protocol",
            "registry",
            "reply",
            "stats",
            "test_alloc",
            "test_support",
        ],
    ),
    (
        "transport",
        &[
            "transport",
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
            "worker::command",
        ],
    ),
    ("api", &["api", "into_arg", "object_ref", "runtime", "settings"]),
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

/// The module a `crate::` path names: its longest prefix that is a module.
fn target(path: &str, names: &BTreeSet<String>) -> Option<String> {
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len()).rev().map(|k| segments[..k].join("::")).find(|m| names.contains(m))
}

/// The modules `source` names through `crate::` paths, its unit tests left out.
fn imports(source: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or(source);
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if rest.starts_with('{') {
            // `use crate::{a::X, b};`
            let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
            for item in group.split(',') {
                let item = item.trim();
                if let Some(m) = target(item, names) {
                    found.insert(m);
                }
            }
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        if let Some(m) = target(rest[..end].trim_end_matches(':'), names) {
            found.insert(m);
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .filter(|(name, _)| name.as_str() != "lib")
        .map(|(name, source)| {
            let mut edges = imports(source, &names);
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
}
