//! `kube-sim serve`: run the simulated API server as a process.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use kube_sim::{IstioApi, Scenario, SimServer, TrafficFlow, Transport};

#[derive(Parser)]
#[command(
    name = "kube-sim",
    about = "An in-memory Kubernetes API server for tests and labs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The Istio workshop without a cluster: builds the plugin, starts the simulated lab
    /// (with a simulated mesh, so traffic and certificates follow the applied policy) and walks
    /// through the lab with the real kubectl, printing each command and its output.
    Lab {
        /// Instead of the tour, open a shell with KUBECONFIG pointing at the lab and
        /// `kubectl mtls` on PATH, to type the lab's commands by hand.
        #[arg(long)]
        shell: bool,
        /// Use the plugin binaries in this directory instead of building them.
        #[arg(long, value_name = "DIR")]
        plugin_dir: Option<PathBuf>,
    },
    /// Serve until SIGINT/SIGTERM; prints the URL on the first line of stdout.
    Serve {
        /// Where to write a kubeconfig for the admin user.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Multi-document YAML manifests to load (repeatable).
        #[arg(long = "load")]
        load: Vec<PathBuf>,
        /// Starting scenario.
        #[arg(long, value_enum, default_value_t = ScenarioArg::Lab)]
        scenario: ScenarioArg,
        /// Istio API versions served.
        #[arg(long, value_enum, default_value_t = IstioArg::V1)]
        istio: IstioArg,
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Scale scenario: namespaces,pods,seed (e.g. 500,50000,1); replaces --scenario.
        #[arg(long)]
        scale: Option<String>,
        /// Answer curl, wget and pilot-agent in pods the way a mesh would (certificates,
        /// traffic following the policies, Istio's counters).
        #[arg(long)]
        simulated_mesh: bool,
        /// The lab's steady traffic (needs the lab scenario): a backlog of requests, then one
        /// more round every 2 s, counted by the simulated mesh.
        #[arg(long)]
        lab_traffic: bool,
        /// Serve plain HTTP instead of HTTPS (clients then send no credentials: every request
        /// is anonymous and gets 401).
        #[arg(long)]
        plain_http: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ScenarioArg {
    Lab,
    Empty,
}

#[derive(Clone, Copy, ValueEnum)]
enum IstioArg {
    V1,
    V1beta1,
    None,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let (kubeconfig, load, scenario, istio, listen, scale, simulated_mesh, lab_traffic, plain_http) =
        match cli.command {
            Command::Lab { shell, plugin_dir } => std::process::exit(lab(shell, plugin_dir)),
            Command::Serve {
                kubeconfig,
                load,
                scenario,
                istio,
                listen,
                scale,
                simulated_mesh,
                lab_traffic,
                plain_http,
            } => (
                kubeconfig,
                load,
                scenario,
                istio,
                listen,
                scale,
                simulated_mesh,
                lab_traffic,
                plain_http,
            ),
        };
    let mut s = match (scale, scenario) {
        (Some(spec), _) => {
            let nums: Vec<u64> = spec.split(',').filter_map(|n| n.trim().parse().ok()).collect();
            if nums.len() != 3 {
                eprintln!("error: --scale takes namespaces,pods,seed (e.g. 500,50000,1)");
                std::process::exit(2);
            }
            Scenario::scale(nums[0] as usize, nums[1] as usize, nums[2])
        }
        (None, ScenarioArg::Lab) => Scenario::lab(),
        (None, ScenarioArg::Empty) => Scenario::empty(),
    };
    s = s.istio(match istio {
        IstioArg::V1 => IstioApi::V1,
        IstioArg::V1beta1 => IstioApi::V1beta1Only,
        IstioArg::None => IstioApi::None,
    });
    for path in load {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                std::process::exit(1);
            }
        };
        s = match s.load_yaml(&text) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                std::process::exit(1);
            }
        };
    }
    if simulated_mesh {
        s = s.with_simulated_mesh();
    }
    let transport = if plain_http {
        Transport::PlainHttp
    } else {
        Transport::Https
    };
    let server = match SimServer::start_with(s, listen, transport).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let _traffic = if lab_traffic {
        let cluster = server.cluster();
        if let Err(e) = cluster.simulate_flows(&TrafficFlow::lab(), kube_sim::tour::LAB_TRAFFIC_ROUNDS) {
            eprintln!("error: --lab-traffic needs the lab scenario: {e}");
            std::process::exit(1);
        }
        Some(cluster.start_traffic(TrafficFlow::lab(), kube_sim::tour::LAB_TRAFFIC_EVERY))
    } else {
        None
    };
    if let Err(e) = server.write_kubeconfig(&kubeconfig, "admin") {
        eprintln!("error: cannot write {}: {e}", kubeconfig.display());
        std::process::exit(1);
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", server.url());
    let _ = out.flush();
    wait_for_stop().await;
    drop(server);
}

/// Waits for Ctrl-C, or SIGTERM on Unix (what `kill` and CI cancellation send).
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot handle SIGTERM: {e}");
                std::process::exit(1);
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Builds the plugin (unless given a directory), starts the lab and runs the tour or a shell.
fn lab(shell: bool, plugin_dir: Option<PathBuf>) -> i32 {
    let plugin_dir = match plugin_dir {
        Some(d) => d,
        None => match build_plugin() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        },
    };
    if !plugin_dir.join("kubectl-mtls").is_file() && !plugin_dir.join("kubectl-mtls.exe").is_file() {
        eprintln!("error: no kubectl-mtls binary in {}", plugin_dir.display());
        return 1;
    }
    let env = match kube_sim::tour::prepare(&plugin_dir) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let result = if shell {
        env.shell()
    } else {
        env.tour(&mut std::io::stdout()).map(|_| 0)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Builds the plugin's binaries with the cargo that runs this program (`cargo run`), into the
/// directory this program was built in, and returns that directory.
fn build_plugin() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate kube-sim: {e}"))?;
    let dir = exe.parent().ok_or("kube-sim has no directory")?.to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let release = dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-q", "-p", "kubectl-mtls", "--bins"])
        .current_dir(&root);
    if release {
        cmd.arg("--release");
    }
    eprintln!("building kubectl-mtls ...");
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building kubectl-mtls failed".into());
    }
    Ok(dir)
}
