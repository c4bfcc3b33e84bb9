//! `kubectl mtls enable`: change the PeerAuthentication Istio honours in a scope with
//! server-side apply, after showing the change and reviewing it against the cluster.

use serde_json::Value;

use crate::change::{self, ApplyResult, Outcome, Outside, Request, Target};
use crate::cli::{DryRun, EnableArgs, GlobalArgs, ObjectOutput};
use crate::client::{Cluster, connect};
use crate::collect::{ClusterRead, ReadOptions, Scope, read_snapshot};
use crate::engine::{PolicyChange, what_if};
use crate::error::Error;
use crate::model::Created;
use crate::render;

/// Where the report goes: stdout, or stderr when `-o` keeps stdout for the object.
struct Out {
    to_stderr: bool,
    printed: std::cell::Cell<bool>,
}

impl Out {
    /// Prints a section, a blank line apart from the one before.
    fn section(&self, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.printed.replace(true) {
            self.say("\n");
        }
        self.say(s);
    }

    fn say(&self, s: &str) {
        if s.is_empty() {
            return;
        }
        let s = s.strip_suffix('\n').unwrap_or(s);
        if self.to_stderr {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }
}

/// The snapshot a change is judged against: the target namespace (plus the root namespace's
/// policies), or the whole cluster for a mesh-wide change. Returns it with the namespace the
/// target lives in. A namespace-wide target in the root namespace becomes [`Target::Mesh`].
pub async fn read_for(
    cluster: &Cluster,
    req: &mut Request,
    opts: &ReadOptions,
) -> Result<(ClusterRead, String), Error> {
    let wanted_ns = match &req.target {
        Target::Mesh => None,
        Target::Namespace(ns) | Target::Selector { namespace: ns, .. } => {
            let ns = ns.clone().unwrap_or_else(|| cluster.namespace.clone());
            change::check_namespace(&ns)?;
            Some(ns)
        }
    };
    let read = match &wanted_ns {
        None => read_all(cluster, opts).await?,
        Some(ns) => read_snapshot(cluster, &Scope::Namespaces(vec![ns.clone()]), opts).await?,
    };
    let root = read.mesh.root_namespace.clone();
    match (&req.target, wanted_ns) {
        (Target::Mesh, _) | (_, None) => Ok((read, root)),
        (Target::Selector { .. }, Some(ns)) if ns == root => Err(Error::Usage(format!(
            "{ns} is the root namespace: Istio ignores policies with a selector there; target the workload's own namespace"
        ))),
        (Target::Namespace(_), Some(ns)) if ns == root => {
            // The namespace-wide policy of the root namespace is the mesh-wide one: its
            // effect is cluster-wide.
            let read = read_all(cluster, opts).await?;
            req.target = Target::Mesh;
            Ok((read, ns))
        }
        (_, Some(ns)) => Ok((read, ns)),
    }
}

/// Reads the whole cluster for a mesh-wide change, explaining a refusal in this command's terms.
pub async fn read_all(cluster: &Cluster, opts: &ReadOptions) -> Result<ClusterRead, Error> {
    match read_snapshot(cluster, &Scope::All, opts).await {
        Err(Error::Forbidden(msg)) => {
            let msg = msg.split("; -A needs").next().unwrap_or(&msg).to_string();
            Err(Error::Forbidden(format!(
                "{msg}; a mesh-wide policy affects every namespace, so showing its effect needs the right to list namespaces, pods, services and policies cluster-wide"
            )))
        }
        other => other,
    }
}

/// Prints what limits the read.
pub fn print_read_notes(read: &ClusterRead) {
    for g in &read.gaps {
        eprintln!("warning: {g}");
    }
    for w in &read.warnings {
        eprintln!("warning: {w}");
    }
}

/// The YAML diff of one object (live vs. the result), headed like kubectl's directories.
pub fn object_diff(live: Option<&Value>, result: &Value, file: &str) -> Result<String, Error> {
    let old = match live {
        Some(l) => render::to_yaml(&change::clean(l))?,
        None => String::new(),
    };
    let new = render::to_yaml(&change::clean(result))?;
    Ok(render::diff::unified(
        &old,
        &new,
        &format!("live/{file}"),
        &format!("merged/{file}"),
    ))
}

/// kubectl's file name for an object: `security.istio.io.v1.PeerAuthentication.NS.NAME`.
pub fn file_name(api_version: &str, namespace: &str, name: &str) -> String {
    format!(
        "{}.PeerAuthentication.{namespace}.{name}",
        api_version.replace('/', ".")
    )
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// Runs `kubectl mtls enable` and returns the exit code.
pub async fn run(global: &GlobalArgs, args: EnableArgs) -> Result<i32, Error> {
    let mut req = change::request_from_args(&args.mode, &args.target, global)?;
    if args.field_manager.trim().is_empty() {
        return Err(Error::Usage("--field-manager must not be empty".into()));
    }
    let manager = args.field_manager.as_str();
    let dry = args.dry_run.unwrap_or(DryRun::None);
    let suffix = match dry {
        DryRun::Client => " (dry run)",
        DryRun::Server => " (server dry run)",
        DryRun::None => "",
    };
    let out = Out {
        to_stderr: args.output.is_some(),
        printed: std::cell::Cell::new(false),
    };

    let cluster = connect(global).await?;
    let opts = ReadOptions {
        istio_namespace: args.target.istio_namespace.clone(),
        revision: args.target.revision.clone(),
        pod_selector: None,
    };
    let (read, namespace) = read_for(&cluster, &mut req, &opts).await?;
    print_read_notes(&read);
    let prepared = change::prepare(&cluster, &read, &req, &namespace, manager).await?;
    for n in &prepared.chosen.notes {
        eprintln!("note: {n}");
    }
    let object = change::object_ref(&prepared.chosen.name);
    let file = file_name(
        &prepared.ar.api_version,
        &prepared.chosen.namespace,
        &prepared.chosen.name,
    );

    // What the apply will give: the API server's answer for a server dry run (its defaults and
    // validation included; a conflict or a rejection stops here), else the client-side merge.
    let server_answer = match dry {
        DryRun::Server => match change::apply(
            &cluster,
            &prepared.ar,
            &prepared.body,
            manager,
            args.force_conflicts,
            true,
        )
        .await?
        {
            ApplyResult::Ok(v) => Some(v),
            ApplyResult::Conflict(status) => return Err(change::conflict_error(&status, &object)),
        },
        _ => None,
    };
    let preview = server_answer
        .clone()
        .unwrap_or_else(|| change::merge(prepared.live.as_ref(), &prepared.body));
    let changed = change::policy_of(&preview, Created::now())?;
    let effects = what_if(&read.snapshot, &[PolicyChange::Upsert(changed.clone())]);
    let outcome = Outcome::of(prepared.live.as_ref(), &preview);

    // Pods outside the mesh elsewhere: possible plaintext clients of what becomes STRICT.
    let outside = if req.toward_strict() && req.target != Target::Mesh && outcome != Outcome::Unchanged {
        let istio_ns = read.snapshot.istio_namespace.clone();
        let root = read.snapshot.root_namespace.clone();
        let (ns, sel) = (changed.namespace.clone(), changed.clone());
        change::unmeshed_pods_cluster_wide(&cluster, move |p| {
            p.namespace == istio_ns
                || p.namespace == root
                || (p.namespace == ns && (!sel.has_selector() || sel.selects(&p.labels)))
        })
        .await?
    } else {
        Outside::NotChecked
    };
    let review = change::review(&read.snapshot, &req, &changed, &effects, &outside);

    // Show the change.
    out.section(&object_diff(prepared.live.as_ref(), &preview, &file)?);
    if outcome != Outcome::Unchanged {
        let ports =
            change::port_exceptions(&read.snapshot, &[PolicyChange::Upsert(changed.clone())], &effects);
        out.section(&render::diff::effects(&effects, &ports, suffix));
    }
    for w in &review.warnings {
        eprintln!("warning: {w}");
    }
    if !review.refusals.is_empty() {
        if !args.force {
            for r in &review.refusals {
                eprintln!("error: refusing to change {object}: {r}");
            }
            eprintln!(
                "error: nothing was written; the cluster's configuration shows this change would break traffic or not take effect (--force writes anyway)"
            );
            return Ok(1);
        }
        for r in &review.refusals {
            eprintln!("warning: --force: writing despite: {r}");
        }
    }

    let result = match dry {
        DryRun::Client => {
            if let Some(live) = &prepared.live {
                for (m, field) in change::predicted_conflicts(live, &prepared.body, manager) {
                    let hint = if args.force_conflicts {
                        "--force-conflicts will take it over"
                    } else {
                        "the write will stop with a conflict unless --force-conflicts is given"
                    };
                    eprintln!("warning: {field} is managed by \"{m}\": {hint}");
                }
            }
            if args.output.is_none() {
                out.section(&format!(
                    "# the object kubectl-mtls would apply (server-side apply, field manager \"{manager}\"){suffix}\n{}",
                    render::to_yaml(&prepared.body)?
                ));
            }
            preview
        }
        DryRun::Server => {
            if args.output.is_none() {
                out.section(&format!(
                    "# the API server's answer{suffix}\n{}",
                    render::to_yaml(&change::clean(&preview))?
                ));
            }
            preview
        }
        DryRun::None if outcome == Outcome::Unchanged => prepared.live.clone().unwrap_or(preview),
        DryRun::None => {
            match change::apply(
                &cluster,
                &prepared.ar,
                &prepared.body,
                manager,
                args.force_conflicts,
                false,
            )
            .await?
            {
                ApplyResult::Ok(v) => v,
                ApplyResult::Conflict(status) => return Err(change::conflict_error(&status, &object)),
            }
        }
    };
    let outcome = Outcome::of(prepared.live.as_ref(), &result);
    out.section(&format!("{object} {}{suffix}", outcome.as_str()));
    match args.output {
        Some(ObjectOutput::Yaml) => print!("{}", render::to_yaml(&without_managed_fields(&result))?),
        Some(ObjectOutput::Json) => print!("{}", render::to_json(&without_managed_fields(&result))?),
        None => {}
    }
    Ok(0)
}
