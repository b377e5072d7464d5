//! What every long-running subcommand does first: logging to stderr, the TLS provider, the config,
//! and the reaper.

use std::process::ExitCode;

use switchboard_config::Config;
use switchboard_upstream::reaper::Reaper;
use tracing_subscriber::EnvFilter;

use crate::output::errln;

/// argv[1] that turns the binary into the reaper.
pub const REAPER_ARG: &str = "__reaper";

/// Exit code for a config that does not load or validate.
pub const CONFIG_ERROR: u8 = 2;

/// Logs go to stderr (stdout may be an MCP stream); `SWITCHBOARD_LOG` sets the filter.
pub fn init_logging() {
    let filter =
        EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Loads the config, printing a located error and returning exit code 2 when it fails.
pub fn load_config(path: &std::path::Path) -> Result<Config, ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    switchboard_config::load(path, &env).map_err(|e| {
        errln!("switchboard: {e}");
        ExitCode::from(CONFIG_ERROR)
    })
}

/// Starts the reaper so stdio upstreams die with us even on `kill -9`.
pub fn reaper() -> Option<Reaper> {
    let exe = std::env::current_exe().ok()?;
    match Reaper::spawn(&exe, &[REAPER_ARG]) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(
                "cannot start the reaper ({e}); upstream processes may outlive a killed gateway"
            );
            None
        }
    }
}
