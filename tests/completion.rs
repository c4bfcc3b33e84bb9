//! Shell completion through the real kubectl: `kubectl __complete mtls ...` (what kubectl's
//! shell scripts run on <TAB>) finds `kubectl_complete-mtls` next to `kubectl-mtls` on PATH
//! and relays its answer. Namespaces come from the simulated cluster, contexts from the
//! kubeconfig; the static `completion bash` script is sourced into a real bash.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The completion helper cargo built for these tests.
const HELPER: &str = env!("CARGO_BIN_EXE_kubectl_complete-mtls");

/// A PATH directory holding only the two plugin binaries, plus a home directory.
struct Shell {
    dir: TempDir,
}

impl Shell {
    fn new() -> Shell {
        let dir = TempDir::new("completion");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home dir");
        for exe in [PLUGIN, HELPER] {
            let exe = Path::new(exe);
            std::fs::copy(exe, bin.join(exe.file_name().expect("binary name"))).expect("copy binary");
        }
        Shell { dir }
    }

    fn path_var(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.dir.path().join("bin")];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).expect("PATH")
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>, kubeconfig: Option<&Path>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("HOME", self.dir.path().join("home"))
            .env("PATH", self.path_var())
            .stdin(Stdio::null());
        if let Some(kc) = kubeconfig {
            cmd.env("KUBECONFIG", kc);
        }
        cmd
    }

    /// `kubectl __complete mtls WORDS...` with KUBECONFIG set to `kubeconfig`.
    fn complete(&self, kubeconfig: Option<&Path>, words: &[&str]) -> Answer {
        let mut cmd = self.command(kubectl_path(), kubeconfig);
        cmd.arg("__complete").arg("mtls").args(words);
        let run = run(cmd);
        assert_eq!(run.code, 0, "kubectl __complete failed: {}", run.stderr);
        Answer::parse(&run.stdout, &run.stderr)
    }
}

/// A parsed `__complete` answer.
#[derive(Debug)]
struct Answer {
    candidates: Vec<(String, Option<String>)>,
    directive: u32,
}

impl Answer {
    fn parse(stdout: &str, stderr: &str) -> Answer {
        let mut lines: Vec<&str> = stdout.lines().collect();
        let last = lines.pop().unwrap_or_default();
        let directive = last
            .strip_prefix(':')
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("no directive line in {stdout:?} (stderr: {stderr})"));
        let candidates = lines
            .iter()
            .map(|l| match l.split_once('\t') {
                Some((v, d)) => (v.to_string(), Some(d.to_string())),
                None => (l.to_string(), None),
            })
            .collect();
        Answer {
            candidates,
            directive,
        }
    }

    fn values(&self) -> Vec<&str> {
        self.candidates.iter().map(|(v, _)| v.as_str()).collect()
    }

    fn description(&self, value: &str) -> Option<&str> {
        self.candidates
            .iter()
            .find(|(v, _)| v == value)
            .and_then(|(_, d)| d.as_deref())
    }
}

/// cobra's ShellCompDirectiveNoFileComp.
const NO_FILE_COMP: u32 = 4;

fn cli() -> clap::Command {
    let mut cmd = kubectl_mtls::cli::command("kubectl mtls");
    cmd.build();
    cmd
}

#[test]
fn subcommands_complete_with_their_summaries() {
    if !have_kubectl("subcommands_complete_with_their_summaries") {
        return;
    }
    let shell = Shell::new();
    let answer = shell.complete(None, &[""]);
    let root = cli();
    let expected: Vec<&str> = root.get_subcommands().map(|s| s.get_name()).collect();
    assert_eq!(answer.values(), expected);
    for sub in ["status", "enable", "diff", "probe", "completion"] {
        assert!(expected.contains(&sub), "{sub} is a subcommand");
        let about = root
            .find_subcommand(sub)
            .unwrap()
            .get_about()
            .unwrap()
            .to_string();
        assert_eq!(answer.description(sub), Some(about.as_str()));
    }
    assert_eq!(answer.directive, NO_FILE_COMP);
    assert_eq!(shell.complete(None, &["pro"]).values(), ["probe"]);
}

#[test]
fn flags_of_a_subcommand_complete() {
    if !have_kubectl("flags_of_a_subcommand_complete") {
        return;
    }
    let shell = Shell::new();
    let root = cli();
    for sub in ["status", "enable", "diff", "probe"] {
        let answer = shell.complete(None, &[sub, "--"]);
        let values = answer.values();
        let cmd = root.find_subcommand(sub).unwrap();
        for arg in cmd
            .get_arguments()
            .filter(|a| !a.is_positional() && !a.is_hide_set())
        {
            let long = format!("--{}", arg.get_long().unwrap());
            assert!(
                values.contains(&long.as_str()),
                "{sub}: {long} missing from {values:?}"
            );
        }
        assert!(values.contains(&"--kubeconfig") && values.contains(&"--namespace"));
        assert_eq!(answer.directive, NO_FILE_COMP);
    }
    let answer = shell.complete(None, &["status", "--all"]);
    assert_eq!(answer.values(), ["--all-namespaces"]);
    assert_eq!(
        answer.description("--all-namespaces"),
        Some("Show every namespace")
    );
    // flags of other subcommands are not offered, nor the other modes once one is given
    let enable = shell.complete(None, &["enable", "--strict", "--"]);
    assert!(
        !enable.values().contains(&"--permissive"),
        "{:?}",
        enable.values()
    );
    assert!(enable.values().contains(&"--dry-run"));
    assert!(
        !shell
            .complete(None, &["status", "--"])
            .values()
            .contains(&"--strict")
    );
}

#[test]
fn value_enums_complete() {
    if !have_kubectl("value_enums_complete") {
        return;
    }
    let shell = Shell::new();
    let cases: &[(&[&str], &[&str])] = &[
        (&["status", "-o", ""], &["table", "wide", "json", "yaml"]),
        (&["status", "--output=j"], &["json"]),
        (&["status", "--require", ""], &["strict", "permissive", "disable"]),
        (
            &["enable", "--strict", "--dry-run="],
            &["client", "server", "none"],
        ),
        (&["enable", "--strict", "--dry-run=s"], &["server"]),
        (&["enable", "--strict", "-o", ""], &["yaml", "json"]),
        (&["probe", "web", "--output", ""], &["table", "json"]),
        (&["--color", ""], &["auto", "always", "never"]),
        (&["diff", "--color=n"], &["never"]),
        (&["completion", ""], &["bash", "zsh", "fish", "powershell"]),
    ];
    for (words, expected) in cases {
        let answer = shell.complete(None, words);
        assert_eq!(answer.values(), *expected, "kubectl __complete mtls {words:?}");
        assert_eq!(answer.directive, NO_FILE_COMP, "{words:?}");
    }
    let answer = shell.complete(None, &["status", "--require", "p"]);
    assert_eq!(
        answer.description("permissive"),
        Some("Both plaintext and mutual TLS are accepted")
    );
}

/// The namespaces the real kubectl lists.
fn namespaces_by_kubectl(lab: &Lab) -> Vec<String> {
    let run = lab.kubectl(&["get", "namespaces", "-o", "name"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut names: Vec<String> = run
        .stdout
        .lines()
        .map(|l| l.trim_start_matches("namespace/").to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "the lab has several namespaces: {names:?}");
    names
}

fn sorted(values: Vec<&str>) -> Vec<String> {
    let mut v: Vec<String> = values.into_iter().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn namespaces_complete_from_the_cluster() {
    if !have_kubectl("namespaces_complete_from_the_cluster") {
        return;
    }
    let lab = Lab::start(Scenario::lab());
    let all = namespaces_by_kubectl(&lab);
    let kubeconfig = lab.kubeconfig("admin");
    let shell = Shell::new();

    lab.sim().clear_requests();
    let answer = shell.complete(Some(&kubeconfig), &["status", ""]);
    assert_eq!(sorted(answer.values()), all);
    assert_eq!(answer.directive, NO_FILE_COMP);
    // one list request, nothing else (no discovery): completion must be fast. (kubectl
    // itself, the dispatcher, asks for /version first; that one is not the helper's.)
    let requests: Vec<RequestRecord> = lab
        .requests()
        .into_iter()
        .filter(|r| !r.user_agent.starts_with("kubectl-dispatcher"))
        .collect();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        (requests[0].verb.as_str(), requests[0].resource.as_str()),
        ("list", "namespaces")
    );

    let istio: Vec<String> = all.iter().filter(|n| n.starts_with("istio")).cloned().collect();
    assert!(!istio.is_empty());
    for words in [
        &["status", "istio"][..],
        &["status", "-n", "istio"],
        &["status", "--namespace=istio"],
        &["enable", "--strict", "istio"],
        &["diff", "--permissive", "istio"],
        &["probe", "web", "--from-namespace", "istio"],
        &["status", "--istio-namespace", "istio"],
        &["-n", "istio"],
    ] {
        let answer = shell.complete(Some(&kubeconfig), words);
        assert_eq!(
            sorted(answer.values()),
            istio,
            "kubectl __complete mtls {words:?}"
        );
    }
    // a namespace already given to status is not offered again
    let answer = shell.complete(Some(&kubeconfig), &["status", &all[0], ""]);
    assert_eq!(sorted(answer.values()), all[1..].to_vec());

    // --kubeconfig in the words wins over $KUBECONFIG, like for the plugin itself
    let kc = kubeconfig.to_str().unwrap();
    let answer = shell.complete(None, &["--kubeconfig", kc, "status", ""]);
    assert_eq!(sorted(answer.values()), all);
    let answer = shell.complete(
        Some(Path::new("/nonexistent")),
        &["status", &format!("--kubeconfig={kc}"), "-n", ""],
    );
    assert_eq!(sorted(answer.values()), all);
}

#[test]
fn rejected_credentials_give_no_candidates_and_no_error() {
    if !have_kubectl("rejected_credentials_give_no_candidates_and_no_error") {
        return;
    }
    let lab = Lab::start(Scenario::lab());
    let shell = Shell::new();
    // an unknown token: the server answers 401, completion shows nothing and no error
    let bad = lab.dir.path().join("kubeconfig-bad");
    std::fs::write(
        &bad,
        std::fs::read_to_string(lab.kubeconfig("admin"))
            .unwrap()
            .replace("token: ", "token: wrong-"),
    )
    .unwrap();
    let mut cmd = shell.command(HELPER, Some(&bad));
    cmd.args(["status", ""]);
    let run = run(cmd);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, ":4\n", "")
    );
}

/// A server that accepts connections and never answers.
fn black_hole() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    (addr, handle)
}

#[test]
fn an_unresponsive_cluster_gives_up_quickly_and_silently() {
    if !have_kubectl("an_unresponsive_cluster_gives_up_quickly_and_silently") {
        return;
    }
    let shell = Shell::new();
    let (addr, _server) = black_hole();
    let kubeconfig = shell.dir.path().join("kubeconfig-hang");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: hang\n  cluster:\n    server: https://{addr}\n\
             contexts:\n- name: hang\n  context: {{cluster: hang, user: u}}\ncurrent-context: hang\n\
             users:\n- name: u\n  user: {{token: t}}\n"
        ),
    )
    .unwrap();
    let start = Instant::now();
    let mut cmd = shell.command(HELPER, Some(&kubeconfig));
    cmd.args(["status", "-n", ""]);
    let run = run(cmd);
    let took = start.elapsed();
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, ":4\n", "")
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
    // and through kubectl, the answer is the bare directive too
    let answer = shell.complete(Some(&kubeconfig), &["status", ""]);
    assert!(answer.candidates.is_empty(), "{answer:?}");
    assert_eq!(answer.directive, NO_FILE_COMP);
}

#[test]
fn a_hanging_credential_plugin_does_not_hang_completion() {
    let shell = Shell::new();
    let sleep = ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(sleep) = sleep else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "sleep is required when CI=true"
        );
        eprintln!("SKIPPED a_hanging_credential_plugin_does_not_hang_completion: no sleep binary");
        return;
    };
    // kube-rs runs an exec credential plugin synchronously while building the client
    let kubeconfig = shell.dir.path().join("kubeconfig-exec");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: https://127.0.0.1:1}}\n\
             contexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n\
             users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n\
             \x20     command: {sleep}\n      args: [\"8\"]\n      interactiveMode: Never\n"
        ),
    )
    .unwrap();
    let start = Instant::now();
    let mut cmd = shell.command(HELPER, Some(&kubeconfig));
    cmd.args(["status", ""]);
    let run = run(cmd);
    let took = start.elapsed();
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, ":4\n", "")
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn contexts_clusters_and_users_complete_from_the_kubeconfig() {
    if !have_kubectl("contexts_clusters_and_users_complete_from_the_kubeconfig") {
        return;
    }
    let shell = Shell::new();
    let dir = shell.dir.path();
    let first = dir.join("kubeconfig-a");
    let second = dir.join("kubeconfig-b");
    std::fs::write(
        &first,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster: {server: https://127.0.0.1:1}\n\
         contexts:\n- name: lab\n  context: {cluster: lab, user: admin}\n- name: lab-viewer\n  context: {cluster: lab, user: viewer}\n\
         current-context: lab\nusers:\n- name: admin\n  user: {token: a}\n- name: viewer\n  user: {token: v}\n",
    )
    .unwrap();
    std::fs::write(
        &second,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: https://127.0.0.1:1}\n\
         contexts:\n- name: prod\n  context: {cluster: prod, user: ops}\nusers:\n- name: ops\n  user: {token: o}\n",
    )
    .unwrap();
    // $KUBECONFIG with two files: merged, like kubectl
    let both = std::env::join_paths([&first, &second]).unwrap();
    let both = PathBuf::from(both);
    let answer = shell.complete(Some(&both), &["status", "--context", ""]);
    assert_eq!(answer.values(), ["lab", "lab-viewer", "prod"]);
    assert_eq!(answer.directive, NO_FILE_COMP);
    assert_eq!(
        shell.complete(Some(&both), &["--context=lab-"]).values(),
        ["lab-viewer"]
    );
    assert_eq!(
        shell.complete(Some(&both), &["diff", "--cluster", ""]).values(),
        ["lab", "prod"]
    );
    assert_eq!(
        shell.complete(Some(&both), &["probe", "--user", ""]).values(),
        ["admin", "viewer", "ops"]
    );
    // --kubeconfig in the words selects one file
    let answer = shell.complete(
        Some(&both),
        &[
            "--kubeconfig",
            second.to_str().unwrap(),
            "status",
            "--context",
            "",
        ],
    );
    assert_eq!(answer.values(), ["prod"]);
    // the real kubectl agrees on the context names
    let mut cmd = shell.command(kubectl_path(), Some(&both));
    cmd.args(["config", "get-contexts", "-o", "name"]);
    let kubectl = run(cmd);
    let mut names: Vec<&str> = kubectl.stdout.lines().collect();
    names.sort();
    assert_eq!(names, ["lab", "lab-viewer", "prod"]);
}

#[test]
fn file_flags_fall_back_to_file_completion() {
    if !have_kubectl("file_flags_fall_back_to_file_completion") {
        return;
    }
    let shell = Shell::new();
    for words in [&["--kubeconfig", ""][..], &["diff", "-f", ""]] {
        let answer = shell.complete(None, words);
        assert!(answer.candidates.is_empty(), "{words:?}: {answer:?}");
        assert_eq!(answer.directive, 0, "{words:?}: the shell completes file names");
    }
}

#[test]
fn completion_bash_script_works_in_bash() {
    let shell = Shell::new();
    let mut cmd = shell.command(PLUGIN, None);
    cmd.args(["completion", "bash"]);
    let script = run(cmd);
    assert_eq!(script.code, 0, "{}", script.stderr);
    assert!(script.stderr.is_empty(), "{}", script.stderr);
    assert!(script.stdout.contains("complete -F"), "a bash completion script");
    for sub in cli().get_subcommands().map(|s| s.get_name()) {
        assert!(script.stdout.contains(sub), "the script knows {sub}");
    }
    let bad = run({
        let mut c = shell.command(PLUGIN, None);
        c.args(["completion", "tcsh"]);
        c
    });
    assert_eq!(bad.code, 2, "an unknown shell is a usage error");
    assert!(bad.stderr.contains("tcsh"), "{}", bad.stderr);

    let bash = Path::new("/bin/bash");
    if !bash.exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "bash is required when CI=true"
        );
        eprintln!("SKIPPED the bash part of completion_bash_script_works_in_bash: no /bin/bash");
        return;
    }
    let script_path = shell.dir.path().join("kubectl-mtls.bash");
    std::fs::write(&script_path, &script.stdout).unwrap();
    // Replays what bash does on <TAB>: COMP_WORDS/COMP_CWORD, then the registered function.
    let probe = format!(
        r#"source {script}
fn=$(complete -p kubectl-mtls | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[ -n "$fn" ] || {{ echo "kubectl-mtls is not registered"; exit 3; }}
ask() {{
  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
  COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
  COMPREPLY=()
  "$fn" kubectl-mtls "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
  echo "${{COMPREPLY[*]}}"
}}
ask kubectl-mtls st
ask kubectl-mtls status --al
ask kubectl-mtls status --output ''
ask kubectl-mtls enable --dry-
"#,
        script = script_path.display()
    );
    let mut cmd = shell.command(bash, None);
    cmd.arg("--norc").arg("-c").arg(probe);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        ["status", "--all-namespaces", "table wide json yaml", "--dry-run"],
        "stderr: {}",
        out.stderr
    );
}
