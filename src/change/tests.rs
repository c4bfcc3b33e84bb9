//! Unit tests of the change pipeline's pure stages.

use std::collections::BTreeMap;

use serde_json::json;

use crate::engine::PolicyChange;
use crate::error::Error;
use crate::model::{Created, Labels, Mode, PodInfo, Policy, PolicyMode, Snapshot};

use super::*;
use crate::engine::what_if;
use crate::model::{DestinationRuleInfo, DrTlsSetting, MeshSettings, Owner, SidecarKind, TlsMode};

fn target() -> RequestInput {
    RequestInput {
        mode: PolicyMode::Strict,
        namespace_arg: None,
        namespace_flag: None,
        mesh: false,
        selector: None,
        name: None,
        ports: vec![],
        inherit: false,
        root_namespace: None,
    }
}

fn labels(kv: &[(&str, &str)]) -> Labels {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn selectors_are_exact_labels_only() {
    assert_eq!(
        parse_selector("app=web, tier==db").unwrap(),
        labels(&[("app", "web"), ("tier", "db")])
    );
    assert_eq!(
        parse_selector("app.kubernetes.io/name=web").unwrap(),
        labels(&[("app.kubernetes.io/name", "web")])
    );
    assert_eq!(parse_selector("k=").unwrap(), labels(&[("k", "")]));
    for bad in [
        "",
        "app",
        "app!=web",
        "!app",
        "app in (a,b)",
        "app=*",
        "app=we*b",
        "app=web,app=db",
        "-x=1",
        "app=has space",
        "a/b/c=1",
    ] {
        let e = parse_selector(bad).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
        assert!(e.to_string().starts_with("invalid selector"), "{e}");
    }
}

#[test]
fn ports_need_a_number_in_range_and_a_mode() {
    assert_eq!(
        parse_port("8080=permissive").unwrap(),
        (8080, PolicyMode::Permissive)
    );
    assert_eq!(parse_port("1=UNSET").unwrap(), (1, PolicyMode::Unset));
    assert_eq!(parse_port("65535=STRICT").unwrap(), (65535, PolicyMode::Strict));
    for bad in [
        "0=STRICT",
        "65536=STRICT",
        "http=STRICT",
        "8080",
        "8080=MAYBE",
        "-1=STRICT",
    ] {
        assert!(matches!(parse_port(bad), Err(Error::Usage(_))), "{bad}");
    }
}

#[test]
fn names_follow_kubernetes_rules() {
    assert!(check_namespace("istioinaction").is_ok());
    for bad in ["", "Bad", "a_b", "-a", "a-", &"x".repeat(64), "a.b"] {
        assert!(check_namespace(bad).is_err(), "{bad}");
    }
    assert!(check_object_name("web-api.v1").is_ok());
    assert!(check_object_name("Web").is_err());
    assert!(check_object_name("a..b").is_err());
}

#[test]
fn requests_are_validated_before_any_request() {
    let mut t = target();
    t.namespace_arg = Some("shop".into());
    let r = request(&t).unwrap();
    assert_eq!(r.target, Target::Namespace(Some("shop".into())));
    assert_eq!(r.mode, PolicyMode::Strict);
    assert!(r.toward_strict());

    let mut t = target();
    t.ports = vec!["8080=DISABLE".into()];
    let e = request(&t).unwrap_err();
    assert!(e.to_string().contains("--port needs --selector"), "{e}");

    let mut t = target();
    t.selector = Some("app=web".into());
    t.ports = vec!["8080=DISABLE".into(), "8080=STRICT".into()];
    assert!(request(&t).unwrap_err().to_string().contains("twice"));

    let mut t = target();
    t.mesh = true;
    t.selector = Some("app=web".into());
    assert!(request(&t).unwrap_err().to_string().contains("root namespace"));

    let mut t = target();
    t.namespace_arg = Some("a".into());
    t.namespace_flag = Some("b".into());
    assert!(request(&t).unwrap_err().to_string().contains("disagree"));

    let mut t = target();
    t.selector = Some("app=web".into());
    t.ports = vec!["9090=UNSET".into()];
    t.mode = PolicyMode::Unset;
    let r = request(&t).unwrap();
    assert_eq!(r.mode, PolicyMode::Unset);
    assert_eq!(r.wanted(), None);
    assert_eq!(r.ports[&9090], PolicyMode::Unset);
    assert!(!r.toward_strict());
}

fn snapshot() -> Snapshot {
    let mut s = Snapshot::new(&MeshSettings::defaults("istio-system"));
    s.namespaces
        .push(crate::model::NamespaceInfo::new("shop", Labels::new()));
    s
}

fn pod(ns: &str, name: &str, app: &str, meshed: bool) -> PodInfo {
    let mut p = PodInfo::new(
        ns,
        format!("{name}-abc-1"),
        labels(&[("app", app), ("pod-template-hash", "abc")]),
    );
    p.owner = Some(Owner {
        kind: "ReplicaSet".into(),
        name: format!("{name}-abc"),
    });
    if meshed {
        p.sidecar = SidecarKind::Classic;
    }
    p
}

fn ns_request(ns: &str, mode: PolicyMode) -> Request {
    Request {
        target: Target::Namespace(Some(ns.into())),
        mode,
        ports: BTreeMap::new(),
        name: None,
        inherit: false,
        root_namespace: None,
    }
}

#[test]
fn the_oldest_policy_of_the_scope_is_changed_whatever_its_name() {
    let mut s = snapshot();
    s.policies.push(Policy::new(
        "shop",
        "legacy",
        Created(100),
        PolicyMode::Permissive,
    ));
    s.policies
        .push(Policy::new("shop", "default", Created(200), PolicyMode::Disable));
    let c = choose(&s, &ns_request("shop", PolicyMode::Strict), "shop").unwrap();
    assert_eq!((c.name.as_str(), c.create), ("legacy", false));
    assert!(
        c.notes[0].contains("Istio ignores the newer one (default)"),
        "{:?}",
        c.notes
    );
    // No policy: a new `default`.
    let c = choose(&snapshot(), &ns_request("shop", PolicyMode::Strict), "shop").unwrap();
    assert_eq!((c.name.as_str(), c.create), ("default", true));
}

#[test]
fn a_name_taken_by_another_scope_is_refused() {
    let mut s = snapshot();
    s.policies.push(
        Policy::new("shop", "default", Created(1), PolicyMode::Strict)
            .with_selector(labels(&[("app", "web")])),
    );
    let e = choose(&s, &ns_request("shop", PolicyMode::Strict), "shop").unwrap_err();
    assert!(
        e.to_string().contains("already exists with the selector app=web"),
        "{e}"
    );
}

#[test]
fn selector_policies_need_a_name_unless_one_is_derived() {
    let mut req = ns_request("shop", PolicyMode::Strict);
    req.target = Target::Selector {
        namespace: Some("shop".into()),
        selector: labels(&[("app", "web")]),
    };
    let c = choose(&snapshot(), &req, "shop").unwrap();
    assert_eq!(c.name, "web");
    assert!(c.notes[0].contains("after its selector"));
    req.target = Target::Selector {
        namespace: Some("shop".into()),
        selector: labels(&[("tier", "web"), ("v", "1")]),
    };
    assert!(
        choose(&snapshot(), &req, "shop")
            .unwrap_err()
            .to_string()
            .contains("give --name")
    );
    req.name = Some("tier-web".into());
    assert_eq!(choose(&snapshot(), &req, "shop").unwrap().name, "tier-web");
}

#[test]
fn apply_body_owns_only_what_it_sets_and_keeps_what_it_owned() {
    let chosen = Chosen {
        namespace: "shop".into(),
        name: "web".into(),
        honoured: None,
        create: true,
        notes: vec![],
    };
    let mut req = ns_request("shop", PolicyMode::Strict);
    req.target = Target::Selector {
        namespace: Some("shop".into()),
        selector: labels(&[("app", "web")]),
    };
    req.ports.insert(8080, PolicyMode::Permissive);
    let body = apply_body("security.istio.io/v1", &chosen, &req, None, "kubectl-mtls");
    assert_eq!(
        body,
        json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
               "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"mtls": {"mode": "STRICT"}, "selector": {"matchLabels": {"app": "web"}},
                        "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}}})
    );
    // Later run without --port on the existing policy: the port and selector this manager
    // owns are sent again (SSA would otherwise remove them); others' fields are not.
    let live = json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "a"},
          "managedFields": [
            {"manager": "kubectl-mtls", "operation": "Apply", "fieldsV1": {"f:spec": {
                "f:mtls": {"f:mode": {}}, "f:selector": {"f:matchLabels": {"f:app": {}}},
                "f:portLevelMtls": {"f:8080": {"f:mode": {}}}}}},
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}},
                "f:spec": {"f:portLevelMtls": {"f:9090": {".": {}, "f:mode": {}}}}}}
          ]},
        "spec": {"mtls": {"mode": "STRICT"}, "selector": {"matchLabels": {"app": "web"}},
                 "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}, "9090": {"mode": "DISABLE"}}}
    });
    let existing = Chosen {
        create: false,
        ..chosen
    };
    let req2 = Request {
        ports: BTreeMap::new(),
        mode: PolicyMode::Disable,
        ..req
    };
    let body = apply_body(
        "security.istio.io/v1",
        &existing,
        &req2,
        Some(&live),
        "kubectl-mtls",
    );
    assert_eq!(
        body["spec"],
        json!({"mtls": {"mode": "DISABLE"}, "selector": {"matchLabels": {"app": "web"}},
               "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}})
    );
    assert!(body["metadata"].get("labels").is_none());
    let merged = merge(Some(&live), &body);
    assert_eq!(merged["spec"]["portLevelMtls"]["9090"]["mode"], "DISABLE");
    assert_eq!(merged["spec"]["mtls"]["mode"], "DISABLE");
    assert_eq!(merged["metadata"]["labels"]["team"], "a");
    assert_eq!(Outcome::of(Some(&live), &merged), Outcome::Configured);
    assert_eq!(Outcome::of(Some(&live), &live), Outcome::Unchanged);
    assert_eq!(Outcome::of(None, &live), Outcome::Created);
    let c = clean(&live);
    assert!(c["metadata"].get("managedFields").is_none());
    // Another manager owning mtls.mode with another value: a predicted conflict.
    let gitops = json!({"metadata": {"managedFields": [{"manager": "argocd-controller", "operation": "Apply",
        "fieldsV1": {"f:spec": {"f:mtls": {"f:mode": {}}}}}]}, "spec": {"mtls": {"mode": "PERMISSIVE"}}});
    assert_eq!(
        predicted_conflicts(&gitops, &body, "kubectl-mtls"),
        vec![("argocd-controller".to_string(), ".spec.mtls.mode".to_string())]
    );
    let same = json!({"spec": {"mtls": {"mode": "DISABLE"}}});
    assert!(predicted_conflicts(&merge(Some(&gitops), &same), &body, "kubectl-mtls").is_empty());
}

#[test]
fn an_object_without_managed_fields_predicts_before_first_apply() {
    let body = json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "shop"}, "spec": {"mtls": {"mode": "STRICT"}}});
    let live = json!({"metadata": {"name": "default", "namespace": "shop", "uid": "u"},
        "spec": {"mtls": {"mode": "PERMISSIVE"}}});
    assert_eq!(
        predicted_conflicts(&live, &body, "kubectl-mtls"),
        vec![("before-first-apply".to_string(), ".spec.mtls.mode".to_string())]
    );
    // The same value is shared, not a conflict; an empty managedFields list is no managers too.
    let mut same = live.clone();
    same["spec"]["mtls"]["mode"] = json!("STRICT");
    same["metadata"]["managedFields"] = json!([]);
    assert!(predicted_conflicts(&same, &body, "kubectl-mtls").is_empty());
    // A field the live object does not have is nobody's.
    let bare = json!({"metadata": {"name": "default"}, "spec": {}});
    assert!(predicted_conflicts(&bare, &body, "kubectl-mtls").is_empty());
    let e = conflict_error_for(
        &["before-first-apply".to_string()],
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using security.istio.io/v1: .spec.mtls.mode",
        "peerauthentication.security.istio.io/default",
    )
    .to_string();
    assert!(
        e.contains("stored without managedFields") && e.contains("--force-conflicts"),
        "{e}"
    );
}

#[test]
fn conflict_managers_come_from_message_and_causes() {
    let mut s = kube::core::Status::failure(
        "Apply failed with 2 conflicts: conflicts with \"argocd-controller\" using security.istio.io/v1:\n- .spec.mtls.mode\nconflict with \"kubectl-client-side-apply\": .spec.selector",
        "Conflict",
    );
    s.code = 409;
    assert_eq!(
        conflict_managers(&s),
        ["argocd-controller", "kubectl-client-side-apply"]
    );
    let e = conflict_error(&s, "peerauthentication.security.istio.io/default");
    let m = e.to_string();
    assert!(
        m.contains("managed by \"argocd-controller\", \"kubectl-client-side-apply\""),
        "{m}"
    );
    assert!(m.contains("--force-conflicts"), "{m}");
}

#[test]
fn review_refuses_a_destination_rule_sending_plaintext_to_new_strict_workloads() {
    let mut s = snapshot();
    s.pods.push(pod("shop", "web", "web", true));
    s.services.push(crate::model::ServiceInfo {
        namespace: "shop".into(),
        name: "web".into(),
        selector: Some(labels(&[("app", "web")])),
        ports: vec![crate::model::ServicePortInfo {
            port: 80,
            target_port: crate::model::TargetPort::Number(8080),
        }],
    });
    s.destination_rules.push(DestinationRuleInfo {
        namespace: "shop".into(),
        name: "web-plain".into(),
        created: Created(1),
        host: "web.shop.svc.cluster.local".into(),
        export_to: vec![],
        workload_selector: Labels::new(),
        tls: vec![DrTlsSetting {
            subset: None,
            subset_labels: Labels::new(),
            port: None,
            mode: TlsMode::Disable,
        }],
        unknowns: vec![],
    });
    let req = ns_request("shop", PolicyMode::Strict);
    let p = Policy::new("shop", "default", Created(500), PolicyMode::Strict);
    let e = what_if(&s, &[PolicyChange::Upsert(p.clone())]);
    let r = review(&s, &req, &p, &e, &Outside::Pods(vec!["default/sleep-1".into()]));
    assert_eq!(r.refusals.len(), 1, "{r:?}");
    assert!(r.refusals[0].starts_with("DestinationRuleDisablesTls"), "{r:?}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("1 pod outside the mesh elsewhere") && w.contains("default/sleep-1")),
        "{r:?}"
    );
    // PERMISSIVE is safe.
    let req = ns_request("shop", PolicyMode::Permissive);
    let p = Policy::new("shop", "default", Created(500), PolicyMode::Permissive);
    let e = what_if(&s, &[PolicyChange::Upsert(p.clone())]);
    assert_eq!(review(&s, &req, &p, &e, &Outside::NotChecked), Review::default());
}

#[test]
fn review_warns_about_workload_overrides_and_unmeshed_pods_in_scope() {
    let mut s = snapshot();
    s.pods.push(pod("shop", "web", "web", true));
    s.pods.push(pod("shop", "legacy", "legacy", false));
    s.policies.push(
        Policy::new("shop", "web-open", Created(10), PolicyMode::Permissive)
            .with_selector(labels(&[("app", "web")])),
    );
    let req = ns_request("shop", PolicyMode::Strict);
    let p = Policy::new("shop", "default", Created(500), PolicyMode::Strict);
    let e = what_if(&s, &[PolicyChange::Upsert(p.clone())]);
    let r = review(&s, &req, &p, &e, &Outside::Forbidden("pods is forbidden".into()));
    assert!(r.refusals.is_empty(), "{r:?}");
    let all = r.warnings.join("\n");
    assert!(
        all.contains("shop/web (PERMISSIVE) will not become STRICT: shop/web-open sets its own mode"),
        "{all}"
    );
    assert!(
        all.contains("1 pod in scope is outside the mesh: nothing enforces STRICT there (shop/legacy-abc-1)"),
        "{all}"
    );
    assert!(
        all.contains("cannot list pods cluster-wide (pods is forbidden)"),
        "{all}"
    );
}

#[test]
fn review_refuses_a_workload_policy_shadowed_by_an_older_one() {
    let mut s = snapshot();
    s.pods.push(pod("shop", "web", "web", true));
    s.policies.push(
        Policy::new("shop", "old", Created(10), PolicyMode::Permissive)
            .with_selector(labels(&[("app", "web")])),
    );
    let req = Request {
        target: Target::Selector {
            namespace: Some("shop".into()),
            selector: labels(&[("app", "web"), ("pod-template-hash", "abc")]),
        },
        mode: PolicyMode::Strict,
        ports: BTreeMap::new(),
        name: Some("web-strict".into()),
        inherit: false,
        root_namespace: None,
    };
    let p = Policy::new("shop", "web-strict", Created(500), PolicyMode::Strict)
        .with_selector(labels(&[("app", "web"), ("pod-template-hash", "abc")]));
    let e = what_if(&s, &[PolicyChange::Upsert(p.clone())]);
    let r = review(&s, &req, &p, &e, &Outside::NotChecked);
    assert_eq!(r.refusals.len(), 1, "{r:?}");
    assert!(
        r.refusals[0].contains("decided by the older workload policy shop/old"),
        "{r:?}"
    );
}

#[test]
fn review_refuses_disable_on_ambient_workloads() {
    let mut s = snapshot();
    let mut p = pod("shop", "web", "web", false);
    p.ambient = crate::model::AmbientRedirection::Enabled;
    s.pods.push(p);
    let req = ns_request("shop", PolicyMode::Disable);
    let pol = Policy::new("shop", "default", Created(500), PolicyMode::Disable);
    let e = what_if(&s, &[PolicyChange::Upsert(pol.clone())]);
    let r = review(&s, &req, &pol, &e, &Outside::NotChecked);
    assert!(
        r.refusals
            .iter()
            .any(|x| x.starts_with("AmbientDisableUnsupported")),
        "{r:?}"
    );
}

#[test]
fn ports_keeping_their_own_mode_are_listed_with_a_changing_workload() {
    let mut s = snapshot();
    s.pods.push(pod("shop", "web", "web", true));
    let ns = Policy::new("shop", "default", Created(500), PolicyMode::Strict);
    let w = Policy::new("shop", "web", Created(501), PolicyMode::Unset)
        .with_selector(labels(&[("app", "web")]))
        .with_port(8080, PolicyMode::Permissive);
    let changes = [PolicyChange::Upsert(ns), PolicyChange::Upsert(w)];
    let e = what_if(&s, &changes);
    assert_eq!(e.changes.len(), 1, "{e:?}");
    let x = port_exceptions(&s, &changes, &e);
    assert_eq!(x.len(), 1, "{x:?}");
    assert_eq!((x[0].workload.name.as_str(), x[0].port), ("web", 8080));
    assert_eq!(x[0].modes, vec![Mode::Permissive]);
    // Without the port setting there is none.
    let plain = [PolicyChange::Upsert(Policy::new(
        "shop",
        "default",
        Created(500),
        PolicyMode::Strict,
    ))];
    assert!(port_exceptions(&s, &plain, &what_if(&s, &plain)).is_empty());
}

#[test]
fn fields_v1_leaves() {
    let f = json!({"f:spec": {".": {}, "f:mtls": {"f:mode": {}}, "f:portLevelMtls": {"f:80": {".": {}, "f:mode": {}}}}});
    assert_eq!(
        fields_v1_paths(&f),
        vec![
            vec!["spec".to_string(), "mtls".into(), "mode".into()],
            vec![
                "spec".to_string(),
                "portLevelMtls".into(),
                "80".into(),
                "mode".into()
            ]
        ]
    );
}

#[test]
fn inherit_and_root_namespace_are_validated_before_any_request() {
    let mut t = target();
    t.inherit = true;
    t.namespace_arg = Some("shop".into());
    let r = request(&t).unwrap();
    assert!(r.inherit && !r.toward_strict());
    t.name = Some("x".into());
    assert!(
        request(&t)
            .unwrap_err()
            .to_string()
            .contains("takes no --name or --port")
    );
    let mut t = target();
    t.root_namespace = Some("mesh-root".into());
    assert!(request(&t).unwrap_err().to_string().contains("it needs --mesh"));
    t.mesh = true;
    assert_eq!(request(&t).unwrap().root_namespace.as_deref(), Some("mesh-root"));
    t.root_namespace = Some("x/../y".into());
    assert!(matches!(request(&t), Err(Error::Usage(_))));
}

#[test]
fn removal_takes_the_honoured_policy_and_the_engine_names_the_next() {
    let mut s = snapshot();
    let mut req = ns_request("shop", PolicyMode::Unset);
    req.inherit = true;
    assert_eq!(choose_removal(&s, &req, "shop"), None);
    assert_eq!(
        nothing_to_remove(&req.target, "shop"),
        "no namespace-wide PeerAuthentication in shop"
    );
    s.policies
        .push(Policy::new("shop", "default", Created(200), PolicyMode::Disable));
    let r = choose_removal(&s, &req, "shop").unwrap();
    assert_eq!((r.honoured.name.as_str(), r.next.is_none()), ("default", true));
    assert!(r.notes.is_empty());
    s.policies
        .push(Policy::new("shop", "legacy", Created(100), PolicyMode::Strict));
    // A selector policy is another scope: never the next namespace-wide one.
    s.policies.push(
        Policy::new("shop", "web", Created(50), PolicyMode::Strict).with_selector(labels(&[("app", "web")])),
    );
    let r = choose_removal(&s, &req, "shop").unwrap();
    assert_eq!(r.honoured.name, "legacy");
    assert_eq!(r.next.as_ref().map(|p| p.name.as_str()), Some("default"));
    assert!(
        r.notes[0].contains("the next one, shop/default, will then be honoured"),
        "{:?}",
        r.notes
    );
}

#[test]
fn removal_review_refuses_strict_to_disable() {
    let mut s = snapshot();
    s.pods.push(pod("shop", "web", "web", true));
    s.policies.push(Policy::new(
        "istio-system",
        "default",
        Created(1),
        PolicyMode::Disable,
    ));
    s.policies
        .push(Policy::new("shop", "default", Created(2), PolicyMode::Strict));
    let effect = Effect::of_removal(&s, &crate::model::ObjectKey::new("shop", "default"));
    let r = review_removal(&effect.effects, &Outside::NotChecked);
    assert_eq!(r.refusals.len(), 1, "{r:?}");
    assert!(
        r.refusals[0].contains("shop/web goes from STRICT to DISABLE"),
        "{r:?}"
    );
    assert!(!removal_toward_strict(&effect.effects));
    // Under a mesh-wide PERMISSIVE the same removal passes.
    s.policies[0].mode = PolicyMode::Permissive;
    let effect = Effect::of_removal(&s, &crate::model::ObjectKey::new("shop", "default"));
    assert_eq!(
        review_removal(&effect.effects, &Outside::NotChecked),
        Review::default()
    );
}

#[test]
fn foreign_fields_leave_out_the_plugin_and_kubectl() {
    let live = json!({"metadata": {"managedFields": [
        {"manager": "kubectl-mtls", "operation": "Apply", "fieldsV1": {"f:spec": {"f:mtls": {"f:mode": {}}}}},
        {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {"f:metadata": {"f:annotations": {}}}},
        {"manager": "argocd-controller", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:selector": {}}}}
    ]}});
    assert_eq!(
        foreign_fields(&live, "kubectl-mtls"),
        vec![
            (
                "argocd-controller".to_string(),
                ".metadata.labels.team".to_string()
            ),
            ("argocd-controller".to_string(), ".spec.selector".to_string()),
        ]
    );
    let e = foreign_fields_error(&foreign_fields(&live, "kubectl-mtls"), "pa/x").to_string();
    assert!(
        e.contains("managed by \"argocd-controller\" (.metadata.labels.team by \"argocd-controller\", .spec.selector by \"argocd-controller\")")
            && e.contains("--force-conflicts"),
        "{e}"
    );
    assert!(foreign_fields(&json!({"metadata": {}}), "kubectl-mtls").is_empty());
}
