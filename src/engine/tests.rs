//! Scenario tests of the engine: small clusters built in memory, results derived from them.

use super::*;
use crate::model::{
    AmbientRedirection, Created, DestinationRuleInfo, DrTlsSetting, InboundCapture, Labels, MeshSettings,
    Mode, NamespaceInfo, ObjectKey, Owner, PodInfo, Policy, PolicyMode, ServiceInfo, ServicePortInfo,
    SidecarKind, Snapshot, TargetPort, TlsMode,
};
use crate::resources::PeerAuthentication;

const ROOT: &str = "istio-system";

fn l(kv: &[(&str, &str)]) -> Labels {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[derive(Clone, Copy, PartialEq)]
enum M {
    Sidecar,
    Native,
    Ambient,
    Out,
}

struct Cluster(Snapshot);

impl Cluster {
    fn new() -> Self {
        Cluster(Snapshot::new(&MeshSettings::defaults(ROOT)))
    }

    fn ns(mut self, name: &str, labels: &[(&str, &str)]) -> Self {
        self.0.namespaces.push(NamespaceInfo::new(name, l(labels)));
        self
    }

    /// A Deployment `app` with `n` pods in mesh state `m`, labelled `app=<app>` plus `extra`.
    fn deploy(mut self, ns: &str, app: &str, n: usize, m: M, extra: &[(&str, &str)]) -> Self {
        for i in 0..n {
            self.0.pods.push(pod(ns, app, i, m, extra));
        }
        self
    }

    fn pod(mut self, p: PodInfo) -> Self {
        self.0.pods.push(p);
        self
    }

    fn policy(mut self, p: Policy) -> Self {
        self.0.policies.push(p);
        self
    }

    fn svc(mut self, ns: &str, name: &str, selector: &[(&str, &str)], ports: &[(u32, u32)]) -> Self {
        self.0.services.push(ServiceInfo {
            namespace: ns.into(),
            name: name.into(),
            selector: Some(l(selector)),
            ports: ports
                .iter()
                .map(|&(port, target)| ServicePortInfo {
                    port,
                    target_port: TargetPort::Number(target),
                })
                .collect(),
        });
        self
    }

    fn dr(mut self, ns: &str, name: &str, host: &str, tls: Vec<DrTlsSetting>) -> Self {
        self.0.destination_rules.push(DestinationRuleInfo {
            namespace: ns.into(),
            name: name.into(),
            created: Created(0),
            host: host.into(),
            export_to: vec![],
            workload_selector: Labels::new(),
            tls,
            unknowns: vec![],
        });
        self
    }

    fn analyze(&self) -> Analysis {
        analyze(&self.0)
    }
}

fn pod(ns: &str, app: &str, i: usize, m: M, extra: &[(&str, &str)]) -> PodInfo {
    let mut labels = l(&[("app", app), ("pod-template-hash", "5f7c9")]);
    labels.extend(l(extra));
    let mut p = PodInfo::new(ns, format!("{app}-5f7c9-{i}"), labels);
    p.owner = Some(Owner {
        kind: "ReplicaSet".into(),
        name: format!("{app}-5f7c9"),
    });
    match m {
        M::Sidecar => p.sidecar = SidecarKind::Classic,
        M::Native => p.sidecar = SidecarKind::Native,
        M::Ambient => p.ambient = AmbientRedirection::Enabled,
        M::Out => {}
    }
    p
}

fn pa(ns: &str, name: &str, t: i64, mode: PolicyMode) -> Policy {
    Policy::new(ns, name, Created(t), mode)
}

fn tls(port: Option<u32>, mode: TlsMode) -> DrTlsSetting {
    DrTlsSetting {
        subset: None,
        subset_labels: Labels::new(),
        port,
        mode,
    }
}

fn dep(ns: &str, name: &str) -> WorkloadRef {
    WorkloadRef {
        namespace: ns.into(),
        kind: "Deployment".into(),
        name: name.into(),
    }
}

fn codes(a: &Analysis) -> Vec<FindingCode> {
    a.findings.iter().map(|f| f.code).collect()
}

fn only(a: &Analysis, code: FindingCode) -> &Finding {
    let v: Vec<&Finding> = a.findings_with(code).collect();
    assert_eq!(v.len(), 1, "expected one {code}, got {:#?}", a.findings);
    v[0]
}

// ------------------------------------------------------------------------------------------
// Views
// ------------------------------------------------------------------------------------------

#[test]
fn namespace_and_workload_views() {
    let c = Cluster::new()
        .ns(ROOT, &[])
        .ns("shop", &[("istio-injection", "enabled")])
        .ns("empty", &[])
        .deploy("shop", "web", 2, M::Sidecar, &[])
        .deploy("shop", "db", 1, M::Native, &[])
        .policy(pa("shop", "default", 10, PolicyMode::Strict))
        .policy(
            pa("shop", "db-port", 11, PolicyMode::Unset)
                .with_selector(l(&[("app", "db")]))
                .with_port(5432, PolicyMode::Permissive),
        );
    let a = c.analyze();
    let shop = a.namespace("shop").unwrap();
    assert_eq!((shop.pods, shop.meshed_pods), (3, 3));
    assert_eq!(shop.mode.to_string(), "STRICT (namespace shop/default)");
    assert_eq!(shop.workload_overrides, vec![ObjectKey::new("shop", "db-port")]);
    assert_eq!(shop.strict_ready, StrictReady::Yes);
    assert_eq!(a.namespace("empty").unwrap().strict_ready.to_string(), "-");
    assert_eq!(a.namespace(ROOT).unwrap().mode, Resolved::istio_default());

    let web = a.workload(&dep("shop", "web")).unwrap();
    assert_eq!(
        (web.pods, web.mesh, web.mode_label()),
        (2, MeshSummary::Sidecar, "STRICT".to_string())
    );
    assert_eq!(web.policy_label(), "namespace shop/default");
    assert!(web.ports.is_empty() && !web.is_mixed());
    let db = a.workload(&dep("shop", "db")).unwrap();
    assert_eq!(db.mesh, MeshSummary::Sidecar);
    // Workload policy UNSET: inherits STRICT from the namespace; its port sets PERMISSIVE.
    assert_eq!(db.mode_label(), "STRICT");
    assert_eq!(db.ports[&5432].len(), 1);
    assert_eq!(db.ports[&5432][0].mode, Mode::Permissive);
    assert_eq!(db.ports[&5432][0].source.to_string(), "port shop/db-port");
    // Pods point at their workload.
    for p in &a.pods {
        assert_eq!(
            a.workloads[p.workload].workload.name,
            p.name.split('-').next().unwrap()
        );
    }
    // Workloads are sorted.
    let names: Vec<&str> = a.workloads.iter().map(|w| w.workload.name.as_str()).collect();
    assert_eq!(names, ["db", "web"]);
}

#[test]
fn mixed_workload_shows_every_mode_and_mesh_state() {
    // Same Deployment, one pod relabelled (canary=true) picked by a workload policy, and one
    // pod without sidecar.
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "api", 2, M::Sidecar, &[])
        .pod(pod("app", "api", 7, M::Out, &[("canary", "true")]))
        .policy(pa("app", "ns", 1, PolicyMode::Strict))
        .policy(pa("app", "canary", 2, PolicyMode::Permissive).with_selector(l(&[("canary", "true")])));
    let a = c.analyze();
    let w = a.workload(&dep("app", "api")).unwrap();
    assert_eq!(w.pods, 3);
    assert_eq!(w.mesh, MeshSummary::Mixed);
    assert_eq!(w.mode_label(), "STRICT,PERMISSIVE");
    assert_eq!(w.policy_label(), "namespace app/ns; workload app/canary");
    assert!(w.is_mixed());
}

#[test]
fn strict_ready_reasons() {
    let c = Cluster::new()
        .ns("a", &[])
        .ns("b", &[])
        .ns("c", &[])
        .deploy("a", "web", 1, M::Sidecar, &[])
        .deploy("a", "legacy", 2, M::Out, &[])
        .deploy("b", "web", 1, M::Sidecar, &[])
        .svc("b", "web", &[("app", "web")], &[(80, 8080)])
        .dr("b", "plain", "web", vec![tls(None, TlsMode::Disable)])
        .deploy("c", "web", 1, M::Out, &[])
        .svc("c", "web", &[("app", "web")], &[(80, 8080)])
        .dr("c", "plain", "web", vec![tls(None, TlsMode::Disable)]);
    let a = c.analyze();
    assert_eq!(
        a.namespace("a").unwrap().strict_ready.to_string(),
        "no (2 pods outside mesh)"
    );
    assert_eq!(
        a.namespace("b").unwrap().strict_ready.to_string(),
        "no (DestinationRule disables TLS)"
    );
    let StrictReady::No { reasons } = &a.namespace("c").unwrap().strict_ready else {
        panic!()
    };
    assert_eq!(
        reasons,
        &[
            "1 pod outside mesh".to_string(),
            "DestinationRule disables TLS".to_string()
        ]
    );
}

// ------------------------------------------------------------------------------------------
// Findings
// ------------------------------------------------------------------------------------------

#[test]
fn newer_wide_policies_are_ignored() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .policy(pa(ROOT, "mesh-new", 9, PolicyMode::Disable))
        .policy(pa(ROOT, "mesh-old", 1, PolicyMode::Strict))
        .policy(pa("app", "default", 5, PolicyMode::Disable))
        .policy(pa("app", "aaa-older", 4, PolicyMode::Unset));
    let a = c.analyze();
    let f = only(&a, FindingCode::IgnoredNamespacePolicy);
    assert_eq!(f.object.to_string(), "PeerAuthentication app/default");
    assert!(f.message.contains("aaa-older"), "{}", f.message);
    let f = only(&a, FindingCode::IgnoredMeshPolicy);
    assert_eq!(f.object.name, "mesh-new");
    // The honoured namespace policy is UNSET, so the mesh's STRICT applies.
    let w = a.workload(&dep("app", "web")).unwrap();
    assert_eq!(w.modes[0].to_string(), "STRICT (mesh istio-system/mesh-old)");
}

#[test]
fn policy_views_say_which_policies_count() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 2, M::Sidecar, &[("tier", "front")])
        .deploy("app", "db", 1, M::Sidecar, &[])
        .policy(pa(ROOT, "mesh", 0, PolicyMode::Strict))
        .policy(pa(ROOT, "rootsel", 0, PolicyMode::Strict).with_selector(l(&[("app", "db")])))
        .policy(pa("app", "old", 1, PolicyMode::Unset))
        .policy(pa("app", "default", 2, PolicyMode::Strict))
        .policy(pa("app", "w-old", 3, PolicyMode::Disable).with_selector(l(&[("app", "web")])))
        .policy(pa("app", "w-new", 4, PolicyMode::Strict).with_selector(l(&[("tier", "front")])))
        .policy(pa("app", "none", 5, PolicyMode::Strict).with_selector(l(&[("app", "nothing")])));
    let a = c.analyze();
    let rows: Vec<(String, PolicyClass, bool, usize, String)> = a
        .policies
        .iter()
        .map(|v| (v.policy.name.clone(), v.class, v.in_force, v.pods, v.note.clone()))
        .collect();
    let row = |n: &str| rows.iter().find(|r| r.0 == n).unwrap().clone();
    assert_eq!(
        row("mesh"),
        ("mesh".into(), PolicyClass::MeshWide, true, 3, String::new())
    );
    assert!(!row("rootsel").2);
    assert_eq!(row("old").1, PolicyClass::NamespaceWide);
    assert!(row("old").2 && row("old").3 == 3);
    assert_eq!(row("default").4, "ignored: old is older");
    assert_eq!((row("w-old").2, row("w-old").3), (true, 2));
    assert!(!row("w-new").2 && row("w-new").4.starts_with("shadowed"));
    assert_eq!(row("none").4, "selects no pod");
    // Istio's order: oldest first, same second by name.
    assert_eq!(rows[0].0, "mesh");
    assert_eq!(rows[1].0, "rootsel");
}

#[test]
fn root_selector_policy_is_reported_and_ignored() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .policy(pa(ROOT, "web-strict", 1, PolicyMode::Strict).with_selector(l(&[("app", "web")])));
    let a = c.analyze();
    only(&a, FindingCode::RootSelectorPolicyIgnored);
    assert_eq!(
        a.workload(&dep("app", "web")).unwrap().modes[0],
        Resolved::istio_default()
    );
    // It is not reported as matching no pod: it is not a workload policy at all.
    assert_eq!(a.findings_with(FindingCode::SelectorMatchesNoPod).count(), 0);
}

#[test]
fn several_workload_policies_oldest_wins() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 2, M::Sidecar, &[("tier", "front")])
        .policy(pa("app", "by-tier", 2, PolicyMode::Disable).with_selector(l(&[("tier", "front")])))
        .policy(pa("app", "by-app", 2, PolicyMode::Strict).with_selector(l(&[("app", "web")])));
    let a = c.analyze();
    let f = only(&a, FindingCode::MultipleWorkloadPolicies);
    assert_eq!(f.object, ObjectRef::new("Deployment", "app", "web"));
    assert!(
        f.message.contains("2 workload policies") && f.message.contains("oldest, by-app"),
        "{}",
        f.message
    );
    assert_eq!(a.workload(&dep("app", "web")).unwrap().mode_label(), "STRICT");
}

#[test]
fn selector_matching_no_pod() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .policy(pa("app", "typo", 1, PolicyMode::Strict).with_selector(l(&[("app", "wbe")])))
        // Every label must match: app=web alone is not enough.
        .policy(pa("app", "two", 1, PolicyMode::Strict).with_selector(l(&[("app", "web"), ("v", "2")])))
        // A namespace without loaded pods is not judged.
        .policy(pa("elsewhere", "x", 1, PolicyMode::Strict).with_selector(l(&[("app", "x")])));
    let a = c.analyze();
    let mut objs: Vec<String> = a
        .findings_with(FindingCode::SelectorMatchesNoPod)
        .map(|f| f.object.name.clone())
        .collect();
    objs.sort();
    assert_eq!(objs, ["two", "typo"]);
}

#[test]
fn port_level_settings_without_selector_and_invalid_keys() {
    let mut bad = pa("app", "wl", 2, PolicyMode::Strict).with_selector(l(&[("app", "web")]));
    bad.invalid_ports = vec!["0".into()];
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .policy(pa("app", "ns", 1, PolicyMode::Strict).with_port(8080, PolicyMode::Disable))
        .policy(bad);
    let a = c.analyze();
    assert!(
        only(&a, FindingCode::PortLevelWithoutSelector)
            .message
            .contains("8080")
    );
    assert!(only(&a, FindingCode::InvalidPortLevelKey).message.contains('0'));
    // The namespace policy's port entry does not apply.
    assert!(a.workload(&dep("app", "web")).unwrap().ports.is_empty());
}

#[test]
fn pods_outside_the_mesh_in_strict_or_disable_scopes() {
    let c = Cluster::new()
        .ns("strict", &[])
        .ns("perm", &[])
        .deploy("strict", "web", 1, M::Sidecar, &[])
        .deploy("strict", "legacy", 3, M::Out, &[])
        .deploy("perm", "legacy", 3, M::Out, &[])
        .policy(pa("strict", "default", 1, PolicyMode::Strict));
    let a = c.analyze();
    let f = only(&a, FindingCode::UnenforcedPods);
    assert_eq!(f.object, ObjectRef::namespace("strict"));
    assert!(f.message.starts_with("3 pods resolve to STRICT"), "{}", f.message);
    assert!(f.message.contains("Deployment legacy"));
}

#[test]
fn destination_rule_disabling_tls_toward_strict_workloads() {
    let c = Cluster::new()
        .ns("prod", &[])
        .ns("client", &[])
        .deploy("prod", "reviews", 2, M::Sidecar, &[])
        .deploy("prod", "ratings", 1, M::Sidecar, &[])
        .svc("prod", "reviews", &[("app", "reviews")], &[(9080, 8080)])
        .svc("prod", "ratings", &[("app", "ratings")], &[(9080, 8080)])
        .policy(pa("prod", "default", 1, PolicyMode::Strict))
        .policy(
            pa("prod", "ratings", 2, PolicyMode::Unset)
                .with_selector(l(&[("app", "ratings")]))
                .with_port(8080, PolicyMode::Permissive),
        )
        // FQDN from another namespace, rule level: breaks reviews.
        .dr(
            "client",
            "to-reviews",
            "reviews.prod.svc.cluster.local",
            vec![tls(None, TlsMode::Disable)],
        )
        // Port level toward ratings: the target port 8080 is PERMISSIVE there: plaintext only.
        .dr(
            "prod",
            "to-ratings",
            "ratings",
            vec![tls(Some(9080), TlsMode::Disable)],
        )
        // ISTIO_MUTUAL is fine.
        .dr("prod", "mutual", "reviews", vec![tls(None, TlsMode::IstioMutual)]);
    let a = c.analyze();
    let f = only(&a, FindingCode::DestinationRuleDisablesTls);
    assert_eq!(f.object.to_string(), "DestinationRule client/to-reviews");
    assert!(
        f.message.contains("prod/reviews") && f.message.contains("2 pods"),
        "{}",
        f.message
    );
    let f = only(&a, FindingCode::DestinationRulePlaintext);
    assert_eq!(f.object.name, "to-ratings");
    assert!(f.message.contains("on port 9080"), "{}", f.message);
}

#[test]
fn destination_rule_port_level_toward_a_strict_port_and_wildcards() {
    let c = Cluster::new()
        .ns("prod", &[])
        .deploy("prod", "api", 1, M::Ambient, &[])
        .svc("prod", "api", &[("app", "api")], &[(80, 8080), (90, 9090)])
        .policy(
            pa("prod", "api", 1, PolicyMode::Permissive)
                .with_selector(l(&[("app", "api")]))
                .with_port(9090, PolicyMode::Strict),
        )
        .dr(
            "prod",
            "p80",
            "*.prod.svc.cluster.local",
            vec![tls(Some(80), TlsMode::Disable)],
        )
        .dr(
            "prod",
            "p90",
            "*.prod.svc.cluster.local",
            vec![tls(Some(90), TlsMode::Disable)],
        );
    let a = c.analyze();
    assert_eq!(
        only(&a, FindingCode::DestinationRuleDisablesTls).object.name,
        "p90"
    );
    assert_eq!(only(&a, FindingCode::DestinationRulePlaintext).object.name, "p80");
}

#[test]
fn destination_rule_host_not_fully_qualified() {
    let c = Cluster::new()
        .ns("prod", &[])
        .deploy("prod", "reviews", 1, M::Sidecar, &[])
        .svc("prod", "reviews", &[("app", "reviews")], &[(80, 80)])
        .policy(pa("prod", "default", 1, PolicyMode::Strict))
        .dr(
            "other",
            "dotted",
            "reviews.prod",
            vec![tls(None, TlsMode::Disable)],
        );
    let a = c.analyze();
    let f = only(&a, FindingCode::DestinationRuleHostNotFqdn);
    assert!(
        f.message.contains("reviews.prod.svc.cluster.local"),
        "{}",
        f.message
    );
    // Istio does not apply it, so nothing breaks.
    assert_eq!(
        a.findings_with(FindingCode::DestinationRuleDisablesTls).count(),
        0
    );
}

#[test]
fn workload_level_disable_breaks_mtls_clients() {
    let c = Cluster::new()
        .ns("app", &[])
        .ns("off", &[])
        .ns("dr", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .deploy("app", "metrics", 1, M::Sidecar, &[])
        .policy(pa("app", "web-off", 1, PolicyMode::Disable).with_selector(l(&[("app", "web")])))
        .policy(
            pa("app", "metrics-port", 1, PolicyMode::Unset)
                .with_selector(l(&[("app", "metrics")]))
                .with_port(9100, PolicyMode::Disable),
        )
        // Namespace-level DISABLE: clients see it and send plaintext.
        .deploy("off", "web", 1, M::Sidecar, &[])
        .policy(pa("off", "default", 1, PolicyMode::Disable))
        // Workload DISABLE, but a DestinationRule tells clients to send plaintext.
        .deploy("dr", "web", 1, M::Sidecar, &[])
        .svc("dr", "web", &[("app", "web")], &[(80, 80)])
        .policy(pa("dr", "web-off", 1, PolicyMode::Disable).with_selector(l(&[("app", "web")])))
        .dr("dr", "web", "web", vec![tls(None, TlsMode::Disable)]);
    let a = c.analyze();
    let mut objs: Vec<String> = a
        .findings_with(FindingCode::WorkloadDisableWithMtlsClients)
        .map(|f| f.object.to_string())
        .collect();
    objs.sort();
    assert_eq!(objs, ["Deployment app/metrics", "Deployment app/web"]);
    let m = a
        .findings_with(FindingCode::WorkloadDisableWithMtlsClients)
        .find(|f| f.object.name == "metrics")
        .unwrap();
    assert!(m.message.contains("port 9100"), "{}", m.message);
}

#[test]
fn ambient_disable_is_unsupported() {
    let c = Cluster::new()
        .ns("amb", &[("istio.io/dataplane-mode", "ambient")])
        .deploy("amb", "web", 2, M::Ambient, &[])
        .policy(pa("amb", "default", 1, PolicyMode::Disable));
    let a = c.analyze();
    assert!(
        only(&a, FindingCode::AmbientDisableUnsupported)
            .message
            .starts_with("2 ambient pods")
    );
    assert_eq!(a.workload(&dep("amb", "web")).unwrap().mesh, MeshSummary::Ambient);
    // Not a sidecar problem.
    assert_eq!(
        a.findings_with(FindingCode::WorkloadDisableWithMtlsClients)
            .count(),
        0
    );
}

#[test]
fn intent_without_membership() {
    let mut pending = pod("amb", "late", 0, M::Out, &[]);
    pending.ambient = AmbientRedirection::Pending;
    let c = Cluster::new()
        .ns("inj", &[("istio.io/rev", "canary")])
        .ns("amb", &[("istio.io/dataplane-mode", "ambient")])
        .deploy("inj", "old", 2, M::Out, &[])
        .deploy("inj", "new", 1, M::Sidecar, &[])
        .deploy(
            "inj",
            "optout",
            1,
            M::Out,
            &[("sidecar.istio.io/inject", "false")],
        )
        .pod(pending)
        .deploy("amb", "none", 1, M::Out, &[("istio.io/dataplane-mode", "none")]);
    let a = c.analyze();
    let f = only(&a, FindingCode::SidecarMissing);
    assert_eq!(f.object.name, "old");
    assert!(
        f.message.starts_with("2 of 2 pods") && f.message.contains("istio.io/rev=canary"),
        "{}",
        f.message
    );
    assert_eq!(a.workload(&dep("inj", "old")).unwrap().restart_needed, 2);
    let f = only(&a, FindingCode::AmbientNotCaptured);
    assert_eq!(f.object.name, "late");
    assert!(f.message.contains("1 pending"), "{}", f.message);
}

#[test]
fn unknown_and_malformed_objects() {
    let mut future = pa("app", "future", 1, PolicyMode::Unknown("QUANTUM".into()));
    future.unknowns = vec![
        "unknown field spec.newThing".into(),
        "unknown value spec.mtls.mode: QUANTUM".into(),
    ];
    let problem = PeerAuthentication::from_value(serde_json::json!({
        "metadata": {"name": "broken", "namespace": "app"}, "spec": {"mtls": "STRICT"}
    }))
    .unwrap_err();
    let mut c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .policy(pa(ROOT, "mesh", 0, PolicyMode::Strict))
        .policy(future);
    c.0.problems.push(problem);
    let a = c.analyze();
    assert!(only(&a, FindingCode::UnknownMode).message.contains("QUANTUM"));
    assert!(
        only(&a, FindingCode::UnknownField)
            .message
            .contains("spec.newThing")
    );
    let f = only(&a, FindingCode::MalformedPolicy);
    assert_eq!(f.object.to_string(), "PeerAuthentication app/broken");
    assert_eq!(f.severity, Severity::Error);
    // The unknown mode inherits the mesh's STRICT.
    assert_eq!(
        a.workload(&dep("app", "web")).unwrap().modes[0].source.level,
        Level::Mesh
    );
}

#[test]
fn excluded_ports_bypass_the_sidecar() {
    let mut p = pod("app", "web", 0, M::Sidecar, &[]);
    p.inbound = InboundCapture::from_annotations(None, Some("9000"));
    let c = Cluster::new().ns("app", &[]).pod(p).policy(
        pa("app", "web", 1, PolicyMode::Strict)
            .with_selector(l(&[("app", "web")]))
            .with_port(9000, PolicyMode::Disable),
    );
    let a = c.analyze();
    let w = a.workload(&dep("app", "web")).unwrap();
    assert_eq!(w.bypassed_ports.iter().copied().collect::<Vec<_>>(), [9000]);
    assert!(!a.pods[0].enforced_on(9000) && a.pods[0].enforced_on(8080));
    assert!(
        only(&a, FindingCode::PortLevelOnBypassedPort)
            .message
            .contains("9000")
    );
    let v = require(&a, Mode::Strict);
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].port, v[0].actual), (Some(9000), Actual::Bypassed));
}

#[test]
fn auto_mtls_disabled_in_mesh_config() {
    let mut c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 2, M::Sidecar, &[])
        .policy(pa("app", "default", 1, PolicyMode::Strict));
    assert_eq!(
        c.analyze().findings_with(FindingCode::AutoMtlsDisabled).count(),
        0
    );
    c.0.auto_mtls_disabled = true;
    assert!(
        only(&c.analyze(), FindingCode::AutoMtlsDisabled)
            .message
            .contains("2 STRICT pods")
    );
}

#[test]
fn root_namespace_from_the_mesh_config() {
    let yaml = "rootNamespace: mesh-root\n";
    let mesh = MeshSettings::from_mesh_yaml(ROOT, yaml).unwrap();
    let mut s = Snapshot::new(&mesh);
    s.namespaces.push(NamespaceInfo::new("app", Labels::new()));
    s.pods.push(pod("app", "web", 0, M::Sidecar, &[]));
    s.pods.push(pod(ROOT, "istiod", 0, M::Out, &[]));
    // In istio-system, no longer the root: an ordinary namespace-wide policy.
    s.policies.push(pa(ROOT, "default", 1, PolicyMode::Disable));
    s.policies.push(pa("mesh-root", "default", 2, PolicyMode::Strict));
    let a = analyze(&s);
    assert_eq!(a.root_namespace, "mesh-root");
    assert_eq!(
        a.workload(&dep("app", "web")).unwrap().modes[0].to_string(),
        "STRICT (mesh mesh-root/default)"
    );
    let istiod = a.workload(&dep(ROOT, "istiod")).unwrap();
    assert_eq!(
        istiod.modes[0].to_string(),
        "DISABLE (namespace istio-system/default)"
    );
}

#[test]
fn destination_rule_subsets_unknowns_and_malformed() {
    let mut c = Cluster::new()
        .ns("prod", &[])
        .deploy("prod", "api", 1, M::Sidecar, &[("version", "v1")])
        .pod(pod("prod", "api", 9, M::Sidecar, &[("version", "v2")]))
        .svc("prod", "api", &[("app", "api")], &[(80, 8080)])
        .policy(pa("prod", "v2-strict", 1, PolicyMode::Strict).with_selector(l(&[("version", "v2")])));
    let subset = |name: &str, v: &str| DrTlsSetting {
        subset: Some(name.into()),
        subset_labels: l(&[("version", v)]),
        port: None,
        mode: TlsMode::Disable,
    };
    c = c.dr("prod", "v1-plain", "api", vec![subset("v1", "v1")]);
    let ok = c.analyze();
    // Only v1 pods are targeted and they are PERMISSIVE.
    assert_eq!(
        ok.findings_with(FindingCode::DestinationRuleDisablesTls).count(),
        0
    );
    assert!(
        only(&ok, FindingCode::DestinationRulePlaintext)
            .message
            .contains("for subset v1")
    );
    c = c.dr("prod", "v2-plain", "api", vec![subset("v2", "v2")]);
    c.0.destination_rules[1].unknowns = vec!["unknown field spec.futureField".into()];
    c.0.problems.push(
        crate::resources::DestinationRule::from_value(serde_json::json!({
            "metadata": {"name": "bad", "namespace": "prod"}, "spec": {"subsets": "x"}
        }))
        .unwrap_err(),
    );
    let a = c.analyze();
    assert_eq!(
        only(&a, FindingCode::DestinationRuleDisablesTls).object.name,
        "v2-plain"
    );
    assert_eq!(
        only(&a, FindingCode::UnknownField).object.to_string(),
        "DestinationRule prod/v2-plain"
    );
    assert!(
        only(&a, FindingCode::MalformedDestinationRule)
            .message
            .contains("spec.subsets")
    );
}

#[test]
fn findings_are_sorted_by_severity() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .deploy("app", "legacy", 1, M::Out, &[])
        .policy(pa("app", "a", 1, PolicyMode::Strict))
        .policy(pa("app", "b", 2, PolicyMode::Strict))
        .policy(pa("app", "off", 3, PolicyMode::Disable).with_selector(l(&[("app", "web")])));
    let a = c.analyze();
    let sev: Vec<Severity> = a.findings.iter().map(|f| f.severity).collect();
    let mut sorted = sev.clone();
    sorted.sort();
    assert_eq!(sev, sorted);
    assert!(codes(&a).contains(&FindingCode::WorkloadDisableWithMtlsClients));
    assert_eq!(a.findings[0].severity, Severity::Error);
}

// ------------------------------------------------------------------------------------------
// require
// ------------------------------------------------------------------------------------------

#[test]
fn require_modes() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "strict", 2, M::Sidecar, &[])
        .deploy("app", "perm", 1, M::Sidecar, &[])
        .deploy("app", "off", 1, M::Sidecar, &[])
        .deploy("app", "amboff", 1, M::Ambient, &[])
        .deploy("app", "out", 1, M::Out, &[])
        .policy(pa("app", "s", 1, PolicyMode::Strict).with_selector(l(&[("app", "strict")])))
        .policy(pa("app", "d", 1, PolicyMode::Disable).with_selector(l(&[("app", "off")])))
        .policy(pa("app", "ad", 1, PolicyMode::Disable).with_selector(l(&[("app", "amboff")])));
    let a = c.analyze();
    let failing = |m: Mode| {
        let mut v: Vec<String> = require(&a, m)
            .iter()
            .map(|v| format!("{}:{}", v.workload.name, v.actual))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        failing(Mode::Strict),
        [
            "amboff:DISABLE",
            "off:DISABLE",
            "out:outside mesh",
            "perm:PERMISSIVE"
        ]
    );
    assert_eq!(failing(Mode::Permissive), ["off:DISABLE", "out:outside mesh"]);
    assert_eq!(failing(Mode::Disable), ["strict:STRICT"]);
    let strict = require(&a, Mode::Disable);
    assert_eq!(strict[0].pods, 2);
    assert_eq!(strict[0].source, "workload app/s");
}

#[test]
fn satisfies_table() {
    use Actual::*;
    for (actual, m, req, ok) in [
        (Enforced(Mode::Strict), Membership::Sidecar, Mode::Strict, true),
        (
            Enforced(Mode::Permissive),
            Membership::Sidecar,
            Mode::Strict,
            false,
        ),
        (OutsideMesh, Membership::None, Mode::Strict, false),
        (
            Enforced(Mode::Disable),
            Membership::Sidecar,
            Mode::Permissive,
            false,
        ),
        (
            Enforced(Mode::Disable),
            Membership::Ambient,
            Mode::Permissive,
            true,
        ),
        (Bypassed, Membership::Sidecar, Mode::Permissive, false),
        (Enforced(Mode::Strict), Membership::Sidecar, Mode::Disable, false),
        (Bypassed, Membership::Sidecar, Mode::Disable, true),
        (OutsideMesh, Membership::None, Mode::Disable, true),
    ] {
        assert_eq!(satisfies(actual, m, req), ok, "{actual} {m} require {req}");
    }
}

// ------------------------------------------------------------------------------------------
// what-if
// ------------------------------------------------------------------------------------------

fn legacy_cluster() -> Cluster {
    Cluster::new()
        .ns(ROOT, &[])
        .ns("shop", &[])
        .deploy("shop", "web", 2, M::Sidecar, &[])
        .deploy("shop", "batch", 1, M::Out, &[])
        // An old namespace-wide policy with a non-default name.
        .policy(pa("shop", "legacy-mtls", 1, PolicyMode::Permissive))
}

#[test]
fn scope_helper_finds_the_honoured_policy() {
    let c = legacy_cluster()
        .policy(pa("shop", "default", 5, PolicyMode::Strict))
        .policy(pa(ROOT, "mesh", 1, PolicyMode::Unset))
        .policy(pa("shop", "w1", 3, PolicyMode::Strict).with_selector(l(&[("app", "web")])))
        .policy(pa("shop", "w0", 2, PolicyMode::Strict).with_selector(l(&[("app", "web")])))
        .policy(pa("shop", "other", 1, PolicyMode::Strict).with_selector(l(&[("app", "batch")])));
    let s = &c.0;
    let ns = policies_in_scope(s, &Scope::Namespace("shop".into()));
    assert_eq!(ns.honoured.unwrap().name, "legacy-mtls");
    assert_eq!(
        ns.ignored.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["default"]
    );
    assert_eq!(policies_in_scope(s, &Scope::Mesh).honoured.unwrap().name, "mesh");
    assert_eq!(
        policies_in_scope(s, &Scope::Namespace(ROOT.into()))
            .honoured
            .unwrap()
            .name,
        "mesh"
    );
    let w = policies_in_scope(
        s,
        &Scope::Workload {
            namespace: "shop".into(),
            selector: l(&[("app", "web")]),
        },
    );
    assert_eq!((w.honoured.unwrap().name.as_str(), w.ignored.len()), ("w0", 1));
    assert!(
        policies_in_scope(s, &Scope::Namespace("none".into()))
            .honoured
            .is_none()
    );
}

#[test]
fn creating_default_next_to_an_older_policy_changes_nothing() {
    let c = legacy_cluster();
    let naive = PolicyChange::Upsert(pa("shop", "default", 100, PolicyMode::Strict));
    let e = what_if(&c.0, &[naive]);
    assert!(e.changes.is_empty() && e.namespaces.is_empty(), "{e:#?}");
    // It only adds a finding: the new policy is ignored.
    assert_eq!(e.findings_created.len(), 1);
    assert_eq!(e.findings_created[0].code, FindingCode::IgnoredNamespacePolicy);
}

#[test]
fn enabling_strict_on_the_honoured_policy() {
    let c = legacy_cluster();
    let change = set_mode_change(
        &c.0,
        &Scope::Namespace("shop".into()),
        Mode::Strict,
        "default",
        Created(100),
    );
    let PolicyChange::Upsert(p) = &change else {
        panic!()
    };
    assert_eq!((p.name.as_str(), p.created), ("legacy-mtls", Created(1)));
    let e = what_if(&c.0, &[change]);
    assert_eq!(e.namespaces.len(), 1);
    assert_eq!(
        (e.namespaces[0].from.mode, e.namespaces[0].to.mode),
        (Mode::Permissive, Mode::Strict)
    );
    let changed: Vec<(&str, Mode, Mode, usize)> = e
        .changes
        .iter()
        .map(|c| {
            (
                c.workload.name.as_str(),
                c.from[0].mode,
                c.to[0].mode,
                c.meshed_pods,
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("batch", Mode::Permissive, Mode::Strict, 0),
            ("web", Mode::Permissive, Mode::Strict, 2)
        ]
    );
    // Batch is outside the mesh: a new finding says STRICT is not enforced there.
    assert_eq!(
        e.findings_created.iter().map(|f| f.code).collect::<Vec<_>>(),
        [FindingCode::UnenforcedPods]
    );
    assert!(e.findings_resolved.is_empty());
}

#[test]
fn new_policy_when_the_scope_has_none_and_delete_resolves_findings() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .policy(pa("app", "off", 1, PolicyMode::Disable).with_selector(l(&[("app", "web")])))
        .policy(
            pa("app", "port", 1, PolicyMode::Unset)
                .with_selector(l(&[("app", "web")]))
                .with_port(80, PolicyMode::Strict),
        );
    let scope = Scope::Namespace("app".into());
    let PolicyChange::Upsert(p) = set_mode_change(&c.0, &scope, Mode::Strict, "default", Created(50)) else {
        panic!()
    };
    assert_eq!(
        (p.name.as_str(), p.created, p.has_selector()),
        ("default", Created(50), false)
    );
    // Deleting the DISABLE workload policy: the other one wins, its port 80 appears.
    let e = what_if(&c.0, &[PolicyChange::Delete(ObjectKey::new("app", "off"))]);
    let summary: Vec<(Option<u32>, Mode, Mode)> = e
        .changes
        .iter()
        .map(|c| (c.port, c.from[0].mode, c.to[0].mode))
        .collect();
    assert_eq!(
        summary,
        [
            (None, Mode::Disable, Mode::Permissive),
            (Some(80), Mode::Disable, Mode::Strict)
        ]
    );
    let resolved: Vec<FindingCode> = e.findings_resolved.iter().map(|f| f.code).collect();
    assert!(
        resolved.contains(&FindingCode::WorkloadDisableWithMtlsClients),
        "{resolved:?}"
    );
    assert!(
        resolved.contains(&FindingCode::MultipleWorkloadPolicies),
        "{resolved:?}"
    );
}

#[test]
fn provenance_only_changes_are_separate() {
    let c = Cluster::new()
        .ns("app", &[])
        .deploy("app", "web", 1, M::Sidecar, &[])
        .policy(pa("app", "default", 1, PolicyMode::Strict));
    let e = what_if(
        &c.0,
        &[PolicyChange::Upsert(
            pa("app", "web", 2, PolicyMode::Strict).with_selector(l(&[("app", "web")])),
        )],
    );
    assert!(e.changes.is_empty());
    assert_eq!(e.provenance_changes.len(), 1);
    assert_eq!(
        e.provenance_changes[0].to[0].source.to_string(),
        "workload app/web"
    );
    assert!(!e.is_empty());
    assert!(what_if(&c.0, &[]).is_empty());
}

// ------------------------------------------------------------------------------------------
// Scale
// ------------------------------------------------------------------------------------------

/// 2,000 namespaces, 50,000 pods, 300 policies: aggregates derived from the generator's
/// parameters.
#[test]
fn large_synthetic_cluster() {
    const NAMESPACES: usize = 2000;
    const PODS_PER_NS: usize = 25;
    let mut s = Snapshot::new(&MeshSettings::defaults(ROOT));
    s.policies.push(pa(ROOT, "default", 0, PolicyMode::Strict));
    let mut expect_disable_pods = 0;
    let mut expect_outside = 0;
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n}");
        s.namespaces.push(NamespaceInfo::new(&ns, Labels::new()));
        // Every 10th namespace is PERMISSIVE at namespace level (200 policies).
        if n % 10 == 0 {
            s.policies.push(pa(&ns, "default", 1, PolicyMode::Permissive));
        }
        // Every 20th has a workload DISABLE on app-0 (100 policies).
        if n % 20 == 0 {
            s.policies
                .push(pa(&ns, "app0-off", 2, PolicyMode::Disable).with_selector(l(&[("app", "app-0")])));
        }
        for i in 0..PODS_PER_NS {
            let app = format!("app-{}", i % 5);
            let m = if i == 0 && n % 7 == 0 { M::Out } else { M::Sidecar };
            let mut p = pod(&ns, &app, i, m, &[]);
            p.name = format!("{app}-5f7c9-{i}");
            if m == M::Out {
                expect_outside += 1;
            }
            if n % 20 == 0 && i % 5 == 0 {
                expect_disable_pods += 1;
            }
            s.pods.push(p);
        }
    }
    assert_eq!(s.pods.len(), 50_000);
    assert_eq!(s.policies.len(), 301);
    let a = analyze(&s);
    assert_eq!(a.pods.len(), 50_000);
    assert_eq!(a.namespaces.len(), NAMESPACES);
    assert_eq!(a.workloads.len(), NAMESPACES * 5);
    let disable = a
        .pods
        .iter()
        .filter(|p| p.policy.mode.mode == Mode::Disable)
        .count();
    assert_eq!(disable, expect_disable_pods);
    let outside: usize = a.namespaces.iter().map(|n| n.pods - n.meshed_pods).sum();
    assert_eq!(outside, expect_outside);
    let strict_ns = a
        .namespaces
        .iter()
        .filter(|n| n.mode.mode == Mode::Strict)
        .count();
    assert_eq!(strict_ns, NAMESPACES - NAMESPACES / 10);
    // Unenforced: namespaces with an outside pod that resolves STRICT or DISABLE (n%7==0 and
    // not PERMISSIVE at namespace level, or DISABLE by the workload policy).
    let expect_unenforced = (0..NAMESPACES)
        .filter(|n| n % 7 == 0 && (n % 10 != 0 || n % 20 == 0))
        .count();
    assert_eq!(
        a.findings_with(FindingCode::UnenforcedPods).count(),
        expect_unenforced
    );
    // Each workload DISABLE in a non-DISABLE namespace breaks mTLS clients.
    assert_eq!(
        a.findings_with(FindingCode::WorkloadDisableWithMtlsClients)
            .count(),
        NAMESPACES / 20
    );
}
