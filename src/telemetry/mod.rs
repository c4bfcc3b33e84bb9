//! Observed traffic from Istio telemetry: a Prometheus HTTP API, or each sidecar's own
//! counters. Fills a [`Traffic`] (the contract in [`crate::model::traffic`]) for readiness
//! (`status`, `enable`, `diff`) and `graph`. Domain + I/O; takes plain requests, never clap
//! structs.
//!
//! - Prometheus: `--prometheus URL`, or Istio's own found in the Istio namespace (Service
//!   `prometheus`, pods labelled `app.kubernetes.io/name=prometheus`, as `istioctl dashboard
//!   prometheus` finds it) and reached by a port-forward through the API server, closed
//!   afterwards (no local port). Two instant queries ([`istio::query`]) over the window.
//! - Proxies: `pilot-agent request GET stats/prometheus` in each in-scope sidecar's
//!   `istio-proxy` container, a few pods at a time; counters count since the proxy started.
//!
//! Nothing read is never "no traffic": failures are lines in [`Traffic::errors`], which make
//! the verdicts depending on them unknown.

pub mod expfmt;
pub mod http;
pub mod istio;
pub mod promapi;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};

use crate::client::Cluster;
use crate::engine::{Analysis, Membership};
use crate::error::Error;
use crate::model::{RefusedConnections, TelemetrySource, Traffic, TrafficSample};

/// Where telemetry should come from (`--telemetry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read nothing: readiness from configuration only.
    Off,
    /// The Prometheus given, else Istio's if found, else nothing (with a note).
    Auto,
    /// A Prometheus, required: failing to find or read it is an error line.
    Prometheus,
    /// The sidecars' own counters.
    Proxies,
}

/// Label of Istio's Prometheus pods (what `istioctl dashboard prometheus` selects).
pub const PROMETHEUS_SELECTOR: &str = "app.kubernetes.io/name=prometheus";
/// Name of Istio's Prometheus Service.
pub const PROMETHEUS_SERVICE: &str = "prometheus";
/// Prometheus's port when the Service does not say.
pub const PROMETHEUS_PORT: u16 = 9090;
/// The command that prints a sidecar's counters.
pub const STATS_COMMAND: [&str; 4] = ["pilot-agent", "request", "GET", "stats/prometheus"];
/// Pods read at the same time in proxies mode.
pub const PROXY_CONCURRENCY: usize = 8;

/// What to read.
#[derive(Clone, Debug)]
pub struct Request {
    /// The source.
    pub mode: Mode,
    /// `--prometheus URL`.
    pub prometheus: Option<String>,
    /// The window for Prometheus (`--since`).
    pub window: Duration,
    /// Destination namespaces in scope; `None` for all.
    pub namespaces: Option<Vec<String>>,
    /// Where Istio (and its Prometheus) lives.
    pub istio_namespace: String,
    /// Time allowed per query or per pod.
    pub timeout: Duration,
}

/// A meshed pod whose inbound counters proxies mode needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Whether it has a sidecar to read; an ambient pod's counters are in ztunnel, which
    /// proxies mode does not read (its workload stays unknown).
    pub sidecar: bool,
}

/// The meshed pods of the analysis in `namespaces` (None: all), in analysis order.
pub fn proxy_pods(a: &Analysis, namespaces: Option<&[String]>) -> Vec<ProxyPod> {
    a.pods
        .iter()
        .filter(|p| namespaces.is_none_or(|ns| ns.contains(&p.namespace)))
        .filter_map(|p| {
            let sidecar = match p.mesh.membership {
                Membership::Sidecar | Membership::NativeSidecar => true,
                Membership::Ambient => false,
                Membership::None => return None,
            };
            Some(ProxyPod {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                sidecar,
            })
        })
        .collect()
}

/// Samples from the two query answers (HTTP metric first, then TCP); errors as lines.
pub fn from_query_answers(answers: &[(u16, &[u8])]) -> (Vec<TrafficSample>, Vec<String>) {
    let mut samples = Vec::new();
    let mut errors = Vec::new();
    let metrics = [istio::HTTP_METRIC, istio::TCP_METRIC];
    for ((status, body), metric) in answers.iter().zip(metrics) {
        let protocol = istio::protocol_of(metric).expect("known metric");
        match promapi::parse_vector(*status, body) {
            Ok(v) => {
                for s in v {
                    match istio::count_of(s.value)
                        .and_then(|c| istio::sample_from_labels(&s.labels, protocol, c))
                    {
                        Ok(Some(sample)) => samples.push(sample),
                        Ok(None) => {}
                        Err(e) => errors.push(format!("prometheus: {metric}: {e}")),
                    }
                }
            }
            Err(e) => errors.push(format!("prometheus: {metric}: {e}")),
        }
    }
    (istio::aggregate(samples), errors)
}

/// Samples from one sidecar's `stats/prometheus` text: its inbound (`reporter="destination"`)
/// counters since it started.
pub fn from_proxy_stats(text: &str) -> Result<Vec<TrafficSample>, String> {
    let parsed = expfmt::parse(text).map_err(|e| format!("unreadable stats ({e})"))?;
    let mut samples = Vec::new();
    for s in parsed {
        let Some(protocol) = istio::protocol_of(&s.name) else {
            continue;
        };
        let count = istio::count_of(s.value).map_err(|e| format!("{}: {e}", s.name))?;
        if let Some(sample) = istio::sample_from_labels(&s.labels, protocol, count)? {
            samples.push(sample);
        }
    }
    Ok(istio::aggregate(samples))
}

fn query_paths(req: &Request) -> Vec<String> {
    [istio::HTTP_METRIC, istio::TCP_METRIC]
        .iter()
        .map(|m| {
            let q = istio::query(m, req.window, req.namespaces.as_deref());
            format!(
                "/api/v1/query?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", &q)
                    .finish()
            )
        })
        .collect()
}

fn traffic(source: TelemetrySource, req: &Request, endpoint: Option<String>) -> Traffic {
    Traffic {
        source,
        window: (source == TelemetrySource::Prometheus).then_some(req.window),
        endpoint,
        ..Traffic::none()
    }
}

fn fill(t: &mut Traffic, answers: Result<Vec<http::Answer>, String>) {
    match answers {
        Ok(answers) => {
            let refs: Vec<(u16, &[u8])> = answers.iter().map(|(s, b)| (*s, b.as_ref())).collect();
            let (samples, errors) = from_query_answers(&refs);
            t.samples = samples;
            t.errors.extend(errors);
        }
        Err(e) => t.errors.push(format!(
            "prometheus at {}: {e}",
            t.endpoint.as_deref().unwrap_or("?")
        )),
    }
}

/// Reads a Prometheus at a URL.
pub async fn from_url(url: &str, req: &Request) -> Traffic {
    let mut t = traffic(TelemetrySource::Prometheus, req, Some(http::redact_url(url)));
    match http::Endpoint::parse(url) {
        Ok(ep) => fill(&mut t, http::get_url(&ep, &query_paths(req), req.timeout).await),
        Err(e) => t.errors.push(e),
    }
    t
}

fn running(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && pod.metadata.deletion_timestamp.is_none()
        && status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .is_none_or(|c| c.status == "True")
}

fn target_port(svc: &Service, pod: &Pod) -> u16 {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let Some(port) = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
    else {
        return PROMETHEUS_PORT;
    };
    match &port.target_port {
        Some(IntOrString::Int(n)) => u16::try_from(*n).unwrap_or(PROMETHEUS_PORT),
        Some(IntOrString::String(name)) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .unwrap_or(PROMETHEUS_PORT),
        None => u16::try_from(port.port).unwrap_or(PROMETHEUS_PORT),
    }
}

/// Istio's Prometheus: a running pod and the port to forward, `None` when there is none.
pub async fn discover(cluster: &Cluster, istio_namespace: &str) -> Result<Option<(String, u16)>, String> {
    let ns = istio_namespace;
    let why = |what: &str, e: kube::Error| {
        format!("cannot look for Prometheus ({what} in {ns}): {}", cluster.err(e))
    };
    let svc = Api::<Service>::namespaced(cluster.client.clone(), ns)
        .get_opt(PROMETHEUS_SERVICE)
        .await
        .map_err(|e| why("get service", e))?;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), ns)
        .list(&ListParams::default().labels(PROMETHEUS_SELECTOR))
        .await
        .map_err(|e| why("list pods", e))?;
    let mut ready: Vec<&Pod> = pods.items.iter().filter(|p| running(p)).collect();
    ready.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    match (svc, ready.first()) {
        (svc, Some(pod)) => {
            let port = svc.as_ref().map_or(PROMETHEUS_PORT, |s| target_port(s, pod));
            Ok(Some((pod.metadata.name.clone().unwrap_or_default(), port)))
        }
        (Some(_), None) => Err(format!(
            "Service {ns}/{PROMETHEUS_SERVICE} exists but no running pod is labelled {PROMETHEUS_SELECTOR}"
        )),
        (None, None) => Ok(None),
    }
}

/// The hint added to a refused port-forward.
pub fn portforward_forbidden_hint(namespace: &str) -> String {
    format!(
        "reading Prometheus needs the `create` permission on `pods/portforward` in namespace \"{namespace}\" \
         (check with: kubectl auth can-i create pods/portforward -n {namespace}), or give --prometheus URL"
    )
}

/// Reads a Prometheus pod through a port-forward (closed before returning).
pub async fn from_pod(cluster: &Cluster, namespace: &str, pod: &str, port: u16, req: &Request) -> Traffic {
    let endpoint = format!("port-forward {namespace}/{pod}:{port}");
    let mut t = traffic(TelemetrySource::Prometheus, req, Some(endpoint.clone()));
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let mut pf = match tokio::time::timeout(req.timeout, api.portforward(pod, &[port])).await {
        Ok(Ok(pf)) => pf,
        Ok(Err(e)) => {
            let msg = match cluster.err(e) {
                Error::Forbidden(m) => format!("{m}; {}", portforward_forbidden_hint(namespace)),
                other => other.to_string(),
            };
            t.errors.push(format!(
                "prometheus: cannot port-forward to {namespace}/{pod}: {msg}"
            ));
            return t;
        }
        Err(_) => {
            t.errors.push(format!(
                "prometheus: cannot port-forward to {namespace}/{pod}: no answer within {}s",
                req.timeout.as_secs()
            ));
            return t;
        }
    };
    let Some(stream) = pf.take_stream(port) else {
        t.errors.push(format!(
            "prometheus: port-forward to {namespace}/{pod} gave no stream"
        ));
        return t;
    };
    let error = pf.take_error(port);
    let answers = http::get_over(stream, "localhost", &query_paths(req), req.timeout).await;
    let answers = match answers {
        Ok(a) => Ok(a),
        Err(e) => {
            // The forwarding side's own reason (e.g. nothing listens on the port) says more.
            let remote = match error {
                Some(fut) => tokio::time::timeout(Duration::from_secs(2), fut)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            Err(match remote {
                Some(r) => format!("{e} ({})", r.trim()),
                None => e,
            })
        }
    };
    pf.abort();
    let _ = pf.join().await;
    fill(&mut t, answers);
    t
}

/// The inbound connections a sidecar refused without a matching filter chain, from its
/// `stats/prometheus` text (0 when the counter is absent).
pub fn refused_from_proxy_stats(text: &str) -> u64 {
    expfmt::parse(text)
        .unwrap_or_default()
        .iter()
        .filter(|s| {
            s.name == NO_FILTER_CHAIN_METRIC
                && s.labels.get("envoy_listener_address").map(String::as_str) == Some(INBOUND_LISTENER)
        })
        .map(|s| istio::count_of(s.value).unwrap_or(0))
        .sum()
}

/// Envoy's counter of connections no filter chain matched.
pub const NO_FILTER_CHAIN_METRIC: &str = "envoy_listener_no_filter_chain_match";
/// The sidecar's inbound listener.
pub const INBOUND_LISTENER: &str = "0.0.0.0_15006";

/// One sidecar's inbound samples and refused connections, or why they could not be read.
type ProxyRead = Result<(Vec<TrafficSample>, u64), String>;

async fn read_proxy(cluster: &Cluster, pod: &ProxyPod, timeout: Duration) -> ProxyRead {
    let argv: Vec<String> = STATS_COMMAND.iter().map(|s| s.to_string()).collect();
    let out = crate::exec::exec(
        cluster,
        &pod.namespace,
        &pod.name,
        crate::model::pod::PROXY_CONTAINER,
        &argv,
        timeout,
    )
    .await
    .map_err(|e| e.to_string())?;
    let (code, stderr) = out.code_and_stderr();
    if code != 0 {
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(format!(
            "{} exited with {code}: {}",
            STATS_COMMAND.join(" "),
            first.trim()
        ));
    }
    Ok((
        from_proxy_stats(&out.stdout)?,
        refused_from_proxy_stats(&out.stdout),
    ))
}

/// Reads every pod's sidecar counters, [`PROXY_CONCURRENCY`] at a time; one error line per pod
/// that could not be read.
pub async fn from_proxies(cluster: &Cluster, pods: &[ProxyPod], req: &Request) -> Traffic {
    let mut t = traffic(TelemetrySource::Proxies, req, None);
    let results: Vec<(ProxyPod, ProxyRead)> =
        futures::stream::iter(pods.iter().cloned())
            .map(|p| async move {
                let r = if p.sidecar {
                read_proxy(cluster, &p, req.timeout).await
            } else {
                Err("ambient pod: its inbound counters are in ztunnel, which proxies mode does not read (use Prometheus)".into())
            };
                (p, r)
            })
            .buffer_unordered(PROXY_CONCURRENCY)
            .collect()
            .await;
    let mut samples = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    for (p, r) in results {
        match r {
            Ok((s, refused)) => {
                samples.extend(s);
                if refused > 0 {
                    t.refused.push(RefusedConnections {
                        namespace: p.namespace.clone(),
                        pod: p.name.clone(),
                        count: refused,
                    });
                }
            }
            Err(e) => failed.push((format!("{}/{}", p.namespace, p.name), e)),
        }
    }
    failed.sort();
    t.refused
        .sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
    for (key, e) in failed {
        t.errors
            .push(format!("{key}: cannot read the proxy's counters: {e}"));
        t.unread_pods.push(key);
    }
    t.samples = istio::aggregate(samples);
    t
}

/// Reads telemetry as asked. Never fails: what could not be read is in [`Traffic::errors`].
/// `Auto` without `--prometheus` and without an Istio Prometheus gives [`Traffic::none`].
pub async fn read(cluster: &Cluster, req: &Request, pods: &[ProxyPod]) -> Traffic {
    match req.mode {
        Mode::Off => Traffic::none(),
        Mode::Proxies => from_proxies(cluster, pods, req).await,
        Mode::Auto | Mode::Prometheus => {
            if let Some(url) = &req.prometheus {
                return from_url(url, req).await;
            }
            match discover(cluster, &req.istio_namespace).await {
                Ok(Some((pod, port))) => from_pod(cluster, &req.istio_namespace, &pod, port, req).await,
                Ok(None) if req.mode == Mode::Auto => Traffic::none(),
                Ok(None) => {
                    let mut t = traffic(TelemetrySource::Prometheus, req, None);
                    t.errors.push(format!(
                        "prometheus: none found (no Service {}/{PROMETHEUS_SERVICE}, no pod labelled {PROMETHEUS_SELECTOR}); give --prometheus URL",
                        req.istio_namespace
                    ));
                    t
                }
                // In auto mode, a Prometheus that could not even be looked for is one not found:
                // readiness from configuration only, saying why.
                Err(e) if req.mode == Mode::Auto => {
                    let mut t = Traffic::none();
                    t.notes.push(e);
                    t
                }
                Err(e) => {
                    let mut t = traffic(TelemetrySource::Prometheus, req, None);
                    t.errors.push(format!("prometheus: {e}"));
                    t
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Peer, Protocol, Security};

    #[test]
    fn refused_connections_come_from_the_inbound_listener_only() {
        let text = "# TYPE envoy_listener_no_filter_chain_match counter\n\
envoy_listener_no_filter_chain_match{envoy_listener_address=\"0.0.0.0_15006\"} 7\n\
envoy_listener_no_filter_chain_match{envoy_listener_address=\"0.0.0.0_15001\"} 3\n";
        assert_eq!(refused_from_proxy_stats(text), 7);
        assert_eq!(refused_from_proxy_stats("istio_requests_total{} 1\n"), 0);
        assert_eq!(refused_from_proxy_stats("not { prometheus"), 0);
    }

    #[test]
    fn query_answers_become_samples() {
        let http = br#"{"status":"success","data":{"resultType":"vector","result":[
          {"metric":{"reporter":"destination","source_workload":"sleep","source_workload_namespace":"default","source_principal":"unknown","destination_workload":"web-api","destination_workload_namespace":"istioinaction","connection_security_policy":"none"},"value":[1,"119.7"]},
          {"metric":{"reporter":"destination","source_workload":"web","source_workload_namespace":"istioinaction","destination_workload":"web-api","destination_workload_namespace":"istioinaction","connection_security_policy":"mutual_tls"},"value":[1,"0"]}]}}"#;
        let tcp = br#"{"status":"error","errorType":"timeout","error":"query timed out"}"#;
        let (samples, errors) = from_query_answers(&[(200, http), (503, tcp)]);
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].count, 120);
        assert_eq!(samples[0].security, Security::Plaintext);
        assert_eq!(samples[0].protocol, Protocol::Http);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("istio_tcp_connections_opened_total") && errors[0].contains("timed out"),
            "{errors:?}"
        );
    }

    #[test]
    fn proxy_stats_count_inbound_series_only() {
        let text = "# TYPE istio_requests_total counter\n\
istio_requests_total{reporter=\"destination\",source_workload=\"sleep\",source_workload_namespace=\"default\",destination_workload=\"web-api\",destination_workload_namespace=\"istioinaction\",connection_security_policy=\"none\",response_code=\"200\"} 100\n\
istio_requests_total{reporter=\"destination\",source_workload=\"sleep\",source_workload_namespace=\"default\",destination_workload=\"web-api\",destination_workload_namespace=\"istioinaction\",connection_security_policy=\"none\",response_code=\"503\"} 20\n\
istio_requests_total{reporter=\"source\",source_workload=\"web-api\",source_workload_namespace=\"istioinaction\",destination_workload=\"recommendation\",destination_workload_namespace=\"istioinaction\",connection_security_policy=\"unknown\"} 50\n\
istio_request_bytes_bucket{le=\"+Inf\"} 3\n\
envoy_cluster_upstream_cx_total{envoy_cluster_name=\"x\"} 9\n";
        let s = from_proxy_stats(text).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].source,
            Peer::Workload {
                namespace: "default".into(),
                name: "sleep".into()
            }
        );
        assert_eq!(s[0].count, 120);
        let e = from_proxy_stats("istio_requests_total{reporter=\"destination\"\n").unwrap_err();
        assert!(e.starts_with("unreadable stats (line 1"), "{e}");
    }

    #[test]
    fn query_paths_encode_the_promql() {
        let req = Request {
            mode: Mode::Prometheus,
            prometheus: None,
            window: Duration::from_secs(3600),
            namespaces: Some(vec!["istioinaction".into()]),
            istio_namespace: "istio-system".into(),
            timeout: Duration::from_secs(5),
        };
        let p = query_paths(&req);
        assert_eq!(p.len(), 2);
        assert!(
            p[0].starts_with("/api/v1/query?query=sum+by+%28reporter%2C"),
            "{}",
            p[0]
        );
        let decoded: Vec<(String, String)> =
            form_urlencoded::parse(p[1].split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(
            decoded[0].1,
            istio::query(istio::TCP_METRIC, req.window, req.namespaces.as_deref())
        );
    }
}
