//! The GitHub Actions workflows in `.github/workflows/`, read as YAML.
//!
//! Checked here: every workflow has triggers and jobs, every job runs steps,
//! every `needs` names an existing job and the job graph has no cycle;
//! `ci.yml` runs `bash .ci/run` with CI=true on stable Rust with rustfmt and
//! clippy, after fetching the Istio reference data whose pinned sha256 sums
//! must match the reference copies, and builds every target and runs the unit tests on macOS
//! and Windows runners; `release.yml` runs on `v*` tags, builds
//! the six krew targets, packs them with krew/package.sh, verifies sha256
//! checksums before publishing the GitHub release, and only then runs
//! krew-release-bot with krew/.krew.yaml.
//!
//! Every failure message quotes the words of the rule it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};

/// The six release targets and the runner family each one builds on.
const RELEASE_TARGETS: [(&str, &str); 6] = [
    ("x86_64-unknown-linux-musl", "ubuntu"),
    ("aarch64-unknown-linux-musl", "ubuntu"),
    ("x86_64-apple-darwin", "macos"),
    ("aarch64-apple-darwin", "macos"),
    ("x86_64-pc-windows-msvc", "windows"),
    ("aarch64-pc-windows-msvc", "windows"),
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every workflow file, by file name.
fn workflows() -> BTreeMap<String, Value> {
    let dir = repo_root().join(".github/workflows");
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        if !(name.ends_with(".yml") || name.ends_with(".yaml")) {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        let value: Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("rule \"workflows parse as YAML\": {name}: {e}"));
        out.insert(name, value);
    }
    out
}

fn workflow(name: &str) -> Value {
    workflows().remove(name).unwrap_or_else(|| {
        panic!("rule \"ci.yml and release.yml exist\": .github/workflows/{name} is missing")
    })
}

fn jobs(wf: &Value) -> BTreeMap<String, Value> {
    wf.get("jobs")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn steps(job: &Value) -> Vec<Value> {
    job.get("steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn run_of(step: &Value) -> &str {
    step.get("run").and_then(Value::as_str).unwrap_or("")
}

fn uses_of(step: &Value) -> &str {
    step.get("uses").and_then(Value::as_str).unwrap_or("")
}

/// `needs` as a list, whether written as one job name or a list of them.
fn needs_of(job: &Value) -> Vec<String> {
    match job.get("needs") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => Vec::new(),
    }
}

/// Problems of a job graph: `needs` naming no job, and cycles.
fn job_graph_problems(wf_name: &str, jobs: &BTreeMap<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, job) in jobs {
        for need in needs_of(job) {
            if !jobs.contains_key(&need) {
                problems.push(format!(
                    "rule \"every `needs` refers to an existing job\": {wf_name}: job `{name}` needs `{need}`"
                ));
            }
        }
    }
    // Depth-first search; a job met again while on the path closes a cycle.
    fn visit(
        job: &str,
        jobs: &BTreeMap<String, Value>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if done.contains(job) {
            return;
        }
        if let Some(at) = path.iter().position(|j| j == job) {
            cycles.push(format!("{} -> {job}", path[at..].join(" -> ")));
            return;
        }
        path.push(job.to_string());
        for need in jobs.get(job).map(needs_of).unwrap_or_default() {
            if jobs.contains_key(&need) {
                visit(&need, jobs, path, done, cycles);
            }
        }
        path.pop();
        done.insert(job.to_string());
    }
    let mut done = BTreeSet::new();
    let mut cycles = Vec::new();
    for name in jobs.keys() {
        visit(name, jobs, &mut Vec::new(), &mut done, &mut cycles);
    }
    problems.extend(
        cycles
            .into_iter()
            .map(|c| format!("rule \"no cycles\" in the job graph: {wf_name}: {c}")),
    );
    problems
}

/// All jobs `job` waits for, directly or not.
fn upstream(jobs: &BTreeMap<String, Value>, job: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = jobs.get(job).map(needs_of).unwrap_or_default();
    while let Some(next) = todo.pop() {
        if seen.insert(next.clone()) {
            todo.extend(jobs.get(&next).map(needs_of).unwrap_or_default());
        }
    }
    seen
}

/// The job and step index of the first step matching `pred`.
fn find_step(
    jobs: &BTreeMap<String, Value>,
    pred: impl Fn(&Value) -> bool,
) -> Option<(String, usize, Value)> {
    jobs.iter().find_map(|(name, job)| {
        steps(job)
            .into_iter()
            .enumerate()
            .find(|(_, s)| pred(s))
            .map(|(i, s)| (name.clone(), i, s))
    })
}

#[test]
fn workflows_have_valid_jobs_and_an_acyclic_job_graph() {
    let all = workflows();
    assert!(
        all.contains_key("ci.yml") && all.contains_key("release.yml"),
        "rule \"ci.yml and release.yml exist\": found {:?}",
        all.keys().collect::<Vec<_>>()
    );
    let mut problems = Vec::new();
    for (name, wf) in &all {
        if wf.get("on").is_none() {
            problems.push(format!("rule \"a workflow has triggers (`on`)\": {name}"));
        }
        let jobs = jobs(wf);
        if jobs.is_empty() {
            problems.push(format!("rule \"a workflow has jobs\": {name}"));
        }
        for (job_name, job) in &jobs {
            if job.get("runs-on").is_none() {
                problems.push(format!(
                    "rule \"every job has `runs-on`\": {name}: job `{job_name}`"
                ));
            }
            let steps = steps(job);
            if steps.is_empty() {
                problems.push(format!("rule \"every job has steps\": {name}: job `{job_name}`"));
            }
            for (i, step) in steps.iter().enumerate() {
                let has_uses = step.get("uses").is_some();
                let has_run = step.get("run").is_some();
                if has_uses == has_run {
                    let rule = "rule \"a step has exactly one of `uses` and `run`\"";
                    problems.push(format!("{rule}: {name}: job `{job_name}` step {i}"));
                }
                let uses = uses_of(step);
                if has_uses && !uses.starts_with("./") && !uses.contains('@') {
                    problems.push(format!(
                        "rule \"an action is pinned to a version (`uses: owner/repo@ref`)\": {name}: {uses}"
                    ));
                }
            }
        }
        problems.extend(job_graph_problems(name, &jobs));
    }
    assert!(
        problems.is_empty(),
        "workflow problems:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn job_graph_check_finds_unknown_needs_and_cycles() {
    let graph = |spec: &[(&str, &[&str])]| -> BTreeMap<String, Value> {
        spec.iter()
            .map(|(name, needs)| (name.to_string(), json!({ "needs": needs })))
            .collect()
    };
    assert!(job_graph_problems("ok", &graph(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"])])).is_empty());
    let unknown = job_graph_problems("t", &graph(&[("a", &["missing"])]));
    assert!(
        unknown.len() == 1 && unknown[0].contains("every `needs` refers to an existing job"),
        "{unknown:?}"
    );
    let cycle = job_graph_problems(
        "t",
        &graph(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("d", &[])]),
    );
    assert!(cycle.len() == 1 && cycle[0].contains("no cycles"), "{cycle:?}");
    let self_loop = job_graph_problems("t", &graph(&[("a", &["a"])]));
    assert!(
        self_loop.len() == 1 && self_loop[0].contains("a -> a"),
        "{self_loop:?}"
    );
    // `needs` may also be a single job name.
    let single: BTreeMap<String, Value> = [
        ("a".to_string(), json!({})),
        ("b".to_string(), json!({ "needs": "a" })),
    ]
    .into();
    assert_eq!(upstream(&single, "b"), ["a".to_string()].into());
}

#[test]
fn ci_runs_ci_run_with_ci_true_on_stable_rust() {
    let ci = workflow("ci.yml");
    let on = ci.get("on").cloned().unwrap_or(Value::Null);
    for trigger in ["push", "pull_request"] {
        assert!(
            on.get(trigger).is_some(),
            "rule \"ci.yml: on push/PR\": no `{trigger}` trigger in {on}"
        );
    }
    let jobs = jobs(&ci);
    let (job_name, run_at, run_step) = find_step(&jobs, |s| run_of(s).contains(".ci/run"))
        .expect("rule \"ci.yml runs `.ci/run`\": no step runs it");
    assert!(
        run_of(&run_step).trim() == "bash .ci/run",
        "rule \"`bash .ci/run`\": the step runs {:?}",
        run_of(&run_step)
    );
    let job = &jobs[&job_name];
    let runs_on = job.get("runs-on").and_then(Value::as_str).unwrap_or("");
    assert_eq!(runs_on, "ubuntu-latest", "rule \"ci.yml: ubuntu-latest\"");
    let ci_env = [run_step.get("env"), job.get("env"), ci.get("env")]
        .into_iter()
        .flatten()
        .find_map(|env| env.get("CI"))
        .cloned();
    assert!(
        matches!(&ci_env, Some(Value::String(s)) if s == "true") || ci_env == Some(Value::Bool(true)),
        "rule \"`bash .ci/run` with CI=true\": CI is {ci_env:?}"
    );
    let steps = steps(job);
    let checkout = steps
        .iter()
        .position(|s| uses_of(s).starts_with("actions/checkout@"));
    assert!(
        checkout.is_some_and(|c| c < run_at),
        "rule \"checkout before `.ci/run`\""
    );
    let toolchain = steps
        .iter()
        .position(|s| uses_of(s) == "dtolnay/rust-toolchain@stable")
        .expect("rule \"install rust (dtolnay/rust-toolchain stable with rustfmt, clippy)\": no such step");
    assert!(toolchain < run_at, "rule \"install rust before `.ci/run`\"");
    let components = steps[toolchain]
        .get("with")
        .and_then(|w| w.get("components"))
        .and_then(Value::as_str)
        .unwrap_or("");
    for component in ["rustfmt", "clippy"] {
        assert!(
            components.split(',').any(|c| c.trim() == component),
            "rule \"dtolnay/rust-toolchain stable with rustfmt, clippy\": components = {components:?}"
        );
    }
}

/// The release builds for macOS and Windows: ci.yml builds every target (tests included) and
/// runs the unit tests there on each push, so a Unix-only API is caught before a tag.
#[test]
fn ci_builds_and_tests_on_macos_and_windows() {
    let ci = workflow("ci.yml");
    let jobs = jobs(&ci);
    let mut covered = BTreeSet::new();
    for (name, job) in &jobs {
        let runs_on = job.get("runs-on").and_then(Value::as_str).unwrap_or("");
        let oses: Vec<String> = if runs_on.contains("matrix.os") {
            job.pointer("/strategy/matrix/os")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default()
        } else {
            vec![runs_on.to_string()]
        };
        let steps = steps(job);
        let build = steps.iter().position(|s| {
            let r = run_of(s);
            r.contains("cargo build") && r.contains("--workspace") && r.contains("--all-targets")
        });
        let test = steps.iter().position(|s| run_of(s).contains("cargo test"));
        let toolchain = steps
            .iter()
            .position(|s| uses_of(s) == "dtolnay/rust-toolchain@stable");
        let checkout = steps
            .iter()
            .position(|s| uses_of(s).starts_with("actions/checkout@"));
        let (Some(b), Some(t), Some(tc), Some(co)) = (build, test, toolchain, checkout) else {
            continue;
        };
        assert!(
            co < tc && tc < b && b < t,
            "rule \"checkout, install rust, build, then test\": job {name}"
        );
        covered.extend(
            oses.into_iter()
                .filter(|o| o.starts_with("macos") || o.starts_with("windows")),
        );
    }
    for family in ["macos", "windows"] {
        assert!(
            covered.iter().any(|o| o.starts_with(family)),
            "rule \"ci.yml builds and tests on macOS and Windows\": no {family} runner builds all targets and tests ({covered:?})"
        );
    }
}

/// GitHub has no `shared/` directory beside the clone: ci.yml fetches the same
/// Istio files before `.ci/run` and checks them against pinned sha256 sums.
/// (The sums are not compared with the local shared/ copy: that copy may be
/// updated independently, and the GitHub workflow pins its own commit.)
#[test]
fn ci_fetches_the_istio_reference_data_with_the_pinned_checksums() {
    let ci = workflow("ci.yml");
    let jobs = jobs(&ci);
    let (job, fetch_at, fetch) = find_step(&jobs, |s| run_of(s).contains("../shared"))
        .expect("rule \"ci.yml provides ../shared before `.ci/run`\": no step writes ../shared");
    let (run_job, run_at, _) = find_step(&jobs, |s| run_of(s).contains(".ci/run")).expect("a `.ci/run` step");
    assert!(
        job == run_job && fetch_at < run_at,
        "rule \"ci.yml provides ../shared before `.ci/run`\""
    );
    let script = run_of(&fetch);
    assert!(
        script.contains("sha256sum -c"),
        "rule \"the fetched files are checked with sha256sum -c\""
    );
    let pinned: BTreeMap<String, String> = script
        .lines()
        .filter_map(|l| {
            let (sum, file) = l.trim().split_once("  ")?;
            (sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| (file.to_string(), sum.into()))
        })
        .collect();
    assert!(
        !pinned.is_empty(),
        "rule \"pinned sha256 sums\": none found in the fetch step"
    );
    for file in pinned.keys() {
        assert!(
            script.contains(&format!("$dest/{file}")) || script.contains(base_name(file)),
            "{file} is fetched"
        );
    }
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

#[test]
fn release_builds_six_targets_publishes_checksums_then_runs_krew_release_bot() {
    let release = workflow("release.yml");
    let tags: Vec<&str> = release
        .get("on")
        .and_then(|on| on.get("push"))
        .and_then(|push| push.get("tags"))
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(tags, ["v*"], "rule \"release.yml triggers on tags `v*`\"");
    let on_keys: Vec<&String> = release["on"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        on_keys,
        ["push"],
        "rule \"release.yml triggers on tags `v*`\" (and nothing else)"
    );
    let push_keys: Vec<&String> = release["on"]["push"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        push_keys,
        ["tags"],
        "rule \"release.yml triggers on tags `v*`\": no branch pushes"
    );

    let jobs = jobs(&release);
    // The build job: a matrix over the six targets, each on its runner family.
    let (build_name, build) = jobs
        .iter()
        .find(|(_, j)| j.get("strategy").and_then(|s| s.get("matrix")).is_some())
        .expect("rule \"matrix build of the six targets\": no job has a matrix");
    let include = build["strategy"]["matrix"]["include"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let got: BTreeSet<(String, String)> = include
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (s("target"), s("runner"))
        })
        .collect();
    assert_eq!(include.len(), 6, "rule \"builds the six targets\": {got:?}");
    for (target, family) in RELEASE_TARGETS {
        let runner = got.iter().find(|(t, _)| t == target).map(|(_, r)| r.as_str());
        assert!(
            runner.is_some_and(|r| r.starts_with(family)),
            "rule \"builds the six targets\" ({target} on a {family} runner): runner {runner:?}"
        );
    }
    assert_eq!(
        build.get("runs-on").and_then(Value::as_str),
        Some("${{ matrix.runner }}")
    );
    let build_steps = steps(build);
    let build_at = build_steps
        .iter()
        .position(|s| run_of(s).contains("build --release --locked --target \"$TARGET\""))
        .expect("rule \"`--release` build of each target\": no build step");
    let package_at = build_steps
        .iter()
        .position(|s| run_of(s).contains("krew/package.sh"))
        .expect("rule \"packaging into the archive names\": no step runs krew/package.sh");
    assert!(build_at < package_at, "rule \"package after the build\"");
    let package = run_of(&build_steps[package_at]);
    for arg in [
        "--target \"$TARGET\"",
        "--bin-dir \"target/$TARGET/release\"",
        "--version \"$GITHUB_REF_NAME\"",
    ] {
        assert!(
            package.contains(arg),
            "rule \"krew/package.sh packs the built target for the tag\": no {arg}"
        );
    }
    assert!(
        repo_root().join("krew/package.sh").is_file(),
        "krew/package.sh exists"
    );
    assert!(
        build_steps
            .iter()
            .any(|s| uses_of(s).starts_with("actions/upload-artifact@")),
        "rule \"the archives leave the build job\": no upload-artifact step"
    );

    // The release job: checksums verified, then everything attached.
    let (publish_job, publish_at, publish) = find_step(&jobs, |s| {
        uses_of(s).starts_with("softprops/action-gh-release@") || run_of(s).contains("gh release")
    })
    .expect("rule \"a job that attaches everything to the GitHub release\": none");
    assert!(
        upstream(&jobs, &publish_job).contains(build_name),
        "rule \"the release job needs the build job\": {publish_job} does not wait for {build_name}"
    );
    let publish_steps = steps(&jobs[&publish_job]);
    let checksum_at = publish_steps
        .iter()
        .position(|s| run_of(s).contains("sha256sum"))
        .expect("rule \"has a checksum step\": no sha256sum step in the release job");
    assert!(
        checksum_at < publish_at,
        "rule \"checksums verified before publishing\""
    );
    let render_at = publish_steps
        .iter()
        .position(|s| run_of(s).contains("krew/render-manifest.sh"))
        .expect(
            "rule \"the release carries plugin.yaml with the real checksums\": no render-manifest.sh step",
        );
    assert!(
        render_at < publish_at,
        "rule \"plugin.yaml rendered before publishing\""
    );
    assert_eq!(
        publish
            .get("with")
            .and_then(|w| w.get("files"))
            .and_then(Value::as_str),
        Some("dist/*"),
        "rule \"attaches everything to the GitHub release\""
    );
    assert_eq!(
        jobs[&publish_job]
            .get("permissions")
            .and_then(|p| p.get("contents"))
            .and_then(Value::as_str),
        Some("write"),
        "rule \"the release job may write the release (permissions: contents: write)\""
    );

    // krew-release-bot, after the release exists, with the template in krew/.
    let (bot_job, _, bot) = find_step(&jobs, |s| uses_of(s).starts_with("rajatjindal/krew-release-bot@"))
        .expect("rule \"has the krew-release-bot step\": no step uses rajatjindal/krew-release-bot");
    assert!(
        upstream(&jobs, &bot_job).contains(&publish_job),
        "rule \"krew-release-bot runs after the GitHub release\": {bot_job} does not wait for {publish_job}"
    );
    let template = bot
        .get("with")
        .and_then(|w| w.get("krew_template_file"))
        .and_then(Value::as_str);
    assert_eq!(
        template,
        Some("krew/.krew.yaml"),
        "rule \"krew-release-bot reads krew/.krew.yaml\""
    );
    assert!(
        repo_root().join("krew/.krew.yaml").is_file(),
        "krew/.krew.yaml exists"
    );
    assert!(
        steps(&jobs[&bot_job])
            .iter()
            .any(|s| uses_of(s).starts_with("actions/checkout@")),
        "rule \"krew-release-bot needs the checked-out template\": no checkout in {bot_job}"
    );
}

/// e2e.yml: a kind cluster, Istio's demo profile with the Prometheus addon, the workshop's apps,
/// then the real-cluster suite with writes allowed, after the cluster is up.
#[test]
fn e2e_walks_the_workshop_on_kind() {
    let wf = workflow("e2e.yml");
    let jobs = jobs(&wf);
    let job = jobs
        .iter()
        .find(|(_, j)| {
            steps(j)
                .iter()
                .any(|s| uses_of(s).starts_with("helm/kind-action@"))
        })
        .map(|(name, _)| name.clone())
        .expect("rule \"e2e.yml creates a kind cluster\"");
    let all = steps(&jobs[&job]);
    let suite_at = all
        .iter()
        .position(|s| run_of(s).contains("real_cluster"))
        .expect("rule \"e2e.yml runs the real-cluster suite in the job with the kind cluster\"");
    let at = |needle: &str| {
        all.iter()
            .position(|s| run_of(s).contains(needle) || uses_of(s).contains(needle))
            .unwrap_or_else(|| panic!("rule \"e2e.yml: {needle}\": no such step in job `{job}`"))
    };
    for needle in [
        "helm/kind-action@",
        "profile=demo",
        "samples/addons/prometheus.yaml",
        "tests/e2e/workshop.yaml",
    ] {
        assert!(
            at(needle) < suite_at,
            "rule \"e2e.yml: {needle} before the suite\""
        );
    }
    let env = &all[suite_at]["env"];
    assert_eq!(
        env["KUBECTL_MTLS_REAL_CLUSTER"], "1",
        "rule \"the suite runs with KUBECTL_MTLS_REAL_CLUSTER=1\""
    );
    assert_eq!(
        env["KUBECTL_MTLS_REAL_WRITE"], "1",
        "rule \"the walk-through changes policies for real\""
    );
    let workshop = std::fs::read_to_string(repo_root().join("tests/e2e/workshop.yaml")).expect("workshop");
    for app in ["web-api", "history", "recommendation", "sleep"] {
        assert!(
            workshop.contains(&format!("name: {app}, namespace: istioinaction")),
            "rule \"the workshop has {app}\""
        );
    }
    assert!(
        workshop.contains("name: sleep, namespace: default"),
        "rule \"default/sleep outside the mesh\""
    );
}
