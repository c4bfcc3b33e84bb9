//! The simulated mesh's telemetry: requests it simulates are counted per proxy the way Istio's
//! stats filter counts them, and `pilot-agent request GET stats/prometheus` in `istio-proxy`
//! serves them as Prometheus text.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube_sim::{ExecRequest, Scenario, SimServer, SimulatedMesh, TrafficFlow};

const WEB_API: &str = "web-api-7c8d9f6b4d-x2k8p";
const WEB_API_URL: &str = "http://web-api.istioinaction:8080/";

/// One sample of the text exposition.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

/// Parses Prometheus text exposition (format 0.0.4) strictly: every sample's family has a
/// `# TYPE` line before it, families are contiguous, label values are quoted with the three
/// escapes, no series appears twice. Panics with the offending line otherwise.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut seen = HashSet::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .unwrap_or_else(|| panic!("bad TYPE line: {line}"));
            assert!(valid_name(name, true), "bad metric name: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad type: {line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "second TYPE: {line}"
            );
            if let Some(c) = current.replace(name.to_string()) {
                finished.insert(c);
            }
            continue;
        }
        assert!(
            !line.starts_with('#') || line.starts_with("# HELP "),
            "bad comment: {line}"
        );
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name_end, has_labels) = match line.find(['{', ' ']) {
            Some(i) => (i, line.as_bytes()[i] == b'{'),
            None => panic!("no value: {line}"),
        };
        let name = &line[..name_end];
        assert!(valid_name(name, true), "bad metric name: {line}");
        assert_eq!(
            current.as_deref(),
            Some(name),
            "sample outside its TYPE'd family: {line}"
        );
        assert!(!finished.contains(name), "family not contiguous: {line}");
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if has_labels {
            rest = &rest[1..];
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    break;
                }
                let eq = rest.find('=').unwrap_or_else(|| panic!("bad label: {line}"));
                let key = &rest[..eq];
                assert!(valid_name(key, false), "bad label name {key:?}: {line}");
                rest = rest[eq + 1..]
                    .strip_prefix('"')
                    .unwrap_or_else(|| panic!("unquoted value: {line}"));
                let mut value = String::new();
                let mut chars = rest.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            _ => panic!("bad escape: {line}"),
                        },
                        Some((_, c)) => value.push(c),
                        None => panic!("unterminated value: {line}"),
                    }
                };
                assert!(
                    labels.insert(key.to_string(), value).is_none(),
                    "label twice: {line}"
                );
                rest = &rest[end + 1..];
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r;
                }
            }
        }
        let value: f64 = rest
            .strip_prefix(' ')
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad value: {line}"));
        assert!(
            seen.insert((name.to_string(), labels.clone())),
            "series twice: {line}"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// The real parser and linter, when Prometheus's promtool is there (`PROMTOOL` or on PATH).
fn promtool_accepts(text: &str) {
    let tool = std::env::var_os("PROMTOOL").unwrap_or_else(|| "promtool".into());
    let child = Command::new(&tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("SKIPPED promtool check: promtool not found (set PROMTOOL or put it on PATH)");
        return;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // 3 = lint findings only. Envoy's output has no HELP text and Envoy's counters have no
    // `_total` suffix; anything else (1 = parse error) is a failure.
    assert!(matches!(out.status.code(), Some(0 | 3)), "promtool: {report}");
    for finding in report.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            finding.ends_with(" no help text")
                || (finding.starts_with("envoy_")
                    && finding.ends_with("counter metrics should have \"_total\" suffix")),
            "promtool: {finding}"
        );
    }
}

/// Sum of the samples of `name` whose labels include all of `with`.
fn sum(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn pod(server: &SimServer, ns: &str, app: &str) -> String {
    server
        .cluster()
        .list("v1", "Pod", Some(ns))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app"] == app)
        .and_then(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{ns}/{app} pod"))
}

fn stats(server: &SimServer, ns: &str, pod: &str) -> Vec<Sample> {
    let text = server.cluster().istio_stats(ns, pod).expect("the pod exists");
    parse_exposition(&text)
}

const DESTINATION: (&str, &str) = ("reporter", "destination");

#[test]
fn lab_traffic_is_counted_where_istio_counts_it() {
    let server = SimServer::start_background(Scenario::lab()).unwrap();
    server.cluster().simulate_flows(&TrafficFlow::lab(), 3).unwrap();

    let web = stats(&server, "istioinaction", WEB_API);
    // Plaintext from outside the mesh: unknown caller, policy none.
    let plaintext = [
        DESTINATION,
        ("source_workload", "unknown"),
        ("source_workload_namespace", "unknown"),
        ("source_principal", "unknown"),
        ("destination_workload", "web-api"),
        ("destination_workload_namespace", "istioinaction"),
        ("destination_principal", "unknown"),
        ("destination_service", "web-api.istioinaction.svc.cluster.local"),
        ("request_protocol", "http"),
        ("response_code", "200"),
        ("connection_security_policy", "none"),
    ];
    assert_eq!(sum(&web, "istio_requests_total", &plaintext), 6.0);
    // mTLS from istioinaction/sleep: its workload and SPIFFE identity.
    let mtls = [
        DESTINATION,
        ("source_workload", "sleep"),
        ("source_workload_namespace", "istioinaction"),
        (
            "source_principal",
            "spiffe://cluster.local/ns/istioinaction/sa/sleep",
        ),
        (
            "destination_principal",
            "spiffe://cluster.local/ns/istioinaction/sa/web-api",
        ),
        ("connection_security_policy", "mutual_tls"),
    ];
    assert_eq!(sum(&web, "istio_requests_total", &mtls), 6.0);
    assert_eq!(sum(&web, "istio_requests_total", &[DESTINATION]), 12.0);
    // web-api's own sidecar reports what it sent, with policy unknown.
    let sent = [
        ("reporter", "source"),
        ("source_workload", "web-api"),
        ("connection_security_policy", "unknown"),
    ];
    assert_eq!(sum(&web, "istio_requests_total", &sent), 24.0);

    for app in ["recommendation", "history"] {
        let s = stats(&server, "istioinaction", &pod(&server, "istioinaction", app));
        let from_web = [
            DESTINATION,
            ("source_workload", "web-api"),
            (
                "source_principal",
                "spiffe://cluster.local/ns/istioinaction/sa/web-api",
            ),
            ("destination_workload", app),
            ("connection_security_policy", "mutual_tls"),
        ];
        assert_eq!(sum(&s, "istio_requests_total", &from_web), 12.0, "{app}");
        assert_eq!(
            sum(
                &s,
                "istio_requests_total",
                &[("connection_security_policy", "none")]
            ),
            0.0
        );
    }
    // The caller outside the mesh has no proxy and counts nothing.
    let outside = pod(&server, "default", "sleep");
    assert!(
        stats(&server, "default", &outside)
            .iter()
            .all(|s| s.name != "istio_requests_total")
    );

    // Every series carries Istio's full label set, in one form.
    let keys: Vec<&str> = web
        .iter()
        .find(|s| s.name == "istio_requests_total")
        .unwrap()
        .labels
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "reporter",
        "source_workload",
        "source_canonical_service",
        "source_canonical_revision",
        "source_workload_namespace",
        "source_principal",
        "source_app",
        "source_version",
        "source_cluster",
        "destination_workload",
        "destination_workload_namespace",
        "destination_principal",
        "destination_app",
        "destination_version",
        "destination_service",
        "destination_canonical_service",
        "destination_canonical_revision",
        "destination_service_name",
        "destination_service_namespace",
        "destination_cluster",
        "request_protocol",
        "response_code",
        "grpc_response_status",
        "response_flags",
        "connection_security_policy",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
}

#[test]
fn strict_rejections_are_not_requests_but_listener_counts() {
    let server = SimServer::start_background(Scenario::lab()).unwrap();
    let cluster = server.cluster();
    assert_eq!(
        cluster
            .simulate_traffic("default", "sleep-*", WEB_API_URL, 5)
            .unwrap(),
        Some(200)
    );
    cluster
        .put_yaml("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istioinaction}\nspec: {mtls: {mode: STRICT}}\n")
        .unwrap();
    assert_eq!(
        cluster
            .simulate_traffic("default", "sleep-*", WEB_API_URL, 7)
            .unwrap(),
        None,
        "reset"
    );
    assert_eq!(
        cluster
            .simulate_traffic("istioinaction", "sleep-*", WEB_API_URL, 2)
            .unwrap(),
        Some(200)
    );
    let web = stats(&server, "istioinaction", WEB_API);
    assert_eq!(
        sum(
            &web,
            "istio_requests_total",
            &[("connection_security_policy", "none")]
        ),
        5.0,
        "only the accepted plaintext"
    );
    assert_eq!(
        sum(
            &web,
            "istio_requests_total",
            &[("connection_security_policy", "mutual_tls")]
        ),
        2.0
    );
    assert_eq!(
        sum(
            &web,
            "envoy_listener_no_filter_chain_match",
            &[("envoy_listener_address", "0.0.0.0_15006")]
        ),
        7.0
    );

    // A meshed caller told to send plaintext (DestinationRule DISABLE) is rejected too, and
    // before STRICT it keeps its workload name but not its principal.
    cluster.reset_telemetry();
    cluster
        .put_yaml("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: plain, namespace: istioinaction}\nspec: {host: web-api, trafficPolicy: {tls: {mode: DISABLE}}}\n")
        .unwrap();
    assert_eq!(
        cluster
            .simulate_traffic("istioinaction", "sleep-*", WEB_API_URL, 3)
            .unwrap(),
        None
    );
    cluster
        .delete(
            "security.istio.io/v1",
            "PeerAuthentication",
            "istioinaction",
            "default",
        )
        .unwrap();
    assert_eq!(
        cluster
            .simulate_traffic("istioinaction", "sleep-*", WEB_API_URL, 4)
            .unwrap(),
        Some(200)
    );
    let web = stats(&server, "istioinaction", WEB_API);
    let meshed_plaintext = [
        DESTINATION,
        ("source_workload", "sleep"),
        ("source_workload_namespace", "istioinaction"),
        ("source_principal", "unknown"),
        ("connection_security_policy", "none"),
    ];
    assert_eq!(sum(&web, "istio_requests_total", &meshed_plaintext), 4.0);
    assert_eq!(sum(&web, "envoy_listener_no_filter_chain_match", &[]), 3.0);
}

#[test]
fn tcp_ports_count_connections() {
    let scenario = Scenario::lab()
        .load_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: db-0, namespace: istioinaction, labels: {app: db}}\nspec: {containers: [{name: db, image: postgres}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: istioinaction}\nspec: {selector: {app: db}, ports: [{name: tcp-postgres, port: 5432}]}\n",
        )
        .unwrap();
    let server = SimServer::start_background(scenario).unwrap();
    let cluster = server.cluster();
    cluster
        .simulate_traffic("istioinaction", "web-api-*", "http://db:5432", 3)
        .unwrap();
    cluster
        .simulate_traffic("default", "sleep-*", "http://db.istioinaction:5432", 2)
        .unwrap();
    let db = stats(&server, "istioinaction", "db-0");
    let tcp = |with: &[(&str, &str)]| sum(&db, "istio_tcp_connections_opened_total", with);
    assert_eq!(
        tcp(&[
            DESTINATION,
            ("source_workload", "web-api"),
            ("connection_security_policy", "mutual_tls"),
            ("request_protocol", "tcp")
        ]),
        3.0
    );
    assert_eq!(
        tcp(&[
            DESTINATION,
            ("source_workload", "unknown"),
            ("connection_security_policy", "none")
        ]),
        2.0
    );
    assert_eq!(
        sum(&db, "istio_tcp_connections_closed_total", &[DESTINATION]),
        5.0
    );
    assert_eq!(sum(&db, "istio_requests_total", &[]), 0.0);
    assert!(
        db.iter()
            .filter(|s| s.name == "istio_tcp_connections_opened_total")
            .all(|s| !s.labels.contains_key("response_code"))
    );
}

#[test]
fn pilot_agent_serves_the_counters_through_exec() {
    let server = SimServer::start_background(Scenario::lab().with_simulated_mesh()).unwrap();
    let mesh = SimulatedMesh::new();
    // curl through exec is simulated traffic too.
    let sleep = pod(&server, "default", "sleep");
    let curl = ExecRequest {
        namespace: "default".into(),
        pod: sleep,
        container: "sleep".into(),
        command: ["curl", "-s", WEB_API_URL].map(String::from).to_vec(),
        stdin: Vec::new(),
        tty: false,
        user: "admin".into(),
    };
    assert_eq!(mesh.handle(&curl, server.cluster()).unwrap().exit_code, 0);
    let stats_req = ExecRequest {
        namespace: "istioinaction".into(),
        pod: WEB_API.into(),
        container: "istio-proxy".into(),
        command: ["pilot-agent", "request", "GET", "stats/prometheus"]
            .map(String::from)
            .to_vec(),
        ..curl.clone()
    };
    let answer = mesh.handle(&stats_req, server.cluster()).unwrap();
    assert_eq!(answer.exit_code, 0);
    assert_eq!(
        Some(answer.stdout.clone()),
        server.cluster().istio_stats("istioinaction", WEB_API)
    );
    let samples = parse_exposition(&answer.stdout);
    assert_eq!(
        sum(
            &samples,
            "istio_requests_total",
            &[DESTINATION, ("source_workload", "unknown")]
        ),
        1.0
    );
    assert!(answer.stdout.contains("# TYPE istio_requests_total counter\n"));
    promtool_accepts(&answer.stdout);
    // Envoy's and the agent's Prometheus ports answer the same inside the pod.
    for port in [15000, 15020, 15090] {
        let local = ExecRequest {
            container: "web-api".into(),
            command: ["curl", "-s", &format!("http://localhost:{port}/stats/prometheus")]
                .map(String::from)
                .to_vec(),
            ..stats_req.clone()
        };
        assert_eq!(
            mesh.handle(&local, server.cluster()).unwrap().stdout,
            answer.stdout,
            "{port}"
        );
    }
    // Only the proxy container has pilot-agent.
    let wrong = ExecRequest {
        container: "web-api".into(),
        ..stats_req.clone()
    };
    assert!(mesh.handle(&wrong, server.cluster()).is_none());

    // And the real kubectl gets the same text.
    if !common::have_kubectl("pilot_agent_serves_the_counters_through_exec") {
        return;
    }
    let dir = common::TempDir::new("telemetry");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "admin").unwrap();
    server.cluster().simulate_flows(&TrafficFlow::lab(), 2).unwrap();
    let out = Command::new(common::KUBECTL)
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "exec",
            "-n",
            "istioinaction",
            WEB_API,
        ])
        .args([
            "-c",
            "istio-proxy",
            "--",
            "pilot-agent",
            "request",
            "GET",
            "stats/prometheus",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let samples = parse_exposition(&text);
    assert_eq!(
        sum(
            &samples,
            "istio_requests_total",
            &[DESTINATION, ("connection_security_policy", "none")]
        ),
        5.0
    );
    promtool_accepts(&text);
}

#[test]
fn the_ticker_keeps_traffic_flowing_until_stopped() {
    let server = SimServer::start_background(Scenario::lab()).unwrap();
    let cluster = server.cluster();
    let flows = vec![TrafficFlow::new("default", "sleep-*", WEB_API_URL, 1)];
    let ticker = cluster.start_traffic(flows, Duration::from_millis(10));
    let count = || {
        sum(
            &stats(&server, "istioinaction", WEB_API),
            "istio_requests_total",
            &[DESTINATION],
        )
    };
    let start = Instant::now();
    while count() < 3.0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the ticker sends traffic"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    ticker.stop();
    let stopped = count();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(count(), stopped, "no traffic after stop");
}

#[test]
fn a_missing_caller_is_an_error() {
    let server = SimServer::start_background(Scenario::lab()).unwrap();
    let err = server
        .cluster()
        .simulate_traffic("istioinaction", "nope-*", WEB_API_URL, 1)
        .unwrap_err();
    assert_eq!(err.code, 404);
    assert!(
        server
            .cluster()
            .simulate_flows(&[TrafficFlow::new("nowhere", "x", WEB_API_URL, 1)], 1)
            .is_err()
    );
    assert_eq!(
        server
            .cluster()
            .simulate_traffic("default", "sleep-*", "http://nope.istioinaction:8080/", 1)
            .unwrap(),
        None,
        "no such host"
    );
}

#[test]
fn the_parser_rejects_what_prometheus_rejects() {
    for bad in [
        "x 1\n",                              // no TYPE
        "# TYPE x counter\nx{a=b} 1\n",       // unquoted
        "# TYPE x counter\nx{a=\"b\"} one\n", // not a number
        "# TYPE x counter\nx 1\nx 2\n",       // twice
        "# TYPE x counter\nx{a=\"\\q\"} 1\n", // bad escape
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_exposition(bad)).is_err(),
            "{bad:?}"
        );
    }
    let ok = parse_exposition("# TYPE x counter\nx{a=\"q\\\"\\\\\\n\"} 2\n");
    assert_eq!(ok[0].labels["a"], "q\"\\\n");
}

#[test]
fn the_lab_starts_with_traffic_and_keeps_it_flowing() {
    let empty = common::TempDir::new("lab-traffic");
    let lab = kube_sim::tour::prepare(empty.path()).unwrap();
    let rounds = kube_sim::tour::LAB_TRAFFIC_ROUNDS as f64;
    let web = stats(&lab.server, "istioinaction", WEB_API);
    let plaintext = sum(
        &web,
        "istio_requests_total",
        &[DESTINATION, ("source_workload", "unknown")],
    );
    assert!(plaintext >= 2.0 * rounds, "{plaintext}");
    let start = Instant::now();
    let grown = loop {
        let now = stats(&lab.server, "istioinaction", WEB_API);
        let n = sum(
            &now,
            "istio_requests_total",
            &[DESTINATION, ("source_workload", "unknown")],
        );
        if n > plaintext {
            break n;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the lab's ticker sends traffic"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((grown - plaintext) % 2.0, 0.0, "whole rounds");
}
