//! The expectation: what should happen under the enforced mode, how the client's sidecar
//! sends traffic, and the verdict.

use serde::Serialize;

use super::*;

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
pub fn exported_to(rule: &crate::model::DestinationRuleInfo, client_ns: &str) -> bool {
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
