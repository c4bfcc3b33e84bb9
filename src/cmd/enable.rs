//! `kubectl mtls enable`.

use crate::cli::{EnableArgs, GlobalArgs};
use crate::error::Error;

/// Runs `kubectl mtls enable` and returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: EnableArgs) -> Result<i32, Error> {
    Err(Error::NotImplemented("kubectl mtls enable"))
}
