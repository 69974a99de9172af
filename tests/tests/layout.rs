//! The workspace's shape, as DESIGN.md draws it: crates depend downwards only (the server
//! knows nothing of kubepg-kube), modules within a crate form no cycle, and files stay
//! readable. Read from the sources themselves, so a change that breaks the shape fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path within its crate: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without its comments and tests (tests may reach anywhere).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path `text` names, with `use` groups (`a::{b, c::d}`) expanded.
fn paths(text: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            let (mut found, next) = path_at(&chars, i, Vec::new());
            out.append(&mut found);
            i = next.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The paths starting at `i` (one, or one per item of a group), and where they end.
fn path_at(chars: &[char], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut segments = prefix;
    loop {
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        if i == start {
            break;
        }
        segments.push(chars[start..i].iter().collect());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            if chars.get(i) == Some(&'{') {
                i += 1;
                let mut all = Vec::new();
                loop {
                    while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                        i += 1;
                    }
                    if chars.get(i).is_none_or(|c| *c == '}') {
                        return (all, i + 1);
                    }
                    let (mut found, next) = path_at(chars, i, segments.clone());
                    all.append(&mut found);
                    if next == i {
                        i += 1;
                    } else {
                        i = next;
                    }
                    while chars.get(i).is_some_and(|c| *c != ',' && *c != '}') {
                        i += 1;
                    }
                }
            }
            continue;
        }
        break;
    }
    (vec![segments], i)
}

/// The modules of a crate and the modules each one uses.
fn module_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let me = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let edges = graph.entry(me.clone()).or_default();
        for path in paths(&code(&text)) {
            let absolute: Vec<String> = match path.first().map(String::as_str) {
                Some("crate") => path[1..].to_vec(),
                Some("super") => {
                    let mut base = me.clone();
                    let mut rest = &path[..];
                    while rest.first().is_some_and(|s| s == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    base
                }
                Some("self") => me.iter().chain(&path[1..]).cloned().collect(),
                Some(first)
                    if modules.contains(&[me.clone(), vec![first.to_string()]].concat()) =>
                {
                    me.iter().chain(&path).cloned().collect()
                }
                _ => continue,
            };
            // The longest module the path is in.
            let target = (0..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|m| modules.contains(m));
            if let Some(target) = target
                && target != me
                // A module declaring or re-exporting its own children is its shape, not a use.
                && !target.starts_with(&me)
            {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Modules that reach themselves through the graph, each cycle once.
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        // Depth-first from `start`, remembering the way back.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, way)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle: Vec<String> = way.iter().map(|m| m.join("::")).collect();
                    let min = cycle.iter().min().cloned().unwrap_or_default();
                    let at = cycle.iter().position(|m| *m == min).unwrap_or(0);
                    cycle.rotate_left(at);
                    found.insert(cycle.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut way = way.clone();
                    way.push(next.clone());
                    stack.push((next.clone(), way));
                }
            }
        }
    }
    found.into_iter().collect()
}

/// `graph` with every module folded into its top-level module.
fn top_level(
    graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut out: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, to) in graph {
        let Some(from) = from.first() else { continue };
        let edges = out.entry(vec![from.clone()]).or_default();
        for t in to {
            if let Some(t) = t.first()
                && t != from
            {
                edges.insert(vec![t.clone()]);
            }
        }
    }
    out
}

#[test]
fn modules_of_the_engine_and_the_kubernetes_crate_form_no_cycle() {
    for krate in ["kubepg-sql", "kubepg-kube"] {
        let src = workspace().join("crates").join(krate).join("src");
        let graph = module_graph(&src);
        let files = cycles(&graph);
        assert!(files.is_empty(), "{krate}: module cycles: {files:#?}");
        let top = cycles(&top_level(&graph));
        assert!(top.is_empty(), "{krate}: top-level module cycles: {top:#?}");
    }
}

#[test]
fn the_server_depends_on_the_engine_only() {
    let manifest =
        std::fs::read_to_string(workspace().join("crates/kubepg-server/Cargo.toml")).unwrap();
    assert!(manifest.contains("kubepg-sql"));
    assert!(!manifest.contains("kubepg-kube"), "{manifest}");
    let mut files = Vec::new();
    rust_files(&workspace().join("crates/kubepg-server/src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("kubepg_kube"),
            "{} names kubepg_kube",
            file.display()
        );
    }
}

/// Past about 800 lines a file says in its module documentation why it is long.
#[test]
fn long_files_say_why_they_are_long() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    rust_files(&workspace().join("tests/tests"), &mut files);
    let mut offenders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        let doc: String = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.starts_with("#![") || l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        if lines > 850 && !doc.contains("long") {
            offenders.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "long files without a reason: {offenders:#?}"
    );
}

#[test]
fn the_checker_sees_use_groups_and_relative_paths() {
    let found = paths("use super::{hook::{Outcome, Rows}, cursor};\nlet x = crate::a::b(1);");
    assert!(found.contains(&vec!["super".into(), "hook".into(), "Outcome".into()]));
    assert!(found.contains(&vec!["super".into(), "cursor".into()]));
    assert!(found.contains(&vec!["crate".into(), "a".into(), "b".into()]));
    let graph = BTreeMap::from([
        (
            vec!["a".to_string()],
            BTreeSet::from([vec!["b".to_string()]]),
        ),
        (
            vec!["b".to_string()],
            BTreeSet::from([vec!["a".to_string()]]),
        ),
    ]);
    assert_eq!(cycles(&graph), ["a -> b"]);
}
