//! Policy classification and mode composition (Istio's `ComposePeerAuthentication`).
//!
//! Policies are indexed once by namespace ([`PolicyIndex`]); resolving a pod then costs a map
//! lookup plus a scan of the workload policies of its own namespace.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Labels, Mode, ObjectKey, Policy, Snapshot};

/// Where a policy sits in Istio's hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyClass {
    /// Root namespace, no selector (or empty `matchLabels`).
    MeshWide,
    /// Other namespace, no selector.
    NamespaceWide,
    /// Other namespace, non-empty selector.
    Workload,
    /// Root namespace with a selector: Istio ignores it.
    RootSelector,
}

impl PolicyClass {
    /// Classifies a policy for a root namespace.
    pub fn of(policy: &Policy, root_namespace: &str) -> Self {
        match (policy.namespace == root_namespace, policy.has_selector()) {
            (true, false) => PolicyClass::MeshWide,
            (true, true) => PolicyClass::RootSelector,
            (false, false) => PolicyClass::NamespaceWide,
            (false, true) => PolicyClass::Workload,
        }
    }

    /// Human name (`mesh-wide`, `namespace-wide`, `workload`, `root-selector`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyClass::MeshWide => "mesh-wide",
            PolicyClass::NamespaceWide => "namespace-wide",
            PolicyClass::Workload => "workload",
            PolicyClass::RootSelector => "root-selector",
        }
    }
}

/// The level that decided a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// No policy set a mode: Istio's default PERMISSIVE.
    Default,
    /// The mesh-wide policy.
    Mesh,
    /// The namespace-wide policy.
    Namespace,
    /// The workload policy.
    Workload,
    /// A `portLevelMtls` entry of the workload policy.
    Port,
}

/// Which policy set a mode, at which level (`policy` is `None` for the default).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Provenance {
    /// The level.
    pub level: Level,
    /// The policy, `namespace/name`.
    pub policy: Option<ObjectKey>,
}

impl Provenance {
    /// Istio's default (no policy).
    pub fn default_mode() -> Self {
        Provenance {
            level: Level::Default,
            policy: None,
        }
    }

    fn of(level: Level, p: &Policy) -> Self {
        Provenance {
            level,
            policy: Some(p.key()),
        }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Default => return f.write_str("istio default"),
            Level::Mesh => "mesh",
            Level::Namespace => "namespace",
            Level::Workload => "workload",
            Level::Port => "port",
        };
        match &self.policy {
            Some(k) => write!(f, "{level} {k}"),
            None => f.write_str(level),
        }
    }
}

/// A mode with the policy that set it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Resolved {
    /// The effective mode.
    pub mode: Mode,
    /// Who set it.
    pub source: Provenance,
}

impl Resolved {
    /// Istio's default: PERMISSIVE, no policy.
    pub fn istio_default() -> Self {
        Resolved {
            mode: Mode::Permissive,
            source: Provenance::default_mode(),
        }
    }
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.mode, self.source)
    }
}

/// The composed policy of one pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodPolicy {
    /// Mode of every port without its own setting.
    pub mode: Resolved,
    /// Ports of the winning workload policy that set their own mode (UNSET entries inherit
    /// `mode` and are not listed).
    pub ports: BTreeMap<u32, Resolved>,
    /// The winning workload policy, if any.
    pub workload_policy: Option<ObjectKey>,
    /// Every workload policy matching the pod, oldest (the winner) first.
    pub matching_workload_policies: Vec<ObjectKey>,
}

impl PodPolicy {
    /// The mode on a workload port.
    pub fn mode_for_port(&self, port: u32) -> &Resolved {
        self.ports.get(&port).unwrap_or(&self.mode)
    }
}

/// Policies of one namespace, sorted oldest first.
#[derive(Debug, Default)]
struct NamespacePolicies<'a> {
    /// Namespace-wide (or mesh-wide for the root namespace) policies; the first one counts.
    wide: Vec<&'a Policy>,
    /// Workload policies (empty in the root namespace).
    workload: Vec<&'a Policy>,
    /// Selector policies in the root namespace (ignored).
    root_selector: Vec<&'a Policy>,
}

/// All policies, classified and ordered like Istio (creation time, name, namespace).
#[derive(Debug)]
pub struct PolicyIndex<'a> {
    root_namespace: &'a str,
    by_namespace: HashMap<&'a str, NamespacePolicies<'a>>,
}

impl<'a> PolicyIndex<'a> {
    /// Indexes a snapshot's policies.
    pub fn new(snapshot: &'a Snapshot) -> Self {
        Self::from_policies(&snapshot.root_namespace, &snapshot.policies)
    }

    /// Indexes policies for a root namespace.
    pub fn from_policies(root_namespace: &'a str, policies: &'a [Policy]) -> Self {
        let mut sorted: Vec<&Policy> = policies.iter().collect();
        sorted.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        let mut by_namespace: HashMap<&str, NamespacePolicies> = HashMap::new();
        for p in sorted {
            let e = by_namespace.entry(p.namespace.as_str()).or_default();
            match PolicyClass::of(p, root_namespace) {
                PolicyClass::MeshWide | PolicyClass::NamespaceWide => e.wide.push(p),
                PolicyClass::Workload => e.workload.push(p),
                PolicyClass::RootSelector => e.root_selector.push(p),
            }
        }
        PolicyIndex {
            root_namespace,
            by_namespace,
        }
    }

    /// The root namespace.
    pub fn root_namespace(&self) -> &str {
        self.root_namespace
    }

    /// The mesh-wide policy Istio honours (the oldest), if any.
    pub fn mesh_policy(&self) -> Option<&'a Policy> {
        self.by_namespace
            .get(self.root_namespace)
            .and_then(|n| n.wide.first().copied())
    }

    /// The namespace-wide policy Istio honours in `namespace` (for the root namespace, the mesh
    /// policy).
    pub fn namespace_policy(&self, namespace: &str) -> Option<&'a Policy> {
        self.by_namespace
            .get(namespace)
            .and_then(|n| n.wide.first().copied())
    }

    /// Namespace- or mesh-wide policies of a namespace, oldest first (all but the first are
    /// ignored by Istio).
    pub fn wide_policies(&self, namespace: &str) -> &[&'a Policy] {
        self.by_namespace.get(namespace).map_or(&[], |n| &n.wide)
    }

    /// Workload policies of a namespace, oldest first.
    pub fn workload_policies(&self, namespace: &str) -> &[&'a Policy] {
        self.by_namespace.get(namespace).map_or(&[], |n| &n.workload)
    }

    /// Selector policies in the root namespace (ignored by Istio).
    pub fn root_selector_policies(&self) -> &[&'a Policy] {
        self.by_namespace
            .get(self.root_namespace)
            .map_or(&[], |n| &n.root_selector)
    }

    /// Namespaces that have at least one policy.
    pub fn namespaces(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.by_namespace.keys().copied()
    }

    /// The namespace-level mode of `namespace`: mesh, then namespace policy, no workload
    /// policy. This is also what clients' automatic mTLS sees.
    pub fn namespace_mode(&self, namespace: &str) -> Resolved {
        let mut r = Resolved::istio_default();
        if let Some(m) = self.mesh_policy() {
            apply(&mut r, Level::Mesh, m);
        }
        if namespace != self.root_namespace
            && let Some(n) = self.namespace_policy(namespace)
        {
            apply(&mut r, Level::Namespace, n);
        }
        r
    }

    /// Composes the policy of a pod from its namespace and labels.
    pub fn resolve(&self, namespace: &str, labels: &Labels) -> PodPolicy {
        let mut mode = self.namespace_mode(namespace);
        let matching: Vec<&Policy> = if namespace == self.root_namespace {
            Vec::new()
        } else {
            self.workload_policies(namespace)
                .iter()
                .copied()
                .filter(|p| p.selects(labels))
                .collect()
        };
        let mut ports = BTreeMap::new();
        if let Some(w) = matching.first() {
            apply(&mut mode, Level::Workload, w);
            for (port, pm) in &w.port_level {
                // UNSET (or `{}`) inherits the workload's resolved mode: not listed.
                if let Some(m) = Mode::from_policy(pm) {
                    ports.insert(
                        *port,
                        Resolved {
                            mode: m,
                            source: Provenance::of(Level::Port, w),
                        },
                    );
                }
            }
        }
        PodPolicy {
            mode,
            ports,
            workload_policy: matching.first().map(|p| p.key()),
            matching_workload_policies: matching.iter().map(|p| p.key()).collect(),
        }
    }
}

/// A level replaces the mode only when its mode is set (not UNSET, not unknown).
fn apply(r: &mut Resolved, level: Level, p: &Policy) {
    if let Some(m) = Mode::from_policy(&p.mode) {
        *r = Resolved {
            mode: m,
            source: Provenance::of(level, p),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Created, PolicyMode};

    const ROOT: &str = "istio-system";

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn pol(ns: &str, name: &str, t: i64, mode: PolicyMode) -> Policy {
        Policy::new(ns, name, Created(t), mode)
    }

    fn resolve(policies: &[Policy], ns: &str, l: &Labels) -> PodPolicy {
        PolicyIndex::from_policies(ROOT, policies).resolve(ns, l)
    }

    #[test]
    fn no_policy_is_permissive_by_default() {
        let r = resolve(&[], "app", &Labels::new());
        assert_eq!(r.mode, Resolved::istio_default());
        assert_eq!(r.mode.to_string(), "PERMISSIVE (istio default)");
    }

    #[test]
    fn classification() {
        let sel = labels(&[("app", "a")]);
        assert_eq!(
            PolicyClass::of(&pol(ROOT, "m", 0, PolicyMode::Strict), ROOT),
            PolicyClass::MeshWide
        );
        assert_eq!(
            PolicyClass::of(
                &pol(ROOT, "m", 0, PolicyMode::Strict).with_selector(sel.clone()),
                ROOT
            ),
            PolicyClass::RootSelector
        );
        assert_eq!(
            PolicyClass::of(&pol("x", "n", 0, PolicyMode::Strict), ROOT),
            PolicyClass::NamespaceWide
        );
        assert_eq!(
            PolicyClass::of(&pol("x", "w", 0, PolicyMode::Strict).with_selector(sel), ROOT),
            PolicyClass::Workload
        );
    }

    #[test]
    fn levels_compose_mesh_namespace_workload() {
        let sel = labels(&[("app", "a")]);
        let ps = vec![
            pol(ROOT, "mesh", 1, PolicyMode::Strict),
            pol("app", "ns", 2, PolicyMode::Permissive),
            pol("app", "wl", 3, PolicyMode::Disable).with_selector(sel.clone()),
        ];
        assert_eq!(resolve(&ps[..1], "app", &sel).mode.mode, Mode::Strict);
        assert_eq!(resolve(&ps[..1], "app", &sel).mode.source.level, Level::Mesh);
        let r = resolve(&ps[..2], "app", &sel);
        assert_eq!(
            (r.mode.mode, r.mode.source.to_string()),
            (Mode::Permissive, "namespace app/ns".into())
        );
        let r = resolve(&ps, "app", &sel);
        assert_eq!(
            (r.mode.mode, r.mode.source.level),
            (Mode::Disable, Level::Workload)
        );
        assert_eq!(r.workload_policy, Some(ObjectKey::new("app", "wl")));
        // Another namespace only sees the mesh policy.
        assert_eq!(resolve(&ps, "other", &sel).mode.source.level, Level::Mesh);
    }

    #[test]
    fn unset_inherits_at_every_level() {
        let sel = labels(&[("app", "a")]);
        // Mesh UNSET: default PERMISSIVE, provenance stays the default.
        let ps = vec![pol(ROOT, "mesh", 1, PolicyMode::Unset)];
        assert_eq!(resolve(&ps, "app", &sel).mode, Resolved::istio_default());
        // Namespace UNSET inherits mesh STRICT.
        let ps = vec![
            pol(ROOT, "mesh", 1, PolicyMode::Strict),
            pol("app", "ns", 2, PolicyMode::Unset),
        ];
        let r = resolve(&ps, "app", &sel);
        assert_eq!((r.mode.mode, r.mode.source.level), (Mode::Strict, Level::Mesh));
        // Workload UNSET inherits namespace DISABLE.
        let ps = vec![
            pol(ROOT, "mesh", 1, PolicyMode::Strict),
            pol("app", "ns", 2, PolicyMode::Disable),
            pol("app", "wl", 3, PolicyMode::Unset).with_selector(sel.clone()),
        ];
        let r = resolve(&ps, "app", &sel);
        assert_eq!(
            (r.mode.mode, r.mode.source.level),
            (Mode::Disable, Level::Namespace)
        );
        // ... but it is still the winning workload policy (its ports count).
        assert_eq!(r.workload_policy, Some(ObjectKey::new("app", "wl")));
    }

    #[test]
    fn unknown_mode_is_treated_as_unset() {
        let ps = vec![
            pol(ROOT, "mesh", 1, PolicyMode::Strict),
            pol("app", "ns", 2, PolicyMode::Unknown("QUANTUM".into())),
        ];
        let r = resolve(&ps, "app", &Labels::new());
        assert_eq!((r.mode.mode, r.mode.source.level), (Mode::Strict, Level::Mesh));
    }

    #[test]
    fn oldest_wide_policy_wins_ties_by_name_then_namespace() {
        // Older by time wins even with a later name.
        let ps = vec![
            pol("app", "zzz", 1, PolicyMode::Strict),
            pol("app", "aaa", 2, PolicyMode::Disable),
        ];
        assert_eq!(resolve(&ps, "app", &Labels::new()).mode.mode, Mode::Strict);
        // Same second: the smaller name wins.
        let ps = vec![
            pol("app", "b", 5, PolicyMode::Disable),
            pol("app", "a", 5, PolicyMode::Strict),
        ];
        let idx = PolicyIndex::from_policies(ROOT, &ps);
        assert_eq!(idx.namespace_policy("app").unwrap().name, "a");
        assert_eq!(idx.wide_policies("app").len(), 2);
        // Mesh-wide: same rule.
        let ps = vec![
            pol(ROOT, "y", 7, PolicyMode::Disable),
            pol(ROOT, "x", 7, PolicyMode::Strict),
        ];
        assert_eq!(
            PolicyIndex::from_policies(ROOT, &ps).mesh_policy().unwrap().name,
            "x"
        );
    }

    #[test]
    fn workload_ties_by_name_then_namespace_and_all_labels_required() {
        let sel1 = labels(&[("app", "a")]);
        let sel2 = labels(&[("app", "a"), ("v", "1")]);
        let ps = vec![
            pol("app", "second", 5, PolicyMode::Disable).with_selector(sel2.clone()),
            pol("app", "first", 5, PolicyMode::Strict).with_selector(sel1.clone()),
        ];
        let r = resolve(&ps, "app", &sel2);
        assert_eq!(r.workload_policy.as_ref().unwrap().name, "first");
        assert_eq!(r.matching_workload_policies.len(), 2);
        assert_eq!(r.mode.mode, Mode::Strict);
        // A pod without v=1 matches only the broader policy.
        let r = resolve(&ps, "app", &sel1);
        assert_eq!(r.matching_workload_policies, vec![ObjectKey::new("app", "first")]);
        // The namespace order key is the last tie-break.
        let a = pol("ns-b", "same", 5, PolicyMode::Strict);
        let b = pol("ns-a", "same", 5, PolicyMode::Strict);
        assert!(b.order_key() < a.order_key());
    }

    #[test]
    fn root_selector_policy_is_ignored() {
        let sel = labels(&[("app", "a")]);
        let ps = vec![pol(ROOT, "rs", 1, PolicyMode::Strict).with_selector(sel.clone())];
        let idx = PolicyIndex::from_policies(ROOT, &ps);
        assert_eq!(idx.root_selector_policies().len(), 1);
        assert!(idx.mesh_policy().is_none());
        assert_eq!(idx.resolve("app", &sel).mode, Resolved::istio_default());
        // Not even for pods of the root namespace itself.
        assert_eq!(idx.resolve(ROOT, &sel).mode, Resolved::istio_default());
    }

    #[test]
    fn pods_in_the_root_namespace_get_the_mesh_policy() {
        let ps = vec![pol(ROOT, "mesh", 1, PolicyMode::Strict)];
        let r = resolve(&ps, ROOT, &Labels::new());
        assert_eq!((r.mode.mode, r.mode.source.level), (Mode::Strict, Level::Mesh));
    }

    #[test]
    fn port_level_from_the_winning_workload_policy_only() {
        let sel = labels(&[("app", "a")]);
        let ps = vec![
            pol("app", "ns", 1, PolicyMode::Strict).with_port(8080, PolicyMode::Disable),
            pol("app", "wl", 2, PolicyMode::Unset)
                .with_selector(sel.clone())
                .with_port(9090, PolicyMode::Disable)
                .with_port(9091, PolicyMode::Unset),
            pol("app", "newer", 3, PolicyMode::Strict)
                .with_selector(sel.clone())
                .with_port(7070, PolicyMode::Disable),
        ];
        let r = resolve(&ps, "app", &sel);
        // Namespace policy's port entry ignored; newer workload policy's too.
        assert!(!r.ports.contains_key(&8080) && !r.ports.contains_key(&7070));
        assert_eq!(r.mode_for_port(9090).mode, Mode::Disable);
        assert_eq!(r.mode_for_port(9090).source.level, Level::Port);
        // UNSET port inherits the workload's resolved mode (here the namespace's STRICT).
        assert_eq!(r.mode_for_port(9091).mode, Mode::Strict);
        assert_eq!(r.mode_for_port(8080).source.level, Level::Namespace);
    }
}
