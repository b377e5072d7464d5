//! `switchboard stdio`: the catalog on stdin/stdout; logs on stderr.

use std::process::ExitCode;

use switchboard_gateway::Gateway;

use crate::cli::ConfigArgs;
use crate::setup;

pub async fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    setup::init_logging();
    switchboard_upstream::http::ensure_crypto_provider();
    let config = match setup::load_config(&args.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let gw = Gateway::new(config, setup::reaper());
    gw.start();
    switchboard_server::stdio::serve(gw.clone(), tokio::io::stdin(), tokio::io::stdout()).await?;
    gw.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
