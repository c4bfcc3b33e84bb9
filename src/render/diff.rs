//! Diffs: unified YAML diffs of objects (coloured on a terminal) and the semantic effect of
//! a policy change (workloads and ports whose mode changes, findings created and resolved).

use similar::{ChangeTag, TextDiff};

use serde_json::Value;

use crate::change::{self, PortException};
use crate::engine::{Effects, ModeChange, Resolved};
use crate::error::Error;
use crate::model::Mode;
use crate::render::table::{Cell, Table};
use crate::style::{Role, paint};

/// A unified diff of two texts with `---`/`+++` headers, three lines of context, each line
/// coloured (added green, removed red) when colour is on. Empty when the texts are equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    out.push_str(&paint(&format!("--- {old_label}"), Role::Removed));
    out.push('\n');
    out.push_str(&paint(&format!("+++ {new_label}"), Role::Added));
    out.push('\n');
    for group in diff.grouped_ops(3) {
        let (first, last) = (&group[0], &group[group.len() - 1]);
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let header = format!(
            "@@ -{} +{} @@",
            hunk_range(old_range.start, old_range.len()),
            hunk_range(new_range.start, new_range.len())
        );
        out.push_str(&paint(&header, Role::Dim));
        out.push('\n');
        for op in &group {
            for change in diff.iter_changes(op) {
                let (sign, role) = match change.tag() {
                    ChangeTag::Delete => ("-", Some(Role::Removed)),
                    ChangeTag::Insert => ("+", Some(Role::Added)),
                    ChangeTag::Equal => (" ", None),
                };
                let text = change.value();
                let text = text.strip_suffix('\n').unwrap_or(text);
                let line = format!("{sign}{text}");
                match role {
                    Some(r) => out.push_str(&paint(&line, r)),
                    None => out.push_str(&line),
                }
                out.push('\n');
                if change.missing_newline() {
                    out.push_str("\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// `start,len` of a hunk header, GNU diff style (1-based; `start-1,0` for an empty side).
fn hunk_range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

fn modes_text(v: &[Resolved]) -> String {
    let mut modes: Vec<Mode> = v.iter().map(|r| r.mode).collect();
    modes.sort();
    modes.dedup();
    modes
        .iter()
        .rev()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn role_of(text: &str) -> Role {
    match text {
        "STRICT" => Role::Good,
        "DISABLE" => Role::Bad,
        _ => Role::Warn,
    }
}

fn workload_text(c: &ModeChange) -> String {
    let base = if c.workload.kind == "Deployment" {
        format!("{}/{}", c.workload.namespace, c.workload.name)
    } else {
        format!(
            "{}/{}/{}",
            c.workload.namespace,
            c.workload.kind.to_ascii_lowercase(),
            c.workload.name
        )
    };
    match c.port {
        Some(p) => format!("{base}:{p}"),
        None => base,
    }
}

/// More rows than this in the table of workloads that change, and it is summarised per
/// namespace (or, with more namespaces than this, per change) unless every row is asked for.
pub const EFFECT_ROWS: usize = 30;
/// Namespace-level changes listed before "... and N more".
pub const NAMESPACE_ROWS: usize = 5;
/// Findings created or resolved listed before "... and N more".
pub const FINDING_ROWS: usize = 20;
/// What a summarised section tells the user to get every line.
pub const SHOW_ALL_HINT: &str = "--show-all lists every one";

fn indent(out: &mut String, table: &str) {
    for line in table.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

fn pods_text(pods: usize, meshed: usize) -> String {
    if meshed == pods {
        format!("{pods} in mesh")
    } else if meshed == 0 {
        format!("{pods} outside the mesh: not enforced")
    } else {
        format!("{pods} ({} outside the mesh)", pods - meshed)
    }
}

/// Workloads, pods and meshed pods of some changes, each workload counted once.
#[derive(Default)]
struct Tally {
    namespaces: std::collections::BTreeSet<String>,
    workloads: std::collections::BTreeMap<(String, String, String), (usize, usize)>,
    ports: usize,
}

impl Tally {
    fn add(&mut self, c: &ModeChange) {
        self.namespaces.insert(c.workload.namespace.clone());
        let key = (
            c.workload.namespace.clone(),
            c.workload.kind.clone(),
            c.workload.name.clone(),
        );
        let e = self.workloads.entry(key).or_insert((0, 0));
        e.0 = e.0.max(c.pods);
        e.1 = e.1.max(c.meshed_pods);
        if c.port.is_some() {
            self.ports += 1;
        }
    }

    fn pods(&self) -> (usize, usize) {
        self.workloads
            .values()
            .fold((0, 0), |(p, m), (wp, wm)| (p + wp, m + wm))
    }

    fn workloads_text(&self) -> String {
        let mut s = super::count(self.workloads.len(), "workload");
        if self.ports > 0 {
            s.push_str(&format!(" ({} own)", super::count(self.ports, "port")));
        }
        s
    }
}

/// The summary of a table too long to print: per namespace and change, or per change alone
/// when there are too many namespaces, with exact totals.
fn summarised_changes(e: &Effects, ports: &[PortException], suffix: &str) -> String {
    use std::collections::BTreeMap;
    let mut total = Tally::default();
    let mut by_ns: BTreeMap<(String, String, String), Tally> = BTreeMap::new();
    let mut by_change: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for c in &e.changes {
        let (from, to) = (modes_text(&c.from), modes_text(&c.to));
        total.add(c);
        by_ns
            .entry((c.workload.namespace.clone(), from.clone(), to.clone()))
            .or_default()
            .add(c);
        by_change.entry((from, to)).or_default().add(c);
    }
    let (pods, meshed) = total.pods();
    let mut out = paint(
        &format!(
            "Workloads whose effective mTLS mode changes{suffix}: {} ({}{}) in {}, summarised ({SHOW_ALL_HINT}):",
            total.workloads_text(),
            super::count(pods, "pod"),
            if meshed == pods {
                String::new()
            } else {
                format!(", {} outside the mesh", pods - meshed)
            },
            super::count(total.namespaces.len(), "namespace"),
        ),
        Role::Header,
    );
    out.push('\n');
    if by_ns.len() <= EFFECT_ROWS {
        let mut t = Table::new(&["namespace", "from", "", "to", "workloads", "pods"]);
        for ((ns, from, to), tally) in &by_ns {
            let (p, m) = tally.pods();
            t.row(vec![
                ns.clone().into(),
                Cell::styled(from.clone(), role_of(from)),
                "->".into(),
                Cell::styled(to.clone(), role_of(to)),
                tally.workloads_text().into(),
                pods_text(p, m).into(),
            ]);
        }
        indent(&mut out, &t.render());
    } else {
        let mut t = Table::new(&["from", "", "to", "namespaces", "workloads", "pods"]);
        for ((from, to), tally) in &by_change {
            let (p, m) = tally.pods();
            t.row(vec![
                Cell::styled(from.clone(), role_of(from)),
                "->".into(),
                Cell::styled(to.clone(), role_of(to)),
                tally.namespaces.len().to_string().into(),
                tally.workloads_text().into(),
                pods_text(p, m).into(),
            ]);
        }
        indent(&mut out, &t.render());
    }
    if !ports.is_empty() {
        out.push_str(&format!(
            "  {} {} {} own setting\n",
            super::count(ports.len(), "port"),
            if ports.len() == 1 { "keeps" } else { "keep" },
            if ports.len() == 1 { "its" } else { "their" },
        ));
    }
    out
}

/// The effect of a change: a table of workloads (and ports) whose effective mode changes,
/// then namespace-level changes and findings created and resolved. `suffix` is appended to the
/// section titles (`" (dry run)"`). Unless `show_all`, long sections are summarised (see
/// [`EFFECT_ROWS`]), so a mesh-wide change over a huge cluster stays a screenful.
pub fn effects(e: &Effects, ports: &[PortException], suffix: &str, show_all: bool) -> String {
    let mut out = String::new();
    if e.changes.is_empty() {
        out.push_str(&format!("No workload changes its effective mTLS mode{suffix}.\n"));
    } else if !show_all && e.changes.len() > EFFECT_ROWS + 1 {
        out.push_str(&summarised_changes(e, ports, suffix));
    } else {
        out.push_str(&paint(
            &format!("Workloads whose effective mTLS mode changes{suffix}:"),
            Role::Header,
        ));
        out.push('\n');
        let mut t = Table::new(&["workload", "from", "", "to", "pods"]);
        for c in &e.changes {
            let (from, to) = (modes_text(&c.from), modes_text(&c.to));
            let fr = role_of(&from);
            let tr = role_of(&to);
            t.row(vec![
                workload_text(c).into(),
                Cell::styled(from, fr),
                "->".into(),
                Cell::styled(to, tr),
                pods_text(c.pods, c.meshed_pods).into(),
            ]);
            if c.port.is_none() {
                for p in ports.iter().filter(|p| p.workload == c.workload) {
                    let modes = p
                        .modes
                        .iter()
                        .rev()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(",");
                    let role = role_of(&modes);
                    t.row(vec![
                        format!("{}:{}", workload_text(c), p.port).into(),
                        "".into(),
                        "".into(),
                        Cell::styled(modes, role),
                        "port keeps its own setting".into(),
                    ]);
                }
            }
        }
        indent(&mut out, &t.render());
    }
    if !e.namespaces.is_empty() {
        out.push_str(&format!(
            "Namespace-level mode (what clients' automatic mTLS sees){suffix}:\n"
        ));
        let shown = if show_all {
            e.namespaces.len()
        } else {
            super::shown_of(e.namespaces.len(), NAMESPACE_ROWS)
        };
        let mut t = Table::new(&["namespace", "from", "", "to", "decided by"]);
        for n in e.namespaces.iter().take(shown) {
            let (from, to) = (n.from.mode.as_str(), n.to.mode.as_str());
            let source = if n.from.mode == n.to.mode {
                format!("now {} (was {})", n.to.source, n.from.source)
            } else {
                n.to.source.to_string()
            };
            t.row(vec![
                n.namespace.clone().into(),
                Cell::styled(from, role_of(from)),
                "->".into(),
                Cell::styled(to, role_of(to)),
                source.into(),
            ]);
        }
        indent(&mut out, &t.render());
        if shown < e.namespaces.len() {
            let rest = e.namespaces.len() - shown;
            out.push_str(&format!(
                "  ... and {} more ({SHOW_ALL_HINT})\n",
                super::count(rest, "namespace")
            ));
        }
    }
    let finding_lines = |out: &mut String, title: &str, findings: &[crate::engine::Finding], colour: bool| {
        out.push_str(&format!("{title}{suffix}:\n"));
        let shown = if show_all {
            findings.len()
        } else {
            super::shown_of(findings.len(), FINDING_ROWS)
        };
        for f in findings.iter().take(shown) {
            let role = match f.severity {
                crate::engine::Severity::Error => Role::Bad,
                crate::engine::Severity::Warning => Role::Warn,
                crate::engine::Severity::Info => Role::Dim,
            };
            if colour {
                out.push_str(&format!("  {}\n", paint(&f.to_string(), role)));
            } else {
                out.push_str(&format!("  {f}\n"));
            }
        }
        if shown < findings.len() {
            out.push_str(&format!(
                "  ... and {} more ({SHOW_ALL_HINT})\n",
                super::count(findings.len() - shown, "finding")
            ));
        }
    };
    if !e.findings_created.is_empty() {
        finding_lines(&mut out, "Findings this change creates", &e.findings_created, true);
    }
    if !e.findings_resolved.is_empty() {
        finding_lines(&mut out, "Findings this change resolves", &e.findings_resolved, false);
    }
    out
}

/// Review messages (warnings) listed before "... and N more".
pub const MESSAGE_ROWS: usize = 10;

/// The review's warnings as `warning:` lines, at most [`MESSAGE_ROWS`] unless `show_all`.
pub fn warnings(items: &[String], show_all: bool) -> String {
    let shown = if show_all {
        items.len()
    } else {
        super::shown_of(items.len(), MESSAGE_ROWS)
    };
    let mut out = String::new();
    for w in items.iter().take(shown) {
        out.push_str(&format!("warning: {w}\n"));
    }
    if shown < items.len() {
        out.push_str(&format!(
            "warning: ... and {} more ({SHOW_ALL_HINT})\n",
            super::count(items.len() - shown, "warning")
        ));
    }
    out
}

/// A refused change: exactly one `error:` line (naming the first reason), the other reasons
/// and what to do on the lines below it.
pub fn refusal(object: &str, reasons: &[String], show_all: bool) -> String {
    let Some((first, rest)) = reasons.split_first() else {
        return String::new();
    };
    let mut out = format!("error: refusing to change {object}: {first}\n");
    let shown = if show_all {
        rest.len()
    } else {
        super::shown_of(rest.len(), MESSAGE_ROWS)
    };
    for r in rest.iter().take(shown) {
        out.push_str(&format!("  also: {r}\n"));
    }
    if shown < rest.len() {
        out.push_str(&format!(
            "  ... and {} more ({SHOW_ALL_HINT})\n",
            super::count(rest.len() - shown, "reason")
        ));
    }
    out.push_str(
        "  nothing was written: the review shows this change would break traffic or not take effect (--force writes anyway)\n",
    );
    out
}

/// The YAML diff of one object (live vs. the result), headed like kubectl's directories.
pub fn object_diff(live: Option<&Value>, result: &Value, file: &str) -> Result<String, Error> {
    let old = match live {
        Some(l) => super::to_yaml(&change::clean(l))?,
        None => String::new(),
    };
    let new = super::to_yaml(&change::clean(result))?;
    Ok(unified(
        &old,
        &new,
        &format!("live/{file}"),
        &format!("merged/{file}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Finding, FindingCode, ObjectRef, Provenance, WorkloadRef};

    #[test]
    fn unified_diff_of_a_new_object() {
        crate::style::set(false);
        let d = unified("", "a: 1\nb: 2\n", "live/x", "merged/x");
        assert_eq!(d, "--- live/x\n+++ merged/x\n@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n");
        assert_eq!(unified("same\n", "same\n", "a", "b"), "");
    }

    #[test]
    fn unified_diff_keeps_context_and_changes() {
        crate::style::set(false);
        let old = "a\nb\nc\nmode: PERMISSIVE\nd\n";
        let new = "a\nb\nc\nmode: STRICT\nd\n";
        let d = unified(old, new, "l", "m");
        assert!(
            d.contains("@@ -1,5 +1,5 @@\n a\n b\n c\n-mode: PERMISSIVE\n+mode: STRICT\n d\n"),
            "{d}"
        );
    }

    #[test]
    fn effects_list_workloads_and_findings() {
        crate::style::set(false);
        let r = |m| Resolved {
            mode: m,
            source: Provenance::default_mode(),
        };
        let e = Effects {
            changes: vec![ModeChange {
                workload: WorkloadRef {
                    namespace: "istioinaction".into(),
                    kind: "Deployment".into(),
                    name: "web-api".into(),
                },
                port: None,
                pods: 1,
                meshed_pods: 1,
                from: vec![r(Mode::Permissive)],
                to: vec![r(Mode::Strict)],
            }],
            findings_created: vec![Finding::new(
                FindingCode::DestinationRuleDisablesTls,
                ObjectRef::new("DestinationRule", "istioinaction", "web"),
                "plaintext",
            )],
            ..Effects::default()
        };
        let out = effects(&e, &[], " (dry run)", false);
        assert!(
            out.contains("Workloads whose effective mTLS mode changes (dry run):"),
            "{out}"
        );
        assert!(
            out.contains("  istioinaction/web-api   PERMISSIVE   ->   STRICT   1 in mesh"),
            "{out}"
        );
        assert!(
            out.contains("error DestinationRuleDisablesTls DestinationRule istioinaction/web: plaintext")
        );
        let none = effects(&Effects::default(), &[], "", false);
        assert_eq!(none, "No workload changes its effective mTLS mode.\n");
    }
}
