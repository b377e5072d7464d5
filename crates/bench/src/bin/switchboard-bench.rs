//! `switchboard-bench`: the benchmark suite (see `suite` in the library); `scripts/bench` runs it.

use std::process::ExitCode;

use clap::Parser;
use switchboard_bench::suite;

fn main() -> ExitCode {
    let args = suite::Args::parse();
    match suite::main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
