//! What `enable` and `diff` share: validating a requested policy change, finding the
//! PeerAuthentication Istio honours in the target scope, building the server-side apply object
//! (owning only the fields the plugin sets), merging and cleaning objects for diffs, reading
//! field-manager conflicts, and the safety review of a change.
//!
//! The stages, one file each: [`validate`] (input), [`target`] (which policy Istio honours),
//! [`object`] (apply body, merge, managed fields, conflicts), [`review`] (safety), [`preview`]
//! (what both `enable` and `diff` show: the effect of the change), [`manifest`] (`diff -f`
//! input), and [`cluster`] (the I/O; everything else is pure and unit-tested).
//! Everything is re-exported here, so callers write `change::NAME`.

pub mod cluster;
pub mod manifest;
pub mod object;
pub mod preview;
pub mod review;
pub mod target;
pub mod validate;

pub use cluster::*;
pub use manifest::*;
pub use object::*;
pub use preview::*;
pub use review::*;
pub use target::*;
pub use validate::*;

#[cfg(test)]
mod tests;
