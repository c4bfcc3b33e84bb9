//! `kubectl mtls graph`: the traffic graph with, on each edge, whether it is mutual TLS and
//! what STRICT would do to it.

use crate::cli::{GlobalArgs, GraphArgs, GraphOutput};
use crate::client::connect;
use crate::collect::ReadOptions;
use crate::error::Error;
use crate::graph::{GraphRequest, read_graph};
use crate::render::graph::{build, render_dot, render_html, render_mermaid, render_table, telemetry_line};
use crate::render::graph_svg::render_svg;
use crate::render::{to_json, to_yaml};

/// Runs `kubectl mtls graph` and returns the exit code: 0, or 1 when telemetry could not be
/// read completely (the graph shown may then miss edges).
pub async fn run(global: &GlobalArgs, args: GraphArgs) -> Result<i32, Error> {
    super::check_scope_flags(args.all_namespaces, &args.namespaces)?;
    super::check_istio_flags(&args.istio_namespace, args.revision.as_deref())?;
    // Bad telemetry flags are usage errors, before any connection.
    let telemetry = super::telemetry::request(
        &args.telemetry,
        &args.istio_namespace,
        None,
        global.request_timeout.0,
    )?;
    let cluster = connect(&super::connect_options(global)).await?;
    let scope = super::scope_of(args.all_namespaces, &args.namespaces, &cluster.namespace);
    let req = GraphRequest {
        scope,
        read: ReadOptions {
            istio_namespace: args.istio_namespace.clone(),
            revision: args.revision.clone(),
            pod_selector: None,
        },
        telemetry,
    };
    let read = read_graph(&cluster, &req).await?;
    // Warnings go to stderr, as kubectl's do, so machine output stays parseable.
    for g in &read.gaps {
        eprintln!("Warning: {g}");
    }
    for w in &read.warnings {
        eprintln!("Warning: {w}");
    }
    for e in &read.traffic.errors {
        eprintln!("Warning: telemetry: {e}");
    }
    let report = build(&read.graph, &read.traffic, read.namespaces.clone());
    match args.output {
        GraphOutput::Json => print!("{}", to_json(&report)?),
        GraphOutput::Yaml => print!("{}", to_yaml(&report)?),
        GraphOutput::Dot => print!("{}", render_dot(&report)),
        GraphOutput::Mermaid => print!("{}", render_mermaid(&report)),
        GraphOutput::Svg => print!("{}", render_svg(&report)),
        GraphOutput::Html => print!("{}", render_html(&report, &render_svg(&report))),
        GraphOutput::Table | GraphOutput::Wide => {
            if report.edges.is_empty() {
                let scope = report
                    .namespaces
                    .as_ref()
                    .map_or_else(|| "any namespace".to_string(), |ns| ns.join(", "));
                eprintln!(
                    "No traffic seen toward {scope} ({}).",
                    telemetry_line(&report.telemetry)
                );
            } else {
                print!("{}", render_table(&report, args.output == GraphOutput::Wide));
                println!("\n{}", telemetry_line(&report.telemetry));
                for n in &report.notes {
                    println!("Note: {n}.");
                }
            }
        }
    }
    Ok(if read.traffic.errors.is_empty() { 0 } else { 1 })
}
