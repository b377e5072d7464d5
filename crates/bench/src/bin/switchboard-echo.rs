//! `switchboard-echo`: the fast upstream the benchmarks run against (see `echo` in the library).
//!
//! ```text
//! switchboard-echo --stdio [--extra-tools N] [--page-size P]
//! switchboard-echo --http 127.0.0.1:0 [--threads T] [--extra-tools N] [--page-size P]
//! ```
//!
//! Over HTTP it prints `http://ADDR/mcp` on stdout once it is listening.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use switchboard_bench::echo::{self, Catalog, Echo};

#[derive(Debug, Parser)]
#[command(
    name = "switchboard-echo",
    version,
    about = "A fast MCP echo server for benchmarks."
)]
struct Args {
    /// Serve newline-delimited JSON-RPC on stdin/stdout.
    #[arg(long, conflicts_with = "http", required_unless_present = "http")]
    stdio: bool,
    /// Serve Streamable HTTP at /mcp on this loopback address (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Synthetic tools t0..tN-1 added to the catalog.
    #[arg(long, default_value_t = 0)]
    extra_tools: usize,
    /// Tools per tools/list page (0: everything in one page).
    #[arg(long, default_value_t = 0)]
    page_size: usize,
    /// HTTP only: runtime worker threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// HTTP only: exit after this many seconds, whatever happens.
    #[arg(long, default_value_t = 3600)]
    lifetime: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let echo = Echo::new(Catalog::new(args.extra_tools, args.page_size));
    let result = match args.http {
        None => echo::stdio::serve(&echo).map_err(anyhow::Error::from),
        Some(addr) => http(addr, echo, args.threads, Duration::from_secs(args.lifetime)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard-echo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn http(addr: SocketAddr, echo: Echo, threads: usize, lifetime: Duration) -> anyhow::Result<()> {
    let rt = switchboard_bench::runtime::build(threads)?;
    rt.block_on(async move {
        let listener = switchboard_bench::http1::bind_and_announce(addr, "/mcp").await?;
        echo::http::serve(listener, echo, lifetime).await
    })
}
