//! Shared harness for the plugin's integration tests: a cluster (kube-sim, or the real
//! kube-apiserver of `kube_sim::envtest`), a kubeconfig for it, and the built `kubectl-mtls`
//! binary run in a clean environment.
//!
//! ## Two backends, one test
//! [`on_both_backends!`] turns `fn name(backend) { let lab = backend.start(scenario); ... }`
//! into a module `name` with two tests: `kube_sim` and `real_server`. The real server is the
//! process-wide control plane of `kube_sim::envtest::shared()` (one per test binary), started
//! from `KUBEBUILDER_ASSETS`; without it the real-server tests skip (one line per test binary
//! says how to enable them), and with `CI=true` they fail.
//!
//! On the real server every test gets fresh namespaces: each namespace of its scenario (and of
//! the YAML it adds) is created as `tN-NAME` (no namespace can be deleted there: there is no
//! namespace controller). The harness translates both ways so a test reads the same as on
//! kube-sim: namespace arguments and `-n` are mapped to the prefixed names, `--istio-namespace`
//! points at the test's own `istio-system`, objects loaded or read are mapped, and the prefix is
//! removed from the plugin's output. Users a scenario declares are restricted users of the token
//! file (`envtest-user-N`) granted the same rules as RBAC ClusterRoles and bindings; their
//! server-side names are mapped back to the declared names in the output. Pods stay Pending
//! (no kubelet): the plugin reads their metadata only. `creationTimestamp` is set by the
//! server, not by the YAML.

#![allow(dead_code, unused_imports, unused_macros)]

use std::io::Write as _;
use std::sync::Mutex;

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

/// Runs a test body once per backend: `fn name(backend) { ... }` becomes module `name` with
/// the tests `kube_sim` and `real_server`.
macro_rules! on_both_backends {
    ($( $(#[$meta:meta])* fn $name:ident($backend:ident) $body:block )+) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($backend: Backend) $body
            #[test]
            fn kube_sim() {
                body(Backend::Sim)
            }
            #[test]
            fn real_server() {
                if let Some(backend) = Backend::real() {
                    body(backend)
                }
            }
        }
    )+};
}

/// Where a test's cluster runs.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// A kube-sim of its own.
    Sim,
    /// A fresh set of namespaces in the test binary's real control plane.
    Real(&'static kube_sim::envtest::ControlPlane),
}

impl Backend {
    /// The real control plane, or None (one visible line per test binary) when
    /// `KUBEBUILDER_ASSETS` is not set; fails when `CI=true`.
    pub fn real() -> Option<Backend> {
        match kube_sim::envtest::shared() {
            Ok(Some(cp)) => Some(Backend::Real(cp)),
            Ok(None) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "the real API server is required when CI=true: set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd (.ci/run unpacks ../shared/envtest)"
                    );
                }
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    // Straight to the stderr handle: the test harness captures eprintln!.
                    let _ = writeln!(
                        std::io::stderr(),
                        "skipped the real-server tests of {}: set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd to run them (docs/testing.md)",
                        std::env::current_exe()
                            .ok()
                            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                            .unwrap_or_default()
                    );
                });
                None
            }
            Err(e) => panic!("the real control plane did not start: {e}"),
        }
    }

    /// Starts a cluster holding `scenario`.
    pub fn start(self, scenario: Scenario) -> Lab {
        match self {
            Backend::Sim => Lab::start(scenario),
            Backend::Real(cp) => Lab::start_real(cp, scenario),
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Backend::Real(_))
    }
}

enum Inner {
    Sim(SimServer),
    Real(RealLab),
}

/// One test's share of the real control plane.
struct RealLab {
    cp: &'static kube_sim::envtest::ControlPlane,
    prefix: String,
    /// The test's namespace names (unprefixed).
    namespaces: Mutex<Vec<String>>,
    /// declared user -> (server-side name, token)
    users: Vec<(String, String, String)>,
    /// Where the audit log stood when the test last cleared its requests.
    audit_mark: Mutex<u64>,
}

static REAL_LABS: AtomicUsize = AtomicUsize::new(0);

impl RealLab {
    fn known(&self, ns: &str) -> bool {
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|n| n == ns)
    }

    fn ns(&self, ns: &str) -> String {
        if self.known(ns) {
            format!("{}{ns}", self.prefix)
        } else {
            ns.to_string()
        }
    }

    /// Learns the namespaces `objects` create or use.
    fn learn(&self, objects: &[serde_json::Value]) {
        let mut known = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        for o in objects {
            let name = if o["kind"] == "Namespace" {
                o["metadata"]["name"].as_str()
            } else {
                o["metadata"]["namespace"].as_str()
            };
            if let Some(n) = name
                && !known.iter().any(|k| k == n)
            {
                known.push(n.to_string());
            }
        }
    }

    /// Maps an object's namespaces (metadata, Namespace names, `NAME.NS.svc` hosts, the mesh
    /// config's rootNamespace) to the test's prefixed names.
    fn localize(&self, obj: &mut serde_json::Value) {
        use serde_json::Value;
        if let Some(ns) = obj["metadata"]["namespace"].as_str() {
            obj["metadata"]["namespace"] = Value::from(self.ns(ns));
        }
        if obj["kind"] == "Namespace"
            && let Some(n) = obj["metadata"]["name"].as_str()
        {
            obj["metadata"]["name"] = Value::from(self.ns(n));
        }
        let known = self.namespaces.lock().unwrap_or_else(|e| e.into_inner()).clone();
        fn walk(v: &mut Value, known: &[String], prefix: &str) {
            match v {
                Value::String(s) => {
                    let mut t = s.clone();
                    for n in known {
                        t = t.replace(&format!(".{n}.svc"), &format!(".{prefix}{n}.svc"));
                    }
                    if t.contains("rootNamespace:") {
                        t = t
                            .split('\n')
                            .map(|line| match line.trim().strip_prefix("rootNamespace:") {
                                Some(v) if known.iter().any(|n| n == v.trim()) => {
                                    line.replace(v.trim(), &format!("{prefix}{}", v.trim()))
                                }
                                _ => line.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join("\n");
                    }
                    *s = t;
                }
                Value::Array(a) => a.iter_mut().for_each(|x| walk(x, known, prefix)),
                Value::Object(o) => {
                    for (k, x) in o.iter_mut() {
                        if k != "metadata" {
                            walk(x, known, prefix);
                        }
                    }
                }
                _ => {}
            }
        }
        walk(obj, &known, &self.prefix);
    }

    /// The plugin's output as the test would see it on kube-sim.
    fn translate(&self, text: &str) -> String {
        let mut out = text.replace(&self.prefix, "");
        for (declared, server_name, _) in &self.users {
            out = out.replace(&format!("\"{server_name}\""), &format!("\"{declared}\""));
        }
        out
    }

    fn create(&self, yaml_docs: Vec<serde_json::Value>) {
        let docs: Vec<serde_json::Value> = yaml_docs.into_iter().filter(|d| !d.is_null()).collect();
        self.learn(&docs);
        let docs: Vec<serde_json::Value> = docs
            .into_iter()
            .map(|mut d| {
                self.localize(&mut d);
                d
            })
            .collect();
        self.cp
            .create_many(&docs, 8)
            .unwrap_or_else(|e| panic!("the real API server refused the test's objects: {e}"));
        // The server records the creator as a manager; kube-sim's store keeps what it is given:
        // objects that declare no managers get none (before-first-apply at the first apply).
        let unmanaged: Vec<serde_json::Value> = docs
            .into_iter()
            .filter(|d| {
                d["metadata"]["managedFields"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
            })
            .collect();
        self.cp
            .strip_managed_fields(&unmanaged, 8)
            .unwrap_or_else(|e| panic!("the real API server kept managers: {e}"));
    }
}

/// A running cluster (kube-sim or a share of the real API server) with a kubeconfig per user.
pub struct Lab {
    inner: Inner,
    pub dir: TempDir,
}

impl Lab {
    /// A lab around a kube-sim the test started itself (e.g. one serving plain HTTP).
    pub fn from_sim(server: SimServer, tag: &str) -> Lab {
        Lab {
            inner: Inner::Sim(server),
            dir: TempDir::new(tag),
        }
    }

    /// A kube-sim of its own.
    pub fn start(scenario: Scenario) -> Lab {
        let server = SimServer::start_background(scenario).expect("start kube-sim");
        Lab {
            inner: Inner::Sim(server),
            dir: TempDir::new("lab"),
        }
    }

    fn start_real(cp: &'static kube_sim::envtest::ControlPlane, scenario: Scenario) -> Lab {
        let n = REAL_LABS.fetch_add(1, Ordering::Relaxed);
        let mut real = RealLab {
            cp,
            prefix: format!("t{n}-"),
            namespaces: Mutex::new(Vec::new()),
            users: Vec::new(),
            audit_mark: Mutex::new(0),
        };
        let objects = scenario.objects().expect("the scenario loads in kube-sim");
        real.create(objects);
        for user in scenario.users().iter().filter(|u| !u.is_admin()) {
            let pool = cp.claim_user().expect("a free envtest user");
            cp.grant(
                &pool.name,
                &format!("{}{}", real.prefix, user.name),
                &user.rules,
                |ns| real.ns(ns),
            )
            .unwrap_or_else(|e| panic!("RBAC for {}: {e}", user.name));
            real.users.push((user.name.clone(), pool.name, pool.token));
        }
        *real.audit_mark.lock().unwrap_or_else(|e| e.into_inner()) = cp.audit_mark();
        Lab {
            inner: Inner::Real(real),
            dir: TempDir::new("lab"),
        }
    }

    fn real(&self) -> Option<&RealLab> {
        match &self.inner {
            Inner::Real(r) => Some(r),
            Inner::Sim(_) => None,
        }
    }

    /// Whether this lab runs on the real API server.
    pub fn is_real(&self) -> bool {
        self.real().is_some()
    }

    /// The simulated server (kube-sim-only tests: its store and request log).
    pub fn sim(&self) -> &SimServer {
        match &self.inner {
            Inner::Sim(s) => s,
            Inner::Real(_) => panic!("a kube-sim-only test ran on the real API server"),
        }
    }

    /// The kubeconfig of `user` (written on first use).
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        let p = self.dir.path().join(format!("kubeconfig-{user}"));
        if !p.exists() {
            match &self.inner {
                Inner::Sim(server) => server.write_kubeconfig(&p, user).expect("write kubeconfig"),
                Inner::Real(r) => {
                    let token = if user == "admin" {
                        kube_sim::envtest::ADMIN_TOKEN.to_string()
                    } else {
                        r.users
                            .iter()
                            .find(|(declared, _, _)| declared == user)
                            .map(|(_, _, token)| token.clone())
                            .unwrap_or_else(|| "unknown-user-token".into())
                    };
                    std::fs::write(&p, r.cp.kubeconfig(user, &token, &r.ns("default")))
                        .expect("write kubeconfig");
                }
            }
        }
        p
    }

    /// The arguments as the backend needs them: on the real server, the test's namespaces
    /// prefixed, its own Istio namespace, manifests (`-f FILE`) with their namespaces mapped.
    fn localize_args(&self, args: &[&str]) -> Vec<String> {
        let Some(r) = self.real() else {
            return args.iter().map(|a| a.to_string()).collect();
        };
        let mut out: Vec<String> = Vec::new();
        let mut after_file = false;
        for a in args {
            if after_file && *a != "-" {
                let text = std::fs::read_to_string(a).unwrap_or_default();
                out.push(self.localize_manifest(&text).display().to_string());
            } else if let Some(v) = a.strip_prefix("--namespace=") {
                out.push(format!("--namespace={}", r.ns(v)));
            } else if let Some(v) = a.strip_prefix("-n").filter(|v| !v.is_empty() && r.known(v)) {
                out.push(format!("-n{}", r.ns(v)));
            } else {
                out.push(r.ns(a));
            }
            after_file = matches!(*a, "-f" | "--filename");
        }
        let sub = args.first().copied().unwrap_or_default();
        if ["status", "enable", "diff"].contains(&sub)
            && !args.iter().any(|a| a.starts_with("--istio-namespace"))
        {
            out.push("--istio-namespace".into());
            out.push(r.ns("istio-system"));
        }
        out
    }

    /// A copy of a manifest with the test's namespaces (the real server only).
    fn localize_manifest(&self, text: &str) -> PathBuf {
        let r = self.real().expect("real backend");
        let docs: Vec<serde_json::Value> = match serde_saphyr::from_multiple(text) {
            Ok(d) => d,
            // Not YAML: the plugin's own error is what the test wants to see.
            Err(_) => {
                let p = self.dir.path().join(format!(
                    "manifest-{}.yaml",
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::write(&p, text).expect("write manifest");
                return p;
            }
        };
        r.learn(&docs);
        let mut yaml = String::new();
        for mut d in docs.into_iter().filter(|d| !d.is_null()) {
            r.localize(&mut d);
            yaml.push_str("---\n");
            yaml.push_str(&serde_saphyr::to_string(&d).expect("YAML"));
        }
        let p = self.dir.path().join(format!(
            "manifest-{}.yaml",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, yaml).expect("write manifest");
        p
    }

    /// Output as the test reads it (the real server's names mapped back).
    fn translate(&self, run: Run) -> Run {
        match self.real() {
            None => run,
            Some(r) => Run {
                code: run.code,
                stdout: r.translate(&run.stdout),
                stderr: r.translate(&run.stderr),
            },
        }
    }

    /// Reads an object as the administrator (as the test names it).
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        match &self.inner {
            Inner::Sim(s) => s.cluster().get(api_version, kind, namespace, name),
            Inner::Real(r) => {
                let obj = r.cp.get(api_version, kind, &r.ns(namespace), name)?;
                serde_json::from_str(&r.translate(&obj.to_string())).ok()
            }
        }
    }

    /// Deletes an object as the administrator; whether it existed.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> bool {
        match &self.inner {
            Inner::Sim(s) => s.cluster().delete(api_version, kind, namespace, name).is_some(),
            Inner::Real(r) => {
                r.cp.delete(api_version, kind, &r.ns(namespace), name)
                    .expect("delete on the real server")
            }
        }
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
        cmd.args(self.localize_args(args))
            .arg("--kubeconfig")
            .arg(self.kubeconfig(user));
        self.translate(run(cmd))
    }

    /// Runs the plugin as the admin with extra environment and optional stdin (manifests on
    /// stdin are mapped like `-f` files).
    pub fn plugin_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(PLUGIN);
        self.clean(&mut cmd);
        cmd.args(self.localize_args(args))
            .arg("--kubeconfig")
            .arg(self.kubeconfig("admin"))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let stdin = match (stdin, self.real()) {
            (Some(text), Some(_)) => {
                Some(std::fs::read_to_string(self.localize_manifest(text)).expect("manifest"))
            }
            (s, _) => s.map(str::to_string),
        };
        let mut child = cmd.spawn().expect("spawn plugin");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait for the plugin");
        self.translate(Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Starts the plugin as the admin without waiting, output piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut cmd = Command::new(PLUGIN);
        self.clean(&mut cmd);
        cmd.args(self.localize_args(args))
            .arg("--kubeconfig")
            .arg(self.kubeconfig("admin"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl-mtls")
    }

    /// Pods whose name starts with `prefix`, in every namespace.
    pub fn pods_named(&self, prefix: &str) -> Vec<String> {
        self.sim()
            .cluster()
            .list("v1", "Pod", None)
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap_or_default().to_string())
            .filter(|n| n.starts_with(prefix))
            .collect()
    }

    /// The exec requests served: (namespace, pod, container, argv).
    pub fn execs(&self) -> Vec<(String, String, String, Vec<String>)> {
        self.sim()
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
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig("admin"))
            .args(self.localize_args(args));
        self.translate(run(cmd))
    }

    /// Adds objects (YAML, several documents): straight to kube-sim's store, or created (or
    /// replaced) on the real server by the administrator.
    pub fn put_yaml(&self, yaml: &str) {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("test YAML parses");
        match &self.inner {
            Inner::Sim(server) => {
                for d in docs.into_iter().filter(|d| !d.is_null()) {
                    server.cluster().put(d).expect("store accepts the object");
                }
            }
            Inner::Real(r) => r.create(docs),
        }
    }

    /// kube-sim's request log (kube-sim-only tests).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.sim().requests()
    }

    /// kube-sim's request log, None on the real server (which has none): tests written for
    /// both backends check the log only where there is one.
    pub fn log(&self) -> Option<Vec<RequestRecord>> {
        match &self.inner {
            Inner::Sim(s) => Some(s.requests()),
            Inner::Real(_) => None,
        }
    }

    /// Forgets kube-sim's request log; on the real server, the writes [`Lab::writes`] reports
    /// start after this point.
    pub fn clear_requests(&self) {
        match &self.inner {
            Inner::Sim(s) => s.clear_requests(),
            Inner::Real(r) => {
                *r.audit_mark.lock().unwrap_or_else(|e| e.into_inner()) = r.cp.audit_mark();
            }
        }
    }

    /// The writes since the lab started or [`Lab::clear_requests`] (dry runs included, names as
    /// the test gives them): kube-sim's request log, or on the real server its audit log, which
    /// records writes to Istio's objects (`security.istio.io`, `networking.istio.io`) only.
    pub fn writes(&self) -> Vec<RequestRecord> {
        match &self.inner {
            Inner::Sim(s) => s
                .requests()
                .into_iter()
                .filter(|r| {
                    matches!(
                        r.verb.as_str(),
                        "create" | "update" | "patch" | "delete" | "deletecollection"
                    ) && !matches!(r.subresource.as_str(), "exec" | "portforward")
                })
                .collect(),
            Inner::Real(r) => {
                let mark = *r.audit_mark.lock().unwrap_or_else(|e| e.into_inner());
                r.cp.audited_writes(mark, |ns| ns.starts_with(&r.prefix))
                    .unwrap_or_else(|e| panic!("the real API server's audit log: {e}"))
                    .into_iter()
                    .map(|mut w| {
                        w.path = r.translate(&w.path);
                        w.namespace = r.translate(&w.namespace);
                        w.user = r
                            .translate(&format!("\"{}\"", w.user))
                            .trim_matches('"')
                            .to_string();
                        w
                    })
                    .collect()
            }
        }
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
