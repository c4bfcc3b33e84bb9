//! Telemetry through the (simulated) API server: proxies mode on kube-sim's simulated Istio
//! counters, discovery of Istio's Prometheus and a port-forward to a real one, RBAC refusing
//! the port-forward, and no Prometheus at all.

mod prometheus_support;

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_sim::{Rule, Scenario, SimServer, TrafficFlow, User};
use kubectl_mtls::client::Cluster;
use kubectl_mtls::model::{Peer, Protocol, Security, TelemetrySource, Traffic};
use kubectl_mtls::telemetry::{self, Mode, ProxyPod, Request};
use prometheus_support::{Prometheus, counter, istio_labels, require};

async fn cluster(server: &SimServer, user: &str) -> Cluster {
    let kc = Kubeconfig::from_yaml(&server.kubeconfig_yaml(user)).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    let server_url = config.cluster_url.to_string();
    Cluster {
        client: kube::Client::try_from(config).expect("client"),
        namespace: "default".into(),
        server: server_url,
        user: Some(user.into()),
        context: None,
    }
}

fn request(mode: Mode) -> Request {
    Request {
        mode,
        prometheus: None,
        window: Duration::from_secs(3600),
        namespaces: None,
        istio_namespace: "istio-system".into(),
        timeout: Duration::from_secs(20),
    }
}

/// The lab's meshed pods, as the plugin would list them from its analysis.
fn sidecars(server: &SimServer, namespace: &str) -> Vec<ProxyPod> {
    let mut pods: Vec<ProxyPod> = server
        .cluster()
        .list("v1", "Pod", Some(namespace))
        .iter()
        .filter(|p| {
            p["spec"]["containers"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["name"] == "istio-proxy"))
        })
        .map(|p| ProxyPod {
            namespace: namespace.into(),
            name: p["metadata"]["name"].as_str().unwrap().into(),
            sidecar: true,
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    pods
}

fn find<'a>(
    t: &'a Traffic,
    src: &Peer,
    dest: &str,
    security: Security,
) -> Option<&'a kubectl_mtls::model::TrafficSample> {
    t.samples
        .iter()
        .find(|s| &s.source == src && s.destination_workload == dest && s.security == security)
}

fn peer(ns: &str, name: &str) -> Peer {
    Peer::Workload {
        namespace: ns.into(),
        name: name.into(),
    }
}

#[tokio::test]
async fn proxies_mode_reads_the_lab_counters() {
    let server = SimServer::start(Scenario::lab().with_simulated_mesh())
        .await
        .unwrap();
    server.cluster().simulate_flows(&TrafficFlow::lab(), 5).unwrap();
    let c = cluster(&server, "admin").await;
    let pods = sidecars(&server, "istioinaction");
    assert!(pods.len() >= 3, "{pods:?}");
    let t = telemetry::read(&c, &request(Mode::Proxies), &pods).await;
    assert!(t.is_complete(), "{:?}", t.errors);
    assert_eq!(t.source, TelemetrySource::Proxies);
    assert_eq!((t.window, t.endpoint.as_deref()), (None, None));
    // default/sleep is outside the mesh: plaintext, 2 requests a round, and with no proxy to
    // exchange metadata Istio cannot name it.
    let plain = find(&t, &Peer::Unknown, "web-api", Security::Plaintext)
        .unwrap_or_else(|| panic!("{:#?}", t.samples));
    assert_eq!((plain.count, plain.protocol), (10, Protocol::Http));
    let mtls = find(
        &t,
        &peer("istioinaction", "sleep"),
        "web-api",
        Security::MutualTls,
    )
    .unwrap_or_else(|| panic!("{:#?}", t.samples));
    assert_eq!(mtls.count, 10);
    assert!(
        find(
            &t,
            &peer("istioinaction", "web-api"),
            "recommendation",
            Security::MutualTls
        )
        .is_some()
    );
    assert!(
        t.samples
            .iter()
            .all(|s| s.destination_namespace == "istioinaction"),
        "{:#?}",
        t.samples
    );
}

#[tokio::test]
async fn proxies_mode_names_each_pod_it_could_not_read() {
    let server =
        SimServer::start(Scenario::lab().with_simulated_mesh().user(
            User::new("viewer", "viewer-token").allow(Rule::new(&["get", "list"], &["pods", "services"])),
        ))
        .await
        .unwrap();
    server.cluster().simulate_flows(&TrafficFlow::lab(), 1).unwrap();
    let mut pods = sidecars(&server, "istioinaction");
    pods.push(ProxyPod {
        namespace: "istioinaction".into(),
        name: "gone-0".into(),
        sidecar: true,
    });
    pods.push(ProxyPod {
        namespace: "ambient".into(),
        name: "ztunnel-only".into(),
        sidecar: false,
    });
    let t = telemetry::read(&cluster(&server, "admin").await, &request(Mode::Proxies), &pods).await;
    assert_eq!(t.errors.len(), 2, "{:?}", t.errors);
    assert_eq!(
        t.unread_pods,
        vec![
            "ambient/ztunnel-only".to_string(),
            "istioinaction/gone-0".to_string()
        ]
    );
    assert!(
        t.errors[0].starts_with("ambient/ztunnel-only: cannot read the proxy's counters: ambient pod"),
        "{:?}",
        t.errors
    );
    assert!(
        t.errors[1]
            .starts_with("istioinaction/gone-0: cannot read the proxy's counters: pods \"gone-0\" not found"),
        "{:?}",
        t.errors
    );
    assert!(t.covers_pod("istioinaction", &pods[0].name));
    assert!(!t.covers_pod("istioinaction", "gone-0"));
    assert!(!t.samples.is_empty());

    // Without exec rights every pod is a line, and nothing passes.
    let t = telemetry::read(
        &cluster(&server, "viewer").await,
        &request(Mode::Proxies),
        &pods[..2],
    )
    .await;
    assert_eq!(t.errors.len(), 2, "{:?}", t.errors);
    assert!(t.errors.iter().all(|e| e.contains("pods/exec")), "{:?}", t.errors);
    assert!(!t.is_complete());
}

const PROMETHEUS_YAML: &str = "apiVersion: v1
kind: Service
metadata:
  name: prometheus
  namespace: istio-system
spec:
  selector: {app.kubernetes.io/name: prometheus}
  ports:
  - {name: http, port: 9090, targetPort: 9090}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-7f9c8d6b5-abcde
  namespace: istio-system
  labels: {app.kubernetes.io/name: prometheus}
spec:
  containers:
  - name: prometheus-server
    image: prom/prometheus:v2.42.0
    ports:
    - {containerPort: 9090, name: http}
";

#[tokio::test]
async fn auto_finds_istios_prometheus_and_reads_it_through_a_port_forward() {
    let Some(bins) = require("auto_finds_istios_prometheus_and_reads_it_through_a_port_forward") else {
        return;
    };
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
            120.0,
            3300,
            0,
        )],
    );
    let server =
        SimServer::start(Scenario::lab().load_yaml(PROMETHEUS_YAML).unwrap().user(
            User::new("viewer", "viewer-token").allow(Rule::new(&["get", "list"], &["pods", "services"])),
        ))
        .await
        .unwrap();
    server.cluster().forward_pod_port(
        "istio-system",
        "prometheus-*",
        9090,
        format!("127.0.0.1:{}", prom.port()),
    );
    let t = telemetry::read(&cluster(&server, "admin").await, &request(Mode::Auto), &[]).await;
    assert!(t.is_complete(), "{:?}", t.errors);
    assert_eq!(t.source, TelemetrySource::Prometheus);
    assert_eq!(
        t.endpoint.as_deref(),
        Some("port-forward istio-system/prometheus-7f9c8d6b5-abcde:9090")
    );
    let s = find(&t, &peer("default", "sleep"), "web-api", Security::Plaintext)
        .unwrap_or_else(|| panic!("{:#?}", t.samples));
    assert!((120..=122).contains(&s.count), "{}", s.count);

    // RBAC forbidding the port-forward: a line naming the permission, no samples, incomplete.
    let t = telemetry::read(&cluster(&server, "viewer").await, &request(Mode::Auto), &[]).await;
    assert_eq!(t.source, TelemetrySource::Prometheus);
    assert!(t.samples.is_empty());
    assert_eq!(t.errors.len(), 1, "{:?}", t.errors);
    assert!(
        t.errors[0].contains("forbidden") && t.errors[0].contains("pods/portforward"),
        "{:?}",
        t.errors
    );
    assert!(!t.is_complete());

    // Nothing listening behind the pod port: the forward's own reason.
    server
        .cluster()
        .stop_forwarding_pod_port("istio-system", "prometheus-*", 9090);
    let t = telemetry::read(&cluster(&server, "admin").await, &request(Mode::Prometheus), &[]).await;
    assert_eq!(t.errors.len(), 1, "{:?}", t.errors);
    assert!(!t.is_complete());
}

#[tokio::test]
async fn no_prometheus_is_none_in_auto_and_an_error_when_asked_for() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let c = cluster(&server, "admin").await;
    let t = telemetry::read(&c, &request(Mode::Auto), &[]).await;
    assert_eq!(t, Traffic::none());
    let t = telemetry::read(&c, &request(Mode::Prometheus), &[]).await;
    assert_eq!(t.source, TelemetrySource::Prometheus);
    assert!(
        t.errors[0].contains("none found") && t.errors[0].contains("--prometheus URL"),
        "{:?}",
        t.errors
    );
    let t = telemetry::read(&c, &request(Mode::Off), &[]).await;
    assert_eq!(t, Traffic::none());
}
