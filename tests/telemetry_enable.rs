//! The STRICT review with observed traffic: `enable --strict` refuses to cut live plaintext
//! callers (exit 1, nothing written; --force overrides), `diff --strict` says so, mTLS-only
//! traffic passes, and no telemetry is a warning that the check could not be made. On a real
//! Prometheus and on the lab's simulated counters.

mod common;
mod prometheus_support;

use common::*;
use kube_sim::TrafficFlow;
use prometheus_support::{Prometheus, counter, istio_labels, require};

const PA_V1: &str = "security.istio.io/v1";

fn writes(lab: &Lab) -> usize {
    lab.requests()
        .iter()
        .filter(|r| matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete"))
        .count()
}

fn policy_exists(lab: &Lab) -> bool {
    lab.sim()
        .cluster()
        .get(PA_V1, "PeerAuthentication", "istioinaction", "default")
        .is_some()
}

#[test]
fn enable_refuses_to_cut_plaintext_callers_seen_by_prometheus() {
    let Some(bins) = require("enable_refuses_to_cut_plaintext_callers_seen_by_prometheus") else {
        return;
    };
    let prom = Prometheus::start(
        &bins,
        &[
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
            counter(
                "istio_tcp_connections_opened_total",
                istio_labels("destination", None, ("istioinaction", "recommendation"), "none"),
                3.0,
                3300,
                0,
            ),
        ],
    );
    let lab = Lab::start(Scenario::lab());
    lab.sim().clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--strict", "--prometheus", &prom.url]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    // One `error:` line with the first reason, the others below it.
    assert_eq!(
        run.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{}",
        run.stderr
    );
    let refusals: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| {
            l.strip_prefix("error: refusing to change peerauthentication.security.istio.io/default: ")
                .or_else(|| l.strip_prefix("  also: "))
        })
        .collect();
    assert_eq!(refusals.len(), 2, "{}", run.stderr);
    let sleep = refusals[0]
        .strip_prefix("default/sleep -> istioinaction/web-api: ")
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let n: u64 = sleep.split(' ').next().unwrap().parse().unwrap();
    assert!((120..=122).contains(&n), "{sleep}");
    assert!(
        sleep.ends_with(" plaintext requests in 1h; these will fail"),
        "{sleep}"
    );
    assert!(
        refusals[1].ends_with(
            "unknown -> istioinaction/recommendation: 3 plaintext connections in 1h; these will fail"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\n  nothing was written:"), "{}", run.stderr);
    assert_eq!(writes(&lab), 0);
    assert!(!policy_exists(&lab));

    // diff says what enable would refuse (its apply is a server dry run: nothing is stored).
    let run = lab.plugin(&["diff", "istioinaction", "--strict", "--prometheus", &prom.url]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: `kubectl mtls enable` would refuse this change: default/sleep -> istioinaction/web-api: "
        ),
        "{}",
        run.stderr
    );
    assert!(!policy_exists(&lab));

    // --force writes anyway, saying what it overrode.
    let run = lab.plugin(&[
        "enable",
        "istioinaction",
        "--strict",
        "--prometheus",
        &prom.url,
        "--force",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: --force: writing despite: default/sleep -> istioinaction/web-api: "),
        "{}",
        run.stderr
    );
    assert!(policy_exists(&lab));
}

#[test]
fn mtls_only_traffic_passes_the_review() {
    let Some(bins) = require("mtls_only_traffic_passes_the_review") else {
        return;
    };
    let prom = Prometheus::start(
        &bins,
        &[counter(
            "istio_requests_total",
            istio_labels(
                "destination",
                Some(("istioinaction", "sleep")),
                ("istioinaction", "web-api"),
                "mutual_tls",
            ),
            90.0,
            3300,
            0,
        )],
    );
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["enable", "istioinaction", "--strict", "--prometheus", &prom.url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("plaintext request"), "{}", run.stderr);
    assert!(!run.stderr.contains("could not be checked"), "{}", run.stderr);
    assert!(policy_exists(&lab));
}

#[test]
fn the_lab_counters_show_the_caller_strict_would_cut() {
    let lab = Lab::start(Scenario::lab().with_simulated_mesh());
    lab.sim()
        .cluster()
        .simulate_flows(&TrafficFlow::lab(), 4)
        .unwrap();
    let run = lab.plugin(&[
        "enable",
        "istioinaction",
        "--strict",
        "--telemetry-from",
        "proxies",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "error: refusing to change peerauthentication.security.istio.io/default: unknown -> istioinaction/web-api: 8 plaintext requests since the proxy started; these will fail"
        ),
        "{}",
        run.stderr
    );
    assert!(!policy_exists(&lab));
}

#[test]
fn without_telemetry_the_review_says_it_could_not_check() {
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["enable", "istioinaction", "--strict", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: no telemetry was read, so plaintext callers of the workloads becoming STRICT could not be checked (give --prometheus URL, or --telemetry-from proxies)"
        ),
        "{}",
        run.stderr
    );
    // Telemetry asked for but unreadable: the same check is reported as not made.
    let run = lab.plugin(&[
        "enable",
        "istioinaction",
        "--strict",
        "--dry-run",
        "--prometheus",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Warning: telemetry: prometheus at http://127.0.0.1:9"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("warning: telemetry could not be read for istioinaction/history, istioinaction/recommendation, istioinaction/sleep, istioinaction/web-api: their plaintext callers were not checked"),
        "{}",
        run.stderr
    );
    // Toward PERMISSIVE nothing is read or said.
    lab.sim().clear_requests();
    let run = lab.plugin(&[
        "enable",
        "istioinaction",
        "--permissive",
        "--dry-run",
        "--prometheus",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("telemetry"), "{}", run.stderr);
    // Bad telemetry flags are usage errors before anything is read.
    lab.sim().clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--strict", "--since", "0s"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(lab.requests().is_empty());
}
