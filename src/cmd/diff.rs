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

fn read_stdin() -> Result<String, Error> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Error::Usage(format!("cannot read stdin: {e}")))?;
    Ok(s)
}

/// The file extensions kubectl reads in a directory given with `-f`.
const EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

/// The files `-f PATH` stands for, as kubectl expands them: a file is read whatever its name; a
/// directory gives its `.json`, `.yaml` and `.yml` files in name order, and its subdirectories
/// (depth first, in name order) only with `-R`.
pub fn expand_path(path: &str, recursive: bool) -> Result<Vec<PathBuf>, Error> {
    let root = Path::new(path);
    let meta =
        std::fs::metadata(root).map_err(|_| Error::Usage(format!("the path \"{path}\" does not exist")))?;
    if !meta.is_dir() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    walk(root, recursive, &mut out)?;
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "error reading [{path}]: recognized file extensions are [.json .yaml .yml]"
        )));
    }
    Ok(out)
}

fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let cannot = |e: std::io::Error| Error::Usage(format!("cannot read {}: {e}", dir.display()));
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(cannot)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(cannot)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                walk(&p, recursive, out)?;
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads every `-f` (files, directories, `-` for stdin) into manifests, each named by its file
/// and document; nothing is sent before all of them are read and checked.
fn read_manifests(files: &[String], recursive: bool) -> Result<Vec<change::Manifest>, Error> {
    let mut all = Vec::new();
    for f in files {
        if f == "-" {
            all.extend(change::parse_manifests(&read_stdin()?, "stdin")?);
            continue;
        }
        let paths = expand_path(f, recursive)?;
        let single = paths.len() == 1 && Path::new(f).is_file();
        for p in paths {
            let source = p.display().to_string();
            let text = std::fs::read_to_string(&p)
                .map_err(|e| Error::Usage(format!("cannot read {source}: {e}")))?;
            // A file named on its own must hold a policy; one of a directory may be empty.
            if single {
                all.extend(change::parse_manifests(&text, &source)?);
            } else {
                all.extend(change::parse_documents(&text, &source)?);
            }
        }
    }
    if all.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no PeerAuthentication found",
            files.join(", ")
        )));
    }
    Ok(all)
}

/// One object compared.
struct Compared {
    file: String,
    live: Option<Value>,
    /// The object after the change (`None`: deleted, `--inherit`).
    result: Option<Value>,
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
        let all = read_manifests(&args.files, args.recursive)?;
        if let Some(ns) = &global.namespace {
            change::check_namespace_flag(&all, ns)?;
            change::check_duplicates(&all, ns)?;
        }
        Some(all)
    } else {
        if args.recursive {
            return Err(Error::Usage("-R/--recursive goes with -f DIRECTORY".into()));
        }
        None
    };
    let mode = args.mode.selected();
    let req = match (&manifests, &mode) {
        (Some(_), _) => None,
        (None, Some(mode)) => Some(change::request(&super::request_input(mode, t, global))?),
        (None, None) => {
            return Err(Error::Usage(
                "give the change (--strict, --permissive, --disable, --unset or --inherit) or manifests with -f FILE"
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
    let mut removal_effect = None;
    let read: ClusterRead;
    if let Some(mut req) = req.clone().filter(|r| r.inherit) {
        let (r, namespace) = change::read_for(&cluster, &mut req, &opts).await?;
        read = r;
        super::print_read_notes(&read);
        let ar = read.apis.peer_authentication.clone().ok_or(Error::IstioMissing)?;
        let found = change::choose_removal(&read.snapshot, &req, &namespace);
        let live = match &found {
            Some(r) => change::get_live(&cluster, &ar, &r.honoured.namespace, &r.honoured.name).await?,
            None => None,
        };
        if let (Some(removal), Some(live)) = (found, live) {
            for n in &removal.notes {
                eprintln!("note: {n}");
            }
            let effect = change::Effect::of_removal(&read.snapshot, &removal.honoured.key());
            let toward_strict = change::removal_toward_strict(&effect.effects);
            let outside = if toward_strict && req.target != Target::Mesh {
                change::outside_clients(&cluster, &read.snapshot, &removal.honoured).await?
            } else {
                Outside::NotChecked
            };
            let mut r = change::review_removal(&effect.effects, &outside);
            if toward_strict {
                telemetry_request.namespaces =
                    super::telemetry::scope_of(&req.target, &removal.honoured.namespace);
                let before = crate::engine::analyze(&read.snapshot);
                let traffic = super::telemetry::read(&cluster, &telemetry_request, &before).await;
                change::review_traffic(&mut r, &before, &effect.effects, &traffic);
            }
            let foreign = change::foreign_fields(&live, &manager);
            if !foreign.is_empty() {
                r.refusals.push(format!(
                    "fields of it are managed by other field managers ({}): it needs --force-conflicts",
                    foreign
                        .iter()
                        .map(|(m, f)| format!("{f} by \"{m}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            review = Some(r);
            compared.push(Compared {
                file: change::file_name(
                    &ar.api_version,
                    &removal.honoured.namespace,
                    &removal.honoured.name,
                ),
                live: Some(live),
                result: None,
            });
            removal_effect = Some(effect);
        } else {
            eprintln!(
                "note: {}: nothing to remove",
                change::nothing_to_remove(&req.target, &namespace)
            );
        }
    } else if let Some(mut req) = req {
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
            result: Some(result),
        });
    } else {
        let manifests = manifests.unwrap_or_default();
        let default_ns = global
            .namespace
            .clone()
            .unwrap_or_else(|| cluster.namespace.clone());
        change::check_namespace(&default_ns)?;
        // Objects without namespace take the context's: only now is the same object twice known.
        change::check_duplicates(&manifests, &default_ns)?;
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
                result: Some(result),
            });
        }
    }

    // The effect of all changes together.
    let effect = match removal_effect {
        Some(e) => e,
        None => {
            let results: Vec<&Value> = compared.iter().filter_map(|c| c.result.as_ref()).collect();
            change::Effect::of(&read.snapshot, &results)?
        }
    };
    let differs = compared.iter().any(|c| match &c.result {
        Some(result) => change::differs(c.live.as_ref(), result),
        None => c.live.is_some(),
    });

    let code = match external {
        Some(cmd) => run_external(&cmd, &compared)?,
        None => {
            let mut text = String::new();
            for c in &compared {
                match (&c.result, &c.live) {
                    (Some(result), live) => {
                        text.push_str(&render::diff::object_diff(live.as_ref(), result, &c.file)?)
                    }
                    (None, Some(live)) => text.push_str(&render::diff::removal_diff(live, &c.file)?),
                    (None, None) => {}
                }
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
/// absent in LIVE for an object to create, in MERGED for one to delete); its exit code 0 or 1 is passed on.
fn run_external(cmd: &(String, Vec<String>), compared: &[Compared]) -> Result<i32, Error> {
    let live_dir = temp_dir("LIVE")?;
    let merged_dir = temp_dir("MERGED")?;
    let result = (|| {
        for c in compared {
            if let Some(l) = &c.live {
                write_file(&live_dir, &c.file, l)?;
            }
            if let Some(result) = &c.result {
                write_file(&merged_dir, &c.file, result)?;
            }
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
    fn directories_expand_like_kubectl() {
        let dir = crate::credentials::private_temp_dir("expand").unwrap();
        for f in [
            "b.yaml",
            "a.yml",
            "c.json",
            "notes.txt",
            "sub/d.yaml",
            "sub/deeper/e.yml",
        ] {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
        }
        let names = |recursive| {
            expand_path(dir.to_str().unwrap(), recursive)
                .unwrap()
                .iter()
                .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(false), ["a.yml", "b.yaml", "c.json"]);
        assert_eq!(
            names(true),
            ["a.yml", "b.yaml", "c.json", "sub/d.yaml", "sub/deeper/e.yml"]
        );
        // A file is read whatever its extension.
        let txt = dir.join("notes.txt");
        assert_eq!(expand_path(txt.to_str().unwrap(), false).unwrap(), vec![txt]);
        let empty = dir.join("sub/deeper/empty");
        std::fs::create_dir_all(&empty).unwrap();
        let e = expand_path(empty.to_str().unwrap(), true).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("recognized file extensions are [.json .yaml .yml]"),
            "{e}"
        );
        let missing = dir.join("nope");
        assert_eq!(
            expand_path(missing.to_str().unwrap(), false)
                .unwrap_err()
                .to_string(),
            format!("the path \"{}\" does not exist", missing.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
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
