//! Telemetry read from a real Prometheus (Debian's package) holding backfilled Istio series:
//! mTLS-only, plaintext from outside the mesh and from a meshed caller, TCP, ambient (ztunnel
//! and waypoint), a window that excludes old plaintext, and Prometheus down or answering errors.

mod prometheus_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use kubectl_mtls::model::{Peer, Protocol, Security, TelemetrySource, Traffic};
use kubectl_mtls::telemetry::{self, Mode, Request};
use prometheus_support::{Prometheus, Series, counter, istio_labels, require};

const HTTP: &str = "istio_requests_total";
const TCP: &str = "istio_tcp_connections_opened_total";

fn request(window_secs: u64, namespaces: Option<&[&str]>) -> Request {
    Request {
        mode: Mode::Prometheus,
        prometheus: None,
        window: Duration::from_secs(window_secs),
        namespaces: namespaces.map(|n| n.iter().map(|s| s.to_string()).collect()),
        istio_namespace: "istio-system".into(),
        timeout: Duration::from_secs(20),
    }
}

fn read(url: &str, req: &Request) -> Traffic {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(telemetry::from_url(url, req))
}

fn peer(ns: &str, name: &str) -> Peer {
    Peer::Workload {
        namespace: ns.into(),
        name: name.into(),
    }
}

/// Prometheus extrapolates `increase` to the window's end: a few tenths more than written.
fn about(count: u64, expected: u64) -> bool {
    (expected..=expected + 2).contains(&count)
}

fn web_api() -> (&'static str, &'static str) {
    ("istioinaction", "web-api")
}

fn start(test: &str, series: &[Series]) -> Option<Prometheus> {
    let bins = require(test)?;
    Some(Prometheus::start(&bins, series))
}

#[test]
fn mtls_only_traffic_reads_as_mutual_tls() {
    let Some(p) = start(
        "mtls_only_traffic_reads_as_mutual_tls",
        &[counter(
            HTTP,
            istio_labels(
                "destination",
                Some(("istioinaction", "web")),
                web_api(),
                "mutual_tls",
            ),
            300.0,
            3300,
            0,
        )],
    ) else {
        return;
    };
    let t = read(&p.url, &request(3600, None));
    assert!(t.is_complete(), "{:?}", t.errors);
    assert_eq!(t.source, TelemetrySource::Prometheus);
    assert_eq!(t.window, Some(Duration::from_secs(3600)));
    assert_eq!(t.endpoint.as_deref(), Some(p.url.as_str()));
    assert_eq!(t.samples.len(), 1, "{:#?}", t.samples);
    let s = &t.samples[0];
    assert_eq!(s.security, Security::MutualTls);
    assert_eq!(s.source, peer("istioinaction", "web"));
    assert_eq!(
        s.source_principal.as_deref(),
        Some("spiffe://cluster.local/ns/istioinaction/sa/web")
    );
    assert_eq!(
        (s.destination_namespace.as_str(), s.destination_workload.as_str()),
        web_api()
    );
    assert_eq!(
        s.destination_service.as_deref(),
        Some("web-api.istioinaction.svc.cluster.local")
    );
    assert!(about(s.count, 300), "{}", s.count);
}

#[test]
fn plaintext_from_outside_and_from_a_meshed_caller() {
    let Some(p) = start(
        "plaintext_from_outside_and_from_a_meshed_caller",
        &[
            counter(
                HTTP,
                istio_labels("destination", None, web_api(), "none"),
                40.0,
                3000,
                600,
            ),
            counter(
                HTTP,
                istio_labels("destination", Some(("default", "sleep")), web_api(), "none"),
                120.0,
                3300,
                0,
            ),
            // The caller's own (source-reported) view says nothing about inbound security.
            counter(
                HTTP,
                istio_labels("source", Some(("default", "sleep")), web_api(), "unknown"),
                120.0,
                3300,
                0,
            ),
        ],
    ) else {
        return;
    };
    let t = read(&p.url, &request(3600, Some(&["istioinaction"])));
    assert!(t.is_complete(), "{:?}", t.errors);
    assert_eq!(t.samples.len(), 2, "{:#?}", t.samples);
    let sleep = t
        .samples
        .iter()
        .find(|s| s.source == peer("default", "sleep"))
        .unwrap();
    assert_eq!(sleep.security, Security::Plaintext);
    assert!(about(sleep.count, 120), "{}", sleep.count);
    let outside = t.samples.iter().find(|s| s.source == Peer::Unknown).unwrap();
    assert_eq!(outside.security, Security::Plaintext);
    assert_eq!(outside.source_principal, None);
    assert!(about(outside.count, 40), "{}", outside.count);
    // Another namespace in scope sees none of it.
    let t = read(&p.url, &request(3600, Some(&["default"])));
    assert!(t.is_complete() && t.samples.is_empty(), "{t:#?}");
}

#[test]
fn tcp_connections_and_ambient_series() {
    let Some(p) = start(
        "tcp_connections_and_ambient_series",
        &[
            counter(
                TCP,
                istio_labels(
                    "destination",
                    Some(("istioinaction", "web-api")),
                    ("istioinaction", "db"),
                    "mutual_tls",
                ),
                30.0,
                3000,
                0,
            ),
            counter(
                TCP,
                istio_labels("destination", None, ("istioinaction", "db"), "none"),
                5.0,
                3000,
                0,
            ),
            // ztunnel: HBONE is mutual_tls, plaintext passthrough is unknown.
            counter(
                TCP,
                istio_labels(
                    "destination",
                    Some(("default", "sleep")),
                    ("ambient", "reviews"),
                    "unknown",
                ),
                12.0,
                3000,
                0,
            ),
            counter(
                TCP,
                istio_labels(
                    "destination",
                    Some(("ambient", "productpage")),
                    ("ambient", "reviews"),
                    "mutual_tls",
                ),
                60.0,
                3000,
                0,
            ),
            // A waypoint's HTTP view.
            counter(
                HTTP,
                istio_labels(
                    "waypoint",
                    Some(("ambient", "productpage")),
                    ("ambient", "reviews"),
                    "mutual_tls",
                ),
                200.0,
                3000,
                0,
            ),
        ],
    ) else {
        return;
    };
    let t = read(&p.url, &request(3600, None));
    assert!(t.is_complete(), "{:?}", t.errors);
    let find = |dest: &str, src: &Peer, proto: Protocol| {
        t.samples
            .iter()
            .find(|s| s.destination_workload == dest && &s.source == src && s.protocol == proto)
            .unwrap_or_else(|| panic!("no {dest} <- {src} {proto:?} in {:#?}", t.samples))
    };
    let db_mtls = find("db", &peer("istioinaction", "web-api"), Protocol::Tcp);
    assert_eq!(db_mtls.security, Security::MutualTls);
    assert!(about(db_mtls.count, 30), "{}", db_mtls.count);
    assert_eq!(
        find("db", &Peer::Unknown, Protocol::Tcp).security,
        Security::Plaintext
    );
    let passthrough = find("reviews", &peer("default", "sleep"), Protocol::Tcp);
    assert_eq!(passthrough.security, Security::Plaintext);
    assert!(about(passthrough.count, 12), "{}", passthrough.count);
    assert_eq!(
        find("reviews", &peer("ambient", "productpage"), Protocol::Tcp).security,
        Security::MutualTls
    );
    let waypoint = find("reviews", &peer("ambient", "productpage"), Protocol::Http);
    assert_eq!(waypoint.security, Security::MutualTls);
    assert!(about(waypoint.count, 200), "{}", waypoint.count);
    assert_eq!(t.samples.len(), 5, "{:#?}", t.samples);
}

#[test]
fn the_window_excludes_old_plaintext() {
    let Some(p) = start(
        "the_window_excludes_old_plaintext",
        &[
            // Plaintext three to two hours ago, none since (the counter stays flat).
            counter(
                HTTP,
                istio_labels("destination", Some(("default", "sleep")), web_api(), "none"),
                80.0,
                10_800,
                7_200,
            ),
            counter(
                HTTP,
                istio_labels(
                    "destination",
                    Some(("istioinaction", "web")),
                    web_api(),
                    "mutual_tls",
                ),
                100.0,
                3000,
                0,
            ),
        ],
    ) else {
        return;
    };
    let t = read(&p.url, &request(3600, None));
    assert!(t.is_complete(), "{:?}", t.errors);
    assert!(
        t.samples.iter().all(|s| s.security == Security::MutualTls),
        "{:#?}",
        t.samples
    );
    let t = read(&p.url, &request(4 * 3600, None));
    let old = t
        .samples
        .iter()
        .find(|s| s.security == Security::Plaintext)
        .unwrap_or_else(|| panic!("{:#?}", t.samples));
    assert_eq!(old.source, peer("default", "sleep"));
    assert!(about(old.count, 80), "{}", old.count);
}

#[test]
fn prometheus_down_or_answering_errors_is_incomplete() {
    // Down: nothing listens.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = read(&format!("http://127.0.0.1:{port}"), &request(3600, None));
    assert!(!t.is_complete());
    assert_eq!(t.source, TelemetrySource::Prometheus);
    assert_eq!(t.errors.len(), 1, "{:?}", t.errors);
    assert!(
        t.errors[0].contains(&format!("127.0.0.1:{port}")),
        "{:?}",
        t.errors
    );
    assert!(t.samples.is_empty());

    // Answering an API error (what Prometheus sends when overloaded).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body =
                r#"{"status":"error","errorType":"unavailable","error":"too many concurrent queries"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let t = read(&format!("http://u:secret@{addr}"), &request(3600, None));
    server.join().unwrap();
    assert_eq!(t.errors.len(), 2, "{:?}", t.errors);
    assert!(
        t.errors
            .iter()
            .all(|e| e.contains("unavailable") && e.contains("too many concurrent queries"))
    );
    assert_eq!(t.endpoint, Some(format!("http://u:xxxxx@{addr}")));
    assert!(!format!("{t:?}").contains("secret"));

    // A real Prometheus answering 404 under a wrong path prefix.
    let Some(p) = start("prometheus_down_or_answering_errors_is_incomplete", &[]) else {
        return;
    };
    let t = read(&format!("{}/nope", p.url), &request(3600, None));
    assert!(!t.is_complete());
    assert!(t.errors.iter().all(|e| e.contains("HTTP 404")), "{:?}", t.errors);
    // And an empty one answers: nothing seen, complete.
    let t = read(&p.url, &request(3600, None));
    assert!(t.is_complete() && t.samples.is_empty(), "{t:#?}");
}
