//! The object: the server-side apply body owning only the plugin's fields, merging and
//! cleaning objects for diffs, managed fields and field-manager conflicts.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::model::{Created, Policy};
use crate::resources::PeerAuthentication;

use super::*;

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

/// The paths of an object's leaf values outside `apiVersion`, `kind` and `metadata` (the
/// fields an apply of it sets).
fn leaf_paths(v: &Value) -> Vec<Vec<String>> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, c) in m {
                    if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                        continue;
                    }
                    path.push(k.clone());
                    walk(c, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.push(path.clone());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
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

/// kubectl's own field managers (`kubectl apply`, `create`, `edit`, `patch`, `replace`). Their
/// fields are taken over without `--force-conflicts`, as `kubectl apply --server-side` migrates
/// client-side-apply ownership: the workshop makes its policies with kubectl, and nothing sets
/// those fields back.
pub const KUBECTL_MANAGERS: &[&str] = &[
    "kubectl",
    "kubectl-client-side-apply",
    "kubectl-create",
    "kubectl-edit",
    "kubectl-patch",
    "kubectl-replace",
];

/// Whether `manager` is one of [`KUBECTL_MANAGERS`].
pub fn is_kubectl_manager(manager: &str) -> bool {
    KUBECTL_MANAGERS.contains(&manager)
}

/// The `(manager, field)` pairs of a 409 apply conflict (the causes' fields; the message's
/// managers when the causes name no field).
pub fn conflict_fields(status: &kube::core::Status) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(d) = &status.details {
        for c in &d.causes {
            let mut managers = conflict_managers(&kube::core::Status::failure(&c.message, ""));
            if let Some(m) = managers.pop() {
                out.push((m, c.field.clone()));
            }
        }
    }
    if out.is_empty() {
        out = conflict_managers(status)
            .into_iter()
            .map(|m| (m, String::new()))
            .collect();
    }
    out
}

/// The note for fields taken over from kubectl's managers.
pub fn takeover_note(taken: &[(String, String)]) -> String {
    let parts: Vec<String> = taken
        .iter()
        .map(|(m, f)| {
            let field = f.trim_start_matches('.');
            if field.is_empty() {
                format!("fields from {m}")
            } else {
                format!("{field} from {m}")
            }
        })
        .collect();
    format!(
        "took over {} (kubectl's own field manager, as kubectl apply --server-side does)",
        parts.join(", ")
    )
}

/// The manager kube-apiserver names for the fields of an object stored without any
/// managedFields (made before server-side apply existed, or by a client that strips them) at
/// its first server-side apply. Who set those fields is unknown, so it is not taken over like
/// kubectl's own managers: the write stops unless `--force-conflicts`.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The error for conflicts with managers that are not kubectl's: names them and suggests
/// `--force-conflicts`.
pub fn conflict_error_for(managers: &[String], detail: &str, object: &str) -> Error {
    let who = if managers.is_empty() {
        "another field manager".to_string()
    } else {
        managers
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if managers.iter().all(|m| m == BEFORE_FIRST_APPLY) && !managers.is_empty() {
        return Error::Other(format!(
            "{object}: the fields to change are managed by {who} ({detail}): the API server's name for the fields of an object stored without managedFields (made before server-side apply, or by a client that strips them), so who set them is unknown; nothing was written. If no other tool (a GitOps controller, a script) sets this policy, re-run with --force-conflicts"
        ));
    }
    let unknown_owner = if managers.iter().any(|m| m == BEFORE_FIRST_APPLY) {
        format!(
            " (\"{BEFORE_FIRST_APPLY}\" is the API server's name for the fields of an object stored without managedFields, made before server-side apply or by a client that strips them: who set them is unknown)"
        )
    } else {
        String::new()
    };
    Error::Other(format!(
        "{object}: the fields to change are managed by {who} ({detail}){unknown_owner}; nothing was written. If {who} should no longer own them, re-run with --force-conflicts (a GitOps tool may set them back: change the source it applies instead)"
    ))
}

/// The error for an apply conflict: names the managers and suggests `--force-conflicts`.
pub fn conflict_error(status: &kube::core::Status, object: &str) -> Error {
    conflict_error_for(&conflict_managers(status), status.message.trim(), object)
}

/// Predicts conflicts from a live object's managed fields: other managers owning a field the
/// apply sets, with a different value (the server's rule). Returns `(manager, field)` pairs.
pub fn predicted_conflicts(live: &Value, body: &Value, manager: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if entries == 0 {
        // No managedFields at all: the server gives every field to before-first-apply first.
        for path in leaf_paths(body) {
            if let (Some(new), Some(old)) = (value_at(body, &path), value_at(live, &path))
                && new != old
            {
                out.push((BEFORE_FIRST_APPLY.to_string(), format!(".{}", path.join("."))));
            }
        }
        return out;
    }
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

/// The fields of a live object held by other field managers than `manager` and kubectl's own
/// ([`KUBECTL_MANAGERS`]): what deleting the object would take from them. `(manager, .field)`
/// pairs, in the order of `managedFields`.
pub fn foreign_fields(live: &Value, manager: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let m = e.get("manager").and_then(Value::as_str).unwrap_or("");
        if m == manager || is_kubectl_manager(m) {
            continue;
        }
        let Some(fields) = e.get("fieldsV1") else { continue };
        for path in fields_v1_paths(fields) {
            let field = format!(".{}", path.join("."));
            if !out.contains(&(m.to_string(), field.clone())) {
                out.push((m.to_string(), field));
            }
        }
    }
    out
}

/// The error for a removal of an object other managers hold fields of: names them and the
/// fields, and suggests `--force-conflicts`.
pub fn foreign_fields_error(fields: &[(String, String)], object: &str) -> Error {
    let mut managers: Vec<&str> = Vec::new();
    for (m, _) in fields {
        if !managers.contains(&m.as_str()) {
            managers.push(m);
        }
    }
    let who = managers
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = fields
        .iter()
        .map(|(m, f)| format!("{f} by \"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Error::Other(format!(
        "{object}: refusing to delete it: fields of it are managed by {who} ({detail}); nothing was deleted. If {who} should no longer own it, re-run with --force-conflicts (a GitOps tool may create it again: remove it from the source it applies instead)"
    ))
}
