//! `status` with telemetry, end to end on the simulated lab: a real Prometheus given with
//! --prometheus, the lab's simulated counters with --telemetry-from proxies, a Prometheus that
//! is down, telemetry off, and bad flags.

mod common;
mod prometheus_support;

use common::{Lab, Scenario};
use kube_sim::TrafficFlow;
use prometheus_support::{Prometheus, counter, istio_labels, require};

fn plaintext_series() -> Vec<prometheus_support::Series> {
    vec![
        // A meshed caller sending plaintext (a DestinationRule with DISABLE, say).
        counter(
            "istio_requests_total",
            istio_labels(
                "destination",
                Some(("default", "sleep")),
                ("istioinaction", "web-api"),
                "none",
            ),
            120.0,
            3300,
            0,
        ),
        // A caller outside the mesh.
        counter(
            "istio_requests_total",
            istio_labels("destination", None, ("istioinaction", "web-api"), "none"),
            30.0,
            3300,
            0,
        ),
        counter(
            "istio_requests_total",
            istio_labels(
                "destination",
                Some(("istioinaction", "web-api")),
                ("istioinaction", "recommendation"),
                "mutual_tls",
            ),
            200.0,
            3300,
            0,
        ),
    ]
}

#[test]
fn status_reads_a_real_prometheus() {
    let Some(bins) = require("status_reads_a_real_prometheus") else {
        return;
    };
    let prom = Prometheus::start(&bins, &plaintext_series());
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["status", "istioinaction", "--prometheus", &prom.url, "-o", "wide"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ready_line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("istioinaction"))
        .unwrap();
    assert!(
        ready_line.ends_with("no (plaintext from default/sleep, 1 unknown source)"),
        "{}",
        run.stdout
    );
    let web = run
        .stdout
        .lines()
        .find(|l| l.contains("deployment/web-api"))
        .unwrap();
    assert!(web.contains("(default/sleep, unknown)"), "{web}");
    assert!(!run.stdout.contains("does not check telemetry"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("Prometheus ({}) recorded in the last 1h", prom.url)),
        "{}",
        run.stdout
    );

    let json = lab
        .plugin(&["status", "istioinaction", "--prometheus", &prom.url, "-o", "json"])
        .json();
    assert_eq!(json["telemetry"]["source"], "prometheus");
    assert_eq!(json["telemetry"]["window"], "1h");
    assert_eq!(json["telemetry"]["endpoint"], prom.url.as_str());
    assert_eq!(json["telemetry"]["errors"], serde_json::json!([]));
    let ns = &json["namespaces"][0];
    assert_eq!(ns["strictReady"], false);
    assert_eq!(
        ns["strictReadyReasons"][0],
        "plaintext from default/sleep, 1 unknown source"
    );
    let web = json["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "web-api")
        .unwrap();
    let plaintext = web["plaintextRequests"].as_u64().unwrap();
    assert!((150..=153).contains(&plaintext), "{web}");
    assert_eq!(web["mtlsRequests"], 0);
    let callers = web["plaintextCallers"].as_array().unwrap();
    assert_eq!(callers[0]["source"], "default/sleep");
    assert_eq!(
        callers[0]["principal"],
        "spiffe://cluster.local/ns/default/sa/sleep"
    );
    assert_eq!(callers[0]["protocol"], "http");
    assert_eq!(callers[1]["source"], "unknown");
    assert_eq!(callers[1]["principal"], serde_json::Value::Null);
    let rec = json["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "recommendation")
        .unwrap();
    assert!(rec["mtlsRequests"].as_u64().unwrap() >= 200, "{rec}");
    assert_eq!(rec["plaintextCallers"], serde_json::json!([]));

    // Prometheus down: unknown, never yes, and the reason on stderr.
    drop(prom);
    let run = lab.plugin(&[
        "status",
        "istioinaction",
        "--prometheus",
        "http://127.0.0.1:9",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["namespaces"][0]["strictReady"], serde_json::Value::Null);
    assert_eq!(
        doc["namespaces"][0]["strictReadyReasons"][0],
        "telemetry could not be read"
    );
    assert_eq!(doc["telemetry"]["errors"].as_array().unwrap().len(), 1);
    assert!(
        run.stderr
            .contains("Warning: telemetry: prometheus at http://127.0.0.1:9"),
        "{}",
        run.stderr
    );
    let web = doc["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "web-api")
        .unwrap();
    assert_eq!(web["plaintextRequests"], serde_json::Value::Null);
    let table = lab.plugin(&["status", "istioinaction", "--prometheus", "http://127.0.0.1:9"]);
    assert!(
        table.stdout.contains("? (telemetry could not be read)"),
        "{}",
        table.stdout
    );
}

#[test]
fn since_sets_the_window() {
    let Some(bins) = require("since_sets_the_window") else {
        return;
    };
    // Plaintext from default/sleep three to two hours ago, none since.
    let prom = Prometheus::start(
        &bins,
        &[counter(
            "istio_requests_total",
            istio_labels(
                "destination",
                Some(("default", "sleep")),
                ("istioinaction", "web-api"),
                "none",
            ),
            50.0,
            10_800,
            7_200,
        )],
    );
    let lab = Lab::start(Scenario::lab());
    let recent = lab.plugin(&["status", "istioinaction", "--prometheus", &prom.url]);
    assert!(
        recent
            .stdout
            .lines()
            .any(|l| l.starts_with("istioinaction") && l.ends_with("yes")),
        "{}",
        recent.stdout
    );
    let wide = lab.plugin(&[
        "status",
        "istioinaction",
        "--prometheus",
        &prom.url,
        "--since",
        "4h",
        "-o",
        "json",
    ]);
    let doc = wide.json();
    assert_eq!(doc["telemetry"]["window"], "4h");
    assert_eq!(
        doc["namespaces"][0]["strictReadyReasons"][0],
        "plaintext from default/sleep"
    );
}

#[test]
fn status_reads_the_proxies_counters_on_the_lab() {
    let lab = Lab::start(Scenario::lab().with_simulated_mesh());
    lab.sim()
        .cluster()
        .simulate_flows(&TrafficFlow::lab(), 3)
        .unwrap();
    let run = lab.plugin(&[
        "status",
        "istioinaction",
        "--telemetry-from",
        "proxies",
        "--workloads",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("no (plaintext from 1 unknown source)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("since its proxy started"), "{}", run.stdout);
    let web = run
        .stdout
        .lines()
        .find(|l| l.contains("deployment/web-api"))
        .unwrap();
    assert!(web.contains(" 6 (unknown) "), "{web}");
    let doc = lab
        .plugin(&["status", "istioinaction", "--telemetry", "proxies", "-o", "json"])
        .json();
    assert_eq!(doc["telemetry"]["source"], "proxies");
    assert_eq!(doc["telemetry"]["window"], serde_json::Value::Null);
    let web = doc["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "web-api")
        .unwrap();
    assert_eq!(
        (web["plaintextRequests"].as_u64(), web["mtlsRequests"].as_u64()),
        (Some(6), Some(6))
    );
    // Every read went to istio-proxy with pilot-agent.
    let execs = lab.execs();
    assert!(!execs.is_empty());
    assert!(
        execs.iter().all(|(_, _, c, argv)| c == "istio-proxy"
            && argv == &["pilot-agent", "request", "GET", "stats/prometheus"]),
        "{execs:?}"
    );
}

#[test]
fn no_telemetry_says_the_verdict_is_from_configuration() {
    let lab = Lab::start(Scenario::lab());
    for args in [
        vec!["status", "istioinaction"],
        vec!["status", "istioinaction", "--telemetry", "off"],
    ] {
        let run = lab.plugin(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("istioinaction"), "{}", run.stdout);
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("istioinaction") && l.ends_with("yes")),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("judged from configuration only")
                && run
                    .stdout
                    .contains("--prometheus URL, or --telemetry-from proxies"),
            "{}",
            run.stdout
        );
    }
    let doc = lab.plugin(&["status", "istioinaction", "-o", "json"]).json();
    assert_eq!(
        doc["telemetry"],
        serde_json::json!({"source": "none", "window": null, "endpoint": null, "errors": []})
    );
    assert_eq!(doc["workloads"][0]["plaintextRequests"], serde_json::Value::Null);
    // Asked for explicitly, a missing Prometheus is unknown, not a silent yes.
    let run = lab.plugin(&["status", "istioinaction", "--telemetry", "prometheus"]);
    assert!(
        run.stdout.contains("? (telemetry could not be read)"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("prometheus: none found"), "{}", run.stderr);
}

#[test]
fn bad_telemetry_flags_are_usage_errors() {
    let lab = Lab::start(Scenario::lab());
    for (args, msg) in [
        (vec!["status", "--since", "0s"], "must be longer than 0"),
        (vec!["status", "--since", "soon"], "invalid duration"),
        (
            vec!["status", "--telemetry", "off", "--prometheus", "http://p:9090"],
            "cannot be combined",
        ),
        (
            vec!["status", "--prometheus", "prom:9090"],
            "invalid Prometheus URL",
        ),
        (vec!["status", "--telemetry", "sometimes"], "invalid value"),
        (
            vec!["status", "--telemetry", "off", "--telemetry-from", "proxies"],
            "cannot be used with",
        ),
    ] {
        let run = lab.plugin(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("error: "), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(msg), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    // Credentials in the URL never appear in output.
    let run = lab.plugin(&[
        "status",
        "--prometheus",
        "http://u:hunter2@127.0.0.1:9",
        "-o",
        "json",
    ]);
    assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"));
    assert_eq!(run.json()["telemetry"]["endpoint"], "http://u:xxxxx@127.0.0.1:9");
}
