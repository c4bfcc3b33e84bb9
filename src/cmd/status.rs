//! `kubectl mtls status`: read the cluster, resolve as Istio does, render.

use crate::cli::{GlobalArgs, ModeArg, StatusArgs, StatusOutput};
use crate::client::connect;
use crate::collect::{ReadOptions, Scope, read_snapshot};
use crate::engine::{PolicyIndex, analyze, apply_telemetry, require};
use crate::error::Error;
use crate::model::Mode;
use crate::render::status::{ReportScope, build, render_require, render_table, require_error};
use crate::render::{to_json, to_yaml};

/// Converts the command-line mode into the engine's.
pub fn mode_of(m: ModeArg) -> Mode {
    match m {
        ModeArg::Strict => Mode::Strict,
        ModeArg::Permissive => Mode::Permissive,
        ModeArg::Disable => Mode::Disable,
    }
}

/// Runs `kubectl mtls status` and returns the exit code.
pub async fn run(global: &GlobalArgs, args: StatusArgs) -> Result<i32, Error> {
    super::check_scope_flags(args.all_namespaces, &args.namespaces)?;
    super::check_istio_flags(&args.istio_namespace, args.revision.as_deref())?;
    // Bad telemetry flags are usage errors, before any connection.
    let mut telemetry_request = super::telemetry::request(
        &args.telemetry,
        &args.istio_namespace,
        None,
        global.request_timeout.0,
    )?;
    let cluster = connect(&super::connect_options(global)).await?;
    let scope = super::scope_of(args.all_namespaces, &args.namespaces, &cluster.namespace);
    let opts = ReadOptions {
        istio_namespace: args.istio_namespace.clone(),
        revision: args.revision.clone(),
        pod_selector: args.selector.clone(),
    };
    telemetry_request.namespaces = match &scope {
        Scope::All => None,
        Scope::Namespaces(ns) => Some(ns.clone()),
    };
    let read = read_snapshot(&cluster, &scope, &opts).await?;
    let mut analysis = analyze(&read.snapshot);
    let traffic = super::telemetry::read(&cluster, &telemetry_request, &analysis).await;
    let per_workload = apply_telemetry(&mut analysis, &traffic);
    let mesh_mode = PolicyIndex::new(&read.snapshot).namespace_mode(&read.snapshot.root_namespace);
    let required = args.require.map(|m| {
        let mode = mode_of(m);
        (mode, require(&analysis, mode))
    });
    let report_scope = ReportScope {
        namespaces: match &scope {
            Scope::All => None,
            Scope::Namespaces(ns) => Some(ns.iter().cloned().collect()),
        },
    };
    let (gaps, warnings) = read.report_gaps();
    let report = build(
        &analysis,
        &mesh_mode,
        &report_scope,
        gaps,
        warnings,
        required,
        &traffic,
        &per_workload,
    );

    let machine = matches!(args.output, StatusOutput::Json | StatusOutput::Yaml);
    // Warnings go to stderr, as kubectl's do, so machine output stays parseable.
    for w in &report.warnings {
        eprintln!("Warning: {w}");
    }
    for g in &report.gaps {
        eprintln!("Warning: {g}");
    }
    match args.output {
        StatusOutput::Json => print!("{}", to_json(&report)?),
        StatusOutput::Yaml => print!("{}", to_yaml(&report)?),
        StatusOutput::Table | StatusOutput::Wide => {
            let wide = args.workloads || args.output == StatusOutput::Wide;
            print!("{}", render_table(&report, wide));
        }
    }
    if let Some(r) = &report.require {
        let text = render_require(r);
        if machine {
            eprint!("{text}");
        } else {
            print!("\n{text}");
        }
        if let Some(e) = require_error(r) {
            eprintln!("error: {e}");
            return Ok(1);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_modes_map_to_engine_modes() {
        assert_eq!(mode_of(ModeArg::Strict), Mode::Strict);
        assert_eq!(mode_of(ModeArg::Permissive), Mode::Permissive);
        assert_eq!(mode_of(ModeArg::Disable), Mode::Disable);
    }
}
