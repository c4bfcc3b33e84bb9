//! # kube-sim: an in-memory Kubernetes API server for tests
//!
//! `kube-sim` speaks the real Kubernetes API over plain HTTP on
//! `127.0.0.1`, well enough that the real `kubectl` (1.32) and kube-rs 5 work
//! against it: discovery (legacy and aggregated), get/list (label and field
//! selectors, `limit`/`continue` paging), watch (also watch-list), create,
//! update, delete, merge/strategic/JSON patches, server-side apply with
//! managed fields and conflicts, `dryRun=All`, Table and PartialObjectMetadata
//! responses, RBAC with bearer tokens and impersonation,
//! SelfSubjectAccessReview (`kubectl auth can-i`), CRD schema and CEL
//! validation, and `pods/exec` over WebSocket with scripted answers. Istio's
//! CRDs ship with it (`crds/istio.yaml`).
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
//!   runtime, for plain `#[test]`s); [`SimServer::url`],
//!   [`SimServer::kubeconfig_yaml`], [`SimServer::write_kubeconfig`],
//!   [`SimServer::token`], [`SimServer::requests`] ([`RequestRecord`]),
//!   [`SimServer::clear_requests`], [`SimServer::cluster`]; dropping it stops
//!   the server.
//! - [`Cluster`]: direct object access by apiVersion/kind as
//!   `serde_json::Value` ([`Cluster::get`], [`Cluster::list`], [`Cluster::put`], [`Cluster::put_yaml`],
//!   [`Cluster::delete`], [`Cluster::count`], [`Cluster::resource_version`]).
//!
//! ## Credentials over plain HTTP
//! kubectl (client-go) never sends a bearer token over plain HTTP, so
//! [`SimServer::kubeconfig_yaml`] puts the token in the server URL as a path
//! prefix too (`http://127.0.0.1:PORT/_token/TOKEN`); the server strips it
//! and the request log shows the plain path. Clients that send an
//! `Authorization: Bearer` header (kube-rs does) are identified by it.
//!
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
//! resources are atomic. No `portforward`, `attach` or `scale`; `pods/log`
//! serves the fixed text of [`PodLog`] entries (no `follow`, `previous` or `tailLines`);
//! controllers are not simulated beyond workload status following the spec;
//! exec is WebSocket only (GET; kubectl's SPDY fallback is refused).

mod cluster;
pub mod envtest;
mod exec;
mod fields;
mod inject;
mod mesh;
mod proto;
mod resources;
mod scenario;
mod schema;
mod selector;
mod server;
mod status;
mod table;
pub mod tour;
mod util;

pub use cluster::{Cluster, SimError};
pub use exec::{ExecHandlerFn, ExecRequest, ExecResponse, ExecRule, PodLog};
pub use mesh::SimulatedMesh;
pub use scenario::{ADMIN_TOKEN, IstioApi, Rule, Scenario, User};
pub use server::RequestRecord;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A running simulated API server. Dropping it shuts the server down.
pub struct SimServer {
    url: String,
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

fn build_app(mut scenario: Scenario) -> Result<Arc<server::App>, SimError> {
    let cluster = Cluster::new(scenario.istio != IstioApi::None);
    scenario::populate(&cluster, &mut scenario)?;
    Ok(Arc::new(server::App {
        cluster,
        users: scenario.users.clone(),
        exec: scenario.exec.clone(),
        log: Mutex::new(Vec::new()),
    }))
}

fn router(app: Arc<server::App>) -> axum::Router {
    axum::Router::new().fallback(server::handle).with_state(app)
}

impl SimServer {
    /// Starts on 127.0.0.1 with an ephemeral port, on the current tokio runtime.
    pub async fn start(scenario: Scenario) -> Result<SimServer, SimError> {
        Self::start_on(scenario, "127.0.0.1:0".parse().expect("address")).await
    }

    /// Starts on a given address, on the current tokio runtime.
    pub async fn start_on(scenario: Scenario, addr: SocketAddr) -> Result<SimServer, SimError> {
        let app = build_app(scenario)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| SimError::new(format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr().map_err(|e| SimError::new(e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let r = router(app.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, r)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SimServer {
            url: format!("http://{local}"),
            app,
            shutdown: Some(tx),
            thread: None,
        })
    }

    /// Starts on its own thread and runtime, for plain `#[test]`s.
    pub fn start_background(scenario: Scenario) -> Result<SimServer, SimError> {
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
                    match SimServer::start(scenario).await {
                        Ok(mut server) => {
                            let shutdown = server.shutdown.take();
                            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
                            let _ = ready_tx.send(Ok((server.url.clone(), server.app.clone(), stop_tx)));
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
        let (url, app, stop) = ready_rx
            .recv()
            .map_err(|_| SimError::new("server thread died"))??;
        Ok(SimServer {
            url,
            app,
            shutdown: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
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
    /// `default`) for a declared user (`admin` for the administrator).
    /// Unknown users get a token the server rejects (401).
    ///
    /// kubectl (client-go) never sends a bearer token over plain HTTP, so the
    /// server URL also carries the token as a path prefix
    /// (`http://127.0.0.1:PORT/_token/TOKEN`); clients that do send the
    /// `Authorization` header (kube-rs) are identified by the header.
    pub fn kubeconfig_yaml(&self, user: &str) -> String {
        let token = self.token(user).unwrap_or("unknown-user-token");
        let url = format!("{}{}{token}", self.url, server::TOKEN_PREFIX);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {url}\ncontexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    user: {user}\n    namespace: default\ncurrent-context: kube-sim\nusers:\n- name: {user}\n  user:\n    token: {token}\npreferences: {{}}\n"
        )
    }

    /// Writes [`SimServer::kubeconfig_yaml`] to a file.
    pub fn write_kubeconfig(&self, path: impl AsRef<std::path::Path>, user: &str) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml(user))
    }

    /// Every request served so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
