//! Input validation: the requested change checked before any request (names, selectors,
//! ports, which scope), giving a [`Request`].

use std::collections::BTreeMap;

use crate::error::Error;
use crate::model::{Labels, Mode, PolicyMode};

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
    /// `--inherit`: remove the scope's policy instead of setting a mode (`mode` is then UNSET).
    pub inherit: bool,
    /// `--root-namespace`: the root namespace of a mesh-wide change, when the mesh config
    /// cannot confirm it.
    pub root_namespace: Option<String>,
}

impl Request {
    /// The effective mode the request asks for (`None` for UNSET: inherit).
    pub fn wanted(&self) -> Option<Mode> {
        Mode::from_policy(&self.mode)
    }

    /// Whether the change may make something STRICT (the direction the safety checks guard).
    /// A removal's direction depends on the level above: see its effects instead.
    pub fn toward_strict(&self) -> bool {
        !self.inherit && self.mode == PolicyMode::Strict
            || self.ports.values().any(|m| *m == PolicyMode::Strict)
    }
}

pub(super) fn usage(msg: impl Into<String>) -> Error {
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

/// A change as the user typed it, before validation (`cmd` fills it from the flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInput {
    /// The mode to set (`UNSET` for `--unset`).
    pub mode: PolicyMode,
    /// NAMESPACE, the positional argument.
    pub namespace_arg: Option<String>,
    /// `-n`.
    pub namespace_flag: Option<String>,
    /// `--mesh`.
    pub mesh: bool,
    /// `--selector`, unparsed.
    pub selector: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--port PORT=MODE`, unparsed.
    pub ports: Vec<String>,
    /// `--inherit`: remove the scope's policy.
    pub inherit: bool,
    /// `--root-namespace`.
    pub root_namespace: Option<String>,
}

/// Validates the targeting flags and mode into a [`Request`]; makes no request.
///
/// The namespace comes from NAMESPACE, else `-n`; both given and different is an error.
pub fn request(t: &RequestInput) -> Result<Request, Error> {
    if let Some(ns) = &t.namespace_arg {
        check_namespace(ns)?;
    }
    if let Some(ns) = &t.namespace_flag {
        check_namespace(ns)?;
    }
    if let (Some(a), Some(b)) = (&t.namespace_arg, &t.namespace_flag)
        && a != b
    {
        return Err(usage(format!(
            "NAMESPACE {a:?} and -n {b:?} disagree: give the namespace once"
        )));
    }
    if t.mesh && t.namespace_flag.is_some() {
        return Err(usage(
            "--mesh changes the policy in the root namespace; it takes no namespace (-n)",
        ));
    }
    if let Some(n) = &t.name {
        check_object_name(n)?;
    }
    if let Some(root) = &t.root_namespace {
        check_namespace(root)?;
        if !t.mesh {
            return Err(usage(
                "--root-namespace names the root namespace of a mesh-wide change: it needs --mesh",
            ));
        }
    }
    if t.inherit && (t.name.is_some() || !t.ports.is_empty()) {
        return Err(usage(
            "--inherit removes the policy Istio honours at the scope: it takes no --name or --port",
        ));
    }
    let namespace = t.namespace_arg.clone().or_else(|| t.namespace_flag.clone());
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
        mode: t.mode.clone(),
        ports,
        name: t.name.clone(),
        inherit: t.inherit,
        root_namespace: t.root_namespace.clone(),
    })
}
