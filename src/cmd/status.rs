//! `kubectl mtls status`.

use crate::cli::{GlobalArgs, StatusArgs};
use crate::error::Error;

/// Runs `kubectl mtls status` and returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: StatusArgs) -> Result<i32, Error> {
    Err(Error::NotImplemented("kubectl mtls status"))
}
