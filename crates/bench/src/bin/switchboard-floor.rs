//! `switchboard-floor`: the least a proxy hop can cost, for comparison with the gateway in the
//! benchmarks only; it is not a gateway (see `floor` in the library).
//!
//! ```text
//! switchboard-floor --http 127.0.0.1:0 --to http://127.0.0.1:PORT/mcp
//! switchboard-floor --stdio -- CMD [ARGS...]
//! ```
//!
//! Over HTTP it prints `http://ADDR/mcp` on stdout once it is listening.

use std::process::ExitCode;

use clap::Parser;
use switchboard_bench::floor;

/// The gateway's allocator (see `crates/switchboard/src/main.rs`), so the comparison is not
/// about malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = floor::Args::parse();
    match floor::main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard-floor: {e:#}");
            ExitCode::FAILURE
        }
    }
}
