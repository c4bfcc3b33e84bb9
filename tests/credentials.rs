//! Credentials never leak: none over plain http://, every printed URL redacted, an exec
//! credential plugin run once per process (the completion helper too), and temp folders with
//! cluster data private to their owner.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const HELPER: &str = env!("CARGO_BIN_EXE_kubectl_complete-mtls");

fn plugin_with(lab: &Lab, kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = lab.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(PLUGIN);
    cmd.env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

/// Writes an executable shell script.
#[cfg(unix)]
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

#[test]
fn no_credentials_over_plain_http() {
    let lab = Lab::from_sim(
        SimServer::start_plain_http(Scenario::lab()).expect("start kube-sim"),
        "plain-http",
    );
    let run = lab.plugin(&["status", "-A"]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with("warning: not sending the credentials of user \"admin\" to http://127.0.0.1:")
            && lines[0].contains("plain http:// is unencrypted"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("error: ") && lines[1].contains("401"),
        "{}",
        lines[1]
    );
    let reqs = lab.requests();
    assert!(!reqs.is_empty());
    assert!(reqs.iter().all(|r| !r.authorization), "{reqs:?}");
    // Over HTTPS the token is sent, in the header, and no such line is printed.
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["status", "-A"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("warning: not sending"), "{}", run.stderr);
    assert!(
        lab.requests()
            .iter()
            .all(|r| r.authorization && r.user == "admin")
    );
}

#[test]
fn printed_urls_are_redacted() {
    let lab = Lab::start(Scenario::lab());
    let text = std::fs::read_to_string(lab.kubeconfig("admin")).unwrap();
    let url = lab.sim().url().to_string();
    // A proxy URL carrying a token in its path: the -v log masks it.
    let proxied = lab.dir.path().join("proxied");
    std::fs::write(
        &proxied,
        text.replace(&url, &format!("{url}/_token/sekrit-token-value")),
    )
    .unwrap();
    let run = plugin_with(&lab, &proxied, &["status", "-n", "istioinaction", "-v", "6"], &[]);
    assert_eq!(run.code, 1, "the sim has no such path: {run:?}");
    assert!(!run.stderr.contains("sekrit"), "{}", run.stderr);
    assert!(run.stderr.contains("/_token/***/api"), "{}", run.stderr);
    // user:password@ in the server URL: the error line masks it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("https://alice:s3cret@{}", closed.local_addr().unwrap());
    drop(closed);
    let userinfo = lab.dir.path().join("userinfo");
    std::fs::write(&userinfo, text.replace(&url, &dead)).unwrap();
    let run = plugin_with(&lab, &userinfo, &["status", "-v", "6"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        !run.stderr.contains("s3cret") && !run.stderr.contains("alice"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("https://***@127.0.0.1:"), "{}", run.stderr);
}

/// (The fake plugin is a shell script.)
#[cfg(unix)]
#[test]
fn an_exec_credential_plugin_runs_once_per_process() {
    let lab = Lab::start(Scenario::lab());
    let dir = lab.dir.path();
    let runs = dir.join("runs");
    let info = dir.join("exec-info");
    let plugin = script(
        dir,
        "login-helper",
        &format!(
            "echo run >> '{}'\nprintf '%s' \"$KUBERNETES_EXEC_INFO\" > '{}'\n\
             printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"}}}}' \"$SIM_TOKEN\"",
            runs.display(),
            info.display()
        ),
    );
    let text = std::fs::read_to_string(lab.kubeconfig("admin")).unwrap();
    let token_line = format!("    token: {}\n", lab.sim().token("admin").unwrap());
    assert!(text.contains(&token_line), "{text}");
    let exec = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n      env:\n      - name: SIM_TOKEN\n        value: {}\n",
        plugin.display(),
        lab.sim().token("admin").unwrap()
    );
    let kubeconfig = dir.join("exec-kubeconfig");
    std::fs::write(&kubeconfig, text.replace(&token_line, &exec)).unwrap();
    let count = || {
        std::fs::read_to_string(&runs)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };

    let run = plugin_with(&lab, &kubeconfig, &["status", "-n", "istioinaction"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(count(), 1, "one run per command");
    let sent = std::fs::read_to_string(&info).unwrap();
    let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["kind"], "ExecCredential");
    assert_eq!(sent["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(sent["spec"]["interactive"], false);
    assert!(lab.requests().iter().all(|r| r.user == "admin"));

    // The completion helper asks the cluster for namespaces: one run as well.
    let home = dir.join("home");
    let out = Command::new(HELPER)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", &kubeconfig)
        .args(["status", ""])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.lines().any(|l| l == "istioinaction"), "{answer}");
    assert_eq!(count(), 2, "one more run for the helper");

    // A failing plugin is one error line naming it.
    let failing = script(dir, "broken-helper", "echo 'login expired' >&2\nexit 3");
    let broken = dir.join("broken-kubeconfig");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&kubeconfig)
            .unwrap()
            .replace(&plugin.display().to_string(), &failing.display().to_string()),
    )
    .unwrap();
    let run = plugin_with(&lab, &broken, &["status"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("cannot get credentials for user \"admin\"")
            && errors[0].contains("exited with 3: login expired"),
        "{}",
        errors[0]
    );
}

#[cfg(unix)]
#[test]
fn external_diff_folders_are_private() {
    let lab = Lab::start(Scenario::lab());
    let modes = lab.dir.path().join("modes");
    let differ = script(
        lab.dir.path(),
        "differ",
        &format!("stat -c %a \"$1\" \"$2\" > '{}'\nexit 1", modes.display()),
    );
    let differ = differ.display().to_string();
    let run = plugin_with(
        &lab,
        &lab.kubeconfig("admin"),
        &["diff", "istioinaction", "--strict"],
        &[("KUBECTL_EXTERNAL_DIFF", differ.as_str())],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(std::fs::read_to_string(&modes).unwrap(), "700\n700\n");
}
