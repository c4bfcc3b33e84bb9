//! Checks against a REAL cluster with Istio, gated on `KUBECTL_MTLS_REAL_CLUSTER=1` (see
//! docs/testing.md). They use the current kubeconfig (`KUBECONFIG` or `~/.kube/config`). Without
//! `KUBECTL_MTLS_REAL_WRITE=1` they write nothing (`enable` and `diff` run as server-side dry
//! runs only); with it, the workshop walk-through (`.github/workflows/e2e.yml` runs it on kind
//! with the workshop of tests/e2e/workshop.yaml) turns STRICT on for real, proves it with probes
//! from a client in and one outside the mesh and with `probe --certs`, and turns it back to
//! PERMISSIVE.
//!
//! ```sh
//! KUBECTL_MTLS_REAL_CLUSTER=1 KUBECTL_MTLS_REAL_NAMESPACE=istioinaction cargo test --test real_cluster
//! KUBECTL_MTLS_REAL_CLUSTER=1 KUBECTL_MTLS_REAL_NAMESPACE=istioinaction KUBECTL_MTLS_REAL_WRITE=1 \
//!   cargo test --test real_cluster -- --test-threads=1
//! ```
//!
//! `KUBECTL_MTLS_PLUGIN` may name the plugin binary (the e2e workflow builds it in another job).

use std::process::Command;

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-mtls");

fn plugin_path() -> String {
    std::env::var("KUBECTL_MTLS_PLUGIN").unwrap_or_else(|_| PLUGIN.to_string())
}

fn enabled(test: &str) -> bool {
    if std::env::var("KUBECTL_MTLS_REAL_CLUSTER").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipped {test}: set KUBECTL_MTLS_REAL_CLUSTER=1 to run it against the current kubeconfig's cluster"
    );
    false
}

fn namespace() -> String {
    std::env::var("KUBECTL_MTLS_REAL_NAMESPACE").unwrap_or_else(|_| "default".to_string())
}

fn plugin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(plugin_path())
        .args(args)
        .output()
        .expect("run kubectl-mtls");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_of_every_namespace_parses() {
    if !enabled("status_of_every_namespace_parses") {
        return;
    }
    let (code, stdout, stderr) = plugin(&["status", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(doc["kind"], "MtlsStatus");
    assert!(doc["namespaces"].as_array().is_some_and(|n| !n.is_empty()));
}

#[test]
fn server_dry_run_of_enable_writes_nothing() {
    if !enabled("server_dry_run_of_enable_writes_nothing") {
        return;
    }
    let ns = namespace();
    let (code, stdout, stderr) = plugin(&["enable", &ns, "--strict", "--dry-run=server", "--force"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("(server dry run)") || stderr.contains("(server dry run)"),
        "{stdout}{stderr}"
    );
}

#[test]
fn diff_exits_zero_or_one() {
    if !enabled("diff_exits_zero_or_one") {
        return;
    }
    let ns = namespace();
    let (code, _, stderr) = plugin(&["diff", &ns, "--strict"]);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
}

fn writes_allowed(test: &str) -> bool {
    if !enabled(test) {
        return false;
    }
    if std::env::var("KUBECTL_MTLS_REAL_WRITE").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped {test}: set KUBECTL_MTLS_REAL_WRITE=1 to let it change the cluster's policies");
    false
}

fn status_json(ns: &str) -> serde_json::Value {
    let (code, stdout, stderr) = plugin(&["status", ns, "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).expect("JSON")
}

/// The workshop, step by step: every namespace's status, the diff of turning STRICT on, the
/// change for real, probes proving it from both kinds of client, the certificates of a real
/// Envoy, and back to PERMISSIVE.
#[test]
fn the_workshop_walk_through() {
    if !writes_allowed("the_workshop_walk_through") {
        return;
    }
    let ns = namespace();
    // status -A: the workshop namespace is fully meshed, default/sleep is outside the mesh.
    let (code, stdout, stderr) = plugin(&["status", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let row = doc["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == ns.as_str()))
        .unwrap_or_else(|| panic!("{ns} in {doc:#}"))
        .clone();
    assert!(row["pods"].as_u64().unwrap_or(0) > 0, "{row:#}");
    assert_eq!(row["pods"], row["meshedPods"], "{row:#}");

    // diff: STRICT is a change (exit 1) that shows the new mode.
    let (code, stdout, stderr) = plugin(&["diff", &ns, "--strict"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("mode: STRICT"), "{stdout}");

    // enable --strict for real (the un-meshed sleep in default is a plaintext client: forced).
    let (code, stdout, stderr) = plugin(&["enable", &ns, "--strict", "--force"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(status_json(&ns)["namespaces"][0]["mode"], "STRICT");
    // Give istiod a moment to push the policy to the sidecars.
    std::thread::sleep(std::time::Duration::from_secs(10));

    // probe from a client in the mesh and one outside it: both as the policy predicts.
    let target = format!("web-api.{ns}:8080");
    let (code, stdout, stderr) = plugin(&[
        "probe",
        &target,
        "--from",
        "deploy/sleep",
        "--from-namespace",
        &ns,
    ]);
    assert_eq!(code, 0, "meshed client: {stdout}{stderr}");
    let (code, stdout, stderr) = plugin(&[
        "probe",
        &target,
        "--from",
        "deploy/sleep",
        "--from-namespace",
        "default",
    ]);
    assert_eq!(
        code, 0,
        "plaintext client (refused under STRICT, as predicted): {stdout}{stderr}"
    );

    // probe --certs reads a real Envoy's workload certificate.
    let (code, stdout, stderr) = plugin(&["probe", "--certs", "deploy/web-api", "-n", &ns]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("spiffe://"), "{stdout}");

    // and back to PERMISSIVE
    let (code, stdout, stderr) = plugin(&["enable", &ns, "--permissive"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(status_json(&ns)["namespaces"][0]["mode"], "PERMISSIVE");
}
