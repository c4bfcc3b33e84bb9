//! What `enable` and `diff` share: validating a requested policy change, finding the
//! PeerAuthentication Istio honours in the target scope, building the server-side apply object
//! (owning only the fields the plugin sets), merging and cleaning objects for diffs, reading
//! field-manager conflicts, and the safety review of a change.
//!
//! Everything here except [`prepare`], [`get_live`], [`apply`] and
//! [`unmeshed_pods_cluster_wide`] is pure and unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::{Map, Value, json};

use crate::cli::{GlobalArgs, ModeFlags, TargetArgs};
use crate::client::Cluster;
use crate::collect::{self, ClusterRead};
use crate::engine::{
    Effects, FindingCode, Level, PolicyChange, PolicyIndex, Scope, Severity, membership, policies_in_scope,
    workload_of,
};
use crate::error::Error;
use crate::model::{Created, Labels, Mode, ObjectKey, PodInfo, Policy, PolicyMode, Snapshot};
use crate::resources::PeerAuthentication;

/// The plugin's default server-side apply field manager.
pub const DEFAULT_MANAGER: &str = "kubectl-mtls";

/// Where a requested change applies, before the context's namespace is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The mesh-wide policy in the root namespace (`--mesh`).
    Mesh,
    /// The namespace-wide policy of a namespace (`None`: the context's namespace).
    Namespace(Option<String>),
    /// The workload policy with exactly this selector, in a namespace (`None`: the context's).
    Selector {
        /// Namespace, when given.
        namespace: Option<String>,
        /// `matchLabels`.
        selector: Labels,
    },
}

/// A validated `enable`/`diff` request: nothing in it needs the cluster to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The scope.
    pub target: Target,
    /// The mode to set (`UNSET` for `--unset`).
    pub mode: PolicyMode,
    /// Port-level modes (only with a selector).
    pub ports: BTreeMap<u32, PolicyMode>,
    /// `--name`.
    pub name: Option<String>,
}

impl Request {
    /// The effective mode the request asks for (`None` for UNSET: inherit).
    pub fn wanted(&self) -> Option<Mode> {
        Mode::from_policy(&self.mode)
    }

    /// Whether the change may make something STRICT (the direction the safety checks guard).
    pub fn toward_strict(&self) -> bool {
        self.mode == PolicyMode::Strict || self.ports.values().any(|m| *m == PolicyMode::Strict)
    }
}

/// The mode a set of mode flags asks for.
pub fn mode_of(flags: &ModeFlags) -> PolicyMode {
    if flags.strict {
        PolicyMode::Strict
    } else if flags.permissive {
        PolicyMode::Permissive
    } else if flags.disable {
        PolicyMode::Disable
    } else {
        PolicyMode::Unset
    }
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// Checks a DNS-1123 label (namespace names): lower-case alphanumerics and `-`, at most 63
/// characters, starting and ending alphanumeric.
pub fn check_namespace(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid namespace name {name:?}: a namespace name is at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
        )))
    }
}

/// Checks a DNS-1123 subdomain (object names): at most 253 characters, dot-separated labels.
pub fn check_object_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid name {name:?}: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters)"
        )))
    }
}

fn label_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

fn label_key_ok(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => {
            prefix.len() <= 253 && check_object_name(prefix).is_ok() && label_name_ok(name)
        }
        None => label_name_ok(k),
    }
}

fn label_value_ok(v: &str) -> bool {
    v.is_empty() || label_name_ok(v)
}

/// Parses `--selector`: `KEY=VALUE` pairs separated by commas (`==` accepted). A
/// PeerAuthentication selects by `matchLabels` only, so set-based forms (`!=`, `in`, `notin`,
/// `!key`, a bare `key`) and wildcards are rejected.
pub fn parse_selector(s: &str) -> Result<Labels, Error> {
    let bad = |why: &str| {
        usage(format!(
            "invalid selector {s:?}: {why}; a PeerAuthentication selects by exact labels: KEY=VALUE[,KEY=VALUE...]"
        ))
    };
    if s.trim().is_empty() {
        return Err(bad("it is empty"));
    }
    if s.contains('*') {
        return Err(bad("wildcards are not supported"));
    }
    let mut out = Labels::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.contains("!=") || part.starts_with('!') {
            return Err(bad("negation is not supported"));
        }
        let lower = part.to_ascii_lowercase();
        if lower.contains(" in ") || lower.contains(" notin ") || part.contains('(') {
            return Err(bad("set-based requirements are not supported"));
        }
        let (k, v) = match part.split_once("==") {
            Some(kv) => kv,
            None => part
                .split_once('=')
                .ok_or_else(|| bad(&format!("{part:?} is not KEY=VALUE")))?,
        };
        let (k, v) = (k.trim(), v.trim());
        if !label_key_ok(k) {
            return Err(bad(&format!("{k:?} is not a valid label key")));
        }
        if !label_value_ok(v) {
            return Err(bad(&format!("{v:?} is not a valid label value")));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(bad(&format!("label {k:?} is given twice")));
        }
    }
    Ok(out)
}

/// Parses one `--port PORT=MODE` (mode STRICT, PERMISSIVE, DISABLE or UNSET, any case).
pub fn parse_port(s: &str) -> Result<(u32, PolicyMode), Error> {
    let (p, m) = s.split_once('=').ok_or_else(|| {
        usage(format!(
            "invalid --port {s:?}: use PORT=MODE, e.g. 8080=PERMISSIVE"
        ))
    })?;
    let port: u32 = p
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=65535).contains(n))
        .ok_or_else(|| {
            usage(format!(
                "invalid --port {s:?}: the port must be a number in 1-65535"
            ))
        })?;
    let mode = match m.trim().to_ascii_uppercase().as_str() {
        "STRICT" => PolicyMode::Strict,
        "PERMISSIVE" => PolicyMode::Permissive,
        "DISABLE" => PolicyMode::Disable,
        "UNSET" => PolicyMode::Unset,
        _ => {
            return Err(usage(format!(
                "invalid --port {s:?}: the mode must be STRICT, PERMISSIVE, DISABLE or UNSET"
            )));
        }
    };
    Ok((port, mode))
}

/// Validates the targeting flags and mode into a [`Request`]; makes no request.
///
/// The namespace comes from NAMESPACE, else `-n`; both given and different is an error.
pub fn request_from_args(mode: &ModeFlags, t: &TargetArgs, global: &GlobalArgs) -> Result<Request, Error> {
    if let Some(ns) = &t.namespace_arg {
        check_namespace(ns)?;
    }
    if let Some(ns) = &global.namespace {
        check_namespace(ns)?;
    }
    if let (Some(a), Some(b)) = (&t.namespace_arg, &global.namespace)
        && a != b
    {
        return Err(usage(format!(
            "NAMESPACE {a:?} and -n {b:?} disagree: give the namespace once"
        )));
    }
    if t.mesh && global.namespace.is_some() {
        return Err(usage(
            "--mesh changes the policy in the root namespace; it takes no namespace (-n)",
        ));
    }
    if let Some(n) = &t.name {
        check_object_name(n)?;
    }
    let namespace = t.namespace_arg.clone().or_else(|| global.namespace.clone());
    let selector = t.selector.as_deref().map(parse_selector).transpose()?;
    let mut ports = BTreeMap::new();
    for p in &t.ports {
        let (port, m) = parse_port(p)?;
        if ports.insert(port, m).is_some() {
            return Err(usage(format!("--port {port} is given twice")));
        }
    }
    if !ports.is_empty() && selector.is_none() {
        return Err(usage(
            "--port needs --selector: the API server rejects portLevelMtls on a policy without a selector (\"portLevelMtls requires selector\")",
        ));
    }
    let target = match (t.mesh, selector) {
        (true, Some(_)) => {
            return Err(usage(
                "--mesh with --selector: Istio ignores policies with a selector in the root namespace; target a workload's namespace instead",
            ));
        }
        (true, None) => Target::Mesh,
        (false, Some(selector)) => Target::Selector { namespace, selector },
        (false, None) => Target::Namespace(namespace),
    };
    Ok(Request {
        target,
        mode: mode_of(mode),
        ports,
        name: t.name.clone(),
    })
}

/// The engine scope of a target, once the namespace and root namespace are known.
pub fn engine_scope(target: &Target, namespace: &str) -> Scope {
    match target {
        Target::Mesh => Scope::Mesh,
        Target::Namespace(_) => Scope::Namespace(namespace.to_string()),
        Target::Selector { selector, .. } => Scope::Workload {
            namespace: namespace.to_string(),
            selector: selector.clone(),
        },
    }
}

/// The namespace a target lives in.
pub fn target_namespace(target: &Target, context_namespace: &str, root_namespace: &str) -> String {
    match target {
        Target::Mesh => root_namespace.to_string(),
        Target::Namespace(ns) | Target::Selector { namespace: ns, .. } => {
            ns.clone().unwrap_or_else(|| context_namespace.to_string())
        }
    }
}

/// Which object a change writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The policy Istio honours in the scope, when there is one (it is the object changed).
    pub honoured: Option<Policy>,
    /// Whether the object is created (no policy in the scope yet).
    pub create: bool,
    /// Things to tell the user about the choice.
    pub notes: Vec<String>,
}

/// A policy name derived from a selector: the value of a single `app` or
/// `app.kubernetes.io/name` label.
pub fn derive_name(selector: &Labels) -> Option<String> {
    if selector.len() != 1 {
        return None;
    }
    let (k, v) = selector.iter().next()?;
    (k == "app" || k == "app.kubernetes.io/name")
        .then(|| v.clone())
        .filter(|v| check_object_name(v).is_ok())
}

/// Chooses the policy to change: the one Istio honours in the scope (the oldest), whatever
/// its name; without one, a new `default` (or `--name`; a selector policy needs `--name` unless
/// a name can be derived from an `app` label). A name taken by a policy of another scope is
/// refused: applying to it would change that policy.
pub fn choose(snapshot: &Snapshot, req: &Request, namespace: &str) -> Result<Chosen, Error> {
    let scope = engine_scope(&req.target, namespace);
    let found = policies_in_scope(snapshot, &scope);
    let what = match &req.target {
        Target::Mesh => "mesh-wide".to_string(),
        Target::Namespace(_) => "namespace-wide".to_string(),
        Target::Selector { selector, .. } => {
            format!("workload policy with selector {}", labels_text(selector))
        }
    };
    let mut notes = Vec::new();
    if let Some(p) = found.honoured {
        if let Some(n) = &req.name
            && n != &p.name
        {
            notes.push(format!(
                "changing {}/{}, the {what} policy Istio honours here (the oldest), not a new {n:?}: Istio would ignore a newer one",
                p.namespace, p.name
            ));
        }
        if !found.ignored.is_empty() {
            let names: Vec<String> = found.ignored.iter().map(|q| q.name.clone()).collect();
            notes.push(format!(
                "changing {}/{}, the oldest {what} policy; Istio ignores the newer {} ({})",
                p.namespace,
                p.name,
                if names.len() == 1 { "one" } else { "ones" },
                names.join(", ")
            ));
        }
        return Ok(Chosen {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            honoured: Some(p.clone()),
            create: false,
            notes,
        });
    }
    let name = match (&req.name, &req.target) {
        (Some(n), _) => n.clone(),
        (None, Target::Selector { selector, .. }) => match derive_name(selector) {
            Some(n) => {
                notes.push(format!(
                    "naming the new policy {n:?} after its selector (use --name to choose another name)"
                ));
                n
            }
            None => {
                return Err(usage(format!(
                    "no PeerAuthentication in {namespace} has the selector {}: give --name for the new policy",
                    labels_text(selector)
                )));
            }
        },
        (None, _) => "default".to_string(),
    };
    if let Some(other) = snapshot
        .policies
        .iter()
        .find(|p| p.namespace == namespace && p.name == name)
    {
        let its = if other.has_selector() {
            format!("the selector {}", labels_text(&other.selector))
        } else {
            "no selector".to_string()
        };
        return Err(usage(format!(
            "PeerAuthentication {namespace}/{name} already exists with {its}, another scope than the {what} policy asked for; choose another name with --name"
        )));
    }
    Ok(Chosen {
        namespace: namespace.to_string(),
        name,
        honoured: None,
        create: true,
        notes,
    })
}

/// `app=web,tier=db`.
pub fn labels_text(l: &Labels) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------------------------
// Objects: apply body, managed fields, merge, clean, compare.

/// Leaf paths of a `fieldsV1` set (`f:spec` / `f:mtls` / `f:mode` becomes `spec.mtls.mode`).
pub fn fields_v1_paths(fields: &Value) -> Vec<Vec<String>> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let Some(m) = v.as_object() else { return };
        let children: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| k.starts_with("f:")).collect();
        if children.is_empty() {
            if !path.is_empty() {
                out.push(path.clone());
            }
            return;
        }
        for (k, c) in children {
            path.push(k[2..].to_string());
            walk(c, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(fields, &mut Vec::new(), &mut out);
    out
}

/// The fields a manager owns through server-side apply on a live object.
pub fn owned_by_apply(live: &Value, manager: &str) -> Vec<Vec<String>> {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.get("manager").and_then(Value::as_str) == Some(manager)
                && e.get("operation").and_then(Value::as_str) == Some("Apply")
        })
        .filter_map(|e| e.get("fieldsV1"))
        .flat_map(fields_v1_paths)
        .collect()
}

fn value_at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

fn set_at(v: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        if !cur.get(k).is_some_and(Value::is_object) {
            cur[k.as_str()] = json!({});
        }
        cur = &mut cur[k.as_str()];
    }
    cur[last.as_str()] = value;
}

/// The server-side apply object for a request: `spec.mtls.mode`, the given ports and, for a
/// new selector policy, the selector.
///
/// Server-side apply removes fields the manager owned before and no longer sends, so every
/// `spec` field the manager already owns on the live object is sent again with its live value
/// (a port set by an earlier run stays; a selector this manager created is never dropped).
pub fn apply_body(
    api_version: &str,
    chosen: &Chosen,
    req: &Request,
    live: Option<&Value>,
    manager: &str,
) -> Value {
    let mut spec = json!({"mtls": {"mode": req.mode.as_str()}});
    if chosen.create
        && let Target::Selector { selector, .. } = &req.target
    {
        spec["selector"] = json!({ "matchLabels": selector });
    }
    if !req.ports.is_empty() {
        let ports: Map<String, Value> = req
            .ports
            .iter()
            .map(|(p, m)| (p.to_string(), json!({"mode": m.as_str()})))
            .collect();
        spec["portLevelMtls"] = Value::Object(ports);
    }
    let mut body = json!({
        "apiVersion": api_version,
        "kind": "PeerAuthentication",
        "metadata": {"name": chosen.name, "namespace": chosen.namespace},
        "spec": spec,
    });
    if let Some(live) = live {
        for path in owned_by_apply(live, manager) {
            if path.first().map(String::as_str) != Some("spec") || value_at(&body, &path).is_some() {
                continue;
            }
            if let Some(v) = value_at(live, &path) {
                set_at(&mut body, &path, v.clone());
            }
        }
    }
    body
}

/// A client-side preview of an apply: maps merge recursively, everything else in `patch`
/// replaces what is live.
pub fn merge(live: Option<&Value>, patch: &Value) -> Value {
    fn go(base: &mut Value, patch: &Value) {
        match (base.as_object_mut(), patch.as_object()) {
            (Some(b), Some(p)) => {
                for (k, v) in p {
                    match b.get_mut(k) {
                        Some(existing) if existing.is_object() && v.is_object() => go(existing, v),
                        _ => {
                            b.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            _ => *base = patch.clone(),
        }
    }
    let mut out = live.cloned().unwrap_or_else(|| json!({}));
    go(&mut out, patch);
    out
}

/// The metadata fields the server sets on every write: noise in a diff, and not for a client
/// to send.
pub const SERVER_SET_METADATA: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// Removes [`SERVER_SET_METADATA`] from an object's metadata, in place.
pub fn strip_server_metadata(obj: &mut Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SERVER_SET_METADATA {
            m.remove(k);
        }
    }
}

/// An object without the fields that change on every write or are noise in a diff
/// ([`SERVER_SET_METADATA`]), and without empty annotations.
pub fn clean(obj: &Value) -> Value {
    let mut out = obj.clone();
    strip_server_metadata(&mut out);
    if let Some(m) = out.get_mut("metadata").and_then(Value::as_object_mut)
        && m.get("annotations")
            .is_some_and(|a| a.as_object().is_some_and(Map::is_empty))
    {
        m.remove("annotations");
    }
    out
}

/// What a write did, kubectl's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The object did not exist.
    Created,
    /// The spec changed.
    Configured,
    /// The spec is the same.
    Unchanged,
}

impl Outcome {
    /// `created`, `configured`, `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }

    /// From the live object and the result: compares specs, not resourceVersions.
    pub fn of(live: Option<&Value>, result: &Value) -> Outcome {
        match live {
            None => Outcome::Created,
            Some(l) if l.get("spec") == result.get("spec") => Outcome::Unchanged,
            Some(_) => Outcome::Configured,
        }
    }
}

/// `peerauthentication.security.istio.io/NAME`.
pub fn object_ref(name: &str) -> String {
    format!("peerauthentication.security.istio.io/{name}")
}

/// The engine policy an object will become; a new object gets `created` (the existing keeps
/// its creation time through [`crate::engine::apply_changes`]).
pub fn policy_of(obj: &Value, created: Created) -> Result<Policy, Error> {
    let pa = PeerAuthentication::from_value(obj.clone()).map_err(|p| Error::Other(p.to_string()))?;
    let mut p = Policy::from(&pa);
    if pa.metadata.creation_timestamp.is_none() {
        p.created = created;
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Conflicts.

/// The field managers a 409 apply conflict names (from the Status message and causes).
pub fn conflict_managers(status: &kube::core::Status) -> Vec<String> {
    let mut texts = vec![status.message.clone()];
    if let Some(d) = &status.details {
        texts.extend(d.causes.iter().map(|c| c.message.clone()));
    }
    let mut out: Vec<String> = Vec::new();
    for t in texts {
        let mut rest = t.as_str();
        while let Some(i) = rest.find("conflict") {
            rest = &rest[i + "conflict".len()..];
            let after = rest.strip_prefix('s').unwrap_or(rest);
            if let Some(q) = after.strip_prefix(" with \"")
                && let Some(end) = q.find('"')
            {
                let m = q[..end].to_string();
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
    }
    out
}

/// The error for an apply conflict: names the managers and suggests `--force-conflicts`.
pub fn conflict_error(status: &kube::core::Status, object: &str) -> Error {
    let managers = conflict_managers(status);
    let who = if managers.is_empty() {
        "another field manager".to_string()
    } else {
        managers
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Error::Other(format!(
        "{object}: the fields to change are managed by {who} ({}); nothing was written. If {who} should no longer own them, re-run with --force-conflicts (a GitOps tool may set them back: change the source it applies instead)",
        status.message.trim()
    ))
}

/// Predicts conflicts from a live object's managed fields: other managers owning a field the
/// apply sets, with a different value (the server's rule). Returns `(manager, field)` pairs.
pub fn predicted_conflicts(live: &Value, body: &Value, manager: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let m = e.get("manager").and_then(Value::as_str).unwrap_or("");
        let op = e.get("operation").and_then(Value::as_str).unwrap_or("");
        if m == manager && op == "Apply" {
            continue;
        }
        let Some(fields) = e.get("fieldsV1") else { continue };
        for path in fields_v1_paths(fields) {
            if let (Some(new), Some(old)) = (value_at(body, &path), value_at(live, &path))
                && !new.is_object()
                && new != old
            {
                out.push((m.to_string(), format!(".{}", path.join("."))));
            }
        }
    }
    out
}

/// A port that keeps a mode of its own while its workload's mode changes (the engine's
/// [`Effects`] list only ports whose mode changes, so without this a row `web-api PERMISSIVE ->
/// STRICT` would hide that port 8080 stays PERMISSIVE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortException {
    /// The workload.
    pub workload: crate::engine::WorkloadRef,
    /// The workload port.
    pub port: u32,
    /// Its modes after the change.
    pub modes: Vec<Mode>,
}

/// Ports with their own setting, after the change, whose mode differs from the new mode of a
/// workload listed in `effects.changes`.
pub fn port_exceptions(
    snapshot: &Snapshot,
    changes: &[PolicyChange],
    effects: &Effects,
) -> Vec<PortException> {
    let changed: Vec<&crate::engine::ModeChange> =
        effects.changes.iter().filter(|c| c.port.is_none()).collect();
    if changed.is_empty() {
        return Vec::new();
    }
    let after = crate::engine::analyze(&crate::engine::apply_changes(snapshot, changes));
    let mut out = Vec::new();
    for c in changed {
        let Some(w) = after.workloads.iter().find(|w| w.workload == c.workload) else {
            continue;
        };
        let to: BTreeSet<Mode> = c.to.iter().map(|r| r.mode).collect();
        for (port, modes) in &w.ports {
            let m: BTreeSet<Mode> = modes.iter().map(|r| r.mode).collect();
            let listed = effects
                .changes
                .iter()
                .any(|x| x.workload == c.workload && x.port == Some(*port));
            if m != to && !listed {
                out.push(PortException {
                    workload: c.workload.clone(),
                    port: *port,
                    modes: m.into_iter().collect(),
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Safety review.

/// What the review found: refusals stop `enable` unless `--force`; warnings are shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// Reasons to refuse.
    pub refusals: Vec<String>,
    /// Things to say.
    pub warnings: Vec<String>,
}

/// Pods outside the mesh found by a cluster-wide read (possible plaintext clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outside {
    /// Not read (the change is not toward STRICT).
    NotChecked,
    /// RBAC forbade the cluster-wide pod list (the server's message).
    Forbidden(String),
    /// `namespace/name` of each pod outside the mesh, outside the target scope.
    Pods(Vec<String>),
}

/// Namespaces whose pods are not considered possible plaintext clients: Kubernetes' own.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// "1 pod", "3 pods".
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn short(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// Reviews a change against the cluster's configuration.
///
/// Refuses when the change creates an error finding (a DestinationRule sending plaintext to
/// workloads that become STRICT, a workload-level DISABLE that mTLS clients will fail
/// against), DISABLE on ambient workloads (unsupported), or when the target is a workload
/// policy that an older one shadows for some of the pods it selects (the change would not
/// reach them). Warns about workloads whose own policy keeps them from the requested mode, about
/// pods in scope outside the mesh (nothing enforces the mode there) and, toward STRICT, about
/// pods outside the mesh elsewhere (plaintext clients that will fail).
pub fn review(
    snapshot: &Snapshot,
    req: &Request,
    changed: &Policy,
    effects: &Effects,
    outside: &Outside,
) -> Review {
    let mut r = Review::default();
    for f in &effects.findings_created {
        if f.severity == Severity::Error || f.code == FindingCode::AmbientDisableUnsupported {
            r.refusals.push(format!("{} {}: {}", f.code, f.object, f.message));
        } else if matches!(
            f.code,
            FindingCode::AutoMtlsDisabled | FindingCode::SelectorMatchesNoPod
        ) {
            r.warnings.push(format!("{}: {}", f.object, f.message));
        }
    }
    let after = crate::engine::apply_changes(snapshot, &[PolicyChange::Upsert(changed.clone())]);
    let index = PolicyIndex::new(&after);
    let key = changed.key();
    let root = after.root_namespace.as_str();
    let in_scope = |p: &PodInfo| match &req.target {
        Target::Mesh => true,
        Target::Namespace(_) => p.namespace == changed.namespace,
        Target::Selector { .. } => p.namespace == changed.namespace && changed.selects(&p.labels),
    };
    let mut shadowed: BTreeMap<String, (ObjectKey, usize)> = BTreeMap::new();
    let mut overridden: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unmeshed: Vec<String> = Vec::new();
    for pod in after.pods.iter().filter(|p| in_scope(p) && p.namespace != root) {
        let w = workload_of(pod);
        let wname = format!("{}/{}", w.namespace, w.name);
        let resolved = index.resolve(&pod.namespace, &pod.labels);
        if !membership(pod).is_meshed() {
            unmeshed.push(format!("{}/{}", pod.namespace, pod.name));
        }
        if let Target::Selector { .. } = req.target {
            if let Some(winner) = &resolved.workload_policy
                && *winner != key
            {
                let e = shadowed.entry(wname).or_insert((winner.clone(), 0));
                e.1 += 1;
            }
            continue;
        }
        let Some(wanted) = req.wanted() else { continue };
        if resolved.mode.mode != wanted {
            let by = match (&resolved.mode.source.level, &resolved.mode.source.policy) {
                (Level::Workload | Level::Namespace, Some(p)) => p.to_string(),
                _ => continue,
            };
            overridden
                .entry(by)
                .or_default()
                .insert(format!("{wname} ({})", resolved.mode.mode));
        }
        for (port, m) in &resolved.ports {
            if m.mode != wanted {
                let by = m
                    .source
                    .policy
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                overridden
                    .entry(by)
                    .or_default()
                    .insert(format!("{wname} port {port} ({})", m.mode));
            }
        }
    }
    for (w, (winner, pods)) in &shadowed {
        r.refusals.push(format!(
            "{w}: {} selected by {key} {} decided by the older workload policy {winner}, which Istio applies instead; change {winner} (or delete it) rather than adding another policy",
            plural(*pods, "pod"),
            if *pods == 1 { "is" } else { "are" }
        ));
    }
    if let Some(wanted) = req.wanted() {
        for (by, what) in &overridden {
            let list: Vec<String> = what.iter().cloned().collect();
            r.warnings.push(format!(
                "{} will not become {wanted}: {by} sets {} for {}; it stays that way unless you change that policy (kubectl mtls enable NAMESPACE --selector ...)",
                short(&list, 4),
                if list.len() == 1 { "its own mode" } else { "their own modes" },
                if list.len() == 1 { "it" } else { "them" }
            ));
        }
    }
    if !unmeshed.is_empty() && req.wanted().is_some_and(|m| m != Mode::Permissive) {
        r.warnings.push(format!(
            "{} in scope {} outside the mesh: nothing enforces {} there ({})",
            plural(unmeshed.len(), "pod"),
            if unmeshed.len() == 1 { "is" } else { "are" },
            req.mode,
            short(&unmeshed, 3)
        ));
    }
    if req.toward_strict() && !effects.changes.is_empty() {
        match outside {
            Outside::NotChecked => {}
            Outside::Forbidden(msg) => r.warnings.push(format!(
                "cannot list pods cluster-wide ({msg}): plaintext clients outside the mesh in other namespaces were not checked"
            )),
            Outside::Pods(pods) if !pods.is_empty() => r.warnings.push(format!(
                "{} outside the mesh elsewhere in the cluster {}; {} requests to STRICT workloads will fail: {}",
                plural(pods.len(), "pod"),
                if pods.len() == 1 { "may be a plaintext client" } else { "may be plaintext clients" },
                if pods.len() == 1 { "its" } else { "their" },
                short(pods, 5)
            )),
            Outside::Pods(_) => {}
        }
    }
    r
}

// ---------------------------------------------------------------------------------------------
// I/O shared by enable and diff.

/// An object to write, with its live state.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The PeerAuthentication API at the served version.
    pub ar: ApiResource,
    /// The target chosen.
    pub chosen: Chosen,
    /// The live object (with managed fields), if it exists.
    pub live: Option<Value>,
    /// The server-side apply body.
    pub body: Value,
}

/// The dynamic API for PeerAuthentications in a namespace.
pub fn pa_api(cluster: &Cluster, ar: &ApiResource, namespace: &str) -> Api<DynamicObject> {
    collect::dynamic_api(cluster, ar, Some(namespace))
}

/// Reads the live object.
pub async fn get_live(
    cluster: &Cluster,
    ar: &ApiResource,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, Error> {
    let o = pa_api(cluster, ar, namespace)
        .get_opt(name)
        .await
        .map_err(|e| cluster.err(e))?;
    Ok(o.map(|o| serde_json::to_value(o).unwrap_or_default()))
}

/// Chooses the object, reads it, and builds the apply body (no write).
pub async fn prepare(
    cluster: &Cluster,
    read: &ClusterRead,
    req: &Request,
    namespace: &str,
    manager: &str,
) -> Result<Prepared, Error> {
    let ar = read.apis.peer_authentication.clone().ok_or(Error::IstioMissing)?;
    let chosen = choose(&read.snapshot, req, namespace)?;
    let live = get_live(cluster, &ar, &chosen.namespace, &chosen.name).await?;
    let body = apply_body(&ar.api_version, &chosen, req, live.as_ref(), manager);
    Ok(Prepared {
        ar,
        chosen,
        live,
        body,
    })
}

/// How a server-side apply went.
#[derive(Debug)]
pub enum ApplyResult {
    /// The server's object.
    Ok(Value),
    /// 409: fields owned by another manager.
    Conflict(Box<kube::core::Status>),
}

/// Server-side apply (`dry_run`: `dryRun=All`, nothing persisted).
pub async fn apply(
    cluster: &Cluster,
    ar: &ApiResource,
    body: &Value,
    manager: &str,
    force: bool,
    dry_run: bool,
) -> Result<ApplyResult, Error> {
    let ns = body
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut pp = PatchParams::apply(manager);
    if force {
        pp = pp.force();
    }
    if dry_run {
        pp = pp.dry_run();
    }
    match pa_api(cluster, ar, ns)
        .patch(name, &pp, &Patch::Apply(body))
        .await
    {
        Ok(o) => Ok(ApplyResult::Ok(serde_json::to_value(o).unwrap_or_default())),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(ApplyResult::Conflict(s)),
        Err(e) => Err(cluster.err(e)),
    }
}

/// Pods outside the mesh in the whole cluster, except those `skip` accepts and Kubernetes'
/// own namespaces (one paged metadata-only list; a 403 is reported, not fatal).
pub async fn unmeshed_pods_cluster_wide(
    cluster: &Cluster,
    skip: impl Fn(&PodInfo) -> bool,
) -> Result<Outside, Error> {
    let api: Api<Pod> = Api::all(cluster.client.clone());
    let mut pods = Vec::new();
    let res = collect::list_metadata_paged(cluster, &api, None, &mut pods, |p| {
        let info = PodInfo::from(&p);
        (!membership(&info).is_meshed()
            && !skip(&info)
            && !SYSTEM_NAMESPACES.contains(&info.namespace.as_str()))
        .then(|| format!("{}/{}", info.namespace, info.name))
    })
    .await;
    match res {
        Ok(_) => Ok(Outside::Pods(pods)),
        Err(Error::Forbidden(m)) => Ok(Outside::Forbidden(m)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::what_if;
    use crate::model::{DestinationRuleInfo, DrTlsSetting, MeshSettings, Owner, SidecarKind, TlsMode};

    fn global() -> GlobalArgs {
        GlobalArgs::default()
    }

    fn target() -> TargetArgs {
        TargetArgs {
            namespace_arg: None,
            mesh: false,
            selector: None,
            name: None,
            ports: vec![],
            istio_namespace: "istio-system".into(),
            revision: None,
        }
    }

    fn strict() -> ModeFlags {
        ModeFlags {
            strict: true,
            permissive: false,
            disable: false,
            unset: false,
        }
    }

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selectors_are_exact_labels_only() {
        assert_eq!(
            parse_selector("app=web, tier==db").unwrap(),
            labels(&[("app", "web"), ("tier", "db")])
        );
        assert_eq!(
            parse_selector("app.kubernetes.io/name=web").unwrap(),
            labels(&[("app.kubernetes.io/name", "web")])
        );
        assert_eq!(parse_selector("k=").unwrap(), labels(&[("k", "")]));
        for bad in [
            "",
            "app",
            "app!=web",
            "!app",
            "app in (a,b)",
            "app=*",
            "app=we*b",
            "app=web,app=db",
            "-x=1",
            "app=has space",
            "a/b/c=1",
        ] {
            let e = parse_selector(bad).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
            assert!(e.to_string().starts_with("invalid selector"), "{e}");
        }
    }

    #[test]
    fn ports_need_a_number_in_range_and_a_mode() {
        assert_eq!(
            parse_port("8080=permissive").unwrap(),
            (8080, PolicyMode::Permissive)
        );
        assert_eq!(parse_port("1=UNSET").unwrap(), (1, PolicyMode::Unset));
        assert_eq!(parse_port("65535=STRICT").unwrap(), (65535, PolicyMode::Strict));
        for bad in [
            "0=STRICT",
            "65536=STRICT",
            "http=STRICT",
            "8080",
            "8080=MAYBE",
            "-1=STRICT",
        ] {
            assert!(matches!(parse_port(bad), Err(Error::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn names_follow_kubernetes_rules() {
        assert!(check_namespace("istioinaction").is_ok());
        for bad in ["", "Bad", "a_b", "-a", "a-", &"x".repeat(64), "a.b"] {
            assert!(check_namespace(bad).is_err(), "{bad}");
        }
        assert!(check_object_name("web-api.v1").is_ok());
        assert!(check_object_name("Web").is_err());
        assert!(check_object_name("a..b").is_err());
    }

    #[test]
    fn requests_are_validated_before_any_request() {
        let mut t = target();
        t.namespace_arg = Some("shop".into());
        let r = request_from_args(&strict(), &t, &global()).unwrap();
        assert_eq!(r.target, Target::Namespace(Some("shop".into())));
        assert_eq!(r.mode, PolicyMode::Strict);
        assert!(r.toward_strict());

        let mut t = target();
        t.ports = vec!["8080=DISABLE".into()];
        let e = request_from_args(&strict(), &t, &global()).unwrap_err();
        assert!(e.to_string().contains("--port needs --selector"), "{e}");

        let mut t = target();
        t.selector = Some("app=web".into());
        t.ports = vec!["8080=DISABLE".into(), "8080=STRICT".into()];
        assert!(
            request_from_args(&strict(), &t, &global())
                .unwrap_err()
                .to_string()
                .contains("twice")
        );

        let mut t = target();
        t.mesh = true;
        t.selector = Some("app=web".into());
        assert!(
            request_from_args(&strict(), &t, &global())
                .unwrap_err()
                .to_string()
                .contains("root namespace")
        );

        let mut t = target();
        t.namespace_arg = Some("a".into());
        let g = GlobalArgs {
            namespace: Some("b".into()),
            ..GlobalArgs::default()
        };
        assert!(
            request_from_args(&strict(), &t, &g)
                .unwrap_err()
                .to_string()
                .contains("disagree")
        );

        let mut t = target();
        t.selector = Some("app=web".into());
        t.ports = vec!["9090=UNSET".into()];
        let unset = ModeFlags {
            strict: false,
            permissive: false,
            disable: false,
            unset: true,
        };
        let r = request_from_args(&unset, &t, &global()).unwrap();
        assert_eq!(r.mode, PolicyMode::Unset);
        assert_eq!(r.wanted(), None);
        assert_eq!(r.ports[&9090], PolicyMode::Unset);
        assert!(!r.toward_strict());
    }

    fn snapshot() -> Snapshot {
        let mut s = Snapshot::new(&MeshSettings::defaults("istio-system"));
        s.namespaces
            .push(crate::model::NamespaceInfo::new("shop", Labels::new()));
        s
    }

    fn pod(ns: &str, name: &str, app: &str, meshed: bool) -> PodInfo {
        let mut p = PodInfo::new(
            ns,
            format!("{name}-abc-1"),
            labels(&[("app", app), ("pod-template-hash", "abc")]),
        );
        p.owner = Some(Owner {
            kind: "ReplicaSet".into(),
            name: format!("{name}-abc"),
        });
        if meshed {
            p.sidecar = SidecarKind::Classic;
        }
        p
    }

    fn ns_request(ns: &str, mode: PolicyMode) -> Request {
        Request {
            target: Target::Namespace(Some(ns.into())),
            mode,
            ports: BTreeMap::new(),
            name: None,
        }
    }

    #[test]
    fn the_oldest_policy_of_the_scope_is_changed_whatever_its_name() {
        let mut s = snapshot();
        s.policies.push(Policy::new(
            "shop",
            "legacy",
            Created(100),
            PolicyMode::Permissive,
        ));
        s.policies
            .push(Policy::new("shop", "default", Created(200), PolicyMode::Disable));
        let c = choose(&s, &ns_request("shop", PolicyMode::Strict), "shop").unwrap();
        assert_eq!((c.name.as_str(), c.create), ("legacy", false));
        assert!(
            c.notes[0].contains("Istio ignores the newer one (default)"),
            "{:?}",
            c.notes
        );
        // No policy: a new `default`.
        let c = choose(&snapshot(), &ns_request("shop", PolicyMode::Strict), "shop").unwrap();
        assert_eq!((c.name.as_str(), c.create), ("default", true));
    }

    #[test]
    fn a_name_taken_by_another_scope_is_refused() {
        let mut s = snapshot();
        s.policies.push(
            Policy::new("shop", "default", Created(1), PolicyMode::Strict)
                .with_selector(labels(&[("app", "web")])),
        );
        let e = choose(&s, &ns_request("shop", PolicyMode::Strict), "shop").unwrap_err();
        assert!(
            e.to_string().contains("already exists with the selector app=web"),
            "{e}"
        );
    }

    #[test]
    fn selector_policies_need_a_name_unless_one_is_derived() {
        let mut req = ns_request("shop", PolicyMode::Strict);
        req.target = Target::Selector {
            namespace: Some("shop".into()),
            selector: labels(&[("app", "web")]),
        };
        let c = choose(&snapshot(), &req, "shop").unwrap();
        assert_eq!(c.name, "web");
        assert!(c.notes[0].contains("after its selector"));
        req.target = Target::Selector {
            namespace: Some("shop".into()),
            selector: labels(&[("tier", "web"), ("v", "1")]),
        };
        assert!(
            choose(&snapshot(), &req, "shop")
                .unwrap_err()
                .to_string()
                .contains("give --name")
        );
        req.name = Some("tier-web".into());
        assert_eq!(choose(&snapshot(), &req, "shop").unwrap().name, "tier-web");
    }

    #[test]
    fn apply_body_owns_only_what_it_sets_and_keeps_what_it_owned() {
        let chosen = Chosen {
            namespace: "shop".into(),
            name: "web".into(),
            honoured: None,
            create: true,
            notes: vec![],
        };
        let mut req = ns_request("shop", PolicyMode::Strict);
        req.target = Target::Selector {
            namespace: Some("shop".into()),
            selector: labels(&[("app", "web")]),
        };
        req.ports.insert(8080, PolicyMode::Permissive);
        let body = apply_body("security.istio.io/v1", &chosen, &req, None, "kubectl-mtls");
        assert_eq!(
            body,
            json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                   "metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"mtls": {"mode": "STRICT"}, "selector": {"matchLabels": {"app": "web"}},
                            "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}}})
        );
        // Later run without --port on the existing policy: the port and selector this manager
        // owns are sent again (SSA would otherwise remove them); others' fields are not.
        let live = json!({
            "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "a"},
              "managedFields": [
                {"manager": "kubectl-mtls", "operation": "Apply", "fieldsV1": {"f:spec": {
                    "f:mtls": {"f:mode": {}}, "f:selector": {"f:matchLabels": {"f:app": {}}},
                    "f:portLevelMtls": {"f:8080": {"f:mode": {}}}}}},
                {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}},
                    "f:spec": {"f:portLevelMtls": {"f:9090": {".": {}, "f:mode": {}}}}}}
              ]},
            "spec": {"mtls": {"mode": "STRICT"}, "selector": {"matchLabels": {"app": "web"}},
                     "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}, "9090": {"mode": "DISABLE"}}}
        });
        let existing = Chosen {
            create: false,
            ..chosen
        };
        let req2 = Request {
            ports: BTreeMap::new(),
            mode: PolicyMode::Disable,
            ..req
        };
        let body = apply_body(
            "security.istio.io/v1",
            &existing,
            &req2,
            Some(&live),
            "kubectl-mtls",
        );
        assert_eq!(
            body["spec"],
            json!({"mtls": {"mode": "DISABLE"}, "selector": {"matchLabels": {"app": "web"}},
                   "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}})
        );
        assert!(body["metadata"].get("labels").is_none());
        let merged = merge(Some(&live), &body);
        assert_eq!(merged["spec"]["portLevelMtls"]["9090"]["mode"], "DISABLE");
        assert_eq!(merged["spec"]["mtls"]["mode"], "DISABLE");
        assert_eq!(merged["metadata"]["labels"]["team"], "a");
        assert_eq!(Outcome::of(Some(&live), &merged), Outcome::Configured);
        assert_eq!(Outcome::of(Some(&live), &live), Outcome::Unchanged);
        assert_eq!(Outcome::of(None, &live), Outcome::Created);
        let c = clean(&live);
        assert!(c["metadata"].get("managedFields").is_none());
        // Another manager owning mtls.mode with another value: a predicted conflict.
        let gitops = json!({"metadata": {"managedFields": [{"manager": "argocd-controller", "operation": "Apply",
            "fieldsV1": {"f:spec": {"f:mtls": {"f:mode": {}}}}}]}, "spec": {"mtls": {"mode": "PERMISSIVE"}}});
        assert_eq!(
            predicted_conflicts(&gitops, &body, "kubectl-mtls"),
            vec![("argocd-controller".to_string(), ".spec.mtls.mode".to_string())]
        );
        let same = json!({"spec": {"mtls": {"mode": "DISABLE"}}});
        assert!(predicted_conflicts(&merge(Some(&gitops), &same), &body, "kubectl-mtls").is_empty());
    }

    #[test]
    fn conflict_managers_come_from_message_and_causes() {
        let mut s = kube::core::Status::failure(
            "Apply failed with 2 conflicts: conflicts with \"argocd-controller\" using security.istio.io/v1:\n- .spec.mtls.mode\nconflict with \"kubectl-client-side-apply\": .spec.selector",
            "Conflict",
        );
        s.code = 409;
        assert_eq!(
            conflict_managers(&s),
            ["argocd-controller", "kubectl-client-side-apply"]
        );
        let e = conflict_error(&s, "peerauthentication.security.istio.io/default");
        let m = e.to_string();
        assert!(
            m.contains("managed by \"argocd-controller\", \"kubectl-client-side-apply\""),
            "{m}"
        );
        assert!(m.contains("--force-conflicts"), "{m}");
    }

    #[test]
    fn review_refuses_a_destination_rule_sending_plaintext_to_new_strict_workloads() {
        let mut s = snapshot();
        s.pods.push(pod("shop", "web", "web", true));
        s.services.push(crate::model::ServiceInfo {
            namespace: "shop".into(),
            name: "web".into(),
            selector: Some(labels(&[("app", "web")])),
            ports: vec![crate::model::ServicePortInfo {
                port: 80,
                target_port: crate::model::TargetPort::Number(8080),
            }],
        });
        s.destination_rules.push(DestinationRuleInfo {
            namespace: "shop".into(),
            name: "web-plain".into(),
            created: Created(1),
            host: "web.shop.svc.cluster.local".into(),
            export_to: vec![],
            workload_selector: Labels::new(),
            tls: vec![DrTlsSetting {
                subset: None,
                subset_labels: Labels::new(),
                port: None,
                mode: TlsMode::Disable,
            }],
            unknowns: vec![],
        });
        let req = ns_request("shop", PolicyMode::Strict);
        let p = Policy::new("shop", "default", Created(500), PolicyMode::Strict);
        let e = what_if(&s, &[PolicyChange::Upsert(p.clone())]);
        let r = review(&s, &req, &p, &e, &Outside::Pods(vec!["default/sleep-1".into()]));
        assert_eq!(r.refusals.len(), 1, "{r:?}");
        assert!(r.refusals[0].starts_with("DestinationRuleDisablesTls"), "{r:?}");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("1 pod outside the mesh elsewhere") && w.contains("default/sleep-1")),
            "{r:?}"
        );
        // PERMISSIVE is safe.
        let req = ns_request("shop", PolicyMode::Permissive);
        let p = Policy::new("shop", "default", Created(500), PolicyMode::Permissive);
        let e = what_if(&s, &[PolicyChange::Upsert(p.clone())]);
        assert_eq!(review(&s, &req, &p, &e, &Outside::NotChecked), Review::default());
    }

    #[test]
    fn review_warns_about_workload_overrides_and_unmeshed_pods_in_scope() {
        let mut s = snapshot();
        s.pods.push(pod("shop", "web", "web", true));
        s.pods.push(pod("shop", "legacy", "legacy", false));
        s.policies.push(
            Policy::new("shop", "web-open", Created(10), PolicyMode::Permissive)
                .with_selector(labels(&[("app", "web")])),
        );
        let req = ns_request("shop", PolicyMode::Strict);
        let p = Policy::new("shop", "default", Created(500), PolicyMode::Strict);
        let e = what_if(&s, &[PolicyChange::Upsert(p.clone())]);
        let r = review(&s, &req, &p, &e, &Outside::Forbidden("pods is forbidden".into()));
        assert!(r.refusals.is_empty(), "{r:?}");
        let all = r.warnings.join("\n");
        assert!(
            all.contains("shop/web (PERMISSIVE) will not become STRICT: shop/web-open sets its own mode"),
            "{all}"
        );
        assert!(
            all.contains(
                "1 pod in scope is outside the mesh: nothing enforces STRICT there (shop/legacy-abc-1)"
            ),
            "{all}"
        );
        assert!(
            all.contains("cannot list pods cluster-wide (pods is forbidden)"),
            "{all}"
        );
    }

    #[test]
    fn review_refuses_a_workload_policy_shadowed_by_an_older_one() {
        let mut s = snapshot();
        s.pods.push(pod("shop", "web", "web", true));
        s.policies.push(
            Policy::new("shop", "old", Created(10), PolicyMode::Permissive)
                .with_selector(labels(&[("app", "web")])),
        );
        let req = Request {
            target: Target::Selector {
                namespace: Some("shop".into()),
                selector: labels(&[("app", "web"), ("pod-template-hash", "abc")]),
            },
            mode: PolicyMode::Strict,
            ports: BTreeMap::new(),
            name: Some("web-strict".into()),
        };
        let p = Policy::new("shop", "web-strict", Created(500), PolicyMode::Strict)
            .with_selector(labels(&[("app", "web"), ("pod-template-hash", "abc")]));
        let e = what_if(&s, &[PolicyChange::Upsert(p.clone())]);
        let r = review(&s, &req, &p, &e, &Outside::NotChecked);
        assert_eq!(r.refusals.len(), 1, "{r:?}");
        assert!(
            r.refusals[0].contains("decided by the older workload policy shop/old"),
            "{r:?}"
        );
    }

    #[test]
    fn review_refuses_disable_on_ambient_workloads() {
        let mut s = snapshot();
        let mut p = pod("shop", "web", "web", false);
        p.ambient = crate::model::AmbientRedirection::Enabled;
        s.pods.push(p);
        let req = ns_request("shop", PolicyMode::Disable);
        let pol = Policy::new("shop", "default", Created(500), PolicyMode::Disable);
        let e = what_if(&s, &[PolicyChange::Upsert(pol.clone())]);
        let r = review(&s, &req, &pol, &e, &Outside::NotChecked);
        assert!(
            r.refusals
                .iter()
                .any(|x| x.starts_with("AmbientDisableUnsupported")),
            "{r:?}"
        );
    }

    #[test]
    fn ports_keeping_their_own_mode_are_listed_with_a_changing_workload() {
        let mut s = snapshot();
        s.pods.push(pod("shop", "web", "web", true));
        let ns = Policy::new("shop", "default", Created(500), PolicyMode::Strict);
        let w = Policy::new("shop", "web", Created(501), PolicyMode::Unset)
            .with_selector(labels(&[("app", "web")]))
            .with_port(8080, PolicyMode::Permissive);
        let changes = [PolicyChange::Upsert(ns), PolicyChange::Upsert(w)];
        let e = what_if(&s, &changes);
        assert_eq!(e.changes.len(), 1, "{e:?}");
        let x = port_exceptions(&s, &changes, &e);
        assert_eq!(x.len(), 1, "{x:?}");
        assert_eq!((x[0].workload.name.as_str(), x[0].port), ("web", 8080));
        assert_eq!(x[0].modes, vec![Mode::Permissive]);
        // Without the port setting there is none.
        let plain = [PolicyChange::Upsert(Policy::new(
            "shop",
            "default",
            Created(500),
            PolicyMode::Strict,
        ))];
        assert!(port_exceptions(&s, &plain, &what_if(&s, &plain)).is_empty());
    }

    #[test]
    fn fields_v1_leaves() {
        let f = json!({"f:spec": {".": {}, "f:mtls": {"f:mode": {}}, "f:portLevelMtls": {"f:80": {".": {}, "f:mode": {}}}}});
        assert_eq!(
            fields_v1_paths(&f),
            vec![
                vec!["spec".to_string(), "mtls".into(), "mode".into()],
                vec![
                    "spec".to_string(),
                    "portLevelMtls".into(),
                    "80".into(),
                    "mode".into()
                ]
            ]
        );
    }
}
