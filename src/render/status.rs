//! The `status` report: its stable JSON/YAML schema (see docs/status.md) and its tables.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::collect::Gap;
use crate::engine::WorkloadTraffic;
use crate::engine::{
    Analysis, Finding, Level, NamespaceView, Resolved, Severity, StrictReady, Violation, WorkloadView,
};
use crate::model::{Mode, Traffic};
use crate::render::table::{Cell, Table};
use crate::render::telemetry::{
    TelemetryReport, WorkloadTrafficReport, plaintext_cell, telemetry_notes, telemetry_report,
    workload_traffic_report,
};
use crate::style::Role;

/// Schema version of the document (`apiVersion`).
pub const API_VERSION: &str = "kubectl-mtls/v1";

/// The whole `status` answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// Always `kubectl-mtls/v1`.
    pub api_version: &'static str,
    /// Always `MtlsStatus`.
    pub kind: &'static str,
    /// Istio's root namespace (mesh-wide policies live there).
    pub root_namespace: String,
    /// The mesh-wide default every namespace starts from.
    pub mesh: MeshReport,
    /// One entry per namespace in scope, sorted by name.
    pub namespaces: Vec<NamespaceReport>,
    /// One entry per workload in scope, sorted by namespace, kind, name.
    pub workloads: Vec<WorkloadReport>,
    /// Findings, errors first.
    pub findings: Vec<FindingReport>,
    /// The `--require` check, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require: Option<RequireReport>,
    /// Reads RBAC refused and how that limits the answer.
    pub gaps: Vec<Gap>,
    /// Other warnings (mesh config fallback, ...).
    pub warnings: Vec<String>,
    /// What the answer rests on and does not cover.
    pub notes: Vec<String>,
    /// Where observed traffic came from, and what of it could not be read.
    pub telemetry: TelemetryReport,
}

/// The mesh-wide default; every field null when the root namespace's PeerAuthentications
/// could not be read (unknown is not Istio's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshReport {
    /// STRICT, PERMISSIVE or DISABLE; null when unknown.
    pub mode: Option<Mode>,
    /// The mesh-wide policy as `namespace/name`, or null (Istio's default, or unknown).
    pub policy: Option<String>,
    /// `default` or `mesh`; null when unknown.
    pub level: Option<&'static str>,
}

/// A mode and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModeReport {
    /// STRICT, PERMISSIVE or DISABLE.
    pub mode: Mode,
    /// The deciding policy as `namespace/name`, or null for Istio's default.
    pub policy: Option<String>,
    /// `default`, `mesh`, `namespace`, `workload` or `port`.
    pub level: &'static str,
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Default => "default",
        Level::Mesh => "mesh",
        Level::Namespace => "namespace",
        Level::Workload => "workload",
        Level::Port => "port",
    }
}

impl From<&Resolved> for ModeReport {
    fn from(r: &Resolved) -> Self {
        ModeReport {
            mode: r.mode,
            policy: r.source.policy.as_ref().map(|k| k.to_string()),
            level: level_name(r.source.level),
        }
    }
}

/// One namespace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceReport {
    /// Name.
    pub name: String,
    /// Whether this is the root namespace.
    pub root: bool,
    /// The namespace-level effective mode; null when PeerAuthentications that may decide it
    /// could not be read (the namespace's own, or the root namespace's when no namespace policy
    /// decides).
    pub mode: Option<Mode>,
    /// The deciding policy (`namespace/name`), null for Istio's default (or unknown).
    pub policy: Option<String>,
    /// Level of the deciding policy; null when the mode is unknown.
    pub level: Option<&'static str>,
    /// Pods in scope; null when they could not be read (RBAC).
    pub pods: Option<usize>,
    /// Pods with a sidecar or ambient redirection; null when the pods could not be read.
    pub meshed_pods: Option<usize>,
    /// Workload policies in force in the namespace (`namespace/name`).
    pub workload_overrides: Vec<String>,
    /// true, false, or null when the namespace has no pods (no reasons) or readiness is
    /// unknown (reasons say why).
    pub strict_ready: Option<bool>,
    /// Why it is not ready (empty when ready).
    pub strict_ready_reasons: Vec<String>,
}

/// One workload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadReport {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet or Pod.
    pub kind: String,
    /// Pods.
    pub pods: usize,
    /// Pods in the mesh.
    pub meshed_pods: usize,
    /// sidecar, ambient, none or mixed.
    pub mesh: String,
    /// The effective mode, or MIXED when its pods resolve differently (see `modes`); null
    /// when PeerAuthentications that may decide it could not be read.
    pub mode: Option<String>,
    /// Every distinct resolution among its pods (empty when the mode is unknown).
    pub modes: Vec<ModeReport>,
    /// The deciding policy when there is exactly one, else null.
    pub policy: Option<String>,
    /// Ports with their own setting: port number -> mode (MIXED when pods differ).
    pub ports: BTreeMap<String, String>,
    /// Ports that bypass the sidecar (no policy applies).
    pub bypassed_ports: Vec<u32>,
    /// Pods that should have a sidecar but have none (need a restart).
    pub restart_needed: usize,
    /// What it received (`plaintextCallers`, `mtlsRequests`, `plaintextRequests`; null when
    /// unknown).
    #[serde(flatten)]
    pub traffic: WorkloadTrafficReport,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct FindingReport {
    /// error, warning or info.
    pub severity: Severity,
    /// Stable code.
    pub code: String,
    /// `Kind namespace/name`.
    pub object: String,
    /// One line.
    pub message: String,
}

impl From<&Finding> for FindingReport {
    fn from(f: &Finding) -> Self {
        FindingReport {
            severity: f.severity,
            code: f.code.as_str().to_string(),
            object: f.object.to_string(),
            message: f.message.clone(),
        }
    }
}

/// The result of `--require MODE`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequireReport {
    /// The required mode.
    pub mode: Mode,
    /// Whether everything the verdict depends on could be read (false: RBAC hid pods or
    /// PeerAuthentications in scope, see `unverified`); an unverified check is not satisfied.
    pub verified: bool,
    /// What could not be read (`pods in namespace "x"`), when not verified.
    pub unverified: Vec<String>,
    /// Whether everything selected satisfies it (false when not verified).
    pub satisfied: bool,
    /// What does not.
    pub violations: Vec<ViolationReport>,
}

/// A workload or port weaker than required.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViolationReport {
    /// Namespace.
    pub namespace: String,
    /// Workload name.
    pub workload: String,
    /// Workload kind.
    pub kind: String,
    /// The port, or null for the workload's default mode.
    pub port: Option<u32>,
    /// Pods concerned.
    pub pods: usize,
    /// What they actually do: a mode, `outside mesh` or `bypassed (not intercepted)`.
    pub actual: String,
    /// Where the mode comes from.
    pub source: String,
}

impl From<&Violation> for ViolationReport {
    fn from(v: &Violation) -> Self {
        ViolationReport {
            namespace: v.workload.namespace.clone(),
            workload: v.workload.name.clone(),
            kind: v.workload.kind.clone(),
            port: v.port,
            pods: v.pods,
            actual: v.actual.to_string(),
            source: v.source.clone(),
        }
    }
}

/// What RBAC hid of the PeerAuthentications: per namespace, and the root namespace's.
struct HiddenPolicies<'a> {
    gaps: &'a [Gap],
    root_hidden: bool,
}

impl<'a> HiddenPolicies<'a> {
    fn new(gaps: &'a [Gap], root: &str) -> Self {
        HiddenPolicies {
            gaps,
            root_hidden: gaps.iter().any(|g| g.hides_mesh_level(root)),
        }
    }

    /// Whether the namespace's own PeerAuthentications could not be read.
    fn own(&self, namespace: &str) -> bool {
        self.gaps
            .iter()
            .any(|g| g.hides_policies_of(namespace, namespace))
    }

    /// Whether a resolution may be wrong: a hidden policy of the namespace could decide it,
    /// or it fell through to the mesh-wide level whose policies could not be read.
    fn decides(&self, namespace: &str, levels: impl IntoIterator<Item = Level>) -> bool {
        self.own(namespace)
            || (self.root_hidden
                && levels
                    .into_iter()
                    .any(|l| matches!(l, Level::Default | Level::Mesh)))
    }
}

/// Readiness reason when the namespace's own PeerAuthentications could not be read.
const POLICIES_UNREAD: &str = "its PeerAuthentications could not be read";

fn namespace_report(v: &NamespaceView, root: &str, gaps: &[Gap]) -> NamespaceReport {
    let m = ModeReport::from(&v.mode);
    let hidden = HiddenPolicies::new(gaps, root);
    // A policy that could not be read may decide the mode: unknown, not Istio's default.
    let mode_known = !hidden.decides(&v.name, [v.mode.source.level]);
    // Pods that could not be read are unknown, not zero.
    let pods_known = !gaps.iter().any(|g| g.hides_pods_of(&v.name));
    let (ready, reasons) = match &v.strict_ready {
        _ if !pods_known => (None, Vec::new()),
        _ if hidden.own(&v.name) => (None, vec![POLICIES_UNREAD.to_string()]),
        StrictReady::NoPods => (None, Vec::new()),
        StrictReady::Yes => (Some(true), Vec::new()),
        StrictReady::No { reasons } => (Some(false), reasons.clone()),
        StrictReady::Unknown { reasons } => (None, reasons.clone()),
    };
    NamespaceReport {
        name: v.name.clone(),
        root: v.name == root,
        mode: mode_known.then_some(m.mode),
        policy: m.policy.filter(|_| mode_known),
        level: mode_known.then_some(m.level),
        pods: pods_known.then_some(v.pods),
        meshed_pods: pods_known.then_some(v.meshed_pods),
        workload_overrides: v.workload_overrides.iter().map(|k| k.to_string()).collect(),
        strict_ready: ready,
        strict_ready_reasons: reasons,
    }
}

fn workload_report(
    w: &WorkloadView,
    traffic: Option<&WorkloadTraffic>,
    hidden: &HiddenPolicies<'_>,
) -> WorkloadReport {
    let known = !hidden.decides(&w.workload.namespace, w.modes.iter().map(|r| r.source.level));
    let modes: Vec<ModeReport> = if known {
        w.modes.iter().map(ModeReport::from).collect()
    } else {
        Vec::new()
    };
    let distinct: BTreeSet<Mode> = w.modes.iter().map(|r| r.mode).collect();
    let mode = match distinct.len() {
        1 => distinct.iter().next().map(|m| m.to_string()).unwrap_or_default(),
        0 => "-".to_string(),
        _ => "MIXED".to_string(),
    };
    let policies: BTreeSet<Option<String>> = modes.iter().map(|m| m.policy.clone()).collect();
    let policy = if policies.len() == 1 && known {
        policies.into_iter().next().flatten()
    } else {
        None
    };
    let ports = w
        .ports
        .iter()
        .map(|(port, rs)| {
            let ms: BTreeSet<Mode> = rs.iter().map(|r| r.mode).collect();
            let m = if ms.len() == 1 {
                ms.iter().next().map(|m| m.to_string()).unwrap_or_default()
            } else {
                "MIXED".into()
            };
            (port.to_string(), m)
        })
        .collect();
    WorkloadReport {
        namespace: w.workload.namespace.clone(),
        name: w.workload.name.clone(),
        kind: w.workload.kind.clone(),
        pods: w.pods,
        meshed_pods: w.meshed_pods,
        mesh: w.mesh.to_string(),
        mode: known.then_some(mode),
        modes,
        policy,
        ports,
        bypassed_ports: w.bypassed_ports.iter().copied().collect(),
        restart_needed: w.restart_needed,
        traffic: workload_traffic_report(traffic),
    }
}

/// What the report covers.
#[derive(Debug, Clone)]
pub struct ReportScope {
    /// None: every namespace; Some: only these.
    pub namespaces: Option<BTreeSet<String>>,
}

impl ReportScope {
    fn contains(&self, ns: &str) -> bool {
        self.namespaces.as_ref().is_none_or(|set| set.contains(ns))
    }
}

/// Builds the report from the engine's analysis (telemetry already applied, see
/// [`crate::engine::apply_telemetry`]), limited to `scope`. `per_workload` is aligned with
/// `analysis.workloads`.
#[allow(clippy::too_many_arguments)]
pub fn build(
    analysis: &Analysis,
    mesh: &Resolved,
    scope: &ReportScope,
    gaps: Vec<Gap>,
    warnings: Vec<String>,
    require: Option<(Mode, Vec<Violation>)>,
    traffic: &Traffic,
    per_workload: &[Option<WorkloadTraffic>],
) -> StatusReport {
    let root = analysis.root_namespace.clone();
    let mesh_known = !gaps.iter().any(|g| g.hides_mesh_level(&root));
    let hidden = HiddenPolicies::new(&gaps, &root);
    let namespaces = analysis
        .namespaces
        .iter()
        .filter(|n| scope.contains(&n.name))
        .map(|n| namespace_report(n, &root, &gaps))
        .collect();
    let workloads = analysis
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| scope.contains(&w.workload.namespace))
        .map(|(i, w)| workload_report(w, per_workload.get(i).and_then(Option::as_ref), &hidden))
        .collect();
    // The snapshot already holds only what the scope needs (its namespaces, the root
    // namespace's policies, and DestinationRules from anywhere that may target them), so every
    // finding concerns the scope: a rule in another namespace that breaks traffic toward it
    // belongs in this answer.
    let findings = analysis.findings.iter().map(FindingReport::from).collect();
    let require = require.map(|(mode, violations)| {
        let violations: Vec<ViolationReport> = violations
            .iter()
            .filter(|v| scope.contains(&v.workload.namespace))
            .map(ViolationReport::from)
            .collect();
        // Unknown is never "yes": a gap that hides pods or policies in scope leaves the
        // verdict unverified.
        let unverified: Vec<String> = gaps
            .iter()
            .filter(|g| g.hides_enforcement())
            .map(|g| g.what.clone())
            .collect();
        RequireReport {
            mode,
            verified: unverified.is_empty(),
            satisfied: unverified.is_empty() && violations.is_empty(),
            unverified,
            violations,
        }
    });
    StatusReport {
        api_version: API_VERSION,
        kind: "MtlsStatus",
        root_namespace: root,
        mesh: if mesh_known {
            let m = ModeReport::from(mesh);
            MeshReport {
                mode: Some(m.mode),
                policy: m.policy,
                level: Some(m.level),
            }
        } else {
            MeshReport {
                mode: None,
                policy: None,
                level: None,
            }
        },
        namespaces,
        workloads,
        findings,
        require,
        gaps,
        warnings,
        notes: telemetry_notes(traffic),
        telemetry: telemetry_report(traffic),
    }
}

/// The colour of a mode.
pub fn mode_role(mode: &str) -> Role {
    match mode {
        "STRICT" => Role::Good,
        "PERMISSIVE" => Role::Warn,
        "DISABLE" => Role::Bad,
        _ => Role::Warn,
    }
}

fn policy_cell(policy: &Option<String>, level: Option<&str>) -> String {
    match policy {
        _ if level.is_none() => "?".to_string(),
        Some(p) if level == Some("mesh") => format!("{p} (mesh)"),
        Some(p) => p.clone(),
        None => "- (istio default)".to_string(),
    }
}

/// The default table: the mesh-wide line, one row per namespace, then findings.
pub fn render_table(report: &StatusReport, workloads: bool) -> String {
    let mut out = String::new();
    match (report.mesh.mode, &report.mesh.policy) {
        (None, _) => out.push_str(&format!(
            "Mesh-wide default: ? (the PeerAuthentications of {} could not be read)\n\n",
            report.root_namespace
        )),
        (Some(mode), policy) => {
            let source = match policy {
                Some(p) => format!("set by {p}"),
                None => format!(
                    "Istio's default: no mesh-wide policy in {}",
                    report.root_namespace
                ),
            };
            out.push_str(&format!(
                "Mesh-wide default: {} ({source})\n\n",
                crate::style::paint(mode.as_str(), mode_role(mode.as_str()))
            ));
        }
    }

    if report.namespaces.is_empty() {
        out.push_str("No namespaces in scope.\n");
    } else {
        let mut t = Table::new(&[
            "NAMESPACE",
            "MODE",
            "POLICY",
            "MESHED",
            "OVERRIDES",
            "STRICT-READY",
        ]);
        for n in &report.namespaces {
            let name = if n.root {
                format!("{} (root)", n.name)
            } else {
                n.name.clone()
            };
            let ready = match n.strict_ready {
                None if n.pods.is_none() && n.strict_ready_reasons.is_empty() => Cell::from("?"),
                None if n.strict_ready_reasons.is_empty() => Cell::from("-"),
                None => Cell::styled(format!("? ({})", n.strict_ready_reasons[0]), Role::Warn),
                Some(true) => Cell::styled("yes", Role::Good),
                Some(false) => Cell::styled(
                    format!(
                        "no ({})",
                        n.strict_ready_reasons
                            .first()
                            .map(String::as_str)
                            .unwrap_or("see findings")
                    ),
                    Role::Bad,
                ),
            };
            let overrides = if n.workload_overrides.is_empty() {
                "-".to_string()
            } else {
                n.workload_overrides.len().to_string()
            };
            t.row(vec![
                name.into(),
                match n.mode {
                    Some(m) => Cell::styled(m.as_str(), mode_role(m.as_str())),
                    None => Cell::styled("?", Role::Warn),
                },
                policy_cell(&n.policy, n.level).into(),
                match (n.meshed_pods, n.pods) {
                    (Some(meshed), Some(pods)) => format!("{meshed}/{pods}"),
                    _ => "?".to_string(),
                }
                .into(),
                overrides.into(),
                ready,
            ]);
        }
        out.push_str(&t.render());
    }

    if workloads {
        out.push('\n');
        if report.workloads.is_empty() {
            out.push_str("No workloads in scope.\n");
        } else {
            let mut t = Table::new(&[
                "NAMESPACE",
                "WORKLOAD",
                "PODS",
                "MESH",
                "MODE",
                "PORTS",
                "PLAINTEXT",
                "POLICY",
            ]);
            for w in &report.workloads {
                let ports = if w.ports.is_empty() && w.bypassed_ports.is_empty() {
                    "-".to_string()
                } else {
                    let mut parts: Vec<String> = w.ports.iter().map(|(p, m)| format!("{p}:{m}")).collect();
                    parts.extend(w.bypassed_ports.iter().map(|p| format!("{p}:bypassed")));
                    parts.join(",")
                };
                let policy = if w.modes.len() > 1 {
                    w.modes
                        .iter()
                        .map(|m| {
                            format!(
                                "{} by {}",
                                m.mode,
                                m.policy.clone().unwrap_or_else(|| "istio default".into())
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    w.modes
                        .first()
                        .map(|m| policy_cell(&m.policy, Some(m.level)))
                        .unwrap_or_else(|| if w.mode.is_none() { "?" } else { "-" }.into())
                };
                let plaintext = if (report.telemetry.source == crate::model::TelemetrySource::None
                    && report.telemetry.errors.is_empty())
                    || w.mesh == "none"
                {
                    Cell::from("-")
                } else {
                    let (text, role) = plaintext_cell(&w.traffic);
                    Cell::styled(text, role)
                };
                let mesh = if w.restart_needed > 0 {
                    format!("{} (restart needed)", w.mesh)
                } else {
                    w.mesh.clone()
                };
                t.row(vec![
                    w.namespace.clone().into(),
                    format!("{}/{}", w.kind.to_lowercase(), w.name).into(),
                    format!("{}/{}", w.meshed_pods, w.pods).into(),
                    Cell::styled(
                        mesh,
                        if w.mesh == "sidecar" || w.mesh == "ambient" {
                            Role::Good
                        } else {
                            Role::Warn
                        },
                    ),
                    match &w.mode {
                        Some(m) => Cell::styled(m.clone(), mode_role(m)),
                        None => Cell::styled("?", Role::Warn),
                    },
                    ports.into(),
                    plaintext,
                    policy.into(),
                ]);
            }
            out.push_str(&t.render());
        }
    }

    out.push('\n');
    if report.findings.is_empty() {
        out.push_str("Findings: none\n");
    } else {
        out.push_str(&format!("Findings ({}):\n", report.findings.len()));
        let mut t = Table::new(&["SEVERITY", "CODE", "OBJECT", "MESSAGE"]);
        for f in &report.findings {
            let role = match f.severity {
                Severity::Error => Role::Bad,
                Severity::Warning => Role::Warn,
                Severity::Info => Role::Dim,
            };
            t.row(vec![
                Cell::styled(f.severity.as_str(), role),
                f.code.clone().into(),
                f.object.clone().into(),
                f.message.clone().into(),
            ]);
        }
        out.push_str(&t.render());
    }
    for note in &report.notes {
        out.push_str(&format!("\nNote: {note}.\n"));
    }
    out
}

/// What a required mode means a server accepts, and what the workloads that fail it do
/// instead (see [`crate::engine::require`]).
fn require_words(mode: Mode) -> (&'static str, &'static str, &'static str) {
    // (what every selected workload does when satisfied, what the failing ones do (singular,
    // plural), ...)
    match mode {
        Mode::Strict => (
            "accepts mutual TLS only",
            "accepts plaintext",
            "STRICT requires mutual TLS only",
        ),
        Mode::Permissive => (
            "accepts mutual TLS",
            "accepts plaintext only",
            "PERMISSIVE requires mutual TLS to be accepted",
        ),
        Mode::Disable => (
            "accepts plaintext",
            "accepts mutual TLS only",
            "DISABLE requires plaintext to be accepted",
        ),
    }
}

/// `2 workloads`, `1 workload and 1 port`, `3 ports`.
fn workloads_and_ports(r: &RequireReport) -> (String, usize) {
    let ports = r.violations.iter().filter(|v| v.port.is_some()).count();
    let workloads = r.violations.len() - ports;
    let text = match (workloads, ports) {
        (w, 0) => super::count(w, "workload"),
        (0, p) => super::count(p, "port"),
        (w, p) => format!("{} and {}", super::count(w, "workload"), super::count(p, "port")),
    };
    (text, r.violations.len())
}

/// Third person plural of a verb phrase in the singular (`accepts ...` -> `accept ...`).
fn plural_verb(phrase: &str) -> String {
    match phrase.split_once(' ') {
        Some((verb, rest)) => format!("{} {rest}", verb.strip_suffix('s').unwrap_or(verb)),
        None => phrase.strip_suffix('s').unwrap_or(phrase).to_string(),
    }
}

/// The `--require` verdict for people.
pub fn render_require(r: &RequireReport) -> String {
    if !r.verified {
        let mut out = format!(
            "require {}: cannot be verified: could not read {}\n",
            r.mode,
            r.unverified.join(", ")
        );
        if !r.violations.is_empty() {
            out.push_str(&render_violations(r));
        }
        return out;
    }
    if r.satisfied {
        return format!(
            "require {}: satisfied: every selected workload {}\n",
            r.mode,
            require_words(r.mode).0
        );
    }
    render_violations(r)
}

/// The one-line reason an unsatisfied `--require` exits 1 (printed after `error: `).
pub fn require_error(r: &RequireReport) -> Option<String> {
    if r.satisfied {
        return None;
    }
    if !r.verified {
        return Some(format!(
            "require {} cannot be verified: could not read {}",
            r.mode,
            r.unverified.join(", ")
        ));
    }
    let (what, n) = workloads_and_ports(r);
    Some(format!(
        "require {} is not satisfied: {what} {} short (listed above)",
        r.mode,
        if n == 1 { "falls" } else { "fall" }
    ))
}

fn render_violations(r: &RequireReport) -> String {
    let (_, fails, rule) = require_words(r.mode);
    let (what, n) = workloads_and_ports(r);
    let mut out = format!(
        "require {}: {what} {}, {rule}:\n",
        r.mode,
        if n == 1 {
            fails.to_string()
        } else {
            plural_verb(fails)
        },
    );
    let mut t = Table::new(&["NAMESPACE", "WORKLOAD", "PORT", "PODS", "ACTUAL", "SOURCE"]);
    for v in &r.violations {
        t.row(vec![
            v.namespace.clone().into(),
            format!("{}/{}", v.kind.to_lowercase(), v.workload).into(),
            v.port.map(|p| p.to_string()).unwrap_or_else(|| "*".into()).into(),
            v.pods.to_string().into(),
            Cell::styled(v.actual.clone(), Role::Bad),
            if v.source.is_empty() {
                "-".to_string()
            } else {
                v.source.clone()
            }
            .into(),
        ]);
    }
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(workload: &str, port: Option<u32>, actual: &str) -> ViolationReport {
        ViolationReport {
            namespace: "istioinaction".into(),
            workload: workload.into(),
            kind: "Deployment".into(),
            port,
            pods: 1,
            actual: actual.into(),
            source: String::new(),
        }
    }

    fn report(mode: Mode, violations: Vec<ViolationReport>) -> RequireReport {
        RequireReport {
            mode,
            verified: true,
            unverified: Vec::new(),
            satisfied: violations.is_empty(),
            violations,
        }
    }

    fn first_line(r: &RequireReport) -> String {
        render_require(r).lines().next().unwrap_or_default().to_string()
    }

    #[test]
    fn require_verdicts_read_right_for_every_mode() {
        crate::style::set(false);
        assert_eq!(
            first_line(&report(Mode::Strict, vec![])),
            "require STRICT: satisfied: every selected workload accepts mutual TLS only"
        );
        assert_eq!(
            first_line(&report(Mode::Permissive, vec![])),
            "require PERMISSIVE: satisfied: every selected workload accepts mutual TLS"
        );
        assert_eq!(
            first_line(&report(Mode::Disable, vec![])),
            "require DISABLE: satisfied: every selected workload accepts plaintext"
        );
        let two_strict = report(
            Mode::Disable,
            vec![violation("a", None, "STRICT"), violation("b", None, "STRICT")],
        );
        assert_eq!(
            first_line(&two_strict),
            "require DISABLE: 2 workloads accept mutual TLS only, DISABLE requires plaintext to be accepted:"
        );
        assert_eq!(
            require_error(&two_strict).unwrap(),
            "require DISABLE is not satisfied: 2 workloads fall short (listed above)"
        );
        let one = report(Mode::Strict, vec![violation("a", None, "PERMISSIVE")]);
        assert_eq!(
            first_line(&one),
            "require STRICT: 1 workload accepts plaintext, STRICT requires mutual TLS only:"
        );
        assert_eq!(
            require_error(&one).unwrap(),
            "require STRICT is not satisfied: 1 workload falls short (listed above)"
        );
        let mixed = report(
            Mode::Permissive,
            vec![
                violation("a", None, "outside mesh"),
                violation("b", Some(8080), "bypassed (not intercepted)"),
            ],
        );
        assert_eq!(
            first_line(&mixed),
            "require PERMISSIVE: 1 workload and 1 port accept plaintext only, PERMISSIVE requires mutual TLS to be accepted:"
        );
        assert_eq!(require_error(&report(Mode::Strict, vec![])), None);
    }
}
