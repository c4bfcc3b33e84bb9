//! Output as a user reads it (issue 10, item 7): large dry runs summarised with exact totals,
//! one `error:` line per refusal, and `--require` verdicts worded for each mode.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

/// The lines of the section that starts with `title`, up to the next unindented line.
fn section<'a>(text: &'a str, title: &str) -> (String, Vec<&'a str>) {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(title));
    let head = lines.next().unwrap_or_else(|| panic!("no {title:?} in:\n{text}"));
    (
        head.to_string(),
        lines.take_while(|l| l.starts_with("  ")).collect(),
    )
}

/// Totals of the full table of workloads (`--show-all`): namespaces, workloads, pods, pods
/// outside the mesh; each workload counted once (port rows share its pods).
fn totals_of_full_table(rows: &[&str]) -> (usize, usize, usize, usize) {
    let mut workloads: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for row in rows.iter().skip(1) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        if cells.get(2) != Some(&"->") {
            continue; // "ns/w:8080  STRICT  port keeps its own setting"
        }
        let workload = cells[0].split(':').next().unwrap().to_string();
        let pods: usize = cells[4].parse().expect("pods");
        let rest = cells[5..].join(" ");
        let outside = if rest == "in mesh" {
            0
        } else if rest.starts_with("outside the mesh") {
            pods
        } else {
            rest.trim_start_matches('(')
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("pods cell {rest:?}"))
        };
        workloads.insert(workload, (pods, outside));
    }
    let namespaces: BTreeSet<&str> = workloads.keys().map(|w| w.split('/').next().unwrap()).collect();
    let pods = workloads.values().map(|v| v.0).sum();
    let outside = workloads.values().map(|v| v.1).sum();
    (namespaces.len(), workloads.len(), pods, outside)
}

#[test]
fn a_mesh_wide_dry_run_over_a_big_cluster_is_a_summary_with_exact_totals() {
    let lab = Lab::start(Scenario::scale(60, 3000, 7));
    let args = ["enable", "--mesh", "--strict", "--dry-run"];
    let short = lab.plugin(&args);
    let full = lab.plugin(&[&args[..], &["--show-all"]].concat());
    // The same verdict either way.
    assert_eq!(short.code, full.code, "{}", short.stderr);
    let full_lines = full.stdout.lines().count() + full.stderr.lines().count();
    let short_lines = short.stdout.lines().count() + short.stderr.lines().count();
    assert!(full_lines > 700, "the scenario is big: {full_lines} lines");
    assert!(
        short_lines <= 90,
        "{short_lines} lines:\n{}\n{}",
        short.stdout,
        short.stderr
    );

    let title = "Workloads whose effective mTLS mode changes (dry run)";
    let (_, rows) = section(&full.stdout, title);
    let (namespaces, workloads, pods, outside) = totals_of_full_table(&rows);
    assert!(workloads > 500, "{workloads}");
    let (head, summary) = section(&short.stdout, title);
    let outside_words = if outside == 0 {
        String::new()
    } else {
        format!(", {outside} outside the mesh")
    };
    assert!(
        head.starts_with(&format!(
            "{title}: {workloads} workloads ({pods} pods{outside_words}) in {namespaces} namespaces"
        )),
        "{head}\nfull table: {namespaces} namespaces, {workloads} workloads, {pods} pods, {outside} outside"
    );
    assert!(
        head.ends_with("summarised (--show-all lists every one):"),
        "{head}"
    );
    // The summary's rows add up to the same totals.
    let header: Vec<&str> = summary[0].split_whitespace().collect();
    let column = header
        .iter()
        .position(|h| *h == "WORKLOADS")
        .expect("WORKLOADS column")
        + 1;
    let summed: usize = summary[1..]
        .iter()
        .map(|r| {
            r.split_whitespace()
                .nth(column)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(summed, workloads, "{}", short.stdout);
    // Long lists elsewhere are cut too, never hiding a single line.
    for text in [&short.stdout, &short.stderr] {
        assert!(!text.contains(" and 1 more"), "{text}");
    }
    // A refusal is one `error:` line, whatever the number of reasons.
    if short.code == 1 {
        let errors = short.stderr.lines().filter(|l| l.starts_with("error:")).count();
        assert_eq!(errors, 1, "{}", short.stderr);
        assert_eq!(full.stderr.lines().filter(|l| l.starts_with("error:")).count(), 1);
    }
}

#[test]
fn a_refused_enable_prints_one_error_line_and_writes_nothing() {
    let lab = Lab::start(Scenario::lab());
    // Two DestinationRules disabling TLS toward workloads that would become STRICT: two reasons.
    for (name, host) in [("web-api-plain", "web-api"), ("history-plain", "history")] {
        lab.put_yaml(&format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: {name}\n  namespace: istioinaction\nspec:\n  host: {host}.istioinaction.svc.cluster.local\n  trafficPolicy:\n    tls:\n      mode: DISABLE\n"
        ));
    }
    let run = lab.plugin(&["enable", "istioinaction", "--strict"]);
    assert_eq!(run.code, 1, "{run:?}");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with("error: refusing to change peerauthentication.security.istio.io/default: DestinationRuleDisablesTls"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\n  also: DestinationRuleDisablesTls"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with(
            "  nothing was written: the review shows this change would break traffic or not take effect (--force writes anyway)\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        lab.sim()
            .cluster()
            .get(
                "security.istio.io/v1",
                "PeerAuthentication",
                "istioinaction",
                "default"
            )
            .is_none()
    );
}

#[test]
fn require_verdicts_name_what_each_mode_needs_with_one_error_line() {
    let lab = Lab::start(Scenario::lab());
    lab.put_yaml(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: istioinaction\nspec:\n  mtls:\n    mode: STRICT\n",
    );
    let run = lab.plugin(&["status", "istioinaction", "--require", "disable"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "\nrequire DISABLE: 4 workloads accept mutual TLS only, DISABLE requires plaintext to be accepted:\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr.trim_end(),
        "error: require DISABLE is not satisfied: 4 workloads fall short (listed above)"
    );
    let run = lab.plugin(&["status", "istioinaction", "--require", "strict"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .ends_with("require STRICT: satisfied: every selected workload accepts mutual TLS only\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("error:"), "{}", run.stderr);
}
