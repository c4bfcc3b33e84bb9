//! `probe`: prove enforcement with real traffic, and inspect workload certificates.
//!
//! The stages, one file each: [`target`] (parsing and resolving the target), [`expect`] (what
//! the policy predicts, and the verdict), [`clients`] (which pods to probe from), [`lifecycle`]
//! (created client pods: create, wait, always delete), [`traffic`] (running the probes through
//! pods/exec), [`interpret`] (the command and what curl or wget reported), [`certs`] (`--certs`).
//! Everything is re-exported here; rendering lives in `render::probe`.

use std::time::Duration;

pub mod certs;
pub mod clients;
pub mod expect;
pub mod interpret;
pub mod lifecycle;
pub mod target;
pub mod traffic;

pub use certs::*;
pub use clients::*;
pub use expect::*;
pub use interpret::*;
pub use lifecycle::*;
pub use target::*;
pub use traffic::*;

pub use crate::exec::tool_missing;

/// What `probe` was asked, as plain data (`cmd` fills it from the flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Client pods given with `--from` (`POD` or `deploy/NAME`).
    pub from: Vec<String>,
    /// Namespace of the `--from` and created pods (default: the target's).
    pub from_namespace: Option<String>,
    /// Image of the created client pods.
    pub image: String,
    /// How long each probe may take.
    pub timeout: Duration,
    /// How long to wait for created client pods to run.
    pub start_timeout: Duration,
    /// The namespace istiod runs in.
    pub istio_namespace: String,
}

#[cfg(test)]
mod io_tests;
#[cfg(test)]
mod tests;
