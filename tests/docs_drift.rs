//! docs/ says what the binary does: every finding code and severity named in docs/ (tables,
//! example output, JSON examples) is one the code emits with that severity, every code the code
//! has is documented, and every JSON field of the documented schemas (the `jsonc` blocks after a
//! `<!-- schema: NAME -->` marker) is one the binary emits, and the other way round.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::*;
use kubectl_mtls::certs::CERT_CODES;
use kubectl_mtls::engine::FindingCode;
use serde_json::Value;

fn docs() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.push(root.join("README.md"));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            (name, std::fs::read_to_string(&p).expect("read doc"))
        })
        .collect()
}

fn doc(name: &str) -> String {
    docs()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .1
}

/// Every code the binary can emit, with its severity: the engine's findings and `--certs`'s.
fn known_codes() -> BTreeMap<String, String> {
    let mut codes: BTreeMap<String, String> = FindingCode::ALL
        .iter()
        .map(|c| (c.as_str().to_string(), c.severity().as_str().to_string()))
        .collect();
    for (code, severity) in CERT_CODES {
        let before = codes.insert(code.to_string(), severity.to_string());
        assert!(
            before.is_none(),
            "{code} is both an engine and a certificate code"
        );
    }
    codes
}

/// The rows of the markdown table whose header starts with `header`: (codes in backticks of
/// the first cell, the second cell).
fn table(text: &str, header: &str) -> Vec<(Vec<String>, String)> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(header));
    assert!(lines.next().is_some(), "no table starting {header:?}");
    lines
        .skip(1) // the |---| line
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            let codes = cells[0]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (codes, cells[1].to_string())
        })
        .collect()
}

fn table_codes(rows: &[(Vec<String>, String)]) -> BTreeMap<String, String> {
    rows.iter()
        .flat_map(|(codes, sev)| codes.iter().map(move |c| (c.clone(), sev.clone())))
        .collect()
}

#[test]
fn the_finding_tables_list_every_code_with_its_severity() {
    let status = table_codes(&table(&doc("docs/status.md"), "| code | severity |"));
    let engine: BTreeMap<String, String> = FindingCode::ALL
        .iter()
        .map(|c| (c.as_str().to_string(), c.severity().as_str().to_string()))
        .collect();
    assert_eq!(
        status, engine,
        "docs/status.md's Findings table vs the engine's codes"
    );
    let certs = table_codes(&table(&doc("docs/probe.md"), "| finding | severity |"));
    let code: BTreeMap<String, String> = CERT_CODES
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect();
    assert_eq!(certs, code, "docs/probe.md's --certs table vs certs::CERT_CODES");
}

/// Identifiers like `DestinationRulePlaintext`: two or more capitalised parts, letters and
/// digits only, not all upper case.
fn camel_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && w.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2
                && w.chars().any(|c| c.is_ascii_lowercase())
        })
        .map(str::to_string)
        .collect()
}

/// CamelCase names docs use that are not finding codes: Kubernetes and Istio kinds, fields
/// and values, and the plugin's own kinds.
const NOT_CODES: &[&str] = &[
    // kube-sim's fault injection and traffic API, kubectl-mtls/v1 kinds and plain words.
    "CloseMidBody",
    "CreateOptions",
    "ExecDrop",
    "ExecSlow",
    "ExpireContinue",
    "FaultRule",
    "InternalError",
    "RequestRecord",
    "SendAfterClosing",
    "ServerError",
    "ServiceUnavailable",
    "TooManyRequests",
    "TrafficFlow",
    "MtlsGraph",
    "LISTs",
    "IDs",
    "PeerAuthentication",
    "PeerAuthentications",
    "DestinationRule",
    "DestinationRules",
    "ConfigMap",
    "ConfigMaps",
    "ServiceAccount",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "CronJob",
    "PartialObjectMetadataList",
    "PartialObjectMetadata",
    "SelfSubjectAccessReview",
    "CustomResourceDefinition",
    "MtlsStatus",
    "ComposePeerAuthentication",
    "ExecCredential",
    "NonZeroExitCode",
    "IfAvailable",
    "GitHub",
    "PowerShell",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "WebSocket",
    "AuthorizationPolicy",
    "ServiceEntry",
    "VirtualService",
    "MeshConfig",
    "JavaScript",
    "TypeScript",
    "MacOS",
    "StrictReady",
    "ClientTls",
    "NotFound",
    "BadRequest",
    "AlreadyExists",
    "MethodNotAllowed",
    "ProxyConfig",
    "RequestAuthentication",
    "GiB",
    "MiB",
    "GitOps",
    "SimServer",
    "ConnectOptions",
    "RequestInput",
];

/// Severities stated next to a code in running text: `error DestinationRuleDisablesTls ...`
/// (the table output) and `"severity": "error", "code": "X"` (JSON examples).
fn stated_severities(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            // `error DestinationRuleDisablesTls ...` (the table's findings), not `error: ...`.
            let sev = pair[0].trim_start_matches(|c: char| !c.is_ascii_alphabetic());
            let code = pair[1].trim_matches(|c: char| !c.is_ascii_alphanumeric());
            if matches!(sev, "error" | "warning" | "info") && camel_words(code) == [code] {
                out.push((code.to_string(), sev.to_string()));
            }
        }
        if let (Some(s), Some(c)) = (line.find("\"severity\": \""), line.find("\"code\": \"")) {
            let value = |at: usize, key: &str| {
                line[at + key.len()..]
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            };
            out.push((value(c, "\"code\": \""), value(s, "\"severity\": \"")));
        }
    }
    out
}

#[test]
fn every_code_named_in_docs_exists_with_the_severity_stated() {
    let known = known_codes();
    let mut problems = Vec::new();
    for (name, text) in docs() {
        for (code, sev) in stated_severities(&text) {
            match known.get(&code) {
                Some(real) if *real == sev => {}
                Some(real) => problems.push(format!("{name}: {code} is {real}, the doc says {sev}")),
                None => problems.push(format!("{name}: {code} (as {sev}) is not a finding code")),
            }
        }
        // Code-like names in backticks or parentheses must be real codes.
        for quoted in text
            .split('`')
            .skip(1)
            .step_by(2)
            .chain(text.split('(').skip(1).filter_map(|s| s.split(')').next()))
        {
            for w in camel_words(quoted) {
                if !known.contains_key(&w) && !NOT_CODES.contains(&w.as_str()) {
                    problems.push(format!(
                        "{name}: `{w}` is not a finding code (if it is no code at all, add it to NOT_CODES)"
                    ));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "docs name codes the binary does not emit:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// JSON fields

/// The `jsonc` block after `<!-- schema: NAME -->`, comments removed, parsed.
fn schema(doc_name: &str, name: &str) -> Value {
    let text = doc(doc_name);
    let marker = format!("<!-- schema: {name} -->");
    let after = text
        .split_once(&marker)
        .unwrap_or_else(|| panic!("{doc_name} has no {marker}"))
        .1;
    let block = after
        .split_once("```jsonc\n")
        .and_then(|(_, b)| b.split_once("\n```"))
        .unwrap_or_else(|| panic!("{doc_name}: no ```jsonc block after {marker}"))
        .0;
    let mut json = String::new();
    for line in block.lines() {
        // Drop `// comment` outside strings.
        let mut in_string = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\\' if in_string => escaped = !escaped,
                b'"' if !escaped => in_string = !in_string,
                b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                    cut = i;
                    break;
                }
                _ => escaped = false,
            }
            if b != b'\\' {
                escaped = false;
            }
        }
        json.push_str(&line[..cut]);
        json.push('\n');
    }
    serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{doc_name} schema {name} is not JSON: {e}\n{json}"))
}

/// Every key path of a document: `a.b`, `list[].c`; keys that are numbers (maps keyed by port)
/// become `*`.
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let key = if k.chars().all(|c| c.is_ascii_digit()) {
                    "*"
                } else {
                    k.as_str()
                };
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn path_set(docs: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for d in docs {
        paths(d, "", &mut out);
    }
    out
}

fn compare(what: &str, documented: &Value, emitted: &[Value]) {
    let doc = path_set(std::slice::from_ref(documented));
    let real = path_set(emitted);
    let undocumented: Vec<&String> = real.difference(&doc).collect();
    let never: Vec<&String> = doc.difference(&real).collect();
    assert!(
        undocumented.is_empty() && never.is_empty(),
        "{what}: fields emitted but not documented: {undocumented:?}; documented but never emitted: {never:?}"
    );
}

/// A workload policy selecting no pod: a `SelectorMatchesNoPod` finding.
const NO_POD_POLICY: &str = "apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: nobody
  namespace: istioinaction
spec:
  selector:
    matchLabels:
      app: nobody
  mtls:
    mode: STRICT
";

/// Plaintext toward web-api from `default`: a `DestinationRulePlaintext` finding.
const PLAINTEXT_RULE: &str = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web-api-plain
  namespace: default
spec:
  host: web-api.istioinaction.svc.cluster.local
  trafficPolicy:
    tls:
      mode: DISABLE
";

const PORT_POLICY: &str = "apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: web-api-ports
  namespace: istioinaction
spec:
  selector:
    matchLabels:
      app: web-api
  mtls:
    mode: STRICT
  portLevelMtls:
    \"8080\":
      mode: PERMISSIVE
";

#[test]
fn status_json_fields_are_the_documented_ones() {
    let reader =
        User::new("reader", "reader-token").allow(Rule::new(&["get", "list"], &["pods", "services"]));
    let lab = Lab::start(Scenario::lab().user(reader));
    lab.put_yaml(PORT_POLICY);
    lab.put_yaml(NO_POD_POLICY);
    let full = lab.plugin(&["status", "-A", "-o", "json", "--require", "strict"]);
    assert_eq!(full.code, 1, "the lab is not all STRICT: {}", full.stderr);
    let partial = lab.plugin_as(
        "reader",
        &["status", "istioinaction", "-o", "json", "--require", "permissive"],
    );
    let partial = partial.json();
    // With traffic read from the proxies, the per-workload traffic fields are emitted too.
    let traffic_lab = Lab::start(Scenario::lab().with_simulated_mesh());
    traffic_lab
        .sim()
        .cluster()
        .simulate_flows(&kube_sim::TrafficFlow::lab(), 2)
        .expect("simulate the lab's traffic");
    let traffic = traffic_lab.plugin(&[
        "status",
        "istioinaction",
        "-o",
        "json",
        "--telemetry-from",
        "proxies",
    ]);
    assert_eq!(traffic.code, 0, "{}", traffic.stderr);
    assert!(
        partial["gaps"].as_array().is_some_and(|g| !g.is_empty()),
        "{partial}"
    );
    compare(
        "status -o json",
        &schema("docs/status.md", "status"),
        &[full.json(), partial, traffic.json()],
    );
}

#[test]
fn probe_json_fields_are_the_documented_ones() {
    let lab = Lab::start(Scenario::lab().with_simulated_mesh());
    lab.put_yaml(PORT_POLICY);
    lab.put_yaml(PLAINTEXT_RULE);
    let run = lab.plugin(&[
        "probe",
        "web-api.istioinaction:8080",
        "--from",
        "deploy/sleep",
        "--from-namespace",
        "default",
        "-o",
        "json",
    ]);
    let traffic = run.json();
    compare("probe -o json", &schema("docs/probe.md", "probe"), &[traffic]);
    let run = lab.plugin(&[
        "probe",
        "--certs",
        "deploy/web-api",
        "-n",
        "istioinaction",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let healthy = run.json();
    // A pod outside the mesh: no certificates, a finding.
    let run = lab.plugin(&["probe", "--certs", "deploy/sleep", "-n", "default", "-o", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    compare(
        "probe --certs -o json",
        &schema("docs/probe.md", "probe-certs"),
        &[healthy, run.json()],
    );
}

// ---------------------------------------------------------------------------------------------
// Usage errors shown in docs

/// Splits a shell command line the simple way docs write them: words, '...' and "..." quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Examples of the form "```\n$ kubectl mtls ARGS\nerror: ...\n```\nExit status: N." whose
/// output is only `error:` lines: (doc, args, stderr, exit code).
fn error_examples() -> Vec<(String, Vec<String>, String, i32)> {
    let mut out = Vec::new();
    for (name, text) in docs() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(cmd) = line.strip_prefix("$ kubectl mtls ") else {
                continue;
            };
            let output: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| !l.starts_with("```"))
                .copied()
                .collect();
            let after = lines.get(i + 2 + output.len()).copied().unwrap_or_default();
            let code = after
                .strip_prefix("Exit status: ")
                .and_then(|c| c.trim_end_matches('.').parse::<i32>().ok());
            let (Some(code), false) = (code, output.is_empty()) else {
                continue;
            };
            if !output.iter().all(|l| l.starts_with("error: ")) || cmd.contains("/tmp/") {
                continue;
            }
            out.push((name.clone(), shell_words(cmd), output.join("\n"), code));
        }
    }
    out
}

#[test]
fn error_examples_in_docs_are_what_the_binary_prints() {
    let lab = Lab::start(Scenario::lab());
    let examples = error_examples();
    assert!(examples.len() >= 8, "found only {examples:?}");
    let mut problems = Vec::new();
    for (name, args, stderr, code) in &examples {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = lab.plugin(&args);
        if run.stderr.trim_end() != stderr || run.code != *code {
            problems.push(format!(
                "{name}: kubectl mtls {}\n  documented (exit {code}): {stderr}\n  binary     (exit {}): {}",
                args.join(" "),
                run.code,
                run.stderr.trim_end()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
