//! The architecture, written down once: which top-level module of `src/` may import which.
//!
//! Reads every file under `src/`, finds the modules it names (`use crate::x`, `crate::x::`,
//! `crate::{x, y}`, `super::` chains that climb to the crate root, `kubectl_mtls::x` in the
//! binaries), and fails on any edge [`ALLOWED`] does not list, on a top-level module the table
//! does not know, and on an import cycle. Comments are ignored (doc links are not imports).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The allowed edges, from the edge of the program inwards. Each layer imports only layers
/// below it:
///
///   entry (lib.rs `run`, main.rs, src/bin) > cli > cmd > render | domain | io > pure
///
/// - entry: parses with `cli`, dispatches to `cmd`, turns errors into exit codes. Only the entry
///   imports `cmd`.
/// - cli: the clap definitions only. Imported by the entry, `cmd` and the completion helper.
/// - cmd: one thin orchestration per subcommand; converts clap args into domain requests and
///   connection options; the only user of `render`.
/// - render: tables, JSON/YAML, diffs. It formats the domain's and the engine's results (and
///   `collect`'s read gaps), so it sits just below `cmd` and may import domain types.
/// - domain: `change`, `probe`, `telemetry`, `graph` (`graph` may use `telemetry`). Takes domain
///   requests, never clap structs; does its I/O through the io layer.
/// - io: `client` (kube client, connection options), `retry` (backoff around the client),
///   `collect` (reading a snapshot), `exec` (pods/exec).
/// - complete: the completion helper behind `kubectl_complete-mtls`. It completes from the clap
///   tree (so it imports `cli`, the one exception the issue names) and lists namespaces through
///   `client`; `cmd::completion` uses it, so it sits in the io layer with an edge up to `cli`,
///   which imports nothing but `style` (no cycle).
/// - pure (no I/O): `engine`, `model`, `resources`, `certs`.
/// - `error` and `style` are leaves every layer may use: `error` is the one error type and its
///   exit-code reporting (it imports nothing of the crate); `style` is the colour choice (a clap
///   value for `--color`) and painting, with no I/O beyond asking whether stdout is a terminal.
const ALLOWED: &[(&str, &[&str])] = &[
    // entry
    ("entry", &["cli", "cmd", "complete", "error", "style"]),
    // cli
    ("cli", &["error", "style"]),
    // cmd
    (
        "cmd",
        &[
            "cli",
            "render",
            "change",
            "probe",
            "telemetry",
            "graph",
            "client",
            "retry",
            "collect",
            "exec",
            "complete",
            "engine",
            "model",
            "resources",
            "certs",
            "error",
            "style",
        ],
    ),
    // render
    (
        "render",
        &[
            "change",
            "probe",
            "telemetry",
            "graph",
            "collect",
            "engine",
            "model",
            "resources",
            "certs",
            "error",
            "style",
        ],
    ),
    // domain
    (
        "change",
        &[
            "client",
            "retry",
            "collect",
            "exec",
            "engine",
            "model",
            "resources",
            "error",
        ],
    ),
    (
        "probe",
        &[
            "client",
            "retry",
            "collect",
            "exec",
            "engine",
            "model",
            "resources",
            "certs",
            "error",
        ],
    ),
    (
        "telemetry",
        &[
            "client",
            "retry",
            "collect",
            "exec",
            "engine",
            "model",
            "resources",
            "error",
        ],
    ),
    (
        "graph",
        &[
            "telemetry",
            "client",
            "retry",
            "collect",
            "exec",
            "engine",
            "model",
            "resources",
            "error",
        ],
    ),
    // io
    ("complete", &["cli", "client", "error", "style"]),
    (
        "collect",
        &["client", "retry", "engine", "model", "resources", "error"],
    ),
    ("exec", &["client", "retry", "error"]),
    ("client", &["retry", "error"]),
    ("retry", &["error"]),
    // pure
    ("engine", &["model", "resources", "error"]),
    ("model", &["resources", "error"]),
    ("certs", &["error"]),
    ("resources", &["error"]),
    // leaves
    ("error", &[]),
    ("style", &[]),
];

/// A file's top-level module: `src/x.rs` and `src/x/...` are `x`; lib.rs, main.rs and
/// src/bin are the entry.
fn module_of(rel: &Path) -> String {
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    match parts.as_slice() {
        [f] if f == "lib.rs" || f == "main.rs" => "entry".into(),
        [dir, ..] if dir == "bin" => "entry".into(),
        [f] => f.trim_end_matches(".rs").to_string(),
        [dir, ..] => dir.clone(),
        [] => unreachable!(),
    }
}

/// How deep a file's own module is below the crate root (src/x.rs: 1, src/x/y.rs: 2).
fn file_depth(rel: &Path) -> usize {
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.len() == 1 && (parts[0] == "lib.rs" || parts[0] == "main.rs") {
        return 0;
    }
    let last = parts.last().unwrap();
    if last == "mod.rs" {
        parts.len() - 1
    } else {
        parts.len()
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The line without its comment and with string and char literals blanked (so braces and
/// paths inside them are not read as code).
fn code_of(line: &str, in_block_comment: &mut bool) -> String {
    let mut out = String::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if *in_block_comment {
            if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                *in_block_comment = false;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match chars[i] {
            '/' if chars.get(i + 1) == Some(&'/') => break,
            '/' if chars.get(i + 1) == Some(&'*') => {
                *in_block_comment = true;
                i += 2;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            '\'' if chars.get(i + 2) == Some(&'\'') => {
                i += 3;
                out.push_str("' '");
            }
            '\'' if chars.get(i + 1) == Some(&'\\') && chars.get(i + 3) == Some(&'\'') => {
                i += 4;
                out.push_str("' '");
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The first identifier of each item of a `{a, b::c, d as e}` group starting after `{`.
fn group_idents(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut at_item = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item = true,
            c if at_item && (c.is_ascii_alphabetic() || c == '_') => {
                out.push(ident_at(&s[i..]));
                at_item = false;
            }
            _ => {}
        }
    }
    out
}

/// The modules named after each `prefix` in `code` (`prefix` ends in `::`).
fn named_after(code: &str, prefix: &str, out: &mut Vec<String>) {
    let mut rest = code;
    while let Some(pos) = rest.find(prefix) {
        let boundary_ok = rest[..pos]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let after = &rest[pos + prefix.len()..];
        if boundary_ok {
            if let Some(group) = after.strip_prefix('{') {
                out.extend(group_idents(group));
            } else {
                out.push(ident_at(after));
            }
        }
        rest = after;
    }
}

/// Every (line, module) a file names.
fn references(rel: &Path, text: &str) -> Vec<(usize, String)> {
    let depth = file_depth(rel);
    let mut out = Vec::new();
    let mut in_block = false;
    let mut brace = 0i32;
    // Brace depths at which inline `mod NAME {` blocks were opened.
    let mut inline_mods: Vec<i32> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = code_of(line, &mut in_block);
        let mut found = Vec::new();
        named_after(&code, "crate::", &mut found);
        named_after(&code, "kubectl_mtls::", &mut found);
        // `super::` chains that climb to the crate root.
        let level = depth + inline_mods.len();
        let mut rest = code.as_str();
        while let Some(pos) = rest.find("super::") {
            let boundary_ok = rest[..pos]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
            let mut after = &rest[pos..];
            let mut k = 0;
            while let Some(a) = after.strip_prefix("super::") {
                after = a;
                k += 1;
            }
            if boundary_ok && k >= level && level > 0 {
                if let Some(group) = after.strip_prefix('{') {
                    found.extend(group_idents(group));
                } else {
                    found.push(ident_at(after));
                }
            }
            rest = after;
        }
        let trimmed = code.trim_start();
        let opens_mod = (trimmed.starts_with("mod ") || trimmed.starts_with("pub mod "))
            && trimmed.trim_end().ends_with('{');
        if opens_mod {
            inline_mods.push(brace);
        }
        for c in code.chars() {
            match c {
                '{' => brace += 1,
                '}' => {
                    brace -= 1;
                    if inline_mods.last() == Some(&brace) {
                        inline_mods.pop();
                    }
                }
                _ => {}
            }
        }
        out.extend(found.into_iter().filter(|m| !m.is_empty()).map(|m| (n + 1, m)));
    }
    out
}

struct Edge {
    from: String,
    to: String,
    at: String,
}

fn edges() -> (Vec<Edge>, BTreeSet<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut modules = BTreeSet::new();
    for f in &files {
        modules.insert(module_of(f.strip_prefix(&src).unwrap()));
    }
    let mut edges = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let from = module_of(rel);
        let text = std::fs::read_to_string(f).expect("read source");
        for (line, to) in references(rel, &text) {
            // Only top-level modules are edges; items of the crate root (`crate::run`) are not.
            if to != from && modules.contains(&to) {
                edges.push(Edge {
                    from: from.clone(),
                    to,
                    at: format!("src/{}:{line}", rel.display()),
                });
            }
        }
    }
    (edges, modules)
}

fn table() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect()
}

#[test]
fn every_module_is_in_the_table() {
    let (_, modules) = edges();
    let table = table();
    let unknown: Vec<&String> = modules
        .iter()
        .filter(|m| !table.contains_key(m.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "src/ has top-level modules the architecture table does not know: {unknown:?}; add each to \
         ALLOWED in tests/architecture.rs in its layer (and the layers that may import it)"
    );
    for (m, deps) in &table {
        for d in deps {
            assert!(
                table.contains_key(d),
                "ALLOWED: {m} lists {d}, which has no row of its own"
            );
        }
    }
}

#[test]
fn modules_import_only_what_the_table_allows() {
    let (edges, _) = edges();
    assert!(
        edges.iter().any(|e| e.from == "cmd" && e.to == "change"),
        "the scan found no cmd -> change import: the parser is broken"
    );
    let table = table();
    let bad: Vec<String> = edges
        .iter()
        .filter(|e| {
            table
                .get(e.from.as_str())
                .is_some_and(|allowed| !allowed.contains(e.to.as_str()))
        })
        .map(|e| format!("{}: {} imports {}", e.at, e.from, e.to))
        .collect();
    assert!(
        bad.is_empty(),
        "imports against the layering (tests/architecture.rs, ALLOWED):\n  {}",
        bad.join("\n  ")
    );
}

/// Depth-first search for a cycle in a graph given as adjacency sets.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn there_is_no_import_cycle() {
    let (edges, _) = edges();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &edges {
        graph.entry(e.from.clone()).or_default().insert(e.to.clone());
    }
    if let Some(c) = find_cycle(&graph) {
        panic!("import cycle among src/ modules: {}", c.join(" -> "));
    }
    // The table itself is layered: even its allowed edges form no cycle.
    let allowed: BTreeMap<String, BTreeSet<String>> = ALLOWED
        .iter()
        .map(|(m, d)| (m.to_string(), d.iter().map(|s| s.to_string()).collect()))
        .collect();
    if let Some(c) = find_cycle(&allowed) {
        panic!("ALLOWED has a cycle: {}", c.join(" -> "));
    }
}

#[test]
fn the_scanner_reads_paths_groups_and_super() {
    let text = "use crate::{cli::X, model};\n// crate::cmd in a comment\nlet s = \"crate::render\";\n\
                mod tests {\n    use super::super::client::Y;\n    use super::Z;\n}\nfn f() { crate::engine::g(); }\n";
    let refs: Vec<String> = references(Path::new("change/object.rs"), text)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(refs, vec!["cli", "model", "engine"]);
    let refs: Vec<String> = references(
        Path::new("exec.rs"),
        "use super::client;\nmod tests {\n use super::x;\n}\n",
    )
    .into_iter()
    .map(|(_, m)| m)
    .collect();
    assert_eq!(refs, vec!["client"]);
}
