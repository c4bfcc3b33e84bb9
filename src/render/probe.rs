//! The `probe` report: expected and observed results side by side, and the certificate report;
//! or the same as JSON.

use crate::certs;
use crate::error::Error;
use crate::model::Mode;
use crate::probe::{CertsReport, Expected, Origin, TrafficReport, Verdict};
use crate::style::{Role, paint};

use super::table::{Cell, Table};
use super::to_json;

fn mode_role(m: Mode) -> Role {
    match m {
        Mode::Strict => Role::Good,
        Mode::Permissive => Role::Warn,
        Mode::Disable => Role::Bad,
    }
}

/// The traffic report as a table (or JSON).
pub fn render_traffic(report: &TrafficReport, json: bool) -> Result<String, Error> {
    if json {
        return to_json(report);
    }
    let t = &report.target;
    let mut s = format!(
        "Probing {} (service {}/{} port {} -> target port {})\n",
        t.url, t.namespace, t.service, t.port, t.target_port
    );
    for e in &report.enforcement {
        let en = &e.enforcement;
        let state = if !en.target_in_mesh {
            " (not in the mesh: nothing enforces it)".to_string()
        } else if en.port_bypassed {
            " (port excluded from interception: not enforced)".to_string()
        } else {
            String::new()
        };
        s.push_str(&format!(
            "Policy on port {}: {} ({}){state} for {}\n",
            t.target_port,
            paint(en.mode.as_str(), mode_role(en.mode)),
            e.source,
            plural_pods(&e.pods)
        ));
    }
    let mut auto = report
        .results
        .iter()
        .filter(|r| r.chosen == Origin::Auto)
        .peekable();
    if auto.peek().is_some() {
        let list: Vec<String> = auto
            .map(|r| {
                format!(
                    "{}/{} ({})",
                    r.namespace,
                    r.pod,
                    if r.mesh.is_meshed() {
                        "in the mesh"
                    } else {
                        "outside the mesh"
                    }
                )
            })
            .collect();
        s.push_str(&format!(
            "Clients picked automatically (choose with --from): {}\n",
            list.join(", ")
        ));
    }
    s.push('\n');
    let mut table = Table::new(&["Client", "Mesh", "Expected", "Observed", "Verdict", "Why"]);
    for r in &report.results {
        let verdict_role = match r.verdict {
            Verdict::Pass => Role::Good,
            Verdict::Inconclusive => Role::Warn,
            _ => Role::Bad,
        };
        table.row(vec![
            format!("{}/{}", r.namespace, r.pod).into(),
            r.mesh.as_str().into(),
            match r.expected {
                Some(Expected::Accept) => "accepted".into(),
                Some(Expected::Reject) => "rejected".into(),
                None => "either".into(),
            },
            r.observed.words().into(),
            Cell::styled(r.verdict.as_str(), verdict_role),
            r.reason.clone().into(),
        ]);
    }
    s.push_str(&table.render());
    Ok(s)
}

fn plural_pods(p: &[String]) -> String {
    match p {
        [one] => format!("pod {one}"),
        many => format!("{} pods ({})", many.len(), many.join(", ")),
    }
}

/// The certificate report as text (or JSON).
pub fn render_certs(r: &CertsReport, json: bool) -> Result<String, Error> {
    if json {
        return to_json(r);
    }
    let mut s = format!(
        "Pod {}/{} (service account {}, {})\nExpected identity: {}\n",
        r.namespace, r.pod, r.service_account, r.mesh, r.expected_spiffe_id
    );
    if let Some(c) = &r.certificates {
        let field = |s: &mut String, k: &str, v: &str| s.push_str(&format!("  {:<12}{v}\n", format!("{k}:")));
        let describe = |s: &mut String, title: &str, cert: &certs::CertSummary| {
            s.push_str(&format!("{title}\n"));
            field(s, "Serial", &cert.serial);
            if !cert.subject.is_empty() {
                field(s, "Subject", &cert.subject);
            }
            field(
                s,
                "Issuer",
                if cert.issuer.is_empty() { "-" } else { &cert.issuer },
            );
            if let Some(id) = &cert.spiffe_id {
                field(s, "SPIFFE ID", id);
            }
            field(s, "Not before", &cert.not_before);
            field(s, "Not after", &cert.not_after);
        };
        s.push('\n');
        describe(&mut s, "Workload certificate", &c.leaf);
        if c.leaf.spiffe_id.is_none() {
            field(&mut s, "SPIFFE ID", "- (no spiffe:// URI SAN)");
        }
        let remaining = if c.remaining_seconds < 0 {
            paint(
                &format!(
                    "expired {} ago (lifetime {})",
                    certs::human_duration(-c.remaining_seconds),
                    certs::human_duration(c.lifetime_seconds)
                ),
                Role::Bad,
            )
        } else {
            format!(
                "{} of {}",
                certs::human_duration(c.remaining_seconds),
                certs::human_duration(c.lifetime_seconds)
            )
        };
        field(&mut s, "Remaining", &remaining);
        field(
            &mut s,
            "Used",
            &format!(
                "{:.0}% of its lifetime; Istio rotates at {:.0}% ({})",
                c.elapsed_fraction * 100.0,
                certs::ROTATION_RATIO * 100.0,
                c.rotation_due
            ),
        );
        for (i, ca) in c.chain.iter().enumerate() {
            describe(&mut s, &format!("Chain certificate {}", i + 1), ca);
        }
        for root in &c.roots {
            describe(&mut s, "Root certificate (ROOTCA)", root);
        }
        s.push('\n');
        s.push_str(&match &c.verify_error {
            None => format!(
                "Chain: {}\n",
                paint("verifies against the root (ROOTCA)", Role::Good)
            ),
            Some(e) => format!("Chain: {}\n", paint(&format!("does NOT verify: {e}"), Role::Bad)),
        });
    }
    if r.findings.is_empty() {
        s.push_str("Findings: none\n");
    } else {
        s.push_str("Findings:\n");
        for f in &r.findings {
            let role = if f.severity == "error" {
                Role::Bad
            } else {
                Role::Warn
            };
            s.push_str(&format!(
                "  {} {}: {}\n",
                paint(f.severity, role),
                f.code,
                f.message
            ));
        }
    }
    Ok(s)
}
