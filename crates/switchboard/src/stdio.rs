//! `switchboard stdio`: the catalog on stdin/stdout; logs on stderr.

use std::process::ExitCode;

use switchboard_gateway::Gateway;

use crate::cli::ConfigArgs;
use crate::output::errln;
use crate::setup;

pub async fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    if let Err(code) = setup::init_logging() {
        return Ok(code);
    }
    switchboard_upstream::http::ensure_crypto_provider();
    let config = match setup::load_config(&args.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if config.audit.as_ref().is_some_and(|a| a.stdout) {
        errln!(
            "switchboard: audit.stdout cannot be used with `switchboard stdio`: stdout carries MCP there (use audit.file)"
        );
        return Ok(ExitCode::from(setup::CONFIG_ERROR));
    }
    let audit = match setup::start_audit(&config) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let gw = Gateway::with_audit(config, setup::reaper(), audit);
    gw.start();
    let (input, output) = std_streams();
    switchboard_server::stdio::serve(gw.clone(), input, output).await?;
    gw.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// stdin and stdout as async streams. When they are pipes (how MCP clients start us) they are
/// read and written directly in non-blocking mode; tokio's portable stdin/stdout would put every
/// read and write through its blocking thread pool, several thread hops per message. Terminals and
/// files fall back to the portable ones.
fn std_streams() -> (
    Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
) {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    let input: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Receiver::from_owned_fd)
    {
        Ok(r) => Box::new(r),
        Err(_) => Box::new(tokio::io::stdin()),
    };
    let output: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Sender::from_owned_fd)
    {
        Ok(w) => Box::new(w),
        Err(_) => Box::new(tokio::io::stdout()),
    };
    (input, output)
}
