//! The in-memory object store and the write path every request goes through
//! (defaulting, admission, validation, field management, persistence, watch
//! events).

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::broadcast;

use crate::fields;
use crate::inject;
use crate::resources::{Registry, ResKey, ResourceType};
use crate::schema;
use crate::status::{ApiError, Cause};
use crate::util;

/// (namespace, name); namespace is "" for cluster-scoped objects.
pub(crate) type ObjKey = (String, String);

/// A change, as a watch stream reports it.
#[derive(Clone, Debug)]
pub(crate) struct WatchEvent {
    pub key: ResKey,
    pub kind: &'static str,
    pub object: Arc<Value>,
    pub rv: u64,
}

/// A stored object: its JSON text (compact: a parsed `Value` costs ten times
/// more memory) plus the projection selectors read.
pub(crate) struct Entry {
    json: Box<[u8]>,
    /// apiVersion, metadata.{name,namespace,labels,resourceVersion} and the
    /// fields field selectors support.
    pub index: Value,
}

impl Entry {
    fn new(v: &Value) -> Entry {
        Entry {
            json: serde_json::to_vec(v).unwrap_or_default().into_boxed_slice(),
            index: crate::selector::index_of(v),
        }
    }
    /// The object.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
    /// The stored JSON text.
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}

fn lookup(data: &Data, t: &ResourceType, key: &ObjKey) -> Option<Arc<Value>> {
    data.objects
        .get(&t.key())
        .and_then(|m| m.get(key))
        .map(|e| Arc::new(e.value()))
}

#[derive(Default)]
pub(crate) struct Data {
    pub rv: u64,
    pub objects: HashMap<ResKey, BTreeMap<ObjKey, Arc<Entry>>>,
    history: VecDeque<Arc<WatchEvent>>,
    ip_counter: u32,
}

/// Watch events kept for resuming watches (older resourceVersions get 410 Expired).
const HISTORY: usize = 1024;

pub(crate) struct State {
    pub registry: RwLock<Arc<Registry>>,
    pub data: RwLock<Data>,
    pub events: broadcast::Sender<Arc<WatchEvent>>,
    cel: Mutex<kube_cel::Validator>,
    pub istio_installed: bool,
    /// Set while a scenario is being loaded.
    pub loading: std::sync::atomic::AtomicBool,
    /// Set while new pods stay Pending (see [`Cluster::hold_new_pods`]).
    pub hold_pods: std::sync::atomic::AtomicBool,
    /// Where `pods/portforward` leads (see [`Cluster::forward_pod_port`]).
    pub port_forwards: crate::portforward::PortForwards,
    /// What the simulated mesh counted (see [`Cluster::simulate_traffic`]).
    pub telemetry: crate::telemetry::Telemetry,
}

/// Options of one write.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteOpts {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub strict: bool,
    /// Keep a given creationTimestamp/uid (scenario loading).
    pub keep_meta: bool,
}

/// The result of a write: the object and any warnings.
pub(crate) struct Written {
    pub object: Arc<Value>,
    pub warnings: Vec<String>,
    pub created: bool,
}

/// Handle to the simulated cluster's objects, for tests and exec handlers.
///
/// Objects are addressed like manifests: by `apiVersion` and `kind`. Writes
/// made here go through the same defaulting, admission (sidecar injection,
/// pod status) and validation as API requests, but are not recorded in the
/// request log.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) state: Arc<State>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

/// An error from [`Cluster`] operations or scenario loading.
#[derive(Debug, Clone, PartialEq)]
pub struct SimError {
    /// HTTP-style code (404, 409, 422, 400...).
    pub code: u16,
    /// The message a real API server would give.
    pub message: String,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for SimError {}

impl From<ApiError> for SimError {
    fn from(e: ApiError) -> Self {
        SimError {
            code: e.code,
            message: e.message,
        }
    }
}

impl SimError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        SimError {
            code: 400,
            message: message.into(),
        }
    }
}

impl Cluster {
    pub(crate) fn new(istio_installed: bool) -> Cluster {
        let (tx, _) = broadcast::channel(8192);
        Cluster {
            state: Arc::new(State {
                registry: RwLock::new(Arc::new(Registry::build(&[]))),
                data: RwLock::new(Data::default()),
                events: tx,
                cel: Mutex::new(kube_cel::Validator::new()),
                istio_installed,
                loading: std::sync::atomic::AtomicBool::new(false),
                hold_pods: std::sync::atomic::AtomicBool::new(false),
                port_forwards: Default::default(),
                telemetry: Default::default(),
            }),
        }
    }

    pub(crate) fn registry(&self) -> Arc<Registry> {
        self.state
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.state.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, Data> {
        self.state.data.write().unwrap_or_else(|e| e.into_inner())
    }

    fn resolve(&self, api_version: &str, kind: &str) -> Result<(Arc<ResourceType>, String), SimError> {
        self.registry()
            .by_kind(api_version, kind)
            .ok_or_else(|| SimError {
                code: 404,
                message: format!("no matches for kind \"{kind}\" in version \"{api_version}\""),
            })
    }

    /// One object, as stored (its `apiVersion` is `api_version`).
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let (t, version) = self.resolve(api_version, kind).ok()?;
        let ns = if t.namespaced { namespace } else { "" };
        self.get_obj(&t, ns, name).map(|o| present(&o, &t, &version))
    }

    /// All objects of a kind, in one namespace or (None) everywhere, sorted by namespace and name.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let Ok((t, version)) = self.resolve(api_version, kind) else {
            return Vec::new();
        };
        let (items, _, _) = self.list_page(&t, namespace.filter(|_| t.namespaced), None, None, |_| true);
        items
            .iter()
            .map(|e| {
                let mut v = e.value();
                v["apiVersion"] = json!(t.api_version(&version));
                v
            })
            .collect()
    }

    /// Number of objects of a kind (cheap: no copies).
    pub fn count(&self, api_version: &str, kind: &str) -> usize {
        let Ok((t, _)) = self.resolve(api_version, kind) else {
            return 0;
        };
        self.read().objects.get(&t.key()).map_or(0, BTreeMap::len)
    }

    /// Creates or replaces an object (a manifest with apiVersion, kind and
    /// metadata.name; namespaced kinds default to namespace `default`).
    pub fn put(&self, obj: Value) -> Result<Value, SimError> {
        let (written, t, version) = self.put_inner(obj)?;
        Ok(present(&written, &t, &version))
    }

    pub(crate) fn put_inner(
        &self,
        mut obj: Value,
    ) -> Result<(Arc<Value>, Arc<ResourceType>, String), SimError> {
        let api_version = util::str_at(&obj, "/apiVersion").to_string();
        let kind = util::str_at(&obj, "/kind").to_string();
        if api_version.is_empty() || kind.is_empty() {
            return Err(SimError::new("object has no apiVersion or kind"));
        }
        let (t, version) = self.resolve(&api_version, &kind)?;
        let name = util::str_at(&obj, "/metadata/name").to_string();
        let ns = if t.namespaced {
            let ns = util::str_at(&obj, "/metadata/namespace");
            if ns.is_empty() {
                "default".to_string()
            } else {
                ns.to_string()
            }
        } else {
            String::new()
        };
        if t.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        }
        let nsopt = t.namespaced.then_some(ns.as_str());
        let opts = WriteOpts {
            keep_meta: true,
            ..Default::default()
        };
        let written = if !name.is_empty() && self.get_obj(&t, &ns, &name).is_some() {
            self.update(&t, &version, nsopt, &name, obj, &opts, false)?
        } else {
            self.create(&t, &version, nsopt, obj, &opts)?
        };
        Ok((written.object, t, version))
    }

    /// Creates or replaces every object of a multi-document YAML (or JSON)
    /// text, in order; returns them as stored.
    pub fn put_yaml(&self, yaml: &str) -> Result<Vec<Value>, SimError> {
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(yaml).map_err(|e| SimError::new(format!("invalid YAML: {e}")))?;
        docs.into_iter()
            .filter(|d| !d.is_null())
            .map(|d| self.put(d))
            .collect()
    }

    /// Deletes an object; returns it if it existed.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let (t, version) = self.resolve(api_version, kind).ok()?;
        let ns = if t.namespaced { namespace } else { "" };
        self.delete_obj(&t, ns, name, false)
            .ok()
            .map(|o| present(&o, &t, &version))
    }

    /// While `hold` is true, pods created without a status stay `Pending` (as when images are
    /// still pulling) instead of starting at once; a test can then act while a client waits.
    pub fn hold_new_pods(&self, hold: bool) {
        self.state
            .hold_pods
            .store(hold, std::sync::atomic::Ordering::SeqCst);
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().rv
    }

    pub(crate) fn get_obj(&self, t: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        lookup(&self.read(), t, &(ns.to_string(), name.to_string()))
    }

    /// A page of objects in key order after `start_after`, filtered. Returns
    /// (items, last key when more remain, resourceVersion).
    pub(crate) fn list_page(
        &self,
        t: &ResourceType,
        namespace: Option<&str>,
        start_after: Option<&ObjKey>,
        limit: Option<usize>,
        filter: impl Fn(&Value) -> bool,
    ) -> (Vec<Arc<Entry>>, Option<ObjKey>, u64) {
        let data = self.read();
        let rv = data.rv;
        let Some(map) = data.objects.get(&t.key()) else {
            return (Vec::new(), None, rv);
        };
        let lower = match (start_after, namespace) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut last = None;
        for (k, v) in map.range((lower, Bound::Unbounded)) {
            if let Some(ns) = namespace
                && k.0 != ns
            {
                break;
            }
            if !filter(&v.index) {
                continue;
            }
            if let Some(l) = limit
                && items.len() == l
            {
                return (items, last, rv);
            }
            items.push(v.clone());
            last = Some(k.clone());
        }
        (items, None, rv)
    }

    /// Events after `rv` still in the history (None when `rv` is too old).
    pub(crate) fn events_since(&self, rv: u64) -> Option<Vec<Arc<WatchEvent>>> {
        let data = self.read();
        if let Some(first) = data.history.front()
            && first.rv > rv + 1
            && rv < data.rv
        {
            return None;
        }
        Some(data.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    fn check_namespace(data: &Data, t: &ResourceType, ns: &str) -> Result<(), ApiError> {
        if !t.namespaced {
            return Ok(());
        }
        let exists = data
            .objects
            .get(&(String::new(), "namespaces".to_string()))
            .is_some_and(|m| m.contains_key(&(String::new(), ns.to_string())));
        if exists {
            Ok(())
        } else {
            Err(ApiError::namespace_not_found(ns))
        }
    }

    fn validate(
        &self,
        t: &ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
        opts: &WriteOpts,
    ) -> Result<Vec<String>, ApiError> {
        let name = util::str_at(obj, "/metadata/name").to_string();
        let mut causes = Vec::new();
        let name_err = if t.plural == "namespaces" {
            util::dns1123_label_error(&name)
        } else {
            util::dns1123_subdomain_error(&name)
        };
        if let Some(msg) = name_err {
            causes.push(Cause {
                reason: "FieldValueInvalid",
                message: format!("Invalid value: {name:?}: {msg}"),
                field: "metadata.name".into(),
            });
        }
        let mut warnings = Vec::new();
        if t.custom {
            let outcome = schema::validate(t, obj, old, &self.state.cel);
            if opts.strict && !outcome.unknown.is_empty() {
                let list: Vec<String> = outcome
                    .unknown
                    .iter()
                    .map(|u| format!("unknown field \"{}\"", u.trim_start_matches('.')))
                    .collect();
                let version = crate::resources::split_api_version(util::str_at(obj, "/apiVersion"))
                    .1
                    .to_string();
                return Err(ApiError::bad_request(format!(
                    "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
                    list.join(", "),
                    kind = t.kind
                )));
            }
            warnings.extend(
                outcome
                    .unknown
                    .iter()
                    .map(|u| format!("unknown field \"{}\"", u.trim_start_matches('.'))),
            );
            causes.extend(outcome.causes);
        }
        if t.plural == "customresourcedefinitions"
            && let Err(e) = crate::resources::from_crd(obj)
        {
            causes.push(Cause {
                reason: "FieldValueRequired",
                message: e,
                field: "spec".into(),
            });
        }
        if causes.is_empty() {
            Ok(warnings)
        } else {
            Err(ApiError::invalid(&t.kind, &t.group, &name, causes))
        }
    }

    /// Creates an object.
    pub(crate) fn create(
        &self,
        t: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Written, ApiError> {
        check_type_meta(t, version, &mut obj)?;
        let ns = ns.unwrap_or("");
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        if t.namespaced {
            let body_ns = util::str_at(&obj, "/metadata/namespace");
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            obj["metadata"]["namespace"] = json!(ns);
        }
        let mut name = util::str_at(&obj, "/metadata/name").to_string();
        if name.is_empty() {
            let generate = util::str_at(&obj, "/metadata/generateName").to_string();
            if generate.is_empty() {
                return Err(ApiError::invalid(
                    &t.kind,
                    &t.group,
                    "",
                    vec![Cause {
                        reason: "FieldValueRequired",
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
            let suffix: String = util::new_uid()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(5)
                .collect();
            name = format!("{generate}{suffix}");
            obj["metadata"]["name"] = json!(name);
        }
        let mut data = self.write_lock();
        Self::check_namespace(&data, t, ns)?;
        let key = (ns.to_string(), name.clone());
        if data.objects.get(&t.key()).is_some_and(|m| m.contains_key(&key)) {
            return Err(ApiError::already_exists(t, &name));
        }
        let given_ts = util::str_at(&obj, "/metadata/creationTimestamp").to_string();
        let given_uid = util::str_at(&obj, "/metadata/uid").to_string();
        if let Some(meta) = obj["metadata"].as_object_mut() {
            for k in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "deletionTimestamp",
                "generation",
                "selfLink",
            ] {
                meta.remove(k);
            }
        }
        if t.custom {
            obj.as_object_mut().map(|m| m.remove("status"));
        }
        self.admit(&mut data, t, &mut obj, None);
        let warnings = self.validate(t, &mut obj, None, opts)?;
        let now = util::now_rfc3339();
        let keep = opts.keep_meta && util::parse_rfc3339(&given_ts).is_some();
        obj["metadata"]["uid"] = json!(if opts.keep_meta && !given_uid.is_empty() {
            given_uid
        } else {
            util::new_uid()
        });
        obj["metadata"]["creationTimestamp"] = json!(if keep { given_ts } else { now.clone() });
        if has_generation(t) {
            obj["metadata"]["generation"] = json!(1);
        }
        if let Some(m) = &opts.field_manager {
            fields::record_update(None, &mut obj, m, &t.api_version(version), &now, !t.custom);
        }
        set_storage_version(t, &mut obj);
        let stored = self.commit(&mut data, t, key, obj, "ADDED", opts.dry_run);
        drop(data);
        Ok(Written {
            object: stored,
            warnings,
            created: true,
        })
    }

    /// Replaces an object (PUT) or its status.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update(
        &self,
        t: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        opts: &WriteOpts,
        status_only: bool,
    ) -> Result<Written, ApiError> {
        check_type_meta(t, version, &mut obj)?;
        let ns = ns.unwrap_or("");
        let body_name = util::str_at(&obj, "/metadata/name");
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let mut data = self.write_lock();
        let key = (ns.to_string(), name.to_string());
        let Some(current) = lookup(&data, t, &key) else {
            return Err(ApiError::not_found(t, name));
        };
        let given_rv = util::str_at(&obj, "/metadata/resourceVersion");
        if !given_rv.is_empty() && given_rv != util::str_at(&current, "/metadata/resourceVersion") {
            return Err(ApiError::conflict(t, name));
        }
        let (obj, warnings) =
            self.prepare_update(&mut data, t, version, &current, obj, opts, status_only, true)?;
        let stored = self.commit(&mut data, t, key, obj, "MODIFIED", opts.dry_run);
        Ok(Written {
            object: stored,
            warnings,
            created: false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_update(
        &self,
        data: &mut Data,
        t: &Arc<ResourceType>,
        version: &str,
        current: &Value,
        mut obj: Value,
        opts: &WriteOpts,
        status_only: bool,
        record_manager: bool,
    ) -> Result<(Value, Vec<String>), ApiError> {
        if status_only {
            let mut merged = current.clone();
            merged["status"] = obj.get("status").cloned().unwrap_or(Value::Null);
            obj = merged;
        } else if t.subresources.iter().any(|s| s.name == "status") {
            match current.get("status") {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    obj.as_object_mut().map(|m| m.remove("status"));
                }
            }
        }
        if t.namespaced {
            obj["metadata"]["namespace"] = current["metadata"]["namespace"].clone();
        }
        obj["metadata"]["name"] = current["metadata"]["name"].clone();
        for k in ["uid", "creationTimestamp", "generation"] {
            match current["metadata"].get(k) {
                Some(v) => obj["metadata"][k] = v.clone(),
                None => {
                    obj["metadata"].as_object_mut().map(|m| m.remove(k));
                }
            }
        }
        self.admit(data, t, &mut obj, Some(current));
        let warnings = self.validate(t, &mut obj, Some(current), opts)?;
        if has_generation(t) && spec_of(&obj) != spec_of(current) {
            let g = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        if t.group == "apps" && !status_only {
            converge_workload_status(&mut obj);
        }
        if record_manager {
            match &opts.field_manager {
                Some(m) => fields::record_update(
                    Some(current),
                    &mut obj,
                    m,
                    &t.api_version(version),
                    &util::now_rfc3339(),
                    !t.custom,
                ),
                None => {
                    if let Some(mf) = current.pointer("/metadata/managedFields") {
                        obj["metadata"]["managedFields"] = mf.clone();
                    }
                }
            }
        }
        set_storage_version(t, &mut obj);
        Ok((obj, warnings))
    }

    /// Applies a patch (merge, strategic-merge, JSON) to an existing object.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn patch(
        &self,
        t: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        content_type: &str,
        body: &[u8],
        opts: &WriteOpts,
        status_only: bool,
    ) -> Result<Written, ApiError> {
        let ns = ns.unwrap_or("");
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let mut data = self.write_lock();
        let key = (ns.to_string(), name.to_string());
        let Some(current) = lookup(&data, t, &key) else {
            return Err(ApiError::not_found(t, name));
        };
        let mut obj = present(&current, t, version);
        if content_type.starts_with("application/json-patch+json") {
            fields::json_patch(&mut obj, &patch).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        } else {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: the patch is not a JSON object",
                ));
            }
            if content_type.starts_with("application/strategic-merge-patch+json") && !t.custom {
                fields::strategic_merge_patch(&mut obj, &patch);
            } else if content_type.starts_with("application/strategic-merge-patch+json") {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "strategic merge patch is not supported for custom resources, use application/merge-patch+json",
                ));
            } else {
                fields::merge_patch(&mut obj, &patch);
            }
        }
        let given_rv = patch
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !given_rv.is_empty() && given_rv != util::str_at(&current, "/metadata/resourceVersion") {
            return Err(ApiError::conflict(t, name));
        }
        if status_only {
            // Only status may change through /status.
            let status = obj.get("status").cloned();
            obj = (*current).clone();
            match status {
                Some(s) => obj["status"] = s,
                None => {
                    obj.as_object_mut().map(|m| m.remove("status"));
                }
            }
        } else if let Some(s) = current.get("status") {
            obj["status"] = s.clone();
        }
        let (obj, warnings) =
            self.prepare_update(&mut data, t, version, &current, obj, opts, status_only, true)?;
        let stored = self.commit(&mut data, t, key, obj, "MODIFIED", opts.dry_run);
        Ok(Written {
            object: stored,
            warnings,
            created: false,
        })
    }

    /// Server-side apply.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply(
        &self,
        t: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        mut applied: Value,
        manager: &str,
        force: bool,
        opts: &WriteOpts,
    ) -> Result<Written, ApiError> {
        let ns_str = ns.unwrap_or("");
        check_type_meta_apply(t, version, &applied)?;
        let body_name = util::str_at(&applied, "/metadata/name");
        if body_name.is_empty() {
            return Err(ApiError::bad_request("metadata.name is required for apply"));
        }
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if t.namespaced {
            let body_ns = util::str_at(&applied, "/metadata/namespace");
            if !body_ns.is_empty() && body_ns != ns_str {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
        }
        if t.custom {
            // Apply builds a typed patch from the schema: unknown fields fail
            // whatever fieldValidation says.
            let mut probe = applied.clone();
            let outcome = schema::validate(t, &mut probe, None, &self.state.cel);
            if let Some(first) = outcome.unknown.first() {
                return Err(ApiError::bad_request(format!(
                    "failed to create typed patch object ({ns_str}/{name}; {}, Kind={}): {first}: field not declared in schema",
                    t.api_version(version),
                    t.kind
                )));
            }
        }
        let now = util::now_rfc3339();
        let current = self.get_obj(t, ns_str, name);
        let api_version = t.api_version(version);
        let Some(current) = current else {
            // Create on apply.
            let empty = json!({"metadata": {}});
            let merged = fields::apply(&empty, &applied, manager, &api_version, force, &now, !t.custom)
                .map_err(|_| ApiError::bad_request("unexpected conflict on create"))?;
            let mut o = opts.clone();
            o.field_manager = None;
            return self.create(t, version, ns, merged, &o);
        };
        let cur = present(&current, t, version);
        let mut merged = fields::apply(&cur, &applied, manager, &api_version, force, &now, !t.custom)
            .map_err(|conflicts| conflict_error(&conflicts))?;
        if t.custom {
            match cur.get("status") {
                Some(s) => merged["status"] = s.clone(),
                None => {
                    merged.as_object_mut().map(|m| m.remove("status"));
                }
            }
        }
        let mut data = self.write_lock();
        let key = (ns_str.to_string(), name.to_string());
        let Some(latest) = lookup(&data, t, &key) else {
            return Err(ApiError::not_found(t, name));
        };
        if latest.pointer("/metadata/resourceVersion") != current.pointer("/metadata/resourceVersion") {
            return Err(ApiError::conflict(t, name));
        }
        let mut o = opts.clone();
        o.field_manager = None;
        let (obj, warnings) =
            self.prepare_update(&mut data, t, version, &current, merged, &o, false, false)?;
        let stored = self.commit(&mut data, t, key, obj, "MODIFIED", opts.dry_run);
        Ok(Written {
            object: stored,
            warnings,
            created: false,
        })
    }

    /// Deletes an object after checking DeleteOptions' `preconditions` (`uid`,
    /// `resourceVersion`) against it: a mismatch is 409 Conflict worded as kube-apiserver's,
    /// also for a dry run.
    pub(crate) fn delete_checked(
        &self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        dry_run: bool,
        preconditions: &Value,
    ) -> Result<Arc<Value>, ApiError> {
        if preconditions.is_object() {
            let key = (ns.to_string(), name.to_string());
            let current = {
                let data = self.write_lock();
                lookup(&data, t, &key)
            };
            let Some(current) = current else {
                return Err(ApiError::not_found(t, name));
            };
            for (field, label, hint) in [
                ("uid", "UID", "deleted and then recreated"),
                ("resourceVersion", "ResourceVersion", "modified"),
            ] {
                if let Some(want) = preconditions.get(field).and_then(Value::as_str) {
                    let have = util::str_at(&current, &format!("/metadata/{field}"));
                    if want != have {
                        return Err(ApiError::precondition_failed(
                            t,
                            name,
                            &format!(
                                "the {label} in the precondition ({want}) does not match the {label} in record ({have}). The object might have been {hint}"
                            ),
                        ));
                    }
                }
            }
        }
        self.delete_obj(t, ns, name, dry_run)
    }

    /// Deletes an object (namespaces take their contents with them).
    pub(crate) fn delete_obj(
        &self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let mut data = self.write_lock();
        let key = (ns.to_string(), name.to_string());
        let Some(obj) = lookup(&data, t, &key) else {
            return Err(ApiError::not_found(t, name));
        };
        if dry_run {
            return Ok(obj);
        }
        data.objects.get_mut(&t.key()).map(|m| m.remove(&key));
        let out = self.bump_and_emit(&mut data, t.key(), obj, "DELETED");
        if t.plural == "namespaces" {
            let keys: Vec<ResKey> = data.objects.keys().cloned().collect();
            for rk in keys {
                let doomed: Vec<ObjKey> = data.objects[&rk]
                    .keys()
                    .filter(|k| k.0 == name)
                    .cloned()
                    .collect();
                for k in doomed {
                    if let Some(o) = data.objects.get_mut(&rk).and_then(|m| m.remove(&k)) {
                        self.bump_and_emit(&mut data, rk.clone(), Arc::new(o.value()), "DELETED");
                    }
                }
            }
        }
        if t.plural == "customresourcedefinitions" {
            self.rebuild_registry(&data);
        }
        Ok(out)
    }

    fn bump_and_emit(&self, data: &mut Data, key: ResKey, obj: Arc<Value>, kind: &'static str) -> Arc<Value> {
        data.rv += 1;
        let rv = data.rv;
        let mut o = (*obj).clone();
        o["metadata"]["resourceVersion"] = json!(rv.to_string());
        let obj = Arc::new(o);
        let ev = Arc::new(WatchEvent {
            key,
            kind,
            object: obj.clone(),
            rv,
        });
        data.history.push_back(ev.clone());
        if data.history.len() > HISTORY {
            data.history.pop_front();
        }
        let _ = self.state.events.send(ev);
        obj
    }

    fn commit(
        &self,
        data: &mut Data,
        t: &ResourceType,
        key: ObjKey,
        mut obj: Value,
        kind: &'static str,
        dry_run: bool,
    ) -> Arc<Value> {
        if dry_run {
            obj["metadata"]["resourceVersion"] = json!(
                data.objects
                    .get(&t.key())
                    .and_then(|m| m.get(&key))
                    .map_or_else(String::new, |o| util::str_at(
                        &o.index,
                        "/metadata/resourceVersion"
                    )
                    .to_string())
            );
            if kind == "ADDED" {
                obj["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("resourceVersion"));
            }
            return Arc::new(obj);
        }
        data.rv += 1;
        let rv = data.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let obj = Arc::new(obj);
        data.objects
            .entry(t.key())
            .or_default()
            .insert(key.clone(), Arc::new(Entry::new(&obj)));
        // Nobody can watch while a scenario loads: skip the event history.
        if !self.state.loading.load(std::sync::atomic::Ordering::Relaxed) {
            let ev = Arc::new(WatchEvent {
                key: t.key(),
                kind,
                object: obj.clone(),
                rv,
            });
            data.history.push_back(ev.clone());
            if data.history.len() > HISTORY {
                data.history.pop_front();
            }
            let _ = self.state.events.send(ev);
        }
        if t.plural == "customresourcedefinitions" {
            self.rebuild_registry(data);
        }
        obj
    }

    fn rebuild_registry(&self, data: &Data) {
        let crds: Vec<Arc<Value>> = data
            .objects
            .get(&(
                "apiextensions.k8s.io".to_string(),
                "customresourcedefinitions".to_string(),
            ))
            .map(|m| m.values().map(|e| Arc::new(e.value())).collect())
            .unwrap_or_default();
        *self.state.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Registry::build(&crds));
    }

    /// Admission: what controllers and webhooks would add (namespace status,
    /// service IPs, sidecar injection, scheduling and a running pod status).
    fn admit(&self, data: &mut Data, t: &ResourceType, obj: &mut Value, old: Option<&Value>) {
        match (t.group.as_str(), t.plural.as_str()) {
            ("", "namespaces") => {
                let name = util::str_at(obj, "/metadata/name").to_string();
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
                if obj.pointer("/spec/finalizers").is_none() {
                    obj["spec"] = json!({"finalizers": ["kubernetes"]});
                }
                obj["status"] = json!({"phase": "Active"});
            }
            ("", "services") => {
                if obj.pointer("/spec/clusterIP").is_none() && obj.get("spec").is_some() {
                    let ip = match old.and_then(|o| o.pointer("/spec/clusterIP")) {
                        Some(ip) => ip.clone(),
                        None => {
                            data.ip_counter += 1;
                            let n = data.ip_counter;
                            json!(format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff))
                        }
                    };
                    obj["spec"]["clusterIP"] = ip.clone();
                    obj["spec"]["clusterIPs"] = json!([ip]);
                }
                if obj.get("spec").is_some() && obj.pointer("/spec/type").is_none() {
                    obj["spec"]["type"] = json!("ClusterIP");
                }
            }
            ("", "pods") if old.is_none() => {
                let ns_obj = data
                    .objects
                    .get(&(String::new(), "namespaces".to_string()))
                    .and_then(|m| {
                        m.get(&(
                            String::new(),
                            util::str_at(obj, "/metadata/namespace").to_string(),
                        ))
                    })
                    .map(|e| e.value());
                if self.state.istio_installed {
                    inject::maybe_inject(obj, ns_obj.as_ref());
                }
                if obj.pointer("/spec/nodeName").is_none() {
                    obj["spec"]["nodeName"] = json!("kube-sim-worker");
                }
                if obj
                    .get("status")
                    .is_none_or(|s| s.as_object().is_none_or(|m| m.is_empty()))
                {
                    if self.state.hold_pods.load(std::sync::atomic::Ordering::SeqCst) {
                        obj["status"] = json!({"phase": "Pending", "conditions": [
                            {"type": "PodScheduled", "status": "True"}]});
                    } else {
                        data.ip_counter += 1;
                        let n = data.ip_counter;
                        inject::running_status(obj, &format!("10.244.{}.{}", (n >> 8) & 0xff, n & 0xff));
                    }
                }
            }
            _ => {}
        }
    }
}

/// 409 of an apply with conflicts, worded like the API server's field manager.
fn conflict_error(conflicts: &[fields::Conflict]) -> ApiError {
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].manager,
            fields::path_string(&conflicts[0].path)
        )
    } else {
        let mut by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for c in conflicts {
            by.entry(c.manager.as_str())
                .or_default()
                .push(fields::path_string(&c.path));
        }
        let mut lines = Vec::new();
        for (m, paths) in by {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(paths.into_iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager),
                "field": fields::path_string(&c.path)})
        })
        .collect();
    ApiError {
        code: 409,
        reason: "Conflict",
        message,
        details: Some(json!({"causes": causes})),
    }
}

/// The workload controllers converge at once: status follows the spec.
fn converge_workload_status(obj: &mut Value) {
    let generation = obj.pointer("/metadata/generation").cloned();
    let replicas = obj.pointer("/spec/replicas").cloned();
    let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(g) = generation {
        status.insert("observedGeneration".into(), g);
    }
    if let Some(r) = replicas {
        for k in [
            "replicas",
            "readyReplicas",
            "availableReplicas",
            "updatedReplicas",
        ] {
            if status.contains_key(k) || k != "updatedReplicas" {
                status.insert(k.into(), r.clone());
            }
        }
    }
}

fn has_generation(t: &ResourceType) -> bool {
    !t.group.is_empty()
}

fn spec_of(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    c
}

fn set_storage_version(t: &ResourceType, obj: &mut Value) {
    obj["apiVersion"] = json!(t.api_version(&t.storage_version));
    obj["kind"] = json!(t.kind);
}

/// The object as seen at `version` (only apiVersion differs between versions here).
pub(crate) fn present(obj: &Arc<Value>, t: &ResourceType, version: &str) -> Value {
    let mut o = (**obj).clone();
    o["apiVersion"] = json!(t.api_version(version));
    o
}

fn check_type_meta(t: &ResourceType, version: &str, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format",
        ));
    }
    let expected = t.api_version(version);
    let av = util::str_at(obj, "/apiVersion").to_string();
    let kind = util::str_at(obj, "/kind").to_string();
    if !av.is_empty() && av != expected && !(t.versions.iter().any(|v| t.api_version(v) == av)) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({expected})"
        )));
    }
    if !kind.is_empty() && kind != t.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            t.kind
        )));
    }
    obj["apiVersion"] = json!(expected);
    obj["kind"] = json!(t.kind);
    Ok(())
}

fn check_type_meta_apply(t: &ResourceType, version: &str, obj: &Value) -> Result<(), ApiError> {
    let av = util::str_at(obj, "/apiVersion");
    let kind = util::str_at(obj, "/kind");
    if av.is_empty() || kind.is_empty() {
        return Err(ApiError::bad_request(
            "error decoding YAML: Object 'Kind' is missing in the applied object (apiVersion and kind are required)",
        ));
    }
    let mut o = obj.clone();
    check_type_meta(t, version, &mut o)
}
