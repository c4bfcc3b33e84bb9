//! The Istio telemetry the simulated mesh keeps: every request it simulates (a `curl`/`wget`
//! exec, or [`Cluster::simulate_traffic`]) is counted in the proxies involved, the way Istio's
//! stats filter counts it, and `pilot-agent request GET stats/prometheus` in `istio-proxy`
//! answers with those counters in the Prometheus text format Envoy emits.
//!
//! What is counted (the sim's model of Istio 1.2x sidecars):
//! - the destination's sidecar (`reporter="destination"`) counts each request that reached
//!   it: `istio_requests_total` for HTTP ports, `istio_tcp_connections_opened_total` and
//!   `istio_tcp_connections_closed_total` for TCP ports (Istio's protocol selection: the
//!   Service port's `appProtocol` or name prefix), with `connection_security_policy`
//!   `mutual_tls` or `none`;
//! - a caller outside the mesh (or the proxy container itself, or a meshed caller's plaintext
//!   TCP, which carries no metadata) shows as `source_workload="unknown"`,
//!   `source_workload_namespace="unknown"`, `source_principal="unknown"`; a meshed caller
//!   sending plaintext HTTP keeps its workload (metadata exchange by headers) and has
//!   principal `unknown`;
//! - the caller's sidecar (`reporter="source"`) counts what it sent, with
//!   `connection_security_policy="unknown"` as Istio does;
//! - plaintext rejected by STRICT never becomes a request (the handshake never completes): it
//!   counts in the destination's inbound listener counter
//!   `envoy_listener_no_filter_chain_match{envoy_listener_address="0.0.0.0_15006"}`, and a
//!   sidecar refusing mTLS (DISABLE) is seen only by the caller's sidecar (503);
//! - ambient (ztunnel) and waypoint reporting are not simulated: the lab has no ztunnel pods.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::cluster::{Cluster, SimError};
use crate::mesh::{Call, Connection, Protocol, has_proxy, labels, spiffe_id, str_at};
use crate::util::glob_match;

/// The metrics, in the order the stats output lists them.
const REQUESTS: &str = "istio_requests_total";
const TCP_OPENED: &str = "istio_tcp_connections_opened_total";
const TCP_CLOSED: &str = "istio_tcp_connections_closed_total";
const METRICS: [&str; 3] = [REQUESTS, TCP_OPENED, TCP_CLOSED];

/// The inbound listener of a sidecar (Istio's `virtualInbound`).
const INBOUND_LISTENER: &str = "0.0.0.0_15006";

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct ProxyCounters {
    series: BTreeMap<(&'static str, Labels), u64>,
    no_filter_chain_match: u64,
}

/// Counters per proxy, keyed by (namespace, pod).
#[derive(Default)]
pub(crate) struct Telemetry {
    proxies: Mutex<HashMap<(String, String), ProxyCounters>>,
}

fn key(pod: &Value) -> (String, String) {
    (
        str_at(pod, "/metadata/namespace").to_string(),
        str_at(pod, "/metadata/name").to_string(),
    )
}

/// The workload a pod belongs to, as Istio names it: a ReplicaSet's pods belong to its
/// Deployment (the ReplicaSet name without the pod-template-hash), other owners by name, a bare
/// pod is its own workload.
fn workload_name(pod: &Value) -> String {
    let name = str_at(pod, "/metadata/name");
    let Some(owner) = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|o| o.first())
    else {
        return name.to_string();
    };
    let owner_name = str_at(owner, "/name");
    if str_at(owner, "/kind") == "ReplicaSet" {
        let hash = str_at(pod, "/metadata/labels/pod-template-hash");
        if let Some(deployment) = owner_name
            .strip_suffix(&format!("-{hash}"))
            .filter(|_| !hash.is_empty())
        {
            return deployment.to_string();
        }
    }
    owner_name.to_string()
}

/// The workload labels Istio's stats filter puts on one side of a series.
struct Peer {
    workload: String,
    canonical_service: String,
    canonical_revision: String,
    namespace: String,
    principal: String,
    app: String,
    version: String,
    cluster: String,
}

impl Peer {
    fn unknown() -> Peer {
        Peer {
            workload: "unknown".into(),
            canonical_service: "unknown".into(),
            canonical_revision: "latest".into(),
            namespace: "unknown".into(),
            principal: "unknown".into(),
            app: "unknown".into(),
            version: "unknown".into(),
            cluster: "unknown".into(),
        }
    }

    fn of(pod: &Value, principal: String) -> Peer {
        let l = labels(pod, "/metadata/labels");
        let first = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| l.get(*k).filter(|v| !v.is_empty()).cloned())
        };
        let workload = workload_name(pod);
        Peer {
            canonical_service: first(&["service.istio.io/canonical-name", "app.kubernetes.io/name", "app"])
                .unwrap_or_else(|| workload.clone()),
            canonical_revision: first(&[
                "service.istio.io/canonical-revision",
                "app.kubernetes.io/version",
                "version",
            ])
            .unwrap_or_else(|| "latest".into()),
            namespace: str_at(pod, "/metadata/namespace").to_string(),
            app: first(&["app"]).unwrap_or_else(|| "unknown".into()),
            version: first(&["version"]).unwrap_or_else(|| "unknown".into()),
            cluster: "Kubernetes".into(),
            workload,
            principal,
        }
    }
}

struct Series<'a> {
    reporter: &'static str,
    source: &'a Peer,
    destination: &'a Peer,
    call: &'a Call,
    response_code: u16,
    security: &'static str,
}

impl Series<'_> {
    /// The labels, in the order Istio's stats filter emits them.
    fn labels(&self) -> Labels {
        let (s, d, c) = (self.source, self.destination, self.call);
        let mut l: Labels = vec![
            ("reporter", self.reporter.into()),
            ("source_workload", s.workload.clone()),
            ("source_canonical_service", s.canonical_service.clone()),
            ("source_canonical_revision", s.canonical_revision.clone()),
            ("source_workload_namespace", s.namespace.clone()),
            ("source_principal", s.principal.clone()),
            ("source_app", s.app.clone()),
            ("source_version", s.version.clone()),
            ("source_cluster", s.cluster.clone()),
            ("destination_workload", d.workload.clone()),
            ("destination_workload_namespace", d.namespace.clone()),
            ("destination_principal", d.principal.clone()),
            ("destination_app", d.app.clone()),
            ("destination_version", d.version.clone()),
            (
                "destination_service",
                format!("{}.{}.svc.cluster.local", c.service, c.namespace),
            ),
            ("destination_canonical_service", d.canonical_service.clone()),
            ("destination_canonical_revision", d.canonical_revision.clone()),
            ("destination_service_name", c.service.clone()),
            ("destination_service_namespace", c.namespace.clone()),
            ("destination_cluster", d.cluster.clone()),
        ];
        match c.protocol {
            Protocol::Http => {
                l.push(("request_protocol", "http".into()));
                l.push(("response_code", self.response_code.to_string()));
                l.push(("grpc_response_status", String::new()));
                l.push((
                    "response_flags",
                    if self.response_code == 503 { "UF" } else { "-" }.into(),
                ));
            }
            Protocol::Tcp => {
                l.push(("request_protocol", "tcp".into()));
                l.push(("response_flags", "-".into()));
            }
        }
        l.push(("connection_security_policy", self.security.into()));
        l
    }

    fn add_to(&self, counters: &mut ProxyCounters, n: u64) {
        let labels = self.labels();
        let metrics: &[&'static str] = match self.call.protocol {
            Protocol::Http => &[REQUESTS],
            Protocol::Tcp => &[TCP_OPENED, TCP_CLOSED],
        };
        for m in metrics {
            *counters.series.entry((m, labels.clone())).or_default() += n;
        }
    }
}

/// Counts `n` calls from `client` that went as `call` describes and ended as `outcome`.
pub(crate) fn record(cluster: &Cluster, client: &Value, call: &Call, outcome: Connection, n: u64) {
    if n == 0 {
        return;
    }
    let destination_sidecar = has_proxy(&call.backend);
    let mtls_principal = |pod: &Value| {
        if call.client_mtls {
            spiffe_id(cluster, pod)
        } else {
            "unknown".to_string()
        }
    };
    // Whom the destination learns the caller is: the peer certificate (mTLS) or the metadata
    // headers a sidecar adds to plaintext HTTP; otherwise nothing.
    let identified = call.client_mtls || (call.via_client_sidecar && call.protocol == Protocol::Http);
    let source = if identified {
        Peer::of(client, mtls_principal(client))
    } else {
        Peer::unknown()
    };
    let destination = Peer::of(&call.backend, mtls_principal(&call.backend));
    let mut proxies = cluster
        .state
        .telemetry
        .proxies
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match outcome {
        // 200 reached the destination; 503 here is the caller's sidecar failing the handshake
        // with a destination that refuses mTLS, so only the caller saw it.
        Connection::Status(code) => {
            if destination_sidecar && code != 503 {
                let s = Series {
                    reporter: "destination",
                    source: &source,
                    destination: &destination,
                    call,
                    response_code: code,
                    security: if call.client_mtls { "mutual_tls" } else { "none" },
                };
                s.add_to(proxies.entry(key(&call.backend)).or_default(), n);
            }
            if call.via_client_sidecar {
                let me = Peer::of(client, mtls_principal(client));
                let s = Series {
                    reporter: "source",
                    source: &me,
                    destination: &destination,
                    call,
                    response_code: code,
                    security: "unknown",
                };
                s.add_to(proxies.entry(key(client)).or_default(), n);
            }
        }
        Connection::Reset => {
            if destination_sidecar {
                proxies
                    .entry(key(&call.backend))
                    .or_default()
                    .no_filter_chain_match += n;
            }
        }
        Connection::Refused | Connection::NoHost => {}
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// What `pilot-agent request GET stats/prometheus` prints in the `istio-proxy` of `pod`: Envoy's
/// Prometheus text exposition (`# TYPE` lines, no `# HELP`), Istio's counters first.
pub(crate) fn prometheus_text(cluster: &Cluster, pod: &Value) -> String {
    let proxies = cluster
        .state
        .telemetry
        .proxies
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let empty = ProxyCounters::default();
    let counters = proxies.get(&key(pod)).unwrap_or(&empty);
    let mut out = String::new();
    for metric in METRICS {
        let mut header = false;
        for ((m, labels), value) in &counters.series {
            if *m != metric {
                continue;
            }
            if !header {
                let _ = writeln!(out, "# TYPE {metric} counter");
                header = true;
            }
            let body: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{metric}{{{}}} {value}", body.join(","));
        }
    }
    let _ = writeln!(out, "# TYPE envoy_listener_no_filter_chain_match counter");
    let _ = writeln!(
        out,
        "envoy_listener_no_filter_chain_match{{envoy_listener_address=\"{INBOUND_LISTENER}\"}} {}",
        counters.no_filter_chain_match
    );
    let _ = writeln!(out, "# TYPE envoy_server_live gauge");
    let _ = writeln!(out, "envoy_server_live 1");
    out
}

impl Cluster {
    /// Simulates `n` requests from the first running pod (by name) in `namespace` whose name
    /// matches `pod` (a glob) to `url` (`http://SERVICE[.NAMESPACE][:PORT][/PATH]`), exactly as
    /// `curl` run in the pod's first container would go through the simulated mesh, and counts
    /// them in the proxies' telemetry (see [`Cluster::istio_stats`]). Returns the HTTP status the
    /// caller saw, or `None` when the connection failed (reset by STRICT, refused, no such host).
    pub fn simulate_traffic(
        &self,
        namespace: &str,
        pod: &str,
        url: &str,
        n: u64,
    ) -> Result<Option<u16>, SimError> {
        let mut pods: Vec<Value> = self
            .list("v1", "Pod", Some(namespace))
            .into_iter()
            .filter(|p| {
                glob_match(pod, str_at(p, "/metadata/name")) && str_at(p, "/status/phase") == "Running"
            })
            .collect();
        pods.sort_by(|a, b| str_at(a, "/metadata/name").cmp(str_at(b, "/metadata/name")));
        let client = pods.into_iter().next().ok_or_else(|| SimError {
            code: 404,
            message: format!("no running pod {pod:?} in namespace {namespace:?}"),
        })?;
        let container = client
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .map(|c| str_at(c, "/name"))
                    .find(|n| *n != "istio-proxy")
            })
            .unwrap_or("")
            .to_string();
        Ok(match crate::mesh::call(self, &client, &container, url, n) {
            Connection::Status(code) => Some(code),
            Connection::Reset | Connection::Refused | Connection::NoHost => None,
        })
    }

    /// The Prometheus text the `istio-proxy` of a pod serves (`pilot-agent request GET
    /// stats/prometheus`), or `None` when there is no such pod.
    pub fn istio_stats(&self, namespace: &str, pod: &str) -> Option<String> {
        let p = self.get("v1", "Pod", namespace, pod)?;
        Some(prometheus_text(self, &p))
    }

    /// Forgets every counter, as if every proxy had restarted.
    pub fn reset_telemetry(&self) {
        self.state
            .telemetry
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workloads_are_named_after_their_deployment() {
        let pod = json!({"metadata": {"name": "web-api-7c8d9f6b4d-x2k8p",
            "labels": {"pod-template-hash": "7c8d9f6b4d"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-api-7c8d9f6b4d"}]}});
        assert_eq!(workload_name(&pod), "web-api");
        let sts =
            json!({"metadata": {"name": "db-0", "ownerReferences": [{"kind": "StatefulSet", "name": "db"}]}});
        assert_eq!(workload_name(&sts), "db");
        assert_eq!(workload_name(&json!({"metadata": {"name": "bare"}})), "bare");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
