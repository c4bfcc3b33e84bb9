//! `kubectl mtls diff`.

use crate::cli::{DiffArgs, GlobalArgs};
use crate::error::Error;

/// Runs `kubectl mtls diff` and returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: DiffArgs) -> Result<i32, Error> {
    Err(Error::NotImplemented("kubectl mtls diff"))
}
