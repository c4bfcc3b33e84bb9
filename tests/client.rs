//! Client setup as kubectl users expect it: kubeconfig loading and merging, contexts,
//! impersonation, the request log, and one clear `error:` line for each way a connection fails.

mod common;

use common::*;

fn plugin_env(lab: &Lab, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Run {
    let mut cmd = std::process::Command::new(PLUGIN);
    cmd.env_clear()
        .env("HOME", lab.dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

fn one_error_line(run: &Run) -> &str {
    assert_eq!(run.code, 1, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    run.stderr.trim_end()
}

#[test]
fn an_unknown_context_is_named() {
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["status", "--context", "nope"]);
    let line = one_error_line(&run);
    assert!(
        line.starts_with("error: context \"nope\" does not exist in "),
        "{line}"
    );
}

#[test]
fn bad_or_missing_kubeconfig_files_are_named() {
    let lab = Lab::start(Scenario::lab());
    let bad = lab.dir.path().join("bad-kubeconfig");
    std::fs::write(&bad, "clusters: [this is: not valid").unwrap();
    let run = plugin_env(&lab, &["status", "--kubeconfig", bad.to_str().unwrap()], &[]);
    let line = one_error_line(&run);
    assert!(line.starts_with("error: invalid kubeconfig"), "{line}");
    let missing = lab.dir.path().join("missing");
    let run = plugin_env(&lab, &["status", "--kubeconfig", missing.to_str().unwrap()], &[]);
    let line = one_error_line(&run);
    assert!(line.starts_with("error: cannot read kubeconfig"), "{line}");
    // nothing at all: no KUBECONFIG, no ~/.kube/config, not in a cluster
    let run = plugin_env(&lab, &["status"], &[]);
    let line = one_error_line(&run);
    assert!(line.contains("no kubeconfig found"), "{line}");
    // KUBECONFIG set to files that do not exist: it says so instead of "set KUBECONFIG"
    let run = plugin_env(&lab, &["status"], &[("KUBECONFIG", missing.as_os_str())]);
    let line = one_error_line(&run);
    assert!(
        line.contains("no kubeconfig found: none of the files KUBECONFIG lists exists (")
            && line.contains("missing")
            && !line.contains("set KUBECONFIG"),
        "{line}"
    );
}

#[test]
fn an_unreachable_server_says_so() {
    let lab = Lab::start(Scenario::lab());
    let text = std::fs::read_to_string(lab.kubeconfig("admin")).unwrap();
    let url = lab.sim().url().to_string();
    // a port nothing listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    let path = lab.dir.path().join("dead");
    std::fs::write(&path, text.replace(&url, &dead)).unwrap();
    let run = plugin_env(&lab, &["status", "--kubeconfig", path.to_str().unwrap()], &[]);
    let line = one_error_line(&run);
    assert!(
        line.starts_with(&format!(
            "error: cannot reach the Kubernetes API server at {dead}"
        )),
        "{line}"
    );
    assert!(line.contains("connection refused"), "{line}");
}

#[test]
fn rejected_credentials_are_reported_as_such() {
    let lab = Lab::start(Scenario::lab());
    let text = std::fs::read_to_string(lab.kubeconfig("admin")).unwrap();
    let token = lab.sim().token("admin").unwrap().to_string();
    let path = lab.dir.path().join("expired");
    std::fs::write(&path, text.replace(&token, "expired-token")).unwrap();
    let run = plugin_env(&lab, &["status", "--kubeconfig", path.to_str().unwrap()], &[]);
    let line = one_error_line(&run);
    assert!(
        line.contains("rejected the credentials of user \"admin\" (401 Unauthorized)"),
        "{line}"
    );
    assert!(line.contains("expired"), "{line}");
}

#[test]
fn impersonation_runs_as_the_other_user() {
    let viewer = User::new("viewer", "viewer-token").allow(Rule::new(&["get", "list"], &["pods"]));
    let lab = Lab::start(Scenario::lab().user(viewer));
    lab.sim().clear_requests();
    let run = lab.plugin(&["status", "-A", "--as", "viewer"]);
    let line = one_error_line(&run);
    assert!(line.contains("User \"viewer\""), "{line}");
    assert!(
        lab.requests().iter().all(|r| r.user == "viewer"),
        "every request ran as viewer"
    );
    let run = lab.plugin(&["status", "--as-group", "devs"]);
    assert_eq!(run.code, 2, "--as-group needs --as: {}", run.stderr);
}

#[test]
fn kubeconfig_paths_merge_like_kubectl() {
    let lab = Lab::start(Scenario::lab());
    let admin = lab.kubeconfig("admin");
    // a second file adding a context with a namespace; the first listed file wins on conflicts,
    // and files that do not exist are skipped
    let extra = lab.dir.path().join("extra");
    std::fs::write(
        &extra,
        "apiVersion: v1\nkind: Config\ncontexts:\n- name: mesh\n  context: {cluster: kube-sim, user: admin, namespace: istioinaction}\n",
    )
    .unwrap();
    let missing = lab.dir.path().join("does-not-exist");
    let joined = std::env::join_paths([missing.as_path(), admin.as_path(), extra.as_path()]).unwrap();
    let run = plugin_env(
        &lab,
        &["status", "--context", "mesh", "-o", "json"],
        &[("KUBECONFIG", &joined)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.json()["namespaces"][0]["name"],
        "istioinaction",
        "the context's namespace"
    );
    // -n wins over the context's namespace
    let run = plugin_env(
        &lab,
        &["status", "--context", "mesh", "-n", "default", "-o", "json"],
        &[("KUBECONFIG", &joined)],
    );
    assert_eq!(run.json()["namespaces"][0]["name"], "default");
}

#[test]
fn verbose_logs_requests_to_stderr_without_credentials() {
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["status", "-v=7", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json();
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with(&format!("I GET {}/apis ", lab.sim().url())) && l.contains("200 OK")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("request header accept:"), "{}", run.stderr);
    let token = lab.sim().token("admin").unwrap();
    assert!(!run.stderr.contains(token), "the token never reaches the log");
    assert!(
        lab.plugin(&["status", "-o", "json"]).stderr.is_empty(),
        "quiet without -v"
    );
}

#[test]
fn kubectl_finds_the_plugin_and_usage_says_kubectl_mtls() {
    if !have_kubectl("kubectl_finds_the_plugin_and_usage_says_kubectl_mtls") {
        return;
    }
    let lab = Lab::start(Scenario::lab());
    let bin = lab.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(PLUGIN, bin.join("kubectl-mtls")).unwrap();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut cmd = std::process::Command::new(kubectl_path());
    cmd.env_clear()
        .env("HOME", lab.dir.path())
        .env("PATH", &path)
        .args(["mtls", "--help"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Usage: kubectl mtls [OPTIONS] <COMMAND>"),
        "{}",
        out.stdout
    );
    for sub in ["status", "enable", "diff", "probe"] {
        assert!(out.stdout.contains(&format!("  {sub} ")), "{sub} in --help");
    }
    // and a real command through kubectl, flags after the plugin name
    let mut cmd = std::process::Command::new(kubectl_path());
    cmd.env_clear()
        .env("HOME", lab.dir.path())
        .env("PATH", &path)
        .env("KUBECONFIG", lab.kubeconfig("admin"))
        .args(["mtls", "status", "-n", "istioinaction"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("istioinaction") && l.contains("PERMISSIVE")),
        "{}",
        out.stdout
    );
    // a usage error: one line, exit 2, pointing at the subcommand's help
    let mut cmd = std::process::Command::new(kubectl_path());
    cmd.env_clear()
        .env("HOME", lab.dir.path())
        .env("PATH", &path)
        .args(["mtls", "status", "--bogus"]);
    let out = run(cmd);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "error: unexpected argument '--bogus' found; see 'kubectl mtls status --help'"
    );
}
