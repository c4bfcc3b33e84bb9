//! One thin orchestration per subcommand: read the cluster (`client`, `collect`), resolve
//! (`engine`), render (`render`). Each `run` returns the process exit code.

pub mod completion;
pub mod diff;
pub mod enable;
pub mod graph;
pub mod probe;
pub mod status;
pub mod telemetry;

use crate::cli::{Cli, Command};
use crate::error::Error;

/// Runs the parsed command and returns its exit code.
pub async fn dispatch(cli: Cli) -> Result<i32, Error> {
    let global = cli.global;
    match cli.command {
        Command::Status(args) => status::run(&global, args).await,
        Command::Enable(args) => enable::run(&global, args).await,
        Command::Diff(args) => diff::run(&global, args).await,
        Command::Probe(args) => probe::run(&global, args).await,
        Command::Graph(args) => graph::run(&global, args).await,
        Command::Completion(args) => completion::run(args),
    }
}
