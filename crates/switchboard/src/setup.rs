//! What every long-running subcommand does first: logging to stderr, the TLS provider, the config,
//! the audit log, and the reaper.

use std::io::IsTerminal;
use std::process::ExitCode;

use switchboard_config::Config;
use switchboard_upstream::reaper::Reaper;
use tracing_subscriber::EnvFilter;

use crate::output::errln;

/// argv[1] that turns the binary into the reaper.
pub const REAPER_ARG: &str = "__reaper";

/// Exit code for a config that does not load or validate.
pub const CONFIG_ERROR: u8 = 2;

/// Logs go to stderr (stdout may be an MCP stream); `SWITCHBOARD_LOG` sets the filter and
/// `SWITCHBOARD_LOG_FORMAT` the format: `text` (the default) or `json`, one object per line, for
/// log collectors. An unknown format is a usage error (exit 2) before anything starts.
pub fn init_logging() -> Result<(), ExitCode> {
    let format = match std::env::var("SWITCHBOARD_LOG_FORMAT") {
        Ok(f) => f,
        Err(std::env::VarError::NotPresent) => String::new(),
        // Not UTF-8: refused below like any other unknown format.
        Err(std::env::VarError::NotUnicode(v)) => v.to_string_lossy().into_owned(),
    };
    let filter =
        EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format.as_str() {
        "" | "text" => builder.with_ansi(colour_stderr()).try_init(),
        "json" => builder.json().try_init(),
        other => {
            errln!("switchboard: SWITCHBOARD_LOG_FORMAT must be `text` or `json`, got {other:?}");
            return Err(ExitCode::from(CONFIG_ERROR));
        }
    };
    Ok(())
}

/// Colour only for a person at a terminal: escape codes in a log file, a pipe or a collector are
/// noise. `NO_COLOR` (non-empty) turns it off there too, as it did before.
fn colour_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Loads the config, printing a located error and returning exit code 2 when it fails.
pub fn load_config(path: &std::path::Path) -> Result<Config, ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    switchboard_config::load_with(path, &env, &switchboard_connectors::check).map_err(|e| {
        errln!("switchboard: {e}");
        ExitCode::from(CONFIG_ERROR)
    })
}

/// The admin API's start: the state file under `base.state_dir` read (a file that does not
/// parse stops the gateway: serving without it would bring back what the API deleted) and laid
/// over `base`. Returns the admin API's init and the config to serve.
pub fn admin_state(
    config_path: &std::path::Path,
    base: Config,
) -> Result<(switchboard_gateway::admin::AdminInit, Config), ExitCode> {
    use switchboard_gateway::admin;
    let base_dir = config_path
        .parent()
        .unwrap_or(std::path::Path::new(""))
        .to_owned();
    let state_dir = base.state_dir_in(&base_dir);
    let file = admin::state_file(&state_dir);
    let overlay = admin::load_state(&file).map_err(|e| {
        errln!("switchboard: {e}");
        ExitCode::from(CONFIG_ERROR)
    })?;
    let env = |k: &str| std::env::var(k).ok();
    let config = switchboard_config::apply_overlay(
        &base,
        &overlay,
        &base_dir,
        &env,
        &switchboard_connectors::check,
    )
    .map_err(|e| {
        errln!(
            "switchboard: the state file {} does not fit the config file: {e}",
            file.display()
        );
        ExitCode::from(CONFIG_ERROR)
    })?;
    if !overlay.upstreams.is_empty() || !overlay.products.is_empty() {
        tracing::info!(file = %file.display(), upstreams = overlay.upstreams.len(), products = overlay.products.len(), "admin API changes loaded from the state file");
    }
    let init = admin::AdminInit {
        base,
        written: switchboard_config::Written::read(config_path),
        overlay,
        base_dir,
        state_dir,
        env: std::sync::Arc::new(|k: &str| std::env::var(k).ok()),
    };
    Ok((init, config))
}

/// Opens the audit log when the config has one (continuing an existing log's chain). A log that
/// cannot be opened or continued stops the gateway before it serves: it must not act unrecorded.
pub fn start_audit(config: &Config) -> Result<Option<switchboard_audit::Audit>, ExitCode> {
    let Some(cfg) = &config.audit else {
        return Ok(None);
    };
    match switchboard_audit::Audit::start(cfg) {
        Ok(audit) => {
            if let Some(file) = &cfg.file {
                tracing::info!(path = %file.path.display(), "audit log on");
            }
            Ok(Some(audit))
        }
        Err(e) => {
            errln!("switchboard: {e}");
            Err(ExitCode::from(1))
        }
    }
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
