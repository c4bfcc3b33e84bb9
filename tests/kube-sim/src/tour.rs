//! The workshop as a tour, without a cluster: `kube-sim lab` starts the simulated lab (with the
//! simulated mesh, so traffic and certificates follow the applied policy), puts the plugin on
//! `PATH`, and either walks through the lab's steps with the real `kubectl`, printing each command
//! and its real output, or opens a shell for the learner to type them.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Scenario, SimError, SimServer, TrafficFlow, TrafficTicker};

/// Rounds of [`TrafficFlow::lab`] sent before the lab starts.
pub const LAB_TRAFFIC_ROUNDS: u64 = 30;

/// How often the lab sends one more round of [`TrafficFlow::lab`].
pub const LAB_TRAFFIC_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// One step of the tour: what it shows and the command typed.
pub struct Step {
    /// What the step shows, one line.
    pub title: &'static str,
    /// The words after `kubectl`; `>` and a file name last write the output to that file in
    /// [`graph_dir`] instead of printing it.
    pub args: &'static [&'static str],
    /// The exit status the step ends with (1 for `diff` with differences and for a refusal).
    pub exit: i32,
}

/// The lab's steps, in order.
pub const STEPS: &[Step] = &[
    Step {
        title: "Where we start: Istio installed, every namespace PERMISSIVE",
        args: &["mtls", "status", "-A"],
        exit: 0,
    },
    Step {
        title: "Is istioinaction ready for STRICT? Ask the traffic: the sidecars' own counters",
        args: &[
            "mtls",
            "status",
            "istioinaction",
            "--telemetry-from",
            "proxies",
            "--workloads",
        ],
        exit: 0,
    },
    Step {
        title: "Who talks to whom, and what STRICT would do to each edge (from the sidecars' counters)",
        args: &["mtls", "graph", "istioinaction", "--telemetry-from", "proxies"],
        exit: 0,
    },
    Step {
        title: "The same graph as a picture (Kiali's view, with the edges STRICT would cut)",
        args: &[
            "mtls",
            "graph",
            "istioinaction",
            "--telemetry-from",
            "proxies",
            "-o",
            "svg",
            ">",
            "graph-before.svg",
        ],
        exit: 0,
    },
    Step {
        title: "What would STRICT change in istioinaction? (YAML, effect on workloads, live callers)",
        args: &[
            "mtls",
            "diff",
            "istioinaction",
            "--strict",
            "--telemetry-from",
            "proxies",
        ],
        exit: 1,
    },
    Step {
        title: "enable refuses to cut a live plaintext caller (nothing is written)",
        args: &[
            "mtls",
            "enable",
            "istioinaction",
            "--strict",
            "--telemetry-from",
            "proxies",
        ],
        exit: 1,
    },
    Step {
        title: "Cutting off the caller outside the mesh is the point of the lab: --force, as a dry run first",
        args: &[
            "mtls",
            "enable",
            "istioinaction",
            "--strict",
            "--telemetry-from",
            "proxies",
            "--force",
            "--dry-run",
        ],
        exit: 0,
    },
    Step {
        title: "Turn STRICT on for real",
        args: &[
            "mtls",
            "enable",
            "istioinaction",
            "--strict",
            "--telemetry-from",
            "proxies",
            "--force",
        ],
        exit: 0,
    },
    Step {
        title: "Prove it: plaintext from default/sleep (outside the mesh) must be rejected",
        args: &[
            "mtls",
            "probe",
            "web-api.istioinaction:8080",
            "--from",
            "deploy/sleep",
            "--from-namespace",
            "default",
        ],
        exit: 0,
    },
    Step {
        title: "... and mTLS from istioinaction/sleep (inside the mesh) accepted",
        args: &[
            "mtls",
            "probe",
            "web-api.istioinaction:8080",
            "--from",
            "deploy/sleep",
            "--from-namespace",
            "istioinaction",
        ],
        exit: 0,
    },
    Step {
        title: "The workload certificate web-api presents",
        args: &[
            "mtls",
            "probe",
            "--certs",
            "deploy/web-api",
            "-n",
            "istioinaction",
        ],
        exit: 0,
    },
    Step {
        title: "The picture now",
        args: &["mtls", "status", "istioinaction", "default", "--workloads"],
        exit: 0,
    },
    Step {
        title: "The graph after STRICT: the plaintext caller is rejected, every in-mesh edge has a lock",
        args: &["mtls", "graph", "istioinaction", "--telemetry-from", "proxies"],
        exit: 0,
    },
    Step {
        title: "... and as a picture",
        args: &[
            "mtls",
            "graph",
            "istioinaction",
            "--telemetry-from",
            "proxies",
            "-o",
            "svg",
            ">",
            "graph-after.svg",
        ],
        exit: 0,
    },
    Step {
        title: "Roll back: remove the policy (the workshop's kubectl delete, reviewed first)",
        args: &["mtls", "enable", "istioinaction", "--inherit"],
        exit: 0,
    },
    Step {
        title: "Back where we started",
        args: &["mtls", "status", "istioinaction"],
        exit: 0,
    },
];

impl Step {
    /// The command's words (without a `> FILE` redirection) and the file its output goes to.
    pub fn split(&self) -> (&'static [&'static str], Option<&'static str>) {
        match self.args {
            [words @ .., ">", file] => (words, Some(file)),
            words => (words, None),
        }
    }
}

/// Where the tour writes the files steps redirect to (kept after the lab stops, so the
/// pictures can be opened): `kubectl-mtls-lab` in the temporary directory.
pub fn graph_dir() -> PathBuf {
    std::env::temp_dir().join("kubectl-mtls-lab")
}

/// Where the tour's files live.
pub struct LabEnv {
    /// The lab's steady traffic ([`TrafficFlow::lab`], one round every [`LAB_TRAFFIC_EVERY`]).
    pub traffic: TrafficTicker,
    /// The running simulated cluster.
    pub server: SimServer,
    /// Temporary directory (kubeconfig, bin/, home/).
    pub dir: PathBuf,
    /// The kubeconfig for the admin.
    pub kubeconfig: PathBuf,
    /// PATH with the plugin first.
    pub path: OsString,
}

impl Drop for LabEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Finds the real kubectl on PATH.
pub fn find_kubectl(path: &OsString) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(from, to)
    }
    #[cfg(not(unix))]
    {
        std::fs::copy(from, to).map(|_| ())
    }
}

/// Starts the lab with the simulated mesh and prepares a directory with a kubeconfig and the
/// plugin binaries found in `plugin_dir` (kubectl-mtls and, if built, kubectl_complete-mtls).
pub fn prepare(plugin_dir: &Path) -> Result<LabEnv, SimError> {
    let server = SimServer::start_background(Scenario::lab().with_simulated_mesh())?;
    // The workshop's load loop: traffic has been flowing for a while when the learner arrives,
    // and keeps flowing, so readiness from telemetry has something to read.
    server
        .cluster()
        .simulate_flows(&TrafficFlow::lab(), LAB_TRAFFIC_ROUNDS)?;
    let traffic = server
        .cluster()
        .start_traffic(TrafficFlow::lab(), LAB_TRAFFIC_EVERY);
    let dir = std::env::temp_dir().join(format!("kubectl-mtls-lab-{}", std::process::id()));
    let bin = dir.join("bin");
    // The folder holds the admin's kubeconfig: the owner's only.
    crate::util::create_private_dir(&dir)
        .and_then(|_| std::fs::create_dir_all(&bin))
        .map_err(|e| SimError::new(format!("cannot create {}: {e}", bin.display())))?;
    let kubeconfig = dir.join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig, "admin")
        .map_err(|e| SimError::new(format!("cannot write {}: {e}", kubeconfig.display())))?;
    let exe = if cfg!(windows) { ".exe" } else { "" };
    for name in ["kubectl-mtls", "kubectl_complete-mtls"] {
        let from = plugin_dir.join(format!("{name}{exe}"));
        if from.is_file() {
            link_or_copy(&from, &bin.join(format!("{name}{exe}")))
                .map_err(|e| SimError::new(format!("cannot put {name} on PATH: {e}")))?;
        }
    }
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(paths).map_err(|e| SimError::new(format!("bad PATH: {e}")))?;
    Ok(LabEnv {
        traffic,
        server,
        dir,
        kubeconfig,
        path,
    })
}

impl LabEnv {
    /// A command with the lab's environment: KUBECONFIG, the plugin on PATH, a private HOME
    /// for kubectl's cache.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", &self.path)
            .env("KUBECACHEDIR", self.dir.join("cache"));
        cmd
    }

    /// Runs the tour, printing each step, the command and its real output to `out`; returns
    /// the exit codes of the steps.
    pub fn tour(&self, out: &mut dyn Write) -> std::io::Result<Vec<i32>> {
        let kubectl = find_kubectl(&self.path);
        let plugin = self.dir.join("bin").join("kubectl-mtls");
        let mut codes = Vec::new();
        writeln!(
            out,
            "Simulated lab cluster at {} (kubeconfig {})",
            self.server.url(),
            self.kubeconfig.display()
        )?;
        for (i, step) in STEPS.iter().enumerate() {
            writeln!(out, "\n── {}. {}", i + 1, step.title)?;
            writeln!(out, "$ kubectl {}", step.args.join(" "))?;
            out.flush()?;
            // Through the real kubectl when it is there (exactly what a learner types);
            // otherwise the plugin binary directly.
            let (words, file) = step.split();
            let mut cmd = match &kubectl {
                Some(k) => {
                    let mut c = self.command(k);
                    c.args(words);
                    c
                }
                None => {
                    let mut c = self.command(&plugin);
                    c.args(&words[1..]);
                    c
                }
            };
            let output = cmd.stdin(Stdio::null()).output()?;
            match file {
                Some(name) => {
                    let dir = graph_dir();
                    std::fs::create_dir_all(&dir)?;
                    let path = dir.join(name);
                    std::fs::write(&path, &output.stdout)?;
                    writeln!(
                        out,
                        "(wrote {}, {} bytes: open it in a browser)",
                        path.display(),
                        output.stdout.len()
                    )?;
                }
                None => out.write_all(&output.stdout)?,
            }
            out.write_all(&output.stderr)?;
            let code = output.status.code().unwrap_or(-1);
            match (code, step.args.get(1)) {
                (0, _) => {}
                (1, Some(&"diff")) => writeln!(out, "(exit 1: there are differences, as with kubectl diff)")?,
                (1, Some(&"enable")) => writeln!(out, "(exit 1: refused, nothing written)")?,
                _ => writeln!(out, "(exit {code})")?,
            }
            codes.push(code);
        }
        writeln!(
            out,
            "\nThat was the lab. `cargo run -q -p kube-sim -- lab --shell` lets you type it yourself."
        )?;
        Ok(codes)
    }

    /// Opens an interactive shell in the lab's environment and waits for it to end.
    pub fn shell(&self) -> std::io::Result<i32> {
        let shell = std::env::var_os("SHELL")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/bin/bash"));
        println!("Simulated lab cluster at {}", self.server.url());
        println!(
            "KUBECONFIG={} ; kubectl mtls is on PATH. Try:",
            self.kubeconfig.display()
        );
        for step in STEPS {
            println!("  kubectl {}", step.args.join(" "));
        }
        println!("Type `exit` to stop the lab.");
        let status = self.command(&shell).env("MTLS_LAB", "1").status()?;
        Ok(status.code().unwrap_or(0))
    }
}
