//! docs/reference.md must show the real `--help` of every command.
//!
//! Each command of the clap tree (`kubectl mtls` and every subcommand) has a section in
//! docs/reference.md: a `## kubectl mtls ...` heading, a short hand-written intro, then a
//! marker line `<!-- kubectl mtls ... --help -->` followed by a fenced block with the exact
//! output of the built binary's `--help`, rendered at 100 columns (`COLUMNS=100`, no terminal,
//! so clap wraps at exactly that width). Trailing spaces are not significant (clap prints a few
//! on blank lines; editors strip them).
//!
//! When the help changes, regenerate the blocks in place (the hand-written text stays):
//!
//! ```text
//! UPDATE_DOCS=1 cargo test --test docs_reference
//! ```
//!
//! A new subcommand gets a new section (its `about` as intro, to be edited) at the end.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The plugin binary cargo built for this test.
const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-mtls");
/// The help width of the reference.
const COLUMNS: &str = "100";
const REGENERATE: &str = "UPDATE_DOCS=1 cargo test --test docs_reference";

fn reference_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join("reference.md")
}

/// Every command path: `[]` for the plugin itself, `["status"]`, ...
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        out.push(prefix.to_vec());
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&kubectl_mtls::cli::command("kubectl mtls"), &[], &mut out);
    out
}

fn display(path: &[String]) -> String {
    std::iter::once("kubectl mtls")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

fn marker(path: &[String]) -> String {
    format!("<!-- {} --help -->", display(path))
}

/// Trailing whitespace and trailing blank lines removed.
fn normalize(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let end = lines.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
    lines[..end].join("\n")
}

/// The binary's long help for a command path, at the reference width.
fn help(path: &[String]) -> String {
    let out = Command::new(PLUGIN)
        .args(path)
        .arg("--help")
        .env_clear()
        .env("COLUMNS", COLUMNS)
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl-mtls --help");
    let stdout = String::from_utf8(out.stdout).expect("help is UTF-8");
    assert!(
        out.status.success(),
        "{} --help failed: {}",
        display(path),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "help without a terminal has no colour codes"
    );
    normalize(&stdout)
}

/// A help block found in the document: the lines between its fences.
struct Block {
    marker: String,
    /// Index of the opening fence line.
    open: usize,
    /// Index of the closing fence line.
    close: usize,
}

fn is_marker(line: &str) -> bool {
    let l = line.trim();
    l.starts_with("<!-- kubectl mtls") && l.ends_with("--help -->")
}

fn find_blocks(lines: &[&str]) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !is_marker(lines[i]) {
            i += 1;
            continue;
        }
        let marker = lines[i].trim().to_string();
        let open = i + 1;
        if !lines.get(open).is_some_and(|l| l.trim_start().starts_with("```")) {
            return Err(format!(
                "line {}: {marker} must be followed by a fenced block (```text)",
                i + 1
            ));
        }
        let close = (open + 1..lines.len())
            .find(|&j| lines[j].trim() == "```")
            .ok_or_else(|| format!("line {}: the block after {marker} is not closed", open + 1))?;
        blocks.push(Block { marker, open, close });
        i = close + 1;
    }
    Ok(blocks)
}

/// Checks that the section of `marker` has a heading and an intro line before the marker.
fn check_intro(lines: &[&str], block: &Block, path: &[String]) -> Result<(), String> {
    let heading = format!("## {}", display(path));
    let start = lines[..block.open - 1]
        .iter()
        .rposition(|l| l.starts_with("## "))
        .ok_or_else(|| format!("{}: no `{heading}` heading before it", block.marker))?;
    if lines[start].trim() != heading {
        return Err(format!(
            "{}: its section heading is `{}`, expected `{heading}`",
            block.marker, lines[start]
        ));
    }
    let intro = lines[start + 1..block.open - 1]
        .iter()
        .any(|l| !l.trim().is_empty());
    if !intro {
        return Err(format!(
            "{}: write a short intro line under `{heading}`",
            block.marker
        ));
    }
    Ok(())
}

fn unified_diff(expected: &str, actual: &str, name: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(2)
        .header(
            &format!("docs/reference.md ({name})"),
            &format!("{name} (the binary)"),
        )
        .to_string()
}

#[test]
fn reference_shows_the_real_help_of_every_command() {
    let path = reference_path();
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; create it with {REGENERATE}", path.display()));
    let update = std::env::var_os("UPDATE_DOCS").is_some_and(|v| !v.is_empty() && v != "0");
    let lines: Vec<&str> = doc.lines().collect();
    let blocks = find_blocks(&lines).unwrap_or_else(|e| panic!("docs/reference.md: {e}"));

    let paths = command_paths();
    let mut problems: Vec<String> = Vec::new();
    // (opening fence index, closing fence index, new content) for UPDATE_DOCS
    let mut replacements: Vec<(usize, usize, String)> = Vec::new();
    let mut missing: Vec<&Vec<String>> = Vec::new();

    for block in &blocks {
        if !paths.iter().any(|p| marker(p) == block.marker) {
            problems.push(format!(
                "{} documents a command that does not exist: remove its section",
                block.marker
            ));
        }
    }
    for p in &paths {
        let m = marker(p);
        let found: Vec<&Block> = blocks.iter().filter(|b| b.marker == m).collect();
        let block = match found.as_slice() {
            [] => {
                missing.push(p);
                problems.push(format!("`{}` has no section (marker {m})", display(p)));
                continue;
            }
            [one] => *one,
            _ => {
                problems.push(format!("{m} appears {} times", found.len()));
                continue;
            }
        };
        if let Err(e) = check_intro(&lines, block, p) {
            problems.push(e);
        }
        let actual = help(p);
        let documented = normalize(&lines[block.open + 1..block.close].join("\n"));
        if documented != actual {
            problems.push(format!(
                "`{} --help` differs from docs/reference.md:\n{}",
                display(p),
                unified_diff(&documented, &actual, &format!("{} --help", display(p)))
            ));
            replacements.push((block.open, block.close, actual));
        }
    }

    if update && (!replacements.is_empty() || !missing.is_empty()) {
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        for (open, close, content) in &replacements {
            out.extend(lines[i..=*open].iter().map(|l| l.to_string()));
            out.extend(content.lines().map(str::to_string));
            i = *close;
        }
        out.extend(lines[i..].iter().map(|l| l.to_string()));
        let root = kubectl_mtls::cli::command("kubectl mtls");
        for p in missing {
            let mut cmd = &root;
            for name in p {
                cmd = cmd.find_subcommand(name).expect("a path of the tree");
            }
            let intro = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push(String::new());
            out.push(format!("## {}", display(p)));
            out.push(String::new());
            out.push(format!("{intro}."));
            out.push(String::new());
            out.push(marker(p));
            out.push("```text".to_string());
            out.extend(help(p).lines().map(str::to_string));
            out.push("```".to_string());
        }
        std::fs::write(&path, out.join("\n") + "\n").expect("write docs/reference.md");
        eprintln!("UPDATE_DOCS: rewrote {}", path.display());
        // Headings, intros and stale sections are still checked on the next run.
        return;
    }

    assert!(
        problems.is_empty(),
        "docs/reference.md is out of date with the CLI:\n\n{}\n\nRegenerate the help blocks with:\n  {REGENERATE}\n",
        problems.join("\n\n")
    );
}

#[test]
fn help_width_is_fixed_by_columns() {
    // The reference relies on COLUMNS deciding the width when there is no terminal.
    let narrow = Command::new(PLUGIN)
        .args(["status", "--help"])
        .env_clear()
        .env("COLUMNS", "60")
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl-mtls");
    let narrow = String::from_utf8(narrow.stdout).unwrap();
    assert!(
        narrow.lines().all(|l| l.trim_end().chars().count() <= 60),
        "{narrow}"
    );
    let wide = help(&["status".to_string()]);
    assert!(wide.lines().all(|l| l.chars().count() <= 100));
    assert!(
        wide.lines().any(|l| l.chars().count() > 60),
        "at 100 columns some line is longer than 60"
    );
}
