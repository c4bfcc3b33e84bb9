//! `kube-sim serve`: run the simulated API server as a process.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use kube_sim::{IstioApi, Scenario, SimServer};

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
    let Command::Serve {
        kubeconfig,
        load,
        scenario,
        istio,
        listen,
        scale,
    } = cli.command;
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
    let server = match SimServer::start_on(s, listen).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = server.write_kubeconfig(&kubeconfig, "admin") {
        eprintln!("error: cannot write {}: {e}", kubeconfig.display());
        std::process::exit(1);
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", server.url());
    let _ = out.flush();
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
    drop(server);
}
