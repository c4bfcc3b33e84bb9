//! The traffic graph (`kubectl mtls graph`): observed edges joined with the effective mode of
//! each destination, and what STRICT would do to them. Pure: telemetry arrives as
//! [`Traffic`], the cluster as a [`Snapshot`] already [analysed](super::analyze).
//!
//! One edge per (source, destination workload, protocol). Its verdict, from the plaintext share
//! and the destination's effective mode on the ports its Service exposes:
//! - `mtls`: every request (or connection) was mutual TLS;
//! - `breaks-under-strict`: plaintext accepted by a PERMISSIVE destination: STRICT would cut it;
//! - `rejected`: plaintext seen in the window toward a destination that is STRICT now: that
//!   caller fails now (Istio's metrics record accepted traffic only, not refused handshakes);
//! - `plaintext-ok`: plaintext toward a destination that accepts it whatever a STRICT rollout
//!   above it says (DISABLE set on the workload or port, or no proxy enforcing on that port);
//! - `unknown`: plaintext toward a workload the snapshot does not show: its mode is unknown, so
//!   the edge is not judged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::analysis::{Analysis, MeshSummary};
use super::hosts::ServiceIndex;
use crate::model::{Mode, Peer, Protocol, Security, Snapshot, TargetPort, TelemetrySource, Traffic};

/// The id of the node for callers Istio could not identify.
pub const UNKNOWN_NODE: &str = "unknown";

/// What STRICT means for an edge. The order is the danger: most urgent first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Plaintext toward a destination that is STRICT now: the caller fails now.
    Rejected,
    /// Plaintext accepted by a PERMISSIVE destination: STRICT would cut it.
    BreaksUnderStrict,
    /// Plaintext toward a destination whose mode is unknown.
    Unknown,
    /// Plaintext toward a destination that accepts it (DISABLE, or no proxy enforcing).
    PlaintextOk,
    /// Mutual TLS only.
    Mtls,
}

impl Verdict {
    /// The name used in every output (`breaks-under-strict` ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Rejected => "rejected",
            Verdict::BreaksUnderStrict => "breaks-under-strict",
            Verdict::Unknown => "unknown",
            Verdict::PlaintextOk => "plaintext-ok",
            Verdict::Mtls => "mtls",
        }
    }

    /// Every verdict, most dangerous first.
    pub const ALL: [Verdict; 5] = [
        Verdict::Rejected,
        Verdict::BreaksUnderStrict,
        Verdict::Unknown,
        Verdict::PlaintextOk,
        Verdict::Mtls,
    ];
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a destination pod does with a connection on one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Enforcement {
    /// No proxy enforces anything there (pod outside the mesh, or port not intercepted).
    NotEnforced,
    /// A proxy enforces this mode.
    Mode(Mode),
}

/// The destination's effective mode on the ports the traffic reached, over its pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationMode {
    /// Distinct outcomes over pods and ports (one when they agree).
    pub states: BTreeSet<Enforcement>,
}

impl DestinationMode {
    /// `STRICT`, `STRICT,PERMISSIVE` when pods or ports differ (strongest first), `NONE` where
    /// no proxy enforces.
    pub fn label(&self) -> String {
        self.states
            .iter()
            .rev()
            .map(|s| match s {
                Enforcement::Mode(m) => m.as_str(),
                Enforcement::NotEnforced => "NONE",
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether every pod and port enforces STRICT.
    pub fn all_strict(&self) -> bool {
        !self.states.is_empty() && self.states.iter().all(|s| *s == Enforcement::Mode(Mode::Strict))
    }
}

/// The verdict for an edge: its plaintext count and the destination's mode (`None`: unknown).
pub fn verdict(plaintext: u64, destination: Option<&DestinationMode>) -> Verdict {
    if plaintext == 0 {
        return Verdict::Mtls;
    }
    let Some(d) = destination.filter(|d| !d.states.is_empty()) else {
        return Verdict::Unknown;
    };
    if d.states.contains(&Enforcement::Mode(Mode::Permissive)) {
        Verdict::BreaksUnderStrict
    } else if d.all_strict() {
        Verdict::Rejected
    } else {
        Verdict::PlaintextOk
    }
}

/// A node: a workload, or the unknown caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `NS/WORKLOAD`, or `unknown`.
    pub id: String,
    /// Namespace (`None` for `unknown`).
    pub namespace: Option<String>,
    /// Workload name as Istio reports it (`None` for `unknown`).
    pub workload: Option<String>,
    /// sidecar, ambient, none or mixed; `None` when the snapshot does not show the workload.
    pub mesh: Option<MeshSummary>,
    /// The workload's mode label (`STRICT`, `STRICT,PERMISSIVE`); `None` when unknown or when
    /// no pod is in the mesh.
    pub mode: Option<String>,
    /// Whether its namespace is in the graph's scope (destinations' namespaces).
    pub in_scope: bool,
    /// Inbound connections its sidecars refused without a matching filter chain (proxies
    /// mode: since each proxy started); `None` when not read (Prometheus, or a caller).
    pub refused_connections: Option<u64>,
}

/// One edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Source node id.
    pub source: String,
    /// Destination node id.
    pub destination: String,
    /// http or tcp.
    pub protocol: Protocol,
    /// HTTP requests, or TCP connections, in the window.
    pub requests: u64,
    /// Of which over mutual TLS.
    pub mtls_requests: u64,
    /// Of which plaintext.
    pub plaintext_requests: u64,
    /// The mutual TLS share, in percent, one decimal.
    pub mtls_percent: f64,
    /// The destination's effective mode (`None`: unknown).
    pub destination_mode: Option<DestinationMode>,
    /// What STRICT means for it.
    pub verdict: Verdict,
    /// Source principals seen (SPIFFE IDs), sorted.
    pub principals: Vec<String>,
    /// Destination Services reported, sorted.
    pub services: Vec<String>,
    /// The destination ports whose mode was taken (the Services' target ports); empty when
    /// unknown, and then every mode of the workload counts.
    pub ports: Vec<u32>,
}

/// Which namespaces the graph is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphScope {
    /// Every namespace.
    All,
    /// Edges whose destination is in one of these namespaces.
    Namespaces(BTreeSet<String>),
}

impl GraphScope {
    /// Whether a namespace is in scope.
    pub fn contains(&self, ns: &str) -> bool {
        match self {
            GraphScope::All => true,
            GraphScope::Namespaces(set) => set.contains(ns),
        }
    }
}

/// The graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// Nodes, sorted by id (`unknown` first).
    pub nodes: Vec<Node>,
    /// Edges, most dangerous first.
    pub edges: Vec<Edge>,
}

impl Graph {
    /// Edges per verdict.
    pub fn count(&self, v: Verdict) -> usize {
        self.edges.iter().filter(|e| e.verdict == v).count()
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

fn peer_id(p: &Peer) -> String {
    p.to_string()
}

#[derive(Default)]
struct Acc {
    mtls: u64,
    plaintext: u64,
    principals: BTreeSet<String>,
    services: BTreeSet<String>,
}

/// Builds the graph: edges toward destinations in `scope`, their callers wherever they are.
///
/// `snapshot` and `analysis` must cover the destinations' namespaces (and may cover the callers'
/// too, which then show their mesh state). A destination the snapshot does not show gets an
/// unknown mode, never a default.
pub fn build_graph(snapshot: &Snapshot, analysis: &Analysis, traffic: &Traffic, scope: &GraphScope) -> Graph {
    let services = ServiceIndex::new(&snapshot.services, &snapshot.cluster_domain);
    let mut acc: BTreeMap<(Peer, String, String, Protocol), Acc> = BTreeMap::new();
    for s in &traffic.samples {
        if !scope.contains(&s.destination_namespace) || s.count == 0 {
            continue;
        }
        let key = (
            s.source.clone(),
            s.destination_namespace.clone(),
            s.destination_workload.clone(),
            s.protocol,
        );
        let a = acc.entry(key).or_default();
        match s.security {
            Security::MutualTls => a.mtls += s.count,
            Security::Plaintext => a.plaintext += s.count,
        }
        if let Some(p) = s
            .source_principal
            .as_ref()
            .filter(|p| !p.is_empty() && *p != "unknown")
        {
            a.principals.insert(p.clone());
        }
        if let Some(svc) = s
            .destination_service
            .as_ref()
            .filter(|h| !h.is_empty() && *h != "unknown")
        {
            a.services.insert(svc.clone());
        }
    }

    let mut edges = Vec::with_capacity(acc.len());
    let mut endpoints: BTreeSet<Peer> = BTreeSet::new();
    for ((source, dns, dwl, protocol), a) in acc {
        let ports = target_ports(&services, &dns, &a.services);
        let mode = destination_mode(analysis, &dns, &dwl, ports.as_ref());
        let requests = a.mtls + a.plaintext;
        let dest = Peer::Workload {
            namespace: dns,
            name: dwl,
        };
        edges.push(Edge {
            source: peer_id(&source),
            destination: peer_id(&dest),
            protocol,
            requests,
            mtls_requests: a.mtls,
            plaintext_requests: a.plaintext,
            mtls_percent: percent(a.mtls, requests),
            verdict: verdict(a.plaintext, mode.as_ref()),
            destination_mode: mode,
            principals: a.principals.into_iter().collect(),
            services: a.services.into_iter().collect(),
            ports: ports.map(|p| p.into_iter().collect()).unwrap_or_default(),
        });
        endpoints.insert(source);
        endpoints.insert(dest);
    }
    edges.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then(b.plaintext_requests.cmp(&a.plaintext_requests))
            .then_with(|| a.source.cmp(&b.source))
            .then_with(|| a.destination.cmp(&b.destination))
            .then(a.protocol.cmp(&b.protocol))
    });
    // Refused connections (proxies mode), per destination workload in scope.
    let mut refused: BTreeMap<Peer, u64> = BTreeMap::new();
    let proxies = traffic.source == TelemetrySource::Proxies;
    for r in traffic.refused.iter().filter(|r| scope.contains(&r.namespace)) {
        if let Some(p) = analysis
            .pods
            .iter()
            .find(|p| p.namespace == r.namespace && p.name == r.pod)
        {
            let peer = Peer::Workload {
                namespace: r.namespace.clone(),
                name: analysis.workloads[p.workload].workload.name.clone(),
            };
            *refused.entry(peer.clone()).or_default() += r.count;
            endpoints.insert(peer);
        }
    }
    let nodes = endpoints
        .iter()
        .map(|p| {
            let mut n = node(analysis, p, scope);
            if proxies && n.in_scope {
                n.refused_connections = Some(refused.get(p).copied().unwrap_or(0));
            }
            n
        })
        .collect();
    Graph { nodes, edges }
}

/// `100 * part / whole`, one decimal; a plaintext share never rounds up to 100.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    let p = (part as f64 * 1000.0 / whole as f64).round() / 10.0;
    if part < whole && p >= 100.0 { 99.9 } else { p }
}

/// The numeric target ports of the reported destination Services (in the destination's
/// namespace); `None` when any Service is missing or names its target port (the port is then
/// not known, and every mode of the workload counts).
fn target_ports(services: &ServiceIndex<'_>, ns: &str, hosts: &BTreeSet<String>) -> Option<BTreeSet<u32>> {
    if hosts.is_empty() {
        return None;
    }
    let mut ports = BTreeSet::new();
    for h in hosts {
        let found = services.lookup(h, ns);
        let [svc] = found.as_slice() else {
            return None;
        };
        for p in &svc.ports {
            match p.target_port {
                TargetPort::Number(n) => {
                    ports.insert(n);
                }
                TargetPort::Name(_) => return None,
            }
        }
    }
    (!ports.is_empty()).then_some(ports)
}

/// The destination's effective mode over its pods, on `ports` when known, else on every port
/// (its default mode, each port-level mode, and `NONE` when some port is excluded from
/// interception). `None` when the snapshot has no pod of that workload.
fn destination_mode(
    analysis: &Analysis,
    ns: &str,
    workload: &str,
    ports: Option<&BTreeSet<u32>>,
) -> Option<DestinationMode> {
    let mut states = BTreeSet::new();
    let mut found = false;
    for p in &analysis.pods {
        if p.namespace != ns || analysis.workloads[p.workload].workload.name != workload {
            continue;
        }
        found = true;
        if !p.mesh.membership.is_meshed() {
            states.insert(Enforcement::NotEnforced);
            continue;
        }
        match ports {
            Some(ports) => {
                for &port in ports {
                    states.insert(if p.enforced_on(port) {
                        Enforcement::Mode(p.policy.mode_for_port(port).mode)
                    } else {
                        Enforcement::NotEnforced
                    });
                }
            }
            None => {
                states.insert(Enforcement::Mode(p.policy.mode.mode));
                states.extend(p.policy.ports.values().map(|r| Enforcement::Mode(r.mode)));
                if !p.inbound.is_all() {
                    states.insert(Enforcement::NotEnforced);
                }
            }
        }
    }
    found.then_some(DestinationMode { states })
}

fn node(analysis: &Analysis, peer: &Peer, scope: &GraphScope) -> Node {
    match peer {
        Peer::Unknown => Node {
            id: UNKNOWN_NODE.to_string(),
            namespace: None,
            workload: None,
            mesh: None,
            mode: None,
            in_scope: false,
            refused_connections: None,
        },
        Peer::Workload { namespace, name } => {
            let (mesh, mode) = describe(analysis, namespace, name);
            Node {
                id: peer.to_string(),
                namespace: Some(namespace.clone()),
                workload: Some(name.clone()),
                mesh,
                mode,
                in_scope: scope.contains(namespace),
                refused_connections: None,
            }
        }
    }
}

/// How a workload is in the mesh and its mode label, from an analysis that shows it.
fn describe(analysis: &Analysis, namespace: &str, name: &str) -> (Option<MeshSummary>, Option<String>) {
    let views: Vec<_> = analysis
        .workloads
        .iter()
        .filter(|w| w.workload.namespace == namespace && w.workload.name == name)
        .collect();
    let mesh = views
        .iter()
        .map(|w| w.mesh)
        .reduce(|a, b| if a == b { a } else { MeshSummary::Mixed });
    let modes: BTreeSet<Mode> = views
        .iter()
        .filter(|w| w.meshed_pods > 0)
        .flat_map(|w| w.modes.iter().map(|r| r.mode))
        .collect();
    let mode = (!modes.is_empty()).then(|| {
        modes
            .iter()
            .rev()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    (mesh, mode)
}

/// Fills in the mesh state of caller nodes the graph's own analysis did not show (callers from
/// namespaces outside the scope), from an analysis of their namespaces.
pub fn describe_callers(graph: &mut Graph, callers: &Analysis) {
    for n in &mut graph.nodes {
        if let (None, Some(ns), Some(name)) = (n.mesh, &n.namespace, &n.workload) {
            let (mesh, mode) = describe(callers, ns, name);
            n.mesh = mesh;
            n.mode = mode;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::analyze;
    use crate::model::{
        AmbientRedirection, Created, InboundCapture, Labels, MeshSettings, NamespaceInfo, Owner, PodInfo,
        Policy, PolicyMode, RefusedConnections, ServiceInfo, ServicePortInfo, SidecarKind, TrafficSample,
    };

    fn l(kv: &[(&str, &str)]) -> Labels {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[derive(Clone, Copy)]
    enum M {
        Sidecar,
        Ambient,
        Out,
    }

    struct Lab {
        snap: Snapshot,
        samples: Vec<TrafficSample>,
    }

    impl Lab {
        fn new() -> Lab {
            let mut snap = Snapshot::new(&MeshSettings::defaults("istio-system"));
            for ns in ["istio-system", "istioinaction", "default"] {
                snap.namespaces.push(NamespaceInfo::new(ns, Labels::new()));
            }
            Lab {
                snap,
                samples: Vec::new(),
            }
        }

        fn deploy(mut self, ns: &str, app: &str, m: M) -> Lab {
            let mut p = PodInfo::new(
                ns,
                format!("{app}-5f7c9-abcde"),
                l(&[("app", app), ("pod-template-hash", "5f7c9")]),
            );
            p.owner = Some(Owner {
                kind: "ReplicaSet".into(),
                name: format!("{app}-5f7c9"),
            });
            match m {
                M::Sidecar => p.sidecar = SidecarKind::Classic,
                M::Ambient => p.ambient = AmbientRedirection::Enabled,
                M::Out => {}
            }
            self.snap.pods.push(p);
            self
        }

        fn with_last_pod(mut self, f: impl FnOnce(&mut PodInfo)) -> Lab {
            f(self.snap.pods.last_mut().unwrap());
            self
        }

        fn policy(mut self, p: Policy) -> Lab {
            self.snap.policies.push(p);
            self
        }

        fn svc(mut self, ns: &str, name: &str, ports: &[(u32, u32)]) -> Lab {
            self.snap.services.push(ServiceInfo {
                namespace: ns.into(),
                name: name.into(),
                selector: Some(l(&[("app", name)])),
                ports: ports
                    .iter()
                    .map(|&(port, target)| ServicePortInfo {
                        port,
                        target_port: TargetPort::Number(target),
                    })
                    .collect(),
            });
            self
        }

        fn traffic(mut self, src: &str, dst: &str, proto: Protocol, sec: Security, n: u64) -> Lab {
            let source = match src.split_once('/') {
                Some((ns, name)) => Peer::Workload {
                    namespace: ns.into(),
                    name: name.into(),
                },
                None => Peer::Unknown,
            };
            let (dns, dwl) = dst.split_once('/').unwrap();
            let principal = match (&source, sec) {
                (Peer::Workload { namespace, name }, Security::MutualTls) => {
                    Some(format!("spiffe://cluster.local/ns/{namespace}/sa/{name}"))
                }
                _ => None,
            };
            self.samples.push(TrafficSample {
                source,
                source_principal: principal,
                destination_namespace: dns.into(),
                destination_workload: dwl.into(),
                destination_service: Some(format!("{dwl}.{dns}.svc.cluster.local")),
                protocol: proto,
                security: sec,
                count: n,
            });
            self
        }

        fn graph(&self, scope: GraphScope) -> Graph {
            let traffic = Traffic {
                source: TelemetrySource::Prometheus,
                window: Some(std::time::Duration::from_secs(3600)),
                endpoint: None,
                samples: self.samples.clone(),
                errors: vec![],
                unread_pods: vec![],
                refused: vec![],
                notes: vec![],
            };
            build_graph(&self.snap, &analyze(&self.snap), &traffic, &scope)
        }
    }

    fn ns_scope(ns: &[&str]) -> GraphScope {
        GraphScope::Namespaces(ns.iter().map(|s| s.to_string()).collect())
    }

    fn strict(ns: &str) -> Policy {
        Policy::new(ns, "default", Created(1), PolicyMode::Strict)
    }

    /// The workshop: web-api and recommendation in istioinaction, sleep outside the mesh.
    fn workshop() -> Lab {
        Lab::new()
            .deploy("istioinaction", "web-api", M::Sidecar)
            .deploy("istioinaction", "recommendation", M::Sidecar)
            .deploy("istioinaction", "purchase-history", M::Sidecar)
            .deploy("default", "sleep", M::Out)
            .svc("istioinaction", "web-api", &[(80, 8080)])
            .svc("istioinaction", "recommendation", &[(80, 8080)])
            .svc("istioinaction", "purchase-history", &[(80, 8080)])
            .traffic(
                "istioinaction/web-api",
                "istioinaction/recommendation",
                Protocol::Http,
                Security::MutualTls,
                300,
            )
            .traffic(
                "istioinaction/recommendation",
                "istioinaction/purchase-history",
                Protocol::Http,
                Security::MutualTls,
                300,
            )
            .traffic(
                "default/sleep",
                "istioinaction/web-api",
                Protocol::Http,
                Security::Plaintext,
                120,
            )
    }

    fn edge<'g>(g: &'g Graph, src: &str, dst: &str) -> &'g Edge {
        g.edges
            .iter()
            .find(|e| e.source == src && e.destination == dst)
            .unwrap_or_else(|| panic!("no edge {src} -> {dst} in {:#?}", g.edges))
    }

    #[test]
    fn workshop_before_strict_plaintext_from_sleep_breaks_under_strict() {
        let g = workshop().graph(ns_scope(&["istioinaction"]));
        assert_eq!(g.edges.len(), 3);
        let e = &g.edges[0];
        assert_eq!(
            (e.source.as_str(), e.destination.as_str()),
            ("default/sleep", "istioinaction/web-api")
        );
        assert_eq!(e.verdict, Verdict::BreaksUnderStrict);
        assert_eq!(
            (e.requests, e.plaintext_requests, e.mtls_percent),
            (120, 120, 0.0)
        );
        assert_eq!(e.destination_mode.as_ref().unwrap().label(), "PERMISSIVE");
        assert_eq!(e.ports, vec![8080]);
        assert_eq!(e.services, vec!["web-api.istioinaction.svc.cluster.local"]);
        assert!(e.principals.is_empty());
        let m = edge(&g, "istioinaction/web-api", "istioinaction/recommendation");
        assert_eq!((m.verdict, m.mtls_percent), (Verdict::Mtls, 100.0));
        assert_eq!(
            m.principals,
            vec!["spiffe://cluster.local/ns/istioinaction/sa/web-api"]
        );
        // The caller from default is shown, out of scope, with its mesh state.
        let sleep = g.node("default/sleep").unwrap();
        assert_eq!(
            (sleep.in_scope, sleep.mesh, sleep.mode.as_deref()),
            (false, Some(MeshSummary::None), None)
        );
        let web = g.node("istioinaction/web-api").unwrap();
        assert_eq!(
            (web.in_scope, web.mesh, web.mode.as_deref()),
            (true, Some(MeshSummary::Sidecar), Some("PERMISSIVE"))
        );
        assert_eq!(g.nodes.len(), 4);
    }

    #[test]
    fn workshop_after_strict_the_same_plaintext_is_rejected() {
        let g = workshop()
            .policy(strict("istioinaction"))
            .graph(ns_scope(&["istioinaction"]));
        assert_eq!(g.edges[0].verdict, Verdict::Rejected);
        assert_eq!(g.edges[0].destination_mode.as_ref().unwrap().label(), "STRICT");
        assert_eq!(g.count(Verdict::Mtls), 2);
        assert_eq!(g.count(Verdict::Rejected), 1);
    }

    #[test]
    fn disable_and_unenforced_destinations_accept_plaintext() {
        let g = Lab::new()
            .deploy("istioinaction", "legacy", M::Sidecar)
            .deploy("istioinaction", "outside", M::Out)
            .policy(strict("istioinaction"))
            .policy(
                Policy::new("istioinaction", "legacy", Created(2), PolicyMode::Disable)
                    .with_selector(l(&[("app", "legacy")])),
            )
            .traffic(
                "unknown",
                "istioinaction/legacy",
                Protocol::Tcp,
                Security::Plaintext,
                5,
            )
            .traffic(
                "unknown",
                "istioinaction/outside",
                Protocol::Http,
                Security::Plaintext,
                7,
            )
            .graph(GraphScope::All);
        let legacy = edge(&g, "unknown", "istioinaction/legacy");
        assert_eq!(legacy.verdict, Verdict::PlaintextOk);
        assert_eq!(legacy.destination_mode.as_ref().unwrap().label(), "DISABLE");
        assert_eq!(legacy.protocol, Protocol::Tcp);
        let outside = edge(&g, "unknown", "istioinaction/outside");
        assert_eq!(outside.verdict, Verdict::PlaintextOk);
        assert_eq!(outside.destination_mode.as_ref().unwrap().label(), "NONE");
        let unknown = g.node("unknown").unwrap();
        assert_eq!((unknown.namespace.as_deref(), unknown.mesh), (None, None));
    }

    #[test]
    fn the_mode_is_the_one_on_the_service_target_port() {
        // STRICT workload with PERMISSIVE on 9090: traffic through the Service on 9090 only.
        let lab = Lab::new()
            .deploy("istioinaction", "metrics", M::Sidecar)
            .policy(strict("istioinaction"))
            .policy(
                Policy::new("istioinaction", "metrics", Created(2), PolicyMode::Unset)
                    .with_selector(l(&[("app", "metrics")]))
                    .with_port(9090, PolicyMode::Permissive),
            )
            .traffic(
                "unknown",
                "istioinaction/metrics",
                Protocol::Http,
                Security::Plaintext,
                3,
            );
        let on_9090 = lab.svc("istioinaction", "metrics", &[(80, 9090)]);
        let e = &on_9090.graph(GraphScope::All).edges[0];
        assert_eq!(
            (e.verdict, e.ports.clone()),
            (Verdict::BreaksUnderStrict, vec![9090])
        );
        assert_eq!(e.destination_mode.as_ref().unwrap().label(), "PERMISSIVE");

        let mut on_8080 = on_9090;
        on_8080.snap.services[0].ports[0].target_port = TargetPort::Number(8080);
        let e = &on_8080.graph(GraphScope::All).edges[0];
        assert_eq!((e.verdict, e.ports.clone()), (Verdict::Rejected, vec![8080]));

        // No Service known: every mode of the workload counts, so PERMISSIVE decides.
        let mut no_svc = on_8080;
        no_svc.snap.services.clear();
        let e = &no_svc.graph(GraphScope::All).edges[0];
        assert_eq!(e.destination_mode.as_ref().unwrap().label(), "STRICT,PERMISSIVE");
        assert_eq!(
            (e.verdict, e.ports.is_empty()),
            (Verdict::BreaksUnderStrict, true)
        );
    }

    #[test]
    fn a_bypassed_port_is_not_enforced() {
        let lab = Lab::new()
            .deploy("istioinaction", "db", M::Sidecar)
            .with_last_pod(|p| p.inbound = InboundCapture::from_annotations(None, Some("5432")))
            .policy(strict("istioinaction"))
            .svc("istioinaction", "db", &[(5432, 5432)])
            .traffic(
                "istioinaction/web-api",
                "istioinaction/db",
                Protocol::Tcp,
                Security::Plaintext,
                4,
            );
        let e = &lab.graph(GraphScope::All).edges[0];
        assert_eq!(
            (e.verdict, e.destination_mode.as_ref().unwrap().label()),
            (Verdict::PlaintextOk, "NONE".to_string())
        );
    }

    #[test]
    fn ambient_destinations_use_their_mode() {
        let g = Lab::new()
            .deploy("istioinaction", "web-api", M::Ambient)
            .svc("istioinaction", "web-api", &[(80, 8080)])
            .traffic(
                "default/sleep",
                "istioinaction/web-api",
                Protocol::Tcp,
                Security::Plaintext,
                9,
            )
            .traffic(
                "istioinaction/other",
                "istioinaction/web-api",
                Protocol::Tcp,
                Security::MutualTls,
                1,
            )
            .graph(GraphScope::All);
        let e = edge(&g, "default/sleep", "istioinaction/web-api");
        assert_eq!(e.verdict, Verdict::BreaksUnderStrict);
        assert_eq!(
            g.node("istioinaction/web-api").unwrap().mesh,
            Some(MeshSummary::Ambient)
        );
        // A caller the snapshot does not show: mesh and mode unknown, never a default.
        let other = g.node("istioinaction/other").unwrap();
        assert_eq!((other.mesh, other.mode.as_deref()), (None, None));
    }

    #[test]
    fn a_destination_missing_from_the_snapshot_is_unknown_not_a_default() {
        let g = Lab::new()
            .traffic(
                "unknown",
                "istioinaction/gone",
                Protocol::Http,
                Security::Plaintext,
                2,
            )
            .traffic(
                "istioinaction/a",
                "istioinaction/gone",
                Protocol::Http,
                Security::MutualTls,
                2,
            )
            .graph(GraphScope::All);
        let plain = edge(&g, "unknown", "istioinaction/gone");
        assert_eq!(
            (plain.verdict, plain.destination_mode.clone()),
            (Verdict::Unknown, None)
        );
        // mTLS is mTLS whatever the destination's mode.
        let tls = edge(&g, "istioinaction/a", "istioinaction/gone");
        assert_eq!(tls.verdict, Verdict::Mtls);
    }

    #[test]
    fn samples_merge_per_source_destination_and_protocol_with_shares() {
        let g = workshop()
            .traffic(
                "default/sleep",
                "istioinaction/web-api",
                Protocol::Http,
                Security::MutualTls,
                360,
            )
            .traffic(
                "default/sleep",
                "istioinaction/web-api",
                Protocol::Tcp,
                Security::MutualTls,
                2,
            )
            .traffic(
                "default/sleep",
                "istioinaction/web-api",
                Protocol::Http,
                Security::Plaintext,
                0,
            )
            .graph(ns_scope(&["istioinaction"]));
        let http: Vec<&Edge> = g
            .edges
            .iter()
            .filter(|e| e.source == "default/sleep" && e.protocol == Protocol::Http)
            .collect();
        assert_eq!(http.len(), 1);
        assert_eq!(
            (
                http[0].requests,
                http[0].mtls_requests,
                http[0].plaintext_requests
            ),
            (480, 360, 120)
        );
        assert_eq!(http[0].mtls_percent, 75.0);
        assert_eq!(http[0].verdict, Verdict::BreaksUnderStrict);
        let tcp = g
            .edges
            .iter()
            .find(|e| e.source == "default/sleep" && e.protocol == Protocol::Tcp)
            .unwrap();
        assert_eq!((tcp.requests, tcp.verdict), (2, Verdict::Mtls));
    }

    #[test]
    fn scope_is_the_destinations_namespaces() {
        let lab = workshop().deploy("default", "httpbin", M::Sidecar).traffic(
            "istioinaction/web-api",
            "default/httpbin",
            Protocol::Http,
            Security::MutualTls,
            10,
        );
        let g = lab.graph(ns_scope(&["istioinaction"]));
        assert!(
            g.edges
                .iter()
                .all(|e| e.destination.starts_with("istioinaction/"))
        );
        assert!(g.node("default/httpbin").is_none());
        let g = lab.graph(ns_scope(&["default"]));
        assert_eq!(g.edges.len(), 1);
        assert_eq!(g.edges[0].destination, "default/httpbin");
        // The caller from istioinaction is shown, outside the scope.
        assert!(!g.node("istioinaction/web-api").unwrap().in_scope);
        assert_eq!(lab.graph(GraphScope::All).edges.len(), 4);
    }

    #[test]
    fn dangerous_edges_sort_first_then_by_plaintext_volume() {
        let g = workshop()
            .deploy("istioinaction", "strict-one", M::Sidecar)
            .policy(
                Policy::new("istioinaction", "s", Created(2), PolicyMode::Strict)
                    .with_selector(l(&[("app", "strict-one")])),
            )
            .traffic(
                "unknown",
                "istioinaction/strict-one",
                Protocol::Http,
                Security::Plaintext,
                1,
            )
            .traffic(
                "unknown",
                "istioinaction/web-api",
                Protocol::Http,
                Security::Plaintext,
                500,
            )
            .traffic(
                "unknown",
                "istioinaction/nowhere",
                Protocol::Http,
                Security::Plaintext,
                1,
            )
            .graph(GraphScope::All);
        let order: Vec<(Verdict, &str, &str)> = g
            .edges
            .iter()
            .map(|e| (e.verdict, e.source.as_str(), e.destination.as_str()))
            .collect();
        assert_eq!(
            order,
            vec![
                (Verdict::Rejected, "unknown", "istioinaction/strict-one"),
                (Verdict::BreaksUnderStrict, "unknown", "istioinaction/web-api"),
                (
                    Verdict::BreaksUnderStrict,
                    "default/sleep",
                    "istioinaction/web-api"
                ),
                (Verdict::Unknown, "unknown", "istioinaction/nowhere"),
                (
                    Verdict::Mtls,
                    "istioinaction/recommendation",
                    "istioinaction/purchase-history"
                ),
                (
                    Verdict::Mtls,
                    "istioinaction/web-api",
                    "istioinaction/recommendation"
                ),
            ]
        );
        assert_eq!(g.nodes[0].id, "default/sleep");
        assert!(g.nodes.iter().any(|n| n.id == UNKNOWN_NODE));
    }

    #[test]
    fn callers_outside_the_scope_are_described_from_their_own_namespace() {
        let mut lab = workshop();
        let other = lab.snap.pods.pop().unwrap(); // default/sleep, read separately
        let mut g = lab.graph(ns_scope(&["istioinaction"]));
        assert_eq!(g.node("default/sleep").unwrap().mesh, None);
        let mut callers = Snapshot::new(&MeshSettings::defaults("istio-system"));
        callers.pods.push(other);
        describe_callers(&mut g, &analyze(&callers));
        let sleep = g.node("default/sleep").unwrap();
        assert_eq!(
            (sleep.mesh, sleep.mode.as_deref(), sleep.in_scope),
            (Some(MeshSummary::None), None, false)
        );
        assert_eq!(
            g.node("istioinaction/web-api").unwrap().mode.as_deref(),
            Some("PERMISSIVE")
        );
    }

    #[test]
    fn refused_connections_are_counted_per_destination_workload_in_proxies_mode() {
        let lab = workshop().policy(strict("istioinaction"));
        let mut traffic = Traffic {
            source: TelemetrySource::Proxies,
            window: None,
            endpoint: None,
            samples: lab.samples.clone(),
            errors: vec![],
            unread_pods: vec![],
            notes: vec![],
            refused: vec![RefusedConnections {
                namespace: "istioinaction".into(),
                pod: "web-api-5f7c9-abcde".into(),
                count: 7,
            }],
        };
        let scope = ns_scope(&["istioinaction"]);
        let g = build_graph(&lab.snap, &analyze(&lab.snap), &traffic, &scope);
        assert_eq!(
            g.node("istioinaction/web-api").unwrap().refused_connections,
            Some(7)
        );
        assert_eq!(
            g.node("istioinaction/recommendation")
                .unwrap()
                .refused_connections,
            Some(0)
        );
        assert_eq!(
            g.node("default/sleep").unwrap().refused_connections,
            None,
            "callers are not read"
        );
        // A workload that only refused connections is shown too.
        traffic.samples.clear();
        let g = build_graph(&lab.snap, &analyze(&lab.snap), &traffic, &scope);
        assert!(g.edges.is_empty());
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].refused_connections, Some(7));
        // Prometheus does not read them: unknown, not zero.
        traffic.source = TelemetrySource::Prometheus;
        traffic.samples = lab.samples.clone();
        let g = build_graph(&lab.snap, &analyze(&lab.snap), &traffic, &scope);
        assert_eq!(g.node("istioinaction/web-api").unwrap().refused_connections, None);
    }

    #[test]
    fn verdict_table() {
        let dm = |s: &[Enforcement]| DestinationMode {
            states: s.iter().copied().collect(),
        };
        let strict = Enforcement::Mode(Mode::Strict);
        let perm = Enforcement::Mode(Mode::Permissive);
        let dis = Enforcement::Mode(Mode::Disable);
        let none = Enforcement::NotEnforced;
        assert_eq!(verdict(0, None), Verdict::Mtls);
        assert_eq!(verdict(0, Some(&dm(&[perm]))), Verdict::Mtls);
        assert_eq!(verdict(1, None), Verdict::Unknown);
        assert_eq!(verdict(1, Some(&dm(&[]))), Verdict::Unknown);
        assert_eq!(verdict(1, Some(&dm(&[strict]))), Verdict::Rejected);
        assert_eq!(verdict(1, Some(&dm(&[perm]))), Verdict::BreaksUnderStrict);
        assert_eq!(verdict(1, Some(&dm(&[strict, perm]))), Verdict::BreaksUnderStrict);
        assert_eq!(verdict(1, Some(&dm(&[dis]))), Verdict::PlaintextOk);
        assert_eq!(verdict(1, Some(&dm(&[none]))), Verdict::PlaintextOk);
        assert_eq!(verdict(1, Some(&dm(&[strict, dis]))), Verdict::PlaintextOk);
        assert_eq!(dm(&[none, perm, strict]).label(), "STRICT,PERMISSIVE,NONE");
        let mut sorted = Verdict::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, Verdict::ALL.to_vec());
        assert_eq!(
            serde_json::to_value(Verdict::ALL).unwrap(),
            serde_json::json!([
                "rejected",
                "breaks-under-strict",
                "unknown",
                "plaintext-ok",
                "mtls"
            ])
        );
    }

    #[test]
    fn percentages_round_to_one_decimal_and_never_hide_plaintext() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(9999, 10000), 99.9);
        assert_eq!(percent(99999, 100000), 99.9);
        assert_eq!(percent(5, 5), 100.0);
        assert_eq!(percent(0, 5), 0.0);
        assert_eq!(percent(0, 0), 0.0);
    }
}
