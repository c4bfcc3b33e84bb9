//! The whole-cluster analysis: per-pod resolution, workload and namespace views, findings.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::findings::{Finding, FindingCode, ObjectRef, plural, short_list};
use super::hosts::ServiceIndex;
use super::membership::{Membership, PodMesh, pod_mesh};
use super::resolve::{Level, PodPolicy, PolicyClass, PolicyIndex, Resolved};
use super::workload::{WorkloadRef, workload_of};
use crate::model::{Created, InboundCapture, Labels, Mode, ObjectKey, Policy, PolicyMode, Snapshot, TlsMode};

/// The result for one pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodResult {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Index of its workload in [`Analysis::workloads`].
    pub workload: usize,
    /// Membership and intent.
    pub mesh: PodMesh,
    /// Composed policy.
    pub policy: PodPolicy,
    /// Ports the sidecar intercepts.
    pub inbound: InboundCapture,
}

impl PodResult {
    /// Whether a proxy enforces the policy on `port` of this pod: the pod is in the mesh and,
    /// with a sidecar, the port is intercepted.
    pub fn enforced_on(&self, port: u32) -> bool {
        match self.mesh.membership {
            Membership::None => false,
            Membership::Ambient => true,
            Membership::Sidecar | Membership::NativeSidecar => self.inbound.intercepts(port),
        }
    }
}

/// How a workload's pods are in the mesh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeshSummary {
    /// Every pod has a sidecar (classic or native).
    Sidecar,
    /// Every pod is captured by ambient.
    Ambient,
    /// No pod is in the mesh.
    None,
    /// Pods differ.
    Mixed,
}

impl fmt::Display for MeshSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MeshSummary::Sidecar => "sidecar",
            MeshSummary::Ambient => "ambient",
            MeshSummary::None => "none",
            MeshSummary::Mixed => "mixed",
        })
    }
}

/// One workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadView {
    /// The workload.
    pub workload: WorkloadRef,
    /// Number of pods.
    pub pods: usize,
    /// Pods in the mesh.
    pub meshed_pods: usize,
    /// Mesh state.
    pub mesh: MeshSummary,
    /// Distinct resolved modes over its pods (one when pods agree).
    pub modes: Vec<Resolved>,
    /// Ports with their own setting: distinct resolved modes over the pods.
    pub ports: BTreeMap<u32, Vec<Resolved>>,
    /// Ports excluded from interception on some pod (`excludeInboundPorts`).
    pub bypassed_ports: BTreeSet<u32>,
    /// When `includeInboundPorts` limits interception: the intercepted ports.
    pub intercepted_only: Option<BTreeSet<u32>>,
    /// Pods that should have a sidecar and do not (restart needed).
    pub restart_needed: usize,
    /// Indices of its pods in [`Analysis::pods`] (not serialized).
    #[serde(skip)]
    pub pod_indices: Vec<usize>,
}

impl WorkloadView {
    /// `STRICT`, or `STRICT,PERMISSIVE` when pods differ.
    pub fn mode_label(&self) -> String {
        let modes: BTreeSet<Mode> = self.modes.iter().map(|r| r.mode).collect();
        modes
            .iter()
            .rev()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Where the mode comes from (`namespace app/default`; several joined with `; `).
    pub fn policy_label(&self) -> String {
        let sources: BTreeSet<String> = self.modes.iter().map(|r| r.source.to_string()).collect();
        sources.into_iter().collect::<Vec<_>>().join("; ")
    }

    /// Whether pods resolve differently.
    pub fn is_mixed(&self) -> bool {
        self.modes.len() > 1 || self.mesh == MeshSummary::Mixed
    }
}

/// Whether a namespace could be switched to STRICT without breaking traffic known to the
/// snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum StrictReady {
    /// No pods: nothing to decide (`-`).
    NoPods,
    /// Yes.
    Yes,
    /// No, with every reason; the first is the most important.
    No {
        /// Reasons (`1 pod outside mesh`, `DestinationRule disables TLS` ...).
        reasons: Vec<String>,
    },
    /// Unknown: what the verdict depends on could not be read (telemetry); never a pass.
    Unknown {
        /// Why (`telemetry could not be read` ...).
        reasons: Vec<String>,
    },
}

impl fmt::Display for StrictReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictReady::NoPods => f.write_str("-"),
            StrictReady::Yes => f.write_str("yes"),
            StrictReady::No { reasons } => write!(f, "no ({})", reasons.first().map_or("", String::as_str)),
            StrictReady::Unknown { reasons } => {
                write!(f, "? ({})", reasons.first().map_or("", String::as_str))
            }
        }
    }
}

/// One namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceView {
    /// Name.
    pub name: String,
    /// Namespace-level mode (mesh + namespace policy) with provenance.
    pub mode: Resolved,
    /// Pods.
    pub pods: usize,
    /// Pods in the mesh.
    pub meshed_pods: usize,
    /// Workload policies in force (winning for at least one pod).
    pub workload_overrides: Vec<ObjectKey>,
    /// STRICT readiness.
    pub strict_ready: StrictReady,
}

/// Everything `status` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// Root namespace used.
    pub root_namespace: String,
    /// Per pod, in snapshot order.
    pub pods: Vec<PodResult>,
    /// Workloads, sorted by namespace, kind, name.
    pub workloads: Vec<WorkloadView>,
    /// Namespaces, sorted by name.
    pub namespaces: Vec<NamespaceView>,
    /// Policies, in Istio's order (oldest first).
    pub policies: Vec<PolicyView>,
    /// Findings, sorted by severity, code, object.
    pub findings: Vec<Finding>,
}

/// One PeerAuthentication: where it sits and whether Istio uses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    /// The policy.
    pub policy: ObjectKey,
    /// Its class.
    pub class: PolicyClass,
    /// `mtls.mode` as written.
    pub mode: PolicyMode,
    /// Ports of `portLevelMtls`.
    pub ports: BTreeMap<u32, PolicyMode>,
    /// Creation time.
    pub created: Created,
    /// Whether it decides anything: the honoured mesh- or namespace-wide policy, or a workload
    /// policy winning for at least one pod.
    pub in_force: bool,
    /// Pods in its scope (namespace or mesh for wide policies, selected pods for workload
    /// policies, winning or not).
    pub pods: usize,
    /// Why it is not in force (empty when it is).
    pub note: String,
}

impl Analysis {
    /// The workload view of a workload.
    pub fn workload(&self, w: &WorkloadRef) -> Option<&WorkloadView> {
        self.workloads.iter().find(|v| &v.workload == w)
    }

    /// The namespace view of a namespace.
    pub fn namespace(&self, name: &str) -> Option<&NamespaceView> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// Findings with a given code.
    pub fn findings_with(&self, code: FindingCode) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.code == code)
    }
}

fn pa_ref(k: &ObjectKey) -> ObjectRef {
    ObjectRef::new("PeerAuthentication", &k.namespace, &k.name)
}

fn wl_ref(w: &WorkloadRef) -> ObjectRef {
    ObjectRef::new(&w.kind, &w.namespace, &w.name)
}

fn push_distinct<T: PartialEq + Ord>(v: &mut Vec<T>, x: T) {
    if let Err(i) = v.binary_search(&x) {
        v.insert(i, x);
    }
}

/// Analyses a snapshot: resolves every pod, builds the views, derives the findings.
///
/// Cost is linear in pods plus policies (pods only meet the policies of their own namespace),
/// plus, for DestinationRules that disable TLS, the pods of the Services they target.
pub fn analyze(snapshot: &Snapshot) -> Analysis {
    let index = PolicyIndex::new(snapshot);
    let empty = Labels::new();
    let ns_labels: HashMap<&str, &Labels> = snapshot
        .namespaces
        .iter()
        .map(|n| (n.name.as_str(), &n.labels))
        .collect();

    // Pods and workloads.
    let mut workload_ids: HashMap<WorkloadRef, usize> = HashMap::new();
    let mut workloads: Vec<WorkloadView> = Vec::new();
    let mut pods = Vec::with_capacity(snapshot.pods.len());
    for (i, p) in snapshot.pods.iter().enumerate() {
        let mesh = pod_mesh(ns_labels.get(p.namespace.as_str()).copied().unwrap_or(&empty), p);
        let policy = index.resolve(&p.namespace, &p.labels);
        let wref = workload_of(p);
        let wi = *workload_ids.entry(wref.clone()).or_insert_with(|| {
            workloads.push(WorkloadView {
                workload: wref,
                pods: 0,
                meshed_pods: 0,
                mesh: MeshSummary::None,
                modes: Vec::new(),
                ports: BTreeMap::new(),
                bypassed_ports: BTreeSet::new(),
                intercepted_only: None,
                restart_needed: 0,
                pod_indices: Vec::new(),
            });
            workloads.len() - 1
        });
        let w = &mut workloads[wi];
        let this_mesh = match mesh.membership {
            Membership::Sidecar | Membership::NativeSidecar => MeshSummary::Sidecar,
            Membership::Ambient => MeshSummary::Ambient,
            Membership::None => MeshSummary::None,
        };
        w.mesh = if w.pods == 0 || w.mesh == this_mesh {
            this_mesh
        } else {
            MeshSummary::Mixed
        };
        w.pods += 1;
        w.meshed_pods += usize::from(mesh.membership.is_meshed());
        w.restart_needed += usize::from(mesh.restart_needed);
        push_distinct(&mut w.modes, policy.mode.clone());
        for (port, r) in &policy.ports {
            push_distinct(w.ports.entry(*port).or_default(), r.clone());
        }
        w.bypassed_ports.extend(p.inbound.excluded.iter().copied());
        if let Some(inc) = &p.inbound.included {
            w.intercepted_only
                .get_or_insert_with(BTreeSet::new)
                .extend(inc.iter().copied());
        }
        w.pod_indices.push(i);
        pods.push(PodResult {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            workload: wi,
            mesh,
            policy,
            inbound: p.inbound.clone(),
        });
    }
    // A port set on some pods only: the others use their workload mode on it.
    for w in &mut workloads {
        let keys: Vec<u32> = w.ports.keys().copied().collect();
        for port in keys {
            for &pi in &w.pod_indices {
                let r = pods[pi].policy.mode_for_port(port).clone();
                push_distinct(w.ports.get_mut(&port).expect("key exists"), r);
            }
        }
    }
    // Stable workload order, with pod back-references renumbered.
    let mut order: Vec<usize> = (0..workloads.len()).collect();
    order.sort_by(|&a, &b| workloads[a].workload.cmp(&workloads[b].workload));
    let mut new_id = vec![0; workloads.len()];
    for (new, &old) in order.iter().enumerate() {
        new_id[old] = new;
    }
    for p in &mut pods {
        p.workload = new_id[p.workload];
    }
    let mut slots: Vec<Option<WorkloadView>> = workloads.into_iter().map(Some).collect();
    let workloads: Vec<WorkloadView> = order
        .iter()
        .map(|&o| slots[o].take().expect("each once"))
        .collect();

    let mut findings = Vec::new();
    policy_findings(snapshot, &index, &pods, &mut findings);
    workload_findings(&pods, &workloads, &mut findings);
    let dr = destination_rule_findings(snapshot, &pods, &mut findings);
    disable_findings(&index, &pods, &workloads, &dr.plaintext_pods, &mut findings);
    unenforced_findings(&pods, &workloads, &mut findings);
    if snapshot.auto_mtls_disabled {
        auto_mtls_findings(snapshot, &pods, &mut findings);
    }
    let namespaces = namespace_views(snapshot, &index, &pods, &dr.plaintext_namespaces);
    let policies = policy_views(snapshot, &index, &pods, &namespaces);
    Finding::sort(&mut findings);
    Analysis {
        root_namespace: snapshot.root_namespace.clone(),
        pods,
        workloads,
        namespaces,
        policies,
        findings,
    }
}

fn policy_views(
    snapshot: &Snapshot,
    index: &PolicyIndex<'_>,
    pods: &[PodResult],
    namespaces: &[NamespaceView],
) -> Vec<PolicyView> {
    let root = index.root_namespace();
    let mut selected: HashMap<&ObjectKey, usize> = HashMap::new();
    let mut winning: HashMap<&ObjectKey, usize> = HashMap::new();
    for p in pods {
        for k in &p.policy.matching_workload_policies {
            *selected.entry(k).or_default() += 1;
        }
        if let Some(k) = &p.policy.workload_policy {
            *winning.entry(k).or_default() += 1;
        }
    }
    let ns_pods: HashMap<&str, usize> = namespaces.iter().map(|n| (n.name.as_str(), n.pods)).collect();
    let mut sorted: Vec<&Policy> = snapshot.policies.iter().collect();
    sorted.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    sorted
        .into_iter()
        .map(|p| {
            let key = p.key();
            let class = PolicyClass::of(p, root);
            let (in_force, pods_in_scope, note) = match class {
                PolicyClass::MeshWide | PolicyClass::NamespaceWide => {
                    let honoured = index
                        .namespace_policy(&p.namespace)
                        .is_some_and(|h| h.key() == key);
                    let n = if class == PolicyClass::MeshWide {
                        pods.len()
                    } else {
                        ns_pods.get(p.namespace.as_str()).copied().unwrap_or(0)
                    };
                    let note = match index.namespace_policy(&p.namespace) {
                        Some(h) if !honoured => format!("ignored: {} is older", h.name),
                        _ => String::new(),
                    };
                    (honoured, n, note)
                }
                PolicyClass::Workload => {
                    let n = selected.get(&key).copied().unwrap_or(0);
                    let wins = winning.get(&key).copied().unwrap_or(0);
                    let note = if n == 0 {
                        "selects no pod".to_string()
                    } else if wins == 0 {
                        "shadowed: an older workload policy wins on all its pods".to_string()
                    } else {
                        String::new()
                    };
                    (wins > 0, n, note)
                }
                PolicyClass::RootSelector => {
                    (false, 0, "ignored: selector in the root namespace".to_string())
                }
            };
            PolicyView {
                policy: key,
                class,
                mode: p.mode.clone(),
                ports: p.port_level.clone(),
                created: p.created,
                in_force,
                pods: pods_in_scope,
                note,
            }
        })
        .collect()
}

fn policy_findings(snapshot: &Snapshot, index: &PolicyIndex<'_>, pods: &[PodResult], out: &mut Vec<Finding>) {
    let root = index.root_namespace();
    // Shadowed wide policies.
    let mut namespaces: Vec<&str> = index.namespaces().collect();
    namespaces.sort_unstable();
    for ns in &namespaces {
        let wide = index.wide_policies(ns);
        if let Some((winner, rest)) = wide.split_first() {
            for p in rest {
                let (code, scope) = if *ns == root {
                    (FindingCode::IgnoredMeshPolicy, "mesh-wide".to_string())
                } else {
                    (
                        FindingCode::IgnoredNamespacePolicy,
                        format!("namespace-wide in {ns}"),
                    )
                };
                out.push(Finding::new(
                    code,
                    pa_ref(&p.key()),
                    format!(
                        "ignored: {} (created {}) is an older {scope} policy and Istio honours only the oldest",
                        winner.name, winner.created
                    ),
                ));
            }
        }
        for p in wide {
            if !p.port_level.is_empty() {
                out.push(Finding::new(
                    FindingCode::PortLevelWithoutSelector,
                    pa_ref(&p.key()),
                    format!(
                        "portLevelMtls on a policy without selector is ignored (ports {})",
                        short_list(&p.port_level.keys().collect::<Vec<_>>(), 5)
                    ),
                ));
            }
        }
    }
    for p in index.root_selector_policies() {
        out.push(Finding::new(
            FindingCode::RootSelectorPolicyIgnored,
            pa_ref(&p.key()),
            format!(
                "a policy with a selector in the root namespace {root} is ignored (neither mesh-wide nor workload)"
            ),
        ));
    }
    // Per-policy checks.
    let mut matched: HashMap<&ObjectKey, usize> = HashMap::new();
    for p in pods {
        for k in &p.policy.matching_workload_policies {
            *matched.entry(k).or_default() += 1;
        }
    }
    let known_ns: HashSet<&str> = snapshot.namespaces.iter().map(|n| n.name.as_str()).collect();
    for p in &snapshot.policies {
        let key = p.key();
        if !p.invalid_ports.is_empty() {
            out.push(Finding::new(
                FindingCode::InvalidPortLevelKey,
                pa_ref(&key),
                format!(
                    "portLevelMtls keys that are not ports in 1-65535 are ignored: {}",
                    p.invalid_ports.join(", ")
                ),
            ));
        }
        let mut unknown_values: Vec<&str> = Vec::new();
        if let PolicyMode::Unknown(v) = &p.mode {
            unknown_values.push(v);
        }
        unknown_values.extend(p.port_level.values().filter_map(|m| match m {
            PolicyMode::Unknown(v) => Some(v.as_str()),
            _ => None,
        }));
        if !unknown_values.is_empty() {
            out.push(Finding::new(
                FindingCode::UnknownMode,
                pa_ref(&key),
                format!(
                    "unknown mode {} treated as UNSET (inherits); a newer Istio may enforce it differently",
                    unknown_values.join(", ")
                ),
            ));
        }
        let fields: Vec<&str> = p
            .unknowns
            .iter()
            .filter_map(|u| u.strip_prefix("unknown field "))
            .collect();
        if !fields.is_empty() {
            out.push(Finding::new(
                FindingCode::UnknownField,
                pa_ref(&key),
                format!(
                    "fields unknown to this version are ignored: {}",
                    fields.join(", ")
                ),
            ));
        }
        let is_workload = p.has_selector() && p.namespace != root;
        let pods_loaded = known_ns.is_empty() || known_ns.contains(p.namespace.as_str());
        if is_workload && pods_loaded && !matched.contains_key(&key) {
            let sel: Vec<String> = p.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push(Finding::new(
                FindingCode::SelectorMatchesNoPod,
                pa_ref(&key),
                format!("selector {} matches no pod in {}", sel.join(","), p.namespace),
            ));
        }
    }
    for d in &snapshot.destination_rules {
        let fields: Vec<&str> = d
            .unknowns
            .iter()
            .filter_map(|u| u.strip_prefix("unknown field "))
            .collect();
        if !fields.is_empty() {
            out.push(Finding::new(
                FindingCode::UnknownField,
                ObjectRef::new("DestinationRule", &d.namespace, &d.name),
                format!(
                    "fields unknown to this version are ignored: {}",
                    fields.join(", ")
                ),
            ));
        }
    }
    for problem in &snapshot.problems {
        let code = if problem.kind == "DestinationRule" {
            FindingCode::MalformedDestinationRule
        } else {
            FindingCode::MalformedPolicy
        };
        out.push(Finding::new(
            code,
            ObjectRef::new(&problem.kind, &problem.namespace, &problem.name),
            format!("cannot be read, ignored here: {}", problem.message),
        ));
    }
}

fn workload_findings(pods: &[PodResult], workloads: &[WorkloadView], out: &mut Vec<Finding>) {
    for w in workloads {
        let object = wl_ref(&w.workload);
        let wpods: Vec<&PodResult> = w.pod_indices.iter().map(|&i| &pods[i]).collect();
        if let Some(p) = wpods
            .iter()
            .find(|p| p.policy.matching_workload_policies.len() > 1)
        {
            let all = &p.policy.matching_workload_policies;
            out.push(Finding::new(
                FindingCode::MultipleWorkloadPolicies,
                object.clone(),
                format!(
                    "{} select it; Istio uses the oldest, {}, and ignores {}",
                    plural(all.len(), "workload policy").replace("policys", "policies"),
                    all[0].name,
                    short_list(&all[1..].iter().map(|k| &k.name).collect::<Vec<_>>(), 3)
                ),
            ));
        }
        if w.restart_needed > 0 {
            let reason = wpods
                .iter()
                .find(|p| p.mesh.restart_needed)
                .map(|p| p.mesh.intent_reason.clone())
                .unwrap_or_default();
            out.push(Finding::new(
                FindingCode::SidecarMissing,
                object.clone(),
                format!(
                    "{} of {} without sidecar although injection is enabled ({reason}): restart needed",
                    w.restart_needed,
                    plural(w.pods, "pod")
                ),
            ));
        }
        let not_captured: Vec<&&PodResult> = wpods.iter().filter(|p| p.mesh.ambient_not_captured).collect();
        if !not_captured.is_empty() {
            let pending = not_captured.iter().filter(|p| p.mesh.ambient_pending).count();
            out.push(Finding::new(
                FindingCode::AmbientNotCaptured,
                object.clone(),
                format!(
                    "{} of {} not captured although ambient is enabled ({pending} pending enrollment)",
                    not_captured.len(),
                    plural(w.pods, "pod")
                ),
            ));
        }
        // Port-level settings on ports the sidecar does not intercept.
        let mut bypassed: BTreeSet<u32> = BTreeSet::new();
        for p in &wpods {
            if matches!(p.mesh.membership, Membership::Sidecar | Membership::NativeSidecar) {
                bypassed.extend(p.policy.ports.keys().filter(|port| !p.inbound.intercepts(**port)));
            }
        }
        if !bypassed.is_empty() {
            out.push(Finding::new(
                FindingCode::PortLevelOnBypassedPort,
                object.clone(),
                format!(
                    "port-level mTLS on ports the sidecar does not intercept has no effect: {}",
                    short_list(&bypassed.iter().collect::<Vec<_>>(), 5)
                ),
            ));
        }
    }
}

/// What the DestinationRule pass learnt for later passes.
struct DrOutcome {
    /// Pods all of whose clients are told (rule-level DISABLE) to send plaintext.
    plaintext_pods: HashSet<usize>,
    /// Namespaces with Services a rule sends plaintext to (a STRICT switch would break them).
    plaintext_namespaces: HashSet<String>,
}

fn destination_rule_findings(snapshot: &Snapshot, pods: &[PodResult], out: &mut Vec<Finding>) -> DrOutcome {
    let mut outcome = DrOutcome {
        plaintext_pods: HashSet::new(),
        plaintext_namespaces: HashSet::new(),
    };
    let services = ServiceIndex::new(&snapshot.services, &snapshot.cluster_domain);
    let mut pods_by_ns: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in snapshot.pods.iter().enumerate() {
        pods_by_ns.entry(p.namespace.as_str()).or_default().push(i);
    }
    for dr in &snapshot.destination_rules {
        let object = ObjectRef::new("DestinationRule", &dr.namespace, &dr.name);
        let targets = services.lookup(&dr.host, &dr.namespace);
        if targets.is_empty()
            && let Some(s) = services.probable_service(&dr.host)
        {
            out.push(Finding::new(
                FindingCode::DestinationRuleHostNotFqdn,
                object.clone(),
                format!(
                    "host {} is matched literally by Istio and designates no Service; write {}.{}.svc.{}",
                    dr.host, s.name, s.namespace, snapshot.cluster_domain
                ),
            ));
        }
        for setting in dr.tls.iter().filter(|t| t.mode == TlsMode::Disable) {
            let mut strict_pods = 0usize;
            let mut meshed_pods = 0usize;
            let mut strict_workloads: BTreeSet<String> = BTreeSet::new();
            for svc in &targets {
                let Some(selector) = &svc.selector else { continue };
                outcome.plaintext_namespaces.insert(svc.namespace.clone());
                let workload_port = setting.port.map(|p| svc.target_port_of(p));
                for &pi in pods_by_ns
                    .get(svc.namespace.as_str())
                    .map_or(&[][..], Vec::as_slice)
                {
                    let labels = &snapshot.pods[pi].labels;
                    let selected = selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                        && setting
                            .subset_labels
                            .iter()
                            .all(|(k, v)| labels.get(k) == Some(v));
                    if !selected {
                        continue;
                    }
                    let r = &pods[pi];
                    if setting.port.is_none() && setting.subset.is_none() {
                        outcome.plaintext_pods.insert(pi);
                    }
                    if !r.mesh.membership.is_meshed() {
                        continue;
                    }
                    meshed_pods += 1;
                    let strict = match workload_port {
                        // Rule level: the pod's mode, or any port with its own STRICT.
                        None => {
                            r.policy.mode.mode == Mode::Strict
                                || r.policy.ports.values().any(|p| p.mode == Mode::Strict)
                        }
                        Some(Some(tp)) => {
                            r.enforced_on(tp) && r.policy.mode_for_port(tp).mode == Mode::Strict
                        }
                        // Named target port: not resolvable from metadata, use the pod mode.
                        Some(None) => r.policy.mode.mode == Mode::Strict,
                    };
                    if strict {
                        strict_pods += 1;
                        strict_workloads.insert(format!("{}/{}", svc.namespace, svc.name));
                    }
                }
            }
            let clients = dr_clients(dr);
            let place = match (&setting.subset, setting.port) {
                (None, None) => String::new(),
                (None, Some(p)) => format!(" on port {p}"),
                (Some(s), None) => format!(" for subset {s}"),
                (Some(s), Some(p)) => format!(" for subset {s} on port {p}"),
            };
            if strict_pods > 0 {
                out.push(Finding::new(
                    FindingCode::DestinationRuleDisablesTls,
                    object.clone(),
                    format!(
                        "tls.mode DISABLE{place} toward {} whose {} {} mTLS (STRICT): requests{clients} fail",
                        short_list(&strict_workloads.iter().collect::<Vec<_>>(), 3),
                        plural(strict_pods, "pod"),
                        if strict_pods == 1 { "requires" } else { "require" }
                    ),
                ));
            } else if meshed_pods > 0 {
                out.push(Finding::new(
                    FindingCode::DestinationRulePlaintext,
                    object.clone(),
                    format!(
                        "tls.mode DISABLE{place}: clients{clients} send plaintext to {} meshed {} of {}",
                        meshed_pods,
                        if meshed_pods == 1 { "pod" } else { "pods" },
                        dr.host
                    ),
                ));
            }
        }
    }
    outcome
}

/// Which clients a DestinationRule applies to, for messages (empty: every client).
fn dr_clients(dr: &crate::model::DestinationRuleInfo) -> String {
    let mut parts = Vec::new();
    let exported: Vec<String> = dr
        .export_to
        .iter()
        .filter(|e| e.as_str() != "*")
        .map(|e| if e == "." { dr.namespace.clone() } else { e.clone() })
        .collect();
    if !exported.is_empty() && !dr.export_to.iter().any(|e| e == "*") {
        parts.push(format!("in {}", exported.join(",")));
    }
    if !dr.workload_selector.is_empty() {
        let sel: Vec<String> = dr
            .workload_selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.push(format!("selected by {}", sel.join(",")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" from clients {}", parts.join(" "))
    }
}

fn disable_findings(
    index: &PolicyIndex<'_>,
    pods: &[PodResult],
    workloads: &[WorkloadView],
    plaintext_pods: &HashSet<usize>,
    out: &mut Vec<Finding>,
) {
    for w in workloads {
        let mut ambient_disable = 0usize;
        let mut disabled_for_clients: BTreeSet<String> = BTreeSet::new();
        let mut via: BTreeSet<String> = BTreeSet::new();
        for &pi in &w.pod_indices {
            let p = &pods[pi];
            let disabled: Vec<&Resolved> = std::iter::once(&p.policy.mode)
                .chain(p.policy.ports.values())
                .filter(|r| r.mode == Mode::Disable)
                .collect();
            if disabled.is_empty() {
                continue;
            }
            match p.mesh.membership {
                Membership::Ambient => ambient_disable += 1,
                Membership::Sidecar | Membership::NativeSidecar => {
                    // Clients' automatic mTLS steps back only for a namespace- or mesh-level
                    // DISABLE, or when a DestinationRule tells them to.
                    let ns_disabled = index.namespace_mode(&p.namespace).mode == Mode::Disable;
                    if ns_disabled || plaintext_pods.contains(&pi) {
                        continue;
                    }
                    for r in disabled {
                        if matches!(r.source.level, Level::Workload | Level::Port) {
                            let what = if r.source.level == Level::Port {
                                let ports: Vec<String> = p
                                    .policy
                                    .ports
                                    .iter()
                                    .filter(|(_, r)| r.mode == Mode::Disable)
                                    .map(|(port, _)| port.to_string())
                                    .collect();
                                format!("port {}", ports.join(","))
                            } else {
                                "all ports".to_string()
                            };
                            disabled_for_clients.insert(what);
                            via.insert(
                                r.source
                                    .policy
                                    .as_ref()
                                    .map(ToString::to_string)
                                    .unwrap_or_default(),
                            );
                        }
                    }
                }
                Membership::None => {}
            }
        }
        let object = wl_ref(&w.workload);
        if !disabled_for_clients.is_empty() {
            out.push(Finding::new(
                FindingCode::WorkloadDisableWithMtlsClients,
                object.clone(),
                format!(
                    "workload-level DISABLE ({}) by {}: meshed clients still send mTLS and fail; disable at namespace level or add a DestinationRule with tls.mode DISABLE",
                    disabled_for_clients.into_iter().collect::<Vec<_>>().join("; "),
                    via.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if ambient_disable > 0 {
            out.push(Finding::new(
                FindingCode::AmbientDisableUnsupported,
                object,
                format!(
                    "{} {} to DISABLE, which ambient mode does not support (ztunnel still accepts plaintext and mTLS)",
                    plural(ambient_disable, "ambient pod"),
                    if ambient_disable == 1 { "resolves" } else { "resolve" }
                ),
            ));
        }
    }
}

fn unenforced_findings(pods: &[PodResult], workloads: &[WorkloadView], out: &mut Vec<Finding>) {
    // Per namespace: pods outside the mesh in a STRICT or DISABLE scope.
    let mut by_ns: BTreeMap<&str, (usize, BTreeSet<Mode>, Vec<String>)> = BTreeMap::new();
    for w in workloads {
        let mut count = 0;
        let mut modes = BTreeSet::new();
        for &pi in &w.pod_indices {
            let p = &pods[pi];
            if !p.mesh.membership.is_meshed() && p.policy.mode.mode != Mode::Permissive {
                count += 1;
                modes.insert(p.policy.mode.mode);
            }
        }
        if count > 0 {
            let e = by_ns.entry(w.workload.namespace.as_str()).or_default();
            e.0 += count;
            e.1.extend(modes);
            e.2.push(format!("{} {}", w.workload.kind, w.workload.name));
        }
    }
    for (ns, (count, modes, names)) in by_ns {
        let modes: Vec<&str> = modes.iter().rev().map(|m| m.as_str()).collect();
        out.push(Finding::new(
            FindingCode::UnenforcedPods,
            ObjectRef::namespace(ns),
            format!(
                "{} {} to {} but {} no sidecar or ambient capture, so nothing enforces it ({})",
                plural(count, "pod"),
                if count == 1 { "resolves" } else { "resolve" },
                modes.join("/"),
                if count == 1 { "has" } else { "have" },
                short_list(&names, 3)
            ),
        ));
    }
}

fn auto_mtls_findings(snapshot: &Snapshot, pods: &[PodResult], out: &mut Vec<Finding>) {
    let strict = pods
        .iter()
        .filter(|p| p.mesh.membership.is_meshed() && p.policy.mode.mode == Mode::Strict)
        .count();
    if strict > 0 {
        out.push(Finding::new(
            FindingCode::AutoMtlsDisabled,
            ObjectRef::new("MeshConfig", &snapshot.istio_namespace, "enableAutoMtls"),
            format!(
                "automatic mTLS is off: clients send plaintext unless a DestinationRule sets tls.mode ISTIO_MUTUAL, and {} {} mTLS",
                plural(strict, "STRICT pod"),
                if strict == 1 { "requires" } else { "require" }
            ),
        ));
    }
}

fn namespace_views(
    snapshot: &Snapshot,
    index: &PolicyIndex<'_>,
    pods: &[PodResult],
    plaintext_namespaces: &HashSet<String>,
) -> Vec<NamespaceView> {
    #[derive(Default)]
    struct Acc {
        pods: usize,
        meshed: usize,
        outside: usize,
        overrides: BTreeSet<ObjectKey>,
    }
    let mut acc: BTreeMap<&str, Acc> = snapshot
        .namespaces
        .iter()
        .map(|n| (n.name.as_str(), Acc::default()))
        .collect();
    for p in pods {
        let a = acc.entry(p.namespace.as_str()).or_default();
        a.pods += 1;
        if p.mesh.membership.is_meshed() {
            a.meshed += 1;
        } else {
            a.outside += 1;
        }
        if let Some(k) = &p.policy.workload_policy {
            a.overrides.insert(k.clone());
        }
    }
    acc.into_iter()
        .map(|(name, a)| {
            let mut reasons = Vec::new();
            if a.outside > 0 {
                reasons.push(format!("{} outside mesh", plural(a.outside, "pod")));
            }
            if plaintext_namespaces.contains(name) {
                reasons.push("DestinationRule disables TLS".to_string());
            }
            let strict_ready = if a.pods == 0 {
                StrictReady::NoPods
            } else if reasons.is_empty() {
                StrictReady::Yes
            } else {
                StrictReady::No { reasons }
            };
            NamespaceView {
                name: name.to_string(),
                mode: index.namespace_mode(name),
                pods: a.pods,
                meshed_pods: a.meshed,
                workload_overrides: a.overrides.into_iter().collect(),
                strict_ready,
            }
        })
        .collect()
}
