//! The lab's simulated data plane: traffic follows the applied policies, and pilot-agent serves
//! a workload certificate.

use kube_sim::{ExecRequest, Scenario, SimServer, SimulatedMesh};
use serde_json::Value;

fn pod_name(server: &SimServer, ns: &str, app: &str) -> String {
    server
        .cluster()
        .list("v1", "Pod", Some(ns))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app"] == app)
        .and_then(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{ns}/{app} pod"))
}

fn curl(server: &SimServer, mesh: &SimulatedMesh, ns: &str, container: &str) -> (i32, String) {
    let req = ExecRequest {
        namespace: ns.into(),
        pod: pod_name(server, ns, "sleep"),
        container: container.into(),
        command: [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://web-api.istioinaction:8080/",
        ]
        .map(String::from)
        .to_vec(),
        stdin: Vec::new(),
        tty: false,
        user: "admin".into(),
    };
    let r = mesh
        .handle(&req, server.cluster())
        .expect("the mesh answers curl");
    (r.exit_code, r.stdout)
}

fn put(server: &SimServer, yaml: &str) {
    server.cluster().put_yaml(yaml).expect("valid objects");
}

#[test]
fn traffic_follows_the_policies() {
    let server = SimServer::start_background(Scenario::lab()).unwrap();
    let mesh = SimulatedMesh::new();
    assert_eq!(
        curl(&server, &mesh, "default", "sleep"),
        (0, "200".into()),
        "PERMISSIVE accepts plaintext"
    );
    put(
        &server,
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istioinaction}\nspec: {mtls: {mode: STRICT}}\n",
    );
    assert_eq!(
        curl(&server, &mesh, "default", "sleep").0,
        56,
        "STRICT resets plaintext"
    );
    assert_eq!(
        curl(&server, &mesh, "istioinaction", "sleep"),
        (0, "200".into()),
        "mTLS accepted"
    );
    assert_eq!(
        curl(&server, &mesh, "istioinaction", "istio-proxy").0,
        56,
        "the proxy's own traffic is plaintext"
    );

    // a DestinationRule telling clients to send plaintext breaks them against STRICT
    put(
        &server,
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: plain, namespace: istioinaction}\nspec: {host: web-api, trafficPolicy: {tls: {mode: DISABLE}}}\n",
    );
    assert_eq!(curl(&server, &mesh, "istioinaction", "sleep").0, 56);
    server
        .cluster()
        .delete(
            "networking.istio.io/v1",
            "DestinationRule",
            "istioinaction",
            "plain",
        )
        .unwrap();

    // workload-level DISABLE: meshed clients still send mTLS and get 503 from their sidecar
    put(
        &server,
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: web-api, namespace: istioinaction}\nspec: {selector: {matchLabels: {app: web-api}}, mtls: {mode: DISABLE}}\n",
    );
    assert_eq!(curl(&server, &mesh, "istioinaction", "sleep"), (0, "503".into()));
    assert_eq!(curl(&server, &mesh, "default", "sleep"), (0, "200".into()));

    // namespace-level DISABLE with a workload STRICT: automatic mTLS sends plaintext, rejected
    put(
        &server,
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istioinaction}\nspec: {mtls: {mode: DISABLE}}\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: web-api, namespace: istioinaction}\nspec: {selector: {matchLabels: {app: web-api}}, mtls: {mode: STRICT}}\n",
    );
    assert_eq!(curl(&server, &mesh, "istioinaction", "sleep").0, 56);
}

#[test]
fn pilot_agent_serves_the_workload_certificate() {
    let server = SimServer::start_background(Scenario::lab()).unwrap();
    let mesh = SimulatedMesh::new();
    let req = ExecRequest {
        namespace: "istioinaction".into(),
        pod: pod_name(&server, "istioinaction", "web-api"),
        container: "istio-proxy".into(),
        command: [
            "pilot-agent",
            "request",
            "GET",
            "config_dump?mask=dynamic_active_secrets",
        ]
        .map(String::from)
        .to_vec(),
        stdin: Vec::new(),
        tty: false,
        user: "admin".into(),
    };
    let r = mesh.handle(&req, server.cluster()).expect("pilot-agent answers");
    assert_eq!(r.exit_code, 0);
    let dump: Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = dump["configs"][0]["dynamic_active_secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "ROOTCA"]);
    // the same certificate on a second read (issued once per identity)
    assert_eq!(mesh.handle(&req, server.cluster()).unwrap().stdout, r.stdout);
}
