//! Shared harness for the plugin's integration tests: a simulated cluster, a kubeconfig for
//! it, and the built `kubectl-mtls` binary run in a clean environment.

#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use kube_sim::{IstioApi, RequestRecord, Rule, Scenario, SimServer, User};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The plugin binary cargo built for these tests.
pub const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-mtls");

/// A fresh directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "kubectl-mtls-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a command printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout parsed as JSON (panics with the output when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A running simulated cluster with a kubeconfig per user.
pub struct Lab {
    pub server: SimServer,
    pub dir: TempDir,
}

impl Lab {
    pub fn start(scenario: Scenario) -> Lab {
        let server = SimServer::start_background(scenario).expect("start kube-sim");
        Lab {
            server,
            dir: TempDir::new("lab"),
        }
    }

    /// The kubeconfig of `user` (written on first use).
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        let p = self.dir.path().join(format!("kubeconfig-{user}"));
        if !p.exists() {
            self.server.write_kubeconfig(&p, user).expect("write kubeconfig");
        }
        p
    }

    fn clean(&self, cmd: &mut Command) {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        cmd.env_clear()
            .env("HOME", &home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECACHEDIR", home.join("cache"))
            .stdin(Stdio::null());
    }

    /// Runs the plugin as the admin.
    pub fn plugin(&self, args: &[&str]) -> Run {
        self.plugin_as("admin", args)
    }

    /// Runs the plugin as `user`.
    pub fn plugin_as(&self, user: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new(PLUGIN);
        self.clean(&mut cmd);
        cmd.args(args).arg("--kubeconfig").arg(self.kubeconfig(user));
        run(cmd)
    }

    /// Starts the plugin as the admin without waiting, output piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut cmd = Command::new(PLUGIN);
        self.clean(&mut cmd);
        cmd.args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig("admin"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl-mtls")
    }

    /// Pods whose name starts with `prefix`, in every namespace.
    pub fn pods_named(&self, prefix: &str) -> Vec<String> {
        self.server
            .cluster()
            .list("v1", "Pod", None)
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap_or_default().to_string())
            .filter(|n| n.starts_with(prefix))
            .collect()
    }

    /// The exec requests served: (namespace, pod, container, argv).
    pub fn execs(&self) -> Vec<(String, String, String, Vec<String>)> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.subresource == "exec")
            .map(|r| {
                let argv = r
                    .query
                    .split('&')
                    .filter_map(|kv| kv.strip_prefix("command="))
                    .map(percent_decode)
                    .collect();
                (
                    r.namespace.clone(),
                    r.name.clone(),
                    r.query_param("container").unwrap_or_default(),
                    argv,
                )
            })
            .collect()
    }

    /// Runs the real kubectl as the admin.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(kubectl_path());
        self.clean(&mut cmd);
        cmd.arg("--kubeconfig").arg(self.kubeconfig("admin")).args(args);
        run(cmd)
    }

    /// Adds objects (YAML, several documents) straight to the store.
    pub fn put_yaml(&self, yaml: &str) {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("test YAML parses");
        for d in docs.into_iter().filter(|d| !d.is_null()) {
            self.server.cluster().put(d).expect("store accepts the object");
        }
    }

    /// The requests made since the last clear, without the ones of other users.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.server.requests()
    }
}

/// Decodes a query-string value (`%XX` and `+`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run command");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn kubectl_path() -> PathBuf {
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join("kubectl");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("/usr/bin/kubectl")
}

/// Whether the real kubectl can be used: skip visibly without it, fail under CI=true.
pub fn have_kubectl(test: &str) -> bool {
    if kubectl_path().exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("kubectl is required when CI=true ({test})");
    }
    eprintln!("SKIPPED {test}: kubectl not found");
    false
}
