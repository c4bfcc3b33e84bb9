//! `kubectl mtls probe` end to end: the built binary against the simulated lab (kube-sim),
//! with exec answered by scripted handlers.

mod common;
mod probe_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube_sim::{ExecResponse, ExecRule, Rule, Scenario, User};
use probe_support::*;

const TARGET: &str = "web-api.istioinaction:8080";

fn strict_lab() -> Lab {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    lab.put_yaml(&peer_authentication("istioinaction", "default", "STRICT", None));
    lab
}

fn result_for<'a>(doc: &'a serde_json::Value, pod: &str) -> &'a serde_json::Value {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["pod"] == pod)
        .unwrap_or_else(|| panic!("no result for {pod} in {doc:#}"))
}

#[test]
fn the_labs_two_curls_under_strict_pass_with_auto_picked_clients() {
    let lab = strict_lab();
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(run.code, 0, "{run:#?}");
    let out = &run.stdout;
    assert!(
        out.contains("Probing http://web-api.istioinaction:8080/ (service istioinaction/web-api port 8080 -> target port 8080)"),
        "{out}"
    );
    assert!(
        out.contains("Policy on port 8080: STRICT (namespace istioinaction/default)"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "Clients picked automatically (choose with --from): istioinaction/{MESH_SLEEP} (in the mesh), default/{PLAIN_SLEEP} (outside the mesh)"
        )),
        "{out}"
    );
    let mesh_row = out
        .lines()
        .find(|l| l.starts_with(&format!("istioinaction/{MESH_SLEEP}")))
        .expect("row of the meshed client");
    assert!(
        mesh_row.contains("sidecar") && mesh_row.contains("accepted (HTTP 200)") && mesh_row.contains("pass"),
        "{mesh_row}"
    );
    let plain_row = out
        .lines()
        .find(|l| l.starts_with(&format!("default/{PLAIN_SLEEP}")))
        .expect("row of the plain client");
    assert!(
        plain_row.contains("none")
            && plain_row.contains("rejected (connection reset by peer, curl exit 56)")
            && plain_row.contains("pass"),
        "{plain_row}"
    );
    // curl ran as an argv in the application container, never in istio-proxy
    let execs = lab.execs();
    assert_eq!(execs.len(), 2, "{execs:?}");
    for (_, _, container, argv) in &execs {
        assert_eq!(container, "sleep");
        assert_eq!(
            argv,
            &[
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
                "http://web-api.istioinaction:8080/"
            ]
        );
    }
}

#[test]
fn json_output_has_expectation_observation_and_verdict() {
    let lab = strict_lab();
    let run = lab.plugin(&[
        "probe",
        "http://web-api.istioinaction:8080/health",
        "-o",
        "json",
        "--timeout",
        "3s",
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["target"]["url"], "http://web-api.istioinaction:8080/health");
    assert_eq!(doc["enforcement"][0]["mode"], "STRICT");
    assert_eq!(doc["enforcement"][0]["pods"][0], WEB_API_POD);
    let plain = result_for(&doc, PLAIN_SLEEP);
    assert_eq!(plain["expected"], "reject");
    assert_eq!(plain["observed"]["result"], "rejected");
    assert_eq!(plain["verdict"], "pass");
    assert_eq!(plain["chosen"], "auto");
    assert_eq!(plain["mesh"], "none");
    assert_eq!(plain["exitCode"], 56);
    let mesh = result_for(&doc, MESH_SLEEP);
    assert_eq!(
        mesh["observed"],
        serde_json::json!({"result": "accepted", "status": 200})
    );
    assert_eq!(mesh["mesh"], "sidecar");
    assert!(lab.execs().iter().all(|e| e.3.contains(&"3".to_string())));
}

#[test]
fn plaintext_accepted_under_strict_is_a_loud_security_finding() {
    // A mesh that does not enforce: every request gets 200.
    let lab = Lab::start(Scenario::lab().exec_rule(ExecRule {
        prefix: true,
        ..ExecRule::new(["curl"], "200")
    }));
    lab.put_yaml(&peer_authentication("istio-system", "default", "STRICT", None));
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "SECURITY: plaintext from default/{PLAIN_SLEEP} (outside the mesh) was ACCEPTED by web-api.istioinaction:8080 where STRICT is in force"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("SECURITY: plaintext accepted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("STRICT (mesh istio-system/default)"),
        "{}",
        run.stdout
    );
    let doc = lab.plugin(&["probe", TARGET, "-o", "json"]).json();
    assert_eq!(result_for(&doc, PLAIN_SLEEP)["verdict"], "plaintextAccepted");
    assert_eq!(result_for(&doc, MESH_SLEEP)["verdict"], "pass");
    assert_eq!(doc["ok"], false);
}

#[test]
fn permissive_expects_both_accepted_and_a_rejection_is_a_mismatch() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stdout.contains("PERMISSIVE (istio default)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("accepted (HTTP 200)").count(),
        2,
        "{}",
        run.stdout
    );

    // The same cluster, but the server resets everything: reality differs from the policy.
    let lab = Lab::start(
        Scenario::lab()
            .exec_handler(|req, _| (req.command.first().map(String::as_str) == Some("curl")).then(reset)),
    );
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stdout.matches("MISMATCH").count(), 2, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("the policy predicts acceptance but the request was rejected"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_curl_outcome_gets_its_own_words_and_verdict() {
    let cases: &[(i32, &str, &str, &str, &str)] = &[
        (
            56,
            "curl: (56) Recv failure: Connection reset by peer",
            "rejected",
            "connection reset by peer",
            "pass",
        ),
        (
            52,
            "curl: (52) Empty reply from server",
            "rejected",
            "empty reply from server",
            "pass",
        ),
        (
            35,
            "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL",
            "rejected",
            "TLS handshake failed",
            "pass",
        ),
        (
            7,
            "curl: (7) Failed to connect to web-api.istioinaction port 8080",
            "refused",
            "connection refused",
            "inconclusive",
        ),
        (
            28,
            "curl: (28) Connection timed out after 5001 milliseconds",
            "timeout",
            "timed out",
            "inconclusive",
        ),
        (
            6,
            "curl: (6) Could not resolve host: web-api.istioinaction",
            "dns",
            "host not found (DNS)",
            "inconclusive",
        ),
    ];
    for (exit, stderr, result, words, verdict) in cases {
        let lab = Lab::start(Scenario::lab().exec_rule(ExecRule {
            prefix: true,
            stdout: "000".into(),
            stderr: format!("{stderr}\n"),
            exit_code: *exit,
            ..ExecRule::new(["curl"], "")
        }));
        lab.put_yaml(&peer_authentication("istioinaction", "default", "STRICT", None));
        let args = [
            "probe",
            TARGET,
            "--from",
            PLAIN_SLEEP,
            "--from-namespace",
            "default",
        ];
        let run = lab.plugin(&args);
        assert_eq!(
            run.code,
            if *verdict == "pass" { 0 } else { 1 },
            "exit {exit}: {run:#?}"
        );
        assert!(run.stdout.contains(words), "exit {exit}: {}", run.stdout);
        let mut json_args = args.to_vec();
        json_args.extend(["-o", "json"]);
        let doc = lab.plugin(&json_args).json();
        let r = result_for(&doc, PLAIN_SLEEP);
        assert_eq!(r["observed"]["result"], *result, "exit {exit}: {r:#}");
        assert_eq!(r["verdict"], *verdict, "exit {exit}");
        assert_eq!(r["chosen"], "from");
        if *verdict == "inconclusive" {
            assert!(run.stderr.contains("inconclusive"), "{}", run.stderr);
        }
    }
}

#[test]
fn workload_level_disable_rejects_meshed_clients_namespace_level_does_not() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    lab.put_yaml(&peer_authentication(
        "istioinaction",
        "web-api-plain",
        "DISABLE",
        Some(("app", "web-api")),
    ));
    let doc = lab.plugin(&["probe", TARGET, "-o", "json"]).json();
    assert_eq!(doc["enforcement"][0]["mode"], "DISABLE");
    assert_eq!(doc["enforcement"][0]["workloadLevel"], true);
    let mesh = result_for(&doc, MESH_SLEEP);
    assert_eq!(mesh["expected"], "reject", "{mesh:#}");
    assert_eq!(
        mesh["observed"]["result"], "rejected",
        "the sidecar's 503: {mesh:#}"
    );
    assert_eq!(mesh["verdict"], "pass");
    assert_eq!(result_for(&doc, PLAIN_SLEEP)["expected"], "accept");
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "WorkloadDisableWithMtlsClients"),
        "{doc:#}"
    );

    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    lab.put_yaml(&peer_authentication("istioinaction", "default", "DISABLE", None));
    let run = lab.plugin(&["probe", TARGET, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    assert_eq!(doc["enforcement"][0]["workloadLevel"], false);
    let mesh = result_for(&doc, MESH_SLEEP);
    assert_eq!(mesh["expected"], "accept");
    assert_eq!(mesh["clientTls"]["plaintext"], true, "{mesh:#}");

    // A workload that asks for STRICT inside a DISABLE namespace: meshed clients still send
    // plaintext (automatic mTLS only sees the namespace level) and are rejected.
    lab.put_yaml(&peer_authentication(
        "istioinaction",
        "web-api-strict",
        "STRICT",
        Some(("app", "web-api")),
    ));
    let run = lab.plugin(&["probe", TARGET, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    assert_eq!(doc["enforcement"][0]["mode"], "STRICT");
    let mesh = result_for(&doc, MESH_SLEEP);
    assert_eq!(mesh["expected"], "reject", "{mesh:#}");
    assert_eq!(mesh["observed"]["result"], "rejected", "{mesh:#}");
    assert_eq!(result_for(&doc, PLAIN_SLEEP)["expected"], "reject");
}

#[test]
fn a_destination_rule_that_disables_tls_makes_meshed_clients_plaintext() {
    let lab = strict_lab();
    lab.put_yaml(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: web-api-plain\n  namespace: istioinaction\nspec:\n  host: web-api.istioinaction.svc.cluster.local\n  trafficPolicy:\n    tls:\n      mode: DISABLE\n",
    );
    let run = lab.plugin(&["probe", TARGET, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    let mesh = result_for(&doc, MESH_SLEEP);
    assert_eq!(mesh["expected"], "reject", "{mesh:#}");
    assert_eq!(mesh["clientTls"]["plaintext"], true);
    assert!(
        mesh["reason"]
            .as_str()
            .unwrap()
            .starts_with("DestinationRule istioinaction/web-api-plain sets tls.mode DISABLE"),
        "{mesh:#}"
    );
    assert_eq!(mesh["observed"]["result"], "rejected");
    assert_eq!(mesh["verdict"], "pass");
    assert!(
        run.stderr.contains(
            "finding: error DestinationRuleDisablesTls DestinationRule istioinaction/web-api-plain"
        ),
        "{}",
        run.stderr
    );
    // The probe passed: no line says `error:` (that prefix is for why a command failed).
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("error:")),
        "{}",
        run.stderr
    );
}

#[test]
fn pods_that_disagree_make_the_expectation_either() {
    let lab = strict_lab();
    lab.put_yaml(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-api-v2\n  namespace: istioinaction\n  labels:\n    app: web-api\n    version: v2\nspec:\n  serviceAccountName: web-api\n  containers:\n  - name: web-api\n    image: web-api:2\n",
    );
    lab.put_yaml(&peer_authentication(
        "istioinaction",
        "v2-plain",
        "DISABLE",
        Some(("version", "v2")),
    ));
    let run = lab.plugin(&["probe", TARGET, "-o", "json"]);
    assert_eq!(run.code, 1, "{run:#?}");
    let doc = run.json();
    let modes: Vec<&str> = doc["enforcement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes.len(), 2, "{doc:#}");
    assert!(
        modes.contains(&"STRICT") && modes.contains(&"DISABLE"),
        "{modes:?}"
    );
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["expected"], serde_json::Value::Null, "{r:#}");
        assert_eq!(r["verdict"], "inconclusive", "{r:#}");
    }
    assert!(
        run.stderr.contains("enforce different modes on port 8080"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("SECURITY"), "{}", run.stderr);
}

#[test]
fn port_level_settings_decide_the_expectation() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    lab.put_yaml(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: web-api-ports\n  namespace: istioinaction\nspec:\n  selector:\n    matchLabels:\n      app: web-api\n  mtls:\n    mode: STRICT\n  portLevelMtls:\n    8080:\n      mode: PERMISSIVE\n",
    );
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stdout
            .contains("Policy on port 8080: PERMISSIVE (port istioinaction/web-api-ports)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_port_excluded_from_interception_is_not_enforced() {
    let lab = strict_lab();
    let mut pod = lab
        .sim()
        .cluster()
        .get("v1", "Pod", "istioinaction", WEB_API_POD)
        .expect("web-api pod");
    pod["metadata"]["annotations"]["traffic.sidecar.istio.io/excludeInboundPorts"] = "8080".into();
    lab.sim().cluster().put(pod).expect("update pod");
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stdout.contains("Policy on port 8080: STRICT (namespace istioinaction/default) (port excluded from interception: not enforced)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("accepted (HTTP 200)").count(),
        2,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("the port is excluded from the sidecar's interception"),
        "{}",
        run.stdout
    );
}

#[test]
fn ambient_targets_do_not_honour_disable() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    lab.put_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: amb\n  labels:\n    istio.io/dataplane-mode: ambient\n");
    lab.put_yaml("apiVersion: v1\nkind: Service\nmetadata:\n  name: echo\n  namespace: amb\nspec:\n  selector:\n    app: echo\n  ports:\n  - port: 80\n    targetPort: 8080\n");
    lab.put_yaml("apiVersion: v1\nkind: Pod\nmetadata:\n  name: echo-1\n  namespace: amb\n  labels:\n    app: echo\n  annotations:\n    ambient.istio.io/redirection: enabled\nspec:\n  containers:\n  - name: echo\n    image: echo\n");
    lab.put_yaml(&peer_authentication(
        "amb",
        "echo-plain",
        "DISABLE",
        Some(("app", "echo")),
    ));
    let run = lab.plugin(&["probe", "echo.amb:80", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    assert_eq!(doc["enforcement"][0]["mode"], "PERMISSIVE", "{doc:#}");
    assert!(
        doc["enforcement"][0]["source"]
            .as_str()
            .unwrap()
            .contains("DISABLE is not supported in ambient mode"),
        "{doc:#}"
    );
    assert_eq!(result_for(&doc, MESH_SLEEP)["expected"], "accept");
}

#[test]
fn named_target_ports_resolve_through_the_pod() {
    let lab = strict_lab();
    lab.put_yaml("apiVersion: v1\nkind: Service\nmetadata:\n  name: web-named\n  namespace: istioinaction\nspec:\n  selector:\n    app: web-api\n  ports:\n  - name: http\n    port: 80\n    targetPort: http\n");
    let run = lab.plugin(&["probe", "web-named.istioinaction"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stdout.starts_with(
            "Probing http://web-named.istioinaction:80/ (service istioinaction/web-named port 80 -> target port 8080)\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn wget_is_the_fallback_and_neither_is_said_clearly() {
    let lab = Lab::start(Scenario::lab().exec_rule(ExecRule {
        prefix: true,
        stderr: "  HTTP/1.1 200 OK\n  content-type: text/plain\n".into(),
        ..ExecRule::new(["wget"], "")
    }));
    let run = lab.plugin(&["probe", TARGET, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["tool"], "wget", "{r:#}");
        assert_eq!(r["command"][0], "wget");
        assert_eq!(r["observed"]["status"], 200);
    }
    let argv0: Vec<String> = lab.execs().into_iter().map(|e| e.3[0].clone()).collect();
    assert_eq!(argv0, ["curl", "wget", "curl", "wget"]);

    // No tool at all: every command is "not found".
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout.contains("no curl or wget in the client container"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!(
            "inconclusive: neither curl nor wget runs in container sleep of default/{PLAIN_SLEEP}"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_user_without_pods_exec_is_told_which_permission_is_missing() {
    let reader = User::new("reader", "reader-token").allow(Rule::new(&["get", "list", "watch"], &["*"]));
    let lab = Lab::start(Scenario::lab().user(reader).exec_handler(mesh_handler));
    let run = lab.plugin_as("reader", &["probe", TARGET]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("`create` permission on `pods/exec`")
            && run.stderr.contains("kubectl auth can-i create pods/exec -n"),
        "{}",
        run.stderr
    );
    let refused: Vec<(String, u16)> = lab
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.subresource == "exec")
        .map(|r| (r.user.clone(), r.status))
        .collect();
    assert_eq!(refused, [("reader".to_string(), 403)]);
}

#[test]
fn missing_targets_and_bad_input_get_clear_errors() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    let run = lab.plugin(&["probe", "nope.istioinaction:8080"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("service \"nope\" not found in namespace \"istioinaction\""),
        "{}",
        run.stderr
    );
    let run = lab.plugin(&["probe", "web-api.istioinaction:9999"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("has no port 9999 (ports: 8080)"),
        "{}",
        run.stderr
    );
    let run = lab.plugin(&["probe", "https://web-api.istioinaction:8080/"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("use http://"), "{}", run.stderr);
    let run = lab.plugin(&["probe", TARGET, "--from", "svc/x"]);
    assert_eq!(run.code, 2, "{run:#?}");
}

#[test]
fn from_accepts_deployments_and_without_an_outside_client_says_so() {
    let lab = strict_lab();
    let run = lab.plugin(&["probe", TARGET, "--from", "deploy/sleep", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    assert_eq!(doc["results"].as_array().unwrap().len(), 1);
    assert_eq!(doc["results"][0]["pod"], MESH_SLEEP);

    // Without the un-meshed sleep in default, only the meshed client is probed.
    lab.sim().cluster().delete("v1", "Pod", "default", PLAIN_SLEEP);
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stderr
            .contains("no running client pod outside the mesh found"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_target_outside_the_mesh_accepts_everyone_and_no_client_is_an_error() {
    let lab = strict_lab();
    lab.put_yaml(&peer_authentication("default", "default", "STRICT", None));
    // default/sleep has no sidecar: STRICT in its namespace protects nothing.
    let run = lab.plugin(&["probe", "sleep.default:80"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stdout.contains(&format!(
            "Policy on port 80: STRICT (namespace default/default) (not in the mesh: nothing enforces it) for pod {PLAIN_SLEEP}"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("the target pods have no sidecar or ztunnel: nothing enforces the policy"),
        "{}",
        run.stdout
    );
    // the meshed sleep was found cluster-wide; no other pod outside the mesh looks like a client
    assert!(
        run.stdout.contains(&format!("istioinaction/{MESH_SLEEP}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("no running client pod outside the mesh found"),
        "{}",
        run.stderr
    );

    lab.sim()
        .cluster()
        .delete("v1", "Pod", "istioinaction", MESH_SLEEP);
    let run = lab.plugin(&["probe", "sleep.default:80", "--from-namespace", "default"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr
            .contains("error: no client pod to probe from: use --from POD or --create-clients"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------
// Created clients

#[test]
fn created_clients_are_probed_then_deleted() {
    let lab = strict_lab();
    let run = lab.plugin(&["probe", TARGET, "--create-clients", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let mesh = results
        .iter()
        .find(|r| r["mesh"] == "sidecar")
        .expect("meshed client");
    let plain = results
        .iter()
        .find(|r| r["mesh"] == "none")
        .expect("plain client");
    assert!(mesh["pod"].as_str().unwrap().starts_with("mtls-probe-mesh-"));
    assert!(plain["pod"].as_str().unwrap().starts_with("mtls-probe-plain-"));
    assert_eq!(mesh["namespace"], "istioinaction");
    assert_eq!(mesh["chosen"], "created");
    assert_eq!(mesh["container"], "client");
    assert_eq!(plain["verdict"], "pass");
    assert!(
        lab.pods_named("mtls-probe-").is_empty(),
        "client pods left behind"
    );
    let writes: Vec<(String, String, u16)> = lab
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.resource == "pods" && r.is_persisted_write())
        .map(|r| (r.verb.clone(), r.namespace.clone(), r.status))
        .collect();
    assert_eq!(writes.iter().filter(|w| w.0 == "create").count(), 2, "{writes:?}");
    assert_eq!(writes.iter().filter(|w| w.0 == "delete").count(), 2, "{writes:?}");
    assert!(run.stderr.contains("deleted client pods"), "{}", run.stderr);
}

#[test]
fn a_created_mesh_client_without_sidecar_is_reported() {
    let lab = strict_lab();
    lab.put_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: legacy\n  labels:\n    istio-injection: disabled\n");
    let run = lab.plugin(&[
        "probe",
        TARGET,
        "--create-clients",
        "--from-namespace",
        "legacy",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stderr
            .contains("was created with sidecar.istio.io/inject=true but got no sidecar"),
        "{}",
        run.stderr
    );
    let doc = run.json();
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["mesh"], "none", "{r:#}");
        assert_eq!(r["expected"], "reject");
        assert_eq!(r["namespace"], "legacy");
    }
    assert!(lab.pods_named("mtls-probe-").is_empty());
}

#[test]
fn created_clients_are_deleted_when_probing_fails() {
    // May create and delete pods but not exec into them.
    let user = User::new("creator", "creator-token")
        .allow(Rule::new(&["get", "list", "watch"], &["*"]))
        .allow(Rule::new(&["create", "delete"], &["pods"]).in_namespaces(&["default"]));
    let lab = Lab::start(Scenario::lab().user(user).exec_handler(mesh_handler));
    lab.put_yaml(&peer_authentication("istioinaction", "default", "STRICT", None));
    let run = lab.plugin_as(
        "creator",
        &["probe", TARGET, "--create-clients", "--from-namespace", "default"],
    );
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("`pods/exec`"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("deleted client pods default/mtls-probe-mesh-"),
        "{}",
        run.stderr
    );
    assert!(
        lab.pods_named("mtls-probe-").is_empty(),
        "client pods left behind"
    );
}

#[test]
fn created_clients_are_deleted_on_ctrl_c() {
    let release = Arc::new(AtomicBool::new(false));
    let gate = release.clone();
    // The probe hangs until the test lets it go: the command is interrupted mid-probe.
    let lab = Lab::start(Scenario::lab().exec_handler(move |req, _| {
        if req.pod.starts_with("mtls-probe-") {
            let start = Instant::now();
            while !gate.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(ExecResponse::ok("200"))
    }));
    let child = lab.spawn(&["probe", TARGET, "--create-clients"]);
    let start = Instant::now();
    while lab.execs().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the probe never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        lab.pods_named("mtls-probe-").len(),
        2,
        "both clients exist while probing"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    release.store(true, Ordering::SeqCst);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        lab.pods_named("mtls-probe-").is_empty(),
        "client pods left behind: {stderr}"
    );
    let deletes = lab
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.resource == "pods" && r.verb == "delete" && r.status < 300)
        .count();
    assert_eq!(deletes, 2);
}

// ---------------------------------------------------------------------------------------------
// Certificates

fn certs_lab(dump: String) -> Lab {
    Lab::start(Scenario::lab().exec_rule(ExecRule {
        container: Some("istio-proxy".into()),
        ..ExecRule::new(PILOT_AGENT_ARGV, dump)
    }))
}

#[test]
fn a_valid_workload_certificate_is_shown_and_passes() {
    let root = ca("cluster.local");
    let chain = workload_cert(&root, WEB_API_ID, now() - 3600);
    let lab = certs_lab(secrets_dump(&chain, &root.pem));
    let run = lab.plugin(&["probe", "--certs", "deploy/web-api", "-n", "istioinaction"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let out = &run.stdout;
    assert!(
        out.contains(&format!(
            "Pod istioinaction/{WEB_API_POD} (service account web-api, sidecar)"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("Expected identity: {WEB_API_ID}")), "{out}");
    assert!(out.contains("Workload certificate\n  Serial:     "), "{out}");
    assert!(out.contains(&format!("  SPIFFE ID:  {WEB_API_ID}\n")), "{out}");
    assert!(out.contains("  Issuer:     O=cluster.local\n"), "{out}");
    assert!(out.contains("Root certificate (ROOTCA)\n"), "{out}");
    assert!(
        out.contains("  Remaining:  22h59m of 24h0m\n") || out.contains("  Remaining:  23h0m of 24h0m\n"),
        "{out}"
    );
    assert!(
        out.contains("  Used:       4% of its lifetime; Istio rotates at 50% ("),
        "{out}"
    );
    assert!(out.contains("Chain: verifies against the root (ROOTCA)"), "{out}");
    assert!(out.contains("Findings: none"), "{out}");
    let execs = lab.execs();
    assert_eq!(execs.len(), 1);
    assert_eq!(execs[0].2, "istio-proxy");
    assert_eq!(execs[0].3, PILOT_AGENT_ARGV);

    let doc = lab
        .plugin(&[
            "probe",
            "--certs",
            WEB_API_POD,
            "-n",
            "istioinaction",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(doc["expectedSpiffeId"], WEB_API_ID);
    assert_eq!(doc["certificates"]["leaf"]["spiffeId"], WEB_API_ID);
    assert_eq!(doc["certificates"]["chainVerifies"], true);
    assert_eq!(doc["certificates"]["lifetimeSeconds"], 86400);
    assert_eq!(doc["findings"], serde_json::json!([]));
}

#[test]
fn an_expired_certificate_is_an_error() {
    let root = ca("cluster.local");
    let chain = workload_cert(&root, WEB_API_ID, now() - 30 * 3600);
    let lab = certs_lab(secrets_dump(&chain, &root.pem));
    let run = lab.plugin(&["probe", "--certs", "deploy/web-api", "-n", "istioinaction"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout
            .contains("  Remaining:  expired 6h0m ago (lifetime 24h0m)")
            || run
                .stdout
                .contains("  Remaining:  expired 5h59m ago (lifetime 24h0m)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("error CertExpired: the certificate expired at"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_certificate_past_its_rotation_point_is_a_warning() {
    let root = ca("cluster.local");
    let chain = workload_cert(&root, WEB_API_ID, now() - 18 * 3600);
    let lab = certs_lab(secrets_dump(&chain, &root.pem));
    let run = lab.plugin(&["probe", "--certs", "deploy/web-api", "-n", "istioinaction"]);
    assert_eq!(run.code, 0, "a warning does not fail: {run:#?}");
    assert!(run.stdout.contains("warning RotationOverdue"), "{}", run.stdout);
}

#[test]
fn a_wrong_spiffe_id_is_an_error() {
    let root = ca("cluster.local");
    let chain = workload_cert(
        &root,
        "spiffe://cluster.local/ns/istioinaction/sa/default",
        now() - 600,
    );
    let lab = certs_lab(secrets_dump(&chain, &root.pem));
    let run = lab.plugin(&[
        "probe",
        "--certs",
        "deploy/web-api",
        "-n",
        "istioinaction",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:#?}");
    let doc = run.json();
    assert_eq!(doc["findings"][0]["code"], "SpiffeIdMismatch");
    assert!(
        doc["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains(WEB_API_ID),
        "{doc:#}"
    );
}

#[test]
fn the_trust_domain_comes_from_the_mesh_config() {
    let root = ca("cluster.local");
    let chain = workload_cert(&root, WEB_API_ID, now() - 600);
    let lab = certs_lab(secrets_dump(&chain, &root.pem));
    let mut cm = lab
        .sim()
        .cluster()
        .get("v1", "ConfigMap", "istio-system", "istio")
        .expect("mesh config");
    let mesh = cm["data"]["mesh"]
        .as_str()
        .unwrap()
        .replace("trustDomain: cluster.local", "trustDomain: corp.example");
    cm["data"]["mesh"] = mesh.into();
    lab.sim().cluster().put(cm).expect("update mesh config");
    let run = lab.plugin(&["probe", "--certs", "deploy/web-api", "-n", "istioinaction"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout
            .contains("Expected identity: spiffe://corp.example/ns/istioinaction/sa/web-api"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("error SpiffeIdMismatch"), "{}", run.stdout);
}

#[test]
fn a_chain_that_does_not_verify_is_an_error() {
    let root = ca("cluster.local");
    let rogue = ca("rogue");
    let chain = workload_cert(&rogue, WEB_API_ID, now() - 600);
    let lab = certs_lab(secrets_dump(&chain, &root.pem));
    let run = lab.plugin(&["probe", "--certs", "deploy/web-api", "-n", "istioinaction"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.contains("Chain: does NOT verify"), "{}", run.stdout);
    assert!(run.stdout.contains("error ChainDoesNotVerify"), "{}", run.stdout);
}

#[test]
fn pods_without_a_sidecar_have_no_certificate_here() {
    let lab = certs_lab(String::new());
    let run = lab.plugin(&["probe", "--certs", "deploy/sleep", "-n", "default"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.contains("error NotInMesh"), "{}", run.stdout);
    assert!(run.stdout.contains("it is not in the mesh"), "{}", run.stdout);
    assert!(lab.execs().is_empty(), "no exec into a pod without a proxy");

    // An ambient pod: its certificate is in ztunnel.
    lab.put_yaml(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: amb\n  namespace: default\n  annotations:\n    ambient.istio.io/redirection: enabled\nspec:\n  containers:\n  - name: app\n    image: app\n",
    );
    let run = lab.plugin(&["probe", "--certs", "amb", "-n", "default"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stdout.contains("certificate lives in the ztunnel"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_proxy_without_certificates_is_an_error() {
    let lab = certs_lab(r#"{"configs":[{"dynamic_active_secrets":[]}]}"#.to_string());
    let run = lab.plugin(&["probe", "--certs", "deploy/web-api", "-n", "istioinaction"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("holds no workload certificate"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_describes_probe() {
    let lab = Lab::start(Scenario::empty());
    let run = lab.plugin(&["probe", "--help"]);
    assert_eq!(run.code, 0);
    for needle in [
        "--from",
        "--create-clients",
        "--certs",
        "--start-timeout",
        "Exit status",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// docs/probe.md shows real output

fn docs() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/probe.md")).expect("docs/probe.md")
}

#[test]
fn the_docs_show_what_the_command_prints() {
    let lab = strict_lab();
    let doc = docs();
    let print = std::env::var_os("PROBE_DOCS_PRINT").is_some();
    let mut missing = Vec::new();
    for args in [
        vec![
            "probe",
            TARGET,
            "--from",
            "deploy/sleep",
            "--from-namespace",
            "default",
        ],
        vec!["probe", TARGET, "--from", "deploy/sleep"],
        vec!["probe", TARGET],
    ] {
        let run = lab.plugin(&args);
        let block = format!("$ kubectl mtls {}\n{}", args.join(" "), run.stdout);
        if print {
            eprintln!("{block}{}", run.stderr);
        }
        if !doc.contains(&block) {
            missing.push(block);
        }
    }
    // The certificate view: serials and times change with every run, the rest does not.
    let root = ca("cluster.local");
    let chain = workload_cert(&root, WEB_API_ID, now() - 3 * 3600 - 120);
    let lab = certs_lab(secrets_dump(&chain, &root.pem));
    let args = ["probe", "--certs", "deploy/web-api", "-n", "istioinaction"];
    let run = lab.plugin(&args);
    if print {
        eprintln!("$ kubectl mtls {}\n{}{}", args.join(" "), run.stdout, run.stderr);
    }
    let command = format!("$ kubectl mtls {}\n", args.join(" "));
    if !doc.contains(&command) {
        missing.push(command);
    }
    const VARIABLE: [&str; 5] = [
        "  Serial:",
        "  Not before:",
        "  Not after:",
        "  Remaining:",
        "  Used:",
    ];
    for line in run.stdout.lines() {
        let want = VARIABLE
            .iter()
            .find(|k| line.starts_with(*k))
            .copied()
            .unwrap_or(line);
        if !doc.contains(want) {
            missing.push(line.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/probe.md lacks the current output:\n{}",
        missing.join("\n---\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Against kube-sim's own, independent model of a mesh

#[test]
fn probe_agrees_with_the_simulated_mesh_of_kube_sim() {
    let cases: &[(&str, Option<String>)] = &[
        ("no policy", None),
        (
            "namespace STRICT",
            Some(peer_authentication("istioinaction", "default", "STRICT", None)),
        ),
        (
            "mesh STRICT",
            Some(peer_authentication("istio-system", "default", "STRICT", None)),
        ),
        (
            "workload DISABLE",
            Some(peer_authentication(
                "istioinaction",
                "w",
                "DISABLE",
                Some(("app", "web-api")),
            )),
        ),
        (
            "workload PERMISSIVE under namespace STRICT",
            Some(format!(
                "{}---\n{}",
                peer_authentication("istioinaction", "default", "STRICT", None),
                peer_authentication("istioinaction", "w", "PERMISSIVE", Some(("app", "web-api")))
            )),
        ),
    ];
    for (name, policy) in cases {
        let lab = Lab::start(Scenario::lab().with_simulated_mesh());
        for doc in policy.iter().flat_map(|p| p.split("---\n")) {
            lab.put_yaml(doc);
        }
        let run = lab.plugin(&["probe", TARGET, "-o", "json"]);
        assert_eq!(run.code, 0, "{name}: {run:#?}");
        let doc = run.json();
        assert_eq!(doc["results"].as_array().unwrap().len(), 2, "{name}: {doc:#}");
        assert!(
            doc["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["verdict"] == "pass"),
            "{name}: {doc:#}"
        );
    }
    // created clients and the certificate view, too
    let lab = Lab::start(Scenario::lab().with_simulated_mesh());
    lab.put_yaml(&peer_authentication("istioinaction", "default", "STRICT", None));
    let run = lab.plugin(&["probe", TARGET, "--create-clients"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(lab.pods_named("mtls-probe-").is_empty());
    let run = lab.plugin(&["probe", "--certs", "deploy/web-api", "-n", "istioinaction"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("Findings: none"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("  SPIFFE ID:  {WEB_API_ID}")),
        "{}",
        run.stdout
    );
}

/// A client whose exec fails (here: its pod is deleted while the other client is probed) gets
/// its own failed result; the other client's result still counts.
#[test]
fn a_failed_exec_is_one_clients_result_not_the_end_of_the_run() {
    let deleted = Arc::new(AtomicBool::new(false));
    let flag = deleted.clone();
    let lab = Lab::start(Scenario::lab().exec_handler(move |req, cluster| {
        if !flag.swap(true, Ordering::SeqCst) {
            let (ns, pod) = if req.namespace == "default" {
                ("istioinaction", MESH_SLEEP)
            } else {
                ("default", PLAIN_SLEEP)
            };
            cluster
                .delete("v1", "Pod", ns, pod)
                .expect("the other client exists");
        }
        mesh_handler(req, cluster)
    }));
    lab.put_yaml(&peer_authentication("istioinaction", "default", "STRICT", None));
    let run = lab.plugin(&["probe", TARGET]);
    assert_eq!(
        run.code, 1,
        "an inconclusive probe fails the run: {}{}",
        run.stdout, run.stderr
    );
    assert!(deleted.load(Ordering::SeqCst));
    assert!(run.stdout.contains("exec failed"), "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("sleep-") && l.contains("pass")),
        "{}",
        run.stdout
    );
}

/// Ctrl-C while waiting for the created clients to start (their pods stay Pending) still
/// deletes them.
#[test]
fn created_clients_are_deleted_on_ctrl_c_while_waiting_for_them() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    lab.sim().cluster().hold_new_pods(true);
    let child = lab.spawn(&["probe", TARGET, "--create-clients", "--start-timeout", "60s"]);
    let start = Instant::now();
    while lab.pods_named("mtls-probe-").len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the clients were never created"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        lab.pods_named("mtls-probe-").is_empty(),
        "client pods left behind: {stderr}"
    );
    assert!(lab.execs().is_empty(), "nothing was probed");
}

// --- Inputs checked before any request (issue 10 item 4) ---

/// A usage error: exit 2, one `error:` line, nothing sent.
fn refused_before_any_request(lab: &Lab, args: &[&str]) -> String {
    lab.clear_requests();
    let run = lab.plugin(args);
    assert_eq!(run.code, 2, "{args:?}: {run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(lab.requests().is_empty(), "{args:?}: {:?}", lab.requests());
    run.stderr
}

#[test]
fn timeouts_reach_curl_exactly_and_are_bounded() {
    let lab = strict_lab();
    for (given, max_time) in [("500ms", "0.5"), ("1.5s", "1.5"), ("2m", "120"), ("250", "250")] {
        lab.clear_requests();
        let run = lab.plugin(&["probe", TARGET, "--timeout", given]);
        assert_eq!(run.code, 0, "{given}: {run:#?}");
        let execs = lab.execs();
        assert_eq!(execs.len(), 2, "{execs:?}");
        for (_, _, _, argv) in &execs {
            let i = argv.iter().position(|a| a == "--max-time").expect("--max-time");
            assert_eq!(argv[i + 1], max_time, "--timeout {given}: {argv:?}");
        }
    }
    for args in [
        &["probe", TARGET, "--timeout", "0"][..],
        &["probe", TARGET, "--timeout", "0s"],
        &["probe", TARGET, "--timeout", "-1s"],
        &["probe", TARGET, "--timeout=-500ms"],
        &["probe", TARGET, "--timeout", "11m"],
        &["probe", TARGET, "--timeout", "24h"],
    ] {
        let line = refused_before_any_request(&lab, args);
        assert!(
            line.contains("the timeout must be more than 0 and at most 10m"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn the_same_client_given_twice_is_probed_once() {
    let lab = strict_lab();
    lab.clear_requests();
    let run = lab.plugin(&[
        "probe",
        TARGET,
        "--from",
        "deploy/sleep",
        "--from",
        MESH_SLEEP,
        "--from",
        "deploy/sleep",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    let doc = run.json();
    assert_eq!(doc["results"].as_array().unwrap().len(), 1, "{doc:#}");
    assert_eq!(lab.execs().len(), 1, "{:?}", lab.execs());
    assert!(
        run.stderr.contains(&format!(
            "note: client istioinaction/{MESH_SLEEP} was given 3 times (--from deploy/sleep, --from {MESH_SLEEP}, --from deploy/sleep): probed once"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn service_ports_can_be_named() {
    let lab = strict_lab();
    lab.put_yaml("apiVersion: v1\nkind: Service\nmetadata:\n  name: web-two\n  namespace: istioinaction\nspec:\n  selector:\n    app: web-api\n  ports:\n  - name: metrics\n    port: 9090\n    targetPort: 15020\n  - name: http\n    port: 80\n    targetPort: http\n");
    let run = lab.plugin(&["probe", "web-two.istioinaction:http"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stdout.starts_with(
            "Probing http://web-two.istioinaction:80/ (service istioinaction/web-two port 80 -> target port 8080)\n"
        ),
        "{}",
        run.stdout
    );
    // The lab's own Service: port "http" is 8080.
    let run = lab.plugin(&["probe", "web-api.istioinaction:http/health", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        run.json()["target"]["url"],
        "http://web-api.istioinaction:8080/health"
    );

    let run = lab.plugin(&["probe", "web-two.istioinaction:grpc"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(
        run.stderr,
        "error: service istioinaction/web-two has no port named \"grpc\" (ports: metrics (9090), http (80))\n"
    );
    // In a URL the port is a number.
    let line = refused_before_any_request(&lab, &["probe", "http://web-two.istioinaction:http/"]);
    assert!(
        line.contains("in an http:// URL the port must be a number"),
        "{line}"
    );
}

#[test]
fn certs_of_a_deployment_name_hints_at_deploy() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    let run = lab.plugin(&["probe", "--certs", "web-api", "-n", "istioinaction"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(
        run.stderr,
        "error: pod \"web-api\" not found in namespace \"istioinaction\"; did you mean deploy/web-api?\n"
    );
    assert!(lab.execs().is_empty());
    // No workload of that name: no hint.
    let run = lab.plugin(&["probe", "--certs", "nothing", "-n", "istioinaction"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(
        run.stderr,
        "error: pod \"nothing\" not found in namespace \"istioinaction\"\n"
    );
    // The same for --from.
    let run = lab.plugin(&["probe", TARGET, "--from", "sleep"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("did you mean deploy/sleep?"),
        "{}",
        run.stderr
    );
}

#[test]
fn wget_rounds_a_sub_second_timeout_up_and_says_so() {
    let lab = Lab::start(Scenario::lab().exec_rule(ExecRule {
        prefix: true,
        stderr: "  HTTP/1.1 200 OK\n  content-type: text/plain\n".into(),
        ..ExecRule::new(["wget"], "")
    }));
    let run = lab.plugin(&["probe", TARGET, "--timeout", "1500ms"]);
    assert_eq!(run.code, 0, "{run:#?}");
    for (_, _, _, argv) in lab.execs() {
        let (flag, value) = if argv[0] == "curl" {
            ("--max-time", "1.5")
        } else {
            ("-T", "2")
        };
        let i = argv.iter().position(|a| a == flag).expect(flag);
        assert_eq!(argv[i + 1], value, "{argv:?}");
    }
    assert!(
        run.stderr
            .contains("note: wget takes whole seconds: its timeout was 2s where curl's would be 1.5s"),
        "{}",
        run.stderr
    );
}
