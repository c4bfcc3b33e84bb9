//! The pure side of `probe`: parsing targets, building the client command (argv, never a
//! shell string), reading what curl or wget reported, what should happen under a given mode,
//! and the verdict. No I/O here; `cmd::probe` does the exec.

use std::time::Duration;

use serde::Serialize;

use crate::error::Error;

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Service name.
    pub service: String,
    /// Namespace, when given (else the context's namespace).
    pub namespace: Option<String>,
    /// Service port, when given (else the Service's first port).
    pub port: Option<u16>,
    /// Request path, starting with `/`.
    pub path: String,
}

impl Target {
    /// The URL a client in `namespace` uses, with the resolved namespace and port.
    pub fn url(&self, namespace: &str, port: u16) -> String {
        format!("http://{}.{}:{}{}", self.service, namespace, port, self.path)
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Parses `SERVICE[.NAMESPACE][:PORT][/PATH]` or an `http://` URL whose host is a Service
/// name (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`).
pub fn parse_target(input: &str) -> Result<Target, Error> {
    let bad = |why: &str| Error::Usage(format!("invalid probe target {input:?}: {why}"));
    let rest = if let Some(r) = input.strip_prefix("http://") {
        r
    } else if input.starts_with("https://") {
        return Err(bad(
            "use http://: the sidecars do the TLS; an https:// request would be TLS inside mTLS and not test the policy",
        ));
    } else if input.contains("://") {
        return Err(bad("only http:// URLs are supported"));
    } else {
        input
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    // Only what RFC 3986 allows unencoded in a path and query: no spaces, no `{}[]` (which
    // curl would expand as globs), no control characters.
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%".contains(*c)))
    {
        return Err(bad(&format!(
            "the path may not contain {c:?}: percent-encode it (e.g. %20 for a space)"
        )));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            let port: u16 = p
                .parse()
                .map_err(|_| bad("the port must be a number from 1 to 65535"))?;
            if port == 0 {
                return Err(bad("the port must be a number from 1 to 65535"));
            }
            (h, Some(port))
        }
        None => (hostport, None),
    };
    let labels: Vec<&str> = host.split('.').collect();
    let (service, namespace) = match labels.as_slice() {
        [svc] => (*svc, None),
        [svc, ns] | [svc, ns, "svc"] => (*svc, Some(*ns)),
        [svc, ns, "svc", ..] => (*svc, Some(*ns)),
        _ => {
            return Err(bad(
                "the host must be SERVICE, SERVICE.NAMESPACE or SERVICE.NAMESPACE.svc[.DOMAIN]",
            ));
        }
    };
    if !is_dns_label(service) {
        return Err(bad(
            "the service name must be a DNS label (lower-case letters, digits, '-')",
        ));
    }
    if let Some(ns) = namespace
        && !is_dns_label(ns)
    {
        return Err(bad(
            "the namespace must be a DNS label (lower-case letters, digits, '-')",
        ));
    }
    Ok(Target {
        service: service.to_string(),
        namespace: namespace.map(str::to_string),
        port,
        path,
    })
}

/// The HTTP client a probe runs in the client container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// curl.
    Curl,
    /// wget (busybox or GNU), the fallback.
    Wget,
}

/// The argv to exec: no shell, the URL is one argument.
pub fn command(tool: Tool, url: &str, timeout: Duration) -> Vec<String> {
    let secs = timeout.as_secs().max(1).to_string();
    match tool {
        Tool::Curl => [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            &secs,
            url,
        ]
        .map(str::to_string)
        .to_vec(),
        Tool::Wget => ["wget", "-q", "-S", "-O", "/dev/null", "-T", &secs, url]
            .map(str::to_string)
            .to_vec(),
    }
}

/// What the client saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Outcome {
    /// The server accepted the connection and answered with this HTTP status.
    Accepted {
        /// HTTP status code.
        status: u16,
    },
    /// The connection was rejected (reset, empty reply, failed handshake, or the client's
    /// sidecar could not connect upstream).
    Rejected {
        /// Why, in words.
        detail: String,
    },
    /// Nothing listens on the port.
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// The host name does not resolve.
    Dns,
    /// Neither curl nor wget is in the client container.
    NoClientTool,
    /// Something else failed.
    Error {
        /// Exit code.
        exit: i32,
        /// What the tool printed.
        detail: String,
    },
}

impl Outcome {
    /// A short phrase for tables.
    pub fn words(&self) -> String {
        match self {
            Outcome::Accepted { status } => format!("accepted (HTTP {status})"),
            Outcome::Rejected { detail } => format!("rejected ({detail})"),
            Outcome::Refused => "connection refused (nothing listens on the port)".into(),
            Outcome::Timeout => "timed out".into(),
            Outcome::Dns => "host not found (DNS)".into(),
            Outcome::NoClientTool => "no curl or wget in the client container".into(),
            Outcome::Error { exit, detail } => format!("failed (exit {exit}: {detail})"),
        }
    }
}

/// Whether an exec result means the tool itself is missing from the image.
pub fn tool_missing(exit: i32, stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    exit == 127
        || exit == 126
        || s.contains("executable file not found")
        || s.contains("no such file or directory") && s.contains("exec")
        || s.contains("command not found")
}

/// Reads curl's exit code and `-w '%{http_code}'` output. `client_in_mesh` matters: a client
/// with a sidecar talks plaintext to its own proxy, so a rejection by the server comes back as
/// HTTP 503 from that proxy rather than as a reset.
pub fn interpret_curl(exit: i32, stdout: &str, stderr: &str, client_in_mesh: bool) -> Outcome {
    let code: u16 = stdout.trim().parse().unwrap_or(0);
    let first = stderr.lines().next().unwrap_or("").trim().to_string();
    match exit {
        0 if client_in_mesh && code == 503 => Outcome::Rejected {
            detail: "HTTP 503 from the client's sidecar: upstream connect error".into(),
        },
        0 if code > 0 => Outcome::Accepted { status: code },
        56 => Outcome::Rejected {
            detail: "connection reset by peer, curl exit 56".into(),
        },
        52 => Outcome::Rejected {
            detail: "empty reply from server, curl exit 52".into(),
        },
        35 => Outcome::Rejected {
            detail: "TLS handshake failed, curl exit 35".into(),
        },
        7 => Outcome::Refused,
        28 => Outcome::Timeout,
        6 => Outcome::Dns,
        e if tool_missing(e, stderr) => Outcome::NoClientTool,
        e => Outcome::Error {
            exit: e,
            detail: if first.is_empty() {
                "no output".into()
            } else {
                first
            },
        },
    }
}

/// Reads wget's exit code and its `-S` header dump on stderr (busybox and GNU wording).
pub fn interpret_wget(exit: i32, stderr: &str, client_in_mesh: bool) -> Outcome {
    let lower = stderr.to_ascii_lowercase();
    let status = stderr
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("HTTP/").or_else(|| l.split("HTTP/").nth(1))?;
            rest.split_whitespace().nth(1)?.parse::<u16>().ok()
        })
        .next_back();
    if lower.contains("reset by peer") {
        return Outcome::Rejected {
            detail: "connection reset by peer (wget)".into(),
        };
    }
    if lower.contains("connection refused") {
        return Outcome::Refused;
    }
    if lower.contains("timed out") {
        return Outcome::Timeout;
    }
    if lower.contains("bad address")
        || lower.contains("unable to resolve")
        || lower.contains("name or service")
    {
        return Outcome::Dns;
    }
    match status {
        Some(503) if client_in_mesh => Outcome::Rejected {
            detail: "HTTP 503 from the client's sidecar: upstream connect error".into(),
        },
        Some(code) => Outcome::Accepted { status: code },
        None if exit == 0 => Outcome::Accepted { status: 200 },
        None if tool_missing(exit, stderr) => Outcome::NoClientTool,
        None if lower.contains("error getting response") || lower.contains("empty") => Outcome::Rejected {
            detail: "no response (wget)".into(),
        },
        None => Outcome::Error {
            exit,
            detail: stderr.lines().next().unwrap_or("no output").trim().to_string(),
        },
    }
}

/// The effective mode on the probed port, and whether it was set at workload level (where a
/// DISABLE is invisible to clients' automatic mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enforcement {
    /// STRICT, PERMISSIVE or DISABLE.
    pub mode: crate::model::Mode,
    /// Whether a workload-level policy (or port-level setting) decided it while the namespace
    /// level, which clients' automatic mTLS sees, is not DISABLE: a DISABLE here is invisible to
    /// clients.
    pub workload_level: bool,
    /// Whether the target pods are in the mesh (something enforces the policy).
    pub target_in_mesh: bool,
    /// Whether the port is excluded from the sidecar's interception (no policy applies).
    pub port_bypassed: bool,
}

/// What should happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    /// The connection should be accepted.
    Accept,
    /// The connection should be rejected.
    Reject,
}

/// The expected outcome for a client, with the reason.
pub fn expected(e: Enforcement, client_in_mesh: bool) -> (Expected, &'static str) {
    use crate::model::Mode as M;
    if !e.target_in_mesh {
        return (
            Expected::Accept,
            "the target pods have no sidecar or ztunnel: nothing enforces the policy",
        );
    }
    if e.port_bypassed {
        return (
            Expected::Accept,
            "the port is excluded from the sidecar's interception: no policy applies there",
        );
    }
    match (e.mode, client_in_mesh) {
        (M::Strict, true) => (Expected::Accept, "STRICT: mTLS clients are accepted"),
        (M::Strict, false) => (Expected::Reject, "STRICT: plaintext clients are rejected"),
        (M::Permissive, _) => (Expected::Accept, "PERMISSIVE: plaintext and mTLS are accepted"),
        (M::Disable, false) => (Expected::Accept, "DISABLE: plaintext is accepted"),
        (M::Disable, true) if e.workload_level => (
            Expected::Reject,
            "workload-level DISABLE: the client's sidecar still sends mTLS, which the server refuses",
        ),
        (M::Disable, true) => (
            Expected::Accept,
            "namespace/mesh DISABLE: clients switch to plaintext",
        ),
    }
}

/// The verdict of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Reality matches the policy.
    Pass,
    /// Reality differs from the policy.
    Mismatch,
    /// Plaintext was accepted where STRICT is expected: a security finding.
    PlaintextAccepted,
    /// The probe could not tell (refused, timeout, DNS, no tool).
    Inconclusive,
}

/// Compares expectation and observation.
pub fn verdict(expect: Expected, outcome: &Outcome, strict_plaintext: bool) -> Verdict {
    match (expect, outcome) {
        (Expected::Accept, Outcome::Accepted { .. }) | (Expected::Reject, Outcome::Rejected { .. }) => {
            Verdict::Pass
        }
        (Expected::Reject, Outcome::Accepted { .. }) if strict_plaintext => Verdict::PlaintextAccepted,
        (_, Outcome::Accepted { .. } | Outcome::Rejected { .. }) => Verdict::Mismatch,
        _ => Verdict::Inconclusive,
    }
}

impl Verdict {
    /// The word shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Mismatch => "MISMATCH",
            Verdict::PlaintextAccepted => "SECURITY: plaintext accepted",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// Whether this verdict makes the command exit 1.
    pub fn fails(self) -> bool {
        self != Verdict::Pass
    }
}

/// A pod given on the command line: `POD`, `pod/POD` or `deploy/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodRef {
    /// A pod by name.
    Pod(String),
    /// One pod of a Deployment (a running one, as `kubectl exec deploy/NAME` picks).
    Deployment(String),
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodRef::Pod(n) => f.write_str(n),
            PodRef::Deployment(n) => write!(f, "deploy/{n}"),
        }
    }
}

/// Parses `POD`, `pod/POD` (`po/`, `pods/`) or `deploy/NAME` (`deployment/`, `deployments/`).
pub fn parse_pod_ref(input: &str) -> Result<PodRef, Error> {
    let bad = |why: &str| Error::Usage(format!("invalid pod {input:?}: {why}"));
    let (kind, name) = match input.split_once('/') {
        Some((k, n)) => (Some(k), n),
        None => (None, input),
    };
    let valid = !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label);
    if !valid {
        return Err(bad("a name must be lower-case letters, digits, '-' and '.'"));
    }
    match kind {
        None | Some("pod" | "pods" | "po") => Ok(PodRef::Pod(name.to_string())),
        Some("deploy" | "deployment" | "deployments") => Ok(PodRef::Deployment(name.to_string())),
        Some(other) => Err(bad(&format!(
            "unsupported kind {other:?}: use POD, pod/POD or deploy/NAME"
        ))),
    }
}

/// The annotation naming the container `kubectl exec` uses by default.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// The container to run the client in: the `kubectl.kubernetes.io/default-container`
/// annotation when it names an application container, else the first container that is not
/// `istio-proxy`. Never `istio-proxy`: its own traffic bypasses interception and would leave
/// as plaintext, proving nothing.
pub fn app_container(pod: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    use crate::model::pod::PROXY_CONTAINER;
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        .filter(|c| c.as_str() != PROXY_CONTAINER && containers.iter().any(|k| &k.name == *c));
    annotated.cloned().or_else(|| {
        containers
            .iter()
            .find(|c| c.name != PROXY_CONTAINER)
            .map(|c| c.name.clone())
    })
}

/// Whether a pod is Running and, when it reports a Ready condition, ready.
pub fn pod_is_running(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    if status.phase.as_deref() != Some("Running") || pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    match status
        .conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
    {
        Some(ready) => ready.status == "True",
        None => true,
    }
}

/// How much a pod looks like a client made for probing (higher is better; 0 = usable but
/// nothing special): `app`/`name` labels or names of the usual curl pods.
pub fn client_score(name: &str, labels: &crate::model::Labels) -> u8 {
    const CLIENT_NAMES: &[&str] = &["sleep", "curl", "netshoot", "client", "toolbox"];
    let label_hit = ["app", "app.kubernetes.io/name", "name", "run"].iter().any(|k| {
        labels
            .get(*k)
            .is_some_and(|v| CLIENT_NAMES.iter().any(|c| v == c))
    });
    if label_hit {
        2
    } else if CLIENT_NAMES.iter().any(|c| name.contains(c)) {
        1
    } else {
        0
    }
}

/// How a client's sidecar sends traffic to the target, when something other than automatic
/// mTLS decides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTls {
    /// Whether the sidecar sends plaintext.
    pub plaintext: bool,
    /// Why (`DestinationRule shop/web-plain sets tls.mode DISABLE`).
    pub why: String,
}

/// Whether a DestinationRule is visible to clients in `client_ns` (`exportTo`).
fn exported_to(rule: &crate::model::DestinationRuleInfo, client_ns: &str) -> bool {
    rule.export_to.is_empty()
        || rule
            .export_to
            .iter()
            .any(|e| e == "*" || e == client_ns || (e == "." && rule.namespace == client_ns))
}

/// What a sidecar client in `client_ns` with `client_labels` sends to a Service port, given the
/// DestinationRules for that Service's host (already matched to the Service) and whether
/// automatic mTLS is on. `None`: automatic mTLS decides (mTLS to meshed pods, plaintext for a
/// namespace- or mesh-level DISABLE).
///
/// Like Istio, one rule applies per client: the client namespace's own rule first, then the
/// Service namespace's, then the root namespace's, each only when exported to the client and
/// when its `workloadSelector` selects the client. In that rule a `portLevelSettings` entry for
/// the port wins over the rule-level `tls`. Subset settings are ignored (a probe through the
/// Service does not pick a subset).
pub fn client_tls(
    rules: &[crate::model::DestinationRuleInfo],
    client_ns: &str,
    client_labels: &crate::model::Labels,
    service_ns: &str,
    root_ns: &str,
    service_port: u32,
    auto_mtls: bool,
) -> Option<ClientTls> {
    use crate::model::TlsMode;
    let applies = |r: &&crate::model::DestinationRuleInfo| {
        exported_to(r, client_ns)
            && r.workload_selector
                .iter()
                .all(|(k, v)| client_labels.get(k) == Some(v))
    };
    let rank = |r: &crate::model::DestinationRuleInfo| {
        if r.namespace == client_ns {
            0
        } else if r.namespace == service_ns {
            1
        } else if r.namespace == root_ns {
            2
        } else {
            3
        }
    };
    let mut candidates: Vec<&crate::model::DestinationRuleInfo> = rules.iter().filter(applies).collect();
    candidates.sort_by_key(|r| (rank(r), r.created, r.name.clone()));
    let rule = candidates.first();
    let setting = rule.and_then(|r| {
        let top = r.tls.iter().filter(|t| t.subset.is_none());
        top.clone()
            .find(|t| t.port == Some(service_port))
            .or_else(|| top.clone().find(|t| t.port.is_none()))
    });
    match (rule, setting) {
        (Some(r), Some(t)) => match t.mode {
            TlsMode::Disable => Some(ClientTls {
                plaintext: true,
                why: format!(
                    "DestinationRule {}/{} sets tls.mode DISABLE, so the client's sidecar sends plaintext",
                    r.namespace, r.name
                ),
            }),
            TlsMode::IstioMutual => Some(ClientTls {
                plaintext: false,
                why: format!(
                    "DestinationRule {}/{} sets tls.mode ISTIO_MUTUAL",
                    r.namespace, r.name
                ),
            }),
            _ => None,
        },
        _ if !auto_mtls => Some(ClientTls {
            plaintext: true,
            why: "enableAutoMtls is false and no DestinationRule asks for ISTIO_MUTUAL, so the client's sidecar sends plaintext".into(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mode as M;

    #[test]
    fn targets_parse_in_every_form() {
        let t = parse_target("web-api.istioinaction:8080/health").unwrap();
        assert_eq!(
            t,
            Target {
                service: "web-api".into(),
                namespace: Some("istioinaction".into()),
                port: Some(8080),
                path: "/health".into()
            }
        );
        let t = parse_target("http://web-api.istioinaction.svc.cluster.local:8080/").unwrap();
        assert_eq!(
            (t.service.as_str(), t.namespace.as_deref(), t.port),
            ("web-api", Some("istioinaction"), Some(8080))
        );
        let t = parse_target("web-api").unwrap();
        assert_eq!(
            (t.namespace.as_deref(), t.port, t.path.as_str()),
            (None, None, "/")
        );
        assert_eq!(t.url("default", 80), "http://web-api.default:80/");
    }

    #[test]
    fn bad_targets_are_usage_errors() {
        for bad in [
            "https://web-api",
            "ftp://x",
            "web-api:0",
            "web-api:99999",
            "web-api:http",
            "Web_Api",
            "a.b.c.d",
            "",
            "web-api/{a,b}",
            "web-api/a b",
            "http://web-api/[1-9]",
        ] {
            let err = parse_target(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().starts_with("invalid probe target"), "{err}");
        }
    }

    #[test]
    fn commands_are_argv_without_a_shell() {
        let argv = command(Tool::Curl, "http://x.y:80/$(reboot)", Duration::from_secs(5));
        assert_eq!(argv[0], "curl");
        assert_eq!(argv.last().unwrap(), "http://x.y:80/$(reboot)");
        assert!(argv.windows(2).any(|w| w[0] == "--max-time" && w[1] == "5"));
        let argv = command(Tool::Wget, "http://x.y:80/", Duration::from_millis(200));
        assert!(argv.windows(2).any(|w| w[0] == "-T" && w[1] == "1"));
    }

    #[test]
    fn curl_results_are_read() {
        assert_eq!(
            interpret_curl(0, "200", "", false),
            Outcome::Accepted { status: 200 }
        );
        assert_eq!(
            interpret_curl(0, "404", "", true),
            Outcome::Accepted { status: 404 }
        );
        assert!(matches!(
            interpret_curl(0, "503", "", true),
            Outcome::Rejected { .. }
        ));
        assert_eq!(
            interpret_curl(0, "503", "", false),
            Outcome::Accepted { status: 503 }
        );
        assert!(
            matches!(interpret_curl(56, "000", "curl: (56) Recv failure: Connection reset by peer", false),
            Outcome::Rejected { detail } if detail.contains("reset"))
        );
        assert!(matches!(
            interpret_curl(52, "000", "", false),
            Outcome::Rejected { .. }
        ));
        assert!(matches!(
            interpret_curl(35, "000", "", false),
            Outcome::Rejected { .. }
        ));
        assert_eq!(interpret_curl(7, "000", "", false), Outcome::Refused);
        assert_eq!(interpret_curl(28, "000", "", false), Outcome::Timeout);
        assert_eq!(interpret_curl(6, "000", "", false), Outcome::Dns);
        assert_eq!(
            interpret_curl(127, "", "sh: curl: not found", false),
            Outcome::NoClientTool
        );
        assert!(matches!(
            interpret_curl(3, "", "curl: (3) URL malformed", false),
            Outcome::Error { exit: 3, .. }
        ));
    }

    #[test]
    fn wget_results_are_read() {
        assert_eq!(
            interpret_wget(0, "  HTTP/1.1 200 OK\n", false),
            Outcome::Accepted { status: 200 }
        );
        assert_eq!(
            interpret_wget(1, "wget: server returned error: HTTP/1.1 404 Not Found\n", false),
            Outcome::Accepted { status: 404 }
        );
        assert!(matches!(
            interpret_wget(1, "wget: error getting response: Connection reset by peer", false),
            Outcome::Rejected { .. }
        ));
        assert_eq!(
            interpret_wget(1, "wget: can't connect to remote host: Connection refused", false),
            Outcome::Refused
        );
        assert_eq!(interpret_wget(1, "wget: bad address 'x.y'", false), Outcome::Dns);
        assert_eq!(
            interpret_wget(1, "wget: download timed out", false),
            Outcome::Timeout
        );
        assert!(matches!(
            interpret_wget(0, "HTTP/1.1 503 Service Unavailable", true),
            Outcome::Rejected { .. }
        ));
    }

    fn enf(mode: M, workload_level: bool) -> Enforcement {
        Enforcement {
            mode,
            workload_level,
            target_in_mesh: true,
            port_bypassed: false,
        }
    }

    #[test]
    fn expectations_follow_the_mode() {
        assert_eq!(expected(enf(M::Strict, false), true).0, Expected::Accept);
        assert_eq!(expected(enf(M::Strict, false), false).0, Expected::Reject);
        assert_eq!(expected(enf(M::Permissive, false), false).0, Expected::Accept);
        assert_eq!(expected(enf(M::Permissive, true), true).0, Expected::Accept);
        assert_eq!(expected(enf(M::Disable, false), true).0, Expected::Accept);
        assert_eq!(expected(enf(M::Disable, false), false).0, Expected::Accept);
        assert_eq!(expected(enf(M::Disable, true), true).0, Expected::Reject);
        assert_eq!(expected(enf(M::Disable, true), false).0, Expected::Accept);
        let unenforced = Enforcement {
            target_in_mesh: false,
            ..enf(M::Strict, false)
        };
        assert_eq!(expected(unenforced, false).0, Expected::Accept);
        let bypassed = Enforcement {
            port_bypassed: true,
            ..enf(M::Strict, false)
        };
        let (e, why) = expected(bypassed, false);
        assert_eq!(e, Expected::Accept);
        assert!(why.contains("excluded from the sidecar's interception"), "{why}");
    }

    #[test]
    fn verdicts_compare_expectation_and_observation() {
        let ok = Outcome::Accepted { status: 200 };
        let rej = Outcome::Rejected {
            detail: "reset".into(),
        };
        assert_eq!(verdict(Expected::Accept, &ok, false), Verdict::Pass);
        assert_eq!(verdict(Expected::Reject, &rej, true), Verdict::Pass);
        assert_eq!(verdict(Expected::Reject, &ok, true), Verdict::PlaintextAccepted);
        assert_eq!(verdict(Expected::Reject, &ok, false), Verdict::Mismatch);
        assert_eq!(verdict(Expected::Accept, &rej, false), Verdict::Mismatch);
        assert_eq!(
            verdict(Expected::Accept, &Outcome::Timeout, false),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn pod_refs_parse() {
        assert_eq!(
            parse_pod_ref("sleep-abc").unwrap(),
            PodRef::Pod("sleep-abc".into())
        );
        assert_eq!(parse_pod_ref("po/x").unwrap(), PodRef::Pod("x".into()));
        assert_eq!(
            parse_pod_ref("deploy/sleep").unwrap(),
            PodRef::Deployment("sleep".into())
        );
        assert_eq!(
            parse_pod_ref("deployments/sleep").unwrap().to_string(),
            "deploy/sleep"
        );
        for bad in ["", "svc/x", "deploy/", "Sleep", "a b"] {
            assert_eq!(parse_pod_ref(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    fn pod_with(containers: &[&str], annotation: Option<&str>) -> k8s_openapi::api::core::v1::Pod {
        use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
        Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                annotations: annotation
                    .map(|a| [(DEFAULT_CONTAINER_ANNOTATION.to_string(), a.to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: containers
                    .iter()
                    .map(|n| Container {
                        name: n.to_string(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn the_client_container_is_never_the_proxy() {
        assert_eq!(
            app_container(&pod_with(&["istio-proxy", "sleep"], None)).as_deref(),
            Some("sleep")
        );
        assert_eq!(
            app_container(&pod_with(&["a", "b"], Some("b"))).as_deref(),
            Some("b")
        );
        // an annotation naming the proxy (or a missing container) is not followed
        assert_eq!(
            app_container(&pod_with(&["istio-proxy", "app"], Some("istio-proxy"))).as_deref(),
            Some("app")
        );
        assert_eq!(
            app_container(&pod_with(&["app"], Some("gone"))).as_deref(),
            Some("app")
        );
        assert_eq!(app_container(&pod_with(&["istio-proxy"], None)), None);
    }

    #[test]
    fn running_means_running_and_ready() {
        use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
        let mut p = pod_with(&["app"], None);
        assert!(!pod_is_running(&p));
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        });
        assert!(pod_is_running(&p));
        p.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "False".into(),
            ..Default::default()
        }]);
        assert!(!pod_is_running(&p));
        p.status.as_mut().unwrap().phase = Some("Pending".into());
        assert!(!pod_is_running(&p));
    }

    #[test]
    fn curl_pods_are_preferred_as_clients() {
        let l = |k: &str, v: &str| -> crate::model::Labels { [(k.to_string(), v.to_string())].into() };
        assert_eq!(client_score("sleep-6f8cfb8c8f-x", &l("app", "sleep")), 2);
        assert_eq!(client_score("x", &l("app.kubernetes.io/name", "curl")), 2);
        assert_eq!(client_score("my-curl-box", &l("app", "tools")), 1);
        assert_eq!(client_score("web-api-1", &l("app", "web-api")), 0);
    }

    #[test]
    fn verdict_words_and_exit() {
        assert!(!Verdict::Pass.fails());
        assert!(Verdict::Mismatch.fails() && Verdict::Inconclusive.fails());
        assert!(Verdict::PlaintextAccepted.as_str().starts_with("SECURITY"));
    }

    fn rule(
        ns: &str,
        name: &str,
        tls: Vec<(Option<u32>, crate::model::TlsMode)>,
    ) -> crate::model::DestinationRuleInfo {
        crate::model::DestinationRuleInfo {
            namespace: ns.into(),
            name: name.into(),
            created: crate::model::Created(0),
            host: "web-api".into(),
            export_to: vec![],
            workload_selector: Default::default(),
            tls: tls
                .into_iter()
                .map(|(port, mode)| crate::model::DrTlsSetting {
                    subset: None,
                    subset_labels: Default::default(),
                    port,
                    mode,
                })
                .collect(),
            unknowns: vec![],
        }
    }

    #[test]
    fn destination_rules_decide_what_a_sidecar_client_sends() {
        use crate::model::TlsMode as T;
        let none = crate::model::Labels::new();
        let tls = |rules: &[crate::model::DestinationRuleInfo], client_ns: &str, auto: bool| {
            client_tls(rules, client_ns, &none, "shop", "istio-system", 8080, auto)
        };
        assert_eq!(tls(&[], "shop", true), None);
        let off = tls(&[], "shop", false).unwrap();
        assert!(off.plaintext && off.why.contains("enableAutoMtls"), "{off:?}");
        let plain = rule("shop", "plain", vec![(None, T::Disable)]);
        let r = tls(std::slice::from_ref(&plain), "other", true).unwrap();
        assert!(r.plaintext && r.why.contains("shop/plain"), "{r:?}");
        // the port-level setting wins over the rule level; another port's does not apply
        let ports = rule(
            "shop",
            "ports",
            vec![(None, T::Disable), (Some(8080), T::IstioMutual)],
        );
        assert!(!tls(std::slice::from_ref(&ports), "shop", true).unwrap().plaintext);
        let other_port = rule("shop", "p", vec![(Some(9090), T::Disable)]);
        assert_eq!(tls(&[other_port], "shop", true), None);
        // the client namespace's own rule wins over the service namespace's
        let own = rule("client", "own", vec![(None, T::IstioMutual)]);
        assert!(!tls(&[plain.clone(), own], "client", true).unwrap().plaintext);
        // exportTo "." hides a rule from other namespaces
        let mut private = plain.clone();
        private.export_to = vec![".".into()];
        assert_eq!(tls(std::slice::from_ref(&private), "client", true), None);
        assert!(tls(&[private], "shop", true).unwrap().plaintext);
        // a workloadSelector that does not select the client
        let mut scoped = plain;
        scoped.workload_selector = [("app".to_string(), "legacy".to_string())].into();
        assert_eq!(tls(&[scoped], "shop", true), None);
    }
}
