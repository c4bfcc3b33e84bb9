//! Helpers for tests/probe.rs: a simulated lab, the built binary run with a clean
//! environment, exec handlers that answer like a real mesh, and test certificates.

#![allow(dead_code)]

use base64::Engine as _;
use kube_sim::{Cluster, ExecRequest, ExecResponse};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use serde_json::{Value, json};

pub use crate::common::*;

/// A PeerAuthentication manifest.
pub fn peer_authentication(
    namespace: &str,
    name: &str,
    mode: &str,
    selector: Option<(&str, &str)>,
) -> String {
    let sel = selector
        .map(|(k, v)| format!("  selector:\n    matchLabels:\n      {k}: {v}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{sel}  mtls:\n    mode: {mode}\n"
    )
}

// ---------------------------------------------------------------------------------------------
// A mesh that behaves like Istio's

fn has_sidecar(pod: &Value) -> bool {
    let named = |key: &str| {
        pod["spec"][key]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == "istio-proxy"))
    };
    named("containers") || named("initContainers")
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The namespace- or mesh-level mode of a namespace (what clients' automatic mTLS sees).
fn namespace_mode(cluster: &Cluster, ns: &str) -> String {
    for n in [ns, "istio-system"] {
        for pa in cluster.list("security.istio.io/v1", "PeerAuthentication", Some(n)) {
            if pa["spec"]["selector"].is_null()
                && let Some(m) = pa["spec"]["mtls"]["mode"].as_str()
            {
                return m.to_string();
            }
        }
    }
    "PERMISSIVE".into()
}

/// The mode a target pod enforces and whether a workload-level policy set it, simplified to
/// "workload policy (its port-level entry first), else namespace policy, else mesh policy,
/// else PERMISSIVE".
fn mode_of(cluster: &Cluster, pod: &Value, port: &str) -> (String, bool) {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let pas = |n: &str| cluster.list("security.istio.io/v1", "PeerAuthentication", Some(n));
    let mode = |pa: &Value| pa["spec"]["mtls"]["mode"].as_str().map(str::to_string);
    for pa in pas(ns) {
        let sel = &pa["spec"]["selector"]["matchLabels"];
        if sel.is_object() && labels_match(sel, &pod["metadata"]["labels"]) {
            if let Some(m) = pa["spec"]["portLevelMtls"][port]["mode"].as_str() {
                return (m.to_string(), true);
            }
            if let Some(m) = mode(&pa) {
                return (m, true);
            }
        }
    }
    (namespace_mode(cluster, ns), false)
}

/// Answers `curl ... http://SVC.NS:PORT/...` the way a sidecar mesh does: STRICT rejects
/// clients without a sidecar (reset, exit 56), a workload-level DISABLE makes a meshed client's
/// sidecar answer 503, everything else gets 200.
pub fn mesh_handler(req: &ExecRequest, cluster: &Cluster) -> Option<ExecResponse> {
    if req.command.first().map(String::as_str) != Some("curl") {
        return None;
    }
    let url = req.command.last()?;
    let host = url.strip_prefix("http://")?.split(['/', ':']).next()?;
    let (svc, ns) = host.split_once('.')?;
    let ns = ns.split('.').next()?;
    let client = cluster.get("v1", "Pod", &req.namespace, &req.pod)?;
    let service = cluster.get("v1", "Service", ns, svc);
    let Some(service) = service else {
        return Some(ExecResponse {
            stdout: "000".into(),
            stderr: format!("curl: (6) Could not resolve host: {host}\n"),
            exit_code: 6,
        });
    };
    let selector = &service["spec"]["selector"];
    let target = cluster
        .list("v1", "Pod", Some(ns))
        .into_iter()
        .find(|p| labels_match(selector, &p["metadata"]["labels"]))?;
    let client_meshed = has_sidecar(&client);
    if !has_sidecar(&target) {
        return Some(ExecResponse::ok("200"));
    }
    // The workload port the Service forwards to (numbers only, as in the lab).
    let svc_port = url
        .strip_prefix("http://")?
        .split('/')
        .next()?
        .rsplit(':')
        .next()?;
    let target_port = service["spec"]["ports"]
        .as_array()?
        .iter()
        .find(|p| p["port"].as_u64().map(|n| n.to_string()).as_deref() == Some(svc_port))
        .map(|p| p["targetPort"].to_string())
        .unwrap_or_else(|| svc_port.to_string());
    // A port excluded from interception reaches the app directly.
    let excluded = target["metadata"]["annotations"]["traffic.sidecar.istio.io/excludeInboundPorts"]
        .as_str()
        .is_some_and(|ports| ports.split(',').any(|p| p.trim() == target_port));
    if excluded {
        return Some(ExecResponse::ok("200"));
    }
    let (mode, workload_level) = mode_of(cluster, &target, &target_port);
    // A DestinationRule with tls.mode DISABLE for the host makes the client's sidecar send plaintext.
    let dr_plaintext = cluster
        .list("networking.istio.io/v1", "DestinationRule", None)
        .iter()
        .any(|dr| {
            dr["spec"]["host"]
                .as_str()
                .is_some_and(|h| h.split('.').next() == Some(svc))
                && dr["spec"]["trafficPolicy"]["tls"]["mode"] == "DISABLE"
        });
    // Automatic mTLS sends plaintext when the namespace or mesh level is DISABLE.
    let client_plaintext = dr_plaintext || namespace_mode(cluster, ns) == "DISABLE";
    Some(match (mode.as_str(), client_meshed) {
        ("STRICT", true) if client_plaintext => ExecResponse::ok("503"),
        ("STRICT", false) => reset(),
        ("DISABLE", true) if workload_level => ExecResponse::ok("503"),
        _ => ExecResponse::ok("200"),
    })
}

/// curl's answer to a connection the server resets.
pub fn reset() -> ExecResponse {
    ExecResponse {
        stdout: "000".into(),
        stderr: "curl: (56) Recv failure: Connection reset by peer\n".into(),
        exit_code: 56,
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates

const HOUR: i64 = 3600;

pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub pem: String,
}

fn at(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).expect("valid time")
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A self-signed root like istiod's (`O=cluster.local`).
pub fn ca(org: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, org);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = at(now() - 30 * 24 * HOUR);
    params.not_after = at(now() + 3650 * 24 * HOUR);
    let key = KeyPair::generate().expect("key");
    let pem = params.self_signed(&key).expect("self-signed").pem();
    Ca { params, key, pem }
}

/// A workload certificate as istiod issues it: empty subject, URI SAN, 24 h from `not_before`.
pub fn workload_cert(issuer: &Ca, spiffe: &str, not_before: i64) -> String {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(spiffe.try_into().expect("uri"))];
    params.not_before = at(not_before);
    params.not_after = at(not_before + 24 * HOUR);
    let key = KeyPair::generate().expect("key");
    let issuer = Issuer::from_params(&issuer.params, &issuer.key);
    params.signed_by(&key, &issuer).expect("sign").pem()
}

/// The answer of `pilot-agent request GET config_dump?mask=dynamic_active_secrets`.
pub fn secrets_dump(chain_pem: &str, root_pem: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "configs": [{
            "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
            "dynamic_active_secrets": [
                {"name": "default", "version_info": "2026-11-22T15:00:00Z", "secret": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                    "name": "default", "tls_certificate": {
                    "certificate_chain": {"inline_bytes": b64(chain_pem)},
                    "private_key": {"inline_bytes": "W3JlZGFjdGVkXQ=="}}}},
                {"name": "ROOTCA", "version_info": "2026-11-22T15:00:00Z", "secret": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                    "name": "ROOTCA", "validation_context": {
                    "trusted_ca": {"inline_bytes": b64(root_pem)}}}}
            ]
        }]
    })
    .to_string()
}

/// The argv `probe --certs` runs in istio-proxy.
pub const PILOT_AGENT_ARGV: [&str; 4] = [
    "pilot-agent",
    "request",
    "GET",
    "config_dump?mask=dynamic_active_secrets",
];

pub const WEB_API_ID: &str = "spiffe://cluster.local/ns/istioinaction/sa/web-api";
pub const WEB_API_POD: &str = "web-api-7c8d9f6b4d-x2k8p";
pub const MESH_SLEEP: &str = "sleep-84c7d5f9b6-h5t2v";
pub const PLAIN_SLEEP: &str = "sleep-6c9f8b7d5c-pwz6q";
