//! What-if for `enable` and `diff`: the effect of hypothetical policy changes, and the policy
//! Istio honours in a scope (the one a tool must change).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use super::analysis::{Analysis, WorkloadView, analyze};
use super::findings::Finding;
use super::resolve::{PolicyIndex, Resolved};
use super::workload::WorkloadRef;
use crate::model::{Created, Labels, Mode, ObjectKey, Policy, Snapshot};

/// Where a policy applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Mesh-wide (root namespace, no selector).
    Mesh,
    /// Namespace-wide.
    Namespace(String),
    /// Workloads of a namespace selected by labels.
    Workload {
        /// Namespace.
        namespace: String,
        /// `matchLabels` (non-empty).
        selector: Labels,
    },
}

/// The policies of a scope: the one Istio honours and the ones it ignores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopePolicies<'a> {
    /// The oldest policy of the scope: the one in force, the one to change.
    pub honoured: Option<&'a Policy>,
    /// Newer policies of the same scope (ignored, or shadowed for their common pods).
    pub ignored: Vec<&'a Policy>,
}

/// The policies of a scope, oldest first. For [`Scope::Workload`] these are the policies of the
/// namespace with exactly that selector. `Scope::Namespace(root)` is the mesh scope.
pub fn policies_in_scope<'a>(snapshot: &'a Snapshot, scope: &Scope) -> ScopePolicies<'a> {
    let index = PolicyIndex::new(snapshot);
    let list: Vec<&'a Policy> = match scope {
        Scope::Mesh => index.wide_policies(&snapshot.root_namespace).to_vec(),
        Scope::Namespace(ns) => index.wide_policies(ns).to_vec(),
        Scope::Workload { namespace, selector } => index
            .workload_policies(namespace)
            .iter()
            .copied()
            .filter(|p| &p.selector == selector)
            .collect(),
    };
    let mut it = list.into_iter();
    ScopePolicies {
        honoured: it.next(),
        ignored: it.collect(),
    }
}

/// A hypothetical change to the set of policies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyChange {
    /// Create or replace a policy (by namespace/name). Replacing keeps the existing creation
    /// time, as the API server does; a new policy keeps the `created` it is given (use
    /// [`Created::now`]).
    Upsert(Policy),
    /// Delete a policy.
    Delete(ObjectKey),
}

/// The change that sets `mode` in a scope the way Istio will honour it: the honoured policy of
/// the scope gets the mode (whatever its name); without one, a new policy `new_name` is created
/// at `now`.
pub fn set_mode_change(
    snapshot: &Snapshot,
    scope: &Scope,
    mode: Mode,
    new_name: &str,
    now: Created,
) -> PolicyChange {
    let found = policies_in_scope(snapshot, scope);
    let policy = match found.honoured {
        Some(p) => {
            let mut p = p.clone();
            p.mode = mode.into();
            p
        }
        None => {
            let (ns, selector) = match scope {
                Scope::Mesh => (snapshot.root_namespace.clone(), Labels::new()),
                Scope::Namespace(ns) => (ns.clone(), Labels::new()),
                Scope::Workload { namespace, selector } => (namespace.clone(), selector.clone()),
            };
            Policy::new(ns, new_name, now, mode.into()).with_selector(selector)
        }
    };
    PolicyChange::Upsert(policy)
}

/// A copy of the snapshot with the changes applied.
pub fn apply_changes(snapshot: &Snapshot, changes: &[PolicyChange]) -> Snapshot {
    let mut out = snapshot.clone();
    for c in changes {
        match c {
            PolicyChange::Delete(k) => out
                .policies
                .retain(|p| p.namespace != k.namespace || p.name != k.name),
            PolicyChange::Upsert(p) => {
                match out
                    .policies
                    .iter_mut()
                    .find(|q| q.namespace == p.namespace && q.name == p.name)
                {
                    Some(existing) => {
                        let created = existing.created;
                        *existing = p.clone();
                        existing.created = created;
                    }
                    None => out.policies.push(p.clone()),
                }
            }
        }
    }
    out
}

/// A workload (or one of its ports) whose effective mode changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeChange {
    /// The workload.
    pub workload: WorkloadRef,
    /// The port, when the change is on a port with its own setting.
    pub port: Option<u32>,
    /// Pods of the workload.
    pub pods: usize,
    /// Pods in the mesh (where the new mode is enforced).
    pub meshed_pods: usize,
    /// Modes before, with provenance.
    pub from: Vec<Resolved>,
    /// Modes after, with provenance.
    pub to: Vec<Resolved>,
}

/// A namespace whose namespace-level mode changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceChange {
    /// Namespace.
    pub namespace: String,
    /// Before.
    pub from: Resolved,
    /// After.
    pub to: Resolved,
}

/// The effect of a change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effects {
    /// Namespaces whose namespace-level mode changes.
    pub namespaces: Vec<NamespaceChange>,
    /// Workloads and ports whose effective mode changes.
    pub changes: Vec<ModeChange>,
    /// Workloads whose mode stays but now comes from another policy.
    pub provenance_changes: Vec<ModeChange>,
    /// Findings that appear.
    pub findings_created: Vec<Finding>,
    /// Findings that disappear.
    pub findings_resolved: Vec<Finding>,
}

impl Effects {
    /// Whether nothing changes at all.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
            && self.changes.is_empty()
            && self.provenance_changes.is_empty()
            && self.findings_created.is_empty()
            && self.findings_resolved.is_empty()
    }
}

fn modes(v: &[Resolved]) -> BTreeSet<Mode> {
    v.iter().map(|r| r.mode).collect()
}

fn port_modes(a: &Analysis, w: &WorkloadView, port: u32) -> Vec<Resolved> {
    let mut v: Vec<Resolved> = w
        .pod_indices
        .iter()
        .map(|&i| a.pods[i].policy.mode_for_port(port).clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Compares two analyses of the same pods (before and after a change).
pub fn effects(before: &Analysis, after: &Analysis) -> Effects {
    let mut e = Effects::default();
    let after_ns: BTreeMap<&str, &Resolved> = after
        .namespaces
        .iter()
        .map(|n| (n.name.as_str(), &n.mode))
        .collect();
    for n in &before.namespaces {
        if let Some(to) = after_ns.get(n.name.as_str())
            && **to != n.mode
        {
            e.namespaces.push(NamespaceChange {
                namespace: n.name.clone(),
                from: n.mode.clone(),
                to: (*to).clone(),
            });
        }
    }
    let after_w: BTreeMap<&WorkloadRef, &WorkloadView> =
        after.workloads.iter().map(|w| (&w.workload, w)).collect();
    for wb in &before.workloads {
        let Some(wa) = after_w.get(&wb.workload) else {
            continue;
        };
        let change = |port: Option<u32>, from: Vec<Resolved>, to: Vec<Resolved>| ModeChange {
            workload: wb.workload.clone(),
            port,
            pods: wb.pods,
            meshed_pods: wb.meshed_pods,
            from,
            to,
        };
        if modes(&wb.modes) != modes(&wa.modes) {
            e.changes.push(change(None, wb.modes.clone(), wa.modes.clone()));
        } else if wb.modes != wa.modes {
            e.provenance_changes
                .push(change(None, wb.modes.clone(), wa.modes.clone()));
        }
        let ports: BTreeSet<u32> = wb.ports.keys().chain(wa.ports.keys()).copied().collect();
        for port in ports {
            let (from, to) = (port_modes(before, wb, port), port_modes(after, wa, port));
            // A port following the workload mode both times is covered by the workload change.
            let own = wb.ports.contains_key(&port) || wa.ports.contains_key(&port);
            let same_as_workload = modes(&from) == modes(&wb.modes) && modes(&to) == modes(&wa.modes);
            if own && modes(&from) != modes(&to) && !same_as_workload {
                e.changes.push(change(Some(port), from, to));
            }
        }
    }
    let before_f: HashSet<&Finding> = before.findings.iter().collect();
    let after_f: HashSet<&Finding> = after.findings.iter().collect();
    e.findings_created = after
        .findings
        .iter()
        .filter(|f| !before_f.contains(f))
        .cloned()
        .collect();
    e.findings_resolved = before
        .findings
        .iter()
        .filter(|f| !after_f.contains(f))
        .cloned()
        .collect();
    e
}

/// Analyses a snapshot before and after hypothetical changes and compares.
pub fn what_if(snapshot: &Snapshot, changes: &[PolicyChange]) -> Effects {
    let after = apply_changes(snapshot, changes);
    effects(&analyze(snapshot), &analyze(&after))
}
