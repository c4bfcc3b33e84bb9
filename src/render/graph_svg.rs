//! The `graph` picture as SVG, laid out by the plugin itself, left to right like Kiali.
//!
//! Layout: a layered drawing. Each node's column is the longest caller chain leading to it
//! (cycles broken at the edges a depth-first walk finds going back), so callers stand left of
//! what they call. Each namespace is a horizontal band drawn as a box around its nodes (bands
//! are stacked, so boxes never overlap); inside a band, nodes of one column are stacked in the
//! order of their callers' positions. mTLS edges are solid green with a lock drawn in shapes
//! (no font needed), plaintext edges dashed red with their verdict. Text uses the generic
//! `sans-serif` family only, and the legend explains every mark.
//!
//! Why not a layout crate: layout-rs (the pure-Rust Graphviz-like one) places nodes without
//! clusters, so namespace boxes drawn around its positions could overlap; the graphs drawn here
//! are small and layered, and the band layout keeps each namespace in one box.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::graph::{GraphReport, NodeReport, edge_label, is_mtls, node_detail, node_name, xml_escape};
use crate::engine::UNKNOWN_NODE;

const MARGIN: f64 = 20.0;
const TITLE_H: f64 = 44.0;
const NODE_W: f64 = 190.0;
const NODE_H: f64 = 44.0;
const GAP_X: f64 = 170.0;
const GAP_Y: f64 = 44.0;
const BAND_PAD: f64 = 14.0;
const BAND_LABEL: f64 = 20.0;
const BAND_GAP: f64 = 22.0;
const LEGEND_H: f64 = 92.0;
const MIN_W: f64 = 640.0;

const GREEN: &str = "#2e7d32";
const RED: &str = "#c62828";
const ORANGE: &str = "#ef6c00";
const GREY: &str = "#78909c";
const INK: &str = "#212121";

/// Where a node is drawn (top-left corner).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Column (longest caller chain).
    pub rank: usize,
}

/// A namespace box.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// The namespace (`None` for the unknown caller, drawn without a box).
    pub namespace: Option<String>,
    /// Left, top, width, height.
    pub rect: (f64, f64, f64, f64),
}

/// The computed layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// One per node of the report, in its order.
    pub nodes: Vec<Placed>,
    /// Namespace boxes, top to bottom.
    pub bands: Vec<Band>,
    /// Canvas width.
    pub width: f64,
    /// Canvas height.
    pub height: f64,
}

/// Columns: the longest path from a node without callers, on the graph without back edges.
fn ranks(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut out_adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(s, d) in edges {
        if s != d {
            out_adj[s].push(d);
        }
    }
    // Depth-first walk (iterative) marking back edges.
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); n];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(top) = stack.last_mut() {
            let v = top.0;
            if top.1 < out_adj[v].len() {
                let w = out_adj[v][top.1];
                top.1 += 1;
                match state[w] {
                    0 => {
                        forward[v].push(w);
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    2 => forward[v].push(w),
                    _ => {} // back edge: ignored for ranking
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    // Longest path over the acyclic rest, in topological order (Kahn).
    let mut indeg = vec![0usize; n];
    for f in &forward {
        for &w in f {
            indeg[w] += 1;
        }
    }
    let mut queue: Vec<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    let mut rank = vec![0usize; n];
    let mut head = 0;
    while head < queue.len() {
        let v = queue[head];
        head += 1;
        for &w in &forward[v] {
            rank[w] = rank[w].max(rank[v] + 1);
            indeg[w] -= 1;
            if indeg[w] == 0 {
                queue.push(w);
            }
        }
    }
    rank
}

/// Lays out the report's nodes.
pub fn layout(report: &GraphReport) -> Layout {
    let index: BTreeMap<&str, usize> = report
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let edges: Vec<(usize, usize)> = report
        .edges
        .iter()
        .filter_map(|e| {
            Some((
                *index.get(e.source.as_str())?,
                *index.get(e.destination.as_str())?,
            ))
        })
        .collect();
    let rank = ranks(report.nodes.len(), &edges);
    let max_rank = rank.iter().copied().max().unwrap_or(0);

    // Bands: the unknown caller first, then namespaces by their leftmost column and name.
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, n) in report.nodes.iter().enumerate() {
        groups.entry(n.namespace.as_deref()).or_default().push(i);
    }
    let mut order: Vec<(Option<&str>, Vec<usize>)> = groups.into_iter().collect();
    order.sort_by_key(|(ns, members)| {
        (
            ns.is_some(),
            members.iter().map(|&i| rank[i]).min().unwrap_or(0),
            ns.map(str::to_string),
        )
    });

    let col_x = |r: usize| MARGIN + BAND_PAD + r as f64 * (NODE_W + GAP_X);
    let mut placed = vec![
        Placed {
            x: 0.0,
            y: 0.0,
            rank: 0
        };
        report.nodes.len()
    ];
    let mut bands = Vec::new();
    let mut y = MARGIN + TITLE_H;
    for (ns, members) in &order {
        let mut columns: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &i in members {
            columns.entry(rank[i]).or_default().push(i);
        }
        let top = y + if ns.is_some() { BAND_LABEL + BAND_PAD } else { 0.0 };
        let mut rows = 0usize;
        for (&r, nodes) in &mut columns {
            // Order by the mean row of their callers already placed, then by id.
            let key = |i: usize| -> f64 {
                let ys: Vec<f64> = edges
                    .iter()
                    .filter(|&&(s, d)| d == i && s != i && rank[s] < r)
                    .map(|&(s, _)| placed[s].y)
                    .collect();
                if ys.is_empty() {
                    f64::MAX
                } else {
                    ys.iter().sum::<f64>() / ys.len() as f64
                }
            };
            nodes.sort_by(|&a, &b| {
                key(a)
                    .total_cmp(&key(b))
                    .then_with(|| report.nodes[a].id.cmp(&report.nodes[b].id))
            });
            for (row, &i) in nodes.iter().enumerate() {
                placed[i] = Placed {
                    x: col_x(r),
                    y: top + row as f64 * (NODE_H + GAP_Y),
                    rank: r,
                };
            }
            rows = rows.max(nodes.len());
        }
        let inner_h = rows as f64 * (NODE_H + GAP_Y) - GAP_Y;
        let first = *columns.keys().next().unwrap_or(&0);
        let last = *columns.keys().last().unwrap_or(&0);
        let (bx, bw) = (
            col_x(first) - BAND_PAD,
            col_x(last) - col_x(first) + NODE_W + 2.0 * BAND_PAD,
        );
        let h = if ns.is_some() {
            BAND_LABEL + 2.0 * BAND_PAD + inner_h
        } else {
            inner_h
        };
        bands.push(Band {
            namespace: ns.map(str::to_string),
            rect: (bx, y, bw, h),
        });
        y += h + BAND_GAP;
    }
    let width = (col_x(max_rank) + NODE_W + BAND_PAD + MARGIN).max(MIN_W);
    let height = y + LEGEND_H + MARGIN;
    Layout {
        nodes: placed,
        bands,
        width,
        height,
    }
}

fn f(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// A padlock drawn with shapes, centred on (x, y); `class="lock"`.
fn lock(out: &mut String, x: f64, y: f64) {
    let _ = writeln!(
        out,
        "<g class=\"lock\" transform=\"translate({},{})\"><path d=\"M-3.5,-1 v-3 a3.5,3.5 0 0 1 7,0 v3\" fill=\"none\" stroke=\"{GREEN}\" stroke-width=\"1.8\"/><rect x=\"-5.5\" y=\"-1.5\" width=\"11\" height=\"8.5\" rx=\"1.5\" fill=\"{GREEN}\"/></g>",
        f(x),
        f(y)
    );
}

fn mode_colour(n: &NodeReport) -> &'static str {
    match n.mode.as_deref() {
        Some("STRICT") => GREEN,
        Some(m) if m.contains("PERMISSIVE") => ORANGE,
        Some(_) => RED,
        None => GREY,
    }
}

/// The picture: title, namespace boxes, nodes, edges (mTLS with a lock), legend.
pub fn render_svg(report: &GraphReport) -> String {
    let lay = layout(report);
    let index: BTreeMap<&str, usize> = report
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">",
        w = f(lay.width),
        h = f(lay.height)
    );
    let scope = report
        .namespaces
        .as_ref()
        .map_or_else(|| "all namespaces".to_string(), |ns| ns.join(", "));
    let _ = writeln!(out, "<title>mTLS graph: {}</title>", xml_escape(&scope));
    out.push_str("<defs>\n");
    for (id, colour) in [("arrow-mtls", GREEN), ("arrow-plaintext", RED)] {
        let _ = writeln!(
            out,
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker>"
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"16\" font-weight=\"bold\" fill=\"{INK}\">mTLS graph: {}</text>",
        f(MARGIN),
        f(MARGIN + 14.0),
        xml_escape(&scope)
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"#546e7a\">{}</text>",
        f(MARGIN),
        f(MARGIN + 32.0),
        xml_escape(&super::graph::telemetry_line(&report.telemetry))
    );

    // Namespace boxes.
    for b in &lay.bands {
        let Some(ns) = &b.namespace else { continue };
        let (x, y, w, h) = b.rect;
        let _ = writeln!(
            out,
            "<g class=\"namespace\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\" fill=\"#f5f7f8\" stroke=\"#90a4ae\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{}\" font-weight=\"bold\" fill=\"#455a64\">{}</text></g>",
            f(x),
            f(y),
            f(w),
            f(h),
            f(x + 10.0),
            f(y + 16.0),
            xml_escape(ns)
        );
    }

    // Edges (under the nodes): each leaves and enters its nodes at its own slot.
    let ends: Vec<Option<(usize, usize)>> = report
        .edges
        .iter()
        .map(|e| {
            Some((
                *index.get(e.source.as_str())?,
                *index.get(e.destination.as_str())?,
            ))
        })
        .collect();
    let slots = slots(&ends, &lay);
    let mut labels = String::new();
    for (k, e) in report.edges.iter().enumerate() {
        let Some((s, d)) = ends[k] else { continue };
        let mtls = is_mtls(e);
        let (class, colour, dash, marker) = if mtls {
            ("edge mtls", GREEN, "", "arrow-mtls")
        } else {
            (
                "edge plaintext",
                RED,
                " stroke-dasharray=\"7 4\"",
                "arrow-plaintext",
            )
        };
        let (path, mx, my) = edge_path(&lay, s, d, slots[k]);
        let _ = writeln!(
            out,
            "<path class=\"{class}\" data-source=\"{}\" data-destination=\"{}\" data-verdict=\"{}\" d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash} marker-end=\"url(#{marker})\"/>",
            xml_escape(&e.source),
            xml_escape(&e.destination),
            e.verdict
        );
        let halo = "paint-order=\"stroke\" stroke=\"#ffffff\" stroke-width=\"4\" stroke-linejoin=\"round\"";
        if mtls {
            lock(&mut labels, mx, my - 4.0);
            let _ = writeln!(
                labels,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{GREEN}\" {halo}>{}</text>",
                f(mx),
                f(my + 17.0),
                xml_escape(&edge_label(e))
            );
        } else {
            let _ = writeln!(
                labels,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{RED}\" {halo}>{}</text>",
                f(mx),
                f(my - 4.0),
                xml_escape(&edge_label(e))
            );
            let _ = writeln!(
                labels,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" font-weight=\"bold\" fill=\"{RED}\" {halo}>{}</text>",
                f(mx),
                f(my + 10.0),
                e.verdict
            );
        }
    }

    // Nodes.
    for (i, n) in report.nodes.iter().enumerate() {
        let p = lay.nodes[i];
        let (fill, rx, dash) = if n.id == UNKNOWN_NODE {
            ("#ffffff", NODE_H / 2.0, " stroke-dasharray=\"4 3\"")
        } else if n.in_scope {
            ("#ffffff", 6.0, "")
        } else {
            ("#eceff1", 6.0, "")
        };
        let _ = writeln!(
            out,
            "<g class=\"node\" data-id=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" fill=\"{fill}\" stroke=\"{}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"{INK}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#546e7a\">{}</text></g>",
            xml_escape(&n.id),
            f(p.x),
            f(p.y),
            f(NODE_W),
            f(NODE_H),
            f(rx),
            mode_colour(n),
            f(p.x + NODE_W / 2.0),
            f(p.y + 18.0),
            xml_escape(&truncate(node_name(n), 26)),
            f(p.x + NODE_W / 2.0),
            f(p.y + 34.0),
            xml_escape(&truncate(&node_detail(n), 32))
        );
    }
    out.push_str(&labels);
    legend(&mut out, lay.height - LEGEND_H - MARGIN + 10.0);
    out.push_str("</svg>\n");
    out
}

/// Where each edge leaves its source and enters its destination: (out slot, out count, in
/// slot, in count), slots ordered by the other end's position so edges do not cross at a node.
fn slots(ends: &[Option<(usize, usize)>], lay: &Layout) -> Vec<(usize, usize, usize, usize)> {
    let n = lay.nodes.len();
    let mut outs: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut ins: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, e) in ends.iter().enumerate() {
        if let Some((s, d)) = *e
            && s != d
        {
            outs[s].push(k);
            ins[d].push(k);
        }
    }
    let pos = |i: usize| (lay.nodes[i].y, lay.nodes[i].x);
    let mut out = vec![(0, 1, 0, 1); ends.len()];
    for v in 0..n {
        outs[v].sort_by(|&a, &b| {
            let (pa, pb) = (pos(ends[a].expect("listed").1), pos(ends[b].expect("listed").1));
            pa.0.total_cmp(&pb.0).then(pa.1.total_cmp(&pb.1)).then(a.cmp(&b))
        });
        for (i, &k) in outs[v].iter().enumerate() {
            out[k].0 = i;
            out[k].1 = outs[v].len();
        }
        ins[v].sort_by(|&a, &b| {
            let (pa, pb) = (pos(ends[a].expect("listed").0), pos(ends[b].expect("listed").0));
            pa.0.total_cmp(&pb.0).then(pa.1.total_cmp(&pb.1)).then(a.cmp(&b))
        });
        for (i, &k) in ins[v].iter().enumerate() {
            out[k].2 = i;
            out[k].3 = ins[v].len();
        }
    }
    out
}

/// The path of one edge and the point where its label goes. Edges to the next column are
/// S-curves; edges that would cross a node on their way (longer forward edges) arch above the
/// nodes in between, and edges going back arch below both ends.
fn edge_path(lay: &Layout, s: usize, d: usize, slot: (usize, usize, usize, usize)) -> (String, f64, f64) {
    let (ps, pd) = (lay.nodes[s], lay.nodes[d]);
    let cubic = |p: [(f64, f64); 4]| {
        let path = format!(
            "M{},{} C{},{} {},{} {},{}",
            f(p[0].0),
            f(p[0].1),
            f(p[1].0),
            f(p[1].1),
            f(p[2].0),
            f(p[2].1),
            f(p[3].0),
            f(p[3].1)
        );
        let mx = (p[0].0 + 3.0 * p[1].0 + 3.0 * p[2].0 + p[3].0) / 8.0;
        let my = (p[0].1 + 3.0 * p[1].1 + 3.0 * p[2].1 + p[3].1) / 8.0;
        (path, mx, my)
    };
    if s == d {
        let (x, y) = (ps.x + NODE_W, ps.y + NODE_H / 2.0);
        return cubic([
            (x, y - 8.0),
            (x + 70.0, y - 50.0),
            (x + 70.0, y + 50.0),
            (x, y + 8.0),
        ]);
    }
    let at = |slot: usize, count: usize| NODE_H * (slot + 1) as f64 / (count + 1) as f64;
    let (x0, y0) = (ps.x + NODE_W, ps.y + at(slot.0, slot.1));
    let (x3, y3) = (pd.x, pd.y + at(slot.2, slot.3));
    // For a peak (or trough) at `apex` in the middle of the curve: both control points at `cy`.
    let through = |apex: f64| (apex - (y0 + y3) / 8.0) / 0.75;
    if x3 <= x0 {
        let bottom = (ps.y.max(pd.y)) + NODE_H + GAP_Y * 0.6;
        let cy = through(bottom);
        return cubic([(x0, y0), (x0 + 90.0, cy), (x3 - 90.0, cy), (x3, y3)]);
    }
    let (lo, hi) = (y0.min(y3) - 6.0, y0.max(y3) + 6.0);
    let blocking_top = lay
        .nodes
        .iter()
        .enumerate()
        .filter(|&(i, p)| i != s && i != d && p.x > x0 && p.x < x3 && p.y < hi && p.y + NODE_H > lo)
        .map(|(_, p)| p.y)
        .reduce(f64::min);
    match blocking_top {
        Some(top) => {
            let cy = through(top - 20.0);
            cubic([(x0, y0), (x0 + 70.0, cy), (x3 - 70.0, cy), (x3, y3)])
        }
        None => {
            let c = ((x3 - x0) / 2.0).max(70.0);
            cubic([(x0, y0), (x0 + c, y0), (x3 - c, y3), (x3, y3)])
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn legend(out: &mut String, top: f64) {
    let x = MARGIN;
    let _ = writeln!(out, "<g class=\"legend\">");
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-weight=\"bold\" fill=\"{INK}\">Legend</text>",
        f(x),
        f(top + 10.0)
    );
    let row1 = top + 30.0;
    let _ = writeln!(
        out,
        "<path d=\"M{},{} h50\" stroke=\"{GREEN}\" stroke-width=\"2\" fill=\"none\"/>",
        f(x),
        f(row1)
    );
    let _ = writeln!(
        out,
        "<g transform=\"translate({},{})\"><path d=\"M-3.5,-1 v-3 a3.5,3.5 0 0 1 7,0 v3\" fill=\"none\" stroke=\"{GREEN}\" stroke-width=\"1.8\"/><rect x=\"-5.5\" y=\"-1.5\" width=\"11\" height=\"8.5\" rx=\"1.5\" fill=\"{GREEN}\"/></g>",
        f(x + 25.0),
        f(row1 - 4.0)
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"{INK}\">mutual TLS only</text>",
        f(x + 60.0),
        f(row1 + 4.0)
    );
    let _ = writeln!(
        out,
        "<path d=\"M{},{} h50\" stroke=\"{RED}\" stroke-width=\"2\" stroke-dasharray=\"7 4\" fill=\"none\"/>",
        f(x + 200.0),
        f(row1)
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"{INK}\">plaintext seen, with its verdict</text>",
        f(x + 260.0),
        f(row1 + 4.0)
    );
    let row2 = top + 56.0;
    for (i, (colour, text)) in [
        (GREEN, "STRICT"),
        (ORANGE, "PERMISSIVE"),
        (RED, "DISABLE / none"),
        (GREY, "outside the mesh or not read"),
    ]
    .iter()
    .enumerate()
    {
        let cx = x + i as f64 * 130.0;
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"12\" rx=\"3\" fill=\"#ffffff\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\" fill=\"{INK}\">{text}</text>",
            f(cx),
            f(row2 - 9.0),
            f(cx + 22.0),
            f(row2 + 1.0)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#546e7a\">Boxes are namespaces; grey nodes are callers from outside the namespaces shown. breaks-under-strict: STRICT would cut it; rejected: fails now.</text>",
        f(x),
        f(top + 80.0)
    );
    out.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_stand_left_of_what_they_call_and_cycles_terminate() {
        // 0 -> 1 -> 2, 3 -> 2, and a cycle 2 -> 1.
        let r = ranks(4, &[(0, 1), (1, 2), (3, 2), (2, 1), (2, 2)]);
        assert_eq!(r[0], 0);
        assert_eq!(r[3], 0);
        assert!(r[1] > r[0] && r[2] > r[1], "{r:?}");
        assert_eq!(ranks(0, &[]), Vec::<usize>::new());
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(f(12.0), "12");
        assert_eq!(f(12.25), "12.3");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
