//! kubectl-mtls: make Istio mutual TLS visible, safe to turn on, and provable.
//!
//! Layers, from the edge inwards; each imports only the layers below it (the table of allowed
//! imports is `tests/architecture.rs`):
//! - the entry: [`run`] here (runtime, dispatch, exit codes), `main.rs`, `src/bin`.
//! - [`cli`]: the clap definitions and global kubectl-style flags, nothing else.
//! - [`cmd`]: one thin orchestration per subcommand, turning flags into domain requests;
//!   the only user of [`render`] (tables, JSON/YAML, diffs).
//! - the domain: [`change`] (a policy change, stage by stage) and [`probe`] (proof with real
//!   traffic, certificates).
//! - I/O: [`client`] (kube-rs, kubeconfig like kubectl, its own [`client::ConnectOptions`];
//!   [`credentials`]: none over plain http, an exec plugin run once, private temp folders),
//!   [`collect`] (reading a snapshot), [`exec`] (pods/exec); [`complete`] (the completion
//!   helper, which also reads the clap tree).
//! - the pure core (no I/O): [`engine`], [`model`], [`resources`], [`certs`], [`validate`]
//!   (input checks before any request).
//! - leaves used everywhere: [`error`], [`style`], [`redact`] (what is printed never shows a
//!   credential); [`argv`] (kubectl's `-v 6` spellings) for the entry.

pub mod argv;
pub mod certs;
pub mod change;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod collect;
pub mod complete;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod exec;
pub mod graph;
pub mod model;
pub mod probe;
pub mod redact;
pub mod render;
pub mod resources;
pub mod retry;
pub mod style;
pub mod telemetry;
pub mod validate;

// The entry: parse, run, exit code. Only this and main.rs use `cmd`.

use std::ffi::OsString;

use clap::FromArgMatches;

/// Parses the command line, runs the subcommand, prints any error and returns the exit code.
pub fn run() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    run_with(args)
}

/// [`run`] with explicit arguments (`args[0]` is the program name).
pub fn run_with(args: Vec<OsString>) -> i32 {
    let name = cli::display_name(args.first());
    let args = argv::kubectl_verbosity(args);
    let path = error::command_path(&name, &cli::command(&name), &args);
    let matches = match cli::command(&name).try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return error::report_usage(e, &path),
    };
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return error::report_usage(e, &path),
    };
    style::init(cli.global.color);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return error::report(&error::Error::Other(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    match runtime.block_on(cmd::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => error::report(&e),
    }
}
