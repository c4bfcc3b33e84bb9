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

    /// `950 workloads` (`950 workloads, 3 ports` when ports change on their own).
    fn workloads_text(&self) -> String {
        let mut s = super::count(self.workloads.len(), "workload");
        if self.ports > 0 {
            s.push_str(&format!(", {}", super::count(self.ports, "port")));
        }
        s
    }

    /// The WORKLOADS cell: `950` (`950 (3 ports)`).
    fn workloads_cell(&self) -> String {
        let mut s = self.workloads.len().to_string();
        if self.ports > 0 {
            s.push_str(&format!(" ({})", super::count(self.ports, "port")));
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
                tally.workloads_cell().into(),
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
                tally.workloads_cell().into(),
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
                "  ... and {rest} more {} ({SHOW_ALL_HINT})\n",
                super::noun_for(rest, "namespace")
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
            let rest = findings.len() - shown;
            out.push_str(&format!(
                "  ... and {rest} more {} ({SHOW_ALL_HINT})\n",
                super::noun_for(rest, "finding")
            ));
        }
    };
    if !e.findings_created.is_empty() {
        finding_lines(
            &mut out,
            "Findings this change creates",
            &e.findings_created,
            true,
        );
    }
    if !e.findings_resolved.is_empty() {
        finding_lines(
            &mut out,
            "Findings this change resolves",
            &e.findings_resolved,
            false,
        );
    }
    out
}

/// Review messages (warnings) listed before "... and N more".
pub const MESSAGE_ROWS: usize = 10;

/// The review's warnings as `warning:` lines, at most [`MESSAGE_ROWS`] unless `show_all`.
/// What a refused write was going to do: change (apply) or delete (`--inherit`) the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Change,
    Delete,
}

impl Action {
    /// The verb, its participle and its third person: "change", "written", "writes".
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Action::Change => ("change", "written", "writes"),
            Action::Delete => ("delete", "deleted", "deletes"),
        }
    }

    /// The words of a forced refusal: "writing despite", "deleting despite".
    pub fn despite(self) -> &'static str {
        match self {
            Action::Change => "writing despite",
            Action::Delete => "deleting despite",
        }
    }
}

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
        let rest = items.len() - shown;
        out.push_str(&format!(
            "warning: ... and {rest} more {} ({SHOW_ALL_HINT})\n",
            super::noun_for(rest, "warning")
        ));
    }
    out
}

/// A refused change: exactly one `error:` line (naming the first reason), the other reasons
/// and what to do on the lines below it.
pub fn refusal(object: &str, reasons: &[String], show_all: bool, action: Action) -> String {
    let Some((first, rest)) = reasons.split_first() else {
        return String::new();
    };
    let (verb, done, forced) = action.words();
    let mut out = format!("error: refusing to {verb} {object}: {first}\n");
    let shown = if show_all {
        rest.len()
    } else {
        super::shown_of(rest.len(), MESSAGE_ROWS)
    };
    for r in rest.iter().take(shown) {
        out.push_str(&format!("  also: {r}\n"));
    }
    if shown < rest.len() {
        let more = rest.len() - shown;
        out.push_str(&format!(
            "  ... and {more} more {} ({SHOW_ALL_HINT})\n",
            super::noun_for(more, "reason")
        ));
    }
    out.push_str(&format!(
        "  nothing was {done}: the review shows this change would break traffic or not take effect (--force {forced} anyway)\n"
    ));
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

    fn ns_policy(mode: Mode, level: crate::engine::Level, ns: &str) -> Resolved {
        Resolved {
            mode,
            source: Provenance {
                level,
                policy: Some(crate::model::ObjectKey {
                    namespace: ns.into(),
                    name: "default".into(),
                }),
            },
        }
    }

    fn change(ns: &str, name: &str, pods: usize, meshed: usize) -> ModeChange {
        ModeChange {
            workload: WorkloadRef {
                namespace: ns.into(),
                kind: "Deployment".into(),
                name: name.into(),
            },
            port: None,
            pods,
            meshed_pods: meshed,
            from: vec![Resolved::istio_default()],
            to: vec![ns_policy(
                Mode::Strict,
                crate::engine::Level::Mesh,
                "istio-system",
            )],
        }
    }

    fn namespace_change(ns: &str, from: Mode, to: Mode) -> crate::engine::NamespaceChange {
        crate::engine::NamespaceChange {
            namespace: ns.into(),
            from: Resolved {
                mode: from,
                source: Provenance::default_mode(),
            },
            to: ns_policy(to, crate::engine::Level::Namespace, ns),
        }
    }

    #[test]
    fn the_namespace_level_block_is_aligned() {
        crate::style::set(false);
        let e = Effects {
            namespaces: vec![
                namespace_change("default", Mode::Permissive, Mode::Strict),
                namespace_change("a-much-longer-namespace", Mode::Disable, Mode::Permissive),
                namespace_change("x", Mode::Permissive, Mode::Permissive),
            ],
            ..Effects::default()
        };
        let out = effects(&e, &[], "", false);
        let rows: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("Namespace-level mode"))
            .skip(1)
            .collect();
        assert_eq!(rows.len(), 4, "{out}");
        // Every column starts at the same place on every line.
        let arrow = rows[1].find("->").unwrap();
        for col in ["FROM", "->", "TO", "DECIDED BY"] {
            let at = if col == "->" {
                arrow
            } else {
                rows[0].find(col).unwrap_or_else(|| panic!("{col}: {out}"))
            };
            for r in &rows[1..] {
                assert_ne!(&r[at..at + 1], " ", "column {col} misaligned:\n{out}");
                assert_eq!(&r[at - 1..at], " ", "column {col} misaligned:\n{out}");
            }
        }
        assert!(
            rows[1].starts_with("  default                   PERMISSIVE   ->   STRICT"),
            "{out}"
        );
        assert!(
            rows[3].ends_with("PERMISSIVE   ->   PERMISSIVE   now namespace x/default (was istio default)"),
            "{out}"
        );
    }

    #[test]
    fn one_hidden_namespace_is_shown_instead() {
        crate::style::set(false);
        let names: Vec<String> = (0..7).map(|i| format!("ns-{i}")).collect();
        let with = |n: usize| Effects {
            namespaces: names[..n]
                .iter()
                .map(|ns| namespace_change(ns, Mode::Permissive, Mode::Strict))
                .collect(),
            ..Effects::default()
        };
        let six = effects(&with(6), &[], "", false);
        assert!(!six.contains("more"), "{six}");
        assert!(six.contains("  ns-5 "), "{six}");
        let seven = effects(&with(7), &[], "", false);
        assert!(
            seven.contains("  ... and 2 more namespaces (--show-all lists every one)\n"),
            "{seven}"
        );
        assert!(!seven.contains("  ns-5 "), "{seven}");
        let all = effects(&with(7), &[], "", true);
        assert!(all.contains("  ns-6 ") && !all.contains("more"), "{all}");
    }

    #[test]
    fn long_effects_are_summarised_with_exact_totals() {
        crate::style::set(false);
        // 31 rows fit (hiding one would save nothing); 32 are summarised per namespace.
        let rows = |n: usize| Effects {
            changes: (0..n)
                .map(|i| {
                    change(
                        &format!("ns-{}", i % 4),
                        &format!("w-{i:03}"),
                        4,
                        if i == 0 { 1 } else { 4 },
                    )
                })
                .collect(),
            ..Effects::default()
        };
        let full = effects(&rows(31), &[], "", false);
        assert_eq!(full.lines().count(), 33, "{full}");
        let short = effects(&rows(32), &[], " (dry run)", false);
        assert_eq!(
            short.lines().next().unwrap(),
            "Workloads whose effective mTLS mode changes (dry run): 32 workloads (128 pods, 3 outside the mesh) in 4 namespaces, summarised (--show-all lists every one):"
        );
        assert!(
            short.contains("  ns-0        PERMISSIVE   ->   STRICT   8           32 (3 outside the mesh)\n"),
            "{short}"
        );
        assert!(
            short.contains("  ns-3        PERMISSIVE   ->   STRICT   8           32 in mesh\n"),
            "{short}"
        );
        assert_eq!(short.lines().count(), 6, "{short}");
        assert_eq!(effects(&rows(32), &[], "", true).lines().count(), 34);

        // 5,000 workloads in 1,000 namespaces: one row per change, totals exact.
        let mut e = Effects {
            changes: (0..5000)
                .map(|i| change(&format!("ns-{:04}", i % 1000), &format!("w-{i}"), 4, 4))
                .collect(),
            ..Effects::default()
        };
        e.changes[7].from = vec![ns_policy(
            Mode::Disable,
            crate::engine::Level::Namespace,
            "ns-0007",
        )];
        let out = effects(&e, &[], "", false);
        assert_eq!(
            out,
            "Workloads whose effective mTLS mode changes: 5000 workloads (20000 pods) in 1000 namespaces, summarised (--show-all lists every one):\n  \
             FROM              TO       NAMESPACES   WORKLOADS   PODS\n  \
             DISABLE      ->   STRICT   1            1           4 in mesh\n  \
             PERMISSIVE   ->   STRICT   1000         4999        19996 in mesh\n"
        );
    }

    #[test]
    fn a_refusal_is_one_error_line() {
        let reasons: Vec<String> = (0..14).map(|i| format!("reason {i}")).collect();
        let one = refusal("peerauthentication/default", &reasons[..1], false, Action::Change);
        assert_eq!(
            one,
            "error: refusing to change peerauthentication/default: reason 0\n  nothing was written: the review shows this change would break traffic or not take effect (--force writes anyway)\n"
        );
        let many = refusal("peerauthentication/default", &reasons, false, Action::Change);
        assert_eq!(
            many.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{many}"
        );
        assert!(many.contains("  also: reason 10\n"), "{many}");
        assert!(
            many.contains("  ... and 3 more reasons (--show-all lists every one)\n"),
            "{many}"
        );
        let twelve = refusal("x", &reasons[..12], false, Action::Change);
        assert!(
            twelve.contains("  also: reason 11\n") && !twelve.contains("more"),
            "{twelve}"
        );
        let w = warnings(&reasons[..11], false);
        assert_eq!(w.lines().count(), 11, "{w}");
        let w = warnings(&reasons, false);
        assert!(
            w.ends_with("warning: ... and 4 more warnings (--show-all lists every one)\n"),
            "{w}"
        );
    }
}
