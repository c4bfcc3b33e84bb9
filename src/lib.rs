//! kubectl-mtls: make Istio mutual TLS visible, safe to turn on, and provable.
//!
//! Layers, from the edge inwards:
//! - [`cli`]: command-line parsing (clap), global kubectl-style flags.
//! - [`client`]: cluster I/O through kube-rs, honouring kubeconfig like kubectl.
//! - [`resources`]: typed Istio resources (serde), tolerant of unknown fields/values.
//! - [`model`] and [`engine`]: the pure model and the mTLS resolution engine (no I/O).
//! - `render`: tables, JSON/YAML, diffs.
//! - [`cmd`]: one thin orchestration per subcommand.

pub mod certs;
pub mod change;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod collect;
pub mod complete;
pub mod engine;
pub mod error;
pub mod exec;
pub mod graph;
pub mod model;
pub mod probe;
pub mod render;
pub mod resources;
pub mod style;
pub mod telemetry;

pub use cli::run;
