//! Unknown is never "yes": a `--require` verdict that could not read what it depends on fails
//! as "cannot be verified", and counts or modes that could not be read show as `?` / null.

mod common;

use common::*;

/// Everything `status` reads except pods.
fn no_pods_user() -> User {
    User::new("nopods", "nopods-token").allow(Rule::new(
        &["get", "list"],
        &[
            "namespaces",
            "services",
            "peerauthentications",
            "destinationrules",
            "configmaps",
        ],
    ))
}

#[test]
fn require_cannot_be_verified_without_pods() {
    let lab = Lab::start(Scenario::lab().user(no_pods_user()));
    // The lab's workloads are PERMISSIVE: with the pods hidden, nothing shows a violation.
    let run = lab.plugin_as("nopods", &["status", "istioinaction", "--require", "strict"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l
                == "require STRICT: cannot be verified: could not read pods in namespace \"istioinaction\""),
        "{}",
        run.stdout
    );
    // Counts that could not be read are `?`, not 0/0.
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("istioinaction "))
        .expect("namespace row");
    assert!(row.split_whitespace().any(|c| c == "?"), "{row}");
    assert!(!row.contains("0/0"), "{row}");

    let run = lab.plugin_as(
        "nopods",
        &["status", "istioinaction", "--require", "strict", "-o", "json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["require"]["verified"], false, "{doc}");
    assert_eq!(doc["require"]["satisfied"], false, "{doc}");
    assert_eq!(
        doc["require"]["unverified"][0],
        "pods in namespace \"istioinaction\""
    );
    assert!(doc["namespaces"][0]["pods"].is_null(), "{doc}");
    assert!(doc["namespaces"][0]["meshedPods"].is_null(), "{doc}");
    assert!(run.stderr.contains("cannot be verified"), "{}", run.stderr);

    // With everything readable the same check is verified (and fails on the real violations).
    let run = lab.plugin(&["status", "istioinaction", "--require", "strict", "-o", "json"]);
    let doc = run.json();
    assert_eq!(doc["require"]["verified"], true, "{doc}");
    assert!(
        doc["namespaces"][0]["pods"].as_u64().is_some_and(|n| n > 0),
        "{doc}"
    );
}

#[test]
fn unreadable_mesh_wide_policies_are_not_istios_default() {
    let user = User::new("nomesh", "nomesh-token")
        .allow(Rule::new(
            &["get", "list"],
            &["namespaces", "pods", "services", "destinationrules", "configmaps"],
        ))
        .allow(Rule::new(&["get", "list"], &["peerauthentications"]).in_namespaces(&["istioinaction"]));
    let lab = Lab::start(Scenario::lab().user(user));
    let run = lab.plugin_as("nomesh", &["status", "istioinaction", "--require", "permissive"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .starts_with("Mesh-wide default: ? (the PeerAuthentications of istio-system could not be read)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Istio's default"), "{}", run.stdout);
    let run = lab.plugin_as("nomesh", &["status", "istioinaction", "-o", "json"]);
    let doc = run.json();
    assert!(
        doc["mesh"]["mode"].is_null() && doc["mesh"]["level"].is_null(),
        "{doc}"
    );
}

/// A user allowed only in `istioinaction` (and the mesh config's namespace) cannot see the
/// DestinationRule in `default` that disables TLS toward it: the review refuses instead of
/// passing on what it could not read.
#[test]
fn enable_refuses_when_a_read_the_review_needs_was_denied() {
    let lab = Lab::start(
        Scenario::lab().user(
            User::new("ns-admin", "ns-admin-token")
                .allow(Rule::new(&["*"], &["*"]).in_namespaces(&["istioinaction", "istio-system"])),
        ),
    );
    lab.put_yaml(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web-api-plaintext
  namespace: default
spec:
  host: web-api.istioinaction.svc.cluster.local
  trafficPolicy:
    tls:
      mode: DISABLE
",
    );
    lab.sim().clear_requests();
    for dry in [&["--dry-run=client"][..], &["--dry-run=server"], &[]] {
        let mut args = vec!["enable", "istioinaction", "--strict"];
        args.extend_from_slice(dry);
        let run = lab.plugin_as("ns-admin", &args);
        assert_eq!(run.code, 1, "{dry:?}: {run:?}");
        // One `error:` line names the refusal; every unread source is listed.
        let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{dry:?}: {}", run.stderr);
        assert!(
            errors[0].starts_with("error: refusing to change peerauthentication.security.istio.io/default: the review could not read "),
            "{dry:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("the review could not read destinationrules cluster-wide: "),
            "{dry:?}: {}",
            run.stderr
        );
        assert!(!run.stdout.contains(" created"), "{}", run.stdout);
    }
    assert!(
        lab.requests().iter().all(|r| !r.is_persisted_write()),
        "nothing written"
    );
    // --force writes and says what it overrode.
    let run = lab.plugin_as("ns-admin", &["enable", "istioinaction", "--strict", "--force"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(
            "warning: --force: writing despite: the review could not read destinationrules cluster-wide"
        ),
        "{}",
        run.stderr
    );
}

/// A namespace whose own PeerAuthentications cannot be read: a hidden policy may decide its
/// mode, so the mode (and its workloads') is unknown, not the mesh-wide default it falls to.
#[test]
fn unreadable_namespace_policies_leave_its_mode_unknown() {
    let user = User::new("nonspa", "nonspa-token")
        .allow(Rule::new(
            &["get", "list"],
            &["namespaces", "pods", "services", "destinationrules", "configmaps"],
        ))
        .allow(
            Rule::new(&["get", "list"], &["peerauthentications"]).in_namespaces(&["istio-system", "default"]),
        );
    let lab = Lab::start(Scenario::lab().user(user));
    // The hidden policy makes istioinaction STRICT; the user cannot see it.
    lab.put_yaml(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: istioinaction\nspec:\n  mtls:\n    mode: STRICT\n",
    );
    let run = lab.plugin_as("nonspa", &["status", "istioinaction", "default", "-o", "wide"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("could not read peerauthentications in namespace \"istioinaction\""),
        "{}",
        run.stderr
    );
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("istioinaction "))
        .expect("namespace row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..3], ["?", "?"], "mode and policy unknown: {row}");
    assert!(!row.contains("PERMISSIVE"), "{row}");
    assert!(
        row.ends_with("? (its PeerAuthentications could not be read)"),
        "readiness unknown: {row}"
    );
    for line in run
        .stdout
        .lines()
        .filter(|l| l.starts_with("istioinaction "))
        .skip(1)
    {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[4], "?", "workload mode unknown: {line}");
    }
    // The readable namespace next to it keeps its answer.
    let row = run.stdout.lines().find(|l| l.starts_with("default ")).unwrap();
    assert!(row.contains("PERMISSIVE"), "{row}");

    let doc = lab
        .plugin_as("nonspa", &["status", "istioinaction", "-o", "json"])
        .json();
    let ns = &doc["namespaces"][0];
    assert!(
        ns["mode"].is_null() && ns["policy"].is_null() && ns["level"].is_null(),
        "{ns}"
    );
    assert!(ns["strictReady"].is_null(), "{ns}");
    assert_eq!(ns["pods"], 4, "pods could be read: {ns}");
    for w in doc["workloads"].as_array().unwrap() {
        assert!(w["mode"].is_null(), "{w}");
        assert_eq!(w["modes"], serde_json::json!([]), "{w}");
    }
    // And a verdict resting on it cannot be verified.
    let run = lab.plugin_as("nonspa", &["status", "istioinaction", "--require", "permissive"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "require PERMISSIVE: cannot be verified: could not read peerauthentications in namespace \"istioinaction\""
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{}",
        run.stderr
    );
}
