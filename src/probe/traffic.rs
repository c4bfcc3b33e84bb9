//! Running the probes: each client's request through pods/exec, and the report.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use crate::client::Cluster;
use crate::engine::{Finding, Membership};
use crate::error::Error;
use crate::exec::{ExecOutput, exec};
use crate::model::Mode;

use super::*;

/// How a client was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `--from`.
    From,
    /// Picked automatically.
    Auto,
    /// Created with `--create-clients`.
    Created,
}

/// One probe's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// Membership of the client: sidecar, native-sidecar, ambient, none.
    pub mesh: Membership,
    pub chosen: Origin,
    /// The tool that ran (none when neither was found).
    pub tool: Option<Tool>,
    /// The argv run in the client container.
    pub command: Vec<String>,
    /// What the policy predicts (`None` when the pods behind the Service disagree).
    pub expected: Option<Expected>,
    /// Why.
    pub reason: String,
    /// When a DestinationRule or the mesh config, not automatic mTLS, decides what the
    /// client's sidecar sends.
    pub client_tls: Option<ClientTls>,
    pub observed: Outcome,
    pub verdict: Verdict,
    /// The tool's exit code.
    pub exit_code: Option<i32>,
    /// The tool's standard error, trimmed.
    pub stderr: String,
}

/// The enforcement on the target port, with the pods it applies to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnforcementView {
    #[serde(flatten)]
    pub enforcement: Enforcement,
    /// Where the mode comes from (`namespace istioinaction/default`).
    pub source: String,
    /// The pods behind the Service with this enforcement.
    pub pods: Vec<String>,
}

/// The target as resolved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    pub service: String,
    pub namespace: String,
    pub port: u16,
    pub target_port: u32,
    pub url: String,
}

/// Everything `probe TARGET` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficReport {
    pub target: TargetView,
    pub enforcement: Vec<EnforcementView>,
    pub results: Vec<ProbeResult>,
    /// Engine findings about the target that can explain a mismatch.
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    /// Whether every probe matched the policy.
    pub ok: bool,
}

/// One request from a client: the tool that ran and what it reported.
pub struct Attempt {
    /// curl or wget; `None` when neither is in the image.
    pub tool: Option<Tool>,
    /// The argv run.
    pub argv: Vec<String>,
    pub observed: Outcome,
    pub exit_code: i32,
    /// The tool's stderr, trimmed.
    pub stderr: String,
}

/// Runs curl (else wget) in the client and reads the result.
pub async fn probe_one(
    cluster: &Cluster,
    client: &Client,
    url: &str,
    timeout: Duration,
) -> Result<Attempt, Error> {
    let curl = attempt(cluster, client, Tool::Curl, url, timeout).await?;
    if curl.tool.is_some() {
        return Ok(curl);
    }
    attempt(cluster, client, Tool::Wget, url, timeout).await
}

/// Runs one tool; `tool` of the result is `None` when it is not in the image.
pub async fn attempt(
    cluster: &Cluster,
    client: &Client,
    tool: Tool,
    url: &str,
    timeout: Duration,
) -> Result<Attempt, Error> {
    let argv = command(tool, url, timeout);
    // The exec itself may take a little longer than the tool's own timeout.
    let exec_timeout = timeout + Duration::from_secs(15);
    let out: ExecOutput = exec(
        cluster,
        &pod_ns(&client.pod),
        &pod_name(&client.pod),
        &client.container,
        &argv,
        exec_timeout,
    )
    .await?;
    let (exit_code, stderr) = out.code_and_stderr();
    let meshed = client.mesh.is_meshed();
    let observed = match tool {
        Tool::Curl => interpret_curl(exit_code, &out.stdout, &stderr, meshed),
        Tool::Wget => interpret_wget(exit_code, &stderr, meshed),
    };
    Ok(Attempt {
        tool: (observed != Outcome::NoClientTool).then_some(tool),
        argv,
        observed,
        exit_code,
        stderr: stderr.trim().to_string(),
    })
}

pub async fn probe_all(
    cluster: &Cluster,
    args: &Options,
    target: &Resolved,
    clients: &[Client],
) -> Result<Vec<ProbeResult>, Error> {
    let mut results = Vec::new();
    for client in clients {
        let meshed = client.mesh.is_meshed();
        // A sidecar client's DestinationRules (or enableAutoMtls: false) may override automatic mTLS.
        let tls = match client.mesh {
            Membership::Sidecar | Membership::NativeSidecar => client_tls(
                &target.rules,
                &pod_ns(&client.pod),
                &labels_of(&client.pod),
                &target.view.namespace,
                &target.root_namespace,
                u32::from(target.view.port),
                target.auto_mtls,
            )
            .or_else(|| {
                target.namespace_disable.then(|| ClientTls {
                    plaintext: true,
                    why: "namespace/mesh-level DISABLE: automatic mTLS makes the client's sidecar send plaintext"
                        .into(),
                })
            }),
            _ => None,
        };
        let sends_plaintext = !meshed || tls.as_ref().is_some_and(|t| t.plaintext);
        let forced_mtls = tls.as_ref().is_some_and(|t| !t.plaintext);
        let predictions: BTreeSet<(Expected, &'static str)> = target
            .enforcement
            .iter()
            .map(|e| {
                let mut e = e.enforcement;
                // A client told to use ISTIO_MUTUAL keeps sending mTLS even to a DISABLE namespace.
                e.workload_level |= forced_mtls;
                expected(e, !sends_plaintext)
            })
            .collect();
        let expectations: BTreeSet<Expected> = predictions.iter().map(|p| p.0).collect();
        let (expect, mut reason) = match (expectations.len(), predictions.iter().next()) {
            (1, Some((e, why))) => (Some(*e), why.to_string()),
            _ => (
                None,
                "the pods behind the Service enforce different modes: either result can happen".into(),
            ),
        };
        if let Some(t) = &tls {
            reason = format!("{}; {reason}", t.why);
        }
        // Plaintext accepted is a security finding only where every pod enforces STRICT.
        let strict_plaintext = sends_plaintext
            && target.enforcement.iter().all(|e| {
                e.enforcement.mode == Mode::Strict
                    && e.enforcement.target_in_mesh
                    && !e.enforcement.port_bypassed
            });
        // A failed exec (pod gone, exec timed out) is this client's result, not the end of the
        // run; a refused exec (RBAC) stops everything, since every client would be refused.
        let attempt = match probe_one(cluster, client, &target.view.url, args.timeout).await {
            Ok(a) => a,
            Err(e @ Error::Forbidden(_)) => return Err(e),
            Err(e) => Attempt {
                tool: None,
                argv: command(Tool::Curl, &target.view.url, args.timeout),
                observed: Outcome::Error {
                    exit: -1,
                    detail: format!("exec failed: {e}"),
                },
                exit_code: -1,
                stderr: String::new(),
            },
        };
        let v = match expect {
            Some(e) => verdict(e, &attempt.observed, strict_plaintext),
            None => Verdict::Inconclusive,
        };
        results.push(ProbeResult {
            namespace: pod_ns(&client.pod),
            pod: pod_name(&client.pod),
            container: client.container.clone(),
            mesh: client.mesh,
            chosen: client.origin,
            tool: attempt.tool,
            command: attempt.argv,
            expected: expect,
            reason,
            client_tls: tls,
            observed: attempt.observed,
            verdict: v,
            exit_code: (attempt.exit_code >= 0).then_some(attempt.exit_code),
            stderr: attempt.stderr,
        });
    }
    Ok(results)
}

pub fn build_report(target: &Resolved, results: Vec<ProbeResult>, notes: Vec<String>) -> TrafficReport {
    let ok = !results.is_empty() && results.iter().all(|r| !r.verdict.fails());
    TrafficReport {
        target: target.view.clone(),
        enforcement: target.enforcement.clone(),
        results,
        findings: target.findings.clone(),
        notes,
        ok,
    }
}

// ---------------------------------------------------------------------------------------------
// Created clients
