//! `--require MODE`: which workloads and ports fall short of a required mode.
//!
//! Each required mode is a property of what a server accepts:
//! - `STRICT`: only mTLS is accepted. Fails: any mode other than STRICT, pods outside the mesh
//!   (nothing enforces), ports that bypass the sidecar.
//! - `PERMISSIVE`: mTLS is available. Fails: DISABLE on sidecar pods, pods outside the mesh,
//!   bypassed ports. (Ambient pods resolving to DISABLE still speak mTLS through ztunnel, so
//!   they pass.)
//! - `DISABLE`: plaintext is accepted (what must hold before rolling mTLS back, or for
//!   plaintext-only clients). Fails: STRICT wherever it is enforced. Pods outside the mesh and
//!   bypassed ports accept plaintext and pass.

use serde::{Deserialize, Serialize};

use super::analysis::{Analysis, PodResult};
use super::membership::Membership;
use super::workload::WorkloadRef;
use crate::model::Mode;

/// What a pod actually does on a port (or on its ports without own setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actual {
    /// Enforced by a proxy with this mode.
    Enforced(Mode),
    /// The pod is outside the mesh: plaintext only, nothing enforced.
    OutsideMesh,
    /// The port bypasses the sidecar: plaintext, nothing enforced.
    Bypassed,
}

impl std::fmt::Display for Actual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actual::Enforced(m) => write!(f, "{m}"),
            Actual::OutsideMesh => f.write_str("outside mesh"),
            Actual::Bypassed => f.write_str("bypassed (not intercepted)"),
        }
    }
}

/// Whether an actual state meets a required mode (see the module documentation).
pub fn satisfies(actual: Actual, membership: Membership, required: Mode) -> bool {
    match (required, actual) {
        (Mode::Strict, Actual::Enforced(m)) => m == Mode::Strict,
        (Mode::Strict, _) => false,
        (Mode::Permissive, Actual::Enforced(Mode::Disable)) => membership == Membership::Ambient,
        (Mode::Permissive, Actual::Enforced(_)) => true,
        (Mode::Permissive, _) => false,
        (Mode::Disable, Actual::Enforced(m)) => m != Mode::Strict,
        (Mode::Disable, _) => true,
    }
}

/// One shortfall: a workload (and port, when a port differs) whose pods miss the requirement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The workload.
    pub workload: WorkloadRef,
    /// The port, for a port-level setting or a bypassed port; `None` for the workload mode.
    pub port: Option<u32>,
    /// Pods concerned.
    pub pods: usize,
    /// What they actually do.
    pub actual: Actual,
    /// Where the mode comes from (empty for outside mesh / bypassed).
    pub source: String,
}

fn pod_states(p: &PodResult) -> Vec<(Option<u32>, Actual, String)> {
    if !p.mesh.membership.is_meshed() {
        return vec![(None, Actual::OutsideMesh, String::new())];
    }
    let sidecar = p.mesh.membership != Membership::Ambient;
    let mut v = vec![(
        None,
        Actual::Enforced(p.policy.mode.mode),
        p.policy.mode.source.to_string(),
    )];
    for (port, r) in &p.policy.ports {
        if !sidecar || p.inbound.intercepts(*port) {
            v.push((Some(*port), Actual::Enforced(r.mode), r.source.to_string()));
        }
    }
    if sidecar {
        for port in &p.inbound.excluded {
            v.push((Some(*port), Actual::Bypassed, String::new()));
        }
    }
    v
}

/// Every workload/port of the analysis that does not meet `required`, aggregated per workload,
/// port and actual state, in workload order.
pub fn require(analysis: &Analysis, required: Mode) -> Vec<Violation> {
    let mut out: Vec<Violation> = Vec::new();
    for w in &analysis.workloads {
        let start = out.len();
        for &pi in &w.pod_indices {
            let p = &analysis.pods[pi];
            for (port, actual, source) in pod_states(p) {
                if satisfies(actual, p.mesh.membership, required) {
                    continue;
                }
                match out[start..]
                    .iter_mut()
                    .find(|v| v.port == port && v.actual == actual && v.source == source)
                {
                    Some(v) => v.pods += 1,
                    None => out.push(Violation {
                        workload: w.workload.clone(),
                        port,
                        pods: 1,
                        actual,
                        source,
                    }),
                }
            }
        }
        out[start..].sort_by(|a, b| (a.port, a.actual, &a.source).cmp(&(b.port, b.actual, &b.source)));
    }
    out
}
