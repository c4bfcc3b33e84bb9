//! Checks against a REAL cluster with Istio, gated on `KUBECTL_MTLS_REAL_CLUSTER=1` (see
//! docs/testing.md). They use the current kubeconfig (`KUBECONFIG` or `~/.kube/config`) and
//! write nothing: `enable` and `diff` run as server-side dry runs only.
//!
//! ```sh
//! KUBECTL_MTLS_REAL_CLUSTER=1 KUBECTL_MTLS_REAL_NAMESPACE=istioinaction cargo test --test real_cluster
//! ```

use std::process::Command;

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-mtls");

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
    let out = Command::new(PLUGIN)
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
