//! `kubectl mtls enable` against both backends (kube-sim and the real API server, see
//! tests/common): create, update of the policy Istio honours, idempotence, dry runs, server-side
//! apply conflicts (another manager, kubectl's own, `before-first-apply`), refusals and --force,
//! bad input. The writes are checked in kube-sim's request log and in the real server's audit
//! log ([`Lab::writes`]). What stays on kube-sim, each saying why: v1beta1-only clusters,
//! mesh-wide changes (their answer depends on the whole, shared, cluster) and checks that no
//! request at all was sent (the audit log records writes only).

#[macro_use]
mod common;

use common::*;
use serde_json::Value;

const PA_V1: &str = "security.istio.io/v1";

fn writes(lab: &Lab) -> Vec<RequestRecord> {
    lab.writes()
}

fn policy(lab: &Lab, ns: &str, name: &str) -> Option<Value> {
    lab.get(PA_V1, "PeerAuthentication", ns, name)
}

fn managers(obj: &Value) -> Vec<String> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["manager"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

on_both_backends! {
fn client_dry_run_shows_the_change_and_sends_no_write(backend) {
    let lab = backend.start(Scenario::lab());
    lab.clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--strict", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    // The YAML diff of the new object.
    assert!(
        out.contains("--- live/security.istio.io.v1.PeerAuthentication.istioinaction.default\n"),
        "{out}"
    );
    assert!(
        out.contains("@@ -0,0 +1,8 @@\n+apiVersion: security.istio.io/v1\n"),
        "{out}"
    );
    assert!(out.contains("+    mode: STRICT\n"), "{out}");
    // The effect on workloads, each line marked as a dry run.
    assert!(
        out.contains("Workloads whose effective mTLS mode changes (dry run):"),
        "{out}"
    );
    for w in ["history", "recommendation", "sleep", "web-api"] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("istioinaction/{w} ")))
            .unwrap_or_else(|| panic!("no row for {w}: {out}"));
        assert!(
            line.contains("PERMISSIVE") && line.contains("->") && line.contains("STRICT"),
            "{line}"
        );
    }
    // The object that would be applied, then kubectl's result line.
    assert!(out.contains("# the object kubectl-mtls would apply (server-side apply, field manager \"kubectl-mtls\") (dry run)\napiVersion: security.istio.io/v1\n"), "{out}");
    assert_eq!(
        out.lines().last(),
        Some("peerauthentication.security.istio.io/default created (dry run)")
    );
    // The un-meshed sleep in `default` is a plaintext client that STRICT will cut off (on the
    // real server, the other tests' pods are in the cluster too: only the warning is checked).
    assert!(
        run.stderr
            .contains("outside the mesh elsewhere in the cluster may be"),
        "{}",
        run.stderr
    );
    if !lab.is_real() {
        assert!(
            run.stderr
                .contains("1 pod outside the mesh elsewhere in the cluster may be a plaintext client")
                && run.stderr.contains("default/sleep-6c9f8b7d5c-pwz6q"),
            "{}",
            run.stderr
        );
    }
    assert!(
        writes(&lab).is_empty(),
        "client dry run wrote: {:?}",
        writes(&lab)
    );
    if let Some(log) = lab.log() {
        assert!(!log.is_empty(), "the dry run read the cluster");
    }
    assert!(policy(&lab, "istioinaction", "default").is_none());
}
}

on_both_backends! {
fn server_dry_run_sends_only_dry_run_writes(backend) {
    let lab = backend.start(Scenario::lab());
    lab.clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--strict", "--dry-run=server"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("(server dry run):"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("# the API server's answer (server dry run)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/default created (server dry run)")
    );
    let w = writes(&lab);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w.iter().all(|r| r.dry_run && r.query.contains("dryRun=All")),
        "{w:?}"
    );
    assert_eq!(w[0].verb, "patch");
    assert!(w[0].query.contains("fieldManager=kubectl-mtls"), "{w:?}");
    assert!(policy(&lab, "istioinaction", "default").is_none());
}
}

on_both_backends! {
fn create_then_unchanged_on_repeat(backend) {
    let lab = backend.start(Scenario::lab());
    let run = lab.plugin(&["enable", "istioinaction", "--strict"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/default created")
    );
    let pa = policy(&lab, "istioinaction", "default").expect("created");
    assert_eq!(pa["spec"], serde_json::json!({"mtls": {"mode": "STRICT"}}));
    assert_eq!(managers(&pa), ["kubectl-mtls"]);
    let w = writes(&lab);
    assert_eq!(w.len(), 1);
    assert!(!w[0].dry_run && w[0].query.contains("fieldManager=kubectl-mtls"));
    let rv = pa["metadata"]["resourceVersion"].clone();

    lab.clear_requests();
    let again = lab.plugin(&["enable", "istioinaction", "--strict"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.stdout,
        "peerauthentication.security.istio.io/default unchanged\n"
    );
    assert!(writes(&lab).is_empty(), "{:?}", writes(&lab));
    let pa = policy(&lab, "istioinaction", "default").unwrap();
    assert_eq!(pa["metadata"]["resourceVersion"], rv);
}
}

on_both_backends! {
fn the_older_differently_named_policy_is_the_one_changed(backend) {
    let lab = backend.start(Scenario::lab());
    // Made with kubectl (as in the workshop): its fields are taken over.
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: legacy
  namespace: istioinaction
  creationTimestamp: "2026-01-01T00:00:00Z"
  labels: {team: platform}
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
    apiVersion: security.istio.io/v1
    time: "2026-01-01T00:00:00Z"
    fieldsType: FieldsV1
    fieldsV1: {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}, "f:spec": {".": {}, "f:mtls": {".": {}, "f:mode": {}}}}
spec: {mtls: {mode: PERMISSIVE}}
"#,
    );
    // A real server sets creationTimestamp itself (whole seconds): create the newer one later.
    if lab.is_real() {
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction, creationTimestamp: "2026-02-01T00:00:00Z"}
spec: {mtls: {mode: DISABLE}}
"#,
    );
    lab.clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--strict"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("note: took over spec.mtls.mode from kubectl-client-side-apply"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "note: changing istioinaction/legacy, the oldest namespace-wide policy; Istio ignores the newer one (default)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("-    mode: PERMISSIVE\n+    mode: STRICT\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/legacy configured")
    );
    let legacy = policy(&lab, "istioinaction", "legacy").unwrap();
    assert_eq!(legacy["spec"]["mtls"]["mode"], "STRICT");
    assert_eq!(legacy["metadata"]["labels"]["team"], "platform", "labels stay");
    assert_eq!(
        policy(&lab, "istioinaction", "default").unwrap()["spec"]["mtls"]["mode"],
        "DISABLE",
        "the ignored policy is left alone"
    );
    // The apply meets kubectl's manager (409), then takes it over: two patches, one stored.
    let w = writes(&lab);
    assert!(w.iter().all(|r| r.name == "legacy" && r.verb == "patch"), "{w:?}");
    assert_eq!(
        w.iter().map(|r| r.status).collect::<Vec<_>>(),
        [409, 200],
        "{w:?}"
    );
}
}

const GITOPS_OWNED: &str = r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istioinaction
  creationTimestamp: "2026-01-01T00:00:00Z"
  managedFields:
  - manager: argocd-controller
    operation: Apply
    apiVersion: security.istio.io/v1
    time: "2026-01-01T00:00:00Z"
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {"f:mtls": {"f:mode": {}}}}
spec: {mtls: {mode: PERMISSIVE}}
"#;

on_both_backends! {
fn a_conflict_names_the_other_manager_and_force_conflicts_takes_over(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(GITOPS_OWNED);
    // The client dry run predicts the conflict from managedFields: the same verdict and exit
    // code as the real run.
    let dry = lab.plugin(&["enable", "istioinaction", "--strict", "--dry-run"]);
    assert_eq!(dry.code, 1, "{}", dry.stderr);
    let last = dry.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: peerauthentication.security.istio.io/default: the fields to change are managed by \"argocd-controller\" (Apply failed with 1 conflict: conflict with \"argocd-controller\": .spec.mtls.mode)"),
        "{last}"
    );
    let dry = lab.plugin(&[
        "enable",
        "istioinaction",
        "--strict",
        "--dry-run",
        "--force-conflicts",
    ]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr
            .contains("warning: .spec.mtls.mode is managed by \"argocd-controller\": --force-conflicts will take it over"),
        "{}",
        dry.stderr
    );

    // The server dry run meets the API server's conflict, and writes nothing either.
    lab.clear_requests();
    let server = lab.plugin(&["enable", "istioinaction", "--strict", "--dry-run=server"]);
    assert_eq!(server.code, 1, "{}", server.stderr);
    assert!(
        server.stderr.contains("managed by \"argocd-controller\""),
        "{}",
        server.stderr
    );
    assert!(writes(&lab).iter().all(|r| r.dry_run), "{:?}", writes(&lab));
    assert_eq!(writes(&lab).len(), 1);

    lab.clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--strict"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap();
    assert!(last.starts_with("error: peerauthentication.security.istio.io/default: the fields to change are managed by \"argocd-controller\""), "{last}");
    assert!(last.contains("--force-conflicts"), "{last}");
    assert!(writes(&lab).iter().all(|r| !r.is_persisted_write()), "{:?}", writes(&lab));
    assert_eq!(
        policy(&lab, "istioinaction", "default").unwrap()["spec"]["mtls"]["mode"],
        "PERMISSIVE"
    );

    let forced = lab.plugin(&["enable", "istioinaction", "--strict", "--force-conflicts"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(
        forced.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/default configured")
    );
    let pa = policy(&lab, "istioinaction", "default").unwrap();
    assert_eq!(pa["spec"]["mtls"]["mode"], "STRICT");
    assert!(managers(&pa).contains(&"kubectl-mtls".to_string()), "{pa:#}");
}
}

on_both_backends! {
/// A policy stored without managedFields (made before server-side apply existed, or by a client
/// that strips them): the API server gives its fields to `before-first-apply` at the first
/// apply. Who set them is unknown, so enable refuses as for any manager that is not kubectl's,
/// every dry-run mode predicting it; --force-conflicts takes the mode over.
fn a_policy_without_managed_fields_is_refused_until_force_conflicts(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction, labels: {team: platform}}
spec: {mtls: {mode: PERMISSIVE}}
"#,
    );
    let before = policy(&lab, "istioinaction", "default").expect("stored");
    assert!(managers(&before).is_empty(), "{before:#}");
    lab.clear_requests();
    for dry in ["--dry-run=client", "--dry-run=server", "--dry-run=none"] {
        let run = lab.plugin(&["enable", "istioinaction", "--strict", dry]);
        assert_eq!(run.code, 1, "{dry}: {}", run.stderr);
        let last = run.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: peerauthentication.security.istio.io/default: the fields to change are managed by \"before-first-apply\" (Apply failed with 1 conflict: conflict with \"before-first-apply\" using security.istio.io/v1: .spec.mtls.mode): ")
                && last.contains("stored without managedFields")
                && last.ends_with("nothing was written. If no other tool (a GitOps controller, a script) sets this policy, re-run with --force-conflicts"),
            "{dry}: {last}"
        );
    }
    assert!(writes(&lab).iter().all(|r| !r.is_persisted_write()), "{:?}", writes(&lab));
    let after = policy(&lab, "istioinaction", "default").unwrap();
    assert_eq!(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
    assert!(managers(&after).is_empty(), "a refused apply records no manager: {after:#}");

    let forced = lab.plugin(&["enable", "istioinaction", "--strict", "--force-conflicts"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(
        forced.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/default configured")
    );
    let pa = policy(&lab, "istioinaction", "default").unwrap();
    assert_eq!(pa["spec"]["mtls"]["mode"], "STRICT");
    assert_eq!(pa["metadata"]["labels"]["team"], "platform");
    assert_eq!(managers(&pa), ["kubectl-mtls", "before-first-apply"], "{pa:#}");
    // The mode is the plugin's own now: the next change needs no override.
    let back = lab.plugin(&["enable", "istioinaction", "--permissive"]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(
        policy(&lab, "istioinaction", "default").unwrap()["spec"]["mtls"]["mode"],
        "PERMISSIVE"
    );
}
}

/// kube-sim only: a real server here has Istio's v1 CRDs installed once for the whole binary.
#[test]
fn v1beta1_only_clusters_get_v1beta1() {
    let lab = Lab::start(Scenario::lab().istio(IstioApi::V1beta1Only));
    let run = lab.plugin(&["enable", "istioinaction", "--strict"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("+++ merged/security.istio.io.v1beta1.PeerAuthentication.istioinaction.default\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+apiVersion: security.istio.io/v1beta1\n"),
        "{}",
        run.stdout
    );
    let w = writes(&lab);
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].path,
        "/apis/security.istio.io/v1beta1/namespaces/istioinaction/peerauthentications/default"
    );
    let pa = lab
        .sim()
        .cluster()
        .get(
            "security.istio.io/v1beta1",
            "PeerAuthentication",
            "istioinaction",
            "default",
        )
        .expect("stored");
    assert_eq!(pa["spec"]["mtls"]["mode"], "STRICT");
}

const PLAINTEXT_RULE: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web-api-plaintext, namespace: istioinaction}
spec:
  host: web-api.istioinaction.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
"#;

on_both_backends! {
fn a_destination_rule_sending_plaintext_is_refused_unless_forced(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(PLAINTEXT_RULE);
    lab.clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--strict"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "error: refusing to change peerauthentication.security.istio.io/default: DestinationRuleDisablesTls DestinationRule istioinaction/web-api-plaintext:"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force writes anyway"), "{}", run.stderr);
    // The change is still shown, with the finding it would create.
    assert!(
        run.stdout.contains("Findings this change creates:"),
        "{}",
        run.stdout
    );
    assert!(writes(&lab).is_empty(), "{:?}", writes(&lab));
    assert!(policy(&lab, "istioinaction", "default").is_none());

    let forced = lab.plugin(&["enable", "istioinaction", "--strict", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced
            .stderr
            .contains("warning: --force: writing despite: DestinationRuleDisablesTls"),
        "{}",
        forced.stderr
    );
    assert_eq!(
        forced.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/default created")
    );
}
}

on_both_backends! {
fn a_workload_policy_shadowed_by_an_older_one_is_refused(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: web-api-open, namespace: istioinaction, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {selector: {matchLabels: {app: web-api}}, mtls: {mode: PERMISSIVE}}
"#,
    );
    let run = lab.plugin(&[
        "enable",
        "istioinaction",
        "--selector",
        "app=web-api,version=v1",
        "--name",
        "web-api-strict",
        "--strict",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("decided by the older workload policy istioinaction/web-api-open"),
        "{}",
        run.stderr
    );
    assert!(policy(&lab, "istioinaction", "web-api-strict").is_none());

    // A namespace-wide STRICT is not refused for it, but the exception is explained.
    let ns = lab.plugin(&["enable", "istioinaction", "--strict", "--dry-run"]);
    assert_eq!(ns.code, 0, "{}", ns.stderr);
    assert!(
        ns.stderr.contains(
            "istioinaction/web-api (PERMISSIVE) will not become STRICT: istioinaction/web-api-open sets its own mode"
        ),
        "{}",
        ns.stderr
    );
    assert!(!ns.stdout.contains("istioinaction/web-api "), "{}", ns.stdout);
}
}

on_both_backends! {
fn disable_on_ambient_workloads_is_refused(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: ambient-app, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata:
  name: echo
  namespace: ambient-app
  labels: {app: echo}
  annotations: {ambient.istio.io/redirection: enabled}
spec:
  containers: [{name: echo, image: echo:1}]
"#,
    );
    let run = lab.plugin(&["enable", "ambient-app", "--disable"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("AmbientDisableUnsupported"), "{}", run.stderr);
    assert!(policy(&lab, "ambient-app", "default").is_none());
}
}

on_both_backends! {
fn a_selector_policy_with_ports_keeps_what_it_owns_on_later_runs(backend) {
    let lab = backend.start(Scenario::lab());
    let run = lab.plugin(&[
        "enable",
        "istioinaction",
        "-l",
        "app=web-api",
        "--strict",
        "--port",
        "8080=PERMISSIVE",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("note: naming the new policy \"web-api\" after its selector"),
        "{}",
        run.stderr
    );
    let pa = policy(&lab, "istioinaction", "web-api").expect("created");
    assert_eq!(
        pa["spec"],
        serde_json::json!({"selector": {"matchLabels": {"app": "web-api"}}, "mtls": {"mode": "STRICT"},
                           "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}})
    );
    // The workload itself is STRICT but its port 8080 stays PERMISSIVE: no workload-level
    // change is reported for port 8080's traffic.
    let again = lab.plugin(&[
        "enable",
        "istioinaction",
        "-l",
        "app=web-api",
        "--disable",
        "--force",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let pa = policy(&lab, "istioinaction", "web-api").unwrap();
    assert_eq!(pa["spec"]["mtls"]["mode"], "DISABLE");
    assert_eq!(
        pa["spec"]["portLevelMtls"]["8080"]["mode"], "PERMISSIVE",
        "a port set by an earlier run stays"
    );
    assert_eq!(
        pa["spec"]["selector"]["matchLabels"]["app"], "web-api",
        "the selector stays"
    );
}
}

on_both_backends! {
fn output_yaml_keeps_stdout_for_the_object(backend) {
    let lab = backend.start(Scenario::lab());
    let run = lab.plugin(&["enable", "istioinaction", "--permissive", "-o", "yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let obj: Value = serde_saphyr::from_str(&run.stdout).expect("stdout is one YAML object");
    assert_eq!(obj["kind"], "PeerAuthentication");
    assert_eq!(obj["spec"]["mtls"]["mode"], "PERMISSIVE");
    assert!(obj["metadata"].get("managedFields").is_none());
    assert!(
        run.stderr
            .contains("peerauthentication.security.istio.io/default created"),
        "{}",
        run.stderr
    );
    let json = lab.plugin(&["enable", "istioinaction", "--permissive", "-o", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert_eq!(json.json()["spec"]["mtls"]["mode"], "PERMISSIVE");
    assert!(json.stderr.contains("unchanged"), "{}", json.stderr);
}
}

/// kube-sim only: a mesh-wide change reads the whole cluster, which on the real server is shared
/// with the other tests of this binary (their pods and policies would be in the answer).
#[test]
fn mesh_wide_changes_target_the_root_namespace() {
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["enable", "--mesh", "--strict", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("+++ merged/security.istio.io.v1.PeerAuthentication.istio-system.default"),
        "{}",
        run.stdout
    );
    // The un-meshed sleep in `default` is in scope now: nothing enforces STRICT there.
    assert!(
        run.stderr.contains("pod in scope is outside the mesh")
            && run.stderr.contains("default/sleep-6c9f8b7d5c-pwz6q"),
        "{}",
        run.stderr
    );
    assert!(writes(&lab).is_empty());
    // Naming the root namespace is the same as --mesh.
    let root = lab.plugin(&["enable", "istio-system", "--strict", "--dry-run"]);
    assert_eq!(root.code, 0, "{}", root.stderr);
    assert_eq!(root.stdout, run.stdout);
    assert_eq!(root.stderr, run.stderr);
    let sel = lab.plugin(&["enable", "istio-system", "-l", "app=istiod", "--strict"]);
    assert_eq!(sel.code, 2, "{}", sel.stderr);
    assert!(
        sel.stderr
            .contains("istio-system is the root namespace: Istio ignores policies with a selector there"),
        "{}",
        sel.stderr
    );
}

on_both_backends! {
fn a_forbidden_cluster_wide_pod_read_is_said(backend) {
    let lab = backend.start(
        Scenario::lab().user(
            User::new("ops", "ops-token")
                .allow(Rule::new(&["get"], &["namespaces"]))
                .allow(Rule::new(&["get"], &["configmaps"]).in_namespaces(&["istio-system"]))
                .allow(
                    Rule::new(
                        &["get", "list"],
                        &["pods", "services", "peerauthentications", "destinationrules"],
                    )
                    .in_namespaces(&["istioinaction", "istio-system"]),
                )
                // A server-side apply that creates the policy needs create too, as on kube-apiserver.
                .allow(
                    Rule::new(&["create", "patch"], &["peerauthentications"])
                        .in_namespaces(&["istioinaction"]),
                ),
        ),
    );
    // Unknown is never "yes": without the reads the review needs, it refuses.
    let run = lab.plugin_as("ops", &["enable", "istioinaction", "--strict"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the review could not list pods cluster-wide: ")
            && run.stderr.lines().filter(|l| l.starts_with("error:")).count() == 1
            && run
                .stderr
                .contains("plaintext clients outside the mesh in other namespaces were not checked"),
        "{}",
        run.stderr
    );
    assert!(policy(&lab, "istioinaction", "default").is_none());
    // --force writes, saying what it overrode.
    let run = lab.plugin_as("ops", &["enable", "istioinaction", "--strict", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: --force: writing despite: the review could not list pods cluster-wide"),
        "{}",
        run.stderr
    );
    assert!(policy(&lab, "istioinaction", "default").is_some());
}
}

fn assert_usage_error(lab: &Lab, args: &[&str], needle: &str) {
    lab.clear_requests();
    let run = lab.plugin(args);
    assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "{args:?}: one line: {}",
        run.stderr
    );
    assert!(run.stderr.starts_with("error: "), "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    // Reads leave no trace in the real server's audit log: "no request at all" is kube-sim's
    // to check; "no write" is checked on both.
    if let Some(log) = lab.log() {
        assert!(
            log.is_empty(),
            "{args:?}: bad input must be refused before any request: {log:?}"
        );
    }
    assert!(writes(lab).is_empty(), "{args:?}: {:?}", writes(lab));
}

on_both_backends! {
fn bad_input_is_refused_before_any_request(backend) {
    let lab = backend.start(Scenario::lab());
    assert_usage_error(&lab, &["enable", "istioinaction"], "error: ");
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--strict", "--permissive"],
        "cannot be used with",
    );
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--strict", "--port", "8080=STRICT"],
        "--port needs --selector",
    );
    assert_usage_error(
        &lab,
        &[
            "enable",
            "istioinaction",
            "--strict",
            "-l",
            "app=web-api",
            "--port",
            "0=STRICT",
        ],
        "1-65535",
    );
    assert_usage_error(
        &lab,
        &[
            "enable",
            "istioinaction",
            "--strict",
            "-l",
            "app=web-api",
            "--port",
            "70000=STRICT",
        ],
        "1-65535",
    );
    assert_usage_error(
        &lab,
        &[
            "enable",
            "istioinaction",
            "--strict",
            "-l",
            "app=web-api",
            "--port",
            "8080=SOMETIMES",
        ],
        "STRICT, PERMISSIVE, DISABLE or UNSET",
    );
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--strict", "-l", "app=*"],
        "wildcards are not supported",
    );
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--strict", "-l", "app!=web"],
        "negation is not supported",
    );
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--strict", "-l", "app"],
        "is not KEY=VALUE",
    );
    assert_usage_error(
        &lab,
        &["enable", "Istio_Action", "--strict"],
        "invalid namespace name",
    );
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--mesh", "--strict"],
        "cannot be used with",
    );
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--strict", "--dry-run=bogus"],
        "invalid value 'bogus'",
    );
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--strict", "--name", "Bad_Name"],
        "invalid name",
    );
}
}

on_both_backends! {
/// The workshop's own path: policies made with kubectl (client-side apply, create, edit...)
/// are taken over without --force-conflicts, as `kubectl apply --server-side` does, and every
/// dry-run mode predicts the real run.
fn a_policy_written_by_kubectl_is_taken_over_and_said_so(backend) {
    let lab = backend.start(Scenario::lab());
    let file = lab.dir.path().join("pa.yaml");
    std::fs::write(
        &file,
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istioinaction}\nspec: {mtls: {mode: PERMISSIVE}}\n",
    )
    .unwrap();
    if !have_kubectl("a_policy_written_by_kubectl_is_taken_over_and_said_so") {
        return;
    }
    let applied = lab.kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let note = "note: took over spec.mtls.mode from kubectl-client-side-apply";
    for dry in ["--dry-run=client", "--dry-run=server"] {
        let run = lab.plugin(&["enable", "istioinaction", "--strict", dry]);
        assert_eq!(run.code, 0, "{dry}: {}", run.stderr);
        assert!(run.stderr.contains(note), "{dry}: {}", run.stderr);
        assert!(
            run.stdout.contains("-    mode: PERMISSIVE"),
            "{dry} shows the diff: {}",
            run.stdout
        );
        assert!(!run.stderr.contains("error:"), "{dry}: {}", run.stderr);
    }
    assert_eq!(
        policy(&lab, "istioinaction", "default").unwrap()["spec"]["mtls"]["mode"],
        "PERMISSIVE",
        "dry runs write nothing"
    );
    let run = lab.plugin(&["enable", "istioinaction", "--strict"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(note), "{}", run.stderr);
    let pa = policy(&lab, "istioinaction", "default").unwrap();
    assert_eq!(pa["spec"]["mtls"]["mode"], "STRICT");
    assert!(managers(&pa).contains(&"kubectl-mtls".to_string()), "{pa:#}");
}
}

on_both_backends! {
fn a_mesh_wide_change_without_cluster_wide_reads_says_why(backend) {
    let lab = backend.start(
        Scenario::lab().user(
            User::new("ns-admin", "ns-admin-token")
                .allow(Rule::new(&["*"], &["*"]).in_namespaces(&["istioinaction", "istio-system"])),
        ),
    );
    lab.clear_requests();
    let run = lab.plugin_as("ns-admin", &["enable", "--mesh", "--strict"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("a mesh-wide policy affects every namespace") && !run.stderr.contains("-A needs"),
        "{}",
        run.stderr
    );
    assert!(writes(&lab).iter().all(|r| !r.is_persisted_write()), "{:?}", writes(&lab));
}
}

on_both_backends! {
fn unset_inherits_and_the_namespace_can_come_from_dash_n(backend) {
    let lab = backend.start(Scenario::lab());
    let run = lab.plugin(&["enable", "-n", "istioinaction", "--strict"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(policy(&lab, "istioinaction", "default").is_some());
    let unset = lab.plugin(&["enable", "istioinaction", "--unset"]);
    assert_eq!(unset.code, 0, "{}", unset.stderr);
    assert!(
        unset.stdout.contains("-    mode: STRICT\n+    mode: UNSET\n"),
        "{}",
        unset.stdout
    );
    let web = unset
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("istioinaction/web-api "))
        .unwrap_or_else(|| panic!("{}", unset.stdout));
    assert!(web.contains("STRICT") && web.contains("PERMISSIVE"), "{web}");
    assert_eq!(
        unset.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/default configured")
    );
    assert_eq!(
        policy(&lab, "istioinaction", "default").unwrap()["spec"]["mtls"]["mode"],
        "UNSET"
    );
    let clash = lab.plugin(&["enable", "istioinaction", "-n", "default", "--strict"]);
    assert_eq!(clash.code, 2, "{}", clash.stderr);
    assert!(clash.stderr.contains("disagree"), "{}", clash.stderr);
}
}

// ---------------------------------------------------------------------------------------------
// `enable SCOPE --inherit` (issue 10 item 6) and `--mesh` with an unconfirmed root namespace
// (issue 10 item 4).

fn deletes(lab: &Lab) -> Vec<RequestRecord> {
    writes(lab).into_iter().filter(|r| r.verb == "delete").collect()
}

fn row<'a>(out: &'a str, workload: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{workload} ")))
        .unwrap_or_else(|| panic!("no row for {workload}: {out}"))
}

const NS_STRICT: &str = r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction}
spec: {mtls: {mode: STRICT}}
"#;

#[test]
fn inherit_removes_the_namespace_policy_with_diff_effect_and_dry_runs() {
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(NS_STRICT);

    // Client dry run: the whole object removed, each workload back to the mesh default; no write.
    lab.sim().clear_requests();
    let dry = lab.plugin(&["enable", "istioinaction", "--inherit", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let out = &dry.stdout;
    assert!(
        out.contains(
            "--- live/security.istio.io.v1.PeerAuthentication.istioinaction.default\n+++ merged/security.istio.io.v1.PeerAuthentication.istioinaction.default\n@@ -1,"
        ) && out.contains(" +0,0 @@\n-apiVersion: security.istio.io/v1\n"),
        "{out}"
    );
    assert!(out.contains("-    mode: STRICT\n"), "{out}");
    assert!(
        out.lines().all(|l| !l.starts_with('+') || l.starts_with("+++ ")),
        "nothing is added: {out}"
    );
    assert!(
        out.contains("Workloads whose effective mTLS mode changes (dry run):"),
        "{out}"
    );
    for w in ["history", "recommendation", "sleep", "web-api"] {
        let line = row(out, &format!("istioinaction/{w}"));
        assert!(
            line.find("STRICT") < line.find("->") && line.rfind("PERMISSIVE") > line.find("->"),
            "{line}"
        );
    }
    assert_eq!(
        out.lines().last(),
        Some("peerauthentication.security.istio.io/default deleted (dry run)")
    );
    assert!(writes(&lab).is_empty(), "{:?}", writes(&lab));
    assert!(policy(&lab, "istioinaction", "default").is_some());

    // Server dry run: one DELETE with dryRun=All and the reviewed object's preconditions.
    lab.sim().clear_requests();
    let server = lab.plugin(&["enable", "istioinaction", "--inherit", "--dry-run=server"]);
    assert_eq!(server.code, 0, "{}", server.stderr);
    assert_eq!(
        server.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/default deleted (server dry run)")
    );
    assert!(server.stdout.contains("(server dry run):"), "{}", server.stdout);
    let w = writes(&lab);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].verb == "delete" && w[0].dry_run && !w[0].is_persisted_write(),
        "{w:?}"
    );
    assert_eq!(w[0].name, "default");
    assert!(
        policy(&lab, "istioinaction", "default").is_some(),
        "a dry run deletes nothing"
    );

    // The real run deletes it.
    lab.sim().clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--inherit"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().last(),
        Some("peerauthentication.security.istio.io/default deleted")
    );
    let d = deletes(&lab);
    assert_eq!(d.len(), 1, "{:?}", writes(&lab));
    assert!(d[0].is_persisted_write());
    assert_eq!(writes(&lab).len(), 1);
    assert!(policy(&lab, "istioinaction", "default").is_none());

    // Nothing left to remove: "unchanged", exit 0, no write.
    lab.sim().clear_requests();
    let again = lab.plugin(&["enable", "istioinaction", "--inherit"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.stdout,
        "no namespace-wide PeerAuthentication in istioinaction: nothing to remove, unchanged\n"
    );
    assert!(writes(&lab).is_empty(), "{:?}", writes(&lab));
}

#[test]
fn inherit_output_json_prints_the_deleted_object() {
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(NS_STRICT);
    let run = lab.plugin(&["enable", "istioinaction", "--inherit", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let obj = run.json();
    assert_eq!(obj["kind"], "PeerAuthentication");
    assert_eq!(obj["spec"]["mtls"]["mode"], "STRICT");
    assert!(obj["metadata"].get("managedFields").is_none());
    assert!(
        run.stderr
            .contains("peerauthentication.security.istio.io/default deleted"),
        "{}",
        run.stderr
    );
    assert!(policy(&lab, "istioinaction", "default").is_none());
    let none = lab.plugin(&["enable", "istioinaction", "--inherit", "-o", "yaml"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert_eq!(none.stdout, "apiVersion: v1\nitems: []\nkind: List\n");
    assert!(
        none.stderr.contains("nothing to remove, unchanged"),
        "{}",
        none.stderr
    );
}

#[test]
fn inherit_removes_the_honoured_one_of_several_and_the_next_is_honoured() {
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy, namespace: istioinaction, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction, creationTimestamp: "2026-02-01T00:00:00Z"}
spec: {mtls: {mode: DISABLE}}
"#,
    );
    let run = lab.plugin(&["enable", "istioinaction", "--inherit", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "note: removing istioinaction/legacy, the namespace-wide policy Istio honours here (the oldest); the next one, istioinaction/default, will then be honoured"
        ),
        "{}",
        run.stderr
    );
    // The effect is the engine's: the newer DISABLE policy decides once legacy is gone.
    let web = row(&run.stdout, "istioinaction/web-api");
    assert!(
        web.find("STRICT") < web.find("->") && web.rfind("DISABLE") > web.find("->"),
        "{web}"
    );
    assert!(
        run.stdout
            .contains("--- live/security.istio.io.v1.PeerAuthentication.istioinaction.legacy"),
        "{}",
        run.stdout
    );
    assert!(policy(&lab, "istioinaction", "legacy").is_none());
    assert!(policy(&lab, "istioinaction", "default").is_some());
}

#[test]
fn inherit_is_reviewed_strict_to_disable_under_a_mesh_wide_disable() {
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(NS_STRICT);
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: DISABLE}}
"#,
    );
    for dry in ["--dry-run=client", "--dry-run=server"] {
        lab.sim().clear_requests();
        let run = lab.plugin(&["enable", "istioinaction", "--inherit", dry]);
        assert_eq!(run.code, 1, "{dry}: {}", run.stderr);
        assert!(
            writes(&lab).iter().all(|r| r.dry_run),
            "{dry}: {:?}",
            writes(&lab)
        );
    }
    lab.sim().clear_requests();
    let run = lab.plugin(&["enable", "istioinaction", "--inherit"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: refusing to delete peerauthentication.security.istio.io/default: ")
            && run
                .stderr
                .contains("from STRICT to DISABLE once the level above decides")
            && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("  nothing was deleted: "),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one error: line per refusal: {}",
        run.stderr
    );
    // The diff and effect were shown first.
    assert!(run.stdout.contains("-    mode: STRICT"), "{}", run.stdout);
    assert!(writes(&lab).is_empty(), "{:?}", writes(&lab));
    assert!(policy(&lab, "istioinaction", "default").is_some());

    let forced = lab.plugin(&["enable", "istioinaction", "--inherit", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("warning: --force: deleting despite: "),
        "{}",
        forced.stderr
    );
    assert!(policy(&lab, "istioinaction", "default").is_none());
}

#[test]
fn inherit_toward_strict_meets_the_destination_rule_review() {
    // Removing a PERMISSIVE namespace policy under a mesh-wide STRICT makes web-api STRICT,
    // while a DestinationRule sends it plaintext: refused, as `enable --strict` would be.
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(PLAINTEXT_RULE);
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: open, namespace: istioinaction}
spec: {mtls: {mode: PERMISSIVE}}
"#,
    );
    let run = lab.plugin(&["enable", "istioinaction", "--inherit"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "error: refusing to delete peerauthentication.security.istio.io/open: DestinationRuleDisablesTls"
        ),
        "{}",
        run.stderr
    );
    assert!(policy(&lab, "istioinaction", "open").is_some());
}

#[test]
fn inherit_removes_mesh_wide_and_selector_policies() {
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: web-api, namespace: istioinaction}
spec:
  selector: {matchLabels: {app: web-api}}
  mtls: {mode: STRICT}
"#,
    );
    let sel = lab.plugin(&["enable", "istioinaction", "-l", "app=web-api", "--inherit"]);
    assert_eq!(sel.code, 0, "{}", sel.stderr);
    let web = row(&sel.stdout, "istioinaction/web-api");
    assert!(web.find("STRICT") < web.find("->"), "{web}");
    assert!(policy(&lab, "istioinaction", "web-api").is_none());
    let none = lab.plugin(&["enable", "istioinaction", "-l", "app=web-api", "--inherit"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert_eq!(
        none.stdout,
        "no PeerAuthentication with the selector app=web-api in istioinaction: nothing to remove, unchanged\n"
    );

    let mesh = lab.plugin(&["enable", "--mesh", "--inherit"]);
    assert_eq!(mesh.code, 0, "{}", mesh.stderr);
    assert!(
        mesh.stdout
            .contains("--- live/security.istio.io.v1.PeerAuthentication.istio-system.default"),
        "{}",
        mesh.stdout
    );
    assert!(
        lab.sim()
            .cluster()
            .get(PA_V1, "PeerAuthentication", "istio-system", "default")
            .is_none()
    );
}

#[test]
fn inherit_refuses_a_policy_with_fields_of_other_managers_unless_force_conflicts() {
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(GITOPS_OWNED);
    for dry in ["--dry-run=client", "--dry-run=server", "--dry-run=none"] {
        lab.sim().clear_requests();
        let run = lab.plugin(&["enable", "istioinaction", "--inherit", dry]);
        assert_eq!(run.code, 1, "{dry}: {}", run.stderr);
        let last = run.stderr.lines().last().unwrap();
        assert!(
            last.starts_with("error: peerauthentication.security.istio.io/default: refusing to delete it: fields of it are managed by \"argocd-controller\" (.spec.mtls.mode by \"argocd-controller\")")
                && last.contains("--force-conflicts"),
            "{dry}: {last}"
        );
        assert!(writes(&lab).is_empty(), "{dry}: {:?}", writes(&lab));
    }
    assert!(policy(&lab, "istioinaction", "default").is_some());
    let forced = lab.plugin(&["enable", "istioinaction", "--inherit", "--force-conflicts"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced
            .stderr
            .contains("warning: .spec.mtls.mode is managed by \"argocd-controller\": --force-conflicts deletes it anyway"),
        "{}",
        forced.stderr
    );
    assert!(policy(&lab, "istioinaction", "default").is_none());
}

#[test]
fn inherit_of_a_policy_made_with_kubectl_needs_no_force_conflicts() {
    let lab = Lab::start(Scenario::lab());
    let file = lab.dir.path().join("pa.yaml");
    std::fs::write(&file, NS_STRICT).unwrap();
    if !have_kubectl("inherit_of_a_policy_made_with_kubectl_needs_no_force_conflicts") {
        return;
    }
    let applied = lab.kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let run = lab.plugin(&["enable", "istioinaction", "--inherit"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(policy(&lab, "istioinaction", "default").is_none());
}

#[test]
fn inherit_deletes_only_the_object_it_reviewed() {
    use kube_sim::{Fault, FaultRule};
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(NS_STRICT);
    lab.sim().clear_requests();
    // The DELETE waits; meanwhile someone changes the policy the plugin reviewed.
    lab.sim().faults().arm(
        FaultRule::new(Fault::Latency(std::time::Duration::from_secs(3)))
            .verb("delete")
            .resource("peerauthentications"),
    );
    let child = lab.spawn(&["enable", "istioinaction", "--inherit"]);
    let reviewed = std::time::Instant::now();
    while !lab
        .requests()
        .iter()
        .any(|r| r.verb == "get" && r.resource == "peerauthentications" && r.name == "default")
    {
        assert!(
            reviewed.elapsed().as_secs() < 30,
            "the plugin never read the policy"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction}
spec: {mtls: {mode: PERMISSIVE}}
"#,
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: peerauthentication.security.istio.io/default changed since it was reviewed (Operation cannot be fulfilled on PeerAuthentication.security.istio.io \"default\": the ResourceVersion in the precondition")
            && last.contains("nothing was deleted"),
        "{stderr}"
    );
    assert_eq!(
        policy(&lab, "istioinaction", "default").unwrap()["spec"]["mtls"]["mode"],
        "PERMISSIVE",
        "the changed policy is not deleted"
    );
}

#[test]
fn inherit_takes_no_name_or_port() {
    let lab = Lab::start(Scenario::lab());
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--inherit", "--name", "x"],
        "--inherit removes the policy Istio honours at the scope: it takes no --name or --port",
    );
    assert_usage_error(
        &lab,
        &["enable", "istioinaction", "--inherit", "--strict"],
        "cannot be used with",
    );
}

#[test]
fn mesh_without_a_readable_mesh_config_needs_root_namespace() {
    let lab = Lab::start(Scenario::lab());
    assert!(lab.delete("v1", "ConfigMap", "istio-system", "istio"));
    lab.sim().clear_requests();
    let run = lab.plugin(&["enable", "--mesh", "--strict"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("the mesh config ConfigMap istio-system/istio does not exist")
            && errors[0].contains("pass --root-namespace NS"),
        "{}",
        run.stderr
    );
    assert!(writes(&lab).is_empty(), "{:?}", writes(&lab));
    // Naming the assumed root namespace is refused the same way.
    let named = lab.plugin(&["enable", "istio-system", "--strict", "--dry-run"]);
    assert_eq!(named.code, 1, "{}", named.stderr);
    assert!(
        named.stderr.contains("pass --root-namespace NS with --mesh"),
        "{}",
        named.stderr
    );

    // Given, it is used: the policy lands there, said once.
    let given = lab.plugin(&[
        "enable",
        "--mesh",
        "--permissive",
        "--dry-run",
        "--root-namespace",
        "mesh-root",
    ]);
    assert_eq!(given.code, 0, "{}", given.stderr);
    assert!(
        given
            .stderr
            .contains("using the root namespace given by --root-namespace: \"mesh-root\"")
            && !given.stderr.contains("assuming the root namespace"),
        "{}",
        given.stderr
    );
    assert!(
        given
            .stdout
            .contains("+++ merged/security.istio.io.v1.PeerAuthentication.mesh-root.default"),
        "{}",
        given.stdout
    );
}

#[test]
fn mesh_with_a_forbidden_mesh_config_needs_root_namespace() {
    let lab = Lab::start(
        Scenario::lab().user(
            User::new("no-cm", "no-cm-token")
                .allow(Rule::new(&["get", "list"], &["namespaces", "pods", "services"]))
                .allow(Rule::new(
                    &["get", "list"],
                    &["peerauthentications", "destinationrules"],
                ))
                .allow(Rule::new(&["create", "patch"], &["peerauthentications"])),
        ),
    );
    let run = lab.plugin_as("no-cm", &["enable", "--mesh", "--strict", "--dry-run"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with("error: cannot read the mesh config: ")
            && errors[0].contains("forbidden")
            && errors[0].contains("pass --root-namespace NS"),
        "{}",
        run.stderr
    );
    let given = lab.plugin_as(
        "no-cm",
        &[
            "enable",
            "--mesh",
            "--strict",
            "--dry-run",
            "--root-namespace",
            "istio-system",
        ],
    );
    assert_eq!(given.code, 0, "{}", given.stderr);
    assert!(
        given
            .stdout
            .contains("+++ merged/security.istio.io.v1.PeerAuthentication.istio-system.default"),
        "{}",
        given.stdout
    );
}

#[test]
fn root_namespace_must_agree_with_the_mesh_config_and_needs_mesh() {
    let lab = Lab::start(Scenario::lab());
    lab.sim().clear_requests();
    let run = lab.plugin(&["enable", "--mesh", "--strict", "--root-namespace", "elsewhere"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("--root-namespace elsewhere disagrees with the mesh config istio-system/istio, which makes istio-system the root namespace"),
        "{}",
        run.stderr
    );
    assert!(writes(&lab).is_empty());
    let same = lab.plugin(&[
        "enable",
        "--mesh",
        "--strict",
        "--dry-run",
        "--root-namespace",
        "istio-system",
    ]);
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert_usage_error(
        &lab,
        &[
            "enable",
            "istioinaction",
            "--strict",
            "--root-namespace",
            "istio-system",
        ],
        "--root-namespace names the root namespace of a mesh-wide change: it needs --mesh",
    );
    assert_usage_error(
        &lab,
        &["enable", "--mesh", "--strict", "--root-namespace", "x/../y"],
        "invalid namespace name",
    );
}
