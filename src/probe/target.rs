//! The target: parsing `SERVICE[.NAMESPACE][:PORT][/PATH]` and pod references, and resolving
//! them against the cluster (Service, port, the pods behind it, the mode they enforce).

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams};

use crate::client::Cluster;
use crate::collect::{ReadOptions, Scope, read_snapshot};
use crate::engine::{Finding, FindingCode, Level, Membership, PolicyIndex, ServiceIndex, analyze};
use crate::error::Error;
use crate::model::{DestinationRuleInfo, Labels, Mode, PodInfo, TargetPort};

use super::*;

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Service name.
    pub service: String,
    /// Namespace, when given (else the context's namespace).
    pub namespace: Option<String>,
    /// Service port, by number or by name, when given (else the Service's first port).
    pub port: Option<PortSpec>,
    /// Request path, starting with `/`.
    pub path: String,
}

/// A Service port as given on the command line: `8080` or its name (`http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// The port number.
    Number(u16),
    /// The port's `name` in the Service.
    Name(String),
}

impl From<u16> for PortSpec {
    fn from(p: u16) -> Self {
        PortSpec::Number(p)
    }
}

impl Target {
    /// The URL a client in `namespace` uses, with the resolved namespace and port.
    pub fn url(&self, namespace: &str, port: u16) -> String {
        format!("http://{}.{}:{}{}", self.service, namespace, port, self.path)
    }
}

pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Parses `SERVICE[.NAMESPACE][:PORT][/PATH]` or an `http://` URL whose host is a Service
/// name (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`).
pub fn parse_target(input: &str) -> Result<Target, Error> {
    let bad = |why: &str| Error::Usage(format!("invalid probe target {input:?}: {why}"));
    let rest = if let Some(r) = input.strip_prefix("http://") {
        r
    } else if input.starts_with("https://") {
        return Err(bad(
            "use http://: the sidecars do the TLS; an https:// request would be TLS inside mTLS and not test the policy",
        ));
    } else if input.contains("://") {
        return Err(bad("only http:// URLs are supported"));
    } else {
        input
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    // Only what RFC 3986 allows unencoded in a path and query: no spaces, no `{}[]` (which
    // curl would expand as globs), no control characters.
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%".contains(*c)))
    {
        return Err(bad(&format!(
            "the path may not contain {c:?}: percent-encode it (e.g. %20 for a space)"
        )));
    }
    let is_url = rest.len() != input.len();
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            let port: u16 = p
                .parse()
                .map_err(|_| bad("the port must be a number from 1 to 65535"))?;
            if port == 0 {
                return Err(bad("the port must be a number from 1 to 65535"));
            }
            (h, Some(PortSpec::Number(port)))
        }
        // A Service port name (IANA_SVC_NAME: at most 15 lower-case letters, digits and '-',
        // with a letter), outside URLs only: in a URL the port is a number.
        Some((h, p))
            if !is_url && p.len() <= 15 && is_dns_label(p) && p.bytes().any(|b| b.is_ascii_lowercase()) =>
        {
            (h, Some(PortSpec::Name(p.to_string())))
        }
        Some(_) if is_url => {
            return Err(bad(
                "in an http:// URL the port must be a number from 1 to 65535 (a port name works as SERVICE.NAMESPACE:NAME)",
            ));
        }
        Some(_) => {
            return Err(bad(
                "the port must be a number from 1 to 65535 or the name of one of the Service's ports",
            ));
        }
        None => (hostport, None),
    };
    let labels: Vec<&str> = host.split('.').collect();
    let (service, namespace) = match labels.as_slice() {
        [svc] => (*svc, None),
        [svc, ns] | [svc, ns, "svc"] => (*svc, Some(*ns)),
        [svc, ns, "svc", ..] => (*svc, Some(*ns)),
        _ => {
            return Err(bad(
                "the host must be SERVICE, SERVICE.NAMESPACE or SERVICE.NAMESPACE.svc[.DOMAIN]",
            ));
        }
    };
    if !is_dns_label(service) {
        return Err(bad(
            "the service name must be a DNS label (lower-case letters, digits, '-')",
        ));
    }
    if let Some(ns) = namespace
        && !is_dns_label(ns)
    {
        return Err(bad(
            "the namespace must be a DNS label (lower-case letters, digits, '-')",
        ));
    }
    Ok(Target {
        service: service.to_string(),
        namespace: namespace.map(str::to_string),
        port,
        path,
    })
}

/// A pod given on the command line: `POD`, `pod/POD` or `deploy/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodRef {
    /// A pod by name.
    Pod(String),
    /// One pod of a Deployment (a running one, as `kubectl exec deploy/NAME` picks).
    Deployment(String),
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodRef::Pod(n) => f.write_str(n),
            PodRef::Deployment(n) => write!(f, "deploy/{n}"),
        }
    }
}

/// Parses `POD`, `pod/POD` (`po/`, `pods/`) or `deploy/NAME` (`deployment/`, `deployments/`).
pub fn parse_pod_ref(input: &str) -> Result<PodRef, Error> {
    let bad = |why: &str| Error::Usage(format!("invalid pod {input:?}: {why}"));
    let (kind, name) = match input.split_once('/') {
        Some((k, n)) => (Some(k), n),
        None => (None, input),
    };
    let valid = !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label);
    if !valid {
        return Err(bad("a name must be lower-case letters, digits, '-' and '.'"));
    }
    match kind {
        None | Some("pod" | "pods" | "po") => Ok(PodRef::Pod(name.to_string())),
        Some("deploy" | "deployment" | "deployments") => Ok(PodRef::Deployment(name.to_string())),
        Some(other) => Err(bad(&format!(
            "unsupported kind {other:?}: use POD, pod/POD or deploy/NAME"
        ))),
    }
}

/// `matchLabels` and `matchExpressions` as a label selector string.
pub fn selector_string(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// Finds the pod a `POD` or `deploy/NAME` argument names in `namespace`. For a Deployment, a
/// running pod of it (the first by name), as `kubectl exec deploy/NAME` does.
pub async fn resolve_pod(cluster: &Cluster, namespace: &str, r: &PodRef) -> Result<Pod, Error> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    match r {
        PodRef::Pod(name) => match pods.get_opt(name).await.map_err(|e| cluster.err(e))? {
            Some(p) => Ok(p),
            None => {
                // A workload of that name is the usual slip: say which spelling finds it.
                let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
                let hint = match deployments.get_opt(name).await {
                    Ok(Some(_)) => format!("; did you mean deploy/{name}?"),
                    _ => String::new(),
                };
                Err(Error::Other(format!(
                    "pod \"{name}\" not found in namespace \"{namespace}\"{hint}"
                )))
            }
        },
        PodRef::Deployment(name) => {
            let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
            let d = deployments.get(name).await.map_err(|e| cluster.err(e))?;
            let selector = d
                .spec
                .as_ref()
                .map(|s| selector_string(&s.selector))
                .unwrap_or_default();
            if selector.is_empty() {
                return Err(Error::Other(format!(
                    "deployment {namespace}/{name} has an empty selector: name a pod instead"
                )));
            }
            let mut list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| cluster.err(e))?
                .items;
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            list.into_iter().find(pod_is_running).ok_or_else(|| {
                Error::Other(format!(
                    "deployment {namespace}/{name} has no running pod (selector {selector})"
                ))
            })
        }
    }
}

pub fn pod_name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

pub fn pod_ns(p: &Pod) -> String {
    p.metadata.namespace.clone().unwrap_or_default()
}

pub fn labels_of(p: &Pod) -> Labels {
    p.metadata.labels.clone().unwrap_or_default()
}

pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Resolves a named target port through the pod's container ports.
pub fn named_port(pod: &Pod, name: &str) -> Option<u32> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u32::try_from(p.container_port).ok())
}

// ---------------------------------------------------------------------------------------------
// Traffic

/// What the command needs from the target: resolved once, before clients run.
pub struct Resolved {
    pub view: TargetView,
    pub enforcement: Vec<EnforcementView>,
    /// Names of the pods behind the Service (never picked as clients).
    pub backing: BTreeSet<String>,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    /// Pods of the target namespace (full objects), for client picking.
    pub namespace_pods: Vec<Pod>,
    /// DestinationRules whose host designates the target Service.
    pub rules: Vec<DestinationRuleInfo>,
    /// Istio's root namespace.
    pub root_namespace: String,
    /// `enableAutoMtls` from the mesh config.
    pub auto_mtls: bool,
    /// The namespace- or mesh-level mode of the target namespace is DISABLE: automatic mTLS
    /// makes sidecar clients send plaintext.
    pub namespace_disable: bool,
}

pub async fn resolve_target(cluster: &Cluster, args: &Options, raw: &str) -> Result<Resolved, Error> {
    let target = parse_target(raw)?;
    let ns = target
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.namespace.clone());
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
    let svc = match services
        .get_opt(&target.service)
        .await
        .map_err(|e| cluster.err(e))?
    {
        Some(s) => s,
        None => {
            return Err(Error::Other(format!(
                "service \"{}\" not found in namespace \"{ns}\"",
                target.service
            )));
        }
    };
    let info = crate::model::ServiceInfo::from(&svc);
    let mut notes = Vec::new();
    let port_list = || {
        info.ports
            .iter()
            .map(|p| p.port.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let svc_port = match &target.port {
        Some(PortSpec::Number(p)) => {
            info.ports
                .iter()
                .find(|sp| sp.port == u32::from(*p))
                .ok_or_else(|| {
                    Error::Other(format!(
                        "service {ns}/{} has no port {p} (ports: {})",
                        target.service,
                        port_list()
                    ))
                })?
        }
        Some(PortSpec::Name(name)) => {
            // The names live in the Service's spec (ServiceInfo keeps numbers only).
            let spec_ports = svc
                .spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let number = spec_ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u32::try_from(p.port).ok());
            match number.and_then(|n| info.ports.iter().find(|sp| sp.port == n)) {
                Some(sp) => sp,
                None => {
                    let names: Vec<String> = spec_ports
                        .iter()
                        .map(|p| match p.name.as_deref() {
                            Some(n) if !n.is_empty() => format!("{n} ({})", p.port),
                            _ => format!("unnamed ({})", p.port),
                        })
                        .collect();
                    return Err(Error::Other(format!(
                        "service {ns}/{} has no port named \"{name}\" (ports: {})",
                        target.service,
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )));
                }
            }
        }
        None => {
            let first = info
                .ports
                .first()
                .ok_or_else(|| Error::Other(format!("service {ns}/{} has no ports", target.service)))?;
            if info.ports.len() > 1 {
                notes.push(format!(
                    "service {ns}/{} has ports {}: probing {} (choose with {}:PORT)",
                    target.service,
                    port_list(),
                    first.port,
                    target.service
                ));
            }
            first
        }
    };
    let port = u16::try_from(svc_port.port).map_err(|_| Error::Other("invalid service port".into()))?;
    let Some(selector) = info.selector.clone() else {
        return Err(Error::Other(format!(
            "service {ns}/{} has no selector: the workloads behind it (and so the policy they enforce) are unknown",
            target.service
        )));
    };

    // Full pods of the target namespace: the backing pods and client candidates.
    let pods_api: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let namespace_pods = pods_api
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.err(e))?
        .items;
    let backing: Vec<&Pod> = namespace_pods
        .iter()
        .filter(|p| selects(&selector, &labels_of(p)) && pod_is_running(p))
        .collect();
    if backing.is_empty() {
        return Err(Error::Other(format!(
            "no running pod behind service {ns}/{} (selector {})",
            target.service,
            selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        )));
    }

    // The policy, resolved by the engine over full pods.
    let opts = ReadOptions {
        istio_namespace: args.istio_namespace.clone(),
        revision: None,
        pod_selector: None,
    };
    let mut read = read_snapshot(cluster, &Scope::Namespaces(vec![ns.clone()]), &opts).await?;
    read.snapshot.pods = namespace_pods.iter().map(PodInfo::from).collect();
    for gap in &read.gaps {
        notes.push(gap.to_string());
    }
    notes.extend(read.warnings.iter().cloned());
    let analysis = analyze(&read.snapshot);
    let index = PolicyIndex::new(&read.snapshot);
    let services = ServiceIndex::new(&read.snapshot.services, &read.snapshot.cluster_domain);
    let rules: Vec<DestinationRuleInfo> = read
        .snapshot
        .destination_rules
        .iter()
        .filter(|dr| {
            services
                .lookup(&dr.host, &dr.namespace)
                .iter()
                .any(|s| s.namespace == ns && s.name == target.service)
        })
        .cloned()
        .collect();
    let client_visible_disable = index.namespace_mode(&ns).mode == Mode::Disable;

    let mut target_port = None;
    let mut enforcement: Vec<EnforcementView> = Vec::new();
    for pod in &backing {
        let name = pod_name(pod);
        let tp = match &svc_port.target_port {
            TargetPort::Number(n) => *n,
            TargetPort::Name(n) => named_port(pod, n).ok_or_else(|| {
                Error::Other(format!(
                    "service {ns}/{} targets port \"{n}\", which pod {name} does not declare",
                    target.service
                ))
            })?,
        };
        target_port.get_or_insert(tp);
        let Some(pr) = analysis.pods.iter().find(|r| r.namespace == ns && r.name == name) else {
            continue;
        };
        let resolved = pr.policy.mode_for_port(tp);
        let meshed = pr.mesh.membership.is_meshed();
        let mut source = resolved.source.to_string();
        let mut mode = resolved.mode;
        if pr.mesh.membership == Membership::Ambient && mode == Mode::Disable {
            // ztunnel does not implement DISABLE: it accepts plaintext and mTLS.
            mode = Mode::Permissive;
            source = format!("{source}; DISABLE is not supported in ambient mode, ztunnel accepts both");
        }
        let e = Enforcement {
            mode,
            workload_level: matches!(resolved.source.level, Level::Workload | Level::Port)
                && !client_visible_disable,
            target_in_mesh: meshed,
            port_bypassed: meshed && !pr.enforced_on(tp),
        };
        match enforcement
            .iter_mut()
            .find(|v| v.enforcement == e && v.source == source)
        {
            Some(v) => v.pods.push(name),
            None => enforcement.push(EnforcementView {
                enforcement: e,
                source,
                pods: vec![name],
            }),
        }
    }
    let target_port = target_port.unwrap_or(svc_port.port);
    if enforcement.is_empty() {
        return Err(Error::Other(format!(
            "the policy of the pods behind {ns}/{} could not be resolved",
            target.service
        )));
    }
    if enforcement.len() > 1 {
        notes.push(format!(
            "the pods behind {ns}/{} enforce different modes on port {target_port}: each request reaches one of them",
            target.service
        ));
    }

    let svc_key = format!("{ns}/{}", target.service);
    let relevant = [
        FindingCode::DestinationRuleDisablesTls,
        FindingCode::DestinationRulePlaintext,
        FindingCode::WorkloadDisableWithMtlsClients,
        FindingCode::AutoMtlsDisabled,
        FindingCode::AmbientDisableUnsupported,
    ];
    let findings = analysis
        .findings
        .iter()
        .filter(|f| relevant.contains(&f.code))
        .filter(|f| {
            f.code == FindingCode::AutoMtlsDisabled
                || f.object.namespace == ns
                || f.message.contains(&svc_key)
                || f.message.contains(&format!("{}.{ns}", target.service))
        })
        .cloned()
        .collect();

    Ok(Resolved {
        view: TargetView {
            service: target.service.clone(),
            namespace: ns.clone(),
            port,
            target_port,
            url: target.url(&ns, port),
        },
        enforcement,
        backing: backing.iter().map(|p| format!("{ns}/{}", pod_name(p))).collect(),
        findings,
        notes,
        namespace_pods,
        rules,
        root_namespace: read.snapshot.root_namespace.clone(),
        auto_mtls: !read.snapshot.auto_mtls_disabled,
        namespace_disable: client_visible_disable,
    })
}
