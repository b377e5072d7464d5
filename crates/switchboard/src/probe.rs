//! `switchboard probe`: be a client of one MCP server — initialize, list tools, optionally call
//! one — and print what happened. Useful to check an upstream before adding it, and it is how the
//! official conformance suite scores switchboard's client side (it appends the URL last).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use switchboard_protocol::{Kind, Revision, object};
use switchboard_upstream::http::HttpSpec;
use switchboard_upstream::stdio::StdioSpec;
use switchboard_upstream::{ConnectOptions, Connection, Inbound, RequestCtx, Target};
use tokio::sync::mpsc;

use crate::cli::ProbeArgs;
use crate::output::{errln, outln};
use crate::setup;

pub async fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    if let Err(code) = setup::init_logging() {
        return Ok(code);
    }
    switchboard_upstream::http::ensure_crypto_provider();
    let target = target(&args)?;
    let valid = serde_json::from_str::<&serde_json::value::RawValue>(&args.args).is_ok();
    if !valid || !args.args.trim_start().starts_with('{') {
        bail!("--args must be a JSON object, got {:?}", args.args);
    }
    let (tx, mut rx) = mpsc::channel(64);
    let opts = ConnectOptions {
        name: Arc::from("probe"),
        target,
        timeout: args.timeout,
        max_message_bytes: 64 << 20,
        capabilities: "{}".into(),
        client_info: format!(
            "{{\"name\":\"switchboard-probe\",\"version\":\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        ),
        revision: Revision::LATEST,
        reaper: None,
        // One call and done: no standalone stream to race the call's own stream.
        standalone_stream: false,
        // The probe checks a server the way handshake-era clients reach it (and the client
        // conformance scenarios expect initialize first).
        era: switchboard_upstream::Era::Legacy,
        probe_timeout: Duration::from_secs(2),
        replay: None,
    };
    let conn = Connection::connect(opts, tx).await.context("connect")?;
    // Print what the server says on its own; refuse its requests (the probe declares no capabilities).
    let printer = conn.clone();
    tokio::spawn(async move {
        while let Some(Inbound::Message(m)) = rx.recv().await {
            match m.kind() {
                Kind::Request => {
                    if let Some(id) = m.id() {
                        let e = switchboard_protocol::RpcError::new(
                            switchboard_protocol::ErrorCode::METHOD_NOT_FOUND,
                            "the probe answers no requests",
                        );
                        let _ = printer.respond_error(id, &e).await;
                    }
                }
                _ => errln!("server: {}", String::from_utf8_lossy(m.bytes())),
            }
        }
    });
    // The connection is closed however the report ends (a failed call, a reader gone from stdout).
    let report = report(&conn, &args).await;
    conn.close().await;
    report
}

/// Lists the tools and makes the call, printing each step; exit 1 when the call failed.
async fn report(conn: &Connection, args: &ProbeArgs) -> anyhow::Result<ExitCode> {
    if let Some(info) = conn.info() {
        outln!("server: {}", info.server_info)?;
        outln!("revision: {}", info.revision)?;
        outln!("capabilities: {}", info.capabilities)?;
    }
    let tools = conn
        .request("tools/list", None, RequestCtx::default())
        .await
        .context("tools/list")?;
    let Some(result) = tools.result() else {
        bail!("tools/list failed: {}", tools.error().unwrap_or("?"));
    };
    let items = object::get(result, "tools")
        .and_then(object::array_items)
        .unwrap_or_default();
    outln!("tools ({}):", items.len())?;
    for t in &items {
        outln!("  {}", object::get_str(t, "name").unwrap_or_default())?;
    }
    let mut code = ExitCode::SUCCESS;
    if let Some(name) = &args.call {
        let params = format!(
            "{{\"name\":{},\"arguments\":{}}}",
            object::json_string(name),
            args.args
        );
        let resp = conn
            .request("tools/call", Some(&params), RequestCtx::default())
            .await
            .context("tools/call")?;
        match resp.kind() {
            Kind::Result => {
                let r = resp.result().unwrap_or("null");
                outln!("result: {r}")?;
                if object::get(r, "isError") == Some("true") {
                    code = ExitCode::from(1);
                }
            }
            _ => {
                outln!("error: {}", resp.error().unwrap_or("?"))?;
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

fn target(args: &ProbeArgs) -> anyhow::Result<Target> {
    if let Some((command, rest)) = args.command.split_first() {
        return Ok(Target::Stdio(StdioSpec {
            command: command.clone(),
            args: rest.to_vec(),
            env: Vec::new(),
            cwd: None,
            env_clear: false,
            integrity: None,
        }));
    }
    let Some(url) = args.url.as_deref() else {
        bail!("expected a URL (http:// or https://) or `-- COMMAND ARGS…`");
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("expected a URL (http:// or https://) or `-- COMMAND ARGS…`, got {url:?}");
    }
    // The operator typed this URL: private addresses are allowed; cloud metadata never is.
    let spec = HttpSpec {
        url: url.to_owned(),
        headers: Vec::new(),
        egress: switchboard_upstream::egress::EgressPolicy::strict().allow_private(true),
        token: None,
    };
    Ok(if args.sse {
        Target::Sse(spec)
    } else {
        Target::Http(spec)
    })
}
