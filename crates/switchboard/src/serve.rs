//! `switchboard serve`: the HTTP gateway.

use std::process::ExitCode;

use anyhow::Context;
use switchboard_gateway::Gateway;
use switchboard_server::http::Server;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::ServeArgs;
use crate::output::errln;
use crate::reload;
use crate::setup;

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Err(code) = setup::init_logging() {
        return Ok(code);
    }
    switchboard_upstream::http::ensure_crypto_provider();
    let mut base = match setup::load_config(&args.config.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    base.apply_listen_override(args.listen.as_deref(), &|k| std::env::var(k).ok());
    // The admin API's changes, kept in the state file, laid over the file.
    let admin = match setup::admin_state(&args.config.config, base.clone()) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let config = admin.1;
    if let Err(e) = config.check_listen() {
        errln!(
            "switchboard: listen address {:?} (from --listen, SWITCHBOARD_LISTEN or the file): {e}",
            config.listen
        );
        return Ok(ExitCode::from(setup::CONFIG_ERROR));
    }
    if !config.listen_is_loopback() && config.http.allowed_hosts.is_empty() {
        errln!(
            "switchboard: listening on {} (not loopback) needs http.allowed_hosts: without it every browser page could reach the gateway through DNS rebinding",
            config.listen
        );
        return Ok(ExitCode::from(setup::CONFIG_ERROR));
    }
    match config.auth.anonymous {
        switchboard_config::Anonymous::Loopback if !config.listen_is_loopback() => {
            errln!(
                "switchboard: listening on {} (not loopback) would serve anonymous callers; configure auth.api_keys (and auth.anonymous: false), or set auth.anonymous: force",
                config.listen
            );
            return Ok(ExitCode::from(setup::CONFIG_ERROR));
        }
        switchboard_config::Anonymous::Forced if !config.listen_is_loopback() => {
            tracing::warn!(listen = %config.listen, "auth.anonymous: force — anyone who can reach this listener can call every tool");
        }
        _ => {}
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let audit = match setup::start_audit(&config) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let gw = Gateway::with_audit(config, setup::reaper(), audit);
    // Only here: `serve` is the one command that may run as several replicas or be restarted
    // under clients holding a requestState. `stdio` and `check` are single short-lived
    // processes with nobody to share a key with, so the warning would only be noise there.
    if gw.seals_with_ephemeral_key() {
        tracing::warn!(
            "modern.state_keys not set: requestState is sealed with a random per-process key; retries after a restart or on another replica will fail"
        );
    }
    gw.admin_init(admin.0).await;
    gw.start();
    reload::spawn(
        gw.clone(),
        reload::Source {
            path: args.config.config.clone(),
            listen_override: args.listen.clone(),
        },
    );
    tracing::info!(%addr, upstreams = gw.upstreams().members().len(), "switchboard listening; MCP at http://{addr}/mcp");
    Server::new(gw).serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
