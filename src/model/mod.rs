//! The pure input model: plain data the engine resolves, independent of kube.
//!
//! Every type here is built from cluster objects by a conversion function of this module
//! (`From`/`TryFrom` or a named constructor) and can as well be written by hand in tests.
//! [`Snapshot`] gathers everything the engine needs.
//!
//! Pods may come metadata-only (`PartialObjectMeta<Pod>`): membership is then read from the
//! annotations and labels Istio writes on injected and ambient pods (see [`pod`]).

pub mod mesh;
pub mod pod;
pub mod policy;
pub mod traffic;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use crate::resources::{MtlsMode as PolicyMode, ParseProblem, TlsMode};
pub use mesh::MeshSettings;
pub use pod::{AmbientRedirection, InboundCapture, Owner, PodInfo, SidecarKind};
pub use policy::{DestinationRuleInfo, DrTlsSetting, Policy};
pub use traffic::{Peer, Protocol, RefusedConnections, Security, TelemetrySource, Traffic, TrafficSample};

/// Labels or selector labels.
pub type Labels = BTreeMap<String, String>;

/// An effective mTLS mode, as enforced by a server-side proxy.
///
/// The order is the strength of the guarantee about mTLS: `Disable < Permissive < Strict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    /// Plaintext only.
    Disable,
    /// mTLS and plaintext.
    Permissive,
    /// mTLS only.
    Strict,
}

impl Mode {
    /// The Istio name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Disable => "DISABLE",
            Mode::Permissive => "PERMISSIVE",
            Mode::Strict => "STRICT",
        }
    }

    /// The effective mode a policy value sets, or `None` when it inherits (UNSET) or is a value
    /// this version does not know (treated as UNSET, see the engine's `UnknownMode` finding).
    pub fn from_policy(mode: &PolicyMode) -> Option<Mode> {
        match mode {
            PolicyMode::Disable => Some(Mode::Disable),
            PolicyMode::Permissive => Some(Mode::Permissive),
            PolicyMode::Strict => Some(Mode::Strict),
            PolicyMode::Unset | PolicyMode::Unknown(_) => None,
        }
    }

    /// Parses an Istio name, case-insensitively (for command-line values).
    pub fn parse(s: &str) -> Option<Mode> {
        match s.to_ascii_uppercase().as_str() {
            "DISABLE" => Some(Mode::Disable),
            "PERMISSIVE" => Some(Mode::Permissive),
            "STRICT" => Some(Mode::Strict),
            _ => None,
        }
    }
}

impl From<Mode> for PolicyMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Disable => PolicyMode::Disable,
            Mode::Permissive => PolicyMode::Permissive,
            Mode::Strict => PolicyMode::Strict,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A creation time with one-second precision (Kubernetes stores seconds), as Unix seconds.
///
/// An object without `creationTimestamp` gets Go's zero time (year 1), as Istio does, which
/// makes it the oldest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Created(pub i64);

impl Created {
    /// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix seconds.
    pub const ZERO: Created = Created(-62_135_596_800);

    /// From a Kubernetes timestamp, truncated to the second; `None` gives [`Created::ZERO`].
    pub fn from_time(t: Option<&Time>) -> Created {
        t.map_or(Created::ZERO, |t| Created(t.0.as_second()))
    }

    /// The current time (for objects a what-if creates).
    pub fn now() -> Created {
        Created(Timestamp::now().as_second())
    }
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Timestamp::from_second(self.0) {
            Ok(t) => write!(f, "{t}"),
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}

/// `namespace/name` of an object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

pub(crate) fn meta_name(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

pub(crate) fn meta_namespace(meta: &ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_default()
}

/// A namespace: its name and the labels that carry mesh intent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceInfo {
    /// Name.
    pub name: String,
    /// Labels (`istio-injection`, `istio.io/rev`, `istio.io/dataplane-mode` ...).
    pub labels: Labels,
}

impl NamespaceInfo {
    /// Builds one by hand.
    pub fn new(name: impl Into<String>, labels: Labels) -> Self {
        NamespaceInfo {
            name: name.into(),
            labels,
        }
    }
}

impl From<&ObjectMeta> for NamespaceInfo {
    fn from(meta: &ObjectMeta) -> Self {
        NamespaceInfo {
            name: meta_name(meta),
            labels: meta.labels.clone().unwrap_or_default(),
        }
    }
}

impl From<&Namespace> for NamespaceInfo {
    fn from(ns: &Namespace) -> Self {
        NamespaceInfo::from(&ns.metadata)
    }
}

/// A Service port: the port clients use and the workload port it forwards to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePortInfo {
    /// Service port.
    pub port: u32,
    /// Target port: a number, or a container port name (not resolvable without pod specs).
    pub target_port: TargetPort,
}

/// `targetPort` of a Service port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetPort {
    /// A port number.
    Number(u32),
    /// A named container port.
    Name(String),
}

/// A Service: what a DestinationRule host resolves to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Pod selector; `None` for a Service without selector (its endpoints are managed by hand).
    pub selector: Option<Labels>,
    /// Ports.
    pub ports: Vec<ServicePortInfo>,
}

impl ServiceInfo {
    /// The workload port a Service port forwards to, when it is a number.
    pub fn target_port_of(&self, port: u32) -> Option<u32> {
        self.ports
            .iter()
            .find(|p| p.port == port)
            .and_then(|p| match &p.target_port {
                TargetPort::Number(n) => Some(*n),
                TargetPort::Name(_) => None,
            })
    }
}

impl From<&Service> for ServiceInfo {
    fn from(svc: &Service) -> Self {
        let spec = svc.spec.as_ref();
        let selector = spec.and_then(|s| s.selector.clone()).filter(|s| !s.is_empty());
        let ports = spec
            .and_then(|s| s.ports.as_ref())
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| {
                        let port = u32::try_from(p.port).unwrap_or(0);
                        let target_port = match &p.target_port {
                            None => TargetPort::Number(port),
                            Some(IntOrString::Int(n)) => TargetPort::Number(u32::try_from(*n).unwrap_or(0)),
                            Some(IntOrString::String(s)) => match s.parse::<u32>() {
                                Ok(n) => TargetPort::Number(n),
                                Err(_) => TargetPort::Name(s.clone()),
                            },
                        };
                        ServicePortInfo { port, target_port }
                    })
                    .collect()
            })
            .unwrap_or_default();
        ServiceInfo {
            namespace: meta_namespace(&svc.metadata),
            name: meta_name(&svc.metadata),
            selector,
            ports,
        }
    }
}

/// Everything the engine needs, as plain data.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Istio's root namespace (mesh-wide policies live there).
    pub root_namespace: String,
    /// The namespace istiod runs in.
    pub istio_namespace: String,
    /// The cluster DNS domain (`cluster.local`), for DestinationRule host resolution.
    pub cluster_domain: String,
    /// Namespaces in scope.
    pub namespaces: Vec<NamespaceInfo>,
    /// Pods.
    pub pods: Vec<PodInfo>,
    /// Services.
    pub services: Vec<ServiceInfo>,
    /// PeerAuthentication policies (all namespaces needed for resolution: the root namespace
    /// and every namespace in scope).
    pub policies: Vec<Policy>,
    /// DestinationRules.
    pub destination_rules: Vec<DestinationRuleInfo>,
    /// Istio objects that could not be parsed (reported as findings).
    pub problems: Vec<ParseProblem>,
    /// `enableAutoMtls: false` in the mesh config: clients send plaintext unless a
    /// DestinationRule asks for mTLS.
    #[serde(default)]
    pub auto_mtls_disabled: bool,
}

impl Snapshot {
    /// An empty snapshot for a mesh: root namespace from [`MeshSettings`], cluster domain
    /// `cluster.local`.
    pub fn new(mesh: &MeshSettings) -> Self {
        Snapshot {
            root_namespace: mesh.root_namespace.clone(),
            istio_namespace: mesh.istio_namespace.clone(),
            cluster_domain: "cluster.local".to_string(),
            auto_mtls_disabled: !mesh.enable_auto_mtls,
            ..Snapshot::default()
        }
    }

    /// Adds a PeerAuthentication from its JSON (one item of a list, e.g. a `DynamicObject`
    /// serialized with `serde_json::to_value`); a malformed one is kept in `problems`.
    pub fn push_policy_value(&mut self, value: serde_json::Value) {
        match crate::resources::PeerAuthentication::from_value(value) {
            Ok(pa) => self.policies.push(Policy::from(&pa)),
            Err(p) => self.problems.push(p),
        }
    }

    /// Adds a DestinationRule from its JSON; a malformed one is kept in `problems`.
    pub fn push_destination_rule_value(&mut self, value: serde_json::Value) {
        match crate::resources::DestinationRule::from_value(value) {
            Ok(dr) => self.destination_rules.push(DestinationRuleInfo::from(&dr)),
            Err(p) => self.problems.push(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};

    #[test]
    fn mode_order_and_names() {
        assert!(Mode::Disable < Mode::Permissive && Mode::Permissive < Mode::Strict);
        assert_eq!(Mode::parse("strict"), Some(Mode::Strict));
        assert_eq!(Mode::parse("UNSET"), None);
        assert_eq!(serde_json::to_value(Mode::Permissive).unwrap(), "PERMISSIVE");
        assert_eq!(Mode::Disable.to_string(), "DISABLE");
        assert_eq!(Mode::from_policy(&PolicyMode::Unset), None);
        assert_eq!(Mode::from_policy(&PolicyMode::Unknown("X".into())), None);
        assert_eq!(PolicyMode::from(Mode::Strict), PolicyMode::Strict);
    }

    #[test]
    fn created_is_second_precision_and_missing_is_oldest() {
        let t: Time = serde_json::from_value(serde_json::json!("2026-03-04T05:06:07Z")).unwrap();
        let c = Created::from_time(Some(&t));
        assert_eq!(c.to_string(), "2026-03-04T05:06:07Z");
        assert!(Created::from_time(None) < c);
        assert_eq!(Created::ZERO.to_string(), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn snapshot_takes_raw_values_and_keeps_problems() {
        let mut mesh = MeshSettings::defaults("istio-system");
        mesh.enable_auto_mtls = false;
        let mut s = Snapshot::new(&mesh);
        assert!(s.auto_mtls_disabled);
        assert_eq!(s.root_namespace, "istio-system");
        s.push_policy_value(serde_json::json!({"metadata": {"name": "a", "namespace": "x"}, "spec": {"mtls": {"mode": "STRICT"}}}));
        s.push_policy_value(
            serde_json::json!({"metadata": {"name": "b", "namespace": "x"}, "spec": {"mtls": 3}}),
        );
        s.push_destination_rule_value(
            serde_json::json!({"metadata": {"name": "d", "namespace": "x"}, "spec": {"host": "h"}}),
        );
        s.push_destination_rule_value(
            serde_json::json!({"metadata": {"name": "e", "namespace": "x"}, "spec": {"host": ["h"]}}),
        );
        assert_eq!(
            (s.policies.len(), s.destination_rules.len(), s.problems.len()),
            (1, 1, 2)
        );
        assert_eq!(s.policies[0].mode, PolicyMode::Strict);
        assert_eq!(s.problems[1].kind, "DestinationRule");
    }

    #[test]
    fn service_conversion_keeps_selector_and_target_ports() {
        let svc = Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("shop".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some([("app".to_string(), "web".to_string())].into()),
                ports: Some(vec![
                    ServicePort {
                        port: 80,
                        target_port: Some(IntOrString::Int(8080)),
                        ..Default::default()
                    },
                    ServicePort {
                        port: 443,
                        target_port: Some(IntOrString::String("https".into())),
                        ..Default::default()
                    },
                    ServicePort {
                        port: 9000,
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = ServiceInfo::from(&svc);
        assert_eq!(s.target_port_of(80), Some(8080));
        assert_eq!(s.target_port_of(443), None);
        assert_eq!(s.target_port_of(9000), Some(9000));
        assert_eq!(s.selector.unwrap()["app"], "web");
        let no_selector = ServiceInfo::from(&Service::default());
        assert_eq!(no_selector.selector, None);
    }
}
