//! A real control plane for tests, in the spirit of controller-runtime's envtest: the real
//! `etcd` and `kube-apiserver` binaries from the folder named by `KUBEBUILDER_ASSETS`, started on
//! free ports with TLS, a static token authenticator (the administrator plus a pool of restricted
//! users that tests claim and grant RBAC rules to), RBAC authorization and Istio's CRDs
//! installed and Established.
//!
//! The two processes run under a small `/bin/sh` supervisor whose stdin is a pipe from this
//! process: when the [`ControlPlane`] is dropped, or this process ends in any way (also a panic
//! or a signal: the kernel closes the pipe), the supervisor stops kube-apiserver first, then
//! etcd, each with SIGTERM and SIGKILL after a short grace period, and removes the data folder.
//! That is what makes a process-wide shared control plane ([`shared`]) safe: statics are never
//! dropped, but the pipe always closes.
//!
//! There is no controller-manager, scheduler or kubelet: pods stay Pending, ServiceAccounts are
//! not created (the ServiceAccount admission plugin is off so pods can be created), namespace
//! deletion never finishes (use fresh namespaces), `pods/exec` fails.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::{Value, json};

use crate::RequestRecord;
use crate::scenario::{ISTIO_CRDS, Rule, Scenario};

/// The environment variable naming the folder that holds `kube-apiserver` and `etcd`.
pub const ASSETS_ENV: &str = "KUBEBUILDER_ASSETS";

/// How many restricted users the token file declares (claimed with [`ControlPlane::claim_user`]).
pub const USER_POOL: usize = 200;

/// The administrator's bearer token (group `system:masters`).
pub const ADMIN_TOKEN: &str = "envtest-admin-token";

/// The folder named by `KUBEBUILDER_ASSETS` when it holds both binaries.
pub fn assets_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os(ASSETS_ENV)?);
    (dir.join("kube-apiserver").is_file() && dir.join("etcd").is_file()).then_some(dir)
}

/// The process-wide control plane: started on first use, shared by every test of the binary,
/// stopped when the process ends. `Ok(None)` when `KUBEBUILDER_ASSETS` does not name the
/// binaries; `Err` when they are there but the control plane did not come up.
pub fn shared() -> Result<Option<&'static ControlPlane>, String> {
    static SHARED: OnceLock<Result<Option<ControlPlane>, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| match assets_dir() {
            None => Ok(None),
            Some(dir) => ControlPlane::start(&dir).map(Some),
        })
        .as_ref()
        .map(Option::as_ref)
        .map_err(Clone::clone)
}

/// A restricted user of the token file, claimed by one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolUser {
    /// The user name the server knows (`envtest-user-N`).
    pub name: String,
    /// Its bearer token.
    pub token: String,
}

/// A running etcd + kube-apiserver pair.
pub struct ControlPlane {
    url: String,
    ca_pem: String,
    dir: PathBuf,
    supervisor: Mutex<Option<(Child, ChildStdin)>>,
    runtime: tokio::runtime::Runtime,
    admin: Client,
    next_user: AtomicUsize,
    kinds: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("url", &self.url)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Single-quotes a word for `/bin/sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn pool_user(i: usize) -> PoolUser {
    PoolUser {
        name: format!("envtest-user-{i}"),
        token: format!("envtest-user-{i}-token"),
    }
}

const SUPERVISOR: &str = r#"
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
stop() {
  kill -TERM "$1" 2>/dev/null
  i=0
  while alive "$1" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
"#;

impl ControlPlane {
    /// Starts etcd and kube-apiserver from `assets` and waits until the API server is ready
    /// and Istio's CRDs are Established (about 4 s on 2 cores).
    pub fn start(assets: &Path) -> Result<ControlPlane, String> {
        let dir = std::env::temp_dir().join(format!(
            "kube-sim-envtest-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ u128::from(free_port()?)
        ));
        std::fs::create_dir_all(dir.join("etcd")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let write = |name: &str, text: &str| -> Result<PathBuf, String> {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(p)
        };

        // TLS: a CA, a serving certificate for 127.0.0.1 and localhost, a service-account key.
        let err = |e: rcgen::Error| format!("certificates: {e}");
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "envtest CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_pem = ca_params.self_signed(&ca_key).map_err(err)?.pem();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let serving_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut serving =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .map_err(err)?;
        serving
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-apiserver");
        let serving_pem = serving.signed_by(&serving_key, &issuer).map_err(err)?.pem();
        let sa_key = rcgen::KeyPair::generate().map_err(err)?;

        let cert = write("apiserver.crt", &serving_pem)?;
        let key = write("apiserver.key", &serving_key.serialize_pem())?;
        let sa = write("sa.key", &sa_key.serialize_pem())?;
        let sa_pub = write("sa.pub", &sa_key.public_key_pem())?;
        let mut tokens = format!("{ADMIN_TOKEN},admin,admin-uid,\"system:masters\"\n");
        for i in 0..USER_POOL {
            let u = pool_user(i);
            tokens.push_str(&format!("{},{},{}-uid\n", u.token, u.name, u.name));
        }
        let tokens = write("tokens.csv", &tokens)?;
        // The API server's own record of writes to Istio's objects (tests that must show what
        // was written, or that nothing was, read it: ControlPlane::audited_writes).
        let audit_policy = write("audit-policy.yaml", AUDIT_POLICY)?;

        let (etcd_port, peer_port, api_port) = (free_port()?, free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let path = |p: &Path| p.display().to_string();
        let etcd_args = [
            path(&assets.join("etcd")),
            "--data-dir".into(),
            path(&dir.join("etcd")),
            "--listen-client-urls".into(),
            etcd_url.clone(),
            "--advertise-client-urls".into(),
            etcd_url.clone(),
            "--listen-peer-urls".into(),
            peer_url.clone(),
            "--initial-advertise-peer-urls".into(),
            peer_url.clone(),
            "--initial-cluster".into(),
            format!("default={peer_url}"),
            "--unsafe-no-fsync".into(),
            "--log-level".into(),
            "warn".into(),
        ];
        let api_args = [
            path(&assets.join("kube-apiserver")),
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={api_port}"),
            format!("--tls-cert-file={}", path(&cert)),
            format!("--tls-private-key-file={}", path(&key)),
            format!("--token-auth-file={}", path(&tokens)),
            "--authorization-mode=RBAC".into(),
            format!("--service-account-key-file={}", path(&sa_pub)),
            format!("--service-account-signing-key-file={}", path(&sa)),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--endpoint-reconciler-type=none".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            "--allow-privileged=true".into(),
            format!("--cert-dir={}", path(&dir)),
            format!("--audit-policy-file={}", path(&audit_policy)),
            format!("--audit-log-path={}", path(&dir.join("audit.log"))),
            "--audit-log-mode=blocking".into(),
        ];
        let words = |args: &[String]| args.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" ");
        let d = sh_quote(&path(&dir));
        let script = format!(
            "{SUPERVISOR}\n{} >{d}/etcd.log 2>&1 &\ne=$!\n{} >{d}/apiserver.log 2>&1 &\na=$!\nread _ignored\nstop \"$a\"\nstop \"$e\"\nrm -rf {d}\n",
            words(&etcd_args),
            words(&api_args),
        );
        let script = write("supervise.sh", &script)?;
        let mut child = Command::new("/bin/sh")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
        let stdin = child.stdin.take().ok_or("no supervisor stdin")?;
        let supervisor = Mutex::new(Some((child, stdin)));

        let url = format!("https://127.0.0.1:{api_port}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let kubeconfig = kubeconfig_yaml(&url, &ca_pem, "admin", ADMIN_TOKEN);
        let admin = runtime.block_on(client_for(&kubeconfig))?;
        // From here on, dropping `cp` stops the processes.
        let cp = ControlPlane {
            url,
            ca_pem,
            dir,
            supervisor,
            runtime,
            admin,
            next_user: AtomicUsize::new(0),
            kinds: Mutex::new(HashMap::new()),
        };
        cp.wait_ready(Duration::from_secs(60))?;
        let crds: Vec<Value> =
            serde_saphyr::from_multiple(ISTIO_CRDS).map_err(|e| format!("crds/istio.yaml: {e}"))?;
        let crds: Vec<Value> = crds.into_iter().filter(|c| !c.is_null()).collect();
        cp.create_all(&crds)?;
        cp.wait_established(&crds, Duration::from_secs(30))?;
        Ok(cp)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("apiserver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            match self.block_on(self.admin.request_text(req)) {
                Ok(text) if text.trim() == "ok" => return Ok(()),
                _ if Instant::now() > deadline || self.log_tail().contains("\"command failed\"") => {
                    return Err(format!(
                        "kube-apiserver not ready after {}s; its log ends:\n{}",
                        timeout.as_secs(),
                        self.log_tail()
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn wait_established(&self, crds: &[Value], timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let api: Api<DynamicObject> = Api::all_with(
            self.admin.clone(),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
                "customresourcedefinitions",
            ),
        );
        for crd in crds {
            let name = crd["metadata"]["name"].as_str().unwrap_or_default();
            loop {
                let established = self
                    .block_on(api.get(name))
                    .ok()
                    .and_then(|o| o.data["status"]["conditions"].as_array().cloned())
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    });
                if established {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("CRD {name} not Established after {}s", timeout.as_secs()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Established can precede discovery by a moment: wait until the groups are served.
        for crd in crds {
            let group = crd["spec"]["group"].as_str().unwrap_or_default();
            for v in crd["spec"]["versions"].as_array().into_iter().flatten() {
                let version = v["name"].as_str().unwrap_or_default();
                loop {
                    let req = http::Request::get(format!("/apis/{group}/{version}"))
                        .body(Vec::new())
                        .map_err(|e| e.to_string())?;
                    if self.block_on(self.admin.request_text(req)).is_ok() {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(format!("/apis/{group}/{version} not served"));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Ok(())
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA that signed the serving certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig (cluster and context `envtest`) for a token, with namespace `namespace`.
    pub fn kubeconfig(&self, user: &str, token: &str, namespace: &str) -> String {
        kubeconfig_yaml(&self.url, &self.ca_pem, user, token).replace(
            &format!("    user: {user}\ncurrent-context"),
            &format!("    user: {user}\n    namespace: {namespace}\ncurrent-context"),
        )
    }

    /// The administrator's client.
    pub fn admin(&self) -> &Client {
        &self.admin
    }

    /// Runs a future on the control plane's runtime (for synchronous tests).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// A restricted user of the token file no other test has claimed.
    pub fn claim_user(&self) -> Result<PoolUser, String> {
        let i = self.next_user.fetch_add(1, Ordering::Relaxed);
        if i >= USER_POOL {
            return Err(format!("all {USER_POOL} envtest users are claimed"));
        }
        Ok(pool_user(i))
    }

    /// The API resource and scope of a kind (from discovery, remembered).
    pub fn resource(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool), String> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self.kinds.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(found.clone());
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = self
            .block_on(kube::discovery::pinned_kind(&self.admin, &gvk))
            .map_err(|e| format!("{api_version} {kind} is not served: {e}"))?;
        let namespaced = caps.scope == kube::discovery::Scope::Namespaced;
        self.kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (ar.clone(), namespaced));
        Ok((ar, namespaced))
    }

    fn api_for(&self, obj: &Value) -> Result<Api<DynamicObject>, String> {
        let (ar, namespaced) = self.resource(
            obj["apiVersion"].as_str().unwrap_or_default(),
            obj["kind"].as_str().unwrap_or_default(),
        )?;
        Ok(api_in(&self.admin, &ar, namespaced, obj))
    }

    /// Creates objects as the administrator, or replaces them when they exist (like kube-sim's
    /// store put). Server-set metadata (uid, resourceVersion, creationTimestamp, generation) and
    /// `status` are dropped; ownerReference uids are rewritten to the uids the server gave the
    /// owners created earlier in the same call. Objects are created owners first: namespaces,
    /// CRDs, workloads, then everything else, pods last.
    pub fn create_all(&self, objects: &[Value]) -> Result<Vec<Value>, String> {
        self.create_many(objects, 1)
    }

    /// [`ControlPlane::create_all`] with up to `concurrency` requests in flight (objects of one
    /// rank at a time, so owners still exist before what they own).
    pub fn create_many(&self, objects: &[Value], concurrency: usize) -> Result<Vec<Value>, String> {
        use futures_util::StreamExt;
        let rank = |o: &Value| match o["kind"].as_str().unwrap_or_default() {
            "Namespace" => 0,
            "CustomResourceDefinition" => 1,
            "Deployment" | "StatefulSet" | "DaemonSet" => 2,
            "ReplicaSet" => 3,
            "Pod" => 5,
            _ => 4,
        };
        let mut sorted: Vec<&Value> = objects.iter().filter(|o| !o.is_null()).collect();
        sorted.sort_by_key(|o| rank(o));
        let mut uids: HashMap<String, String> = HashMap::new();
        let mut out = Vec::with_capacity(sorted.len());
        for group in sorted.chunk_by(|a, b| rank(a) == rank(b)) {
            let mut prepared = Vec::with_capacity(group.len());
            for obj in group {
                let api = self.api_for(obj)?;
                let old_uid = obj["metadata"]["uid"].as_str().map(str::to_string);
                prepared.push((api, old_uid, clean_for_create(obj, &uids)));
            }
            let results: Vec<Result<(Option<String>, Value), String>> = self.block_on(
                futures_util::stream::iter(prepared)
                    .map(
                        |(api, old_uid, obj)| async move { put_with(&api, &obj).await.map(|v| (old_uid, v)) },
                    )
                    .buffered(concurrency.max(1))
                    .collect(),
            );
            for r in results {
                let (old_uid, created) = r?;
                if let (Some(old), Some(new)) = (old_uid, created["metadata"]["uid"].as_str()) {
                    uids.insert(old, new.to_string());
                }
                out.push(created);
            }
        }
        Ok(out)
    }

    /// Creates one object, or replaces it when it exists.
    pub fn put(&self, obj: &Value) -> Result<Value, String> {
        let api = self.api_for(obj)?;
        self.block_on(put_with(&api, obj))
    }

    /// Removes every managedFields entry of existing objects (an update sending
    /// `managedFields: [{}]`), up to `concurrency` at a time: objects as kube-sim's store keeps
    /// what it is given without managers, owned by `before-first-apply` at their first
    /// server-side apply.
    pub fn strip_managed_fields(&self, objects: &[Value], concurrency: usize) -> Result<(), String> {
        use futures_util::StreamExt;
        let mut prepared = Vec::with_capacity(objects.len());
        for obj in objects.iter().filter(|o| !o.is_null()) {
            let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
            prepared.push((self.api_for(obj)?, name));
        }
        let strip = json!({"metadata": {"managedFields": [{}]}});
        let results: Vec<Result<(), String>> = self.block_on(
            futures_util::stream::iter(prepared)
                .map(|(api, name)| {
                    let strip = &strip;
                    async move {
                        api.patch(
                            &name,
                            &kube::api::PatchParams::default(),
                            &kube::api::Patch::Merge(strip),
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("strip managedFields of {name}: {e}"))
                    }
                })
                .buffered(concurrency.max(1))
                .collect(),
        );
        results.into_iter().collect()
    }

    /// The size of the audit log now: [`ControlPlane::audited_writes`] reads from there.
    pub fn audit_mark(&self) -> u64 {
        std::fs::metadata(self.dir.join("audit.log")).map_or(0, |m| m.len())
    }

    /// The writes (create, update, patch, delete; dry runs too) to `security.istio.io` and
    /// `networking.istio.io` objects in namespaces `wanted` accepts, as the API server's audit
    /// log recorded them since `mark` ([`ControlPlane::audit_mark`]), as kube-sim's request
    /// records. A sentinel write (a dry-run create, persisting nothing) is waited for first,
    /// so every request answered before this call is in the log.
    pub fn audited_writes(
        &self,
        mark: u64,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<RequestRecord>, String> {
        static SENTINEL: AtomicUsize = AtomicUsize::new(0);
        let name = format!("audit-sentinel-{}", SENTINEL.fetch_add(1, Ordering::Relaxed));
        let probe = json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": "default"}});
        let api = self.api_for(&probe)?;
        let dynamic: DynamicObject = serde_json::from_value(probe).map_err(|e| e.to_string())?;
        let pp = PostParams {
            dry_run: true,
            ..Default::default()
        };
        self.block_on(api.create(&pp, &dynamic))
            .map_err(|e| format!("audit sentinel: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let events: Vec<Value> = loop {
            let text = std::fs::read(self.dir.join("audit.log")).map_err(|e| format!("audit log: {e}"))?;
            let from = usize::try_from(mark).unwrap_or(0).min(text.len());
            let events: Vec<Value> = String::from_utf8_lossy(&text[from..])
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if events.iter().any(|e| e["objectRef"]["name"] == name.as_str()) {
                break events;
            }
            if Instant::now() > deadline {
                return Err("the audit log did not record the sentinel write within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(events
            .iter()
            .filter(|e| e["stage"] == "ResponseComplete")
            .filter(|e| wanted(e["objectRef"]["namespace"].as_str().unwrap_or_default()))
            .map(|e| {
                let uri = e["requestURI"].as_str().unwrap_or_default();
                let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
                let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
                RequestRecord {
                    method: String::new(),
                    path: path.to_string(),
                    query: query.to_string(),
                    user: s(&e["user"]["username"]),
                    verb: s(&e["verb"]),
                    api_group: s(&e["objectRef"]["apiGroup"]),
                    resource: s(&e["objectRef"]["resource"]),
                    subresource: s(&e["objectRef"]["subresource"]),
                    namespace: s(&e["objectRef"]["namespace"]),
                    name: s(&e["objectRef"]["name"]),
                    dry_run: query.split('&').any(|kv| kv == "dryRun=All"),
                    status: e["responseStatus"]["code"]
                        .as_u64()
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(0),
                    user_agent: s(&e["userAgent"]),
                    ..Default::default()
                }
            })
            .collect())
    }

    /// Reads one object as the administrator.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let probe = json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace}});
        let api = self.api_for(&probe).ok()?;
        let obj = self.block_on(api.get_opt(name)).ok()??;
        serde_json::to_value(obj).ok()
    }

    /// Deletes one object as the administrator; whether it existed.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Result<bool, String> {
        let probe = json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace}});
        let api = self.api_for(&probe)?;
        match self.block_on(api.delete(name, &Default::default())) {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(format!("delete {kind} {namespace}/{name}: {e}")),
        }
    }

    /// Grants `user` the kube-sim [`Rule`]s as RBAC objects named after `tag`: cluster-wide
    /// rules as a ClusterRole bound cluster-wide, namespaced rules as a ClusterRole bound by a
    /// RoleBinding in each namespace (`namespace` maps a rule's namespace names). Waits until
    /// the authorizer sees them.
    pub fn grant(
        &self,
        user: &str,
        tag: &str,
        rules: &[Rule],
        namespace: impl Fn(&str) -> String,
    ) -> Result<(), String> {
        let mut objects = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let role = format!("{tag}-{i}");
            let (resources, groups) = rbac_rule(rule);
            objects.push(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [{"apiGroups": groups, "resources": resources, "verbs": rule.verbs}]}),
            );
            let subjects = json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]);
            let role_ref =
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role});
            match &rule.namespaces {
                None => objects.push(
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": role}, "subjects": subjects, "roleRef": role_ref}),
                ),
                Some(namespaces) => {
                    for ns in namespaces {
                        objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                            "metadata": {"name": role, "namespace": namespace(ns)}, "subjects": subjects, "roleRef": role_ref}));
                    }
                }
            }
        }
        self.create_all(&objects)?;
        // The RBAC authorizer reads through informers: wait until the last rule is in effect.
        let Some(rule) = rules.last() else {
            return Ok(());
        };
        let (resources, groups) = rbac_rule(rule);
        let resource = resources[0].as_str().unwrap_or("*");
        let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
        let group = groups[0].as_str().unwrap_or("*");
        let ns = rule
            .namespaces
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| namespace(n));
        let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "resourceAttributes": {"verb": rule.verbs[0], "group": group,
                "resource": resource, "subresource": sub, "namespace": ns.unwrap_or_default()}}});
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let req = http::Request::post("/apis/authorization.k8s.io/v1/subjectaccessreviews")
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&review).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let answer: Value = self
                .block_on(self.admin.request::<Value>(req))
                .map_err(|e| format!("SubjectAccessReview: {e}"))?;
            if answer["status"]["allowed"] == true {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("RBAC for {user} not in effect after 10s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops kube-apiserver, then etcd, and waits for both.
    pub fn stop(&self) {
        let taken = self.supervisor.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((mut child, mut stdin)) = taken {
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the audit log records: the metadata of writes to Istio's objects, nothing else.
const AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
  resources:
  - group: security.istio.io
  - group: networking.istio.io
- level: None
"#;

fn api_in(client: &Client, ar: &ApiResource, namespaced: bool, obj: &Value) -> Api<DynamicObject> {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
    if namespaced {
        Api::namespaced_with(client.clone(), ns, ar)
    } else {
        Api::all_with(client.clone(), ar)
    }
}

/// The object without what the server sets, owner uids mapped through `uids`.
fn clean_for_create(obj: &Value, uids: &HashMap<String, String>) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj["metadata"].as_object_mut() {
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            meta.remove(f);
        }
        if let Some(refs) = meta.get_mut("ownerReferences").and_then(Value::as_array_mut) {
            for r in refs {
                if let Some(new) = r["uid"].as_str().and_then(|u| uids.get(u)) {
                    r["uid"] = json!(new);
                }
            }
        }
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    // Cluster IPs are the server's to allocate (from its own range, once each).
    if obj["kind"] == "Service"
        && let Some(spec) = obj["spec"].as_object_mut()
    {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    obj
}

/// Creates an object, or replaces it when it exists.
async fn put_with(api: &Api<DynamicObject>, obj: &Value) -> Result<Value, String> {
    let what = format!(
        "{} {}/{}",
        obj["kind"].as_str().unwrap_or_default(),
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    );
    let dynamic: DynamicObject = serde_json::from_value(obj.clone()).map_err(|e| format!("{what}: {e}"))?;
    let created = match api.create(&PostParams::default(), &dynamic).await {
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let name = dynamic.metadata.name.clone().unwrap_or_default();
            let current = api.get(&name).await.map_err(|e| format!("{what}: {e}"))?;
            let mut replacement = dynamic.clone();
            replacement.metadata.resource_version = current.metadata.resource_version;
            api.replace(&name, &PostParams::default(), &replacement).await
        }
        other => other,
    }
    .map_err(|e| format!("{what}: {e}"))?;
    // The server records the creator as the manager of every field; managedFields the object
    // names are kept by an update that changes nothing else (as kube-sim's store keeps them).
    let created = match &dynamic.metadata.managed_fields {
        Some(given) if !given.is_empty() => {
            let mut again = created.clone();
            again.metadata.managed_fields = Some(given.clone());
            let name = again.metadata.name.clone().unwrap_or_default();
            api.replace(&name, &PostParams::default(), &again)
                .await
                .map_err(|e| format!("{what}: {e}"))?
        }
        _ => created,
    };
    serde_json::to_value(created).map_err(|e| e.to_string())
}

/// kube-sim's rule as RBAC `resources` and `apiGroups` (None = any group).
fn rbac_rule(rule: &Rule) -> (Value, Value) {
    let groups = match &rule.api_groups {
        None => json!(["*"]),
        Some(g) => json!(g),
    };
    (json!(rule.resources), groups)
}

fn kubeconfig_yaml(url: &str, ca_pem: &str, user: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\ncontexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: {user}\ncurrent-context: envtest\nusers:\n- name: {user}\n  user:\n    token: {token}\npreferences: {{}}\n"
    )
}

async fn client_for(kubeconfig: &str) -> Result<Client, String> {
    let kc = Kubeconfig::from_yaml(kubeconfig).map_err(|e| format!("kubeconfig: {e}"))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig: {e}"))?;
    Client::try_from(config).map_err(|e| format!("client: {e}"))
}

impl Scenario {
    /// The objects a kube-sim started with this scenario holds, as kube-sim stored them
    /// (sidecars injected, defaults applied), without the Istio CRDs (the namespaces every
    /// cluster has are included): what to create on a real API server to get the same cluster.
    pub fn objects(&self) -> Result<Vec<Value>, crate::SimError> {
        let app = crate::build_app(self.clone())?;
        let data = app.cluster.state.data.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for objects in data.objects.values() {
            for entry in objects.values() {
                let v = entry.value();
                if v["kind"] == "CustomResourceDefinition" {
                    continue;
                }
                out.push(v);
            }
        }
        // HashMap order is arbitrary: make it stable.
        out.sort_by(|a, b| {
            let key = |v: &Value| {
                (
                    v["kind"].as_str().unwrap_or_default().to_string(),
                    v["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    v["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
        Ok(out)
    }
}
