//! `kubectl mtls probe`.

use crate::cli::{GlobalArgs, ProbeArgs};
use crate::error::Error;

/// Runs `kubectl mtls probe` and returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: ProbeArgs) -> Result<i32, Error> {
    Err(Error::NotImplemented("kubectl mtls probe"))
}
