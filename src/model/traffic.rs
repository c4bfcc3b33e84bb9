//! Observed traffic from Istio telemetry, as plain data (no I/O).
//!
//! Both `status`/`enable`/`diff` (readiness from live traffic) and `graph` read the same
//! [`Traffic`]: the `telemetry` domain module fills it from Prometheus or from the sidecars'
//! own counters; the engine joins it with the effective modes.
//!
//! Only the destination side knows whether a connection was mutual TLS: samples come from
//! series reported by the destination (`reporter="destination"`, ztunnel's destination series in
//! ambient) or by a waypoint (`reporter="waypoint"`). Names are Istio's as reported
//! (`destination_workload` is the Deployment's name for its pods, the pod's name for a bare pod),
//! so they match [`crate::engine::WorkloadRef::name`] within a namespace, not its kind.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Who sent the traffic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Peer {
    /// A workload Istio identified (in the mesh, or a meshed caller sending plaintext).
    Workload {
        /// `source_workload_namespace`.
        namespace: String,
        /// `source_workload`.
        name: String,
    },
    /// `source_workload="unknown"`: a caller outside the mesh (or one Istio could not identify).
    Unknown,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Workload { namespace, name } => write!(f, "{namespace}/{name}"),
            Peer::Unknown => f.write_str("unknown"),
        }
    }
}

/// The protocol family of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `istio_requests_total`: HTTP and gRPC requests.
    Http,
    /// `istio_tcp_connections_opened_total`: TCP connections.
    Tcp,
}

/// Whether the destination saw the traffic over mutual TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Security {
    /// `connection_security_policy="mutual_tls"` (HBONE in ambient).
    MutualTls,
    /// `connection_security_policy="none"` on a sidecar's destination series, or `unknown` on a
    /// ztunnel destination series (plaintext passthrough).
    Plaintext,
}

/// One aggregated series: requests (HTTP) or opened connections (TCP) from one source to one
/// destination workload, with one security outcome, in the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficSample {
    /// The caller.
    pub source: Peer,
    /// `source_principal` (SPIFFE ID) when known; `None` for `unknown`/absent.
    pub source_principal: Option<String>,
    /// `destination_workload_namespace`.
    pub destination_namespace: String,
    /// `destination_workload`.
    pub destination_workload: String,
    /// `destination_service` (host) when reported.
    pub destination_service: Option<String>,
    /// HTTP or TCP.
    pub protocol: Protocol,
    /// mTLS or plaintext, as the destination saw it.
    pub security: Security,
    /// Requests (HTTP) or connections (TCP) in the window (a Prometheus `increase`, rounded),
    /// or since proxy start for counters read from the proxies.
    pub count: u64,
}

/// A window as people read it: `1h`, `90m` as `1h30m`, `45s`, `1d1m`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(days, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// Where the samples came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelemetrySource {
    /// A Prometheus HTTP API.
    Prometheus,
    /// Each sidecar's own inbound counters, read through exec (counted since proxy start).
    Proxies,
    /// No telemetry: readiness is judged from configuration only.
    None,
}

/// Everything telemetry could tell, with what it could not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Where it came from.
    pub source: TelemetrySource,
    /// The Prometheus window; `None` for proxies (since start) and for no telemetry.
    pub window: Option<Duration>,
    /// The endpoint read (URL, credentials redacted), when any.
    pub endpoint: Option<String>,
    /// The samples.
    pub samples: Vec<TrafficSample>,
    /// What could not be read (one line each: an unreachable Prometheus, a pod whose proxy
    /// could not be read). Any error makes a verdict that depends on it unknown, never a pass.
    pub errors: Vec<String>,
    /// Pods (`namespace/name`) whose proxy counters could not be read (proxies mode); each
    /// also has its line in `errors`. When every error is such a pod, only the workloads of
    /// these pods are unknown; any other error makes everything unknown.
    #[serde(default)]
    pub unread_pods: Vec<String>,
    /// What the reader wants said that does not make anything unknown (for example why no
    /// Prometheus was found in `auto` mode).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Inbound connections each sidecar refused because no filter chain matched (Envoy's
    /// `envoy_listener_no_filter_chain_match` on the inbound listener `0.0.0.0_15006`): under
    /// STRICT, mostly plaintext callers, which Istio's own metrics never record. Proxies mode
    /// only (since the proxy started); pods with none are not listed.
    #[serde(default)]
    pub refused: Vec<RefusedConnections>,
}

/// Inbound connections one sidecar refused without a matching filter chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedConnections {
    /// Namespace of the pod.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// Connections refused since its proxy started.
    pub count: u64,
}

impl Traffic {
    /// No telemetry at all.
    pub fn none() -> Traffic {
        Traffic {
            source: TelemetrySource::None,
            window: None,
            endpoint: None,
            samples: Vec::new(),
            errors: Vec::new(),
            unread_pods: Vec::new(),
            notes: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// Whether the samples can be trusted as complete for a verdict: a source was read and
    /// nothing failed.
    pub fn is_complete(&self) -> bool {
        self.source != TelemetrySource::None && self.errors.is_empty()
    }

    /// Whether the samples for traffic into pod `namespace/name` are complete: a source was
    /// read, and nothing failed except other pods' counters.
    pub fn covers_pod(&self, namespace: &str, name: &str) -> bool {
        if self.source == TelemetrySource::None || self.errors.len() > self.unread_pods.len() {
            return false;
        }
        let key = format!("{namespace}/{name}");
        !self.unread_pods.contains(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_display_and_completeness() {
        let p = Peer::Workload {
            namespace: "default".into(),
            name: "sleep".into(),
        };
        assert_eq!(p.to_string(), "default/sleep");
        assert_eq!(Peer::Unknown.to_string(), "unknown");
        let mut t = Traffic::none();
        assert!(!t.is_complete());
        t.source = TelemetrySource::Prometheus;
        assert!(t.is_complete());
        assert!(t.covers_pod("a", "p"));
        t.errors.push("a/p: exec failed".into());
        t.unread_pods.push("a/p".into());
        assert!(!t.is_complete());
        assert!(!t.covers_pod("a", "p"));
        assert!(t.covers_pod("a", "q"));
        t.errors.push("prometheus: connection refused".into());
        assert!(!t.is_complete());
        assert!(!t.covers_pod("a", "q"));
        assert!(!Traffic::none().covers_pod("a", "q"));
    }
}
