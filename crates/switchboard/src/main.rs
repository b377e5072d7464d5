//! The `switchboard` binary: a thin command line over the library crates.
//!
//! Each subcommand lives in its own module: [`serve`] runs the HTTP gateway, [`stdio`] serves the
//! catalog on stdin/stdout, [`check`] validates a config and prints the plan, [`probe`] talks to one
//! MCP server as a client, [`audit`] verifies, follows and filters audit logs, [`plugin`] makes,
//! checks and installs signed plugin bundles. The hidden `__reaper` mode is the watchdog process
//! that ends upstream process groups if the gateway is killed (see
//! `switchboard_upstream::reaper`). All of them write through [`output`], so a reader that goes
//! away ends a run quietly.

mod audit;
mod check;
mod cli;
mod keys;
mod output;
mod plugin;
mod probe;
mod reload;
mod serve;
mod setup;
mod stdio;

use std::process::ExitCode;

use clap::Parser;
use output::errln;

/// mimalloc instead of the system allocator: the request path allocates small, short-lived
/// buffers on every call, and glibc malloc was ~14% of the gateway's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(setup::REAPER_ARG) {
        switchboard_upstream::reaper::run();
    }
    let cli = cli::Cli::parse();
    // `switchboard stdio` serves one client over one pipe: one thread does it with no wake-ups
    // across threads (SWITCHBOARD_STDIO_THREADS=multi to compare).
    let single = matches!(cli.command, cli::Command::Stdio(_))
        && std::env::var("SWITCHBOARD_STDIO_THREADS").as_deref() != Ok("multi");
    let mut builder = if single {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(a) => serve::run(a).await,
            cli::Command::Stdio(a) => stdio::run(a).await,
            cli::Command::Check(a) => check::run(a).await,
            cli::Command::Probe(a) => probe::run(a).await,
            cli::Command::Keys(a) => keys::run(a),
            cli::Command::Audit(a) => audit::run(a).await,
            cli::Command::Plugin(a) => plugin::run(a),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("switchboard: {e:#}");
            ExitCode::from(1)
        }
    }
}
