//! Scenarios: what the simulated cluster contains when it starts, who may
//! use it, and what exec answers.

use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::cluster::{Cluster, SimError};
use crate::exec::{ExecConfig, ExecHandlerFn, ExecRequest, ExecResponse, ExecRule};
use crate::util::{self, SplitMix};

/// The Istio definitions the cluster serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IstioApi {
    /// A current Istio: security.istio.io v1 (storage) and v1beta1, networking v1/v1beta1/v1alpha3.
    #[default]
    V1,
    /// An older Istio (before 1.22): only v1beta1 (and v1alpha3 for networking, v1alpha1 for telemetry).
    V1beta1Only,
    /// No Istio at all: no Istio groups, no injection.
    None,
}

/// An RBAC rule of a [`User`].
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or `*`).
    pub verbs: Vec<String>,
    /// Resources, with subresources as `pods/exec`; `*` for all.
    pub resources: Vec<String>,
    /// API groups ("" is core); None = any group.
    #[serde(default)]
    pub api_groups: Option<Vec<String>>,
    /// Namespaces the rule applies in; None = cluster-wide (every namespace and cluster-scoped objects).
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
}

impl Rule {
    /// A cluster-wide rule for any API group.
    pub fn new(verbs: &[&str], resources: &[&str]) -> Rule {
        Rule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            api_groups: None,
            namespaces: None,
        }
    }
    /// Restricts the rule to these namespaces.
    pub fn in_namespaces(mut self, namespaces: &[&str]) -> Rule {
        self.namespaces = Some(namespaces.iter().map(|s| s.to_string()).collect());
        self
    }
    /// Restricts the rule to these API groups.
    pub fn in_groups(mut self, groups: &[&str]) -> Rule {
        self.api_groups = Some(groups.iter().map(|s| s.to_string()).collect());
        self
    }

    pub(crate) fn allows(&self, verb: &str, group: &str, resource: &str, namespace: &str) -> bool {
        let any = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x == v);
        any(&self.verbs, verb)
            && any(&self.resources, resource)
            && self.api_groups.as_deref().is_none_or(|g| any(g, group))
            && self
                .namespaces
                .as_deref()
                .is_none_or(|n| !namespace.is_empty() && any(n, namespace))
    }
}

/// Someone who can talk to the server with a bearer token.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// User name (as in Forbidden messages).
    pub name: String,
    /// Bearer token.
    pub token: String,
    /// Groups; `system:masters` makes the user an administrator.
    #[serde(default)]
    pub groups: Vec<String>,
    /// What the user may do.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl User {
    /// A user with no permissions yet.
    pub fn new(name: &str, token: &str) -> User {
        User {
            name: name.into(),
            token: token.into(),
            groups: Vec::new(),
            rules: Vec::new(),
        }
    }
    /// Adds a rule.
    pub fn allow(mut self, rule: Rule) -> User {
        self.rules.push(rule);
        self
    }
    /// Whether the user may do everything.
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// The built-in administrator: user `admin`, token [`ADMIN_TOKEN`], group `system:masters`.
pub const ADMIN_TOKEN: &str = "kube-sim-admin-token";

/// The starting state of a simulated cluster. Build with [`Scenario::lab`],
/// [`Scenario::empty`] or [`Scenario::scale`], then add manifests, users and
/// exec behaviour.
#[derive(Clone)]
pub struct Scenario {
    pub(crate) istio: IstioApi,
    pub(crate) docs: Vec<Value>,
    pub(crate) users: Vec<User>,
    pub(crate) exec: ExecConfig,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("istio", &self.istio)
            .field("objects", &self.docs.len())
            .field("users", &self.users)
            .field("exec_rules", &self.exec.rules)
            .finish_non_exhaustive()
    }
}

const LAB_YAML: &str = include_str!("../scenarios/lab.yaml");
pub(crate) const ISTIO_CRDS: &str = include_str!("../crds/istio.yaml");

impl Scenario {
    /// Only the `default`, `kube-system`, `kube-public` and `kube-node-lease`
    /// namespaces (plus the Istio CRDs unless [`IstioApi::None`]).
    pub fn empty() -> Scenario {
        let mut docs = Vec::new();
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            docs.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        Scenario {
            istio: IstioApi::V1,
            docs,
            users: vec![User {
                name: "admin".into(),
                token: ADMIN_TOKEN.into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                rules: vec![],
            }],
            exec: ExecConfig::default(),
        }
    }

    /// The Istio workshop's starting point (`scenarios/lab.yaml`): istiod in
    /// istio-system, `istioinaction` (injection enabled) with web-api,
    /// history, recommendation and sleep, an un-meshed sleep in `default`, and
    /// no PeerAuthentication.
    pub fn lab() -> Scenario {
        Scenario::empty()
            .load_yaml(LAB_YAML)
            .expect("scenarios/lab.yaml is valid")
    }

    /// Selects the Istio API versions served.
    pub fn istio(mut self, api: IstioApi) -> Scenario {
        self.istio = api;
        self
    }

    /// Adds objects from multi-document YAML (or JSON). Besides Kubernetes
    /// objects, documents with `apiVersion: kube-sim/v1` may be
    /// `kind: User` (fields of [`User`]) or `kind: ExecRules` (`rules:` list of [`ExecRule`]).
    pub fn load_yaml(mut self, yaml: &str) -> Result<Scenario, SimError> {
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(yaml).map_err(|e| SimError::new(format!("invalid YAML: {e}")))?;
        for doc in docs {
            if doc.is_null() {
                continue;
            }
            if !doc.is_object() {
                return Err(SimError::new("a YAML document is not an object"));
            }
            if doc.get("kind").and_then(Value::as_str) == Some("List") {
                for item in doc
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    self.docs.push(item);
                }
                continue;
            }
            if util::str_at(&doc, "/apiVersion") == "kube-sim/v1" {
                let mut body = doc.clone();
                if let Some(m) = body.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                match util::str_at(&doc, "/kind") {
                    "User" => {
                        let user: User = serde_json::from_value(body)
                            .map_err(|e| SimError::new(format!("invalid User: {e}")))?;
                        self.users.retain(|u| u.name != user.name);
                        self.users.push(user);
                    }
                    "ExecRules" => {
                        #[derive(Deserialize)]
                        #[serde(deny_unknown_fields)]
                        struct Rules {
                            rules: Vec<ExecRule>,
                        }
                        let r: Rules = serde_json::from_value(body)
                            .map_err(|e| SimError::new(format!("invalid ExecRules: {e}")))?;
                        self.exec.rules.extend(r.rules);
                    }
                    other => {
                        return Err(SimError::new(format!(
                            "unknown kube-sim/v1 kind {other:?} (User, ExecRules)"
                        )));
                    }
                }
                continue;
            }
            if util::str_at(&doc, "/apiVersion").is_empty() || util::str_at(&doc, "/kind").is_empty() {
                return Err(SimError::new("a YAML document has no apiVersion or kind"));
            }
            self.docs.push(doc);
        }
        Ok(self)
    }

    /// Adds one object.
    pub fn object(mut self, obj: Value) -> Scenario {
        self.docs.push(obj);
        self
    }

    /// Adds (or replaces, by name) a user.
    pub fn user(mut self, user: User) -> Scenario {
        self.users.retain(|u| u.name != user.name);
        self.users.push(user);
        self
    }

    /// Adds an exec rule (rules are tried in order after the handlers).
    pub fn exec_rule(mut self, rule: ExecRule) -> Scenario {
        self.exec.rules.push(rule);
        self
    }

    /// Adds an exec handler; handlers are tried in order before the rules,
    /// and `None` passes the request on.
    pub fn exec_handler<F>(mut self, f: F) -> Scenario
    where
        F: Fn(&ExecRequest, &Cluster) -> Option<ExecResponse> + Send + Sync + 'static,
    {
        let h: ExecHandlerFn = Arc::new(f);
        self.exec.handlers.push(h);
        self
    }

    /// The users (admin first).
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// A large, deterministic cluster for benchmarks: `namespaces` application
    /// namespaces holding `pods` pods in total. Most namespaces use sidecar
    /// injection, about one in eight is ambient (namespace label
    /// `istio.io/dataplane-mode=ambient`, pods annotated
    /// `ambient.istio.io/redirection: enabled`), about one in ten is outside
    /// the mesh. Every namespace has Deployments (4-pod ReplicaSets) and
    /// Services; there is a mesh-wide PeerAuthentication plus namespace-,
    /// workload- and port-level ones (a few hundred for big clusters) and
    /// some DestinationRules.
    pub fn scale(namespaces: usize, pods: usize, seed: u64) -> Scenario {
        let mut s = Scenario::empty();
        s.docs.extend(istio_system_docs());
        let mut rng = SplitMix(seed);
        let namespaces = namespaces.max(1);
        let base_time = util::now_secs() - 86_400 * 30;
        let modes = ["STRICT", "PERMISSIVE", "DISABLE"];
        s.docs.push(json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "istio-system"}, "spec": {"mtls": {"mode": "PERMISSIVE"}}}));
        let mut created = 0usize;
        for n in 0..namespaces {
            let ns = format!("app-{n:04}");
            let kind = rng.below(100);
            let (labels, ambient) = match kind {
                0..=9 => (json!({}), false),
                10..=22 => (json!({"istio.io/dataplane-mode": "ambient"}), true),
                _ => (json!({"istio-injection": "enabled"}), false),
            };
            s.docs.push(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}),
            );
            let ns_pods = pods / namespaces + usize::from(n < pods % namespaces);
            if rng.below(4) == 0 {
                s.docs.push(
                    json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                    "metadata": {"name": "default", "namespace": ns},
                    "spec": {"mtls": {"mode": modes[rng.below(3) as usize]}}}),
                );
            }
            let deployments = ns_pods.div_ceil(4);
            for d in 0..deployments {
                let app = format!("svc-{d:03}");
                let hash = format!("{:010x}", rng.next_u64() & 0xff_ffff_ffff);
                let hash: String = hash
                    .chars()
                    .map(|c| {
                        if c.is_ascii_digit() {
                            c
                        } else {
                            (b'b' + (c as u8 - b'a')) as char
                        }
                    })
                    .collect();
                let replicas = (ns_pods - d * 4).min(4);
                let created_at = util::rfc3339(base_time + rng.below(86_400 * 29) as i64);
                s.docs.extend(deployment(&ns, &app, &hash, replicas, &created_at));
                s.docs.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": ns,
                    "labels": {"app": app}, "creationTimestamp": created_at},
                    "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]}}));
                for r in 0..replicas {
                    let suffix: String = (0..5)
                        .map(|_| b"bcdfghjklmnpqrstvwxz2456789"[rng.below(27) as usize] as char)
                        .collect();
                    let mut pod = pod(&ns, &app, &hash, &suffix, &created_at);
                    if ambient {
                        pod["metadata"]["annotations"] = json!({"ambient.istio.io/redirection": "enabled"});
                    }
                    if r == 0 && rng.below(50) == 0 && !ambient {
                        pod["metadata"]["annotations"] = json!({"sidecar.istio.io/inject": "false"});
                    }
                    s.docs.push(pod);
                    created += 1;
                }
                if rng.below(40) == 0 {
                    s.docs.push(json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                        "metadata": {"name": app, "namespace": ns},
                        "spec": {"selector": {"matchLabels": {"app": app}}, "mtls": {"mode": modes[rng.below(3) as usize]}}}));
                } else if rng.below(60) == 0 {
                    s.docs.push(
                        json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                        "metadata": {"name": format!("{app}-ports"), "namespace": ns},
                        "spec": {"selector": {"matchLabels": {"app": app}}, "mtls": {"mode": "STRICT"},
                            "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}}}),
                    );
                }
                if rng.below(30) == 0 {
                    s.docs.push(json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                        "metadata": {"name": app, "namespace": ns},
                        "spec": {"host": format!("{app}.{ns}.svc.cluster.local"),
                            "trafficPolicy": {"tls": {"mode": if rng.below(2) == 0 { "ISTIO_MUTUAL" } else { "DISABLE" }}}}}));
                }
            }
        }
        debug_assert_eq!(created, pods);
        s
    }
}

fn istio_system_docs() -> Vec<Value> {
    Scenario {
        istio: IstioApi::V1,
        docs: vec![],
        users: vec![],
        exec: ExecConfig::default(),
    }
    .load_yaml(LAB_YAML)
    .expect("lab.yaml")
    .docs
    .into_iter()
    .filter(|d| {
        util::str_at(d, "/metadata/namespace") == "istio-system"
            || util::str_at(d, "/metadata/name") == "istio-system"
    })
    .collect()
}

fn deployment(ns: &str, app: &str, hash: &str, replicas: usize, created_at: &str) -> [Value; 2] {
    let template = json!({"metadata": {"labels": {"app": app, "version": "v1"}},
        "spec": {"serviceAccountName": app, "containers": [{"name": app, "image": format!("registry.example/{app}:1.0"),
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]}});
    let mut rs_template = template.clone();
    rs_template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let status = json!({"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
        "updatedReplicas": replicas, "observedGeneration": 1});
    [
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": ns, "labels": {"app": app}, "creationTimestamp": created_at,
                "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}}, "template": template},
            "status": status}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("{app}-{hash}"), "namespace": ns, "creationTimestamp": created_at,
                "labels": {"app": app, "version": "v1", "pod-template-hash": hash},
                "annotations": {"deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                    "uid": "00000000-0000-4000-8000-000000000000", "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app, "pod-template-hash": hash}},
                "template": rs_template},
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                "fullyLabeledReplicas": replicas, "observedGeneration": 1}}),
    ]
}

fn pod(ns: &str, app: &str, hash: &str, suffix: &str, created_at: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{app}-{hash}-{suffix}"), "namespace": ns, "creationTimestamp": created_at,
            "labels": {"app": app, "version": "v1", "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-{hash}"),
                "uid": format!("00000000-0000-4000-8000-{:012x}", hash.len()), "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"serviceAccountName": app, "containers": [{"name": app, "image": format!("registry.example/{app}:1.0"),
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]}})
}

/// Loads a scenario's objects into a fresh cluster: namespaces and CRDs first.
pub(crate) fn populate(cluster: &Cluster, scenario: &Scenario) -> Result<(), SimError> {
    if scenario.istio != IstioApi::None {
        let crds: Vec<Value> = serde_saphyr::from_multiple(ISTIO_CRDS)
            .map_err(|e| SimError::new(format!("crds/istio.yaml: {e}")))?;
        for mut crd in crds.into_iter().filter(|d| !d.is_null()) {
            if scenario.istio == IstioApi::V1beta1Only {
                restrict_to_v1beta1(&mut crd);
            }
            cluster.put(crd)?;
        }
    }
    let rank = |d: &Value| match util::str_at(d, "/kind") {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        _ => 2,
    };
    let mut order: Vec<&Value> = scenario.docs.iter().collect();
    order.sort_by_key(|d| rank(d));
    for doc in order {
        let mut d = doc.clone();
        if scenario.istio == IstioApi::V1beta1Only {
            downgrade_istio_version(&mut d);
        }
        if scenario.istio == IstioApi::None && util::str_at(&d, "/apiVersion").contains(".istio.io/") {
            continue;
        }
        cluster.put(d).map_err(|e| SimError {
            code: e.code,
            message: format!(
                "loading {} {}: {}",
                util::str_at(doc, "/kind"),
                util::str_at(doc, "/metadata/name"),
                e.message
            ),
        })?;
    }
    Ok(())
}

/// Older Istio: drop every `v1` version, keep the rest, pick a storage version.
fn restrict_to_v1beta1(crd: &mut Value) {
    let Some(versions) = crd.pointer_mut("/spec/versions").and_then(Value::as_array_mut) else {
        return;
    };
    if versions.len() > 1 {
        versions.retain(|v| v.get("name").and_then(Value::as_str) != Some("v1"));
    }
    if !versions
        .iter()
        .any(|v| v.get("storage") == Some(&Value::Bool(true)))
    {
        let idx = versions
            .iter()
            .position(|v| v.get("name").and_then(Value::as_str) == Some("v1beta1"))
            .unwrap_or(0);
        if let Some(v) = versions.get_mut(idx) {
            v["storage"] = json!(true);
        }
    }
}

fn downgrade_istio_version(doc: &mut Value) {
    let av = util::str_at(doc, "/apiVersion").to_string();
    if let Some(group) = av.strip_suffix("/v1")
        && group.ends_with(".istio.io")
    {
        let to = if group == "telemetry.istio.io" {
            "v1alpha1"
        } else {
            "v1beta1"
        };
        doc["apiVersion"] = json!(format!("{group}/{to}"));
    }
}
