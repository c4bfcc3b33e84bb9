//! A simulated Istio data plane for the lab: answers `curl`, `wget` and `pilot-agent` in pods the
//! way a real mesh would, from the objects in the cluster.
//!
//! This is the sim's own, deliberately simple model of what sidecars do (it does not use
//! kubectl-mtls's resolution engine, so the plugin is checked against something independent):
//!
//! - a pod is in the mesh when it has an `istio-proxy` container (classic or native sidecar) or
//!   ambient redirection;
//! - the server's mode: the oldest matching workload policy (its port-level entry for the
//!   target port first), else the oldest namespace-wide policy, else the oldest mesh-wide policy
//!   in `istio-system`, else PERMISSIVE; UNSET inherits;
//! - a sidecar client sends mTLS, unless a DestinationRule (client namespace, then the
//!   service's, then `istio-system`) sets `tls.mode: DISABLE`, or the destination's namespace-
//!   or mesh-level mode is DISABLE (automatic mTLS);
//! - STRICT rejects plaintext (curl exit 56, connection reset); DISABLE refuses mTLS, which a
//!   meshed client sees as HTTP 503 from its own sidecar (so a workload-level DISABLE breaks
//!   meshed clients); everything else answers HTTP 200;
//! - `pilot-agent request GET config_dump?mask=dynamic_active_secrets` in `istio-proxy` returns a
//!   workload certificate for `spiffe://<trust domain>/ns/<ns>/sa/<service account>` (24 h,
//!   backdated 2 minutes), signed by a lab root CA made at start;
//! - every simulated request is counted ([`crate::telemetry`]), and `pilot-agent request GET
//!   stats/prometheus` in `istio-proxy` (or `curl localhost:15000|15020|15090/stats/prometheus`
//!   in a pod with a sidecar) prints the counters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::exec::{ExecRequest, ExecResponse};
use crate::scenario::Scenario;

/// The lab's certificate authority and the certificates it issued.
pub struct SimulatedMesh {
    ca_params: rcgen::CertificateParams,
    ca_key: rcgen::KeyPair,
    ca_pem: String,
    issued: Mutex<HashMap<String, String>>,
}

impl Scenario {
    /// Adds the simulated data plane ([`SimulatedMesh`]) as an exec handler, after any handler
    /// already added (so a test's own handlers still decide first).
    pub fn with_simulated_mesh(self) -> Scenario {
        let mesh = Arc::new(SimulatedMesh::new());
        self.exec_handler(move |req, cluster| mesh.handle(req, cluster))
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn labels(v: &Value, ptr: &str) -> HashMap<String, String> {
    v.pointer(ptr)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn has_proxy(pod: &Value) -> bool {
    ["/spec/containers", "/spec/initContainers"].iter().any(|p| {
        pod.pointer(p)
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| str_at(c, "/name") == "istio-proxy"))
    })
}

pub(crate) fn in_mesh(pod: &Value) -> bool {
    has_proxy(pod) || str_at(pod, "/metadata/annotations/ambient.istio.io~1redirection") == "enabled"
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Strict,
    Permissive,
    Disable,
}

fn mode_of(v: &Value) -> Option<Mode> {
    match v.as_str()? {
        "STRICT" => Some(Mode::Strict),
        "PERMISSIVE" => Some(Mode::Permissive),
        "DISABLE" => Some(Mode::Disable),
        _ => None,
    }
}

fn oldest(mut ps: Vec<Value>) -> Option<Value> {
    ps.sort_by(|a, b| {
        (
            str_at(a, "/metadata/creationTimestamp"),
            str_at(a, "/metadata/name"),
        )
            .cmp(&(
                str_at(b, "/metadata/creationTimestamp"),
                str_at(b, "/metadata/name"),
            ))
    });
    ps.into_iter().next()
}

fn selector_of(p: &Value) -> HashMap<String, String> {
    labels(p, "/spec/selector/matchLabels")
}

/// The namespace-level mode of `ns` (its oldest namespace-wide policy, else the mesh-wide one).
fn namespace_mode(cluster: &Cluster, ns: &str) -> Option<Mode> {
    let namespace_wide = |ns: &str| {
        oldest(
            cluster
                .list("security.istio.io/v1", "PeerAuthentication", Some(ns))
                .into_iter()
                .filter(|p| selector_of(p).is_empty())
                .collect(),
        )
        .and_then(|p| p.pointer("/spec/mtls/mode").and_then(mode_of))
    };
    namespace_wide(ns).or_else(|| namespace_wide("istio-system"))
}

/// The server-side mode on `port` of `pod`, and whether a workload policy decided it.
fn server_mode(cluster: &Cluster, pod: &Value, port: u16) -> (Mode, bool) {
    let ns = str_at(pod, "/metadata/namespace");
    let pod_labels = labels(pod, "/metadata/labels");
    let policies = cluster.list("security.istio.io/v1", "PeerAuthentication", Some(ns));
    let workload = oldest(
        policies
            .iter()
            .filter(|p| {
                let sel = selector_of(p);
                !sel.is_empty() && sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
            })
            .cloned()
            .collect(),
    );
    if let Some(w) = &workload {
        if let Some(m) = w
            .pointer(&format!("/spec/portLevelMtls/{port}/mode"))
            .and_then(mode_of)
        {
            return (m, true);
        }
        if let Some(m) = w.pointer("/spec/mtls/mode").and_then(mode_of) {
            return (m, true);
        }
    }
    (namespace_mode(cluster, ns).unwrap_or(Mode::Permissive), false)
}

/// The TLS mode a DestinationRule sets for traffic from `client_ns` to `svc.ns`: rules in the
/// client's namespace, then the service's, then `istio-system`.
fn destination_rule_tls(cluster: &Cluster, client_ns: &str, svc: &str, ns: &str) -> Option<String> {
    let fqdn = format!("{svc}.{ns}.svc.cluster.local");
    for where_ in [client_ns, ns, "istio-system"] {
        for dr in cluster.list("networking.istio.io/v1", "DestinationRule", Some(where_)) {
            let host = str_at(&dr, "/spec/host");
            let dr_ns = str_at(&dr, "/metadata/namespace");
            let matches = host == fqdn || (host == svc && dr_ns == ns);
            if matches {
                let mode = str_at(&dr, "/spec/trafficPolicy/tls/mode");
                if !mode.is_empty() {
                    return Some(mode.to_string());
                }
            }
        }
    }
    None
}

/// Where a URL points: the Service, its namespace and port.
fn parse_url(url: &str, client_ns: &str) -> Option<(String, String, u16)> {
    let rest = url.strip_prefix("http://")?;
    let hostport = rest.split('/').next()?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hostport, 80),
    };
    let mut parts = host.split('.');
    let svc = parts.next()?.to_string();
    let ns = parts.next().unwrap_or(client_ns).to_string();
    Some((svc, ns, port))
}

/// What a connection from `client` to `url` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Connection {
    Status(u16),
    Reset,
    Refused,
    NoHost,
}

/// How Istio treats a Service port: HTTP (requests) or TCP (connections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Tcp,
}

/// Istio's protocol selection for a Service port: `appProtocol`, else the port name's prefix
/// (`tcp-db`); an unnamed port is sniffed, and what this mesh sends (curl) is HTTP.
fn port_protocol(service_port: &Value) -> Protocol {
    let declared = match str_at(service_port, "/appProtocol") {
        "" => str_at(service_port, "/name").split('-').next().unwrap_or(""),
        p => p,
    };
    match declared.to_ascii_lowercase().as_str() {
        "tcp" | "tls" | "https" | "mongo" | "mysql" | "redis" => Protocol::Tcp,
        _ => Protocol::Http,
    }
}

/// A call resolved to a backend pod: what the telemetry records.
pub(crate) struct Call {
    /// The pod that answered.
    pub backend: Value,
    /// The Service called and its namespace.
    pub service: String,
    pub namespace: String,
    pub protocol: Protocol,
    /// Whether the client's side sent Istio mTLS.
    pub client_mtls: bool,
    /// Whether the request left through the client's sidecar (so it carries the client's
    /// workload metadata and the client's proxy reports it).
    pub via_client_sidecar: bool,
}

/// Resolves and simulates `n` calls from `container` in `client` to `url`, counting them in the
/// cluster's telemetry, and returns what each of them did.
pub(crate) fn call(cluster: &Cluster, client: &Value, container: &str, url: &str, n: u64) -> Connection {
    let (outcome, resolved) = connect(cluster, client, container, url);
    if let Some(c) = resolved {
        crate::telemetry::record(cluster, client, &c, outcome, n);
    }
    outcome
}

fn connect(cluster: &Cluster, client: &Value, container: &str, url: &str) -> (Connection, Option<Call>) {
    let client_ns = str_at(client, "/metadata/namespace");
    let Some((svc, ns, port)) = parse_url(url, client_ns) else {
        return (Connection::NoHost, None);
    };
    let Some(service) = cluster.get("v1", "Service", &ns, &svc) else {
        return (Connection::NoHost, None);
    };
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(sp) = ports
        .iter()
        .find(|p| p.get("port").and_then(Value::as_u64) == Some(port as u64))
    else {
        return (Connection::Refused, None);
    };
    let protocol = port_protocol(sp);
    let target_port = sp
        .get("targetPort")
        .and_then(Value::as_u64)
        .map(|p| p as u16)
        .unwrap_or(port);
    let selector = labels(&service, "/spec/selector");
    let backend = cluster.list("v1", "Pod", Some(&ns)).into_iter().find(|p| {
        let l = labels(p, "/metadata/labels");
        !selector.is_empty() && selector.iter().all(|(k, v)| l.get(k) == Some(v))
    });
    let Some(backend) = backend else {
        return (Connection::Refused, None);
    };
    // Traffic from the proxy container itself bypasses interception: plaintext. A sidecar
    // client sends mTLS unless a DestinationRule says otherwise, or (automatic mTLS) the
    // destination's namespace- or mesh-level mode is DISABLE.
    let client_mtls = in_mesh(client)
        && container != "istio-proxy"
        && match destination_rule_tls(cluster, client_ns, &svc, &ns).as_deref() {
            Some("DISABLE") => false,
            Some("ISTIO_MUTUAL") => true,
            _ => namespace_mode(cluster, &ns) != Some(Mode::Disable),
        };
    let outcome = if !in_mesh(&backend) {
        Connection::Status(200)
    } else {
        match server_mode(cluster, &backend, target_port) {
            (Mode::Strict, _) if !client_mtls => Connection::Reset,
            (Mode::Disable, _) if client_mtls => Connection::Status(503),
            _ => Connection::Status(200),
        }
    };
    let call = Call {
        backend,
        service: svc,
        namespace: ns,
        protocol,
        client_mtls,
        via_client_sidecar: has_proxy(client) && container != "istio-proxy",
    };
    (outcome, Some(call))
}

/// The mesh's trust domain (`trustDomain` in the `istio` ConfigMap, else `cluster.local`).
pub(crate) fn trust_domain(cluster: &Cluster) -> String {
    cluster
        .get("v1", "ConfigMap", "istio-system", "istio")
        .and_then(|cm| {
            let mesh = str_at(&cm, "/data/mesh").to_string();
            mesh.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("trustDomain:")
                    .map(|t| t.trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "cluster.local".to_string())
}

/// The SPIFFE identity of a pod: `spiffe://<trust domain>/ns/<ns>/sa/<service account>`.
pub(crate) fn spiffe_id(cluster: &Cluster, pod: &Value) -> String {
    let sa = match str_at(pod, "/spec/serviceAccountName") {
        "" => "default",
        sa => sa,
    };
    format!(
        "spiffe://{}/ns/{}/sa/{sa}",
        trust_domain(cluster),
        str_at(pod, "/metadata/namespace")
    )
}

/// Inside a pod with a sidecar, Envoy's admin port (15000), its Prometheus port (15090) and the
/// agent's merged-metrics port (15020) serve the proxy's counters on `/stats/prometheus`.
fn local_proxy_stats(cluster: &Cluster, pod: &Value, url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = hostport.rsplit_once(':')?;
    let local = matches!(host, "localhost" | "127.0.0.1");
    let stats_port = matches!(port, "15000" | "15020" | "15090");
    (local && stats_port && has_proxy(pod) && path.starts_with("stats/prometheus"))
        .then(|| crate::telemetry::prometheus_text(cluster, pod))
}

impl SimulatedMesh {
    /// A mesh with a fresh root CA.
    pub fn new() -> SimulatedMesh {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "cluster.local");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let start = now() - 86_400;
        params.not_before = time::OffsetDateTime::from_unix_timestamp(start).expect("time");
        params.not_after =
            time::OffsetDateTime::from_unix_timestamp(start + 10 * 365 * 86_400).expect("time");
        let key = rcgen::KeyPair::generate().expect("CA key");
        let ca_pem = params.self_signed(&key).expect("CA cert").pem();
        SimulatedMesh {
            ca_params: params,
            ca_key: key,
            ca_pem,
            issued: Mutex::new(HashMap::new()),
        }
    }

    fn workload_cert(&self, spiffe: &str) -> String {
        let mut issued = self.issued.lock().expect("cert cache");
        if let Some(pem) = issued.get(spiffe) {
            return pem.clone();
        }
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.subject_alt_names = vec![rcgen::SanType::URI(spiffe.try_into().expect("SPIFFE URI"))];
        let not_before = now() - 120;
        params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).expect("time");
        params.not_after = time::OffsetDateTime::from_unix_timestamp(not_before + 86_400).expect("time");
        let key = rcgen::KeyPair::generate().expect("key");
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let pem = params.signed_by(&key, &issuer).expect("sign").pem();
        issued.insert(spiffe.to_string(), pem.clone());
        pem
    }

    fn secrets_dump(&self, cluster: &Cluster, pod: &Value) -> String {
        let leaf = self.workload_cert(&spiffe_id(cluster, pod));
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        json!({
            "configs": [{
                "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                "dynamic_active_secrets": [
                    {"name": "default", "version_info": "0", "secret": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                        "name": "default",
                        "tls_certificate": {
                            "certificate_chain": {"inline_bytes": b64(&format!("{leaf}{}", self.ca_pem))},
                            "private_key": {"inline_bytes": b64("[redacted]")}}}},
                    {"name": "ROOTCA", "version_info": "0", "secret": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                        "name": "ROOTCA",
                        "validation_context": {"trusted_ca": {"inline_bytes": b64(&self.ca_pem)}}}}
                ]
            }]
        })
        .to_string()
    }

    /// Answers the commands a mesh decides; `None` for anything else.
    pub fn handle(&self, req: &ExecRequest, cluster: &Cluster) -> Option<ExecResponse> {
        let pod = cluster.get("v1", "Pod", &req.namespace, &req.pod)?;
        let argv0 = req.command.first()?.rsplit('/').next()?.to_string();
        match argv0.as_str() {
            "curl" => {
                let url = req.command.iter().find(|a| a.starts_with("http://"))?;
                if let Some(stats) = local_proxy_stats(cluster, &pod, url) {
                    return Some(ExecResponse::ok(stats));
                }
                let write_code = req.command.iter().any(|a| a.contains("%{http_code}"));
                let host = url
                    .trim_start_matches("http://")
                    .split(['/', ':'])
                    .next()
                    .unwrap_or("");
                Some(match call(cluster, &pod, &req.container, url, 1) {
                    Connection::Status(code) if write_code => ExecResponse::ok(code.to_string()),
                    Connection::Status(code) if code >= 400 => ExecResponse::ok(
                        "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
                    ),
                    Connection::Status(_) => ExecResponse::ok("ok\n"),
                    Connection::Reset => ExecResponse {
                        stdout: if write_code { "000".into() } else { String::new() },
                        stderr: "curl: (56) Recv failure: Connection reset by peer\n".into(),
                        exit_code: 56,
                    },
                    Connection::Refused => ExecResponse {
                        stdout: if write_code { "000".into() } else { String::new() },
                        stderr: format!(
                            "curl: (7) Failed to connect to {host} port 80: Connection refused\n"
                        ),
                        exit_code: 7,
                    },
                    Connection::NoHost => ExecResponse {
                        stdout: if write_code { "000".into() } else { String::new() },
                        stderr: format!("curl: (6) Could not resolve host: {host}\n"),
                        exit_code: 6,
                    },
                })
            }
            "wget" => {
                let url = req.command.iter().find(|a| a.starts_with("http://"))?;
                Some(match call(cluster, &pod, &req.container, url, 1) {
                    Connection::Status(200) => ExecResponse {
                        stdout: String::new(),
                        stderr: "  HTTP/1.1 200 OK\n".into(),
                        exit_code: 0,
                    },
                    Connection::Status(code) => ExecResponse::fail(
                        1,
                        format!("wget: server returned error: HTTP/1.1 {code} Service Unavailable\n"),
                    ),
                    Connection::Reset => {
                        ExecResponse::fail(1, "wget: error getting response: Connection reset by peer\n")
                    }
                    Connection::Refused => {
                        ExecResponse::fail(1, "wget: can't connect to remote host: Connection refused\n")
                    }
                    Connection::NoHost => ExecResponse::fail(1, "wget: bad address\n"),
                })
            }
            "pilot-agent" if req.container == "istio-proxy" => {
                let args: Vec<&str> = req.command.iter().skip(1).map(String::as_str).collect();
                match args.as_slice() {
                    ["request", "GET", path] if path.trim_start_matches('/').starts_with("config_dump") => {
                        Some(ExecResponse::ok(self.secrets_dump(cluster, &pod)))
                    }
                    ["request", "GET", path]
                        if path.trim_start_matches('/').starts_with("stats/prometheus") =>
                    {
                        Some(ExecResponse::ok(crate::telemetry::prometheus_text(cluster, &pod)))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

impl Default for SimulatedMesh {
    fn default() -> Self {
        SimulatedMesh::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_service_namespace_and_port() {
        assert_eq!(
            parse_url("http://web-api.istioinaction:8080/x", "default"),
            Some(("web-api".into(), "istioinaction".into(), 8080))
        );
        assert_eq!(
            parse_url("http://web-api", "shop"),
            Some(("web-api".into(), "shop".into(), 80))
        );
        assert_eq!(parse_url("https://x", "shop"), None);
    }

    #[test]
    fn membership_comes_from_the_proxy_container_or_ambient() {
        assert!(has_proxy(
            &json!({"spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]}})
        ));
        assert!(has_proxy(
            &json!({"spec": {"initContainers": [{"name": "istio-proxy"}]}})
        ));
        assert!(!in_mesh(&json!({"spec": {"containers": [{"name": "app"}]}})));
        assert!(in_mesh(
            &json!({"metadata": {"annotations": {"ambient.istio.io/redirection": "enabled"}}})
        ));
    }
}
