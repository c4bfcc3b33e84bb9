//! The `kube-sim serve` binary: URL on the first line, kubeconfig, --load,
//! clean exit on SIGTERM.

mod common;

use common::{TempDir, have_kubectl};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn serve_writes_a_kubeconfig_loads_manifests_and_stops_on_sigterm() {
    let dir = TempDir::new("binary");
    let kubeconfig = dir.path().join("kubeconfig");
    let manifest = dir.path().join("extra.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n  labels: {istio-injection: enabled}\n---\n\
         apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: extra\n\
         spec:\n  mtls:\n    mode: STRICT\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["serve", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--load")
        .arg(&manifest)
        .args(["--scenario", "empty", "--istio", "v1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kube-sim");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first.trim().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url:?}");
    let kc = std::fs::read_to_string(&kubeconfig).unwrap();
    // The server URL is the plain URL: the token travels in `token:` only, the CA with it.
    assert!(kc.contains(&format!("server: {url}\n")), "{kc}");
    assert!(kc.contains("certificate-authority-data: "), "{kc}");
    assert!(kc.contains("token: kube-sim-admin-token"), "{kc}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the kubeconfig holds a token");
    }
    assert!(
        kc.contains("current-context: kube-sim") && kc.contains("namespace: default"),
        "{kc}"
    );
    if have_kubectl("serve_writes_a_kubeconfig_loads_manifests_and_stops_on_sigterm") {
        let home = dir.path().join("home");
        let out = Command::new(common::KUBECTL)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "get",
                "pa",
                "-n",
                "extra",
                "-o",
                "jsonpath={.items[*].spec.mtls.mode}",
            ])
            .env("HOME", &home)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "STRICT",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "kube-sim exited with {exit:?}");
}

#[test]
fn serve_reports_bad_manifests() {
    let dir = TempDir::new("binary-bad");
    let manifest = dir.path().join("bad.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  namespace: nowhere\nspec: {}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["serve", "--kubeconfig"])
        .arg(dir.path().join("kc"))
        .arg("--load")
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loading Pod x: namespaces \"nowhere\" not found"),
        "{stderr}"
    );
}

/// The lab's folder holds the admin's kubeconfig: the owner's only.
#[cfg(unix)]
#[test]
fn the_lab_keeps_its_kubeconfig_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let plugins = TempDir::new("lab-plugins");
    let env = kube_sim::tour::prepare(plugins.path()).expect("prepare the lab");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.dir), 0o700);
    assert_eq!(mode(&env.kubeconfig), 0o600);
    let kc = std::fs::read_to_string(&env.kubeconfig).unwrap();
    assert!(
        kc.contains("certificate-authority-data: ") && kc.contains("server: https://"),
        "{kc}"
    );
}
