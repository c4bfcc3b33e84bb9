//! `kubectl mtls graph` end to end: on kube-sim's lab with simulated traffic (proxies mode,
//! before and after STRICT) and on a real Prometheus with backfilled series (the lab's
//! configuration for the modes); no telemetry is an error naming the two ways to get it.

mod common;
mod prometheus_support;

use common::Lab;
use kube_sim::{Scenario, TrafficFlow};
use prometheus_support::{Prometheus, counter, istio_labels, require};
use serde_json::Value;

const STRICT_ISTIOINACTION: &str = "apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction, creationTimestamp: '2026-01-01T00:00:00Z'}
spec: {mtls: {mode: STRICT}}
";

fn edge<'a>(doc: &'a Value, src: &str, dst: &str) -> &'a Value {
    doc["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == src && e["destination"] == dst)
        .unwrap_or_else(|| panic!("no edge {src} -> {dst}: {doc:#}"))
}

fn lab_with_traffic(rounds: u64) -> Lab {
    let lab = Lab::start(Scenario::lab().with_simulated_mesh());
    lab.sim()
        .cluster()
        .simulate_flows(&TrafficFlow::lab(), rounds)
        .expect("lab traffic");
    lab
}

#[test]
fn lab_before_and_after_strict_from_the_proxies_counters() {
    let lab = lab_with_traffic(10);
    let run = lab.plugin(&[
        "graph",
        "istioinaction",
        "--telemetry-from",
        "proxies",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["apiVersion"], "kubectl-mtls/v1");
    assert_eq!(doc["kind"], "MtlsGraph");
    assert_eq!(doc["telemetry"]["source"], "proxies");
    assert!(doc["telemetry"]["window"].is_null());
    assert_eq!(doc["namespaces"], serde_json::json!(["istioinaction"]));
    // default/sleep is outside the mesh: Istio reports it as `unknown`.
    let plain = edge(&doc, "unknown", "istioinaction/web-api");
    assert_eq!(plain["protocol"], "http");
    assert_eq!(plain["requests"], 20);
    assert_eq!(plain["mtlsPercent"], 0.0);
    assert_eq!(plain["destinationMode"], "PERMISSIVE");
    assert_eq!(plain["verdict"], "breaks-under-strict");
    assert_eq!(doc["edges"][0], *plain, "the dangerous edge comes first");
    let meshed = edge(&doc, "istioinaction/sleep", "istioinaction/web-api");
    assert_eq!(
        (meshed["requests"].as_u64(), meshed["mtlsPercent"].as_f64()),
        (Some(20), Some(100.0))
    );
    assert_eq!(meshed["verdict"], "mtls");
    for dst in ["istioinaction/recommendation", "istioinaction/history"] {
        let e = edge(&doc, "istioinaction/web-api", dst);
        assert_eq!(
            (e["verdict"].as_str(), e["requests"].as_u64()),
            (Some("mtls"), Some(40)),
            "{e}"
        );
    }
    assert!(
        doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("since each proxy started"))
    );
    let web = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "istioinaction/web-api")
        .unwrap();
    assert_eq!(web["refusedConnections"], 0, "{web}");

    let table = lab.plugin(&["graph", "istioinaction", "--telemetry-from", "proxies"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let first = table.stdout.lines().nth(1).unwrap();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        [
            "unknown",
            "istioinaction/web-api",
            "http",
            "20",
            "0%",
            "PERMISSIVE",
            "breaks-under-strict"
        ]
    );
    assert!(
        table
            .stdout
            .contains("Telemetry: proxies, since each proxy started"),
        "{}",
        table.stdout
    );

    // STRICT: the plaintext seen earlier is now toward a STRICT workload, so it is rejected;
    // mTLS keeps flowing and every in-mesh edge has its lock.
    lab.put_yaml(STRICT_ISTIOINACTION);
    lab.sim()
        .cluster()
        .simulate_flows(&TrafficFlow::lab(), 5)
        .expect("lab traffic");
    let doc = lab
        .plugin(&[
            "graph",
            "istioinaction",
            "--telemetry-from",
            "proxies",
            "-o",
            "json",
        ])
        .json();
    let plain = edge(&doc, "unknown", "istioinaction/web-api");
    assert_eq!(
        (plain["verdict"].as_str(), plain["requests"].as_u64()),
        (Some("rejected"), Some(20))
    );
    assert_eq!(plain["destinationMode"], "STRICT");
    assert_eq!(
        edge(&doc, "istioinaction/sleep", "istioinaction/web-api")["requests"],
        30
    );
    assert!(
        doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("refused handshakes"))
    );
    // The plaintext refused since (5 rounds x 2 requests) shows in web-api's sidecar counter.
    let web = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "istioinaction/web-api")
        .unwrap();
    assert_eq!(web["refusedConnections"], 10, "{web}");
    let refused_note = doc["notes"].as_array().unwrap().iter().any(|n| {
        n.as_str()
            .unwrap()
            .starts_with("istioinaction/web-api refused 10 inbound connections")
    });
    assert!(refused_note, "{doc:#}");
    let in_mesh: Vec<&Value> = doc["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] != "unknown")
        .collect();
    assert_eq!(in_mesh.len(), 3);
    assert!(in_mesh.iter().all(|e| e["verdict"] == "mtls"), "{doc:#}");

    let svg = lab.plugin(&[
        "graph",
        "istioinaction",
        "--telemetry-from",
        "proxies",
        "-o",
        "svg",
    ]);
    assert_eq!(svg.code, 0, "{}", svg.stderr);
    let xml = roxmltree::Document::parse(&svg.stdout).expect("SVG");
    let count = |class: &str| {
        xml.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .count()
    };
    assert_eq!(
        (count("edge mtls"), count("lock"), count("edge plaintext")),
        (3, 3, 1)
    );
    for (format, marker) in [
        ("dot", "digraph mtls {"),
        ("mermaid", "flowchart LR"),
        ("html", "<!DOCTYPE html>"),
    ] {
        let run = lab.plugin(&[
            "graph",
            "istioinaction",
            "--telemetry-from",
            "proxies",
            "-o",
            format,
        ]);
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        assert!(run.stdout.starts_with(marker), "{format}: {}", run.stdout);
    }
    let yaml = lab.plugin(&[
        "graph",
        "istioinaction",
        "--telemetry-from",
        "proxies",
        "-o",
        "yaml",
    ]);
    let back: Value = serde_saphyr::from_str(&yaml.stdout).expect("YAML");
    assert_eq!(back["kind"], "MtlsGraph");
}

#[test]
fn no_telemetry_is_an_error_naming_both_ways() {
    let lab = Lab::start(Scenario::lab());
    for args in [
        &["graph", "istioinaction"][..],
        &["graph", "istioinaction", "--telemetry", "off"][..],
    ] {
        let run = lab.plugin(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "nothing half-written: {}", run.stdout);
        let line = run.stderr.trim();
        assert!(line.starts_with("error: no telemetry"), "{line}");
        assert!(
            line.contains("--prometheus URL") && line.contains("--telemetry-from proxies"),
            "{line}"
        );
        assert_eq!(line.lines().count(), 1, "{line}");
    }
    let run = lab.plugin(&["graph", "istioinaction", "-A"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = lab.plugin(&["graph", "-o", "png"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn on_a_real_prometheus_edges_shares_and_verdicts() {
    let Some(bins) = require("on_a_real_prometheus_edges_shares_and_verdicts") else {
        return;
    };
    const HTTP: &str = "istio_requests_total";
    const TCP: &str = "istio_tcp_connections_opened_total";
    let ia = "istioinaction";
    let series = [
        // web-api -> recommendation: 300 mTLS and 100 plaintext (a DestinationRule gone wrong).
        counter(
            HTTP,
            istio_labels(
                "destination",
                Some((ia, "web-api")),
                (ia, "recommendation"),
                "mutual_tls",
            ),
            300.0,
            3000,
            0,
        ),
        counter(
            HTTP,
            istio_labels(
                "destination",
                Some((ia, "web-api")),
                (ia, "recommendation"),
                "none",
            ),
            100.0,
            3000,
            0,
        ),
        // Outside the mesh: unknown caller, plaintext to web-api.
        counter(
            HTTP,
            istio_labels("destination", None, (ia, "web-api"), "none"),
            120.0,
            3000,
            0,
        ),
        // TCP from a meshed caller in another namespace, mTLS.
        counter(
            TCP,
            istio_labels(
                "destination",
                Some(("default", "httpbin")),
                (ia, "history"),
                "mutual_tls",
            ),
            12.0,
            3000,
            0,
        ),
        // Source-reported series are ignored (only the destination knows).
        counter(
            HTTP,
            istio_labels("source", Some((ia, "web-api")), (ia, "history"), "unknown"),
            50.0,
            3000,
            0,
        ),
    ];
    let prom = Prometheus::start(&bins, &series);
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&[
        "graph",
        ia,
        "--prometheus",
        &prom.url,
        "--since",
        "1h",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["telemetry"]["source"], "prometheus");
    assert_eq!(doc["telemetry"]["window"], "1h");
    assert_eq!(doc["edges"].as_array().unwrap().len(), 3, "{doc:#}");
    let about = |v: &Value, n: f64| (v.as_f64().unwrap() - n).abs() <= n * 0.05;
    let mixed = edge(&doc, "istioinaction/web-api", "istioinaction/recommendation");
    assert!(about(&mixed["requests"], 400.0), "{mixed}");
    assert!(about(&mixed["mtlsPercent"], 75.0), "{mixed}");
    assert_eq!(mixed["verdict"], "breaks-under-strict");
    let outside = edge(&doc, "unknown", "istioinaction/web-api");
    assert!(about(&outside["requests"], 120.0), "{outside}");
    assert_eq!(
        (outside["mtlsPercent"].as_f64(), outside["verdict"].as_str()),
        (Some(0.0), Some("breaks-under-strict"))
    );
    let tcp = edge(&doc, "default/httpbin", "istioinaction/history");
    assert_eq!(
        (tcp["protocol"].as_str(), tcp["verdict"].as_str()),
        (Some("tcp"), Some("mtls"))
    );
    let caller = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "default/httpbin")
        .unwrap();
    assert_eq!(caller["inScope"], false);
    // Dangerous first: the two plaintext edges, then the mTLS one.
    assert_eq!(doc["edges"][2]["verdict"], "mtls");

    // After STRICT, the same window's plaintext is toward STRICT workloads: rejected.
    lab.put_yaml(STRICT_ISTIOINACTION);
    let doc = lab
        .plugin(&["graph", ia, "--prometheus", &prom.url, "-o", "json"])
        .json();
    let verdicts: Vec<&str> = doc["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["rejected", "rejected", "mtls"]);

    // Prometheus gone: the graph says so and fails, it is not an empty graph.
    drop(prom);
    let down = lab.plugin(&["graph", ia, "--prometheus", "http://127.0.0.1:9", "-o", "json"]);
    assert_eq!(
        down.code, 1,
        "an unreadable Prometheus is not an empty graph: {}",
        down.stderr
    );
    assert!(
        down.stderr.contains("Warning: telemetry: prometheus"),
        "{}",
        down.stderr
    );
    let doc = down.json();
    assert!(!doc["telemetry"]["errors"].as_array().unwrap().is_empty());
    assert!(
        doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("incomplete"))
    );
}

// --- Inputs checked before any request (issue 10 item 4) ---

#[test]
fn graph_checks_istio_flags_before_any_request() {
    let lab = Lab::start(Scenario::lab());
    lab.sim().clear_requests();
    for (args, flag) in [
        (
            &["graph", "istioinaction", "--istio-namespace", "x/.."][..],
            "--istio-namespace",
        ),
        (&["graph", "-A", "--revision", "canary/../x"], "--revision"),
    ] {
        let run = lab.plugin(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("for {flag}")), "{}", run.stderr);
    }
    assert!(lab.requests().is_empty(), "nothing sent: {:?}", lab.requests());
}
