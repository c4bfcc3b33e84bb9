//! `kubectl mtls probe`: prove enforcement with real traffic, and inspect workload certificates.
//!
//! Traffic: resolve the target Service, its port and the pods behind it; resolve the mode those
//! pods enforce on the target port with the engine; run curl (else wget) as an argv through
//! `pods/exec` in the application container of a client in the mesh and one outside it; compare
//! what happened with what the policy predicts.
//!
//! Certificates: run `pilot-agent request GET config_dump?mask=dynamic_active_secrets` in the
//! pod's `istio-proxy` container and judge the workload certificate (`crate::certs`).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde::Serialize;

use crate::certs::{self, CertFinding, CertReport, Expectation as CertExpectation};
use crate::cli::{GlobalArgs, ProbeArgs, ProbeOutput};
use crate::client::{Cluster, connect};
use crate::collect::{ReadOptions, Scope, read_snapshot};
use crate::engine::{
    Finding, FindingCode, Level, Membership, PolicyIndex, ServiceIndex, analyze, membership,
};
use crate::error::Error;
use crate::exec::{ExecOutput, exec};
use crate::model::mesh::mesh_configmap_name;
use crate::model::pod::PROXY_CONTAINER;
use crate::model::{DestinationRuleInfo, Labels, MeshSettings, Mode, PodInfo, TargetPort};
use crate::probe::{
    ClientTls, Enforcement, Expected, Outcome, PodRef, Tool, Verdict, app_container, client_score,
    client_tls, command, expected, interpret_curl, interpret_wget, parse_pod_ref, parse_target,
    pod_is_running, verdict,
};
use crate::render::table::{Cell, Table};
use crate::render::to_json;
use crate::style::{Role, paint};

/// Runs `kubectl mtls probe` and returns the exit code.
pub async fn run(global: &GlobalArgs, args: ProbeArgs) -> Result<i32, Error> {
    let cluster = connect(global).await?;
    match &args.certs {
        Some(pod) => run_certs(&cluster, pod, &args).await,
        None => run_traffic(&cluster, &args).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Pods

/// `matchLabels` and `matchExpressions` as a label selector string.
fn selector_string(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// Finds the pod a `POD` or `deploy/NAME` argument names in `namespace`. For a Deployment, a
/// running pod of it (the first by name), as `kubectl exec deploy/NAME` does.
async fn resolve_pod(cluster: &Cluster, namespace: &str, r: &PodRef) -> Result<Pod, Error> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    match r {
        PodRef::Pod(name) => pods.get(name).await.map_err(|e| cluster.err(e)),
        PodRef::Deployment(name) => {
            let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
            let d = deployments.get(name).await.map_err(|e| cluster.err(e))?;
            let selector = d
                .spec
                .as_ref()
                .map(|s| selector_string(&s.selector))
                .unwrap_or_default();
            if selector.is_empty() {
                return Err(Error::Other(format!(
                    "deployment {namespace}/{name} has an empty selector: name a pod instead"
                )));
            }
            let mut list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| cluster.err(e))?
                .items;
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            list.into_iter().find(pod_is_running).ok_or_else(|| {
                Error::Other(format!(
                    "deployment {namespace}/{name} has no running pod (selector {selector})"
                ))
            })
        }
    }
}

fn pod_name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

fn pod_ns(p: &Pod) -> String {
    p.metadata.namespace.clone().unwrap_or_default()
}

fn labels_of(p: &Pod) -> Labels {
    p.metadata.labels.clone().unwrap_or_default()
}

fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Resolves a named target port through the pod's container ports.
fn named_port(pod: &Pod, name: &str) -> Option<u32> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u32::try_from(p.container_port).ok())
}

// ---------------------------------------------------------------------------------------------
// Traffic

/// How a client was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Origin {
    /// `--from`.
    From,
    /// Picked automatically.
    Auto,
    /// Created with `--create-clients`.
    Created,
}

/// One probe's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProbeResult {
    namespace: String,
    pod: String,
    container: String,
    /// Membership of the client: sidecar, native-sidecar, ambient, none.
    mesh: Membership,
    chosen: Origin,
    /// The tool that ran (none when neither was found).
    tool: Option<Tool>,
    /// The argv run in the client container.
    command: Vec<String>,
    /// What the policy predicts (`None` when the pods behind the Service disagree).
    expected: Option<Expected>,
    /// Why.
    reason: String,
    /// When a DestinationRule or the mesh config, not automatic mTLS, decides what the
    /// client's sidecar sends.
    client_tls: Option<ClientTls>,
    observed: Outcome,
    verdict: Verdict,
    /// The tool's exit code.
    exit_code: Option<i32>,
    /// The tool's standard error, trimmed.
    stderr: String,
}

/// The enforcement on the target port, with the pods it applies to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct EnforcementView {
    #[serde(flatten)]
    enforcement: Enforcement,
    /// Where the mode comes from (`namespace istioinaction/default`).
    source: String,
    /// The pods behind the Service with this enforcement.
    pods: Vec<String>,
}

/// The target as resolved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetView {
    service: String,
    namespace: String,
    port: u16,
    target_port: u32,
    url: String,
}

/// Everything `probe TARGET` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct TrafficReport {
    target: TargetView,
    enforcement: Vec<EnforcementView>,
    results: Vec<ProbeResult>,
    /// Engine findings about the target that can explain a mismatch.
    findings: Vec<Finding>,
    notes: Vec<String>,
    /// Whether every probe matched the policy.
    ok: bool,
}

/// A client to probe from.
#[derive(Debug, Clone)]
struct Client {
    pod: Pod,
    container: String,
    mesh: Membership,
    origin: Origin,
}

impl Client {
    fn new(pod: Pod, origin: Origin) -> Result<Client, Error> {
        let container = app_container(&pod).ok_or_else(|| {
            Error::Other(format!(
                "pod {}/{} has no application container to run curl in (never istio-proxy: its traffic bypasses the sidecar)",
                pod_ns(&pod),
                pod_name(&pod)
            ))
        })?;
        let mesh = membership(&PodInfo::from(&pod));
        Ok(Client {
            pod,
            container,
            mesh,
            origin,
        })
    }

    fn key(&self) -> String {
        format!("{}/{}", pod_ns(&self.pod), pod_name(&self.pod))
    }
}

/// What the command needs from the target: resolved once, before clients run.
struct Resolved {
    view: TargetView,
    enforcement: Vec<EnforcementView>,
    /// Names of the pods behind the Service (never picked as clients).
    backing: BTreeSet<String>,
    findings: Vec<Finding>,
    notes: Vec<String>,
    /// Pods of the target namespace (full objects), for client picking.
    namespace_pods: Vec<Pod>,
    /// DestinationRules whose host designates the target Service.
    rules: Vec<DestinationRuleInfo>,
    /// Istio's root namespace.
    root_namespace: String,
    /// `enableAutoMtls` from the mesh config.
    auto_mtls: bool,
    /// The namespace- or mesh-level mode of the target namespace is DISABLE: automatic mTLS
    /// makes sidecar clients send plaintext.
    namespace_disable: bool,
}

async fn resolve_target(cluster: &Cluster, args: &ProbeArgs, raw: &str) -> Result<Resolved, Error> {
    let target = parse_target(raw)?;
    let ns = target
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.namespace.clone());
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
    let svc = match services
        .get_opt(&target.service)
        .await
        .map_err(|e| cluster.err(e))?
    {
        Some(s) => s,
        None => {
            return Err(Error::Other(format!(
                "service \"{}\" not found in namespace \"{ns}\"",
                target.service
            )));
        }
    };
    let info = crate::model::ServiceInfo::from(&svc);
    let mut notes = Vec::new();
    let port_list = || {
        info.ports
            .iter()
            .map(|p| p.port.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let svc_port = match target.port {
        Some(p) => info
            .ports
            .iter()
            .find(|sp| sp.port == u32::from(p))
            .ok_or_else(|| {
                Error::Other(format!(
                    "service {ns}/{} has no port {p} (ports: {})",
                    target.service,
                    port_list()
                ))
            })?,
        None => {
            let first = info
                .ports
                .first()
                .ok_or_else(|| Error::Other(format!("service {ns}/{} has no ports", target.service)))?;
            if info.ports.len() > 1 {
                notes.push(format!(
                    "service {ns}/{} has ports {}: probing {} (choose with {}:PORT)",
                    target.service,
                    port_list(),
                    first.port,
                    target.service
                ));
            }
            first
        }
    };
    let port = u16::try_from(svc_port.port).map_err(|_| Error::Other("invalid service port".into()))?;
    let Some(selector) = info.selector.clone() else {
        return Err(Error::Other(format!(
            "service {ns}/{} has no selector: the workloads behind it (and so the policy they enforce) are unknown",
            target.service
        )));
    };

    // Full pods of the target namespace: the backing pods and client candidates.
    let pods_api: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let namespace_pods = pods_api
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.err(e))?
        .items;
    let backing: Vec<&Pod> = namespace_pods
        .iter()
        .filter(|p| selects(&selector, &labels_of(p)) && pod_is_running(p))
        .collect();
    if backing.is_empty() {
        return Err(Error::Other(format!(
            "no running pod behind service {ns}/{} (selector {})",
            target.service,
            selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        )));
    }

    // The policy, resolved by the engine over full pods.
    let opts = ReadOptions {
        istio_namespace: args.istio_namespace.clone(),
        revision: None,
        pod_selector: None,
    };
    let mut read = read_snapshot(cluster, &Scope::Namespaces(vec![ns.clone()]), &opts).await?;
    read.snapshot.pods = namespace_pods.iter().map(PodInfo::from).collect();
    for gap in &read.gaps {
        notes.push(gap.to_string());
    }
    notes.extend(read.warnings.iter().cloned());
    let analysis = analyze(&read.snapshot);
    let index = PolicyIndex::new(&read.snapshot);
    let services = ServiceIndex::new(&read.snapshot.services, &read.snapshot.cluster_domain);
    let rules: Vec<DestinationRuleInfo> = read
        .snapshot
        .destination_rules
        .iter()
        .filter(|dr| {
            services
                .lookup(&dr.host, &dr.namespace)
                .iter()
                .any(|s| s.namespace == ns && s.name == target.service)
        })
        .cloned()
        .collect();
    let client_visible_disable = index.namespace_mode(&ns).mode == Mode::Disable;

    let mut target_port = None;
    let mut enforcement: Vec<EnforcementView> = Vec::new();
    for pod in &backing {
        let name = pod_name(pod);
        let tp = match &svc_port.target_port {
            TargetPort::Number(n) => *n,
            TargetPort::Name(n) => named_port(pod, n).ok_or_else(|| {
                Error::Other(format!(
                    "service {ns}/{} targets port \"{n}\", which pod {name} does not declare",
                    target.service
                ))
            })?,
        };
        target_port.get_or_insert(tp);
        let Some(pr) = analysis.pods.iter().find(|r| r.namespace == ns && r.name == name) else {
            continue;
        };
        let resolved = pr.policy.mode_for_port(tp);
        let meshed = pr.mesh.membership.is_meshed();
        let mut source = resolved.source.to_string();
        let mut mode = resolved.mode;
        if pr.mesh.membership == Membership::Ambient && mode == Mode::Disable {
            // ztunnel does not implement DISABLE: it accepts plaintext and mTLS.
            mode = Mode::Permissive;
            source = format!("{source}; DISABLE is not supported in ambient mode, ztunnel accepts both");
        }
        let e = Enforcement {
            mode,
            workload_level: matches!(resolved.source.level, Level::Workload | Level::Port)
                && !client_visible_disable,
            target_in_mesh: meshed,
            port_bypassed: meshed && !pr.enforced_on(tp),
        };
        match enforcement
            .iter_mut()
            .find(|v| v.enforcement == e && v.source == source)
        {
            Some(v) => v.pods.push(name),
            None => enforcement.push(EnforcementView {
                enforcement: e,
                source,
                pods: vec![name],
            }),
        }
    }
    let target_port = target_port.unwrap_or(svc_port.port);
    if enforcement.is_empty() {
        return Err(Error::Other(format!(
            "the policy of the pods behind {ns}/{} could not be resolved",
            target.service
        )));
    }
    if enforcement.len() > 1 {
        notes.push(format!(
            "the pods behind {ns}/{} enforce different modes on port {target_port}: each request reaches one of them",
            target.service
        ));
    }

    let svc_key = format!("{ns}/{}", target.service);
    let relevant = [
        FindingCode::DestinationRuleDisablesTls,
        FindingCode::DestinationRulePlaintext,
        FindingCode::WorkloadDisableWithMtlsClients,
        FindingCode::AutoMtlsDisabled,
        FindingCode::AmbientDisableUnsupported,
    ];
    let findings = analysis
        .findings
        .iter()
        .filter(|f| relevant.contains(&f.code))
        .filter(|f| {
            f.code == FindingCode::AutoMtlsDisabled
                || f.object.namespace == ns
                || f.message.contains(&svc_key)
                || f.message.contains(&format!("{}.{ns}", target.service))
        })
        .cloned()
        .collect();

    Ok(Resolved {
        view: TargetView {
            service: target.service.clone(),
            namespace: ns.clone(),
            port,
            target_port,
            url: target.url(&ns, port),
        },
        enforcement,
        backing: backing.iter().map(|p| format!("{ns}/{}", pod_name(p))).collect(),
        findings,
        notes,
        namespace_pods,
        rules,
        root_namespace: read.snapshot.root_namespace.clone(),
        auto_mtls: !read.snapshot.auto_mtls_disabled,
        namespace_disable: client_visible_disable,
    })
}

/// Picks one client in the mesh and one outside it among `candidates`, preferring pods that
/// look like curl clients, then the earlier namespaces of `ns_order`, then by name.
///
/// With `clients_only`, only pods that look like clients (`client_score` above 0) count: a
/// cluster-wide search must not pick, say, istiod.
fn pick_clients(
    candidates: &[Pod],
    backing: &BTreeSet<String>,
    ns_order: &[String],
    clients_only: bool,
) -> Vec<Client> {
    let mut usable: Vec<Client> = candidates
        .iter()
        .filter(|p| pod_is_running(p))
        .filter(|p| !clients_only || client_score(&pod_name(p), &labels_of(p)) > 0)
        .filter(|p| !backing.contains(&format!("{}/{}", pod_ns(p), pod_name(p))))
        .filter(|p| p.spec.as_ref().and_then(|s| s.host_network) != Some(true))
        .filter(|p| !["kube-system", "kube-public"].contains(&pod_ns(p).as_str()))
        .filter_map(|p| Client::new(p.clone(), Origin::Auto).ok())
        .collect();
    let rank = |c: &Client| {
        let ns = pod_ns(&c.pod);
        (
            std::cmp::Reverse(client_score(&pod_name(&c.pod), &labels_of(&c.pod))),
            ns_order.iter().position(|n| *n == ns).unwrap_or(usize::MAX),
            ns,
            pod_name(&c.pod),
        )
    };
    usable.sort_by_key(rank);
    let mut out = Vec::new();
    if let Some(c) = usable.iter().find(|c| c.mesh.is_meshed()) {
        out.push(c.clone());
    }
    if let Some(c) = usable.iter().find(|c| !c.mesh.is_meshed()) {
        out.push(c.clone());
    }
    out
}

async fn auto_clients(
    cluster: &Cluster,
    args: &ProbeArgs,
    target: &Resolved,
    notes: &mut Vec<String>,
) -> Result<Vec<Client>, Error> {
    let mut ns_order: Vec<String> = Vec::new();
    match &args.from_namespace {
        Some(ns) => ns_order.push(ns.clone()),
        None => {
            ns_order.push(target.view.namespace.clone());
            if cluster.namespace != target.view.namespace {
                ns_order.push(cluster.namespace.clone());
            }
        }
    }
    let mut candidates: Vec<Pod> = Vec::new();
    for ns in &ns_order {
        if *ns == target.view.namespace {
            candidates.extend(target.namespace_pods.iter().cloned());
            continue;
        }
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
        match api.list(&ListParams::default()).await.map_err(|e| cluster.err(e)) {
            Ok(l) => candidates.extend(l.items),
            Err(Error::Forbidden(m)) => notes.push(format!("cannot list pods in namespace \"{ns}\": {m}")),
            Err(e) => return Err(e),
        }
    }
    let mut picked = pick_clients(&candidates, &target.backing, &ns_order, false);
    let has = |p: &[Client], meshed: bool| p.iter().any(|c| c.mesh.is_meshed() == meshed);
    if args.from_namespace.is_none() && !(has(&picked, true) && has(&picked, false)) {
        // Look cluster-wide for the missing kind.
        let api: Api<Pod> = Api::all(cluster.client.clone());
        match api.list(&ListParams::default()).await.map_err(|e| cluster.err(e)) {
            Ok(l) => {
                // Keep what the namespaces in order gave; add the missing kind from elsewhere.
                let more = pick_clients(&l.items, &target.backing, &ns_order, true);
                for c in more {
                    if !has(&picked, c.mesh.is_meshed()) {
                        picked.push(c);
                    }
                }
            }
            Err(Error::Forbidden(_)) => notes.push(
                "cannot list pods cluster-wide to find more clients: use --from or --create-clients".into(),
            ),
            Err(e) => return Err(e),
        }
    }
    if !has(&picked, true) {
        notes.push(
            "no running client pod in the mesh found: use --from POD or --create-clients to probe as an mTLS client"
                .into(),
        );
    }
    if !has(&picked, false) {
        notes.push(
            "no running client pod outside the mesh found: use --from POD or --create-clients to probe as a plaintext client"
                .into(),
        );
    }
    Ok(picked)
}

/// One request from a client: the tool that ran and what it reported.
struct Attempt {
    /// curl or wget; `None` when neither is in the image.
    tool: Option<Tool>,
    /// The argv run.
    argv: Vec<String>,
    observed: Outcome,
    exit_code: i32,
    /// The tool's stderr, trimmed.
    stderr: String,
}

/// Runs curl (else wget) in the client and reads the result.
async fn probe_one(
    cluster: &Cluster,
    client: &Client,
    url: &str,
    timeout: Duration,
) -> Result<Attempt, Error> {
    let curl = attempt(cluster, client, Tool::Curl, url, timeout).await?;
    if curl.tool.is_some() {
        return Ok(curl);
    }
    attempt(cluster, client, Tool::Wget, url, timeout).await
}

/// Runs one tool; `tool` of the result is `None` when it is not in the image.
async fn attempt(
    cluster: &Cluster,
    client: &Client,
    tool: Tool,
    url: &str,
    timeout: Duration,
) -> Result<Attempt, Error> {
    let argv = command(tool, url, timeout);
    // The exec itself may take a little longer than the tool's own timeout.
    let exec_timeout = timeout + Duration::from_secs(15);
    let out: ExecOutput = exec(
        cluster,
        &pod_ns(&client.pod),
        &pod_name(&client.pod),
        &client.container,
        &argv,
        exec_timeout,
    )
    .await?;
    let (exit_code, stderr) = out.code_and_stderr();
    let meshed = client.mesh.is_meshed();
    let observed = match tool {
        Tool::Curl => interpret_curl(exit_code, &out.stdout, &stderr, meshed),
        Tool::Wget => interpret_wget(exit_code, &stderr, meshed),
    };
    Ok(Attempt {
        tool: (observed != Outcome::NoClientTool).then_some(tool),
        argv,
        observed,
        exit_code,
        stderr: stderr.trim().to_string(),
    })
}

async fn probe_all(
    cluster: &Cluster,
    args: &ProbeArgs,
    target: &Resolved,
    clients: &[Client],
) -> Result<Vec<ProbeResult>, Error> {
    let mut results = Vec::new();
    for client in clients {
        let meshed = client.mesh.is_meshed();
        // A sidecar client's DestinationRules (or enableAutoMtls: false) may override automatic mTLS.
        let tls = match client.mesh {
            Membership::Sidecar | Membership::NativeSidecar => client_tls(
                &target.rules,
                &pod_ns(&client.pod),
                &labels_of(&client.pod),
                &target.view.namespace,
                &target.root_namespace,
                u32::from(target.view.port),
                target.auto_mtls,
            )
            .or_else(|| {
                target.namespace_disable.then(|| ClientTls {
                    plaintext: true,
                    why: "namespace/mesh-level DISABLE: automatic mTLS makes the client's sidecar send plaintext"
                        .into(),
                })
            }),
            _ => None,
        };
        let sends_plaintext = !meshed || tls.as_ref().is_some_and(|t| t.plaintext);
        let forced_mtls = tls.as_ref().is_some_and(|t| !t.plaintext);
        let predictions: BTreeSet<(Expected, &'static str)> = target
            .enforcement
            .iter()
            .map(|e| {
                let mut e = e.enforcement;
                // A client told to use ISTIO_MUTUAL keeps sending mTLS even to a DISABLE namespace.
                e.workload_level |= forced_mtls;
                expected(e, !sends_plaintext)
            })
            .collect();
        let expectations: BTreeSet<Expected> = predictions.iter().map(|p| p.0).collect();
        let (expect, mut reason) = match (expectations.len(), predictions.iter().next()) {
            (1, Some((e, why))) => (Some(*e), why.to_string()),
            _ => (
                None,
                "the pods behind the Service enforce different modes: either result can happen".into(),
            ),
        };
        if let Some(t) = &tls {
            reason = format!("{}; {reason}", t.why);
        }
        // Plaintext accepted is a security finding only where every pod enforces STRICT.
        let strict_plaintext = sends_plaintext
            && target.enforcement.iter().all(|e| {
                e.enforcement.mode == Mode::Strict
                    && e.enforcement.target_in_mesh
                    && !e.enforcement.port_bypassed
            });
        // A failed exec (pod gone, exec timed out) is this client's result, not the end of the
        // run; a refused exec (RBAC) stops everything, since every client would be refused.
        let attempt = match probe_one(cluster, client, &target.view.url, args.timeout).await {
            Ok(a) => a,
            Err(e @ Error::Forbidden(_)) => return Err(e),
            Err(e) => Attempt {
                tool: None,
                argv: command(Tool::Curl, &target.view.url, args.timeout),
                observed: Outcome::Error {
                    exit: -1,
                    detail: format!("exec failed: {e}"),
                },
                exit_code: -1,
                stderr: String::new(),
            },
        };
        let v = match expect {
            Some(e) => verdict(e, &attempt.observed, strict_plaintext),
            None => Verdict::Inconclusive,
        };
        results.push(ProbeResult {
            namespace: pod_ns(&client.pod),
            pod: pod_name(&client.pod),
            container: client.container.clone(),
            mesh: client.mesh,
            chosen: client.origin,
            tool: attempt.tool,
            command: attempt.argv,
            expected: expect,
            reason,
            client_tls: tls,
            observed: attempt.observed,
            verdict: v,
            exit_code: (attempt.exit_code >= 0).then_some(attempt.exit_code),
            stderr: attempt.stderr,
        });
    }
    Ok(results)
}

fn mode_role(m: Mode) -> Role {
    match m {
        Mode::Strict => Role::Good,
        Mode::Permissive => Role::Warn,
        Mode::Disable => Role::Bad,
    }
}

fn render_traffic(report: &TrafficReport, out: ProbeOutput) -> Result<String, Error> {
    if out == ProbeOutput::Json {
        return to_json(report);
    }
    let t = &report.target;
    let mut s = format!(
        "Probing {} (service {}/{} port {} -> target port {})\n",
        t.url, t.namespace, t.service, t.port, t.target_port
    );
    for e in &report.enforcement {
        let en = &e.enforcement;
        let state = if !en.target_in_mesh {
            " (not in the mesh: nothing enforces it)".to_string()
        } else if en.port_bypassed {
            " (port excluded from interception: not enforced)".to_string()
        } else {
            String::new()
        };
        s.push_str(&format!(
            "Policy on port {}: {} ({}){state} for {}\n",
            t.target_port,
            paint(en.mode.as_str(), mode_role(en.mode)),
            e.source,
            plural_pods(&e.pods)
        ));
    }
    let mut auto = report
        .results
        .iter()
        .filter(|r| r.chosen == Origin::Auto)
        .peekable();
    if auto.peek().is_some() {
        let list: Vec<String> = auto
            .map(|r| {
                format!(
                    "{}/{} ({})",
                    r.namespace,
                    r.pod,
                    if r.mesh.is_meshed() {
                        "in the mesh"
                    } else {
                        "outside the mesh"
                    }
                )
            })
            .collect();
        s.push_str(&format!(
            "Clients picked automatically (choose with --from): {}\n",
            list.join(", ")
        ));
    }
    s.push('\n');
    let mut table = Table::new(&["Client", "Mesh", "Expected", "Observed", "Verdict", "Why"]);
    for r in &report.results {
        let verdict_role = match r.verdict {
            Verdict::Pass => Role::Good,
            Verdict::Inconclusive => Role::Warn,
            _ => Role::Bad,
        };
        table.row(vec![
            format!("{}/{}", r.namespace, r.pod).into(),
            r.mesh.as_str().into(),
            match r.expected {
                Some(Expected::Accept) => "accepted".into(),
                Some(Expected::Reject) => "rejected".into(),
                None => "either".into(),
            },
            r.observed.words().into(),
            Cell::styled(r.verdict.as_str(), verdict_role),
            r.reason.clone().into(),
        ]);
    }
    s.push_str(&table.render());
    Ok(s)
}

fn plural_pods(p: &[String]) -> String {
    match p {
        [one] => format!("pod {one}"),
        many => format!("{} pods ({})", many.len(), many.join(", ")),
    }
}

/// Prints the report and the messages that go to stderr; returns the exit code.
fn finish_traffic(report: &TrafficReport, out: ProbeOutput) -> Result<i32, Error> {
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    if report.results.is_empty() {
        return Err(Error::Other(
            "no client pod to probe from: use --from POD or --create-clients".into(),
        ));
    }
    print!("{}", render_traffic(report, out)?);
    for f in &report.findings {
        eprintln!("{}: {} {}: {}", f.severity, f.code, f.object, f.message);
    }
    for r in &report.results {
        match r.verdict {
            Verdict::PlaintextAccepted => eprintln!(
                "{}",
                paint(
                    &format!(
                        "SECURITY: plaintext from {}/{} (outside the mesh) was ACCEPTED by {}.{}:{} where STRICT is in force: mTLS is NOT enforced",
                        r.namespace,
                        r.pod,
                        report.target.service,
                        report.target.namespace,
                        report.target.port
                    ),
                    Role::Bad
                )
            ),
            Verdict::Mismatch => eprintln!(
                "mismatch: from {}/{} the policy predicts {} but the request was {}",
                r.namespace,
                r.pod,
                match r.expected {
                    Some(Expected::Accept) => "acceptance",
                    _ => "rejection",
                },
                r.observed.words()
            ),
            Verdict::Inconclusive if r.observed == Outcome::NoClientTool => eprintln!(
                "inconclusive: neither curl nor wget runs in container {} of {}/{}: use --from with a pod that has one, or --create-clients",
                r.container, r.namespace, r.pod
            ),
            Verdict::Inconclusive => eprintln!(
                "inconclusive: from {}/{} the request {}{}",
                r.namespace,
                r.pod,
                r.observed.words(),
                if r.stderr.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.stderr)
                }
            ),
            Verdict::Pass => {}
        }
    }
    Ok(if report.ok { 0 } else { 1 })
}

async fn run_traffic(cluster: &Cluster, args: &ProbeArgs) -> Result<i32, Error> {
    let raw = args.target.as_deref().ok_or_else(|| {
        Error::Usage("probe needs a TARGET (SERVICE[.NAMESPACE][:PORT][/PATH]) or --certs POD".into())
    })?;
    let refs: Vec<PodRef> = args
        .from
        .iter()
        .map(|f| parse_pod_ref(f))
        .collect::<Result<_, _>>()?;
    let target = resolve_target(cluster, args, raw).await?;
    let from_ns = args
        .from_namespace
        .clone()
        .unwrap_or_else(|| target.view.namespace.clone());
    let mut notes = target.notes.clone();

    if args.create_clients {
        return with_created_clients(cluster, args, &target, &from_ns, notes).await;
    }
    let clients = if refs.is_empty() {
        auto_clients(cluster, args, &target, &mut notes).await?
    } else {
        let mut v = Vec::new();
        for r in &refs {
            let pod = resolve_pod(cluster, &from_ns, r).await?;
            v.push(Client::new(pod, Origin::From)?);
        }
        v
    };
    for c in &clients {
        if target.backing.contains(&c.key()) {
            notes.push(format!(
                "client {} is itself behind the target Service: its request may be answered by itself",
                c.key()
            ));
        }
    }
    let results = probe_all(cluster, args, &target, &clients).await?;
    let report = build_report(&target, results, notes);
    finish_traffic(&report, args.output)
}

fn build_report(target: &Resolved, results: Vec<ProbeResult>, notes: Vec<String>) -> TrafficReport {
    let ok = !results.is_empty() && results.iter().all(|r| !r.verdict.fails());
    TrafficReport {
        target: target.view.clone(),
        enforcement: target.enforcement.clone(),
        results,
        findings: target.findings.clone(),
        notes,
        ok,
    }
}

// ---------------------------------------------------------------------------------------------
// Created clients

/// The pod label that opts a pod in or out of sidecar injection.
const INJECT_LABEL: &str = "sidecar.istio.io/inject";

/// The label every created client carries (`kubectl delete pod -l` cleans up by hand).
pub const CREATED_LABEL: &str = "kubectl-mtls/probe-client";

fn client_pod(name: &str, image: &str, inject: bool) -> Pod {
    let labels: Labels = [
        ("app".to_string(), "mtls-probe".to_string()),
        (CREATED_LABEL.to_string(), "true".to_string()),
        (INJECT_LABEL.to_string(), inject.to_string()),
    ]
    .into();
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels),
            annotations: Some(
                [(
                    crate::probe::DEFAULT_CONTAINER_ANNOTATION.to_string(),
                    "client".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "client".into(),
                image: Some(image.to_string()),
                command: Some(vec!["sleep".into(), "3600".into()]),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            termination_grace_period_seconds: Some(0),
            // A safety net should the deletion never happen (the process killed hard).
            active_deadline_seconds: Some(3600),
            ..Default::default()
        }),
        status: None,
    }
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:05x}", (nanos ^ std::process::id()) & 0xfffff)
}

async fn wait_running(
    cluster: &Cluster,
    ns: &str,
    names: &[String],
    limit: Duration,
) -> Result<Vec<Pod>, Error> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut ready = Vec::new();
        let mut waiting = Vec::new();
        for n in names {
            let p = api.get(n).await.map_err(|e| cluster.err(e))?;
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            if phase == "Failed" || phase == "Succeeded" {
                return Err(Error::Other(format!(
                    "client pod {ns}/{n} ended ({phase}) before it could be used"
                )));
            }
            if pod_is_running(&p) {
                ready.push(p);
            } else {
                waiting.push(format!(
                    "{n} ({})",
                    if phase.is_empty() { "Pending" } else { &phase }
                ));
            }
        }
        if waiting.is_empty() {
            return Ok(ready);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Other(format!(
                "client pods did not become ready within {limit:?}: {} (raise --start-timeout, or check the image can be pulled)",
                waiting.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn with_created_clients(
    cluster: &Cluster,
    args: &ProbeArgs,
    target: &Resolved,
    ns: &str,
    mut notes: Vec<String>,
) -> Result<i32, Error> {
    let suffix = unique_suffix();
    let names = [
        format!("mtls-probe-mesh-{suffix}"),
        format!("mtls-probe-plain-{suffix}"),
    ];
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let work = async {
        for (name, inject) in names.iter().zip([true, false]) {
            api.create(&PostParams::default(), &client_pod(name, &args.image, inject))
                .await
                .map_err(|e| match cluster.err(e) {
                    Error::Forbidden(m) => Error::Forbidden(format!(
                        "{m}; --create-clients needs the `create` and `delete` permissions on pods in namespace \"{ns}\""
                    )),
                    other => other,
                })?;
        }
        eprintln!(
            "created client pods {ns}/{} and {ns}/{}; waiting for them to run",
            names[0], names[1]
        );
        let pods = wait_running(cluster, ns, &names, args.start_timeout).await?;
        let mut clients = Vec::new();
        for p in pods {
            let c = Client::new(p, Origin::Created)?;
            if pod_name(&c.pod) == names[0] && !c.mesh.is_meshed() {
                notes.push(format!(
                    "the client {ns}/{} was created with sidecar.istio.io/inject=true but got no sidecar (is injection disabled in namespace \"{ns}\", or the injector down?): it probes as a plaintext client",
                    names[0]
                ));
            }
            clients.push(c);
        }
        probe_all(cluster, args, target, &clients).await
    };
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let outcome = tokio::select! {
        r = work => Some(r),
        _ = interrupted => None,
    };
    // Always delete, whatever happened.
    let mut leftovers = Vec::new();
    for n in &names {
        match api.delete(n, &DeleteParams::default().grace_period(0)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => leftovers.push(format!("{n}: {}", cluster.err(e))),
        }
    }
    if leftovers.is_empty() {
        eprintln!("deleted client pods {ns}/{} and {ns}/{}", names[0], names[1]);
    } else {
        eprintln!(
            "warning: could not delete client pods ({}); delete them with: kubectl delete pod -n {ns} -l {CREATED_LABEL}=true",
            leftovers.join("; ")
        );
    }
    match outcome {
        None => {
            eprintln!("interrupted");
            Ok(130)
        }
        Some(Err(e)) => Err(e),
        Some(Ok(results)) => finish_traffic(&build_report(target, results, notes), args.output),
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates

/// `--certs` output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct CertsReport {
    namespace: String,
    pod: String,
    service_account: String,
    mesh: Membership,
    /// The SPIFFE ID the pod should carry.
    expected_spiffe_id: String,
    /// The certificates, when the pod has a sidecar.
    certificates: Option<CertReport>,
    /// Findings (the certificate's, or why there is none).
    findings: Vec<CertFinding>,
    notes: Vec<String>,
}

/// The trust domain from the mesh config; `None` (any accepted) when it cannot be read.
async fn trust_domain(
    cluster: &Cluster,
    istio_ns: &str,
    notes: &mut Vec<String>,
) -> Result<Option<String>, Error> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), istio_ns);
    let name = mesh_configmap_name(None);
    match api.get_opt(&name).await.map_err(|e| cluster.err(e)) {
        Ok(Some(cm)) => match MeshSettings::from_configmap(&cm) {
            Ok(m) => Ok(Some(m.trust_domain)),
            Err(e) => {
                notes.push(format!(
                    "the mesh config {istio_ns}/{name} is unreadable ({e}): any trust domain is accepted"
                ));
                Ok(None)
            }
        },
        Ok(None) => Ok(Some(MeshSettings::defaults(istio_ns).trust_domain)),
        Err(Error::Forbidden(m)) => {
            notes.push(format!(
                "cannot read the mesh config ({m}): any trust domain is accepted"
            ));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn run_certs(cluster: &Cluster, raw: &str, args: &ProbeArgs) -> Result<i32, Error> {
    let r = parse_pod_ref(raw)?;
    let ns = cluster.namespace.clone();
    let pod = resolve_pod(cluster, &ns, &r).await?;
    let name = pod_name(&pod);
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let mesh = membership(&PodInfo::from(&pod));
    let mut notes = Vec::new();
    let td = trust_domain(cluster, &args.istio_namespace, &mut notes).await?;
    let expectation = CertExpectation {
        namespace: ns.clone(),
        service_account: sa.clone(),
        trust_domain: td.clone(),
    };
    let mut report = CertsReport {
        namespace: ns.clone(),
        pod: name.clone(),
        service_account: sa,
        mesh,
        expected_spiffe_id: expectation.spiffe_id(td.as_deref().unwrap_or("<trust-domain>")),
        certificates: None,
        findings: Vec::new(),
        notes,
    };
    match mesh {
        Membership::None => report.findings.push(CertFinding::new(
            "NotInMesh",
            format!(
                "pod {ns}/{name} has no sidecar and is not captured by ambient: it is not in the mesh and has no workload certificate"
            ),
        )),
        Membership::Ambient => report.findings.push(CertFinding::new(
            "AmbientCertificatesInZtunnel",
            format!(
                "pod {ns}/{name} is in ambient mode: its certificate lives in the ztunnel on its node (istioctl ztunnel-config certificates)"
            ),
        )),
        Membership::Sidecar | Membership::NativeSidecar => {
            let argv: Vec<String> = ["pilot-agent", "request", "GET", "config_dump?mask=dynamic_active_secrets"]
                .map(str::to_string)
                .to_vec();
            let out = exec(cluster, &ns, &name, PROXY_CONTAINER, &argv, Duration::from_secs(30)).await?;
            let (code, stderr) = out.code_and_stderr();
            if code != 0 {
                return Err(Error::Other(format!(
                    "`pilot-agent request GET config_dump?mask=dynamic_active_secrets` in {PROXY_CONTAINER} of {ns}/{name} failed (exit {code}): {}",
                    stderr.trim()
                )));
            }
            let secrets = certs::parse_secrets_dump(&out.stdout)
                .map_err(|e| Error::Other(format!("pod {ns}/{name}: {e}")))?;
            let now = jiff::Timestamp::now().as_second();
            let analysed = certs::analyse(&secrets, &expectation, now)
                .map_err(|e| Error::Other(format!("pod {ns}/{name}: {e}")))?;
            report.findings = analysed.findings.clone();
            report.certificates = Some(analysed);
        }
    }
    print!("{}", render_certs(&report, args.output)?);
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    Ok(if report.findings.iter().any(|f| f.severity == "error") {
        1
    } else {
        0
    })
}

fn render_certs(r: &CertsReport, out: ProbeOutput) -> Result<String, Error> {
    if out == ProbeOutput::Json {
        return to_json(r);
    }
    let mut s = format!(
        "Pod {}/{} (service account {}, {})\nExpected identity: {}\n",
        r.namespace, r.pod, r.service_account, r.mesh, r.expected_spiffe_id
    );
    if let Some(c) = &r.certificates {
        let field = |s: &mut String, k: &str, v: &str| s.push_str(&format!("  {:<12}{v}\n", format!("{k}:")));
        let describe = |s: &mut String, title: &str, cert: &certs::CertSummary| {
            s.push_str(&format!("{title}\n"));
            field(s, "Serial", &cert.serial);
            if !cert.subject.is_empty() {
                field(s, "Subject", &cert.subject);
            }
            field(
                s,
                "Issuer",
                if cert.issuer.is_empty() { "-" } else { &cert.issuer },
            );
            if let Some(id) = &cert.spiffe_id {
                field(s, "SPIFFE ID", id);
            }
            field(s, "Not before", &cert.not_before);
            field(s, "Not after", &cert.not_after);
        };
        s.push('\n');
        describe(&mut s, "Workload certificate", &c.leaf);
        if c.leaf.spiffe_id.is_none() {
            field(&mut s, "SPIFFE ID", "- (no spiffe:// URI SAN)");
        }
        let remaining = if c.remaining_seconds < 0 {
            paint(
                &format!(
                    "expired {} ago (lifetime {})",
                    certs::human_duration(-c.remaining_seconds),
                    certs::human_duration(c.lifetime_seconds)
                ),
                Role::Bad,
            )
        } else {
            format!(
                "{} of {}",
                certs::human_duration(c.remaining_seconds),
                certs::human_duration(c.lifetime_seconds)
            )
        };
        field(&mut s, "Remaining", &remaining);
        field(
            &mut s,
            "Used",
            &format!(
                "{:.0}% of its lifetime; Istio rotates at {:.0}% ({})",
                c.elapsed_fraction * 100.0,
                certs::ROTATION_RATIO * 100.0,
                c.rotation_due
            ),
        );
        for (i, ca) in c.chain.iter().enumerate() {
            describe(&mut s, &format!("Chain certificate {}", i + 1), ca);
        }
        for root in &c.roots {
            describe(&mut s, "Root certificate (ROOTCA)", root);
        }
        s.push('\n');
        s.push_str(&match &c.verify_error {
            None => format!(
                "Chain: {}\n",
                paint("verifies against the root (ROOTCA)", Role::Good)
            ),
            Some(e) => format!("Chain: {}\n", paint(&format!("does NOT verify: {e}"), Role::Bad)),
        });
    }
    if r.findings.is_empty() {
        s.push_str("Findings: none\n");
    } else {
        s.push_str("Findings:\n");
        for f in &r.findings {
            let role = if f.severity == "error" {
                Role::Bad
            } else {
                Role::Warn
            };
            s.push_str(&format!(
                "  {} {}: {}\n",
                paint(f.severity, role),
                f.code,
                f.message
            ));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    /// A cluster on kube-sim holding one pod `p` in `default` with the given phase.
    async fn sim_with_pod(phase: &str) -> (kube_sim::SimServer, Cluster, std::path::PathBuf) {
        let server = kube_sim::SimServer::start_background(kube_sim::Scenario::empty()).expect("sim");
        server
            .cluster()
            .put(serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
                "status": {"phase": phase}
            }))
            .expect("put pod");
        let path = std::env::temp_dir().join(format!("kubectl-mtls-wait-{}-{phase}", std::process::id()));
        server.write_kubeconfig(&path, "admin").expect("kubeconfig");
        let global = GlobalArgs {
            kubeconfig: Some(path.clone()),
            ..Default::default()
        };
        let cluster = connect(&global).await.expect("connect");
        (server, cluster, path)
    }

    #[tokio::test]
    async fn waiting_for_clients_times_out_and_sees_them_start() {
        let (server, cluster, path) = sim_with_pod("Pending").await;
        let names = ["p".to_string()];
        let err = wait_running(&cluster, "default", &names, Duration::from_millis(700))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("client pods did not become ready within 700ms: p (Pending)"),
            "{err}"
        );
        // The pod starts while the command waits.
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
        let starter = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(600)).await;
            // PUT .../status (kube-sim's PATCH .../status keeps the old status).
            let mut pod = api.get("p").await.expect("get pod");
            pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
                phase: Some("Running".into()),
                ..Default::default()
            });
            api.replace_status("p", &PostParams::default(), &pod)
                .await
                .expect("replace status");
        });
        let pods = wait_running(&cluster, "default", &names, Duration::from_secs(10))
            .await
            .expect("pod runs");
        starter.await.expect("starter");
        assert_eq!(pods.len(), 1);
        let gets = server
            .requests()
            .iter()
            .filter(|r| r.resource == "pods" && r.verb == "get" && r.name == "p")
            .count();
        assert!(gets >= 3, "polled {gets} times");
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn a_client_that_ended_is_an_error_at_once() {
        let (_server, cluster, path) = sim_with_pod("Failed").await;
        let err = wait_running(&cluster, "default", &["p".to_string()], Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("ended (Failed)"), "{err}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn deployment_selectors_become_label_selectors() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "sleep".to_string())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(selector_string(&sel), "app=sleep,tier in (a,b),!canary");
    }

    #[test]
    fn created_clients_ask_for_and_against_a_sidecar() {
        let p = client_pod("mtls-probe-mesh-1", "curlimages/curl:8.11.1", true);
        let labels = p.metadata.labels.unwrap();
        assert_eq!(labels["sidecar.istio.io/inject"], "true");
        assert_eq!(labels[CREATED_LABEL], "true");
        let p = client_pod("mtls-probe-plain-1", "img", false);
        assert_eq!(p.metadata.labels.unwrap()["sidecar.istio.io/inject"], "false");
        let spec = p.spec.unwrap();
        assert_eq!(spec.containers[0].image.as_deref(), Some("img"));
        assert_eq!(spec.termination_grace_period_seconds, Some(0));
    }
}
