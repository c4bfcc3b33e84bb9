//! Telemetry in reports: the `telemetry` JSON block, per-workload traffic fields, the
//! PLAINTEXT column, and the notes that say what the verdicts rest on.

use serde::Serialize;

use crate::engine::WorkloadTraffic;
use crate::model::traffic::human_duration;
use crate::model::{Protocol, TelemetrySource, Traffic};
use crate::style::Role;

/// The note when no telemetry was read, naming the two ways to get it.
pub const NOTE_NO_TELEMETRY: &str = "no telemetry was read, so STRICT-READY is judged from configuration only: callers that send plaintext are not seen (give --prometheus URL, or --telemetry-from proxies)";

/// `telemetry` in the JSON document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryReport {
    /// `prometheus`, `proxies` or `none`.
    pub source: TelemetrySource,
    /// The Prometheus window (`1h`); null for proxies (since start) and none.
    pub window: Option<String>,
    /// What was read: a URL (credentials redacted) or `port-forward NS/POD:PORT`; null when
    /// nothing was.
    pub endpoint: Option<String>,
    /// What could not be read, one line each.
    pub errors: Vec<String>,
}

/// The report of a traffic read.
pub fn telemetry_report(t: &Traffic) -> TelemetryReport {
    TelemetryReport {
        source: t.source,
        window: t.window.map(human_duration),
        endpoint: t.endpoint.clone(),
        errors: t.errors.clone(),
    }
}

/// One plaintext caller of a workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerReport {
    /// `NS/WORKLOAD`, or `unknown` for a caller outside the mesh.
    pub source: String,
    /// Its SPIFFE principal, or null.
    pub principal: Option<String>,
    /// `http` or `tcp`.
    pub protocol: Protocol,
    /// HTTP requests, or TCP connections, in the window.
    pub requests: u64,
}

/// Per-workload traffic fields (flattened into the workload's JSON); null when unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadTrafficReport {
    /// Who sent plaintext.
    pub plaintext_callers: Option<Vec<CallerReport>>,
    /// Requests/connections received over mutual TLS.
    pub mtls_requests: Option<u64>,
    /// Requests/connections received in plaintext.
    pub plaintext_requests: Option<u64>,
}

/// The report of one workload's traffic (`None`: unknown).
pub fn workload_traffic_report(w: Option<&WorkloadTraffic>) -> WorkloadTrafficReport {
    match w {
        None => WorkloadTrafficReport::default(),
        Some(w) => WorkloadTrafficReport {
            plaintext_callers: Some(
                w.plaintext_callers
                    .iter()
                    .map(|c| CallerReport {
                        source: c.source.to_string(),
                        principal: c.principal.clone(),
                        protocol: c.protocol,
                        requests: c.requests,
                    })
                    .collect(),
            ),
            mtls_requests: Some(w.mtls_requests),
            plaintext_requests: Some(w.plaintext_requests),
        },
    }
}

/// The PLAINTEXT cell: `?` unknown, `0`, or `127 (default/sleep, unknown)`.
pub fn plaintext_cell(r: &WorkloadTrafficReport) -> (String, Role) {
    match (&r.plaintext_requests, &r.plaintext_callers) {
        (Some(0), _) => ("0".into(), Role::Good),
        (Some(n), Some(callers)) => {
            let mut names: Vec<&str> = Vec::new();
            for c in callers {
                if !names.contains(&c.source.as_str()) {
                    names.push(&c.source);
                }
            }
            let keep = super::shown_of(names.len(), 2);
            let shown: Vec<&str> = names.iter().take(keep).copied().collect();
            let more = if names.len() > keep {
                format!(" +{}", names.len() - keep)
            } else {
                String::new()
            };
            (format!("{n} ({}{more})", shown.join(", ")), Role::Bad)
        }
        _ => ("?".into(), Role::Warn),
    }
}

/// What the verdicts rest on, for the notes of a report.
pub fn telemetry_notes(t: &Traffic) -> Vec<String> {
    let mut notes = Vec::new();
    match t.source {
        TelemetrySource::None => notes.push(NOTE_NO_TELEMETRY.to_string()),
        TelemetrySource::Prometheus => notes.push(format!(
            "STRICT-READY includes the traffic Prometheus ({}) recorded in the last {}: callers idle in that window, or older than its retention, are not seen",
            t.endpoint.as_deref().unwrap_or("not found"),
            t.window.map(human_duration).unwrap_or_else(|| "?".into())
        )),
        TelemetrySource::Proxies => notes.push(
            "STRICT-READY includes the traffic each sidecar counted since its proxy started (--telemetry-from proxies): callers seen only before a restart are not"
                .to_string(),
        ),
    }
    notes.extend(t.notes.iter().cloned());
    if !t.errors.is_empty() {
        notes.push(format!(
            "telemetry is incomplete ({} could not be read, see the warnings): verdicts that depend on it are unknown (?)",
            if t.errors.len() == 1 {
                "1 source".to_string()
            } else {
                format!("{} sources", t.errors.len())
            }
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::PlaintextCaller;
    use crate::model::Peer;

    fn traffic(source: TelemetrySource) -> Traffic {
        Traffic {
            source,
            window: (source == TelemetrySource::Prometheus).then_some(Duration::from_secs(3600)),
            endpoint: Some("http://u:xxxxx@prom:9090".into()),
            ..Traffic::none()
        }
    }

    #[test]
    fn the_json_block_and_workload_fields() {
        let r = telemetry_report(&traffic(TelemetrySource::Prometheus));
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"source": "prometheus", "window": "1h", "endpoint": "http://u:xxxxx@prom:9090", "errors": []})
        );
        assert_eq!(
            serde_json::to_value(telemetry_report(&Traffic::none())).unwrap(),
            serde_json::json!({"source": "none", "window": null, "endpoint": null, "errors": []})
        );
        let unknown = workload_traffic_report(None);
        assert_eq!(
            serde_json::to_value(&unknown).unwrap(),
            serde_json::json!({"plaintextCallers": null, "mtlsRequests": null, "plaintextRequests": null})
        );
        assert_eq!(plaintext_cell(&unknown).0, "?");
        let w = WorkloadTraffic {
            mtls_requests: 10,
            plaintext_requests: 127,
            plaintext_callers: vec![
                PlaintextCaller {
                    source: Peer::Workload {
                        namespace: "default".into(),
                        name: "sleep".into(),
                    },
                    principal: Some("spiffe://cluster.local/ns/default/sa/sleep".into()),
                    protocol: Protocol::Http,
                    requests: 120,
                },
                PlaintextCaller {
                    source: Peer::Unknown,
                    principal: None,
                    protocol: Protocol::Tcp,
                    requests: 7,
                },
            ],
        };
        let r = workload_traffic_report(Some(&w));
        assert_eq!(
            serde_json::to_value(&r).unwrap()["plaintextCallers"][1],
            serde_json::json!({"source": "unknown", "principal": null, "protocol": "tcp", "requests": 7})
        );
        assert_eq!(plaintext_cell(&r).0, "127 (default/sleep, unknown)");
        // Three callers: the third is shown rather than hidden behind "+1".
        let mut three = r.clone();
        let mut extra = three.plaintext_callers.clone().unwrap()[0].clone();
        extra.source = "default/curl".into();
        three.plaintext_callers.as_mut().unwrap().push(extra.clone());
        assert_eq!(
            plaintext_cell(&three).0,
            "127 (default/sleep, unknown, default/curl)"
        );
        extra.source = "default/wget".into();
        three.plaintext_callers.as_mut().unwrap().push(extra);
        assert_eq!(plaintext_cell(&three).0, "127 (default/sleep, unknown +2)");
        assert_eq!(
            plaintext_cell(&workload_traffic_report(Some(&WorkloadTraffic::default()))).0,
            "0"
        );
    }

    #[test]
    fn notes_say_what_verdicts_rest_on() {
        assert_eq!(
            telemetry_notes(&Traffic::none()),
            vec![NOTE_NO_TELEMETRY.to_string()]
        );
        let n = telemetry_notes(&traffic(TelemetrySource::Prometheus));
        assert!(
            n[0].contains("http://u:xxxxx@prom:9090") && n[0].contains("last 1h"),
            "{n:?}"
        );
        let mut t = traffic(TelemetrySource::Proxies);
        t.errors.push("a/b: cannot read".into());
        let n = telemetry_notes(&t);
        assert!(n[0].contains("since its proxy started"), "{n:?}");
        assert!(n[1].contains("1 source could not be read"), "{n:?}");
    }
}
