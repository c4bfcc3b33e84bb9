//! `kubectl mtls diff` against both backends (kube-sim and the real API server, see
//! tests/common): flag mode and `-f` (files, several documents, stdin), exit codes like
//! `kubectl diff`, server dry runs only (kube-sim's request log; those checks run on kube-sim
//! only), KUBECTL_EXTERNAL_DIFF, v1beta1-only clusters, bad manifests.

#[macro_use]
mod common;

use common::*;

fn is_write(r: &RequestRecord) -> bool {
    matches!(
        r.verb.as_str(),
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

/// The writes in kube-sim's log were all dry runs (nothing to check on the real server).
fn assert_only_dry_run_writes(lab: &Lab) {
    let Some(log) = lab.log() else {
        return;
    };
    let writes: Vec<RequestRecord> = log.into_iter().filter(is_write).collect();
    assert!(!writes.is_empty(), "diff compares against the server's dry run");
    assert!(
        writes.iter().all(|r| r.dry_run && r.query.contains("dryRun=All")),
        "{writes:?}"
    );
}

/// Runs the plugin as admin with extra environment and optional stdin.
fn plugin_with(lab: &Lab, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    lab.plugin_with(args, env, stdin)
}

on_both_backends! {
fn differences_exit_1_and_show_yaml_and_effect(backend) {
    let lab = backend.start(Scenario::lab());
    lab.clear_requests();
    let run = lab.plugin(&["diff", "istioinaction", "--strict"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.starts_with(
            "--- live/security.istio.io.v1.PeerAuthentication.istioinaction.default\n+++ merged/security.istio.io.v1.PeerAuthentication.istioinaction.default\n@@ -0,0 +1,"
        ),
        "{out}"
    );
    assert!(out.contains("+    mode: STRICT\n"), "{out}");
    // The server's dry-run answer is compared without the noisy fields.
    for noise in [
        "managedFields",
        "resourceVersion",
        "uid:",
        "creationTimestamp",
        "generation",
    ] {
        assert!(!out.contains(noise), "{noise} in {out}");
    }
    assert!(
        out.contains("Workloads whose effective mTLS mode changes:"),
        "{out}"
    );
    let web = out
        .lines()
        .find(|l| l.trim_start().starts_with("istioinaction/web-api "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(web.contains("PERMISSIVE") && web.contains("STRICT"), "{web}");
    assert!(!out.contains("\x1b["), "no colour in a pipe");
    assert_only_dry_run_writes(&lab);
    assert!(
        lab.get(
            "security.istio.io/v1",
            "PeerAuthentication",
            "istioinaction",
            "default"
        )
        .is_none()
    );
}
}

on_both_backends! {
fn no_difference_exits_0(backend) {
    let lab = backend.start(Scenario::lab());
    assert_eq!(lab.plugin(&["enable", "istioinaction", "--strict"]).code, 0);
    let run = lab.plugin(&["diff", "istioinaction", "--strict"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "", "nothing to warn about when nothing changes");
    let back = lab.plugin(&["diff", "istioinaction", "--permissive"]);
    assert_eq!(back.code, 1, "{}", back.stderr);
    assert!(
        back.stdout.contains("-    mode: STRICT\n+    mode: PERMISSIVE\n"),
        "{}",
        back.stdout
    );
}
}

on_both_backends! {
fn colour_is_used_when_asked(backend) {
    let lab = backend.start(Scenario::lab());
    let run = lab.plugin(&["diff", "istioinaction", "--strict", "--color", "always"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("\x1b[32m+    mode: STRICT\x1b[39m"),
        "{:?}",
        run.stdout
    );
}
}

const MANIFESTS: &str = r#"# what a GitOps pull request would apply
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istioinaction
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: web-api
  namespace: istioinaction
spec:
  selector:
    matchLabels:
      app: web-api
  mtls:
    mode: STRICT
  portLevelMtls:
    "8080":
      mode: PERMISSIVE
"#;

on_both_backends! {
fn files_with_several_documents_show_every_object_and_their_joint_effect(backend) {
    let lab = backend.start(Scenario::lab());
    let file = lab.dir.path().join("policies.yaml");
    std::fs::write(&file, MANIFESTS).unwrap();
    lab.clear_requests();
    let run = lab.plugin(&["diff", "-f", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("+++ merged/security.istio.io.v1.PeerAuthentication.istioinaction.default\n"),
        "{out}"
    );
    assert!(
        out.contains("+++ merged/security.istio.io.v1.PeerAuthentication.istioinaction.web-api\n"),
        "{out}"
    );
    assert!(out.contains("+      mode: PERMISSIVE\n"), "{out}");
    // Port 8080 of web-api keeps PERMISSIVE while the rest of the namespace turns STRICT.
    let port = out
        .lines()
        .find(|l| l.trim_start().starts_with("istioinaction/web-api:8080"))
        .unwrap_or_else(|| panic!("no port row: {out}"));
    assert!(
        port.contains("PERMISSIVE") && port.contains("port keeps its own setting"),
        "{port}"
    );
    let history = out
        .lines()
        .find(|l| l.trim_start().starts_with("istioinaction/history "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(history.contains("STRICT"), "{history}");
    assert_only_dry_run_writes(&lab);
    if let Some(log) = lab.log() {
        assert_eq!(
            log.iter().filter(|r| is_write(r)).count(),
            2,
            "one dry-run apply per object"
        );
    }
}
}

on_both_backends! {
fn stdin_manifests_and_findings_the_change_would_create(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: history-plaintext, namespace: istioinaction}
spec:
  host: history.istioinaction.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
"#,
    );
    let doc = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default}\nspec: {mtls: {mode: STRICT}}\n";
    let run = plugin_with(&lab, &["diff", "-n", "istioinaction", "-f", "-"], &[], Some(doc));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("Findings this change creates:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("error DestinationRuleDisablesTls DestinationRule istioinaction/history-plaintext:"),
        "{}",
        run.stdout
    );
}
}

on_both_backends! {
fn kubectl_external_diff_gets_two_directories(backend) {
    let lab = backend.start(Scenario::lab());
    let run = plugin_with(
        &lab,
        &["diff", "istioinaction", "--strict"],
        &[("KUBECTL_EXTERNAL_DIFF", "diff -r -N")],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = &run.stdout;
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("diff -r -N ")
            && header.contains("/LIVE-")
            && header.contains("/MERGED-")
            && header.ends_with("/security.istio.io.v1.PeerAuthentication.istioinaction.default"),
        "{out}"
    );
    assert!(out.contains("> apiVersion: security.istio.io/v1\n"), "{out}");
    assert!(
        out.contains("Workloads whose effective mTLS mode changes:"),
        "{out}"
    );
    let bad = plugin_with(
        &lab,
        &["diff", "istioinaction", "--strict"],
        &[("KUBECTL_EXTERNAL_DIFF", "diff $(reboot)")],
        None,
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .starts_with("error: KUBECTL_EXTERNAL_DIFF: invalid flag"),
        "{}",
        bad.stderr
    );
}
}

/// kube-sim only: needs CRDs serving only v1beta1, and reads the request log.
#[test]
fn v1beta1_only_clusters_compare_at_v1beta1() {
    let lab = Lab::start(Scenario::lab().istio(IstioApi::V1beta1Only));
    let file = lab.dir.path().join("p.yaml");
    std::fs::write(&file, MANIFESTS).unwrap();
    let run = lab.plugin(&["diff", "-f", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("serves PeerAuthentication as security.istio.io/v1beta1; comparing at that version"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("+++ merged/security.istio.io.v1beta1.PeerAuthentication.istioinaction.default\n"),
        "{}",
        run.stdout
    );
    assert!(
        lab.requests()
            .iter()
            .filter(|r| is_write(r))
            .all(|r| r.path.contains("/v1beta1/") && r.dry_run)
    );
}

on_both_backends! {
fn errors_exit_2(backend) {
    let lab = backend.start(Scenario::lab());
    let run = lab.plugin(&["diff", "nowhere", "--strict"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr, "error: namespaces \"nowhere\" not found\n");
    // kube-sim only: the real control plane serves Istio's CRDs to every test.
    let no_istio = Lab::start(Scenario::lab().istio(IstioApi::None));
    let run = no_istio.plugin(&["diff", "istioinaction", "--strict"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("PeerAuthentication is not served"),
        "{}",
        run.stderr
    );
}
}

fn assert_bad(lab: &Lab, args: &[&str], needle: &str) {
    lab.clear_requests();
    let run = lab.plugin(args);
    assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains(needle),
        "{args:?}: {}",
        run.stderr
    );
    assert!(lab.requests().is_empty(), "{args:?}: {:?}", lab.requests());
}

/// kube-sim only: refused before any request (checked in the request log), and the messages
/// name the file and line the test wrote.
#[test]
fn bad_manifests_and_flags_are_refused_before_any_request() {
    let lab = Lab::start(Scenario::lab());
    let path = |name: &str, text: &str| {
        let p = lab.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let deployment = path(
        "mixed.yaml",
        &format!("{MANIFESTS}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\n"),
    );
    assert_bad(
        &lab,
        &["diff", "-f", &deployment],
        &format!(
            "{deployment}, document 3 (line 26): kind is Deployment; only PeerAuthentication manifests can be diffed"
        ),
    );
    let broken = path("broken.yaml", &format!("{MANIFESTS}---\nspec: [unclosed\n"));
    assert_bad(
        &lab,
        &["diff", "-f", &broken],
        &format!("{broken}, document 3 (line "),
    );
    assert_bad(&lab, &["diff", "-f", &broken], "not valid YAML");
    let ports = path(
        "ports.yaml",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, namespace: istioinaction}\nspec: {portLevelMtls: {\"8080\": {mode: STRICT}}}\n",
    );
    assert_bad(
        &lab,
        &["diff", "-f", &ports],
        "spec.portLevelMtls needs spec.selector",
    );
    assert_bad(
        &lab,
        &["diff", "-f", "/nonexistent/p.yaml"],
        "the path \"/nonexistent/p.yaml\" does not exist",
    );
    assert_bad(
        &lab,
        &["diff", "-f", &ports, "--strict"],
        "-f compares manifests as they are",
    );
    assert_bad(&lab, &["diff", "istioinaction"], "give the change");
    assert_bad(
        &lab,
        &["diff", "istioinaction", "--strict", "--port", "80=STRICT"],
        "--port needs --selector",
    );
    assert_bad(
        &lab,
        &["diff", "Not_A_Namespace", "--strict"],
        "invalid namespace name",
    );
}

on_both_backends! {
fn without_the_right_to_patch_diff_falls_back_to_a_client_side_merge(backend) {
    let lab = backend.start(
        Scenario::lab().user(User::new("viewer", "viewer-token").allow(Rule::new(&["get", "list"], &["*"]))),
    );
    lab.clear_requests();
    let run = lab.plugin_as("viewer", &["diff", "istioinaction", "--strict"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the server refused a dry-run apply (")
            && run.stderr.contains("showing a client-side merge"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("+    mode: STRICT\n"), "{}", run.stdout);
    if let Some(log) = lab.log() {
        assert!(log.iter().all(|r| !r.is_persisted_write()));
    }
}
}

on_both_backends! {
fn a_manifest_istio_would_ignore_is_shown_as_changing_nothing(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy, namespace: istioinaction, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {mtls: {mode: PERMISSIVE}}
"#,
    );
    // A real server stamps creationTimestamp in whole seconds: let the dry-run object be newer.
    if lab.is_real() {
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let doc = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istioinaction}\nspec: {mtls: {mode: STRICT}}\n";
    let run = plugin_with(&lab, &["diff", "-f", "-"], &[], Some(doc));
    assert_eq!(run.code, 1, "the object itself is new: {}", run.stderr);
    assert!(
        run.stdout
            .contains("No workload changes its effective mTLS mode.\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("warning IgnoredNamespacePolicy"),
        "{}",
        run.stdout
    );
    // `enable` in flag mode changes the honoured policy instead.
    let flags = lab.plugin(&["diff", "istioinaction", "--strict"]);
    assert_eq!(flags.code, 1, "{}", flags.stderr);
    assert!(
        flags
            .stdout
            .starts_with("--- live/security.istio.io.v1.PeerAuthentication.istioinaction.legacy\n"),
        "{}",
        flags.stdout
    );
}
}

// --- diff -f like kubectl diff -f: directories, -R, duplicates, -n (issue 10 item 4) ---

const PA_DEFAULT: &str = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istioinaction}\nspec: {mtls: {mode: STRICT}}\n";
const PA_WEB: &str = "{\"apiVersion\": \"security.istio.io/v1\", \"kind\": \"PeerAuthentication\", \"metadata\": {\"name\": \"web-api\", \"namespace\": \"istioinaction\"}, \"spec\": {\"selector\": {\"matchLabels\": {\"app\": \"web-api\"}}, \"mtls\": {\"mode\": \"PERMISSIVE\"}}}\n";
const PA_DEEP: &str = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: deep, namespace: istioinaction}\nspec: {selector: {matchLabels: {app: history}}, mtls: {mode: DISABLE}}\n";

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn merged_objects(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("+++ merged/security.istio.io.v1.PeerAuthentication."))
        .collect()
}

#[test]
fn directories_are_read_like_kubectl_and_r_descends() {
    let lab = Lab::start(Scenario::lab());
    let dir = lab.dir.path().join("policies");
    write(&dir, "b-web.json", PA_WEB);
    write(&dir, "a-default.yaml", PA_DEFAULT);
    write(
        &dir,
        "README.md",
        "not a manifest: ignored in a directory, as kubectl does\n",
    );
    write(&dir, "empty.yml", "# nothing yet\n");
    write(&dir, "sub/deep.yml", PA_DEEP);
    let d = dir.to_string_lossy().into_owned();

    let run = lab.plugin(&["diff", "-f", &d]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        merged_objects(&run.stdout),
        ["istioinaction.default", "istioinaction.web-api"],
        "the subdirectory is ignored without -R: {}",
        run.stdout
    );
    let run = lab.plugin(&["diff", "-R", "-f", &d]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        merged_objects(&run.stdout),
        [
            "istioinaction.default",
            "istioinaction.web-api",
            "istioinaction.deep"
        ],
        "{}",
        run.stdout
    );
    // Several -f: a directory, a file of another, and stdin.
    let other = lab.dir.path().join("other");
    let deep = write(&other, "deep.txt", PA_DEEP);
    let run = lab.plugin_with(
        &["diff", "-f", &d, "--filename", &deep, "-f", "-"],
        &[],
        Some("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: stdin, namespace: default}\nspec: {mtls: {mode: STRICT}}\n"),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        merged_objects(&run.stdout),
        [
            "istioinaction.default",
            "istioinaction.web-api",
            "istioinaction.deep",
            "default.stdin"
        ],
        "{}",
        run.stdout
    );
    // Another kind in a directory is refused as in a file (today's rule: PeerAuthentication only).
    let deployment = write(
        &dir,
        "sub/z-deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
    );
    assert_bad(
        &lab,
        &["diff", "-R", "-f", &d],
        &format!(
            "{deployment}, document 1 (line 1): kind is Deployment; only PeerAuthentication manifests can be diffed"
        ),
    );
    // A directory without a manifest, as kubectl says it.
    let none = lab.dir.path().join("none");
    write(&none, "notes.txt", "x");
    let n = none.to_string_lossy().into_owned();
    assert_bad(
        &lab,
        &["diff", "-f", &n],
        &format!("error reading [{n}]: recognized file extensions are [.json .yaml .yml]"),
    );
    assert_bad(
        &lab,
        &["diff", "istioinaction", "--strict", "-R"],
        "-R/--recursive goes with -f",
    );
}

#[test]
fn a_missing_path_is_kubectls_error_and_exit_code() {
    let lab = Lab::start(Scenario::lab());
    lab.clear_requests();
    let run = lab.plugin(&["diff", "-f", "/nonexistent/p.yaml"]);
    assert_eq!(
        run.stderr,
        "error: the path \"/nonexistent/p.yaml\" does not exist\n"
    );
    assert!(lab.requests().is_empty(), "{:?}", lab.requests());
    if have_kubectl("a_missing_path_is_kubectls_error_and_exit_code") {
        let k = lab.kubectl(&["diff", "-f", "/nonexistent/p.yaml"]);
        assert_eq!(k.stderr, run.stderr, "kubectl's own words");
        assert_eq!(run.code, k.code, "kubectl diff's exit code");
    }
    assert_eq!(run.code, 2);
}

#[test]
fn the_same_object_twice_names_both_places_and_sends_nothing() {
    let lab = Lab::start(Scenario::lab());
    let dir = lab.dir.path().join("dup");
    let a = write(&dir, "a.yaml", PA_DEFAULT);
    // The same object at v1beta1, without namespace: -n gives it istioinaction.
    let b = write(
        &dir,
        "b.yaml",
        &format!(
            "{PA_DEEP}---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {{name: default}}\nspec: {{mtls: {{mode: PERMISSIVE}}}}\n"
        ),
    );
    assert_bad(
        &lab,
        &["diff", "-n", "istioinaction", "-f", &dir.to_string_lossy()],
        &format!(
            "PeerAuthentication.security.istio.io \"default\" in namespace \"istioinaction\" is given twice: in {a}, document 1 (line 1) and in {b}, document 2 (line 6); give each object once"
        ),
    );
    // Twice in one stdin stream.
    lab.clear_requests();
    let run = lab.plugin_with(
        &["diff", "-f", "-"],
        &[],
        Some(&format!("{PA_DEFAULT}---\n{PA_DEFAULT}")),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "error: PeerAuthentication.security.istio.io \"default\" in namespace \"istioinaction\" is given twice: in stdin, document 1 (line 1) and in stdin, document 2 (line 6); give each object once\n"
    );
    assert!(lab.requests().is_empty(), "nothing sent: {:?}", lab.requests());
}

#[test]
fn a_manifest_namespace_other_than_n_is_refused_as_kubectl_does() {
    let lab = Lab::start(Scenario::lab());
    let file = write(lab.dir.path(), "p.yaml", PA_DEFAULT);
    let sentence = "the namespace from the provided object \"istioinaction\" does not match the namespace \"default\". You must pass '--namespace=istioinaction' to perform this operation.";
    assert_bad(
        &lab,
        &["diff", "-n", "default", "-f", &file],
        &format!("{file}, document 1 (line 1): {sentence}"),
    );
    if have_kubectl("a_manifest_namespace_other_than_n_is_refused_as_kubectl_does") {
        let k = lab.kubectl(&["diff", "-n", "default", "-f", &file]);
        assert!(k.stderr.contains(sentence), "kubectl says: {}", k.stderr);
    }
    // The same namespace, or none in the manifest, is fine.
    let run = lab.plugin(&["diff", "-n", "istioinaction", "-f", &file]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// `diff SCOPE --inherit` (issue 10 item 6) and `--mesh` with an unconfirmed root namespace
// (issue 10 item 4).

const NS_STRICT: &str = r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istioinaction}
spec: {mtls: {mode: STRICT}}
"#;

on_both_backends! {
fn inherit_previews_the_removal_and_writes_nothing(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(NS_STRICT);
    lab.clear_requests();
    let run = lab.plugin(&["diff", "istioinaction", "--inherit"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.starts_with(
            "--- live/security.istio.io.v1.PeerAuthentication.istioinaction.default\n+++ merged/security.istio.io.v1.PeerAuthentication.istioinaction.default\n@@ -1,"
        ) && out.contains(" +0,0 @@\n-apiVersion: security.istio.io/v1\n"),
        "{out}"
    );
    assert!(out.contains("-    mode: STRICT\n"), "{out}");
    let web = out
        .lines()
        .find(|l| l.trim_start().starts_with("istioinaction/web-api "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        web.find("STRICT") < web.find("->") && web.rfind("PERMISSIVE") > web.find("->"),
        "{web}"
    );
    if let Some(log) = lab.log() {
        let writes: Vec<RequestRecord> = log.into_iter().filter(is_write).collect();
        assert!(writes.is_empty(), "{writes:?}");
    }
    assert!(
        lab.get("security.istio.io/v1", "PeerAuthentication", "istioinaction", "default")
            .is_some()
    );
    // With nothing to remove there is no difference.
    let none = lab.plugin(&["diff", "default", "--inherit"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(none.stdout.is_empty(), "{}", none.stdout);
    assert!(
        none.stderr
            .contains("note: no namespace-wide PeerAuthentication in default: nothing to remove"),
        "{}",
        none.stderr
    );
}
}

on_both_backends! {
fn inherit_says_what_enable_would_refuse(backend) {
    let lab = backend.start(Scenario::lab());
    lab.put_yaml(NS_STRICT);
    lab.put_yaml(
        r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: DISABLE}}
"#,
    );
    let run = lab.plugin(&["diff", "istioinaction", "--inherit"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: `kubectl mtls enable` would refuse this change: ")
            && run.stderr.contains("from STRICT to DISABLE"),
        "{}",
        run.stderr
    );
}
}

on_both_backends! {
fn mesh_without_a_mesh_config_needs_root_namespace(backend) {
    let lab = backend.start(Scenario::lab());
    assert!(lab.delete("v1", "ConfigMap", "istio-system", "istio"));
    let run = lab.plugin(&["diff", "--mesh", "--strict"]);
    assert_eq!(run.code, 2, "diff's errors exit 2: {}", run.stderr);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("istio-system/istio does not exist")
            && errors[0].contains("pass --root-namespace NS"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let given = lab.plugin(&["diff", "--mesh", "--strict", "--root-namespace", "istio-system"]);
    assert_eq!(given.code, 1, "{}", given.stderr);
    assert!(
        given
            .stdout
            .contains("+++ merged/security.istio.io.v1.PeerAuthentication.istio-system.default"),
        "{}",
        given.stdout
    );
}
}
