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
use crate::collect::{ClusterRead, ReadOptions, Scope, read_snapshot};
use crate::error::Error;
use crate::render;

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
            all.extend(change::parse_manifests(&text, &source)?);
        }
        Some(all)
    } else {
        None
    };
    let mode = args.mode.selected();
    let req = match (&manifests, &mode) {
        (Some(_), _) => None,
        (None, Some(mode)) => Some(change::request(&super::request_input(mode, t, global))?),
        (None, None) => {
            return Err(Error::Usage(
                "give the change (--strict, --permissive, --disable or --unset) or manifests with -f FILE"
                    .into(),
            ));
        }
    };
    let external = external_diff_command()?;
    super::check_istio_flags(&t.istio_namespace, t.revision.as_deref())?;
    let mut telemetry_request = super::telemetry::request(
        &args.telemetry,
        &t.istio_namespace,
        None,
        global.request_timeout.0,
    )?;

    let cluster = connect(&super::connect_options(global)).await?;
    let opts = ReadOptions {
        istio_namespace: t.istio_namespace.clone(),
        revision: t.revision.clone(),
        pod_selector: None,
    };

    let mut compared: Vec<Compared> = Vec::new();
    let mut review = None;
    let read: ClusterRead;
    if let Some(mut req) = req {
        let (r, namespace) = change::read_for(&cluster, &mut req, &opts).await?;
        read = r;
        super::print_read_notes(&read);
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
        let effect = change::Effect::of(&read.snapshot, &[&result])?;
        let changed = &effect.policies[0];
        let outside = if req.toward_strict() && req.target != Target::Mesh {
            change::outside_clients(&cluster, &read.snapshot, changed).await?
        } else {
            Outside::NotChecked
        };
        let mut r = change::review(&read.snapshot, &req, changed, &effect.effects, &outside);
        // Observed traffic: plaintext callers of workloads becoming STRICT.
        if req.toward_strict()
            && !effect.effects.changes.is_empty()
            && change::differs(prepared.live.as_ref(), &result)
        {
            telemetry_request.namespaces = super::telemetry::scope_of(&req.target, &changed.namespace);
            let before = crate::engine::analyze(&read.snapshot);
            let traffic = super::telemetry::read(&cluster, &telemetry_request, &before).await;
            change::review_traffic(&mut r, &before, &effect.effects, &traffic);
        }
        review = Some(r);
        compared.push(Compared {
            file: change::file_name(
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
        let ns_of = |m: &change::Manifest| {
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
            r = change::read_all(&cluster, &opts).await?;
        }
        read = r;
        super::print_read_notes(&read);
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
                file: change::file_name(&ar.api_version, &ns, &name),
                live,
                result,
            });
        }
    }

    // The effect of all changes together.
    let results: Vec<&Value> = compared.iter().map(|c| &c.result).collect();
    let effect = change::Effect::of(&read.snapshot, &results)?;
    let differs = compared
        .iter()
        .any(|c| change::differs(c.live.as_ref(), &c.result));

    let code = match external {
        Some(cmd) => run_external(&cmd, &compared)?,
        None => {
            let mut text = String::new();
            for c in &compared {
                text.push_str(&render::diff::object_diff(c.live.as_ref(), &c.result, &c.file)?);
            }
            print!("{text}");
            i32::from(differs)
        }
    };
    if differs {
        println!();
        let ports = effect.ports(&read.snapshot);
        print!(
            "{}",
            render::diff::effects(&effect.effects, &ports, "", args.show_all)
        );
    }
    if let Some(r) = review.filter(|_| differs) {
        eprint!("{}", render::diff::warnings(&r.warnings, args.show_all));
        let refusals: Vec<String> = r
            .refusals
            .iter()
            .map(|x| format!("`kubectl mtls enable` would refuse this change: {x}"))
            .collect();
        eprint!("{}", render::diff::warnings(&refusals, args.show_all));
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
