//! The safety review of a change: what would break traffic or not take effect.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{
    Analysis, Effects, FindingCode, Level, PolicyChange, PolicyIndex, Severity, membership, period_words,
    review_strict, workload_of,
};
use crate::model::{Mode, ObjectKey, PodInfo, Policy, Snapshot, TelemetrySource, Traffic};

use super::*;

/// A port that keeps a mode of its own while its workload's mode changes (the engine's
/// [`Effects`] list only ports whose mode changes, so without this a row `web-api PERMISSIVE ->
/// STRICT` would hide that port 8080 stays PERMISSIVE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortException {
    /// The workload.
    pub workload: crate::engine::WorkloadRef,
    /// The workload port.
    pub port: u32,
    /// Its modes after the change.
    pub modes: Vec<Mode>,
}

/// Ports with their own setting, after the change, whose mode differs from the new mode of a
/// workload listed in `effects.changes`.
pub fn port_exceptions(
    snapshot: &Snapshot,
    changes: &[PolicyChange],
    effects: &Effects,
) -> Vec<PortException> {
    let changed: Vec<&crate::engine::ModeChange> =
        effects.changes.iter().filter(|c| c.port.is_none()).collect();
    if changed.is_empty() {
        return Vec::new();
    }
    let after = crate::engine::analyze(&crate::engine::apply_changes(snapshot, changes));
    let mut out = Vec::new();
    for c in changed {
        let Some(w) = after.workloads.iter().find(|w| w.workload == c.workload) else {
            continue;
        };
        let to: BTreeSet<Mode> = c.to.iter().map(|r| r.mode).collect();
        for (port, modes) in &w.ports {
            let m: BTreeSet<Mode> = modes.iter().map(|r| r.mode).collect();
            let listed = effects
                .changes
                .iter()
                .any(|x| x.workload == c.workload && x.port == Some(*port));
            if m != to && !listed {
                out.push(PortException {
                    workload: c.workload.clone(),
                    port: *port,
                    modes: m.into_iter().collect(),
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Safety review.

/// What the review found: refusals stop `enable` unless `--force`; warnings are shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// Reasons to refuse.
    pub refusals: Vec<String>,
    /// Things to say.
    pub warnings: Vec<String>,
}

/// Pods outside the mesh found by a cluster-wide read (possible plaintext clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outside {
    /// Not read (the change is not toward STRICT).
    NotChecked,
    /// RBAC forbade the cluster-wide pod list (the server's message).
    Forbidden(String),
    /// `namespace/name` of each pod outside the mesh, outside the target scope.
    Pods(Vec<String>),
}

/// Namespaces whose pods are not considered possible plaintext clients: Kubernetes' own.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// "1 pod", "3 pods".
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn short(items: &[String], max: usize) -> String {
    // Never "and 1 more": the one item takes no more room than saying so.
    let max = if items.len() == max + 1 { items.len() } else { max };
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// Reviews a change against the cluster's configuration.
///
/// Refuses when the change creates an error finding (a DestinationRule sending plaintext to
/// workloads that become STRICT, a workload-level DISABLE that mTLS clients will fail
/// against), DISABLE on ambient workloads (unsupported), or when the target is a workload
/// policy that an older one shadows for some of the pods it selects (the change would not
/// reach them). Warns about workloads whose own policy keeps them from the requested mode, about
/// pods in scope outside the mesh (nothing enforces the mode there) and, toward STRICT, about
/// pods outside the mesh elsewhere (plaintext clients that will fail).
pub fn review(
    snapshot: &Snapshot,
    req: &Request,
    changed: &Policy,
    effects: &Effects,
    outside: &Outside,
) -> Review {
    let mut r = Review::default();
    review_findings(&mut r, effects);
    let after = crate::engine::apply_changes(snapshot, &[PolicyChange::Upsert(changed.clone())]);
    let index = PolicyIndex::new(&after);
    let key = changed.key();
    let root = after.root_namespace.as_str();
    let in_scope = |p: &PodInfo| match &req.target {
        Target::Mesh => true,
        Target::Namespace(_) => p.namespace == changed.namespace,
        Target::Selector { .. } => p.namespace == changed.namespace && changed.selects(&p.labels),
    };
    let mut shadowed: BTreeMap<String, (ObjectKey, usize)> = BTreeMap::new();
    let mut overridden: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unmeshed: Vec<String> = Vec::new();
    for pod in after.pods.iter().filter(|p| in_scope(p) && p.namespace != root) {
        let w = workload_of(pod);
        let wname = format!("{}/{}", w.namespace, w.name);
        let resolved = index.resolve(&pod.namespace, &pod.labels);
        if !membership(pod).is_meshed() {
            unmeshed.push(format!("{}/{}", pod.namespace, pod.name));
        }
        if let Target::Selector { .. } = req.target {
            if let Some(winner) = &resolved.workload_policy
                && *winner != key
            {
                let e = shadowed.entry(wname).or_insert((winner.clone(), 0));
                e.1 += 1;
            }
            continue;
        }
        let Some(wanted) = req.wanted() else { continue };
        if resolved.mode.mode != wanted {
            let by = match (&resolved.mode.source.level, &resolved.mode.source.policy) {
                (Level::Workload | Level::Namespace, Some(p)) => p.to_string(),
                _ => continue,
            };
            overridden
                .entry(by)
                .or_default()
                .insert(format!("{wname} ({})", resolved.mode.mode));
        }
        for (port, m) in &resolved.ports {
            if m.mode != wanted {
                let by = m
                    .source
                    .policy
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                overridden
                    .entry(by)
                    .or_default()
                    .insert(format!("{wname} port {port} ({})", m.mode));
            }
        }
    }
    for (w, (winner, pods)) in &shadowed {
        r.refusals.push(format!(
            "{w}: {} selected by {key} {} decided by the older workload policy {winner}, which Istio applies instead; change {winner} (or delete it) rather than adding another policy",
            plural(*pods, "pod"),
            if *pods == 1 { "is" } else { "are" }
        ));
    }
    if let Some(wanted) = req.wanted() {
        for (by, what) in &overridden {
            let list: Vec<String> = what.iter().cloned().collect();
            r.warnings.push(format!(
                "{} will not become {wanted}: {by} sets {} for {}; it stays that way unless you change that policy (kubectl mtls enable NAMESPACE --selector ...)",
                short(&list, 4),
                if list.len() == 1 { "its own mode" } else { "their own modes" },
                if list.len() == 1 { "it" } else { "them" }
            ));
        }
    }
    if !unmeshed.is_empty() && req.wanted().is_some_and(|m| m != Mode::Permissive) {
        r.warnings.push(format!(
            "{} in scope {} outside the mesh: nothing enforces {} there ({})",
            plural(unmeshed.len(), "pod"),
            if unmeshed.len() == 1 { "is" } else { "are" },
            req.mode,
            short(&unmeshed, 3)
        ));
    }
    if req.toward_strict() && !effects.changes.is_empty() {
        review_outside(&mut r, outside);
    }
    r
}

/// Refusals and warnings from the findings a change creates.
fn review_findings(r: &mut Review, effects: &Effects) {
    for f in &effects.findings_created {
        if f.severity == Severity::Error || f.code == FindingCode::AmbientDisableUnsupported {
            r.refusals.push(format!("{} {}: {}", f.code, f.object, f.message));
        } else if matches!(
            f.code,
            FindingCode::AutoMtlsDisabled | FindingCode::SelectorMatchesNoPod
        ) {
            r.warnings.push(format!("{}: {}", f.object, f.message));
        }
    }
}

/// The warning about pods outside the mesh elsewhere: plaintext clients of what becomes STRICT.
fn review_outside(r: &mut Review, outside: &Outside) {
    match outside {
        Outside::NotChecked => {}
        Outside::Forbidden(msg) => r.warnings.push(format!(
            "cannot list pods cluster-wide ({msg}): plaintext clients outside the mesh in other namespaces were not checked"
        )),
        Outside::Pods(pods) if !pods.is_empty() => r.warnings.push(format!(
            "{} outside the mesh elsewhere in the cluster {}; {} requests to STRICT workloads will fail: {}",
            plural(pods.len(), "pod"),
            if pods.len() == 1 { "may be a plaintext client" } else { "may be plaintext clients" },
            if pods.len() == 1 { "its" } else { "their" },
            short(pods, 5)
        )),
        Outside::Pods(_) => {}
    }
}

/// Whether removing a policy makes some workload STRICT (then the checks toward STRICT apply:
/// plaintext clients outside the mesh, observed plaintext callers).
pub fn removal_toward_strict(effects: &Effects) -> bool {
    !crate::engine::becoming_strict(effects).is_empty()
}

/// Reviews the removal of a policy (`--inherit`) from its effect: the findings it creates
/// (a DestinationRule sending plaintext to workloads that become STRICT, DISABLE reaching
/// ambient workloads...), workloads that go from STRICT straight to DISABLE (mutual TLS
/// turned off where it was required: clients that keep sending mTLS fail, and nothing is
/// encrypted any more), and, when some workload becomes STRICT, pods outside the mesh elsewhere.
pub fn review_removal(effects: &Effects, outside: &Outside) -> Review {
    let mut r = Review::default();
    review_findings(&mut r, effects);
    let to_disable: Vec<String> = effects
        .changes
        .iter()
        .filter(|c| {
            c.meshed_pods > 0
                && c.from.iter().any(|m| m.mode == Mode::Strict)
                && c.to.iter().any(|m| m.mode == Mode::Disable)
        })
        .map(|c| match c.port {
            Some(p) => format!("{}/{} port {p}", c.workload.namespace, c.workload.name),
            None => format!("{}/{}", c.workload.namespace, c.workload.name),
        })
        .collect();
    if !to_disable.is_empty() {
        r.refusals.push(format!(
            "{} from STRICT to DISABLE once the level above decides: mutual TLS is turned off where it was required (clients that keep sending mTLS fail, nothing is encrypted); set --permissive first, or --force",
            if to_disable.len() == 1 {
                format!("{} goes", to_disable[0])
            } else {
                format!("{} go", short(&to_disable, 4))
            }
        ));
    }
    if removal_toward_strict(effects) {
        review_outside(&mut r, outside);
    }
    r
}

/// Adds what observed traffic says to a review of a change toward STRICT: a refusal per
/// plaintext caller of a workload that becomes STRICT (`default/sleep -> istioinaction/web-api:
/// 120 plaintext requests in 1h; these will fail`), and a warning when that could not be
/// checked (no telemetry, or telemetry that could not be read for some of those workloads).
/// `before` is the analysis of the cluster as it is (where the traffic was observed).
pub fn review_traffic(r: &mut Review, before: &Analysis, effects: &Effects, traffic: &Traffic) {
    let check = review_strict(before, effects, traffic);
    let period = period_words(traffic);
    r.refusals
        .extend(check.blockers.iter().map(|b| b.message(&period)));
    if crate::engine::becoming_strict(effects).is_empty() {
        return;
    }
    if traffic.source == TelemetrySource::None && traffic.errors.is_empty() {
        r.warnings.push(
            "no telemetry was read, so plaintext callers of the workloads becoming STRICT could not be checked (give --prometheus URL, or --telemetry-from proxies)"
                .to_string(),
        );
    } else if !check.unknown.is_empty() {
        let names: Vec<String> = check
            .unknown
            .iter()
            .map(|w| format!("{}/{}", w.namespace, w.name))
            .collect();
        r.warnings.push(format!(
            "telemetry could not be read for {}: their plaintext callers were not checked",
            short(&names, 4)
        ));
    }
}
