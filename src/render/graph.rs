//! The `graph` report: its JSON/YAML schema (`MtlsGraph`, see docs/graph.md), the edge table,
//! and the texts for Graphviz (DOT), Mermaid and a self-contained HTML page. The SVG picture is
//! in [`super::graph_svg`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::{Edge, Graph, Node, UNKNOWN_NODE, Verdict};
use crate::model::{Protocol, TelemetrySource, Traffic};
use crate::render::status::API_VERSION;
use crate::render::table::{Cell, Table};
use crate::render::telemetry::{TelemetryReport, telemetry_report};
use crate::style::Role;

/// The note every graph with a `rejected` edge carries.
pub const NOTE_REJECTED: &str = "rejected: plaintext was seen (in the window, or since the proxy started) toward a workload that is STRICT now, so that caller fails now; Istio's metrics count accepted traffic only, not refused handshakes, so its failures are not counted";
/// The note for counters read from the proxies.
pub const NOTE_PROXIES: &str = "counts read from the proxies are since each proxy started, not a time window";

/// The whole `graph` answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphReport {
    /// Always `kubectl-mtls/v1`.
    pub api_version: &'static str,
    /// Always `MtlsGraph`.
    pub kind: &'static str,
    /// Where the edges come from.
    pub telemetry: TelemetryReport,
    /// The destinations' namespaces the graph is about; null for all namespaces.
    pub namespaces: Option<Vec<String>>,
    /// Workloads and the unknown caller.
    pub nodes: Vec<NodeReport>,
    /// Edges, most dangerous first.
    pub edges: Vec<EdgeReport>,
    /// Caveats (window, what metrics cannot show).
    pub notes: Vec<String>,
}

/// One node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    /// `NS/WORKLOAD` or `unknown`.
    pub id: String,
    /// Namespace; null for `unknown`.
    pub namespace: Option<String>,
    /// Workload name as Istio reports it; null for `unknown`.
    pub workload: Option<String>,
    /// sidecar, ambient, none or mixed; null when not known.
    pub mesh: Option<String>,
    /// Its mode (`STRICT`, `STRICT,PERMISSIVE` when pods differ); null when unknown or outside
    /// the mesh.
    pub mode: Option<String>,
    /// Whether its namespace is one the graph is about.
    pub in_scope: bool,
    /// Inbound connections its sidecars refused without a matching filter chain (Envoy's
    /// `envoy_listener_no_filter_chain_match`), since each proxy started; null when not read
    /// (Prometheus, callers).
    pub refused_connections: Option<u64>,
}

/// One edge.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeReport {
    /// Source node id.
    pub source: String,
    /// Destination node id.
    pub destination: String,
    /// http or tcp.
    pub protocol: Protocol,
    /// HTTP requests (or TCP connections) in the window.
    pub requests: u64,
    /// Of which plaintext.
    pub plaintext_requests: u64,
    /// The mutual TLS share in percent (one decimal).
    pub mtls_percent: f64,
    /// The destination's effective mode on the ports reached; null when unknown.
    pub destination_mode: Option<String>,
    /// mtls, plaintext-ok, breaks-under-strict, rejected or unknown.
    pub verdict: Verdict,
    /// Source principals seen.
    pub principals: Vec<String>,
    /// Destination ports whose mode was taken (empty: not known, every mode counted).
    pub ports: Vec<u32>,
}

fn node_report(n: &Node) -> NodeReport {
    NodeReport {
        id: n.id.clone(),
        namespace: n.namespace.clone(),
        workload: n.workload.clone(),
        mesh: n.mesh.map(|m| m.to_string()),
        mode: n.mode.clone(),
        in_scope: n.in_scope,
        refused_connections: n.refused_connections,
    }
}

fn edge_report(e: &Edge) -> EdgeReport {
    EdgeReport {
        source: e.source.clone(),
        destination: e.destination.clone(),
        protocol: e.protocol,
        requests: e.requests,
        plaintext_requests: e.plaintext_requests,
        mtls_percent: e.mtls_percent,
        destination_mode: e.destination_mode.as_ref().map(|m| m.label()),
        verdict: e.verdict,
        principals: e.principals.clone(),
        ports: e.ports.clone(),
    }
}

/// Builds the report.
pub fn build(graph: &Graph, traffic: &Traffic, namespaces: Option<Vec<String>>) -> GraphReport {
    let mut notes = Vec::new();
    if traffic.source == TelemetrySource::Proxies {
        notes.push(NOTE_PROXIES.to_string());
    }
    if !traffic.errors.is_empty() {
        notes.push(format!(
            "telemetry is incomplete ({} error{}): edges may be missing, and a missing edge is not proof of no traffic",
            traffic.errors.len(),
            if traffic.errors.len() == 1 { "" } else { "s" }
        ));
    }
    if graph.count(Verdict::Rejected) > 0 {
        notes.push(NOTE_REJECTED.to_string());
    }
    for n in graph
        .nodes
        .iter()
        .filter(|n| n.refused_connections.is_some_and(|c| c > 0))
    {
        notes.push(format!(
            "{} refused {} inbound connection{} without a matching filter chain since its proxy started (envoy_listener_no_filter_chain_match): under STRICT, mostly plaintext callers, which Istio's metrics do not show",
            n.id,
            n.refused_connections.unwrap_or(0),
            if n.refused_connections == Some(1) { "" } else { "s" }
        ));
    }
    if graph.count(Verdict::Unknown) > 0 {
        notes.push("unknown: plaintext toward a workload the cluster does not show (deleted, or not readable): its mode is unknown".to_string());
    }
    GraphReport {
        api_version: API_VERSION,
        kind: "MtlsGraph",
        telemetry: telemetry_report(traffic),
        namespaces,
        nodes: graph.nodes.iter().map(node_report).collect(),
        edges: graph.edges.iter().map(edge_report).collect(),
        notes,
    }
}

/// The colour role of a verdict.
pub fn verdict_role(v: Verdict) -> Role {
    match v {
        Verdict::Rejected => Role::Bad,
        Verdict::BreaksUnderStrict | Verdict::Unknown => Role::Warn,
        Verdict::PlaintextOk => Role::Dim,
        Verdict::Mtls => Role::Good,
    }
}

/// `75%`, `87.5%`.
pub fn percent_label(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn protocol_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Http => "http",
        Protocol::Tcp => "tcp",
    }
}

/// The edge table (`-o table`), with principals and ports when `wide`.
pub fn render_table(report: &GraphReport, wide: bool) -> String {
    let mut headers = vec![
        "SOURCE",
        "DESTINATION",
        "PROTOCOL",
        "REQUESTS",
        "MTLS",
        "MODE",
        "VERDICT",
    ];
    if wide {
        headers.extend(["PRINCIPALS", "PORTS"]);
    }
    let mut t = Table::new(&headers);
    for e in &report.edges {
        let mtls_role = if e.plaintext_requests == 0 {
            Role::Good
        } else {
            Role::Bad
        };
        let mut row = vec![
            Cell::from(e.source.as_str()),
            Cell::from(e.destination.as_str()),
            Cell::from(protocol_label(e.protocol)),
            Cell::from(e.requests.to_string()),
            Cell::styled(percent_label(e.mtls_percent), mtls_role),
            Cell::from(e.destination_mode.clone().unwrap_or_else(|| "?".into())),
            Cell::styled(e.verdict.as_str(), verdict_role(e.verdict)),
        ];
        if wide {
            row.push(Cell::from(if e.principals.is_empty() {
                "-".to_string()
            } else {
                e.principals.join(",")
            }));
            row.push(Cell::from(if e.ports.is_empty() {
                "?".to_string()
            } else {
                e.ports.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            }));
        }
        t.row(row);
    }
    t.render()
}

/// One line saying where the edges come from (`Telemetry: prometheus http://..., last 1h`).
pub fn telemetry_line(t: &TelemetryReport) -> String {
    let source = match t.source {
        TelemetrySource::Prometheus => "prometheus",
        TelemetrySource::Proxies => "proxies",
        TelemetrySource::None => "none",
    };
    let mut s = format!("Telemetry: {source}");
    if let Some(e) = &t.endpoint {
        let _ = write!(s, " {e}");
    }
    match (&t.window, t.source) {
        (Some(w), _) => {
            let _ = write!(s, ", last {w}");
        }
        (None, TelemetrySource::Proxies) => s.push_str(", since each proxy started"),
        _ => {}
    }
    s
}

/// The short edge label used by DOT, Mermaid and SVG: `http 120 · 0% mTLS`.
pub fn edge_label(e: &EdgeReport) -> String {
    format!(
        "{} {} · {} mTLS",
        protocol_label(e.protocol),
        e.requests,
        percent_label(e.mtls_percent)
    )
}

/// Whether an edge is drawn as mutual TLS (solid, a lock): no plaintext at all.
pub fn is_mtls(e: &EdgeReport) -> bool {
    e.verdict == Verdict::Mtls
}

/// Nodes grouped by namespace (`None`: the unknown caller), namespaces sorted.
pub fn by_namespace(report: &GraphReport) -> BTreeMap<Option<&str>, Vec<&NodeReport>> {
    let mut groups: BTreeMap<Option<&str>, Vec<&NodeReport>> = BTreeMap::new();
    for n in &report.nodes {
        groups.entry(n.namespace.as_deref()).or_default().push(n);
    }
    groups
}

/// The short name drawn for a node (its workload, or `unknown`).
pub fn node_name(n: &NodeReport) -> &str {
    n.workload.as_deref().unwrap_or(UNKNOWN_NODE)
}

/// The second line drawn under a node (`sidecar · PERMISSIVE`, `outside the mesh`).
pub fn node_detail(n: &NodeReport) -> String {
    let detail: String = match (n.mesh.as_deref(), n.mode.as_deref()) {
        (_, _) if n.id == UNKNOWN_NODE => "caller outside the mesh".into(),
        (Some("none"), _) => "outside the mesh".into(),
        (Some(mesh), Some(mode)) => format!("{mesh} · {mode}"),
        (Some(mesh), None) => mesh.to_string(),
        (None, _) => "not read".into(),
    };
    match n.refused_connections {
        Some(c) if c > 0 => format!("{detail} · {c} refused"),
        _ => detail,
    }
}

const RED: &str = "#c62828";
const GREEN: &str = "#2e7d32";

fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Graphviz DOT: left to right, one cluster per namespace, mTLS edges solid green with a lock,
/// plaintext edges dashed red with their verdict.
pub fn render_dot(report: &GraphReport) -> String {
    let mut out = String::new();
    out.push_str("digraph mtls {\n");
    out.push_str("  rankdir=LR;\n");
    out.push_str("  fontname=\"sans-serif\";\n");
    out.push_str(
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"sans-serif\"];\n",
    );
    out.push_str("  edge [fontname=\"sans-serif\", fontsize=10];\n");
    for (i, (ns, nodes)) in by_namespace(report).iter().enumerate() {
        let indent = if ns.is_some() { "    " } else { "  " };
        if let Some(ns) = ns {
            let _ = writeln!(out, "  subgraph cluster_{i} {{");
            let _ = writeln!(out, "    label={};", dot_quote(ns));
            out.push_str("    style=\"rounded,dashed\";\n    color=\"#607d8b\";\n");
        }
        for n in nodes {
            let label = format!("{}\n{}", node_name(n), node_detail(n));
            let extra = if n.id == UNKNOWN_NODE {
                ", shape=ellipse, style=dashed"
            } else if !n.in_scope {
                ", fillcolor=\"#eceff1\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "{indent}{} [label={}{extra}];",
                dot_quote(&n.id),
                dot_quote(&label)
            );
        }
        if ns.is_some() {
            out.push_str("  }\n");
        }
    }
    for e in &report.edges {
        let attrs = if is_mtls(e) {
            format!(
                "label={}, color=\"{GREEN}\", style=solid",
                dot_quote(&format!("🔒 {}", edge_label(e)))
            )
        } else {
            format!(
                "label={}, color=\"{RED}\", fontcolor=\"{RED}\", style=dashed, penwidth=2",
                dot_quote(&format!("{}\n{}", edge_label(e), e.verdict))
            )
        };
        let _ = writeln!(
            out,
            "  {} -> {} [{attrs}];",
            dot_quote(&e.source),
            dot_quote(&e.destination)
        );
    }
    out.push_str("}\n");
    out
}

fn mermaid_text(s: &str) -> String {
    // Inside a quoted Mermaid label, `"` ends the label: use its entity code.
    s.replace('"', "#quot;")
}

/// Mermaid flowchart: left to right, one subgraph per namespace, mTLS edges solid with a lock,
/// plaintext edges dotted and red.
pub fn render_mermaid(report: &GraphReport) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    for (i, n) in report.nodes.iter().enumerate() {
        ids.insert(n.id.as_str(), format!("n{i}"));
    }
    for (i, (ns, nodes)) in by_namespace(report).iter().enumerate() {
        let indent = if ns.is_some() { "    " } else { "  " };
        if let Some(ns) = ns {
            let _ = writeln!(out, "  subgraph ns{i}[\"{}\"]", mermaid_text(ns));
        }
        for n in nodes {
            let label = format!(
                "{}<br/><small>{}</small>",
                mermaid_text(node_name(n)),
                mermaid_text(&node_detail(n))
            );
            let id = &ids[n.id.as_str()];
            if n.id == UNKNOWN_NODE {
                let _ = writeln!(out, "{indent}{id}((\"{label}\"))");
            } else {
                let _ = writeln!(out, "{indent}{id}[\"{label}\"]");
            }
        }
        if ns.is_some() {
            out.push_str("  end\n");
        }
    }
    let mut styles = String::new();
    for (i, e) in report.edges.iter().enumerate() {
        let (s, d) = (&ids[e.source.as_str()], &ids[e.destination.as_str()]);
        if is_mtls(e) {
            let _ = writeln!(out, "  {s} -->|\"🔒 {}\"| {d}", mermaid_text(&edge_label(e)));
            let _ = writeln!(styles, "  linkStyle {i} stroke:{GREEN},stroke-width:2px");
        } else {
            let _ = writeln!(
                out,
                "  {s} -.->|\"{}<br/>{}\"| {d}",
                mermaid_text(&edge_label(e)),
                e.verdict
            );
            let _ = writeln!(
                styles,
                "  linkStyle {i} stroke:{RED},stroke-width:2px,stroke-dasharray:6 4"
            );
        }
    }
    out.push_str(&styles);
    out
}

/// Escapes text for HTML and XML (content and attribute values).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One self-contained HTML page: the SVG picture and the edge table. No script, no network.
pub fn render_html(report: &GraphReport, svg: &str) -> String {
    let mut out = String::new();
    let scope = report
        .namespaces
        .as_ref()
        .map_or_else(|| "all namespaces".to_string(), |ns| ns.join(", "));
    let title = format!("mTLS graph: {scope}");
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>{}</title>", xml_escape(&title));
    out.push_str(
        "<style>\nbody{font-family:sans-serif;margin:1.5em;color:#212121}\n\
         table{border-collapse:collapse;margin-top:1em}\n\
         th,td{border:1px solid #cfd8dc;padding:4px 8px;text-align:left}\n\
         th{background:#eceff1}\ntd.num{text-align:right}\n\
         .rejected{color:#b71c1c;font-weight:bold}\n.breaks-under-strict{color:#c62828}\n\
         .unknown{color:#e65100}\n.plaintext-ok{color:#616161}\n.mtls{color:#2e7d32}\n\
         .note{color:#455a64}\n</style>\n</head>\n<body>\n",
    );
    let _ = writeln!(out, "<h1>{}</h1>", xml_escape(&title));
    let _ = writeln!(out, "<p>{}</p>", xml_escape(&telemetry_line(&report.telemetry)));
    out.push_str(
        svg.trim_start_matches(|c| c != '<')
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
    );
    out.push_str("\n<table>\n<thead><tr>");
    for h in [
        "Source",
        "Destination",
        "Protocol",
        "Requests",
        "mTLS",
        "Mode",
        "Verdict",
        "Principals",
        "Ports",
    ] {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for e in &report.edges {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"{v}\">{v}</td><td>{}</td><td>{}</td></tr>",
            xml_escape(&e.source),
            xml_escape(&e.destination),
            protocol_label(e.protocol),
            e.requests,
            percent_label(e.mtls_percent),
            xml_escape(e.destination_mode.as_deref().unwrap_or("?")),
            xml_escape(&e.principals.join(", ")),
            e.ports.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
            v = e.verdict,
        );
    }
    out.push_str("</tbody>\n</table>\n");
    for n in &report.notes {
        let _ = writeln!(out, "<p class=\"note\">Note: {}</p>", xml_escape(n));
    }
    for e in &report.telemetry.errors {
        let _ = writeln!(out, "<p class=\"note\">Warning: {}</p>", xml_escape(e));
    }
    out.push_str("</body>\n</html>\n");
    out
}
