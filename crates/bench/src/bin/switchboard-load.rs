//! `switchboard-load`: the MCP load generator (see `load` in the library).

use std::process::ExitCode;

use clap::Parser;
use switchboard_bench::load;

fn main() -> ExitCode {
    let args = load::Args::parse();
    match load::main(args) {
        Ok(report) => {
            match serde_json::to_string(&report) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("switchboard-load: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switchboard-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}
