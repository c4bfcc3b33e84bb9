//! `kubectl mtls status` against both backends (kube-sim and the real API server, see
//! tests/common): outputs, findings, --require, paging
//! and request counts from the request log, RBAC partial answers, clusters without Istio.

#[macro_use]
mod common;

use common::*;
use serde_json::Value;

/// The row of a namespace. On the real server `-A` also shows the cluster's own `default`,
/// `kube-system`, ... next to the test's (`tN-default`, shown as `default`): rows are sorted by
/// the server's names, so the test's own is the last of the same name.
fn ns_row<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("namespace {name} in {doc:#}"))
}

fn workload<'a>(doc: &'a Value, ns: &str, name: &str) -> &'a Value {
    doc["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["namespace"] == ns && w["name"] == name)
        .unwrap_or_else(|| panic!("workload {ns}/{name} in {doc:#}"))
}

fn codes(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

const STRICT_NS: &str = r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {mtls: {mode: STRICT}}
"#;

on_both_backends! {
fn the_lab_starts_permissive_everywhere(backend) {
    let lab = backend.start(Scenario::lab());
    let run = lab.plugin(&["status", "-A", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["apiVersion"], "kubectl-mtls/v1");
    assert_eq!(doc["kind"], "MtlsStatus");
    assert_eq!(doc["rootNamespace"], "istio-system");
    assert_eq!(doc["mesh"]["mode"], "PERMISSIVE");
    assert_eq!(doc["mesh"]["policy"], Value::Null);
    let ns = ns_row(&doc, "istioinaction");
    assert_eq!(ns["mode"], "PERMISSIVE");
    assert_eq!(ns["policy"], Value::Null);
    assert_eq!(
        (ns["pods"].as_u64(), ns["meshedPods"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(ns["strictReady"], true);
    let def = ns_row(&doc, "default");
    assert_eq!(
        (def["pods"].as_u64(), def["meshedPods"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(def["strictReady"], false);
    assert_eq!(def["strictReadyReasons"][0], "1 pod outside mesh");
    assert_eq!(ns_row(&doc, "istio-system")["root"], true);
    let web = workload(&doc, "istioinaction", "web-api");
    assert_eq!(
        (web["kind"].as_str(), web["mesh"].as_str(), web["mode"].as_str()),
        (Some("Deployment"), Some("sidecar"), Some("PERMISSIVE"))
    );
    assert_eq!(workload(&doc, "default", "sleep")["mesh"], "none");
    assert!(doc["notes"][0].as_str().unwrap().contains("telemetry"));
}
}

on_both_backends! {
fn the_table_shows_modes_policies_and_readiness(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(STRICT_NS);
    let run = lab.plugin(&["status", "istioinaction", "default"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Mesh-wide default: PERMISSIVE"),
        "{}",
        run.stdout
    );
    let header = lines.iter().position(|l| l.starts_with("NAMESPACE")).unwrap();
    let cols: Vec<&str> = lines[header].split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "NAMESPACE",
            "MODE",
            "POLICY",
            "MESHED",
            "OVERRIDES",
            "STRICT-READY"
        ]
    );
    let row = lines.iter().find(|l| l.starts_with("istioinaction ")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..6],
        [
            "istioinaction",
            "STRICT",
            "istioinaction/default",
            "4/4",
            "-",
            "yes"
        ]
    );
    let row = lines.iter().find(|l| l.starts_with("default ")).unwrap();
    assert!(row.contains("no (1 pod outside mesh)"), "{row}");
    assert!(!run.stdout.contains('\u{1b}'), "no colour in a pipe");
    // --workloads adds a row per workload
    let run = lab.plugin(&["status", "istioinaction", "--workloads"]);
    assert!(run.stdout.contains("deployment/web-api"), "{}", run.stdout);
    assert!(
        run.stdout.lines().any(|l| l.starts_with("istioinaction")
            && l.contains("deployment/sleep")
            && l.contains("STRICT"))
    );
    // --color always colours the modes
    let run = lab.plugin(&["status", "istioinaction", "--color", "always"]);
    assert!(run.stdout.contains("\u{1b}["), "{}", run.stdout);
}
}

on_both_backends! {
fn without_a_namespace_the_contexts_namespace_is_shown(backend) {
    let lab = backend.start(Scenario::lab());
    let doc = lab.plugin(&["status", "-o", "json"]).json();
    let names: Vec<&str> = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["default"],
        "the kubeconfig's context namespace is default"
    );
    let doc = lab
        .plugin(&["status", "-n", "istioinaction", "-o", "json"])
        .json();
    assert_eq!(doc["namespaces"][0]["name"], "istioinaction");
}
}

on_both_backends! {
fn oldest_namespace_policy_wins_and_newer_ones_are_reported(backend) {
    let lab = backend.start(Scenario::lab());
    // A real server sets creationTimestamp itself (whole seconds): create the older one first.
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy, namespace: istioinaction, creationTimestamp: "2025-06-01T00:00:00Z"}
spec: {mtls: {mode: PERMISSIVE}}
"#,
    );
    if lab.is_real() {
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: selector-in-root, namespace: istio-system}
spec: {selector: {matchLabels: {app: web-api}}, mtls: {mode: DISABLE}}
"#,
    );
    let doc = lab.plugin(&["status", "istioinaction", "-o", "json"]).json();
    let ns = ns_row(&doc, "istioinaction");
    assert_eq!(ns["mode"], "PERMISSIVE", "the older 'legacy' policy decides");
    assert_eq!(ns["policy"], "istioinaction/legacy");
    let c = codes(&doc);
    assert!(c.contains(&"IgnoredNamespacePolicy".to_string()), "{c:?}");
    assert!(c.contains(&"RootSelectorPolicyIgnored".to_string()), "{c:?}");
    assert_eq!(
        workload(&doc, "istioinaction", "web-api")["mode"],
        "PERMISSIVE",
        "root selector policy ignored"
    );
}
}

on_both_backends! {
fn workload_and_port_level_settings_and_mesh_wide_policy(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: web-api, namespace: istioinaction}
spec:
  selector: {matchLabels: {app: web-api}}
  mtls: {mode: UNSET}
  portLevelMtls:
    "8080": {mode: PERMISSIVE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: history, namespace: istioinaction}
spec:
  selector: {matchLabels: {app: history}}
  mtls: {mode: DISABLE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: nobody, namespace: istioinaction}
spec:
  selector: {matchLabels: {app: does-not-exist}}
  mtls: {mode: STRICT}
"#,
    );
    let doc = lab.plugin(&["status", "-A", "-o", "json"]).json();
    assert_eq!(doc["mesh"]["mode"], "STRICT");
    assert_eq!(doc["mesh"]["policy"], "istio-system/default");
    let ns = ns_row(&doc, "istioinaction");
    assert_eq!(
        (ns["mode"].as_str(), ns["level"].as_str()),
        (Some("STRICT"), Some("mesh"))
    );
    let web = workload(&doc, "istioinaction", "web-api");
    assert_eq!(web["mode"], "STRICT", "UNSET inherits the mesh-wide STRICT");
    assert_eq!(web["ports"]["8080"], "PERMISSIVE");
    let history = workload(&doc, "istioinaction", "history");
    assert_eq!(
        (history["mode"].as_str(), history["policy"].as_str()),
        (Some("DISABLE"), Some("istioinaction/history"))
    );
    let c = codes(&doc);
    for expected in [
        "SelectorMatchesNoPod",
        "WorkloadDisableWithMtlsClients",
        "UnenforcedPods",
    ] {
        assert!(c.contains(&expected.to_string()), "{expected} missing from {c:?}");
    }
    let overrides = ns["workloadOverrides"].as_array().unwrap();
    assert_eq!(overrides.len(), 2, "{overrides:?}");
}
}

on_both_backends! {
fn destination_rule_disabling_tls_toward_strict_workloads_is_an_error(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(STRICT_NS);
    lab.put_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: history-plain, namespace: default}
spec:
  host: history.istioinaction.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
"#,
    );
    let doc = lab.plugin(&["status", "istioinaction", "-o", "json"]).json();
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "DestinationRuleDisablesTls")
        .unwrap();
    assert_eq!(f["severity"], "error");
    assert_eq!(f["object"], "DestinationRule default/history-plain");
    let ns = ns_row(&doc, "istioinaction");
    assert_eq!(ns["strictReady"], false);
    assert_eq!(ns["strictReadyReasons"][0], "DestinationRule disables TLS");
    let table = lab.plugin(&["status", "istioinaction"]);
    assert!(
        table.stdout.contains("no (DestinationRule disables TLS)"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("DestinationRuleDisablesTls"),
        "{}",
        table.stdout
    );
}
}

on_both_backends! {
fn require_exits_one_listing_what_is_weaker(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(STRICT_NS);
    let ok = lab.plugin(&["status", "istioinaction", "--require", "strict"]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("require STRICT: satisfied"), "{}", ok.stdout);
    let bad = lab.plugin(&["status", "istioinaction", "default", "--require", "strict"]);
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(
        bad.stdout.contains("deployment/sleep") && bad.stdout.contains("outside mesh"),
        "{}",
        bad.stdout
    );
    // machine output stays parseable; the listing goes to stderr
    let json = lab.plugin(&[
        "status",
        "istioinaction",
        "default",
        "--require",
        "strict",
        "-o",
        "json",
    ]);
    assert_eq!(json.code, 1);
    let doc = json.json();
    assert_eq!(doc["require"]["satisfied"], false);
    assert_eq!(doc["require"]["violations"][0]["namespace"], "default");
    assert!(json.stderr.contains("require STRICT"), "{}", json.stderr);
    // PERMISSIVE is satisfied by STRICT and PERMISSIVE workloads, not by pods outside the mesh
    assert_eq!(
        lab.plugin(&["status", "istioinaction", "--require", "permissive"])
            .code,
        0
    );
    assert_eq!(
        lab.plugin(&["status", "default", "--require", "permissive"]).code,
        1
    );
}
}

on_both_backends! {
fn yaml_output_is_the_same_document(backend) {
    let lab = backend.start(Scenario::lab());
    let json = lab.plugin(&["status", "-A", "-o", "json"]).json();
    let yaml = lab.plugin(&["status", "-A", "-o", "yaml"]);
    assert_eq!(yaml.code, 0, "{}", yaml.stderr);
    let from_yaml: Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    assert_eq!(from_yaml["namespaces"], json["namespaces"]);
    assert_eq!(from_yaml["rootNamespace"], json["rootNamespace"]);
}
}

/// Pods are listed metadata-only, 500 a page, with a fixed number of requests whatever the
/// number of namespaces. (kube-sim only: asserts on its request log.)
#[test]
fn a_fixed_number_of_requests_with_metadata_only_pages() {
    fn counts(namespaces: usize, pods: usize) -> (usize, usize, Vec<RequestRecord>) {
        let lab = Lab::start(Scenario::scale(namespaces, pods, 7));
        lab.sim().clear_requests();
        let run = lab.plugin(&["status", "-A", "-o", "json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let doc = run.json();
        let listed: u64 = doc["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["pods"].as_u64().unwrap())
            .sum();
        assert_eq!(
            listed as usize,
            lab.sim().cluster().count("v1", "Pod"),
            "every pod is counted"
        );
        let reqs = lab.requests();
        // Looking for Istio's Prometheus (telemetry auto) is one more fixed list of pods, by label.
        let pod_pages = reqs
            .iter()
            .filter(|r| r.resource == "pods" && r.query_param("labelSelector").is_none())
            .count();
        (reqs.len() - pod_pages, pod_pages, reqs)
    }
    let (small_other, small_pages, _) = counts(5, 300);
    let (big_other, big_pages, reqs) = counts(60, 1_600);
    assert_eq!(
        small_other, big_other,
        "requests other than pod pages do not grow with namespaces"
    );
    assert_eq!(small_pages, 1);
    assert_eq!(big_pages, 4, "1,600 pods in pages of 500");
    for r in reqs
        .iter()
        .filter(|r| r.resource == "pods" && r.query_param("labelSelector").is_none())
    {
        assert_eq!(r.verb, "list");
        assert_eq!(r.query_param("limit").as_deref(), Some("500"));
        assert!(
            r.accept.contains("as=PartialObjectMetadataList"),
            "metadata only: {}",
            r.accept
        );
    }
    assert!(
        reqs.iter().all(|r| r.verb == "list" || r.verb == "get"),
        "status only reads"
    );
    assert!(
        reqs.iter()
            .all(|r| r.namespace.is_empty() || r.namespace == "istio-system"),
        "no per-namespace request"
    );
}

on_both_backends! {
fn forbidden_reads_give_a_partial_answer_with_warnings(backend) {
    let viewer = User::new("viewer", "viewer-token")
        .allow(
            Rule::new(&["get", "list"], &["pods", "services", "namespaces"])
                .in_namespaces(&["istioinaction"]),
        )
        .allow(Rule::new(&["get"], &["namespaces"]))
        .allow(Rule::new(&["get", "list"], &["peerauthentications"]));
    let lab = backend.start(Scenario::lab().user(viewer));
    lab.put_yaml(STRICT_NS);
    // -A needs cluster-wide lists: a clear error that suggests naming namespaces
    let all = lab.plugin_as("viewer", &["status", "-A"]);
    assert_eq!(all.code, 1);
    assert!(
        all.stderr.starts_with("error: namespaces is forbidden"),
        "{}",
        all.stderr
    );
    assert!(all.stderr.contains("name the namespaces"), "{}", all.stderr);
    assert_eq!(all.stderr.lines().count(), 1, "one line: {}", all.stderr);
    // one namespace: answered, with the mesh config and DestinationRules named as gaps
    let run = lab.plugin_as("viewer", &["status", "istioinaction", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(ns_row(&doc, "istioinaction")["mode"], "STRICT");
    // The mesh config is forbidden: the root namespace, so the mesh-wide level, is unknown
    // (never Istio's default); said once, as a gap.
    assert!(
        run.stderr
            .contains("could not read the mesh config istio-system/istio: ")
            && run.stderr.contains("the root namespace is unknown"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("assuming the root namespace"), "{}", run.stderr);
    assert!(doc["mesh"]["mode"].is_null(), "{}", doc["mesh"]);
    assert!(
        run.stderr.contains("could not read destinationrules"),
        "{}",
        run.stderr
    );
    let gaps: Vec<&str> = doc["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["what"].as_str().unwrap())
        .collect();
    assert!(gaps.iter().any(|g| g.starts_with("destinationrules")), "{gaps:?}");
    // a namespace whose pods cannot be listed: modes shown, membership marked unknown
    let run = lab.plugin_as("viewer", &["status", "default", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // default has no policy of its own: the unknown mesh-wide level decides it, so unknown.
    assert!(ns_row(&run.json(), "default")["mode"].is_null(), "{}", run.stdout);
    let require = lab.plugin_as("viewer", &["status", "default", "--require", "permissive"]);
    assert_eq!(require.code, 1, "{}", require.stderr);
    assert!(require.stderr.contains("cannot be verified"), "{}", require.stderr);
    assert!(
        run.stderr
            .contains("could not read pods in namespace \"default\""),
        "{}",
        run.stderr
    );
}
}

/// kube-sim only: the real control plane of this binary serves Istio's CRDs to every test.
#[test]
fn clusters_without_istio_get_a_clear_error() {
    let lab = Lab::start(Scenario::lab().istio(IstioApi::None));
    let run = lab.plugin(&["status", "-A"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.trim(),
        "error: PeerAuthentication is not served by this cluster; is Istio installed?"
    );
    assert!(run.stdout.is_empty());
}

/// kube-sim only: needs CRDs serving only v1beta1, and asserts on the request log.
#[test]
fn older_istio_serving_only_v1beta1_works() {
    let lab = Lab::start(Scenario::lab().istio(IstioApi::V1beta1Only));
    lab.put_yaml(&STRICT_NS.replace("security.istio.io/v1", "security.istio.io/v1beta1"));
    lab.sim().clear_requests();
    let doc = lab.plugin(&["status", "istioinaction", "-o", "json"]).json();
    assert_eq!(ns_row(&doc, "istioinaction")["mode"], "STRICT");
    let pa = lab
        .requests()
        .into_iter()
        .find(|r| r.resource == "peerauthentications")
        .unwrap();
    assert!(pa.path.contains("/v1beta1/"), "{}", pa.path);
}

on_both_backends! {
fn a_missing_mesh_config_falls_back_to_the_istio_namespace(backend) {
    let lab = backend.start(Scenario::lab());
    assert!(
        lab.delete("v1", "ConfigMap", "istio-system", "istio"),
        "lab has the mesh config"
    );
    let run = lab.plugin(&["status", "istioinaction", "-o", "json"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr
            .contains("does not exist; assuming the root namespace is the Istio namespace"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["rootNamespace"], "istio-system");
}
}

on_both_backends! {
fn a_custom_root_namespace_comes_from_the_mesh_config(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: mesh-root}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    rootNamespace: mesh-root
    trustDomain: cluster.local
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mesh, namespace: mesh-root}
spec: {mtls: {mode: STRICT}}
"#,
    );
    let doc = lab.plugin(&["status", "istioinaction", "-o", "json"]).json();
    assert_eq!(doc["rootNamespace"], "mesh-root");
    assert_eq!(doc["mesh"]["policy"], "mesh-root/mesh");
    assert_eq!(ns_row(&doc, "istioinaction")["mode"], "STRICT");
}
}

on_both_backends! {
fn bad_namespaces_are_usage_or_not_found_errors(backend) {
    let lab = backend.start(Scenario::lab());
    let run = lab.plugin(&["status", "Not_A_Namespace"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("error: invalid namespace name"),
        "{}",
        run.stderr
    );
    let run = lab.plugin(&["status", "nope"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.trim(), "error: namespaces \"nope\" not found");
    let run = lab.plugin(&["status", "-A", "istioinaction"]);
    assert_eq!(run.code, 2);
}
}

on_both_backends! {
fn a_label_selector_limits_the_pods(backend) {
    let lab = backend.start(Scenario::lab());
    if !lab.is_real() {
        lab.sim().clear_requests();
    }
    let doc = lab
        .plugin(&["status", "istioinaction", "-l", "app=web-api", "-o", "json"])
        .json();
    let ns = ns_row(&doc, "istioinaction");
    assert_eq!(
        (ns["pods"].as_u64(), ns["meshedPods"].as_u64()),
        (Some(1), Some(1))
    );
    let names: Vec<&str> = doc["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-api"]);
    if lab.is_real() {
        return; // the request log is kube-sim's
    }
    let pods = lab.requests().into_iter().find(|r| r.resource == "pods").unwrap();
    assert_eq!(
        pods.query_param("labelSelector").as_deref(),
        Some("app=web-api"),
        "filtered by the server"
    );
}
}

/// A newer Istio may add mode values: with a CRD that allows one, the policy is stored, and
/// status reports it as a finding (treated as UNSET) instead of failing. (kube-sim only: it
/// changes a cluster-wide CRD, which on the real server every test of the binary shares.)
#[test]
fn unknown_mode_values_from_a_newer_istio_are_findings_not_crashes() {
    let lab = Lab::start(Scenario::lab());
    let cluster = lab.sim().cluster();
    let crd_name = "peerauthentications.security.istio.io";
    let mut crd = cluster
        .get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            crd_name,
        )
        .expect("the CRD");
    for version in crd["spec"]["versions"].as_array_mut().unwrap() {
        let mode = &mut version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["mtls"]["properties"]
            ["mode"]["enum"];
        mode.as_array_mut()
            .expect("mode enum")
            .push("QUANTUM_SAFE".into());
    }
    cluster.put(crd).expect("newer CRD");
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: future, namespace: istioinaction}
spec: {mtls: {mode: QUANTUM_SAFE}}
"#,
    );
    let run = lab.plugin(&["status", "istioinaction", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    let c = codes(&doc);
    assert!(c.contains(&"UnknownMode".to_string()), "{c:?}");
    assert_eq!(
        ns_row(&doc, "istioinaction")["mode"],
        "PERMISSIVE",
        "an unknown value inherits"
    );
}
