//! `kubectl mtls enable`: change the PeerAuthentication Istio honours in a scope with
//! server-side apply, after showing the change and reviewing it against the cluster.

use serde_json::Value;

use crate::change::{self, ApplyResult, Outcome, Outside, Target};
use crate::cli::{DryRun, EnableArgs, GlobalArgs, ObjectOutput};
use crate::client::connect;
use crate::collect::ReadOptions;
use crate::error::Error;
use crate::render;
use crate::render::diff::Action;

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

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// Runs `kubectl mtls enable` and returns the exit code.
pub async fn run(global: &GlobalArgs, args: EnableArgs) -> Result<i32, Error> {
    let mut req = change::request(&super::request_input(&args.mode, &args.target, global))?;
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

    super::check_istio_flags(&args.target.istio_namespace, args.target.revision.as_deref())?;
    // Bad telemetry flags are usage errors, before any connection.
    let mut telemetry_request = super::telemetry::request(
        &args.telemetry,
        &args.target.istio_namespace,
        None,
        global.request_timeout.0,
    )?;
    let cluster = connect(&super::connect_options(global)).await?;
    let opts = ReadOptions {
        istio_namespace: args.target.istio_namespace.clone(),
        revision: args.target.revision.clone(),
        pod_selector: None,
    };
    let (read, namespace) = change::read_for(&cluster, &mut req, &opts).await?;
    super::print_read_notes(&read);
    if req.inherit {
        let ctx = Removing {
            args: &args,
            cluster: &cluster,
            read: &read,
            req: &req,
            namespace: &namespace,
            manager,
            dry,
            suffix,
            out: &out,
        };
        return remove(ctx, telemetry_request).await;
    }
    let prepared = change::prepare(&cluster, &read, &req, &namespace, manager).await?;
    for n in &prepared.chosen.notes {
        eprintln!("note: {n}");
    }
    let object = change::object_ref(&prepared.chosen.name);
    let file = change::file_name(
        &prepared.ar.api_version,
        &prepared.chosen.namespace,
        &prepared.chosen.name,
    );

    // What the apply will give: the API server's answer for a server dry run (its defaults and
    // validation included; a conflict or a rejection stops here), else the client-side merge.
    let server_answer = match dry {
        DryRun::Server => match change::apply_over_kubectl(
            &cluster,
            &prepared.ar,
            &prepared.body,
            manager,
            args.force_conflicts,
            true,
        )
        .await?
        {
            (ApplyResult::Ok(v), taken) => {
                if !taken.is_empty() {
                    eprintln!("note: {} (dry run)", change::takeover_note(&taken));
                }
                Some(v)
            }
            (ApplyResult::Conflict(status), _) => return Err(change::conflict_error(&status, &object)),
        },
        _ => None,
    };
    let preview = server_answer
        .clone()
        .unwrap_or_else(|| change::merge(prepared.live.as_ref(), &prepared.body));
    let effect = change::Effect::of(&read.snapshot, &[&preview])?;
    let changed = &effect.policies[0];
    let outcome = Outcome::of(prepared.live.as_ref(), &preview);

    // Pods outside the mesh elsewhere: possible plaintext clients of what becomes STRICT.
    let outside = if req.toward_strict() && req.target != Target::Mesh && outcome != Outcome::Unchanged {
        change::outside_clients(&cluster, &read.snapshot, changed).await?
    } else {
        Outside::NotChecked
    };
    let mut review = change::review(&read.snapshot, &req, changed, &effect.effects, &outside);
    // Unknown is never "yes": a review that could not read what it checks does not pass.
    if outcome != Outcome::Unchanged {
        refuse_unread(&mut review, &read, &outside);
    }
    // Observed traffic: plaintext callers of workloads becoming STRICT.
    if req.toward_strict() && outcome != Outcome::Unchanged && !effect.effects.changes.is_empty() {
        telemetry_request.namespaces = super::telemetry::scope_of(&req.target, &changed.namespace);
        let before = crate::engine::analyze(&read.snapshot);
        let traffic = super::telemetry::read(&cluster, &telemetry_request, &before).await;
        change::review_traffic(&mut review, &before, &effect.effects, &traffic);
    }

    // Show the change.
    out.section(&render::diff::object_diff(
        prepared.live.as_ref(),
        &preview,
        &file,
    )?);
    if outcome != Outcome::Unchanged {
        show_effect(&out, &effect, &read.snapshot, suffix, args.show_all);
    }
    if !passes(&review, &object, args.force, args.show_all, Action::Change) {
        return Ok(1);
    }

    let result = match dry {
        DryRun::Client => {
            // Predict the real run's verdict: kubectl's own managers are taken over, any other
            // manager stops the write unless --force-conflicts.
            if let Some(live) = &prepared.live {
                let predicted = change::predicted_conflicts(live, &prepared.body, manager);
                let (kubectl, others): (Vec<_>, Vec<_>) = predicted
                    .into_iter()
                    .partition(|(m, _)| change::is_kubectl_manager(m));
                if !others.is_empty() && !args.force_conflicts {
                    let mut managers: Vec<String> = others.iter().map(|(m, _)| m.clone()).collect();
                    managers.dedup();
                    let n = others.len();
                    let detail = format!(
                        "Apply failed with {n} conflict{}: {}",
                        if n == 1 { "" } else { "s" },
                        others
                            .iter()
                            .map(|(m, f)| {
                                // The server names an Update manager with its API version.
                                if m == change::BEFORE_FIRST_APPLY {
                                    format!("conflict with \"{m}\" using {}: {f}", prepared.ar.api_version)
                                } else {
                                    format!("conflict with \"{m}\": {f}")
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    return Err(change::conflict_error_for(&managers, &detail, &object));
                }
                for (m, field) in &others {
                    eprintln!("warning: {field} is managed by \"{m}\": --force-conflicts will take it over");
                }
                if !kubectl.is_empty() {
                    eprintln!("note: {} (dry run)", change::takeover_note(&kubectl));
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
            match change::apply_over_kubectl(
                &cluster,
                &prepared.ar,
                &prepared.body,
                manager,
                args.force_conflicts,
                false,
            )
            .await?
            {
                (ApplyResult::Ok(v), taken) => {
                    if !taken.is_empty() {
                        eprintln!("note: {}", change::takeover_note(&taken));
                    }
                    v
                }
                (ApplyResult::Conflict(status), _) => return Err(change::conflict_error(&status, &object)),
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

/// Adds the reads the review could not make as refusals: unknown is never "yes".
fn refuse_unread(review: &mut change::Review, read: &crate::collect::ClusterRead, outside: &Outside) {
    let mut unread: Vec<String> = read
        .gaps
        .iter()
        .map(|g| {
            format!(
                "the review could not read {}: {} ({})",
                g.what, g.reason, g.effect
            )
        })
        .collect();
    if let Outside::Forbidden(msg) = outside {
        unread.push(format!(
            "the review could not list pods cluster-wide: {msg} (plaintext clients outside the mesh in other namespaces were not checked)"
        ));
        review
            .warnings
            .retain(|w| !w.starts_with("cannot list pods cluster-wide"));
    }
    review.refusals.extend(unread);
}

/// Prints the review's warnings and refusals; whether the write may go ahead (no refusal, or
/// `--force`). `verb`/`done`/`forced`: "change"/"written"/"writes" or "delete"/"deleted"/"deletes".
/// Prints the effect table: each workload whose mode changes, with the ports that keep their own.
fn show_effect(
    out: &Out,
    effect: &change::Effect,
    snapshot: &crate::model::Snapshot,
    suffix: &str,
    show_all: bool,
) {
    let ports = effect.ports(snapshot);
    out.section(&render::diff::effects(&effect.effects, &ports, suffix, show_all));
}

fn passes(review: &change::Review, object: &str, force: bool, show_all: bool, action: Action) -> bool {
    eprint!("{}", render::diff::warnings(&review.warnings, show_all));
    if review.refusals.is_empty() {
        return true;
    }
    if !force {
        eprint!(
            "{}",
            render::diff::refusal(object, &review.refusals, show_all, action)
        );
        return false;
    }
    let forced: Vec<String> = review
        .refusals
        .iter()
        .map(|r| format!("--force: {}: {r}", action.despite()))
        .collect();
    eprint!("{}", render::diff::warnings(&forced, show_all));
    true
}

/// What `enable --inherit` works with, once the cluster is read.
struct Removing<'a> {
    args: &'a EnableArgs,
    cluster: &'a crate::client::Cluster,
    read: &'a crate::collect::ClusterRead,
    req: &'a change::Request,
    namespace: &'a str,
    manager: &'a str,
    dry: DryRun,
    suffix: &'a str,
    out: &'a Out,
}

/// `enable SCOPE --inherit`: removes the policy Istio honours at the scope (the workshop's
/// rollback), after the same diff, effect and review as a change, with the same dry runs. The
/// delete carries the reviewed object's uid and resourceVersion as preconditions.
async fn remove(ctx: Removing<'_>, mut telemetry_request: crate::telemetry::Request) -> Result<i32, Error> {
    let Removing {
        args,
        cluster,
        read,
        req,
        namespace,
        manager,
        dry,
        suffix,
        out,
    } = ctx;
    let ar = read.apis.peer_authentication.clone().ok_or(Error::IstioMissing)?;
    let found = change::choose_removal(&read.snapshot, req, namespace);
    let live = match &found {
        Some(r) => change::get_live(cluster, &ar, &r.honoured.namespace, &r.honoured.name).await?,
        None => None,
    };
    let (Some(removal), Some(live)) = (found, live) else {
        out.section(&format!(
            "{}: nothing to remove, unchanged{suffix}",
            change::nothing_to_remove(&req.target, namespace)
        ));
        let empty = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": []});
        match args.output {
            Some(ObjectOutput::Yaml) => print!("{}", render::to_yaml(&empty)?),
            Some(ObjectOutput::Json) => print!("{}", render::to_json(&empty)?),
            None => {}
        }
        return Ok(0);
    };
    for n in &removal.notes {
        eprintln!("note: {n}");
    }
    let object = change::object_ref(&removal.honoured.name);
    let file = change::file_name(
        &ar.api_version,
        &removal.honoured.namespace,
        &removal.honoured.name,
    );
    let effect = change::Effect::of_removal(&read.snapshot, &removal.honoured.key());
    let toward_strict = change::removal_toward_strict(&effect.effects);
    let outside = if toward_strict && req.target != Target::Mesh {
        change::outside_clients(cluster, &read.snapshot, &removal.honoured).await?
    } else {
        Outside::NotChecked
    };
    let mut review = change::review_removal(&effect.effects, &outside);
    refuse_unread(&mut review, read, &outside);
    if toward_strict {
        telemetry_request.namespaces = super::telemetry::scope_of(&req.target, &removal.honoured.namespace);
        let before = crate::engine::analyze(&read.snapshot);
        let traffic = super::telemetry::read(cluster, &telemetry_request, &before).await;
        change::review_traffic(&mut review, &before, &effect.effects, &traffic);
    }

    out.section(&render::diff::removal_diff(&live, &file)?);
    show_effect(out, &effect, &read.snapshot, suffix, args.show_all);
    if !passes(&review, &object, args.force, args.show_all, Action::Delete) {
        return Ok(1);
    }
    // Deleting an object takes every field from its managers: refused when some are not the
    // plugin's or kubectl's own, unless --force-conflicts (the same verdict in every dry run).
    let foreign = change::foreign_fields(&live, manager);
    if !foreign.is_empty() {
        if !args.force_conflicts {
            return Err(change::foreign_fields_error(&foreign, &object));
        }
        for (m, f) in &foreign {
            eprintln!("warning: {f} is managed by \"{m}\": --force-conflicts deletes it anyway");
        }
    }
    match dry {
        DryRun::Client => {}
        DryRun::Server => change::delete_reviewed(cluster, &ar, &live, true).await?,
        DryRun::None => change::delete_reviewed(cluster, &ar, &live, false).await?,
    }
    out.section(&format!("{object} deleted{suffix}"));
    match args.output {
        Some(ObjectOutput::Yaml) => print!("{}", render::to_yaml(&without_managed_fields(&live))?),
        Some(ObjectOutput::Json) => print!("{}", render::to_json(&without_managed_fields(&live))?),
        None => {}
    }
    Ok(0)
}
