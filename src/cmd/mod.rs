//! One thin orchestration per subcommand: read the cluster (client), resolve (engine),
//! render. `dispatch` returns the process exit code.

use crate::cli::{Cli, Command};
use crate::error::Error;

/// Runs the parsed command and returns its exit code.
pub async fn dispatch(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Status(_) => Err(Error::NotImplemented("kubectl mtls status")),
        Command::Enable(_) => Err(Error::NotImplemented("kubectl mtls enable")),
        Command::Diff(_) => Err(Error::NotImplemented("kubectl mtls diff")),
        Command::Probe(_) => Err(Error::NotImplemented("kubectl mtls probe")),
    }
}
