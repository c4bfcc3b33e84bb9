//! Benchmark: `kubectl mtls status -A -o json` against `kubectl get pods -A` and
//! `kubectl get peerauthentication -A` on a simulated cluster of 2,000 namespaces and 50,000
//! pods. Prints wall time, peak RSS and request count of each, side by side, in one run.
//!
//! When `KUBEBUILDER_ASSETS` names a folder with `kube-apiserver` and `etcd` (see
//! docs/testing.md), the same cluster is then loaded into a real API server (kube_sim::envtest)
//! and measured again, with a third contender: the raw paged LISTs status needs (namespaces and
//! pods metadata-only, services, PeerAuthentications, DestinationRules, 500 a page), fetched and
//! decoded by kube-rs with no logic (this binary re-executed with `--raw-lists`): the floor.
//! Request counts on the real server come from its `apiserver_request_total` metric.
//!
//! ```sh
//! cargo bench -p kube-sim --bench status                      # 2,000 namespaces, 50,000 pods
//! cargo bench -p kube-sim --bench status -- --namespaces 200 --pods 5000
//! cargo bench -p kube-sim --bench status -- --real-only       # only the real API server
//! cargo bench -p kube-sim --bench status -- --plugin PATH     # measure that plugin build
//! cargo bench -p kube-sim --bench status -- --baseline PATH   # and another one, on the real server
//! ```
//!
//! Each command runs in a fresh process with an empty HOME (kubectl starts with a cold
//! discovery cache, as on a new machine). Peak RSS is the child's `ru_maxrss`, read by a small
//! wrapper process (this binary re-executed with `--measure`) so that only that one command
//! counts. Request counts come from the simulated API server's request log.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use kube_sim::envtest::ControlPlane;
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

/// Counts the requests a command makes: kube-sim's log or the real server's metric.
enum Counter<'a> {
    Sim(&'a SimServer),
    Real(&'a ControlPlane),
}

impl Counter<'_> {
    fn reset(&self) -> usize {
        match self {
            Counter::Sim(s) => {
                s.clear_requests();
                0
            }
            Counter::Real(cp) => real_requests(cp),
        }
    }
    fn since(&self, start: usize) -> usize {
        match self {
            Counter::Sim(s) => s.requests().len(),
            // minus the metrics request that read the second figure
            Counter::Real(cp) => real_requests(cp).saturating_sub(start + 1),
        }
    }
}

/// The sum of `apiserver_request_total` over every label set.
fn real_requests(cp: &ControlPlane) -> usize {
    let req = http::Request::get("/metrics").body(Vec::new()).expect("request");
    let text = cp.block_on(cp.admin().request_text(req)).expect("read /metrics");
    text.lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize
}

fn run_one(counter: &Counter, kubeconfig: &Path, home: &Path, label: &str, argv: Vec<String>) -> Measured {
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home).expect("home");
    let first = counter.reset();
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
        requests: counter.since(first),
        code,
    }
}

/// The floor: the paged LISTs `status -A` needs, fetched and decoded, nothing else.
fn raw_lists(args: &[String]) -> ExitCode {
    use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
    let path = args
        .iter()
        .find_map(|a| a.strip_prefix("--kubeconfig="))
        .expect("--kubeconfig=");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let items = rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(path).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        let client = kube::Client::try_from(config).expect("client");
        let mut items = 0usize;
        macro_rules! pages {
            ($list:expr) => {{
                let mut lp = ListParams::default().limit(500);
                loop {
                    let page = $list(&lp).await.expect("list");
                    items += page.items.len();
                    match page.metadata.continue_ {
                        Some(t) if !t.is_empty() => lp = lp.continue_token(&t),
                        _ => break,
                    }
                }
            }};
        }
        let ns: Api<Namespace> = Api::all(client.clone());
        pages!(|lp| ns.list_metadata(lp));
        let pods: Api<Pod> = Api::all(client.clone());
        pages!(|lp| pods.list_metadata(lp));
        let svc: Api<Service> = Api::all(client.clone());
        pages!(|lp| svc.list(lp));
        for (group, kind, plural) in [
            ("security.istio.io", "PeerAuthentication", "peerauthentications"),
            ("networking.istio.io", "DestinationRule", "destinationrules"),
        ] {
            let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            pages!(|lp| api.list(lp));
        }
        items
    });
    eprintln!("raw lists: {items} objects");
    ExitCode::SUCCESS
}

fn print_table(title: &str, results: &[Measured]) {
    println!();
    println!("{title}");
    println!(
        "{:<36} {:>10} {:>14} {:>10} {:>6}",
        "COMMAND", "WALL", "PEAK RSS", "REQUESTS", "EXIT"
    );
    for m in results {
        println!(
            "{:<36} {:>8}ms {:>11.1}MiB {:>10} {:>6}",
            m.label,
            m.wall_ms,
            m.rss_kib as f64 / 1024.0,
            m.requests,
            m.code
        );
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        return measure(&args[2..]);
    }
    if args.get(1).map(String::as_str) == Some("--raw-lists") {
        return raw_lists(&args[2..]);
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` protocol: one benchmark.
        println!("status: bench");
        return ExitCode::SUCCESS;
    }
    let namespaces = arg(&args, "--namespaces", 2_000);
    let pods = arg(&args, "--pods", 50_000);
    let real_only = args.iter().any(|a| a == "--real-only");
    let kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("kubectl is needed for the comparison");

    // `--plugin PATH` measures that build instead (e.g. one made before a change).
    let plugin = match args.windows(2).find(|w| w[0] == "--plugin") {
        Some(w) => PathBuf::from(&w[1]),
        None => {
            eprintln!("building kubectl-mtls (release) ...");
            build_plugin()
        }
    };
    let dir = std::env::temp_dir().join(format!("kube-sim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    let home = dir.join("home");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let plugin = plugin.display().to_string();
    let mut failed = false;
    let scenario = Scenario::scale(namespaces, pods, 1);

    if !real_only {
        eprintln!("loading the simulated cluster: {namespaces} namespaces, {pods} pods ...");
        let load = Instant::now();
        let server = SimServer::start_background(scenario.clone()).expect("start kube-sim");
        let cluster = server.cluster();
        let (n_pods, n_pa) = (
            cluster.count("v1", "Pod"),
            cluster.count("security.istio.io/v1", "PeerAuthentication"),
        );
        eprintln!(
            "loaded in {:.1}s: {n_pods} pods, {n_pa} PeerAuthentications",
            load.elapsed().as_secs_f64()
        );
        server.write_kubeconfig(&kubeconfig, "admin").expect("kubeconfig");
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
        let counter = Counter::Sim(&server);
        let results: Vec<Measured> = runs
            .into_iter()
            .map(|(label, argv)| run_one(&counter, &kubeconfig, &home, label, argv))
            .collect();
        print_table(
            &format!(
                "cluster: {namespaces} namespaces, {n_pods} pods, {n_pa} PeerAuthentications (kube-sim, 127.0.0.1)"
            ),
            &results,
        );
        let (status, pods_run) = (&results[0], &results[1]);
        println!();
        println!(
            "status vs get pods: {:.2}x the wall time, {:.2}x the peak memory (targets: <= 1.00x and < 0.50x)",
            status.wall_ms as f64 / pods_run.wall_ms.max(1) as f64,
            status.rss_kib as f64 / pods_run.rss_kib.max(1) as f64
        );
        failed |= results.iter().any(|m| m.code != 0);
    }

    match kube_sim::envtest::assets_dir() {
        None => {
            println!();
            println!(
                "real API server: skipped (set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd; see docs/testing.md)"
            );
        }
        Some(assets) => {
            eprintln!("starting kube-apiserver + etcd from {} ...", assets.display());
            let cp = ControlPlane::start(&assets).expect("start the real control plane");
            let objects = scenario.objects().expect("scenario objects");
            let n_pods = objects.iter().filter(|o| o["kind"] == "Pod").count();
            let n_pa = objects
                .iter()
                .filter(|o| o["kind"] == "PeerAuthentication")
                .count();
            eprintln!("loading {} objects into the real API server ...", objects.len());
            let load = Instant::now();
            cp.create_many(&objects, 16).expect("load the real server");
            eprintln!("loaded in {:.1}s", load.elapsed().as_secs_f64());
            std::fs::write(
                &kubeconfig,
                cp.kubeconfig("admin", kube_sim::envtest::ADMIN_TOKEN, "default"),
            )
            .expect("kubeconfig");
            let me = std::env::current_exe()
                .expect("current exe")
                .display()
                .to_string();
            let runs = [
                (
                    "kubectl mtls status -A -o json",
                    s(&[&plugin, "status", "-A", "-o", "json"]),
                ),
                ("kubectl get pods -A", s(&[kubectl, "get", "pods", "-A"])),
                ("raw paged LISTs (kube-rs, no logic)", s(&[&me, "--raw-lists"])),
            ];
            let counter = Counter::Real(&cp);
            let mut results: Vec<Measured> = runs
                .into_iter()
                .map(|(label, argv)| run_one(&counter, &kubeconfig, &home, label, argv))
                .collect();
            // `--baseline PATH`: another build of the plugin (say, before a change), same load.
            if let Some(w) = args.windows(2).find(|w| w[0] == "--baseline") {
                let argv = s(&[&w[1], "status", "-A", "-o", "json"]);
                results.push(run_one(
                    &counter,
                    &kubeconfig,
                    &home,
                    "status -A -o json (--baseline)",
                    argv,
                ));
            }
            print_table(
                &format!(
                    "cluster: {namespaces} namespaces, {n_pods} pods, {n_pa} PeerAuthentications (real kube-apiserver, 127.0.0.1)"
                ),
                &results,
            );
            let (status, pods_run, raw) = (&results[0], &results[1], &results[2]);
            println!();
            println!(
                "status vs raw LISTs: {:.2}x the wall time (target <= 1.00x); status vs get pods: {:.2}x the peak memory (target < 0.15x)",
                status.wall_ms as f64 / raw.wall_ms.max(1) as f64,
                status.rss_kib as f64 / pods_run.rss_kib.max(1) as f64
            );
            failed |= results.iter().any(|m| m.code != 0);
            cp.stop();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
