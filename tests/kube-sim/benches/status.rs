//! Benchmark: `kubectl mtls status -A -o json` against `kubectl get pods -A` and
//! `kubectl get peerauthentication -A` on a simulated cluster of 2,000 namespaces and 50,000
//! pods. Prints wall time, peak RSS and request count of each, side by side, in one run.
//!
//! ```sh
//! cargo bench -p kube-sim --bench status                      # 2,000 namespaces, 50,000 pods
//! cargo bench -p kube-sim --bench status -- --namespaces 200 --pods 5000
//! ```
//!
//! Each command runs in a fresh process with an empty HOME (kubectl starts with a cold
//! discovery cache, as on a new machine). Peak RSS is the child's `ru_maxrss`, read by a small
//! wrapper process (this binary re-executed with `--measure`) so that only that one command
//! counts. Request counts come from the simulated API server's request log.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use kube_sim::{Scenario, SimServer};

/// Runs argv, waits, prints `<exit code> <max rss KiB>` on stdout.
fn measure(argv: &[String]) -> ExitCode {
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run the measured command");
    println!("{} {}", status.code().unwrap_or(-1), children_max_rss_kib());
    ExitCode::SUCCESS
}

/// Peak RSS of the waited-for children in KiB (Linux; macOS reports bytes: divided here).
#[cfg(unix)]
fn children_max_rss_kib() -> i64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let rss = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage").max_rss();
    if cfg!(target_os = "macos") {
        rss / 1024
    } else {
        rss
    }
}

/// No getrusage off Unix: the memory figure is unknown (0 is never printed for unknown).
#[cfg(not(unix))]
fn children_max_rss_kib() -> &'static str {
    "?"
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| w[1].parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Builds the plugin with the release profile and returns its path.
fn build_plugin() -> PathBuf {
    let root = workspace_root();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-q", "--bin", "kubectl-mtls"])
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --release failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release").join("kubectl-mtls")
}

struct Measured {
    label: String,
    wall_ms: u128,
    rss_kib: i64,
    requests: usize,
    code: i32,
}

fn run_one(server: &SimServer, kubeconfig: &Path, home: &Path, label: &str, argv: Vec<String>) -> Measured {
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home).expect("home");
    server.clear_requests();
    let me = std::env::current_exe().expect("current exe");
    let start = Instant::now();
    let out = Command::new(me)
        .arg("--measure")
        .args(&argv)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run the wrapper");
    let wall_ms = start.elapsed().as_millis();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let code = parts.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
    let rss_kib = parts.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
    Measured {
        label: label.to_string(),
        wall_ms,
        rss_kib,
        requests: server.requests().len(),
        code,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        return measure(&args[2..]);
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` protocol: one benchmark.
        println!("status: bench");
        return ExitCode::SUCCESS;
    }
    let namespaces = arg(&args, "--namespaces", 2_000);
    let pods = arg(&args, "--pods", 50_000);
    let kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("kubectl is needed for the comparison");

    eprintln!("building kubectl-mtls (release) ...");
    let plugin = build_plugin();
    eprintln!("loading the simulated cluster: {namespaces} namespaces, {pods} pods ...");
    let load = Instant::now();
    let server = SimServer::start_background(Scenario::scale(namespaces, pods, 1)).expect("start kube-sim");
    let cluster = server.cluster();
    let (n_pods, n_pa) = (
        cluster.count("v1", "Pod"),
        cluster.count("security.istio.io/v1", "PeerAuthentication"),
    );
    eprintln!(
        "loaded in {:.1}s: {n_pods} pods, {n_pa} PeerAuthentications",
        load.elapsed().as_secs_f64()
    );

    let dir = std::env::temp_dir().join(format!("kube-sim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "admin").expect("kubeconfig");
    let home = dir.join("home");

    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let plugin = plugin.display().to_string();
    let runs = [
        (
            "kubectl mtls status -A -o json",
            s(&[&plugin, "status", "-A", "-o", "json"]),
        ),
        ("kubectl get pods -A", s(&[kubectl, "get", "pods", "-A"])),
        (
            "kubectl get peerauthentication -A",
            s(&[kubectl, "get", "peerauthentication", "-A"]),
        ),
    ];
    let results: Vec<Measured> = runs
        .into_iter()
        .map(|(label, argv)| run_one(&server, &kubeconfig, &home, label, argv))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!(
        "cluster: {namespaces} namespaces, {n_pods} pods, {n_pa} PeerAuthentications (kube-sim, 127.0.0.1)"
    );
    println!(
        "{:<36} {:>10} {:>14} {:>10} {:>6}",
        "COMMAND", "WALL", "PEAK RSS", "REQUESTS", "EXIT"
    );
    for m in &results {
        println!(
            "{:<36} {:>8}ms {:>11.1}MiB {:>10} {:>6}",
            m.label,
            m.wall_ms,
            m.rss_kib as f64 / 1024.0,
            m.requests,
            m.code
        );
    }
    let (status, pods_run) = (&results[0], &results[1]);
    println!();
    println!(
        "status vs get pods: {:.2}x the wall time, {:.2}x the peak memory (targets: <= 1.00x and < 0.50x)",
        status.wall_ms as f64 / pods_run.wall_ms.max(1) as f64,
        status.rss_kib as f64 / pods_run.rss_kib.max(1) as f64
    );
    if results.iter().any(|m| m.code != 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
