//! # kube-sim: an in-memory Kubernetes API server for tests
//!
//! `kube-sim` speaks the real Kubernetes API over HTTPS (or plain HTTP) on
//! `127.0.0.1`, well enough that the real `kubectl` (1.32) and kube-rs 5 work
//! against it: discovery (legacy and aggregated), get/list (label and field
//! selectors, `limit`/`continue` paging), watch (also watch-list), create,
//! update, delete (DeleteOptions `dryRun` and `preconditions`), merge/strategic/JSON patches, server-side apply with
//! managed fields and conflicts, `dryRun=All`, Table and PartialObjectMetadata
//! responses, RBAC with bearer tokens and impersonation,
//! SelfSubjectAccessReview (`kubectl auth can-i`), CRD schema and CEL
//! validation, `pods/exec` over WebSocket with scripted answers, and
//! `pods/portforward` over WebSocket (kube-rs, and kubectl's SPDY tunnelled
//! through the WebSocket) to local addresses a test names
//! ([`Cluster::forward_pod_port`]). Istio's CRDs ship with it
//! (`crds/istio.yaml`); [`Scenario::with_simulated_mesh`] adds a simulated
//! data plane that counts the traffic it simulates
//! ([`Cluster::simulate_traffic`], [`TrafficFlow`], [`Cluster::start_traffic`])
//! and serves Istio's counters through `pilot-agent request GET
//! stats/prometheus` ([`Cluster::istio_stats`]).
//!
//! ```no_run
//! use kube_sim::{ExecRule, Rule, Scenario, SimServer, User};
//!
//! let server = SimServer::start_background(
//!     Scenario::lab()
//!         .user(User::new("viewer", "viewer-token").allow(Rule::new(&["get", "list"], &["pods"])))
//!         .exec_rule(ExecRule::new(["curl", "*"], "hello\n")),
//! )
//! .unwrap();
//! server.write_kubeconfig("/tmp/kubeconfig", "admin").unwrap();
//! // ... run kubectl --kubeconfig /tmp/kubeconfig ..., then:
//! assert!(server.requests().iter().all(|r| !r.is_persisted_write()));
//! ```
//!
//! ## API in one glance
//! - [`Scenario`]: [`Scenario::lab`], [`Scenario::empty`],
//!   [`Scenario::scale`]`(namespaces, pods, seed)`, then
//!   [`Scenario::istio`]`(`[`IstioApi`]`)`, [`Scenario::load_yaml`],
//!   [`Scenario::object`], [`Scenario::user`]`(`[`User`]`)`,
//!   [`Scenario::exec_rule`]`(`[`ExecRule`]`)`, [`Scenario::exec_handler`]`(closure)`,
//!   [`Scenario::pod_log`]`(`[`PodLog`]`)`.
//! - [`SimServer`]: [`SimServer::start`] (async, current runtime),
//!   [`SimServer::start_on`], [`SimServer::start_background`] (own thread and
//!   runtime, for plain `#[test]`s), [`SimServer::start_plain_http`] (any of them over
//!   plain HTTP); [`SimServer::url`], [`SimServer::ca_pem`],
//!   [`SimServer::kubeconfig_yaml`], [`SimServer::write_kubeconfig`],
//!   [`SimServer::token`], [`SimServer::requests`] ([`RequestRecord`]),
//!   [`SimServer::clear_requests`], [`SimServer::cluster`],
//!   [`SimServer::faults`] ([`Faults::arm`] a [`FaultRule`] of a [`Fault`]:
//!   latency, 429, 5xx, 410 on `continue`, cut connections, slow or dropped
//!   exec); dropping it stops the server.
//! - [`Cluster`]: direct object access by apiVersion/kind as
//!   `serde_json::Value` ([`Cluster::get`], [`Cluster::list`], [`Cluster::put`], [`Cluster::put_yaml`],
//!   [`Cluster::delete`], [`Cluster::count`], [`Cluster::resource_version`]).
//!
//! ## HTTPS
//! The server speaks HTTPS with a certificate authority made fresh for each
//! server; [`SimServer::kubeconfig_yaml`] carries it as
//! `certificate-authority-data` and the user's token as `token:`, so kubectl and
//! kube-rs verify the server and send the token as they do to a real cluster.
//! [`SimServer::start_plain_http`] (`kube-sim serve --plain-http`) serves plain
//! HTTP instead, to test what clients do there (kubectl sends no credentials over
//! plain HTTP, so every request is then anonymous: 401).

//! ## Scenarios
//! Scenario YAML is ordinary multi-document Kubernetes YAML (a `kind: List`
//! works too). Namespaces and CRDs are created first, then everything else in
//! file order. Pods in namespaces labelled `istio-injection=enabled` (or
//! `istio.io/rev`) get Istio's sidecar injected (unless annotated
//! `sidecar.istio.io/inject: "false"` or already injected), every pod gets a
//! node and, without a status, a Running one with an IP; a given
//! `creationTimestamp`/`uid` is kept. Two extra document kinds configure the
//! sim itself:
//!
//! ```yaml
//! apiVersion: kube-sim/v1
//! kind: User
//! name: alice
//! token: alice-token
//! groups: []                             # system:masters = administrator
//! rules:
//! - verbs: [get, list]
//!   resources: [pods, pods/exec, peerauthentications]
//!   apiGroups: ["", security.istio.io]   # optional, default any
//!   namespaces: [istioinaction]          # optional, default cluster-wide
//! ---
//! apiVersion: kube-sim/v1
//! kind: ExecRules
//! rules:
//! - namespace: istioinaction             # all patterns are globs (* and ?), optional
//!   pod: "sleep-*"
//!   container: sleep
//!   command: [curl, "-s*", "http://web-api*"]   # one glob per argument
//!   prefix: false                        # true: argv only has to start with command
//!   stdout: "ok\n"
//!   stderr: ""
//!   exitCode: 0
//! ---
//! apiVersion: kube-sim/v1
//! kind: Logs                             # what `kubectl logs` shows ([`PodLog`])
//! logs:
//! - namespace: istioinaction
//!   pod: "web-api-*"
//!   container: istio-proxy
//!   text: "..."
//! ```
//!
//! Exec requests go to the closures added with [`Scenario::exec_handler`]
//! first (in order; they may read the cluster through [`Cluster`] and return
//! `None` to pass), then to the rules (first match); anything else exits 127
//! with `sh: <cmd>: command not found`. A non-zero exit code reaches clients
//! as the real `NonZeroExitCode` Status, so `kubectl exec` exits with it.
//!
//! ## Users
//! The administrator is user `admin` with token [`ADMIN_TOKEN`] (group
//! `system:masters`). Other users get exactly the [`Rule`]s they declare;
//! everything else is 403 with the RBAC authorizer's message. The admin may
//! impersonate (`kubectl --as=alice`).
//!
//! ## Known gaps
//! Protobuf request bodies are decoded only for Namespace, ConfigMap and the
//! SelfSubject reviews (what `kubectl create namespace|configmap` and
//! `kubectl auth can-i` send); other typed protobuf writes get 415. In
//! server-side apply, lists of built-in kinds are keyed by a guessed merge key
//! (`name`, `containerPort`, `port`, `mountPath`) and lists of custom
//! resources are atomic. No `attach` or `scale`; `portforward` is WebSocket
//! only (kubectl's fallback to a plain SPDY upgrade is refused); `pods/log`
//! serves the fixed text of [`PodLog`] entries (no `follow`, `previous` or `tailLines`);
//! controllers are not simulated beyond workload status following the spec;
//! exec is WebSocket only (GET; kubectl's SPDY fallback is refused).

mod cluster;
pub mod envtest;
mod exec;
mod faults;
mod fields;
mod inject;
mod mesh;
mod portforward;
mod proto;
mod resources;
mod scenario;
mod schema;
mod selector;
mod server;
mod spdy;
mod status;
mod table;
mod telemetry;
mod tls;
pub mod tour;
mod traffic;
mod util;

pub use cluster::{Cluster, SimError};
pub use exec::{ExecHandlerFn, ExecRequest, ExecResponse, ExecRule, PodLog};
pub use faults::{EXPIRED_CONTINUE_MESSAGE, Fault, FaultRule, Faults};
pub use mesh::SimulatedMesh;
pub use scenario::{ADMIN_TOKEN, IstioApi, Rule, Scenario, User};
pub use server::RequestRecord;
pub use traffic::{TrafficFlow, TrafficTicker};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A running simulated API server. Dropping it shuts the server down.
pub struct SimServer {
    url: String,
    ca_pem: Option<String>,
    app: Arc<server::App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// How a [`SimServer`] serves: HTTPS (the default) or plain HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transport {
    /// HTTPS with the server's own CA ([`SimServer::ca_pem`]).
    #[default]
    Https,
    /// Plain HTTP: clients send no credentials (kubectl's rule), so requests are anonymous.
    PlainHttp,
}

fn build_app(mut scenario: Scenario) -> Result<Arc<server::App>, SimError> {
    let cluster = Cluster::new(scenario.istio != IstioApi::None);
    scenario::populate(&cluster, &mut scenario)?;
    Ok(Arc::new(server::App {
        cluster,
        users: scenario.users.clone(),
        exec: scenario.exec.clone(),
        log: Mutex::new(Vec::new()),
        faults: faults::Faults::default(),
    }))
}

fn router(app: Arc<server::App>) -> axum::Router {
    axum::Router::new().fallback(server::handle).with_state(app)
}

impl SimServer {
    /// Starts on 127.0.0.1 with an ephemeral port, on the current tokio runtime (HTTPS).
    pub async fn start(scenario: Scenario) -> Result<SimServer, SimError> {
        Self::start_on(scenario, "127.0.0.1:0".parse().expect("address")).await
    }

    /// Starts on a given address, on the current tokio runtime (HTTPS).
    pub async fn start_on(scenario: Scenario, addr: SocketAddr) -> Result<SimServer, SimError> {
        Self::start_with(scenario, addr, Transport::Https).await
    }

    /// Starts on a given address with the given transport, on the current tokio runtime.
    pub async fn start_with(
        scenario: Scenario,
        addr: SocketAddr,
        transport: Transport,
    ) -> Result<SimServer, SimError> {
        let app = build_app(scenario)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| SimError::new(format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr().map_err(|e| SimError::new(e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let r = router(app.clone());
        let stop = async move {
            let _ = rx.await;
        };
        let (url, ca_pem) = match transport {
            Transport::PlainHttp => {
                tokio::spawn(async move {
                    let _ = axum::serve(listener, r).with_graceful_shutdown(stop).await;
                });
                (format!("http://{local}"), None)
            }
            Transport::Https => {
                let tls = tls::make(local.ip())?;
                let listener = tls::TlsListener::new(listener, tls.acceptor)
                    .map_err(|e| SimError::new(format!("cannot listen on {addr}: {e}")))?;
                tokio::spawn(async move {
                    let _ = axum::serve(listener, r).with_graceful_shutdown(stop).await;
                });
                let host = if local.ip().is_unspecified() {
                    format!("127.0.0.1:{}", local.port())
                } else {
                    local.to_string()
                };
                (format!("https://{host}"), Some(tls.ca_pem))
            }
        };
        Ok(SimServer {
            url,
            ca_pem,
            app,
            shutdown: Some(tx),
            thread: None,
        })
    }

    /// Starts on 127.0.0.1 over plain HTTP, on its own thread and runtime.
    pub fn start_plain_http(scenario: Scenario) -> Result<SimServer, SimError> {
        Self::background(
            "127.0.0.1:0".parse().expect("address"),
            scenario,
            Transport::PlainHttp,
        )
    }

    /// Starts on its own thread and runtime, for plain `#[test]`s (HTTPS).
    pub fn start_background(scenario: Scenario) -> Result<SimServer, SimError> {
        Self::background(
            "127.0.0.1:0".parse().expect("address"),
            scenario,
            Transport::Https,
        )
    }

    fn background(addr: SocketAddr, scenario: Scenario, transport: Transport) -> Result<SimServer, SimError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kube-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(SimError::new(format!("cannot start a runtime: {e}"))));
                        return;
                    }
                };
                rt.block_on(async move {
                    match SimServer::start_with(scenario, addr, transport).await {
                        Ok(mut server) => {
                            let shutdown = server.shutdown.take();
                            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
                            let _ = ready_tx.send(Ok((
                                server.url.clone(),
                                server.ca_pem.clone(),
                                server.app.clone(),
                                stop_tx,
                            )));
                            let _ = stop_rx.await;
                            if let Some(s) = shutdown {
                                let _ = s.send(());
                            }
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| SimError::new(format!("cannot spawn the server thread: {e}")))?;
        let (url, ca_pem, app, stop) = ready_rx
            .recv()
            .map_err(|_| SimError::new("server thread died"))??;
        Ok(SimServer {
            url,
            ca_pem,
            app,
            shutdown: Some(stop),
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:PORT` (`http://` for [`Transport::PlainHttp`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PEM certificate of the CA that signed the serving certificate (`None` over plain HTTP).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The cluster's objects.
    pub fn cluster(&self) -> &Cluster {
        &self.app.cluster
    }

    /// Bearer token of a user.
    pub fn token(&self, user: &str) -> Option<&str> {
        self.app
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.token.as_str())
    }

    /// A kubeconfig (cluster `kube-sim`, context `kube-sim`, namespace
    /// `default`) for a declared user (`admin` for the administrator), with the
    /// server's CA as `certificate-authority-data` and the user's token as `token:`.
    /// Unknown users get a token the server rejects (401).
    pub fn kubeconfig_yaml(&self, user: &str) -> String {
        use base64::Engine as _;
        let token = self.token(user).unwrap_or("unknown-user-token");
        let ca = match &self.ca_pem {
            Some(pem) => format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            ),
            None => String::new(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {}\n{ca}contexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    user: {user}\n    namespace: default\ncurrent-context: kube-sim\nusers:\n- name: {user}\n  user:\n    token: {token}\npreferences: {{}}\n",
            self.url
        )
    }

    /// Writes [`SimServer::kubeconfig_yaml`] to a file, readable by its owner only (it holds
    /// a token) on Unix.
    pub fn write_kubeconfig(&self, path: impl AsRef<std::path::Path>, user: &str) -> std::io::Result<()> {
        util::write_private(path.as_ref(), self.kubeconfig_yaml(user).as_bytes())
    }

    /// Every request served so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The fault injector: [`Faults::arm`] a [`FaultRule`] to throttle, fail, expire, slow
    /// down or cut the requests it matches (see [`Fault`]).
    pub fn faults(&self) -> &Faults {
        &self.app.faults
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.app.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Stops the server and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop();
    }
}
