//! One thin orchestration per subcommand: read the cluster (`client`, `collect`), resolve
//! (`engine`), render (`render`). Each `run` returns the process exit code.

pub mod completion;
pub mod diff;
pub mod enable;
pub mod graph;
pub mod probe;
pub mod status;
pub mod telemetry;

use crate::change::RequestInput;
use crate::cli::{Cli, Command, GlobalArgs, ModeFlags, TargetArgs};
use crate::client::ConnectOptions;
use crate::collect::{ClusterRead, Scope};
use crate::error::Error;
use crate::model::PolicyMode;

/// Runs the parsed command and returns its exit code.
pub async fn dispatch(cli: Cli) -> Result<i32, Error> {
    let global = cli.global;
    match cli.command {
        Command::Status(args) => status::run(&global, args).await,
        Command::Enable(args) => enable::run(&global, args).await,
        Command::Diff(args) => diff::run(&global, args).await,
        Command::Probe(args) => probe::run(&global, args).await,
        Command::Graph(args) => graph::run(&global, args).await,
        Command::Completion(args) => completion::run(args),
    }
}

/// The connection options the global flags ask for (the only place clap's flags become them).
/// Checks the names that select the mesh config before any request: `--istio-namespace` and
/// `--revision` end up in request paths.
pub fn check_istio_flags(istio_namespace: &str, revision: Option<&str>) -> Result<(), Error> {
    crate::validate::namespace("--istio-namespace", istio_namespace)?;
    if let Some(r) = revision {
        crate::validate::revision(r)?;
    }
    Ok(())
}

/// Checks the namespaces a read names before any request: each a valid namespace name, and
/// none together with `-A`.
pub fn check_scope_flags(all_namespaces: bool, names: &[String]) -> Result<(), Error> {
    for ns in names {
        crate::change::check_namespace(ns)?;
    }
    if all_namespaces && !names.is_empty() {
        return Err(Error::Usage(
            "a namespace cannot be given together with -A/--all-namespaces".into(),
        ));
    }
    Ok(())
}

/// The namespaces a read covers: `-A`, the names given (each once, in order), or the
/// context's namespace.
pub fn scope_of(all_namespaces: bool, names: &[String], context_namespace: &str) -> Scope {
    if all_namespaces {
        Scope::All
    } else if names.is_empty() {
        Scope::Namespaces(vec![context_namespace.to_string()])
    } else {
        let mut seen = std::collections::BTreeSet::new();
        Scope::Namespaces(
            names
                .iter()
                .filter(|n| seen.insert(n.as_str()))
                .cloned()
                .collect(),
        )
    }
}

pub fn connect_options(g: &GlobalArgs) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        cluster: g.cluster.clone(),
        user: g.user.clone(),
        namespace: g.namespace.clone(),
        request_timeout: g.request_timeout.0,
        as_user: g.as_user.clone(),
        as_group: g.as_group.clone(),
        insecure_skip_tls_verify: g.insecure_skip_tls_verify,
        verbose: g.verbose,
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

/// The change `enable` and `diff` were asked for, as typed (validated by `change::request`).
pub fn request_input(mode: &ModeFlags, t: &TargetArgs, global: &GlobalArgs) -> RequestInput {
    RequestInput {
        mode: mode_of(mode),
        namespace_arg: t.namespace_arg.clone(),
        namespace_flag: global.namespace.clone(),
        mesh: t.mesh,
        selector: t.selector.clone(),
        name: t.name.clone(),
        ports: t.ports.clone(),
        inherit: mode.inherit,
        root_namespace: t.root_namespace.clone(),
    }
}
