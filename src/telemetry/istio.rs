//! Istio's standard metrics as [`TrafficSample`]s: which series count, how their labels read,
//! and the PromQL queries that fetch them. Pure.
//!
//! Only the destination knows whether a connection was mutual TLS, so only series with
//! `reporter="destination"` (sidecars and ztunnel) or `reporter="waypoint"` are read.
//! `connection_security_policy` is `mutual_tls` (sidecar mTLS, HBONE) or `none` (plaintext
//! accepted by a sidecar); ztunnel never says `none` and reports plaintext passthrough as
//! `unknown`, so `unknown` on a destination-reported series is plaintext too.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{Peer, Protocol, Security, TrafficSample};

/// HTTP and gRPC requests.
pub const HTTP_METRIC: &str = "istio_requests_total";
/// Opened TCP connections.
pub const TCP_METRIC: &str = "istio_tcp_connections_opened_total";

/// The labels the queries group by (everything a sample needs).
pub const GROUP_LABELS: [&str; 8] = [
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "destination_workload",
    "destination_workload_namespace",
    "destination_service",
    "connection_security_policy",
];

/// The protocol a metric counts, for the two metrics read.
pub fn protocol_of(metric: &str) -> Option<Protocol> {
    match metric {
        HTTP_METRIC => Some(Protocol::Http),
        TCP_METRIC => Some(Protocol::Tcp),
        _ => None,
    }
}

/// A window as Prometheus reads it: whole seconds (`3600s`), at least one.
pub fn range(window: Duration) -> String {
    format!("{}s", window.as_secs().max(1))
}

pub use crate::model::traffic::human_duration as human_window;

/// The instant query for one metric: the increase over the window of destination- and
/// waypoint-reported series, summed by the labels a sample needs. `namespaces` limits the
/// destinations (None: all).
pub fn query(metric: &str, window: Duration, namespaces: Option<&[String]>) -> String {
    let mut selector = String::from("reporter=~\"destination|waypoint\"");
    if let Some(ns) = namespaces {
        // Namespace names are DNS labels: nothing in them needs regex escaping.
        selector.push_str(&format!(",destination_workload_namespace=~\"{}\"", ns.join("|")));
    }
    format!(
        "sum by ({}) (increase({metric}{{{selector}}}[{}]))",
        GROUP_LABELS.join(", "),
        range(window)
    )
}

/// A counter value as a count: negative, NaN and infinite values are errors; a positive
/// fraction (Prometheus extrapolates `increase`) counts at least one.
pub fn count_of(value: f64) -> Result<u64, String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("invalid counter value {value}"));
    }
    if value == 0.0 {
        return Ok(0);
    }
    Ok((value.round() as u64).max(1))
}

fn known(v: Option<&String>) -> Option<&str> {
    v.map(String::as_str).filter(|s| !s.is_empty() && *s != "unknown")
}

/// One series' labels as a sample.
///
/// `Ok(None)` for series that say nothing about inbound security: source-reported series, and
/// series whose destination workload is unknown (nothing to join them to). A destination- or
/// waypoint-reported series without a usable `connection_security_policy` is an error.
pub fn sample_from_labels(
    labels: &BTreeMap<String, String>,
    protocol: Protocol,
    count: u64,
) -> Result<Option<TrafficSample>, String> {
    match labels.get("reporter").map(String::as_str) {
        Some("destination") | Some("waypoint") => {}
        _ => return Ok(None),
    }
    let (Some(dest_ns), Some(dest_wl)) = (
        known(labels.get("destination_workload_namespace")),
        known(labels.get("destination_workload")),
    ) else {
        return Ok(None);
    };
    let security = match labels.get("connection_security_policy").map(String::as_str) {
        Some("mutual_tls") => Security::MutualTls,
        Some("none") | Some("unknown") => Security::Plaintext,
        Some(other) => {
            return Err(format!(
                "series to {dest_ns}/{dest_wl} has connection_security_policy={other:?}, expected mutual_tls, none or unknown"
            ));
        }
        None => {
            return Err(format!(
                "series to {dest_ns}/{dest_wl} has no connection_security_policy label"
            ));
        }
    };
    let source = match (
        known(labels.get("source_workload_namespace")),
        known(labels.get("source_workload")),
    ) {
        (Some(ns), Some(name)) => Peer::Workload {
            namespace: ns.to_string(),
            name: name.to_string(),
        },
        _ => Peer::Unknown,
    };
    Ok(Some(TrafficSample {
        source,
        source_principal: known(labels.get("source_principal")).map(str::to_string),
        destination_namespace: dest_ns.to_string(),
        destination_workload: dest_wl.to_string(),
        destination_service: known(labels.get("destination_service")).map(str::to_string),
        protocol,
        security,
        count,
    }))
}

/// Sums samples with the same source, principal, destination, service, protocol and security,
/// drops zero counts, and sorts (destination, then source) for stable output.
pub fn aggregate(samples: impl IntoIterator<Item = TrafficSample>) -> Vec<TrafficSample> {
    type Key = (
        String,
        String,
        Peer,
        Option<String>,
        Option<String>,
        Protocol,
        Security,
    );
    let mut acc: BTreeMap<Key, u64> = BTreeMap::new();
    for s in samples {
        let key = (
            s.destination_namespace,
            s.destination_workload,
            s.source,
            s.source_principal,
            s.destination_service,
            s.protocol,
            s.security,
        );
        let c = acc.entry(key).or_default();
        *c = c.saturating_add(s.count);
    }
    acc.into_iter()
        .filter(|(_, c)| *c > 0)
        .map(
            |((dns, dwl, source, principal, service, protocol, security), count)| TrafficSample {
                source,
                source_principal: principal,
                destination_namespace: dns,
                destination_workload: dwl,
                destination_service: service,
                protocol,
                security,
                count,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn dest(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut l = labels(&[
            ("reporter", "destination"),
            ("destination_workload", "web-api"),
            ("destination_workload_namespace", "istioinaction"),
            ("destination_service", "web-api.istioinaction.svc.cluster.local"),
        ]);
        l.extend(labels(extra));
        l
    }

    #[test]
    fn queries_are_exact() {
        assert_eq!(
            query(HTTP_METRIC, Duration::from_secs(3600), None),
            "sum by (reporter, source_workload, source_workload_namespace, source_principal, destination_workload, destination_workload_namespace, destination_service, connection_security_policy) (increase(istio_requests_total{reporter=~\"destination|waypoint\"}[3600s]))"
        );
        let ns = vec!["a".to_string(), "b".to_string()];
        assert!(query(TCP_METRIC, Duration::from_secs(90), Some(&ns)).ends_with(
            "(increase(istio_tcp_connections_opened_total{reporter=~\"destination|waypoint\",destination_workload_namespace=~\"a|b\"}[90s]))"
        ));
        assert_eq!(range(Duration::from_millis(10)), "1s");
    }

    #[test]
    fn windows_read_like_flags() {
        assert_eq!(human_window(Duration::from_secs(3600)), "1h");
        assert_eq!(human_window(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human_window(Duration::from_secs(45)), "45s");
        assert_eq!(human_window(Duration::from_secs(86_400 + 60)), "1d1m");
        assert_eq!(human_window(Duration::ZERO), "0s");
    }

    #[test]
    fn counts() {
        assert_eq!(count_of(0.0), Ok(0));
        assert_eq!(count_of(0.2), Ok(1));
        assert_eq!(count_of(119.6), Ok(120));
        assert!(count_of(-1.0).is_err());
        assert!(count_of(f64::NAN).is_err());
        assert!(count_of(f64::INFINITY).is_err());
    }

    #[test]
    fn security_policy_reading() {
        let mtls = sample_from_labels(
            &dest(&[
                ("connection_security_policy", "mutual_tls"),
                ("source_workload", "web"),
                ("source_workload_namespace", "istioinaction"),
                (
                    "source_principal",
                    "spiffe://cluster.local/ns/istioinaction/sa/web",
                ),
            ]),
            Protocol::Http,
            5,
        )
        .unwrap()
        .unwrap();
        assert_eq!(mtls.security, Security::MutualTls);
        assert_eq!(mtls.source.to_string(), "istioinaction/web");
        assert_eq!(
            mtls.source_principal.as_deref(),
            Some("spiffe://cluster.local/ns/istioinaction/sa/web")
        );
        let outside = sample_from_labels(
            &dest(&[
                ("connection_security_policy", "none"),
                ("source_workload", "unknown"),
                ("source_workload_namespace", "unknown"),
                ("source_principal", "unknown"),
            ]),
            Protocol::Http,
            7,
        )
        .unwrap()
        .unwrap();
        assert_eq!(outside.security, Security::Plaintext);
        assert_eq!(outside.source, Peer::Unknown);
        assert_eq!(outside.source_principal, None);
        // ztunnel: plaintext passthrough is `unknown` on its destination series.
        let ambient = sample_from_labels(
            &dest(&[("connection_security_policy", "unknown")]),
            Protocol::Tcp,
            3,
        )
        .unwrap()
        .unwrap();
        assert_eq!(ambient.security, Security::Plaintext);
        assert_eq!(ambient.protocol, Protocol::Tcp);
        // Waypoints count too.
        let mut w = dest(&[("connection_security_policy", "mutual_tls")]);
        w.insert("reporter".into(), "waypoint".into());
        assert!(sample_from_labels(&w, Protocol::Http, 1).unwrap().is_some());
    }

    #[test]
    fn series_that_say_nothing_are_skipped_and_broken_ones_are_errors() {
        let mut src = dest(&[("connection_security_policy", "unknown")]);
        src.insert("reporter".into(), "source".into());
        assert_eq!(sample_from_labels(&src, Protocol::Http, 1), Ok(None));
        let mut no_dest = dest(&[("connection_security_policy", "none")]);
        no_dest.insert("destination_workload".into(), "unknown".into());
        assert_eq!(sample_from_labels(&no_dest, Protocol::Http, 1), Ok(None));
        let e = sample_from_labels(&dest(&[]), Protocol::Http, 1).unwrap_err();
        assert!(e.contains("no connection_security_policy"), "{e}");
        let e = sample_from_labels(&dest(&[("connection_security_policy", "tls")]), Protocol::Http, 1)
            .unwrap_err();
        assert!(e.contains("\"tls\""), "{e}");
    }

    #[test]
    fn aggregation_sums_and_drops_zeros() {
        let mk = |src: &str, count: u64, security: Security| TrafficSample {
            source: if src == "unknown" {
                Peer::Unknown
            } else {
                Peer::Workload {
                    namespace: "default".into(),
                    name: src.into(),
                }
            },
            source_principal: None,
            destination_namespace: "ns".into(),
            destination_workload: "web".into(),
            destination_service: None,
            protocol: Protocol::Http,
            security,
            count,
        };
        let out = aggregate(vec![
            mk("sleep", 100, Security::Plaintext),
            mk("sleep", 20, Security::Plaintext),
            mk("sleep", 0, Security::MutualTls),
            mk("unknown", 3, Security::Plaintext),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].source.to_string(), "default/sleep");
        assert_eq!(out[0].count, 120);
        assert_eq!(out[1].source, Peer::Unknown);
    }
}
