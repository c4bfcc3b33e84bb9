//! Pods as the engine sees them: labels, owner, and the mesh facts Istio writes on them.
//!
//! Built from a full `Pod` or from metadata only (`PartialObjectMeta<Pod>`). From metadata the
//! sidecar is read from the injector's `sidecar.istio.io/status` annotation (JSON listing the
//! injected `containers` and `initContainers`; `istio-proxy` among the init containers is the
//! native-sidecar form) and the `security.istio.io/tlsMode: istio` label; ambient capture from
//! `ambient.istio.io/redirection`. With a full spec the containers themselves are read too.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Created, Labels, meta_name, meta_namespace};

/// Annotation written by the sidecar injector.
pub const SIDECAR_STATUS_ANNOTATION: &str = "sidecar.istio.io/status";
/// Label on injected pods.
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";
/// Annotation written by the Istio CNI agent on ambient-captured pods.
pub const AMBIENT_REDIRECTION_ANNOTATION: &str = "ambient.istio.io/redirection";
/// Inbound ports excluded from interception.
pub const EXCLUDE_INBOUND_ANNOTATION: &str = "traffic.sidecar.istio.io/excludeInboundPorts";
/// Inbound ports intercepted (`*` = all, the default).
pub const INCLUDE_INBOUND_ANNOTATION: &str = "traffic.sidecar.istio.io/includeInboundPorts";
/// Deprecated per-pod injection annotation.
pub const INJECT_ANNOTATION: &str = "sidecar.istio.io/inject";
/// Name of Istio's proxy container.
pub const PROXY_CONTAINER: &str = "istio-proxy";

/// The sidecar actually present on a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SidecarKind {
    /// No sidecar.
    None,
    /// `istio-proxy` as a regular container.
    Classic,
    /// `istio-proxy` as an init container with `restartPolicy: Always`.
    Native,
}

/// The pod's `ambient.istio.io/redirection` annotation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AmbientRedirection {
    /// Absent.
    None,
    /// `enabled`: traffic is captured by ztunnel.
    Enabled,
    /// `pending`: being enrolled, not captured yet.
    Pending,
    /// Any other value (kept for the report).
    Other(String),
}

/// Which inbound ports the sidecar intercepts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundCapture {
    /// `includeInboundPorts` when set to a list; `None` is `*` (all ports, the default).
    pub included: Option<BTreeSet<u32>>,
    /// `excludeInboundPorts`.
    pub excluded: BTreeSet<u32>,
}

impl InboundCapture {
    /// From the two annotations' values.
    pub fn from_annotations(include: Option<&str>, exclude: Option<&str>) -> Self {
        let list = |s: &str| -> BTreeSet<u32> {
            s.split(',')
                .filter_map(|p| p.trim().parse::<u32>().ok())
                .collect()
        };
        InboundCapture {
            included: include.map(str::trim).filter(|s| *s != "*").map(list),
            excluded: exclude.map(list).unwrap_or_default(),
        }
    }

    /// Whether traffic to `port` goes through the sidecar.
    pub fn intercepts(&self, port: u32) -> bool {
        !self.excluded.contains(&port) && self.included.as_ref().is_none_or(|inc| inc.contains(&port))
    }

    /// Whether every port is intercepted (the default).
    pub fn is_all(&self) -> bool {
        self.included.is_none() && self.excluded.is_empty()
    }
}

/// The controller owning a pod (from its ownerReferences).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// Owner kind (`ReplicaSet`, `StatefulSet` ...).
    pub kind: String,
    /// Owner name.
    pub name: String,
}

/// One pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Creation time.
    pub created: Created,
    /// Labels.
    pub labels: Labels,
    /// The controller (ownerReference with `controller: true`, else the first one).
    pub owner: Option<Owner>,
    /// Sidecar actually present.
    pub sidecar: SidecarKind,
    /// Ambient capture state.
    pub ambient: AmbientRedirection,
    /// `spec.hostNetwork`; `None` when only metadata was read.
    pub host_network: Option<bool>,
    /// Ports the sidecar intercepts.
    pub inbound: InboundCapture,
    /// Whether the full spec was read (containers were checked, not only annotations).
    pub spec_known: bool,
    /// The deprecated `sidecar.istio.io/inject` annotation (still honoured by the injector
    /// to opt out).
    pub inject_annotation: Option<String>,
}

impl PodInfo {
    /// A pod built by hand (tests, simulations): no sidecar, not captured, all ports.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, labels: Labels) -> Self {
        PodInfo {
            namespace: namespace.into(),
            name: name.into(),
            created: Created::ZERO,
            labels,
            owner: None,
            sidecar: SidecarKind::None,
            ambient: AmbientRedirection::None,
            host_network: None,
            inbound: InboundCapture::default(),
            spec_known: false,
            inject_annotation: None,
        }
    }

    /// From metadata only (labels, annotations, ownerReferences, name, namespace, creation).
    pub fn from_metadata(meta: &ObjectMeta) -> Self {
        let ann = meta.annotations.as_ref();
        let get = |k: &str| ann.and_then(|a| a.get(k)).map(String::as_str);
        let labels = meta.labels.clone().unwrap_or_default();
        let sidecar = match get(SIDECAR_STATUS_ANNOTATION) {
            Some(status) => sidecar_from_status(status),
            None if labels.get(TLS_MODE_LABEL).map(String::as_str) == Some("istio") => SidecarKind::Classic,
            None => SidecarKind::None,
        };
        let ambient = match get(AMBIENT_REDIRECTION_ANNOTATION) {
            None => AmbientRedirection::None,
            Some("enabled") => AmbientRedirection::Enabled,
            Some("pending") => AmbientRedirection::Pending,
            Some(other) => AmbientRedirection::Other(other.to_string()),
        };
        let owners = meta.owner_references.as_deref().unwrap_or_default();
        let owner = owners
            .iter()
            .find(|o| o.controller == Some(true))
            .or_else(|| owners.first())
            .map(|o| Owner {
                kind: o.kind.clone(),
                name: o.name.clone(),
            });
        PodInfo {
            namespace: meta_namespace(meta),
            name: meta_name(meta),
            created: Created::from_time(meta.creation_timestamp.as_ref()),
            labels,
            owner,
            sidecar,
            ambient,
            host_network: None,
            inbound: InboundCapture::from_annotations(
                get(INCLUDE_INBOUND_ANNOTATION),
                get(EXCLUDE_INBOUND_ANNOTATION),
            ),
            spec_known: false,
            inject_annotation: get(INJECT_ANNOTATION).map(str::to_string),
        }
    }
}

/// Reads the injector's status JSON: `istio-proxy` in `initContainers` is a native sidecar,
/// in `containers` a classic one. An unreadable value still means the pod was injected.
pub fn sidecar_from_status(status: &str) -> SidecarKind {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        #[serde(default)]
        init_containers: Option<Vec<String>>,
    }
    let Ok(s) = serde_json::from_str::<Status>(status) else {
        return SidecarKind::Classic;
    };
    let has = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| l.iter().any(|c| c == PROXY_CONTAINER));
    if has(&s.init_containers) {
        SidecarKind::Native
    } else {
        // A status without istio-proxy in either list: an injected pod of a custom template;
        // the annotation is the injector's own record, so it counts as a sidecar.
        SidecarKind::Classic
    }
}

impl From<&PartialObjectMeta<Pod>> for PodInfo {
    fn from(p: &PartialObjectMeta<Pod>) -> Self {
        PodInfo::from_metadata(&p.metadata)
    }
}

impl From<&Pod> for PodInfo {
    /// The full pod: the containers decide the sidecar, `hostNetwork` is known.
    fn from(pod: &Pod) -> Self {
        let mut info = PodInfo::from_metadata(&pod.metadata);
        if let Some(spec) = &pod.spec {
            let classic = spec.containers.iter().any(|c| c.name == PROXY_CONTAINER);
            let native = spec
                .init_containers
                .iter()
                .flatten()
                .any(|c| c.name == PROXY_CONTAINER && c.restart_policy.as_deref() == Some("Always"));
            info.sidecar = if native {
                SidecarKind::Native
            } else if classic {
                SidecarKind::Classic
            } else {
                SidecarKind::None
            };
            info.host_network = Some(spec.host_network.unwrap_or(false));
            info.spec_known = true;
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    /// Status annotations in the injector's format (see Istio's injection golden files).
    const NATIVE_STATUS: &str = r#"{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["istio-envoy"],"imagePullSecrets":null,"revision":"default"}"#;
    const CLASSIC_STATUS: &str = r#"{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"],"imagePullSecrets":null,"revision":"canary"}"#;

    fn meta(annotations: &[(&str, &str)], labels: &[(&str, &str)]) -> ObjectMeta {
        let map =
            |kv: &[(&str, &str)]| Some(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        ObjectMeta {
            name: Some("p".into()),
            namespace: Some("ns".into()),
            annotations: map(annotations),
            labels: map(labels),
            ..Default::default()
        }
    }

    #[test]
    fn sidecar_forms_from_the_status_annotation() {
        let native = PodInfo::from_metadata(&meta(&[(SIDECAR_STATUS_ANNOTATION, NATIVE_STATUS)], &[]));
        assert_eq!(native.sidecar, SidecarKind::Native);
        let classic = PodInfo::from_metadata(&meta(&[(SIDECAR_STATUS_ANNOTATION, CLASSIC_STATUS)], &[]));
        assert_eq!(classic.sidecar, SidecarKind::Classic);
        assert_eq!(sidecar_from_status("not json"), SidecarKind::Classic);
        let label_only = PodInfo::from_metadata(&meta(&[], &[(TLS_MODE_LABEL, "istio")]));
        assert_eq!(label_only.sidecar, SidecarKind::Classic);
        let plain = PodInfo::from_metadata(&meta(
            &[(INJECT_ANNOTATION, "false")],
            &[(TLS_MODE_LABEL, "disabled")],
        ));
        assert_eq!(plain.inject_annotation.as_deref(), Some("false"));
        assert_eq!(plain.sidecar, SidecarKind::None);
        assert!(!plain.spec_known && plain.host_network.is_none());
    }

    #[test]
    fn ambient_redirection_states() {
        let get =
            |v: &str| PodInfo::from_metadata(&meta(&[(AMBIENT_REDIRECTION_ANNOTATION, v)], &[])).ambient;
        assert_eq!(get("enabled"), AmbientRedirection::Enabled);
        assert_eq!(get("pending"), AmbientRedirection::Pending);
        assert_eq!(get("weird"), AmbientRedirection::Other("weird".into()));
        assert_eq!(
            PodInfo::from_metadata(&meta(&[], &[])).ambient,
            AmbientRedirection::None
        );
    }

    #[test]
    fn full_spec_decides_the_sidecar() {
        let proxy = |restart: Option<&str>| Container {
            name: PROXY_CONTAINER.into(),
            restart_policy: restart.map(Into::into),
            ..Default::default()
        };
        let app = Container {
            name: "app".into(),
            ..Default::default()
        };
        let pod = |containers: Vec<Container>, init: Vec<Container>, host: Option<bool>| Pod {
            metadata: meta(&[(SIDECAR_STATUS_ANNOTATION, NATIVE_STATUS)], &[]),
            spec: Some(PodSpec {
                containers,
                init_containers: Some(init),
                host_network: host,
                ..Default::default()
            }),
            ..Default::default()
        };
        let native = PodInfo::from(&pod(vec![app.clone()], vec![proxy(Some("Always"))], None));
        assert_eq!(
            (native.sidecar, native.host_network, native.spec_known),
            (SidecarKind::Native, Some(false), true)
        );
        let classic = PodInfo::from(&pod(vec![app.clone(), proxy(None)], vec![], Some(true)));
        assert_eq!(
            (classic.sidecar, classic.host_network),
            (SidecarKind::Classic, Some(true))
        );
        // An init container named istio-proxy that is not restartable is not a sidecar.
        let none = PodInfo::from(&pod(vec![app], vec![proxy(None)], None));
        assert_eq!(none.sidecar, SidecarKind::None);
    }

    #[test]
    fn owner_prefers_the_controller_reference() {
        let mut m = meta(&[], &[]);
        let r = |kind: &str, name: &str, controller: Option<bool>| OwnerReference {
            kind: kind.into(),
            name: name.into(),
            controller,
            ..Default::default()
        };
        m.owner_references = Some(vec![
            r("Thing", "t", None),
            r("ReplicaSet", "web-5d4f8", Some(true)),
        ]);
        let p = PodInfo::from_metadata(&m);
        assert_eq!(p.owner.unwrap().name, "web-5d4f8");
        m.owner_references = Some(vec![r("Thing", "t", None)]);
        assert_eq!(PodInfo::from_metadata(&m).owner.unwrap().kind, "Thing");
    }

    #[test]
    fn inbound_capture_annotations() {
        let c = InboundCapture::from_annotations(None, Some("8080, 9090"));
        assert!(!c.intercepts(8080) && !c.intercepts(9090) && c.intercepts(80));
        let c = InboundCapture::from_annotations(Some("80,443"), Some("443"));
        assert!(c.intercepts(80) && !c.intercepts(443) && !c.intercepts(8080));
        let all = InboundCapture::from_annotations(Some("*"), None);
        assert!(all.is_all() && all.intercepts(1));
        // An empty include list captures no inbound port at all.
        let none = InboundCapture::from_annotations(Some(""), None);
        assert!(!none.intercepts(80));
    }

    /// The real injector output from Istio's golden files is recognised, from metadata alone and
    /// from the full pod.
    #[test]
    fn real_injected_pod_is_a_native_sidecar() {
        let Some(text) = crate::resources::tests::shared_file("istio/injected/pod.yaml.injected") else {
            return;
        };
        let docs: Vec<Option<Pod>> = serde_saphyr::from_str_multiple(&text).expect("golden pod parses");
        let pod = docs.into_iter().flatten().next().expect("one pod");
        assert_eq!(PodInfo::from_metadata(&pod.metadata).sidecar, SidecarKind::Native);
        let full = PodInfo::from(&pod);
        assert_eq!(full.sidecar, SidecarKind::Native);
        assert_eq!(full.labels.get(TLS_MODE_LABEL).map(String::as_str), Some("istio"));
    }
}
