//! `graph` as a domain operation: read the destinations' namespaces, read telemetry for them,
//! build the edges ([`crate::engine::build_graph`]), then read the callers' own namespaces so
//! their nodes show how they are in the mesh. Takes a plain [`GraphRequest`], never clap
//! structs.

use std::collections::BTreeSet;

use crate::client::Cluster;
use crate::collect::{Gap, ReadOptions, Scope, read_snapshot};
use crate::engine::{Graph, GraphScope, analyze, build_graph, describe_callers};
use crate::error::Error;
use crate::model::{Peer, TelemetrySource, Traffic};
use crate::telemetry::{self, proxy_pods};

/// The error when no telemetry could be found: it names the two ways to get it.
pub const NO_TELEMETRY: &str = "no telemetry to draw the graph from: no Prometheus was given or found; give --prometheus URL (e.g. after kubectl port-forward -n istio-system svc/prometheus 9090), or read the sidecars' own counters with --telemetry-from proxies";

/// What to draw.
#[derive(Clone, Debug)]
pub struct GraphRequest {
    /// The destinations' namespaces (or all).
    pub scope: Scope,
    /// How to read the cluster.
    pub read: ReadOptions,
    /// Where telemetry comes from (its `namespaces` is set from `scope`).
    pub telemetry: telemetry::Request,
}

/// The graph and what it rests on.
#[derive(Clone, Debug)]
pub struct GraphRead {
    /// Nodes and edges.
    pub graph: Graph,
    /// The telemetry read.
    pub traffic: Traffic,
    /// The destinations' namespaces; `None` for all.
    pub namespaces: Option<Vec<String>>,
    /// Reads RBAC refused.
    pub gaps: Vec<Gap>,
    /// Other warnings (including callers' namespaces that could not be read).
    pub warnings: Vec<String>,
}

/// Reads the cluster and telemetry and builds the graph. No telemetry at all (none given,
/// none found, or `--telemetry off`) is an error naming the two ways to get it.
pub async fn read_graph(cluster: &Cluster, req: &GraphRequest) -> Result<GraphRead, Error> {
    let namespaces = match &req.scope {
        Scope::All => None,
        Scope::Namespaces(ns) => Some(ns.clone()),
    };
    let read = read_snapshot(cluster, &req.scope, &req.read).await?;
    let analysis = analyze(&read.snapshot);
    let mut treq = req.telemetry.clone();
    treq.namespaces = namespaces.clone();
    let pods = proxy_pods(&analysis, namespaces.as_deref());
    let traffic = telemetry::read(cluster, &treq, &pods).await;
    if traffic.source == TelemetrySource::None {
        return Err(Error::Other(NO_TELEMETRY.to_string()));
    }
    let scope = match &namespaces {
        None => GraphScope::All,
        Some(ns) => GraphScope::Namespaces(ns.iter().cloned().collect()),
    };
    let mut graph = build_graph(&read.snapshot, &analysis, &traffic, &scope);
    let mut warnings = read.warnings;
    let mut gaps = read.gaps;

    // Callers from other namespaces: read their namespaces too, for their mesh state.
    let callers: BTreeSet<String> = traffic
        .samples
        .iter()
        .filter(|s| scope.contains(&s.destination_namespace))
        .filter_map(|s| match &s.source {
            Peer::Workload { namespace, .. } if !scope.contains(namespace) => Some(namespace.clone()),
            _ => None,
        })
        .collect();
    if !callers.is_empty() {
        let callers: Vec<String> = callers.into_iter().collect();
        match read_snapshot(cluster, &Scope::Namespaces(callers.clone()), &req.read).await {
            Ok(r) => {
                describe_callers(&mut graph, &analyze(&r.snapshot));
                gaps.extend(r.gaps);
            }
            Err(e) => warnings.push(format!(
                "callers' namespaces ({}) could not be read, their mesh state is shown as unknown: {e}",
                callers.join(", ")
            )),
        }
    }
    Ok(GraphRead {
        graph,
        traffic,
        namespaces,
        gaps,
        warnings,
    })
}
