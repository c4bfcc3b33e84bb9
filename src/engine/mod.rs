//! The mTLS resolution engine: pure functions from a [`Snapshot`](crate::model::Snapshot) to
//! what Istio enforces, why, and what deserves attention. No I/O.
//!
//! Entry points:
//! - [`analyze`]: per-pod resolution, [`WorkloadView`]s, [`NamespaceView`]s, [`Finding`]s
//!   (`status`).
//! - [`require`]: workloads and ports weaker than a required mode (`--require`).
//! - [`what_if`] / [`effects`] / [`apply_changes`]: the effect of hypothetical policy changes
//!   (`enable`, `diff`); [`policies_in_scope`] and [`set_mode_change`] find and change the
//!   policy Istio honours in a scope.
//! - [`build_graph`]: observed traffic edges with their destination's mode and what STRICT
//!   would do to them (`graph`).
//! - [`PolicyIndex`]: resolution of a single pod or namespace.
//!
//! Rules (Istio `ComposePeerAuthentication`): start PERMISSIVE; apply the oldest mesh-wide
//! policy, then the oldest namespace-wide one, then the oldest matching workload policy; a
//! level replaces the mode only when its mode is set (UNSET, a missing `mtls`, or a value this
//! version does not know inherit). `portLevelMtls` is read only from the winning workload
//! policy; UNSET entries inherit the workload's mode. Order: creation time (seconds), name,
//! namespace.

mod analysis;
mod findings;
mod graph;
mod hosts;
mod membership;
mod require;
mod resolve;
mod traffic;
mod whatif;
mod workload;

#[cfg(test)]
mod tests;

pub use analysis::{
    Analysis, MeshSummary, NamespaceView, PodResult, PolicyView, StrictReady, WorkloadView, analyze,
};
pub use findings::{Finding, FindingCode, ObjectRef, Severity};
pub use graph::{
    DestinationMode, Edge, Enforcement, Graph, GraphScope, Node, UNKNOWN_NODE, Verdict, build_graph,
    describe_callers, verdict,
};
pub use hosts::{ServiceIndex, host_matches, resolve_host, service_fqdn};
pub use membership::{Intent, Membership, PodMesh, intent, membership, pod_mesh};
pub use require::{Actual, Violation, require, satisfies};
pub use resolve::{Level, PodPolicy, PolicyClass, PolicyIndex, Provenance, Resolved};
pub use traffic::{
    Blocker, PlaintextCaller, StrictReview, WorkloadTraffic, apply_telemetry, becoming_strict, period_words,
    plaintext_reason, review_strict, workload_traffic,
};
pub use whatif::{
    Effects, ModeChange, NamespaceChange, PolicyChange, Scope, ScopePolicies, apply_changes, effects,
    policies_in_scope, set_mode_change, what_if,
};
pub use workload::{WorkloadRef, workload_of};
