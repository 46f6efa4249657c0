//! The module rules of ARCHITECTURE.md ("Which module may use which"),
//! checked on the source: no import cycles between the service's modules,
//! nor between the modules of `http/`, and no module uses one the rules
//! put above it.
//!
//! A module's uses are the `crate::…` and `super::…` paths in its file
//! outside its `#[cfg(test)]` part (tests may use more), resolved to the
//! longest module they name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`http::routes::card`) → source text before its tests.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let name = parts.join("::");
            if name == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let body = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            out.insert(if name == "lib" { String::new() } else { name }, body);
        }
    }
    out
}

/// Module → the other modules it uses.
fn uses(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (name, text) in mods {
        let here: Vec<&str> = name.split("::").filter(|p| !p.is_empty()).collect();
        let mut used = BTreeSet::new();
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            let parts: Vec<&str> = word.split("::").collect();
            let (mut base, rest): (Vec<&str>, &[&str]) = match parts.first() {
                Some(&"crate") => (Vec::new(), &parts[1..]),
                Some(&"super") => {
                    let supers = parts.iter().take_while(|p| **p == "super").count();
                    // A file module's `super` is its parent; `mod.rs`'s
                    // too, as both are the module itself.
                    let keep = here.len().saturating_sub(supers);
                    (here[..keep].to_vec(), &parts[supers..])
                }
                _ => continue,
            };
            let mut found = None;
            for (i, part) in rest.iter().enumerate() {
                base.push(part);
                if mods.contains_key(&base.join("::")) {
                    found = Some(base.join("::"));
                }
                if i > 3 {
                    break;
                }
            }
            if let Some(m) = found
                && m != *name
                && !name.starts_with(&format!("{m}::"))
            {
                used.insert(m);
            }
        }
        graph.insert(name.clone(), used);
    }
    graph
}

/// The graph between the children of `parent` ("" for the crate), each
/// module counted as the child it is in.
fn level(
    graph: &BTreeMap<String, BTreeSet<String>>,
    parent: &str,
) -> BTreeMap<String, BTreeSet<String>> {
    let prefix = if parent.is_empty() {
        String::new()
    } else {
        format!("{parent}::")
    };
    let child = |m: &str| -> Option<String> {
        let rest = m.strip_prefix(&prefix)?;
        let c = rest.split("::").next()?;
        (!c.is_empty()).then(|| c.to_owned())
    };
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in graph {
        let Some(a) = child(from) else { continue };
        for to in tos {
            if let Some(b) = child(to)
                && a != b
            {
                out.entry(a.clone()).or_default().insert(b);
            }
        }
    }
    out
}

fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_owned());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_cycles_and_no_upward_uses() {
    let mods = modules();
    let graph = uses(&mods);
    assert!(graph.len() > 30, "found {} modules", graph.len());
    for parent in [
        "",
        "http",
        "http::routes",
        "cache",
        "pool",
        "telemetry",
        "cli",
    ] {
        let g = level(&graph, parent);
        assert_eq!(
            cycle(&g),
            None,
            "an import cycle among {parent:?}'s modules"
        );
    }
    // ARCHITECTURE.md's crate-level rules: what each module may use.
    let allowed: &[(&str, &[&str])] = &[
        ("clock", &[]),
        ("config", &[]),
        ("signing", &[]),
        ("sys", &[]),
        ("zerocopy", &[]),
        ("telemetry", &["config"]),
        ("cache", &["telemetry", "zerocopy"]),
        ("pool", &["cache", "telemetry", "zerocopy", "sys"]),
        ("cli", &["clock", "config", "signing"]),
        (
            "http",
            &[
                "cache",
                "clock",
                "config",
                "pool",
                "signing",
                "sys",
                "telemetry",
                "zerocopy",
            ],
        ),
    ];
    let top = level(&graph, "");
    for (module, may) in allowed {
        for used in top.get(*module).into_iter().flatten() {
            assert!(
                may.contains(&used.as_str()),
                "{module} uses {used}, which ARCHITECTURE.md does not allow"
            );
        }
    }
    // Nothing but the server dispatches to routes, and only settings and
    // the server read clap's arguments.
    let http = level(&graph, "http");
    for (from, tos) in &http {
        if tos.contains("routes") {
            assert_eq!(from, "server", "{from} uses routes");
        }
    }
    for (name, text) in &mods {
        if name.starts_with("http") && text.contains("ServeArgs") {
            assert!(
                ["http::settings", "http::server"].contains(&name.as_str()),
                "{name} reads clap's ServeArgs; handlers see Settings"
            );
        }
    }
}
