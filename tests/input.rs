//! Inputs are checked before any request, with kubectl's habits: `-v 6`/`-v=6`/`-v6`, clap's
//! "did you mean", usage errors pointing to the subcommand's own `--help`, names validated.

mod common;

use common::*;

fn usage_error(run: &Run) -> &str {
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    run.stderr.trim_end()
}

#[test]
fn every_kubectl_verbosity_spelling_logs_requests() {
    let lab = Lab::start(Scenario::lab());
    for spelling in [&["-v", "6"][..], &["-v=6"], &["-v6"], &["--v", "6"], &["-v"]] {
        let mut args = vec!["status", "istioinaction"];
        args.extend_from_slice(spelling);
        let run = lab.plugin(&args);
        assert_eq!(run.code, 0, "{spelling:?}: {run:?}");
        assert!(
            run.stderr.lines().any(|l| l.starts_with("I GET https://")),
            "{spelling:?} logs requests: {}",
            run.stderr
        );
        // `6` is the level, not a second namespace.
        assert!(run.stdout.contains("istioinaction"), "{}", run.stdout);
        assert!(!run.stderr.contains("namespaces \"6\""), "{}", run.stderr);
    }
}

#[test]
fn typos_get_clap_suggestions_and_the_subcommand_help() {
    let lab = Lab::start(Scenario::lab());
    let run = lab.plugin(&["stauts"]);
    assert_eq!(
        usage_error(&run),
        "error: unrecognized subcommand 'stauts' (did you mean 'status'?); see 'kubectl mtls --help'"
    );
    let run = lab.plugin(&["status", "--requir", "strict"]);
    assert_eq!(
        usage_error(&run),
        "error: unexpected argument '--requir' found (did you mean '--require'?); see 'kubectl mtls status --help'"
    );
    // clap's message has no usage line here: the hint still names the subcommand.
    let run = lab.plugin(&["enable", "istioinaction", "--strict", "--dry-run=bogus"]);
    assert!(
        usage_error(&run).ends_with("; see 'kubectl mtls enable --help'"),
        "{}",
        run.stderr
    );
    assert!(lab.requests().is_empty(), "usage errors send nothing");
}

#[test]
fn a_namespace_that_is_not_a_name_never_reaches_a_request_path() {
    let lab = Lab::start(Scenario::lab());
    for args in [
        &["status", "-n", "x/../istioinaction"][..],
        &["enable", "-n", "x/../istioinaction", "--strict"],
        &["diff", "--strict", "-n", "Istio_Action"],
    ] {
        let run = lab.plugin(args);
        let line = usage_error(&run);
        assert!(line.starts_with("error: invalid namespace name "), "{line}");
    }
    assert!(lab.requests().is_empty(), "{:?}", lab.requests());
}

#[test]
fn names_for_the_mesh_config_and_clients_are_checked_before_any_request() {
    let lab = Lab::start(Scenario::lab());
    lab.sim().clear_requests();
    for (args, flag) in [
        (
            &["status", "--istio-namespace", "../kube-system"][..],
            "--istio-namespace",
        ),
        (&["status", "--revision", "canary/../x"], "--revision"),
        (
            &["enable", "istioinaction", "--strict", "--istio-namespace", "a/b"],
            "--istio-namespace",
        ),
        (
            &["diff", "istioinaction", "--strict", "--revision", "Bad"],
            "--revision",
        ),
        (
            &[
                "probe",
                "web-api.istioinaction:8080",
                "--from-namespace",
                "x/../y",
            ],
            "--from-namespace",
        ),
    ] {
        let run = lab.plugin(args);
        let line = usage_error(&run);
        assert!(line.contains(&format!("for {flag}")), "{args:?}: {line}");
    }
    assert!(lab.requests().is_empty(), "{:?}", lab.requests());
}
