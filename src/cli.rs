//! Command line: the clap definitions and global kubectl-style flags, nothing else. The entry
//! point that turns every outcome into an exit code is [`crate::run`].

use std::ffi::OsString;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::style::ColorChoice;

/// The name the usage text uses, chosen from how the binary was invoked.
///
/// kubectl runs a plugin with `argv[0]` set to the plugin's path (`.../kubectl-mtls`), so a
/// binary whose file name starts with `kubectl-` presents itself as `kubectl mtls`, the way
/// the user typed it.
pub fn display_name(argv0: Option<&OsString>) -> String {
    let file = argv0
        .and_then(|a| {
            std::path::Path::new(a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "kubectl-mtls".to_string());
    match file.strip_prefix("kubectl-") {
        Some(plugin) if !plugin.is_empty() => format!("kubectl {}", plugin.replace('-', " ")),
        _ => file,
    }
}

/// Make Istio mutual TLS visible, safe to turn on, and provable.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mtls",
    version,
    about = "Make Istio mutual TLS visible, safe to turn on, and provable",
    long_about = "Make Istio mutual TLS visible, safe to turn on, and provable.\n\n\
        Reads PeerAuthentication, DestinationRule, namespaces and pods, resolves the mTLS mode \
        every namespace, workload and port really gets (exactly as Istio does), changes policies \
        safely, and proves enforcement with real traffic.",
    after_help = "Global flags (--kubeconfig, --context, -n, ...) may be given before or after the subcommand.",
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Connection and output flags shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every kubectl user expects, accepted before or after the subcommand.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file to use (default: $KUBECONFIG, several paths merged, else ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// The kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// The kubeconfig cluster to use
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,

    /// The kubeconfig user to use
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// The namespace scope (default: the context's namespace, else "default")
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,

    /// How long to wait for a single server request (e.g. 30s, 1m, 500ms; 0 waits forever)
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_request_timeout)]
    pub request_timeout: RequestTimeout,

    /// Username to impersonate for the operation
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,

    /// Group to impersonate for the operation (repeat for several groups)
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,

    /// Do not verify the server's certificate (insecure)
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,

    /// Log requests to stderr (credentials redacted): -v (or -v 6, -v=6, -v6) logs each request, -v 7 adds headers
    #[arg(
        short = 'v',
        long = "verbose",
        visible_alias = "v",
        global = true,
        value_name = "LEVEL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "6",
        default_value = "0",
        hide_default_value = true
    )]
    pub verbose: u8,

    /// When to colour output: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// A `--request-timeout` value; zero means no timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

/// Parses kubectl's duration forms: `0`, a bare number of seconds, or a number with a unit
/// (`ms`, `s`, `m`, `h`), also combined like `1m30s`.
pub fn parse_request_timeout(s: &str) -> Result<RequestTimeout, String> {
    let d = parse_duration(s)?;
    Ok(RequestTimeout(if d.is_zero() { None } else { Some(d) }))
}

/// Parses a Go-style duration (`5s`, `1m30s`, `250ms`, `1.5s`; units `ns`, `us`/`µs`, `ms`,
/// `s`, `m`, `h`) or a bare number of seconds. Exact: decimals are read digit by digit (to the
/// nanosecond, as Go does), never through a float.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("invalid duration {s:?}: use a number with a unit, e.g. 5s, 1m, 500ms");
    if s.is_empty() {
        return Err(bad());
    }
    if s.starts_with('-') {
        return Err(format!("invalid duration {s:?}: a duration cannot be negative"));
    }
    let too_long = || format!("invalid duration {s:?}: too long");
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().map(Duration::from_secs).map_err(|_| too_long());
    }
    let mut total: u128 = 0;
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (int, frac) = match rest[..digits].split_once('.') {
            Some((i, f)) => (i, f),
            None => (&rest[..digits], ""),
        };
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(bad());
        }
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| too_long())?
        };
        let mut nanos = whole.checked_mul(unit).ok_or_else(too_long)?;
        // The fraction, digit by digit; below a nanosecond is dropped, as in Go.
        let mut scale = unit;
        for d in frac.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos += u128::from(d - b'0') * scale;
        }
        total = total.checked_add(nanos).ok_or_else(too_long)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// The longest `probe --timeout`: a probe is one HTTP request; beyond this it is a typo.
pub const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(600);

/// Parses `probe --timeout`: a duration more than 0 and at most [`MAX_PROBE_TIMEOUT`] (10m).
pub fn parse_probe_timeout(s: &str) -> Result<Duration, String> {
    let range = "the timeout must be more than 0 and at most 10m (e.g. 500ms, 1.5s, 2m)";
    let d = parse_duration(s).map_err(|e| {
        if s.trim().starts_with('-') {
            format!("invalid duration {:?}: {range}", s.trim())
        } else {
            e
        }
    })?;
    if d.is_zero() || d > MAX_PROBE_TIMEOUT {
        return Err(format!("invalid duration {:?}: {range}", s.trim()));
    }
    Ok(d)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the effective mTLS mode of namespaces, workloads and ports, who is in the mesh, and readiness for STRICT
    Status(StatusArgs),
    /// Change a PeerAuthentication safely (the one Istio honours), showing the change first
    #[command(
        long_about = "Change the PeerAuthentication Istio honours in a scope (mesh, namespace or workload selector) \
            with server-side apply, after showing the YAML diff and the effect on workloads.\n\n\
            The oldest policy of the scope is changed whatever its name (Istio ignores newer ones); without one, \
            `default` (or --name) is created. Only spec.mtls.mode, the given ports and, for a new selector \
            policy, the selector are owned (field manager kubectl-mtls). A change is refused (exit 1, nothing \
            written) when the cluster's configuration or its observed traffic shows it would break traffic or \
            not take effect: a DestinationRule sending plaintext to workloads that become STRICT, a \
            workload-level DISABLE mTLS clients would fail against, DISABLE on ambient workloads, a workload \
            policy shadowed by an older one, callers that sent plaintext (within --since, per Prometheus or the \
            proxies' counters) to workloads that become STRICT. --force writes anyway and says what it overrode.\n\n\
            --inherit removes the scope's policy instead (the rollback), with the same diff, effect, review \
            and dry runs; the DELETE carries the reviewed object's uid and resourceVersion, and a policy \
            holding fields of other field managers needs --force-conflicts.",
        after_help = "Examples:\n  kubectl mtls enable istioinaction --strict --dry-run\n  \
            kubectl mtls enable istioinaction --strict\n  \
            kubectl mtls enable istioinaction --strict --telemetry-from proxies\n  \
            kubectl mtls enable istioinaction -l app=web-api --strict --port 8080=PERMISSIVE\n  \
            kubectl mtls enable --mesh --permissive --dry-run=server\n  \
            kubectl mtls enable istioinaction --inherit --dry-run"
    )]
    Enable(EnableArgs),
    /// Show what `enable` (or a PeerAuthentication manifest) would change, as YAML and as effect on workloads
    #[command(
        long_about = "Show what `enable` with the same flags, or PeerAuthentication manifests (-f), would change: \
            a unified YAML diff of each object (live against the API server's dry-run apply result, or a \
            client-side merge when the server refuses the dry run), then the workloads and ports whose effective \
            mTLS mode changes and the findings the change would create or resolve. Nothing is written.",
        after_help = "Exit status (as kubectl diff): 0 no differences, 1 differences, 2 an error.\n\
            KUBECTL_EXTERNAL_DIFF=\"PROGRAM [FLAGS]\" runs PROGRAM on two directories (live and merged) holding \
            one file per object, named security.istio.io.VERSION.PeerAuthentication.NAMESPACE.NAME.\n\n\
            Examples:\n  kubectl mtls diff istioinaction --strict\n  kubectl mtls diff -f policies.yaml\n  \
            kustomize build overlays/prod | kubectl mtls diff -f -"
    )]
    Diff(DiffArgs),
    /// Prove enforcement with real traffic through pod exec (curl from a client in and one outside the mesh), and inspect workload certificates
    Probe(ProbeArgs),
    /// Draw the traffic graph from telemetry: each edge's mTLS share, the destination's mode, and what STRICT would do to it
    #[command(
        long_about = "Draw the traffic graph from telemetry (Prometheus or the sidecars' own counters): one edge per \
            caller, destination workload and protocol, with the requests (HTTP) or connections (TCP) seen, the \
            share over mutual TLS, the destination's effective mode on the ports its Service exposes, and a \
            verdict: mtls; plaintext-ok (DISABLE, or no proxy enforcing); breaks-under-strict (plaintext a \
            PERMISSIVE workload accepts now, which STRICT would cut); rejected (plaintext seen toward a workload \
            that is STRICT now: that caller fails now); unknown (the destination's mode could not be read). \
            The namespaces given are the destinations'; callers from anywhere are shown. Dangerous edges come \
            first.\n\n\
            Without telemetry (no --prometheus, none found, --telemetry off) there is nothing to draw: exit 1. \
            Telemetry that could not be read completely prints a warning per source and exits 1 after the graph.",
        after_help = "Examples:\n  kubectl mtls graph istioinaction\n  \
            kubectl mtls graph istioinaction --telemetry-from proxies -o svg > mesh.svg\n  \
            kubectl mtls graph -A --prometheus http://localhost:9090 --since 30m -o mermaid"
    )]
    Graph(GraphArgs),
    /// Print a shell completion script for the standalone kubectl-mtls binary
    #[command(
        long_about = "Print a shell completion script for the standalone kubectl-mtls binary.\n\n\
        `kubectl mtls <TAB>` needs no script: kubectl 1.26 and newer completes plugins by running \
        kubectl_complete-mtls (shipped next to kubectl-mtls), which also completes namespaces, \
        contexts, clusters and users. This script is for running kubectl-mtls directly; it \
        completes subcommands, flags and their fixed values."
    )]
    Completion(CompletionArgs),
}

/// Output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusOutput {
    /// One row per namespace, findings below
    Table,
    /// The table plus a row per workload
    Wide,
    /// The documented JSON schema
    Json,
    /// The same document as YAML
    Yaml,
}

/// An mTLS mode as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Only mutual TLS is accepted
    Strict,
    /// Both plaintext and mutual TLS are accepted
    Permissive,
    /// Only plaintext is accepted
    Disable,
}

/// Arguments of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Namespaces to show (default: the context's namespace)
    #[arg(value_name = "NAMESPACE")]
    pub namespaces: Vec<String>,

    /// Show every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Only pods matching this label selector (e.g. app=web,tier!=db)
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Add a row per workload
    #[arg(long)]
    pub workloads: bool,

    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = StatusOutput::Table)]
    pub output: StatusOutput,

    /// Exit 1 when any selected workload or port resolves weaker than MODE
    #[arg(long, value_enum, value_name = "MODE")]
    pub require: Option<ModeArg>,

    /// The namespace istiod runs in (its mesh config names the root namespace)
    #[arg(long, value_name = "NS", default_value = "istio-system")]
    pub istio_namespace: String,

    /// The Istio revision whose mesh config to read (ConfigMap istio-REV)
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,

    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

/// Where observed traffic comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TelemetryArg {
    /// The Prometheus given with --prometheus, else Istio's if found, else none
    Auto,
    /// A Prometheus (--prometheus URL, else Istio's, found through the API server)
    Prometheus,
    /// Each sidecar's own counters, read through exec (since the proxy started)
    Proxies,
    /// Read no telemetry: STRICT-READY from configuration only
    Off,
}

/// `--telemetry-from` (the issue's spelling of `--telemetry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TelemetryFrom {
    /// Each sidecar's own counters (same as --telemetry proxies)
    Proxies,
    /// A Prometheus (same as --telemetry prometheus)
    Prometheus,
}

/// Telemetry flags of `status`, `enable` and `diff`: readiness from observed traffic.
#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// Where observed traffic comes from
    #[arg(long, value_enum, value_name = "SOURCE", default_value_t = TelemetryArg::Auto)]
    pub telemetry: TelemetryArg,

    /// Same as --telemetry SOURCE
    #[arg(long, value_enum, value_name = "SOURCE", conflicts_with = "telemetry")]
    pub telemetry_from: Option<TelemetryFrom>,

    /// The Prometheus HTTP API to read Istio's metrics from (e.g. http://localhost:9090)
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,

    /// How far back Prometheus is asked for traffic
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_since)]
    pub since: Duration,
}

impl TelemetryArgs {
    /// The source asked for, `--telemetry-from` included.
    pub fn source(&self) -> TelemetryArg {
        match self.telemetry_from {
            Some(TelemetryFrom::Proxies) => TelemetryArg::Proxies,
            Some(TelemetryFrom::Prometheus) => TelemetryArg::Prometheus,
            None => self.telemetry,
        }
    }
}

/// Parses `--since`: a positive Go-style duration (`1h`, `30m`, `1h30m`).
pub fn parse_since(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "invalid duration {s:?}: the window must be longer than 0"
        ));
    }
    Ok(d)
}

/// Output formats of `graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphOutput {
    /// One row per edge, dangerous edges first
    Table,
    /// The table plus the callers' principals and the destination ports
    Wide,
    /// The documented JSON schema (kind MtlsGraph)
    Json,
    /// The same document as YAML
    Yaml,
    /// Graphviz DOT (dot -Tsvg), namespaces as clusters
    Dot,
    /// A Mermaid flowchart for Markdown pages
    Mermaid,
    /// An SVG picture drawn by the plugin, left to right
    Svg,
    /// One self-contained HTML page: the SVG and the edge table
    Html,
}

/// Arguments of `graph`.
#[derive(Debug, Clone, Args)]
pub struct GraphArgs {
    /// Destination namespaces to draw (default: the context's namespace)
    #[arg(value_name = "NAMESPACE")]
    pub namespaces: Vec<String>,

    /// Draw every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = GraphOutput::Table)]
    pub output: GraphOutput,

    #[command(flatten)]
    pub telemetry: TelemetryArgs,

    /// The namespace istiod (and its Prometheus) runs in
    #[arg(long, value_name = "NS", default_value = "istio-system")]
    pub istio_namespace: String,

    /// The Istio revision whose mesh config to read (ConfigMap istio-REV)
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
}

/// Which mode a policy change sets (exactly one of the flags).
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct ModeFlags {
    /// Accept only mutual TLS
    #[arg(long)]
    pub strict: bool,
    /// Accept plaintext and mutual TLS
    #[arg(long)]
    pub permissive: bool,
    /// Accept only plaintext
    #[arg(long)]
    pub disable: bool,
    /// Set the mode to UNSET: inherit from the level above
    #[arg(long)]
    pub unset: bool,
    /// Remove the scope's policy (the one Istio honours): the level above decides again
    #[arg(long)]
    pub inherit: bool,
}

/// Which policy a change targets.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The namespace whose policy to change (default: the context's namespace)
    #[arg(value_name = "NAMESPACE", conflicts_with = "mesh")]
    pub namespace_arg: Option<String>,

    /// Change the mesh-wide policy in the root namespace
    #[arg(long)]
    pub mesh: bool,

    /// Change the workload policy with exactly this selector (KEY=VALUE,...)
    #[arg(short = 'l', long, value_name = "KEY=VALUE,...")]
    pub selector: Option<String>,

    /// Name for a new policy (default: "default"; a new selector policy is named after a single app label, else needs --name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// A port-level mode, PORT=MODE (repeatable; needs --selector)
    #[arg(long = "port", value_name = "PORT=MODE")]
    pub ports: Vec<String>,

    /// The namespace istiod runs in (its mesh config names the root namespace)
    #[arg(long, value_name = "NS", default_value = "istio-system")]
    pub istio_namespace: String,

    /// The Istio revision whose mesh config to read (ConfigMap istio-REV)
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,

    /// With --mesh: the root namespace, when the mesh config cannot be read (it must agree with the mesh config when it can)
    #[arg(long, value_name = "NS")]
    pub root_namespace: Option<String>,
}

/// `--dry-run` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Send no write request at all
    Client,
    /// Ask the API server (and Istio's webhook) to judge the change without persisting it
    Server,
    /// Write for real
    None,
}

/// Output of `enable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectOutput {
    /// The applied object as YAML
    Yaml,
    /// The applied object as JSON
    Json,
}

/// Arguments of `enable`.
#[derive(Debug, Clone, Args)]
pub struct EnableArgs {
    #[command(flatten)]
    pub mode: ModeFlags,
    #[command(flatten)]
    pub target: TargetArgs,

    /// Show the change without writing it: client (no write request at all) or server (dryRun=All: the API server and Istio's webhook judge it)
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "client", value_name = "MODE")]
    pub dry_run: Option<DryRun>,

    /// Write even when the review refuses the change (traffic would break or the change would not take effect)
    #[arg(long)]
    pub force: bool,

    /// Take ownership of fields another field manager owns
    #[arg(long)]
    pub force_conflicts: bool,

    /// The server-side apply field manager
    #[arg(long, value_name = "NAME", default_value = "kubectl-mtls")]
    pub field_manager: String,

    /// Print the resulting object on stdout (the diff, effect and result line then go to stderr)
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<ObjectOutput>,

    /// List every workload, namespace, finding and review message of the effect (long lists are summarised otherwise)
    #[arg(long)]
    pub show_all: bool,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

/// The mode flags of `diff`: as [`ModeFlags`], but optional, since `-f` takes none.
#[derive(Debug, Clone, Args)]
#[group(id = "diff_mode", required = false, multiple = false)]
pub struct DiffModeFlags {
    /// Accept only mutual TLS
    #[arg(long)]
    pub strict: bool,
    /// Accept plaintext and mutual TLS
    #[arg(long)]
    pub permissive: bool,
    /// Accept only plaintext
    #[arg(long)]
    pub disable: bool,
    /// Set the mode to UNSET: inherit from the level above
    #[arg(long)]
    pub unset: bool,
    /// Remove the scope's policy (the one Istio honours): the level above decides again
    #[arg(long)]
    pub inherit: bool,
}

impl DiffModeFlags {
    /// The mode flags, when one was given.
    pub fn selected(&self) -> Option<ModeFlags> {
        (self.strict || self.permissive || self.disable || self.unset || self.inherit).then_some(ModeFlags {
            strict: self.strict,
            permissive: self.permissive,
            disable: self.disable,
            unset: self.unset,
            inherit: self.inherit,
        })
    }
}

/// Arguments of `diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The change, as with `enable` (or use -f)
    #[command(flatten)]
    pub mode: DiffModeFlags,
    #[command(flatten)]
    pub target: TargetArgs,

    /// PeerAuthentication manifests to compare with the cluster: files (several documents allowed), directories (their .json, .yaml, .yml files, in name order), "-" for stdin; repeatable
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<String>,

    /// Read the directories given with -f recursively (without it, their subdirectories are ignored, as kubectl does)
    #[arg(short = 'R', long)]
    pub recursive: bool,

    /// The server-side apply field manager of the dry-run apply
    #[arg(long, value_name = "NAME", default_value = "kubectl-mtls")]
    pub field_manager: String,

    /// List every workload, namespace, finding and review message of the effect (long lists are summarised otherwise)
    #[arg(long)]
    pub show_all: bool,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

/// Output of `probe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeOutput {
    /// Expected and observed results side by side
    Table,
    /// Machine-readable results
    Json,
}

/// Arguments of `probe`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
kubectl mtls probe web-api.istioinaction:8080\n  \
kubectl mtls probe web-api.istioinaction:8080 --from deploy/sleep --from-namespace default\n  \
kubectl mtls probe http://web-api.istioinaction:8080/health --create-clients\n  \
kubectl mtls probe --certs deploy/web-api -n istioinaction\n\n\
Exit status: 0 when every probe shows what the policy predicts (or, with --certs, \
no certificate finding of severity error); 1 on any mismatch, inconclusive probe or error finding; \
2 on a usage error; 130 when interrupted (created client pods are deleted first).")]
pub struct ProbeArgs {
    /// `SERVICE[.NAMESPACE][:PORT][/PATH]` or an `http://` URL (namespace default: -n, else the context's; port default: the Service's first)
    #[arg(value_name = "TARGET", required_unless_present = "certs")]
    pub target: Option<String>,

    /// Client pod to probe from: POD or deploy/NAME (repeatable; default: one pod in the mesh and one outside it, picked automatically)
    #[arg(long = "from", value_name = "POD")]
    pub from: Vec<String>,

    /// Namespace of the --from and created pods, and where to look for clients (default: the target's namespace)
    #[arg(long, value_name = "NS")]
    pub from_namespace: Option<String>,

    /// Create two short-lived client pods (in and outside the mesh), probe, delete them (also on error or Ctrl-C)
    #[arg(long, conflicts_with = "from")]
    pub create_clients: bool,

    /// Image of the created client pods
    #[arg(
        long,
        value_name = "IMAGE",
        requires = "create_clients",
        default_value = "curlimages/curl:8.11.1"
    )]
    pub image: String,

    /// How long each probe may take, passed exactly to curl --max-time (500ms, 1.5s, 2m; more than 0, at most 10m; wget takes whole seconds, rounded up)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        allow_hyphen_values = true,
        value_parser = parse_probe_timeout
    )]
    pub timeout: Duration,

    /// How long to wait for created client pods to run (they are deleted when it passes)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2m",
        requires = "create_clients",
        value_parser = parse_duration
    )]
    pub start_timeout: Duration,

    /// The namespace istiod runs in (its mesh config names the root namespace and trust domain)
    #[arg(long, value_name = "NS", default_value = "istio-system")]
    pub istio_namespace: String,

    /// Show and check the workload certificate of POD or deploy/NAME (in -n NS) instead of probing traffic
    #[arg(long, value_name = "POD", conflicts_with_all = ["target", "from", "create_clients"])]
    pub certs: Option<String>,

    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = ProbeOutput::Table)]
    pub output: ProbeOutput,
}

/// The shells `completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash: add `source <(kubectl-mtls completion bash)` to ~/.bashrc
    Bash,
    /// Zsh: `kubectl-mtls completion zsh > "${fpath[1]}/_kubectl-mtls"`
    Zsh,
    /// Fish: `kubectl-mtls completion fish > ~/.config/fish/completions/kubectl-mtls.fish`
    Fish,
    /// PowerShell: add `kubectl-mtls completion powershell | Out-String | Invoke-Expression` to $PROFILE
    Powershell,
}

/// Arguments of `completion`.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell to write the script for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: CompletionShell,
}

/// Builds the clap command with the name shown in usage text.
pub fn command(name: &str) -> clap::Command {
    Cli::command().name(name.to_string()).bin_name(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let m = command("kubectl mtls").try_get_matches_from(args)?;
        Cli::from_arg_matches(&m)
    }

    #[test]
    fn display_name_follows_argv0() {
        assert_eq!(
            display_name(Some(&"/usr/local/bin/kubectl-mtls".into())),
            "kubectl mtls"
        );
        assert_eq!(display_name(Some(&"kubectl-mtls.exe".into())), "kubectl mtls");
        assert_eq!(display_name(Some(&"mtls-tool".into())), "mtls-tool");
        assert_eq!(display_name(None), "kubectl mtls");
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli = parse(&[
            "k",
            "status",
            "--context",
            "lab",
            "-n",
            "istioinaction",
            "--kubeconfig",
            "/x",
        ])
        .unwrap();
        assert_eq!(cli.global.context.as_deref(), Some("lab"));
        assert_eq!(cli.global.namespace.as_deref(), Some("istioinaction"));
        assert_eq!(cli.global.kubeconfig.as_deref(), Some(std::path::Path::new("/x")));
        let cli = parse(&["k", "--context", "lab", "status"]).unwrap();
        assert_eq!(cli.global.context.as_deref(), Some("lab"));
    }

    #[test]
    fn verbose_takes_an_optional_level_with_equals() {
        assert_eq!(parse(&["k", "status"]).unwrap().global.verbose, 0);
        assert_eq!(parse(&["k", "status", "-v"]).unwrap().global.verbose, 6);
        assert_eq!(parse(&["k", "status", "-v=8"]).unwrap().global.verbose, 8);
        assert_eq!(parse(&["k", "status", "--v=7"]).unwrap().global.verbose, 7);
        // a namespace after -v is not taken as its value
        let cli = parse(&["k", "status", "-v", "istioinaction"]).unwrap();
        assert_eq!(cli.global.verbose, 6);
        match cli.command {
            Command::Status(s) => assert_eq!(s.namespaces, vec!["istioinaction".to_string()]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn durations_parse_like_kubectl() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_request_timeout("0").unwrap(), RequestTimeout(None));
    }

    #[test]
    fn durations_are_exact_to_the_nanosecond() {
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0.1s").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.001s").unwrap(), Duration::from_millis(1001));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h0.5m").unwrap(), Duration::from_secs(3630));
        assert_eq!(parse_duration("1500us").unwrap(), Duration::from_micros(1500));
        assert_eq!(parse_duration("7ns").unwrap(), Duration::from_nanos(7));
        assert!(parse_duration("1..5s").is_err());
        assert!(parse_duration(".s").is_err());
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("99999999999999999999999h").is_err());
    }

    #[test]
    fn probe_timeouts_are_bounded() {
        assert_eq!(parse_probe_timeout("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_probe_timeout("10m").unwrap(), Duration::from_secs(600));
        for bad in ["0", "0s", "-1s", "10m0.001s", "1h"] {
            let e = parse_probe_timeout(bad).unwrap_err();
            assert!(e.contains("more than 0 and at most 10m"), "{bad}: {e}");
        }
    }

    #[test]
    fn enable_needs_exactly_one_mode() {
        assert!(parse(&["k", "enable", "ns"]).is_err());
        assert!(parse(&["k", "enable", "ns", "--strict", "--permissive"]).is_err());
        let cli = parse(&["k", "enable", "ns", "--strict", "--dry-run"]).unwrap();
        match cli.command {
            Command::Enable(e) => {
                assert!(e.mode.strict);
                assert_eq!(e.dry_run, Some(DryRun::Client));
                assert_eq!(e.target.namespace_arg.as_deref(), Some("ns"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(&["k", "enable", "ns", "--strict", "--dry-run=bogus"]).is_err());
        assert!(parse(&["k", "enable", "ns", "--mesh", "--strict"]).is_err());
    }

    #[test]
    fn inherit_is_a_fifth_mode_of_enable_and_diff() {
        match parse(&["k", "enable", "ns", "--inherit"]).unwrap().command {
            Command::Enable(e) => assert!(e.mode.inherit && !e.mode.unset),
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(&["k", "enable", "ns", "--inherit", "--unset"]).is_err());
        match parse(&["k", "diff", "ns", "--inherit"]).unwrap().command {
            Command::Diff(d) => assert!(d.mode.selected().is_some_and(|m| m.inherit)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(&["k", "diff", "ns", "--inherit", "--strict"]).is_err());
        let cli = parse(&["k", "enable", "--mesh", "--strict", "--root-namespace", "r"]).unwrap();
        match cli.command {
            Command::Enable(e) => assert_eq!(e.target.root_namespace.as_deref(), Some("r")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn probe_needs_a_target_or_certs() {
        assert!(parse(&["k", "probe"]).is_err());
        assert!(parse(&["k", "probe", "--certs", "deploy/web-api"]).is_ok());
        assert!(parse(&["k", "probe", "web-api.istioinaction:8080"]).is_ok());
        assert!(parse(&["k", "probe", "web-api", "--image", "x"]).is_err());
        assert!(parse(&["k", "probe", "web-api", "--start-timeout", "10s"]).is_err());
        assert!(parse(&["k", "probe", "web-api", "--create-clients", "--from", "sleep"]).is_err());
        assert!(
            parse(&[
                "k",
                "probe",
                "web-api",
                "--create-clients",
                "--start-timeout",
                "10s"
            ])
            .is_ok()
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        command("kubectl mtls").debug_assert();
    }
}
