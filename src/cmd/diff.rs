//! `kubectl mtls diff`: what `enable` (or PeerAuthentication manifests) would change, as a
//! unified YAML diff of each object and as the effect on workloads.
//!
//! Exit codes follow `kubectl diff`: 0 no differences, 1 differences, 2 any error (usage or
//! runtime; errors are reported here, so the global "runtime error = 1" rule never makes an
//! error look like "differences found").

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::change::{self, ApplyResult, Outside, Target};
use crate::cli::{DiffArgs, GlobalArgs};
use crate::client::{Cluster, connect};
use crate::cmd::enable::{file_name, object_diff, print_read_notes, read_all, read_for};
use crate::collect::{ClusterRead, ReadOptions, Scope, read_snapshot};
use crate::engine::{PolicyChange, what_if};
use crate::error::Error;
use crate::model::Created;
use crate::render;
use crate::resources::{MtlsMode, PeerAuthentication};

/// Runs `kubectl mtls diff` and returns the exit code (0 same, 1 differences, 2 error).
pub async fn run(global: &GlobalArgs, args: DiffArgs) -> Result<i32, Error> {
    match run_inner(global, args).await {
        Ok(code) => Ok(code),
        Err(e) => {
            crate::error::report(&e);
            Ok(2)
        }
    }
}

/// One document of a `-f` input.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `FILE, document N (line L)` for messages.
    pub origin: String,
    /// The object.
    pub value: Value,
}

/// Splits multi-document YAML into `(first line, text)` per document (1-based lines).
pub fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs: Vec<(usize, String)> = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "...";
        if is_marker || is_end {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    // Documents of blanks and comments only are skipped.
    docs.into_iter()
        .filter(|(_, text)| {
            text.lines().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
        })
        .collect()
}

fn first_content_line(start: usize, text: &str) -> usize {
    start
        + text
            .lines()
            .position(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
            .unwrap_or(0)
}

/// Parses and checks PeerAuthentication manifests; every problem names the document and line.
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<Manifest>, Error> {
    let mut out = Vec::new();
    for (n, (start, doc)) in split_documents(text).into_iter().enumerate() {
        let line = first_content_line(start, &doc);
        let at = format!("{source}, document {} (line {line})", n + 1);
        let value: Value = serde_saphyr::from_str(&doc).map_err(|e| {
            let (l, col) = match e.location() {
                Some(loc) => (
                    start + loc.line() as usize - 1,
                    format!(", column {}", loc.column()),
                ),
                None => (line, String::new()),
            };
            Error::Usage(format!(
                "{source}, document {} (line {l}{col}): not valid YAML: {}",
                n + 1,
                yaml_reason(&e.to_string())
            ))
        })?;
        if value.is_null() {
            continue;
        }
        let items = if value.get("kind").and_then(Value::as_str) == Some("List") {
            value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        } else {
            vec![value]
        };
        for (i, item) in items.into_iter().enumerate() {
            let origin = if i == 0 {
                at.clone()
            } else {
                format!("{at}, item {}", i + 1)
            };
            check_manifest(&item, &origin)?;
            out.push(Manifest { origin, value: item });
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(format!("{source}: no PeerAuthentication found")));
    }
    Ok(out)
}

/// The reason of a YAML error without the parser's own `error:` and relative position.
fn yaml_reason(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, reason)) if pos.contains("column") => reason.to_string(),
        _ => first.to_string(),
    }
}

fn check_manifest(v: &Value, at: &str) -> Result<(), Error> {
    let bad = |why: String| Error::Usage(format!("{at}: {why}"));
    if !v.is_object() {
        return Err(bad("not a Kubernetes object (a YAML mapping)".into()));
    }
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind != PeerAuthentication::KIND {
        let k = if kind.is_empty() {
            "missing".to_string()
        } else {
            kind.to_string()
        };
        return Err(bad(format!(
            "kind is {k}; only PeerAuthentication manifests can be diffed"
        )));
    }
    let ok_version = api_version
        .strip_prefix("security.istio.io/")
        .is_some_and(|ver| PeerAuthentication::VERSIONS.contains(&ver));
    if !ok_version {
        return Err(bad(format!(
            "apiVersion {api_version:?} is not security.istio.io/v1 or security.istio.io/v1beta1"
        )));
    }
    let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err(bad("metadata.name is missing".into()));
    }
    change::check_object_name(name).map_err(|e| bad(e.to_string()))?;
    if let Some(ns) = v.pointer("/metadata/namespace") {
        let ns = ns
            .as_str()
            .ok_or_else(|| bad("metadata.namespace is not a string".into()))?;
        change::check_namespace(ns).map_err(|e| bad(e.to_string()))?;
    }
    let pa = PeerAuthentication::from_value(v.clone()).map_err(|p| bad(p.message))?;
    let modes = "UNSET, DISABLE, PERMISSIVE, STRICT";
    if let Some(MtlsMode::Unknown(m)) = pa.spec.mtls.as_ref().and_then(|m| m.mode.clone()) {
        return Err(bad(format!("spec.mtls.mode {m:?} is not one of {modes}")));
    }
    let has_selector = pa
        .spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .is_some_and(|l| !l.is_empty());
    if let Some(ports) = &pa.spec.port_level_mtls {
        if !has_selector {
            return Err(bad(
                "spec.portLevelMtls needs spec.selector (the API server rejects it: \"portLevelMtls requires selector\")"
                    .into(),
            ));
        }
        if ports.is_empty() {
            return Err(bad("spec.portLevelMtls is empty".into()));
        }
        for (k, m) in ports {
            if !k.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)) {
                return Err(bad(format!(
                    "spec.portLevelMtls key {k:?} is not a port in 1-65535"
                )));
            }
            if let Some(MtlsMode::Unknown(x)) = &m.mode {
                return Err(bad(format!(
                    "spec.portLevelMtls.{k}.mode {x:?} is not one of {modes}"
                )));
            }
        }
    }
    Ok(())
}

fn read_input(path: &str) -> Result<String, Error> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::Usage(format!("cannot read stdin: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {path}: {e}")))
    }
}

/// One object compared.
struct Compared {
    file: String,
    live: Option<Value>,
    result: Value,
}

/// The result of applying `body`: the server's dry-run answer when it allows one, else a
/// client-side merge (with a note).
async fn dry_run_result(
    cluster: &Cluster,
    ar: &kube::core::ApiResource,
    body: &Value,
    live: Option<&Value>,
    manager: &str,
    object: &str,
) -> Result<Value, Error> {
    match change::apply(cluster, ar, body, manager, false, true).await {
        Ok(ApplyResult::Ok(v)) => Ok(v),
        Ok(ApplyResult::Conflict(status)) => {
            let who = change::conflict_managers(&status);
            eprintln!(
                "warning: {object}: applying would conflict with field manager {} ({}); `enable` needs --force-conflicts; showing the result of a forced apply",
                if who.is_empty() {
                    "?".to_string()
                } else {
                    who.iter()
                        .map(|m| format!("\"{m}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                status.message.trim()
            );
            match change::apply(cluster, ar, body, manager, true, true).await? {
                ApplyResult::Ok(v) => Ok(v),
                ApplyResult::Conflict(s) => Err(change::conflict_error(&s, object)),
            }
        }
        Err(Error::Forbidden(msg)) => {
            eprintln!(
                "warning: {object}: the server refused a dry-run apply ({msg}); showing a client-side merge (server defaults and validation not included)"
            );
            Ok(change::merge(live, body))
        }
        Err(e) => Err(e),
    }
}

async fn run_inner(global: &GlobalArgs, args: DiffArgs) -> Result<i32, Error> {
    if args.field_manager.trim().is_empty() {
        return Err(Error::Usage("--field-manager must not be empty".into()));
    }
    let manager = args.field_manager.clone();
    let t = &args.target;
    let targeting = t.namespace_arg.is_some()
        || t.mesh
        || t.selector.is_some()
        || t.name.is_some()
        || !t.ports.is_empty();
    // Validate everything before any request.
    let manifests = if !args.files.is_empty() {
        if args.mode.selected().is_some() || targeting {
            return Err(Error::Usage(
                "-f compares manifests as they are: it takes no mode flag, NAMESPACE, --mesh, --selector, --name or --port"
                    .into(),
            ));
        }
        if args.files.iter().filter(|f| *f == "-").count() > 1 {
            return Err(Error::Usage("stdin (-f -) can be read only once".into()));
        }
        if let Some(ns) = &global.namespace {
            change::check_namespace(ns)?;
        }
        let mut all = Vec::new();
        for f in &args.files {
            let text = read_input(f)?;
            let source = if f == "-" { "stdin".to_string() } else { f.clone() };
            all.extend(parse_manifests(&text, &source)?);
        }
        Some(all)
    } else {
        None
    };
    let mode = args.mode.selected();
    let req = match (&manifests, &mode) {
        (Some(_), _) => None,
        (None, Some(mode)) => Some(change::request_from_args(mode, t, global)?),
        (None, None) => {
            return Err(Error::Usage(
                "give the change (--strict, --permissive, --disable or --unset) or manifests with -f FILE"
                    .into(),
            ));
        }
    };
    let external = external_diff_command()?;

    let cluster = connect(global).await?;
    let opts = ReadOptions {
        istio_namespace: t.istio_namespace.clone(),
        revision: t.revision.clone(),
        pod_selector: None,
    };

    let mut compared: Vec<Compared> = Vec::new();
    let mut review = None;
    let read: ClusterRead;
    if let Some(mut req) = req {
        let (r, namespace) = read_for(&cluster, &mut req, &opts).await?;
        read = r;
        print_read_notes(&read);
        let prepared = change::prepare(&cluster, &read, &req, &namespace, &manager).await?;
        for n in &prepared.chosen.notes {
            eprintln!("note: {n}");
        }
        let object = change::object_ref(&prepared.chosen.name);
        let result = dry_run_result(
            &cluster,
            &prepared.ar,
            &prepared.body,
            prepared.live.as_ref(),
            &manager,
            &object,
        )
        .await?;
        let changed = change::policy_of(&result, Created::now())?;
        let effects = what_if(&read.snapshot, &[PolicyChange::Upsert(changed.clone())]);
        let outside = if req.toward_strict() && req.target != Target::Mesh {
            let istio_ns = read.snapshot.istio_namespace.clone();
            let root = read.snapshot.root_namespace.clone();
            let sel = changed.clone();
            change::unmeshed_pods_cluster_wide(&cluster, move |p| {
                p.namespace == istio_ns
                    || p.namespace == root
                    || (p.namespace == sel.namespace && (!sel.has_selector() || sel.selects(&p.labels)))
            })
            .await?
        } else {
            Outside::NotChecked
        };
        review = Some(change::review(&read.snapshot, &req, &changed, &effects, &outside));
        compared.push(Compared {
            file: file_name(
                &prepared.ar.api_version,
                &prepared.chosen.namespace,
                &prepared.chosen.name,
            ),
            live: prepared.live,
            result,
        });
    } else {
        let manifests = manifests.unwrap_or_default();
        let default_ns = global
            .namespace
            .clone()
            .unwrap_or_else(|| cluster.namespace.clone());
        change::check_namespace(&default_ns)?;
        let ns_of = |m: &Manifest| {
            m.value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| default_ns.clone())
        };
        let namespaces: BTreeSet<String> = manifests.iter().map(ns_of).collect();
        let mut r = read_snapshot(
            &cluster,
            &Scope::Namespaces(namespaces.iter().cloned().collect()),
            &opts,
        )
        .await?;
        if namespaces.contains(&r.mesh.root_namespace) {
            // A mesh-wide policy: its effect is cluster-wide.
            r = read_all(&cluster, &opts).await?;
        }
        read = r;
        print_read_notes(&read);
        let ar = read.apis.peer_authentication.clone().ok_or(Error::IstioMissing)?;
        for m in &manifests {
            let ns = ns_of(m);
            let mut body = m.value.clone();
            let name = body
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if body.get("apiVersion").and_then(Value::as_str) != Some(ar.api_version.as_str()) {
                eprintln!(
                    "note: {}: this cluster serves PeerAuthentication as {}; comparing at that version",
                    m.origin, ar.api_version
                );
                body["apiVersion"] = Value::String(ar.api_version.clone());
            }
            body["metadata"]["namespace"] = Value::String(ns.clone());
            change::strip_server_metadata(&mut body);
            if let Some(o) = body.as_object_mut() {
                o.remove("status");
            }
            let live = change::get_live(&cluster, &ar, &ns, &name).await?;
            let object = change::object_ref(&name);
            let result = dry_run_result(&cluster, &ar, &body, live.as_ref(), &manager, &object)
                .await
                .map_err(|e| match e {
                    Error::Api { message, .. } => Error::Other(format!("{}: {message}", m.origin)),
                    other => other,
                })?;
            compared.push(Compared {
                file: file_name(&ar.api_version, &ns, &name),
                live,
                result,
            });
        }
    }

    // The effect of all changes together.
    let mut changes = Vec::new();
    for c in &compared {
        changes.push(PolicyChange::Upsert(change::policy_of(
            &c.result,
            Created::now(),
        )?));
    }
    let effects = what_if(&read.snapshot, &changes);
    let differs = compared
        .iter()
        .any(|c| c.live.as_ref().map(change::clean) != Some(change::clean(&c.result)));

    let code = match external {
        Some(cmd) => run_external(&cmd, &compared)?,
        None => {
            let mut text = String::new();
            for c in &compared {
                text.push_str(&object_diff(c.live.as_ref(), &c.result, &c.file)?);
            }
            print!("{text}");
            i32::from(differs)
        }
    };
    if differs {
        println!();
        let ports = change::port_exceptions(&read.snapshot, &changes, &effects);
        print!("{}", render::diff::effects(&effects, &ports, ""));
    }
    if let Some(r) = review.filter(|_| differs) {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        for x in &r.refusals {
            eprintln!("warning: `kubectl mtls enable` would refuse this change: {x}");
        }
    }
    Ok(code)
}

/// `KUBECTL_EXTERNAL_DIFF` split as kubectl does: a program, then flags made of letters,
/// digits, `-` and `=` only.
pub fn parse_external(value: &str) -> Result<Option<(String, Vec<String>)>, Error> {
    let mut parts = value.split_whitespace();
    let Some(program) = parts.next() else {
        return Ok(None);
    };
    let flags: Vec<String> = parts.map(str::to_string).collect();
    for f in &flags {
        if !f
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'=')
        {
            return Err(Error::Usage(format!(
                "KUBECTL_EXTERNAL_DIFF: invalid flag {f:?} (kubectl accepts letters, digits, '-' and '=' only)"
            )));
        }
    }
    Ok(Some((program.to_string(), flags)))
}

fn external_diff_command() -> Result<Option<(String, Vec<String>)>, Error> {
    match std::env::var("KUBECTL_EXTERNAL_DIFF") {
        Ok(v) => parse_external(&v),
        Err(_) => Ok(None),
    }
}

fn temp_dir(prefix: &str) -> Result<PathBuf, Error> {
    // The files hold cluster objects: a folder of the user's own (0700).
    crate::credentials::private_temp_dir(prefix)
        .map_err(|e| Error::Other(format!("cannot create a temp folder {prefix}: {e}")))
}

fn write_file(dir: &Path, name: &str, v: &Value) -> Result<(), Error> {
    let p = dir.join(name);
    std::fs::write(&p, render::to_yaml(&change::clean(v))?)
        .map_err(|e| Error::Other(format!("cannot write {}: {e}", p.display())))
}

/// Runs the external diff program on two directories (LIVE and MERGED, one file per object,
/// absent in LIVE for an object to create); its exit code 0 or 1 is passed on.
fn run_external(cmd: &(String, Vec<String>), compared: &[Compared]) -> Result<i32, Error> {
    let live_dir = temp_dir("LIVE")?;
    let merged_dir = temp_dir("MERGED")?;
    let result = (|| {
        for c in compared {
            if let Some(l) = &c.live {
                write_file(&live_dir, &c.file, l)?;
            }
            write_file(&merged_dir, &c.file, &c.result)?;
        }
        let _ = std::io::stdout().flush();
        let status = std::process::Command::new(&cmd.0)
            .args(&cmd.1)
            .arg(&live_dir)
            .arg(&merged_dir)
            .status()
            .map_err(|e| {
                Error::Other(format!(
                    "cannot run KUBECTL_EXTERNAL_DIFF program {:?}: {e}",
                    cmd.0
                ))
            })?;
        match status.code() {
            Some(c @ (0 | 1)) => Ok(c),
            Some(c) => Err(Error::Other(format!(
                "the external diff program {:?} failed (exit {c})",
                cmd.0
            ))),
            None => Err(Error::Other(format!(
                "the external diff program {:?} was killed",
                cmd.0
            ))),
        }
    })();
    let _ = std::fs::remove_dir_all(&live_dir);
    let _ = std::fs::remove_dir_all(&merged_dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "# policies\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: shop\nspec:\n  mtls:\n    mode: STRICT\n---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  portLevelMtls:\n    \"8080\": {mode: PERMISSIVE}\n";

    #[test]
    fn several_documents_are_read_with_their_lines() {
        let docs = split_documents(TWO);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, 3);
        assert_eq!(docs[1].0, 12);
        let m = parse_manifests(TWO, "p.yaml").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].origin, "p.yaml, document 1 (line 3)");
        assert_eq!(m[1].origin, "p.yaml, document 2 (line 12)");
        assert_eq!(m[1].value["spec"]["portLevelMtls"]["8080"]["mode"], "PERMISSIVE");
    }

    fn err(text: &str) -> String {
        let e = parse_manifests(text, "f.yaml").unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        e.to_string()
    }

    #[test]
    fn bad_documents_are_named_with_their_line() {
        let deployment = format!("{TWO}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: x}}\n");
        assert_eq!(
            err(&deployment),
            "f.yaml, document 3 (line 20): kind is Deployment; only PeerAuthentication manifests can be diffed"
        );
        let broken = format!("{TWO}---\nmetadata: [a, b\n  name: x\n");
        let m = err(&broken);
        assert!(m.starts_with("f.yaml, document 3 (line 21, column "), "{m}");
        assert!(!m.contains("error: line"), "{m}");
        assert!(m.contains("not valid YAML"), "{m}");
        assert!(
            err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {}\n")
                .contains("metadata.name is missing")
        );
        assert!(
            err("kind: PeerAuthentication\napiVersion: security.istio.io/v2\nmetadata: {name: a}\n")
                .contains("apiVersion")
        );
        assert!(err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec: {mtls: {mode: QUANTUM}}\n").contains("QUANTUM"));
        assert!(err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec: {portLevelMtls: {\"80\": {mode: STRICT}}}\n").contains("needs spec.selector"));
        assert!(err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec: {selector: {matchLabels: {a: b}}, portLevelMtls: {\"0\": {mode: STRICT}}}\n").contains("not a port"));
        assert!(err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec: {mtls: STRICT}\n").contains("spec.mtls"));
        assert!(err("- a\n- b\n").contains("not a Kubernetes object"));
        assert_eq!(err("# nothing\n"), "f.yaml: no PeerAuthentication found");
    }

    #[test]
    fn external_diff_is_split_like_kubectl() {
        assert_eq!(parse_external("").unwrap(), None);
        assert_eq!(
            parse_external("diff -u -N").unwrap(),
            Some(("diff".to_string(), vec!["-u".to_string(), "-N".to_string()]))
        );
        assert!(parse_external("diff ;rm").is_err());
    }
}
