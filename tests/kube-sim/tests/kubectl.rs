//! The real kubectl against the simulated API server.

mod common;

use common::{Kubectl, have_kubectl};
use kube_sim::{ExecResponse, ExecRule, IstioApi, Rule, Scenario, SimServer, User};
use serde_json::json;

const PA_STRICT: &str = "apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istioinaction
spec:
  mtls:
    mode: STRICT
";

fn lab() -> SimServer {
    SimServer::start_background(Scenario::lab()).expect("start sim")
}

#[test]
fn get_pa_all_namespaces_prints_the_crd_printer_columns() {
    if !have_kubectl("get_pa_all_namespaces_prints_the_crd_printer_columns") {
        return;
    }
    let server = lab();
    server
        .cluster()
        .put(json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "istio-system"}, "spec": {"mtls": {"mode": "STRICT"}}}))
        .unwrap();
    server
        .cluster()
        .put(
            json!({"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
            "metadata": {"name": "web", "namespace": "istioinaction"},
            "spec": {"selector": {"matchLabels": {"app": "web-api"}}, "mtls": {"mode": "DISABLE"}}}),
        )
        .unwrap();
    let k = Kubectl::new(&server, "admin");
    let r = k.run(&["get", "pa", "-A"]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<Vec<&str>> = r.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAMESPACE", "NAME", "MODE", "AGE"]);
    assert_eq!(lines[1][..3], ["istio-system", "default", "STRICT"]);
    assert_eq!(lines[2][..3], ["istioinaction", "web", "DISABLE"]);
    assert!(lines[1][3].ends_with('s'), "age like 0s: {:?}", lines[1]);
    let table_req = server
        .requests()
        .into_iter()
        .find(|r| r.resource == "peerauthentications")
        .unwrap();
    assert_eq!(
        (table_req.verb.as_str(), table_req.namespace.as_str()),
        ("list", "")
    );
    assert_eq!(table_req.query_param("limit").as_deref(), Some("500"));
}

#[test]
fn server_side_apply_dry_run_get_and_delete() {
    if !have_kubectl("server_side_apply_dry_run_get_and_delete") {
        return;
    }
    let server = lab();
    let k = Kubectl::new(&server, "admin");
    let file = k.file("pa.yaml", PA_STRICT);
    server.clear_requests();
    let r = k.run(&["apply", "--server-side", "--dry-run=server", "-f", &file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("serverside-applied (server dry run)"),
        "{}",
        r.stdout
    );
    let reqs = server.requests();
    let patch = reqs.iter().find(|r| r.verb == "patch").expect("a PATCH");
    assert!(patch.dry_run);
    assert_eq!(patch.query_param("fieldManager").as_deref(), Some("kubectl"));
    assert!(reqs.iter().all(|r| !r.is_persisted_write()), "{reqs:#?}");
    assert!(
        server
            .cluster()
            .get(
                "security.istio.io/v1",
                "PeerAuthentication",
                "istioinaction",
                "default"
            )
            .is_none()
    );

    let r = k.run(&["apply", "--server-side", "-f", &file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.trim(),
        "peerauthentication.security.istio.io/default serverside-applied"
    );
    let stored = server
        .cluster()
        .get(
            "security.istio.io/v1",
            "PeerAuthentication",
            "istioinaction",
            "default",
        )
        .unwrap();
    assert_eq!(stored["spec"]["mtls"]["mode"], "STRICT");
    assert_eq!(stored["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(stored["metadata"]["managedFields"][0]["operation"], "Apply");

    let r = k.run(&[
        "get",
        "pa",
        "default",
        "-n",
        "istioinaction",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    for needle in [
        "kind: PeerAuthentication",
        "mode: STRICT",
        "f:mode: {}",
        "manager: kubectl",
        "operation: Apply",
        "uid: ",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle:?} in\n{}", r.stdout);
    }
    // v1beta1 serves the same object.
    let r = k.run(&[
        "get",
        "peerauthentications.v1beta1.security.istio.io",
        "default",
        "-n",
        "istioinaction",
        "-o",
        "jsonpath={.apiVersion}",
    ]);
    assert_eq!(r.stdout, "security.istio.io/v1beta1", "{r:?}");

    let r = k.run(&["delete", "pa", "default", "-n", "istioinaction"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.trim(),
        "peerauthentication.security.istio.io \"default\" deleted"
    );
    assert!(
        server
            .cluster()
            .get(
                "security.istio.io/v1",
                "PeerAuthentication",
                "istioinaction",
                "default"
            )
            .is_none()
    );
    let r = k.run(&["get", "pa", "default", "-n", "istioinaction"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "Error from server (NotFound): peerauthentications.security.istio.io \"default\" not found"
    );
}

#[test]
fn invalid_policies_are_rejected_with_the_real_messages() {
    if !have_kubectl("invalid_policies_are_rejected_with_the_real_messages") {
        return;
    }
    let server = lab();
    let k = Kubectl::new(&server, "admin");
    let file = k.file(
        "bad.yaml",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: ports\n  namespace: istioinaction\nspec:\n  portLevelMtls:\n    \"8080\":\n      mode: DISABLE\n",
    );
    let r = k.run(&["apply", "-f", &file]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "The PeerAuthentication \"ports\" is invalid: spec: Invalid value: portLevelMtls requires selector"
    );
    let r = k.run(&["apply", "--server-side", "-f", &file]);
    assert!(r.stderr.contains("portLevelMtls requires selector"), "{r:?}");
    let enum_file = k.file("enum.yaml", &PA_STRICT.replace("STRICT", "FOO"));
    let r = k.run(&["create", "-f", &enum_file]);
    assert_eq!(
        r.stderr.trim(),
        "The PeerAuthentication \"default\" is invalid: spec.mtls.mode: Unsupported value: \"FOO\": supported values: \"UNSET\", \"DISABLE\", \"PERMISSIVE\", \"STRICT\""
    );
    let port_file = k.file(
        "port.yaml",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: p\n  namespace: istioinaction\nspec:\n  selector:\n    matchLabels: {app: web-api}\n  portLevelMtls:\n    \"70000\":\n      mode: DISABLE\n",
    );
    let r = k.run(&["create", "-f", &port_file]);
    assert!(
        r.stderr
            .contains("spec.portLevelMtls: Invalid value: port must be between 1-65535"),
        "{r:?}"
    );
    let r = k.run(&[
        "create",
        "-f",
        &k.file(
            "ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Bad_Name\n",
        ),
    ]);
    assert!(
        r.stderr
            .contains("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"),
        "{r:?}"
    );
    let r = k.run(&[
        "create",
        "-f",
        &k.file("nons.yaml", &PA_STRICT.replace("istioinaction", "missing")),
    ]);
    assert_eq!(
        r.stderr.trim(),
        "Error from server (NotFound): error when creating \"".to_string()
            + &k.dir.path().join("nons.yaml").to_string_lossy()
            + "\": namespaces \"missing\" not found"
    );
    assert!(server.requests().iter().all(|r| !r.is_persisted_write()));
}

#[test]
fn ssa_conflicts_with_client_side_apply_until_forced() {
    if !have_kubectl("ssa_conflicts_with_client_side_apply_until_forced") {
        return;
    }
    let server = lab();
    let k = Kubectl::new(&server, "admin");
    let strict = k.file("strict.yaml", PA_STRICT);
    let permissive = k.file("permissive.yaml", &PA_STRICT.replace("STRICT", "PERMISSIVE"));
    assert_eq!(k.run(&["apply", "-f", &strict]).code, 0);
    let r = k.run(&["apply", "--server-side", "-f", &permissive]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using security.istio.io/v1: .spec.mtls.mode"),
        "{}",
        r.stderr
    );
    let r = k.run(&["apply", "--server-side", "--force-conflicts", "-f", &permissive]);
    assert_eq!(r.code, 0, "{r:?}");
    let stored = server
        .cluster()
        .get(
            "security.istio.io/v1",
            "PeerAuthentication",
            "istioinaction",
            "default",
        )
        .unwrap();
    assert_eq!(stored["spec"]["mtls"]["mode"], "PERMISSIVE");
    assert_eq!(stored["metadata"]["generation"], 2);
}

#[test]
fn paging_through_2000_pods_with_chunk_size() {
    if !have_kubectl("paging_through_2000_pods_with_chunk_size") {
        return;
    }
    let server = SimServer::start_background(Scenario::scale(10, 2000, 42)).expect("start");
    let total_pods = server.cluster().count("v1", "Pod");
    assert_eq!(total_pods, 2001, "2000 app pods + istiod");
    let k = Kubectl::new(&server, "admin");
    server.clear_requests();
    let r = k.run(&["get", "pods", "-A", "--chunk-size=500", "--no-headers"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), total_pods);
    let pages: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "pods" && r.verb == "list")
        .collect();
    assert_eq!(pages.len(), 5, "{pages:#?}");
    assert!(
        pages
            .iter()
            .all(|p| p.query_param("limit").as_deref() == Some("500"))
    );
    assert!(pages[0].query_param("continue").is_none());
    assert!(
        pages[1..]
            .iter()
            .all(|p| p.query_param("continue").is_some_and(|c| !c.is_empty()))
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(
        lines, sorted,
        "pages come in namespace/name order without duplicates"
    );
    sorted.dedup();
    assert_eq!(sorted.len(), total_pods);
}

#[test]
fn exec_runs_the_scripted_command_and_propagates_the_exit_code() {
    if !have_kubectl("exec_runs_the_scripted_command_and_propagates_the_exit_code") {
        return;
    }
    let scenario = Scenario::lab()
        .exec_handler(|req, _| {
            // `wc -c` counts what kubectl streamed to stdin.
            (req.command == ["wc", "-c"]).then(|| ExecResponse::ok(format!("{}\n", req.stdin.len())))
        })
        .exec_handler(|req, cluster| {
            // A tiny "mesh": curl answers with the target's pod count.
            if req.command.first().map(String::as_str) != Some("curl") {
                return None;
            }
            let pods = cluster.list("v1", "Pod", Some("istioinaction")).len();
            Some(ExecResponse::ok(format!(
                "{} from {} ({pods} pods)\n",
                req.command.last().unwrap(),
                req.pod
            )))
        })
        .exec_rule(ExecRule {
            command: vec!["false".into()],
            exit_code: 7,
            stderr: "nope\n".into(),
            ..Default::default()
        });
    let server = SimServer::start_background(scenario).expect("start");
    let k = Kubectl::new(&server, "admin");
    let r = k.run(&[
        "exec",
        "-n",
        "istioinaction",
        "deploy/sleep",
        "-c",
        "sleep",
        "--",
        "curl",
        "-s",
        "http://web-api:8080/",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "http://web-api:8080/ from sleep-84c7d5f9b6-h5t2v (4 pods)\n"
    );
    let r = k.run_stdin(
        &[
            "exec",
            "-i",
            "-n",
            "istioinaction",
            "deploy/sleep",
            "-c",
            "sleep",
            "--",
            "wc",
            "-c",
        ],
        Some("twelve bytes"),
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, "12\n"), "{r:?}");
    let r = k.run(&[
        "exec",
        "-n",
        "istioinaction",
        "deploy/sleep",
        "-c",
        "sleep",
        "--",
        "false",
    ]);
    assert_eq!(r.code, 7, "{r:?}");
    assert_eq!(r.stderr, "nope\ncommand terminated with exit code 7\n");
    let r = k.run(&[
        "exec",
        "-n",
        "istioinaction",
        "deploy/sleep",
        "-c",
        "sleep",
        "--",
        "nslookup",
        "web-api",
    ]);
    assert_eq!(r.code, 127, "{r:?}");
    assert!(r.stderr.starts_with("sh: nslookup: command not found"), "{r:?}");
    let r = k.run(&[
        "exec",
        "-n",
        "istioinaction",
        "deploy/sleep",
        "-c",
        "nope",
        "--",
        "true",
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "Error from server (BadRequest): container nope is not valid for pod sleep-84c7d5f9b6-h5t2v"
    );
    let execs: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.subresource == "exec")
        .collect();
    // kubectl retries a failed WebSocket upgrade over SPDY, so the bad
    // container shows up once or twice; the four commands ran once each.
    assert!(
        execs[..4].iter().all(|e| e.status == 101 && e.method == "GET"),
        "{execs:#?}"
    );
    assert!(execs[4..].iter().all(|e| e.status == 400), "{execs:#?}");
    assert_eq!(execs[0].query_param("container").as_deref(), Some("sleep"));
}

#[test]
fn restricted_user_gets_forbidden_with_the_rbac_message() {
    if !have_kubectl("restricted_user_gets_forbidden_with_the_rbac_message") {
        return;
    }
    let scenario = Scenario::lab().user(
        User::new("alice", "alice-token")
            .allow(Rule::new(&["get", "list"], &["pods"]).in_namespaces(&["istioinaction"])),
    );
    let server = SimServer::start_background(scenario).expect("start");
    let k = Kubectl::new(&server, "alice");
    let r = k.run(&["get", "pods", "-n", "istioinaction", "--no-headers"]);
    assert_eq!((r.code, r.stdout.lines().count()), (0, 4), "{r:?}");
    let r = k.run(&["get", "pods", "-A"]);
    assert_eq!(
        r.stderr.trim(),
        "Error from server (Forbidden): pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
    );
    let r = k.run(&["get", "pa", "-n", "istioinaction"]);
    assert_eq!(
        r.stderr.trim(),
        "Error from server (Forbidden): peerauthentications.security.istio.io is forbidden: User \"alice\" cannot list resource \"peerauthentications\" in API group \"security.istio.io\" in the namespace \"istioinaction\""
    );
    let r = k.run(&[
        "exec",
        "-n",
        "istioinaction",
        "web-api-7c8d9f6b4d-x2k8p",
        "--",
        "ls",
    ]);
    assert_eq!(
        r.stderr.trim(),
        "Error from server (Forbidden): pods \"web-api-7c8d9f6b4d-x2k8p\" is forbidden: User \"alice\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"istioinaction\""
    );
    assert!(
        server
            .requests()
            .iter()
            .filter(|r| r.status == 403)
            .all(|r| r.user == "alice")
    );
    // The admin may impersonate alice and then has alice's rights.
    let admin = Kubectl::new(&server, "admin");
    let r = admin.run(&["--as=alice", "get", "pods", "-A"]);
    assert!(
        r.stderr.contains("User \"alice\" cannot list resource \"pods\""),
        "{r:?}"
    );
    // A bad token is 401.
    let nobody = Kubectl::new(&server, "nobody");
    let r = nobody.run(&["get", "pods"]);
    assert!(r.stderr.contains("You must be logged in to the server"), "{r:?}");
}

#[test]
fn kubectl_wait_and_delete_use_watch() {
    if !have_kubectl("kubectl_wait_and_delete_use_watch") {
        return;
    }
    let server = lab();
    let k = Kubectl::new(&server, "admin");
    let r = k.run(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        "app=web-api",
        "-n",
        "istioinaction",
        "--timeout=10s",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.trim(), "pod/web-api-7c8d9f6b4d-x2k8p condition met");
    let r = k.run(&[
        "delete",
        "pod",
        "-n",
        "istioinaction",
        "web-api-7c8d9f6b4d-x2k8p",
        "--wait=true",
        "--timeout=10s",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = k.run(&["delete", "namespace", "istioinaction"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        server
            .cluster()
            .list("v1", "Pod", Some("istioinaction"))
            .is_empty()
    );
}

#[test]
fn typed_protobuf_requests_can_i_and_rollouts() {
    if !have_kubectl("typed_protobuf_requests_can_i_and_rollouts") {
        return;
    }
    let scenario = Scenario::lab().user(
        User::new("alice", "alice-token")
            .allow(Rule::new(&["get", "list"], &["pods"]).in_namespaces(&["istioinaction"])),
    );
    let server = SimServer::start_background(scenario).expect("start");
    let k = Kubectl::new(&server, "admin");
    // kubectl sends these typed bodies as protobuf.
    let r = k.run(&["create", "namespace", "demo"]);
    assert_eq!((r.code, r.stdout.trim()), (0, "namespace/demo created"), "{r:?}");
    let r = k.run(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "demo",
        "--from-literal=mode=STRICT",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        server
            .cluster()
            .get("v1", "ConfigMap", "demo", "settings")
            .unwrap()["data"]["mode"],
        "STRICT"
    );
    let ask = |args: &[&str]| k.run(args).stdout.trim().to_string();
    assert_eq!(
        ask(&["auth", "can-i", "create", "peerauthentications", "-n", "demo"]),
        "yes"
    );
    assert_eq!(
        ask(&[
            "auth",
            "can-i",
            "list",
            "pods",
            "-n",
            "istioinaction",
            "--as",
            "alice"
        ]),
        "yes"
    );
    assert_eq!(
        ask(&["auth", "can-i", "list", "pods", "-n", "default", "--as", "alice"]),
        "no"
    );
    assert_eq!(
        ask(&[
            "auth",
            "can-i",
            "create",
            "pods/exec",
            "-n",
            "istioinaction",
            "--as",
            "alice"
        ]),
        "no"
    );
    let r = k.run(&[
        "set",
        "image",
        "-n",
        "istioinaction",
        "deploy/web-api",
        "web-api=istioinaction/web-api:2",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let deploy = server
        .cluster()
        .get("apps/v1", "Deployment", "istioinaction", "web-api")
        .unwrap();
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "istioinaction/web-api:2"
    );
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 8080,
        "strategic merge kept the ports"
    );
    let r = k.run(&[
        "rollout",
        "status",
        "deploy/web-api",
        "-n",
        "istioinaction",
        "--timeout=10s",
    ]);
    assert_eq!(
        r.stdout.trim(),
        "deployment \"web-api\" successfully rolled out",
        "{r:?}"
    );
}

#[test]
fn get_watch_streams_table_rows() {
    if !have_kubectl("get_watch_streams_table_rows") {
        return;
    }
    let server = lab();
    let k = Kubectl::new(&server, "admin");
    let kubeconfig = k.kubeconfig.clone();
    let home = k.dir.path().join("home");
    let child = std::process::Command::new(common::KUBECTL)
        .args([
            "--kubeconfig",
            &kubeconfig.to_string_lossy(),
            "get",
            "pa",
            "-n",
            "istioinaction",
            "-w",
            "--output-watch-events",
        ])
        .env_clear()
        .env("HOME", &home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl -w");
    // Wait until the watch is open, then change the cluster.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server
        .requests()
        .iter()
        .any(|r| r.verb == "watch" && r.resource == "peerauthentications")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl never started watching"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server
        .cluster()
        .put(json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "istioinaction"}, "spec": {"mtls": {"mode": "STRICT"}}}))
        .unwrap();
    server
        .cluster()
        .delete(
            "security.istio.io/v1",
            "PeerAuthentication",
            "istioinaction",
            "default",
        )
        .unwrap();
    // Read lines as kubectl prints them, until the DELETED row (or a timeout).
    let mut child = child;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(10)) {
        let done = line.starts_with("DELETED");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split_whitespace().collect()).collect();
    let stdout = lines.join("\n");
    assert_eq!(rows[0], ["EVENT", "NAME", "MODE", "AGE"], "{stdout}");
    assert_eq!(rows[1][..3], ["ADDED", "default", "STRICT"], "{stdout}");
    assert_eq!(rows[2][..3], ["DELETED", "default", "STRICT"], "{stdout}");
}

#[test]
fn istio_api_modes_shape_discovery() {
    if !have_kubectl("istio_api_modes_shape_discovery") {
        return;
    }
    let versions = |mode: IstioApi| -> (Vec<String>, String) {
        let server = SimServer::start_background(Scenario::lab().istio(mode)).expect("start");
        let k = Kubectl::new(&server, "admin");
        let r = k.run(&["api-versions"]);
        assert_eq!(r.code, 0, "{r:?}");
        let pods = k
            .run(&["get", "pods", "-n", "istioinaction", "--no-headers"])
            .stdout;
        (
            r.stdout
                .lines()
                .filter(|l| l.contains("istio.io"))
                .map(str::to_string)
                .collect(),
            pods,
        )
    };
    let (v1, pods) = versions(IstioApi::V1);
    for gv in [
        "security.istio.io/v1",
        "security.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
        "telemetry.istio.io/v1alpha1",
    ] {
        assert!(v1.contains(&gv.to_string()), "{gv} in {v1:?}");
    }
    assert!(
        pods.lines().all(|l| l.contains("2/2")),
        "sidecars injected: {pods}"
    );
    let (old, _) = versions(IstioApi::V1beta1Only);
    assert!(old.contains(&"security.istio.io/v1beta1".to_string()));
    assert!(!old.iter().any(|gv| gv.ends_with("/v1")), "{old:?}");
    let (none, pods) = versions(IstioApi::None);
    assert!(none.is_empty(), "{none:?}");
    assert!(
        pods.lines().all(|l| l.contains("1/1")),
        "no injection without Istio: {pods}"
    );
}

#[test]
fn unknown_fields_follow_field_validation() {
    if !have_kubectl("unknown_fields_follow_field_validation") {
        return;
    }
    let server = lab();
    let k = Kubectl::new(&server, "admin");
    let file = k.file("unknown.yaml", &PA_STRICT.replace("spec:\n", "spec:\n  foo: 1\n"));
    let r = k.run(&["apply", "--server-side", "-f", &file]);
    assert_eq!(
        r.stderr.trim(),
        "Error from server (BadRequest): failed to create typed patch object (istioinaction/default; security.istio.io/v1, Kind=PeerAuthentication): .spec.foo: field not declared in schema"
    );
    let r = k.run(&["apply", "-f", &file]);
    assert!(
        r.stderr.contains("PeerAuthentication in version \"v1\" cannot be handled as a PeerAuthentication: strict decoding error: unknown field \"spec.foo\""),
        "{r:?}"
    );
    let r = k.run(&["apply", "--validate=false", "-f", &file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr.trim(), "Warning: unknown field \"spec.foo\"");
    let stored = server
        .cluster()
        .get(
            "security.istio.io/v1",
            "PeerAuthentication",
            "istioinaction",
            "default",
        )
        .unwrap();
    assert_eq!(
        stored["spec"],
        json!({"mtls": {"mode": "STRICT"}}),
        "unknown fields are pruned"
    );
    let creates: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "create")
        .collect();
    assert!(
        creates
            .iter()
            .all(|c| c.content_type.starts_with("application/json")),
        "{creates:#?}"
    );
}

#[test]
fn ssa_of_built_in_kinds_owns_list_elements_by_key() {
    if !have_kubectl("ssa_of_built_in_kinds_owns_list_elements_by_key") {
        return;
    }
    let server = lab();
    let k = Kubectl::new(&server, "admin");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: demo\n  namespace: default\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: demo}\n  template:\n    metadata:\n      labels: {app: demo}\n    spec:\n      containers:\n      - name: demo\n        image: demo:1\n";
    assert_eq!(k.run(&["apply", "-f", &k.file("d1.yaml", deployment)]).code, 0);
    let r = k.run(&[
        "apply",
        "--server-side",
        "-f",
        &k.file("d2.yaml", &deployment.replace("demo:1", "demo:2")),
    ]);
    assert!(
        r.stderr.starts_with("error: Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.template.spec.containers[name=\"demo\"].image"),
        "{r:?}"
    );
    let r = k.run(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &k.file("d2.yaml", &deployment.replace("demo:1", "demo:2")),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let d = server
        .cluster()
        .get("apps/v1", "Deployment", "default", "demo")
        .unwrap();
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "demo:2");
    let kubectl_entry = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "kubectl" && m["operation"] == "Apply")
        .unwrap()
        .clone();
    assert_eq!(
        kubectl_entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"demo\"}"],
        json!({".": {}, "f:image": {}, "f:name": {}})
    );
}

#[test]
fn logs_come_from_the_scenario() {
    if !have_kubectl("logs_come_from_the_scenario") {
        return;
    }
    let scenario = Scenario::lab()
        .load_yaml(
            "apiVersion: kube-sim/v1\nkind: Logs\nlogs:\n- namespace: istioinaction\n  pod: web-api-*\n  container: istio-proxy\n  text: \"[2026-11-22T10:00:00.000Z] \\\"GET / HTTP/1.1\\\" 200\\n\"\n",
        )
        .unwrap();
    let server = SimServer::start_background(scenario).expect("start");
    let k = Kubectl::new(&server, "admin");
    let r = k.run(&[
        "logs",
        "-n",
        "istioinaction",
        "deploy/web-api",
        "-c",
        "istio-proxy",
    ]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "[2026-11-22T10:00:00.000Z] \"GET / HTTP/1.1\" 200\n"),
        "{r:?}"
    );
    let r = k.run(&["logs", "-n", "istioinaction", "deploy/web-api", "-c", "web-api"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    let r = k.run(&[
        "logs",
        "-n",
        "istioinaction",
        "web-api-7c8d9f6b4d-x2k8p",
        "-c",
        "nope",
    ]);
    assert_eq!(
        r.stderr.trim(),
        "error: container nope is not valid for pod web-api-7c8d9f6b4d-x2k8p",
        "{r:?}"
    );
}

/// Over HTTPS (the default) kubectl verifies the sim's CA from the kubeconfig and sends the
/// token in the Authorization header; the URL carries no credentials. Over plain HTTP kubectl
/// sends none at all, so the server sees an anonymous request and answers 401.
#[test]
fn kubectl_sends_the_token_over_https_only() {
    if !have_kubectl("kubectl_sends_the_token_over_https_only") {
        return;
    }
    let server = lab();
    assert!(server.url().starts_with("https://127.0.0.1:"), "{}", server.url());
    assert!(server.ca_pem().is_some_and(|p| p.contains("BEGIN CERTIFICATE")));
    let k = Kubectl::new(&server, "admin");
    let r = k.run(&["get", "ns", "default", "-o", "name"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "namespace/default\n"), "{r:?}");
    let reqs = server.requests();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter()
            .all(|q| q.authorization && q.user == "admin" && !q.path.contains("token")),
        "{reqs:?}"
    );

    let plain = SimServer::start_plain_http(Scenario::lab()).expect("start sim");
    assert!(plain.url().starts_with("http://127.0.0.1:"));
    assert!(plain.ca_pem().is_none());
    let k = Kubectl::new(&plain, "admin");
    let r = k.run(&["get", "ns", "default", "-o", "name"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("must be logged in"), "{r:?}");
    let reqs = plain.requests();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter().all(|q| !q.authorization && q.status == 401),
        "{reqs:?}"
    );
}
