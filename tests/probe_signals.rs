//! Interrupted runs clean up: SIGTERM (CI cancellation, `timeout`) and SIGHUP (a closed
//! terminal) during `probe --create-clients` delete the created pods exactly as Ctrl-C does,
//! and a cleanup that fails names the exact pods to delete.

mod common;
mod probe_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube_sim::{ExecResponse, Rule, Scenario, User};
use probe_support::*;

const TARGET: &str = "web-api.istioinaction:8080";

#[cfg(unix)]
#[test]
fn sigterm_and_sighup_delete_the_created_clients() {
    for signal in ["-TERM", "-HUP"] {
        let release = Arc::new(AtomicBool::new(false));
        let gate = release.clone();
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
        assert_eq!(lab.pods_named("mtls-probe-").len(), 2);
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let out = child.wait_with_output().expect("wait");
        release.store(true, Ordering::SeqCst);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{signal}: {stderr}");
        assert!(
            lab.pods_named("mtls-probe-").is_empty(),
            "{signal}: client pods left behind: {stderr}"
        );
    }
}

#[test]
fn a_failed_cleanup_names_the_exact_pods() {
    // May create pods but not delete them.
    let user = User::new("creator", "creator-token")
        .allow(Rule::new(&["get", "list", "watch"], &["*"]))
        .allow(Rule::new(&["create"], &["pods", "pods/exec"]).in_namespaces(&["default"]));
    let lab = Lab::start(Scenario::lab().user(user).exec_handler(mesh_handler));
    let run = lab.plugin_as(
        "creator",
        &["probe", TARGET, "--create-clients", "--from-namespace", "default"],
    );
    let names = lab.pods_named("mtls-probe-");
    assert_eq!(names.len(), 2, "{run:#?}");
    let hint = run
        .stderr
        .lines()
        .find(|l| l.starts_with("warning: could not delete client pods"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let (_, command) = hint.split_once("delete them with: ").expect("a command");
    let mut sorted = names.clone();
    sorted.sort();
    let mut words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(
        &words[..5],
        ["kubectl", "delete", "pod", "-n", "default"],
        "{hint}"
    );
    let mut named: Vec<String> = words.split_off(5).into_iter().map(str::to_string).collect();
    named.sort();
    assert_eq!(named, sorted, "{hint}");
    assert!(!command.contains("-l "), "no label selector: {hint}");
}
