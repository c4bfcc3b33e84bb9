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

/// The effect of a change: a table of workloads (and ports) whose effective mode changes,
/// then namespace-level changes and findings created and resolved. `suffix` is appended to the
/// section titles (`" (dry run)"`).
pub fn effects(e: &Effects, ports: &[PortException], suffix: &str) -> String {
    let mut out = String::new();
    if e.changes.is_empty() {
        out.push_str(&format!("No workload changes its effective mTLS mode{suffix}.\n"));
    } else {
        out.push_str(&paint(
            &format!("Workloads whose effective mTLS mode changes{suffix}:"),
            Role::Header,
        ));
        out.push('\n');
        let mut t = Table::new(&["workload", "from", "", "to", "pods"]);
        for c in &e.changes {
            let (from, to) = (modes_text(&c.from), modes_text(&c.to));
            let pods = if c.meshed_pods == c.pods {
                format!("{} in mesh", c.pods)
            } else if c.meshed_pods == 0 {
                format!("{} outside the mesh: not enforced", c.pods)
            } else {
                format!("{} ({} outside the mesh)", c.pods, c.pods - c.meshed_pods)
            };
            let fr = role_of(&from);
            let tr = role_of(&to);
            t.row(vec![
                workload_text(c).into(),
                Cell::styled(from, fr),
                "->".into(),
                Cell::styled(to, tr),
                pods.into(),
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
        for line in t.render().lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if !e.namespaces.is_empty() {
        out.push_str(&format!(
            "Namespace-level mode (what clients' automatic mTLS sees){suffix}:\n"
        ));
        const MAX: usize = 5;
        for n in e.namespaces.iter().take(MAX) {
            if n.from.mode == n.to.mode {
                out.push_str(&format!(
                    "  {}  {}, now set by {} (was {})\n",
                    n.namespace, n.to.mode, n.to.source, n.from.source
                ));
            } else {
                out.push_str(&format!(
                    "  {}  {} -> {}  ({})\n",
                    n.namespace, n.from.mode, n.to.mode, n.to.source
                ));
            }
        }
        if e.namespaces.len() > MAX {
            out.push_str(&format!(
                "  ... and {} more namespaces\n",
                e.namespaces.len() - MAX
            ));
        }
    }
    if !e.findings_created.is_empty() {
        out.push_str(&format!("Findings this change creates{suffix}:\n"));
        for f in &e.findings_created {
            let role = match f.severity {
                crate::engine::Severity::Error => Role::Bad,
                crate::engine::Severity::Warning => Role::Warn,
                crate::engine::Severity::Info => Role::Dim,
            };
            out.push_str(&format!("  {}\n", paint(&f.to_string(), role)));
        }
    }
    if !e.findings_resolved.is_empty() {
        out.push_str(&format!("Findings this change resolves{suffix}:\n"));
        for f in &e.findings_resolved {
            out.push_str(&format!("  {f}\n"));
        }
    }
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

/// The diff of an object deleted: every line removed, as `kubectl diff` shows a deletion.
pub fn removal_diff(live: &Value, file: &str) -> Result<String, Error> {
    let old = super::to_yaml(&change::clean(live))?;
    Ok(unified(
        &old,
        "",
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
        let out = effects(&e, &[], " (dry run)");
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
        let none = effects(&Effects::default(), &[], "");
        assert_eq!(none, "No workload changes its effective mTLS mode.\n");
    }
}
