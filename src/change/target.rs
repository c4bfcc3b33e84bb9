//! The target: which PeerAuthentication of a scope Istio honours (the oldest one), so the
//! change lands on the policy that takes effect.

use crate::engine::{Scope, policies_in_scope};
use crate::error::Error;
use crate::model::{Labels, Policy, Snapshot};

use super::*;

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
    let what = scope_words(&req.target);
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

/// `mesh-wide`, `namespace-wide`, `workload policy with selector app=web`.
pub fn scope_words(target: &Target) -> String {
    match target {
        Target::Mesh => "mesh-wide".to_string(),
        Target::Namespace(_) => "namespace-wide".to_string(),
        Target::Selector { selector, .. } => {
            format!("workload policy with selector {}", labels_text(selector))
        }
    }
}

/// What `--inherit` removes: the policy Istio honours in the scope (found as [`choose`] finds
/// it), and the one Istio honours there afterwards, found by the engine on the cluster
/// without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The policy removed.
    pub honoured: Policy,
    /// The policy of the same scope Istio honours once it is gone (the next oldest).
    pub next: Option<Policy>,
    /// Things to tell the user about the choice.
    pub notes: Vec<String>,
}

/// The policy `--inherit` removes, or `None` when the scope has none.
pub fn choose_removal(snapshot: &Snapshot, req: &Request, namespace: &str) -> Option<Removal> {
    let scope = engine_scope(&req.target, namespace);
    let honoured = policies_in_scope(snapshot, &scope).honoured?.clone();
    let after =
        crate::engine::apply_changes(snapshot, &[crate::engine::PolicyChange::Delete(honoured.key())]);
    let next = policies_in_scope(&after, &scope).honoured.cloned();
    let what = scope_words(&req.target);
    let mut notes = Vec::new();
    if let Some(n) = &next {
        notes.push(format!(
            "removing {}/{}, the {what} policy Istio honours here (the oldest); the next one, {}/{}, will then be honoured",
            honoured.namespace, honoured.name, n.namespace, n.name
        ));
    }
    Some(Removal {
        honoured,
        next,
        notes,
    })
}

/// What `--inherit` says when the scope has no policy: `no namespace-wide PeerAuthentication
/// in shop`.
pub fn nothing_to_remove(target: &Target, namespace: &str) -> String {
    match target {
        Target::Selector { selector, .. } => format!(
            "no PeerAuthentication with the selector {} in {namespace}",
            labels_text(selector)
        ),
        other => format!("no {} PeerAuthentication in {namespace}", scope_words(other)),
    }
}
