//! The import graph, checked: use cases and rules never reach past their ports, and no two use-case
//! modules import each other. Layers point one way: functions → {app, http, config};
//! config (the wiring) → {adapters, app}; app → {ports, domain}; adapters → {ports, domain};
//! domain → std and pure crates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.display().to_string(), std::fs::read_to_string(&path).expect("source")));
        }
    }
    out
}

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its comments, so a doc line may name what the code may not use.
fn code(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

#[test]
fn use_cases_and_rules_name_neither_adapters_nor_the_wiring() {
    let mut offences = Vec::new();
    for layer in ["app", "domain"] {
        for (file, text) in sources(&src().join(layer)) {
            let code = code(&text);
            for banned in ["crate::adapters", "crate::config", "super::adapters", "super::config", "super::super::adapters", "super::super::config", "aws_sdk", "reqwest"] {
                if code.contains(banned) {
                    offences.push(format!("{file} names {banned}"));
                }
            }
        }
    }
    for (file, text) in sources(&src().join("domain")) {
        for banned in ["crate::app", "crate::ports", "async fn", "tokio::"] {
            if code(&text).contains(banned) {
                offences.push(format!("{file} (domain: pure rules) names {banned}"));
            }
        }
    }
    assert!(offences.is_empty(), "layering broken:\n{}", offences.join("\n"));
}

#[test]
fn use_case_modules_import_each_other_without_loops() {
    let app = src().join("app");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: Vec<(String, String)> = sources(&app)
        .into_iter()
        .map(|(file, text)| (Path::new(&file).file_stem().unwrap().to_string_lossy().to_string(), code(&text)))
        .filter(|(m, _)| m != "mod")
        .collect();
    let names: Vec<String> = modules.iter().map(|(m, _)| m.clone()).collect();
    for (module, code) in &modules {
        let uses = names
            .iter()
            .filter(|other| *other != module)
            .filter(|other| code.contains(&format!("crate::app::{other}")) || code.contains(&format!("super::{other}")))
            .cloned()
            .collect();
        graph.insert(module.clone(), uses);
    }
    // Depth-first search for a cycle.
    fn visit(node: &str, graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("use-case modules import each other in a loop: {}", cycle.join(" -> "));
        }
    }
    assert!(graph["bot"].contains("support") && graph["support"].contains("delivery"), "the check sees imports: {graph:?}");
}
