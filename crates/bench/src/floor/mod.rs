//! `switchboard-floor`: the least a proxy hop can cost, measured beside the gateway for comparison
//! only. It is not a gateway and must never be used as one.
//!
//! It does nothing with what passes through it: no MCP, no sessions, no checks, no routing. Over
//! HTTP ([`http`]) it forwards every request as it is to one upstream and the answer back; over
//! stdio ([`stdio`]) it relays bytes between its own pipes and a child's. Below the HTTP floor,
//! [`tcp`] splices each client connection to an upstream connection of its own and parses
//! nothing: the least any proxy in front of an HTTP upstream can do. The benchmark suite runs
//! it in the same rounds as the gateway, so the gap between it and a direct call is what any proxy
//! hop costs on the machine (a second process, one more socket or pipe each way, the kernel's
//! work for them), and the gap between it and the gateway is the gateway's own cost.
//!
//! Where it matters for that comparison it is built like `switchboard serve`: a multi-thread
//! tokio runtime with one worker per CPU, hyper's HTTP/1.1 server and client with TCP_NODELAY, a
//! keep-alive pool whose connections are driven by each request's own future, and mimalloc (set
//! in the binary).
//!
//! ```text
//! switchboard-floor --http 127.0.0.1:0 --to http://127.0.0.1:PORT/mcp   # prints http://ADDR/mcp
//! switchboard-floor --tcp 127.0.0.1:0 --to http://127.0.0.1:PORT/mcp    # the same, spliced
//! switchboard-floor --stdio -- CMD [ARGS...]
//! ```

pub mod http;
pub mod stdio;
pub mod tcp;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use tokio::net::TcpStream;

use crate::loopback::{self, HttpTarget};

#[derive(Debug, Parser)]
#[command(
    name = "switchboard-floor",
    version,
    about = "A bare forwarder that measures what any proxy hop costs (benchmarks only; not a gateway)."
)]
pub struct Args {
    /// Listen for HTTP on this loopback address (port 0: any free port) and forward every
    /// request to --to.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["stdio", "tcp"])]
    pub http: Option<SocketAddr>,
    /// Listen on this loopback address (port 0: any free port) and splice every connection,
    /// byte for byte, to a connection of its own to --to's address (no HTTP parsing).
    #[arg(long, value_name = "ADDR", conflicts_with = "stdio")]
    pub tcp: Option<SocketAddr>,
    /// The HTTP upstream (loopback only), e.g. http://127.0.0.1:8080/mcp.
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// Spawn the command given after `--` and relay stdin/stdout to it.
    #[arg(long)]
    pub stdio: bool,
    /// The stdio child's command and arguments.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// HTTP and TCP only: exit after this many seconds, whatever happens.
    #[arg(long, default_value_t = 3600)]
    pub lifetime: u64,
}

/// What to run, once the flags are checked.
#[derive(Debug)]
pub enum Mode {
    /// Listen on `listen` and forward to `upstream`: as HTTP ([`http`]), or as a byte splice
    /// ([`tcp`]) when `splice`.
    Forward {
        splice: bool,
        listen: SocketAddr,
        upstream: HttpTarget,
        lifetime: Duration,
    },
    Stdio(Vec<String>),
}

impl Args {
    /// Checks the flags: exactly one mode, each with what it needs, loopback addresses only.
    pub fn mode(self) -> anyhow::Result<Mode> {
        match (self.http, self.tcp, self.stdio) {
            (Some(listen), None, false) | (None, Some(listen), false) => {
                let splice = self.tcp.is_some();
                let flag = if splice { "--tcp" } else { "--http" };
                let Some(to) = self.to else {
                    bail!("{flag} needs --to URL (the upstream)");
                };
                if !self.command.is_empty() {
                    bail!("{flag} takes no command after --");
                }
                loopback::require(&listen)?;
                Ok(Mode::Forward {
                    splice,
                    listen,
                    // Refuses anything but http:// to a loopback address (`loopback::require`).
                    upstream: HttpTarget::parse(&to)?,
                    lifetime: Duration::from_secs(self.lifetime),
                })
            }
            (None, None, true) => {
                if self.to.is_some() {
                    bail!("--to goes with --http or --tcp, not --stdio");
                }
                if self.command.is_empty() {
                    bail!("--stdio needs the child's command after --");
                }
                Ok(Mode::Stdio(self.command))
            }
            _ => bail!(
                "give exactly one of --http ADDR --to URL, --tcp ADDR --to URL and --stdio -- CMD"
            ),
        }
    }
}

/// Giving up on a connect to the upstream after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to the upstream, with `TCP_NODELAY` (the floors write whole messages); the error
/// says what failed, for a 502 body or a line on stderr.
async fn connect(upstream: SocketAddr) -> Result<TcpStream, String> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream))
        .await
        .map_err(|_| format!("connect to {upstream}: timed out"))?
        .map_err(|e| format!("connect to {upstream}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Runs until the listener's lifetime ends (HTTP, TCP) or the child exits (stdio); the exit code
/// is the child's for stdio. A listening floor prints the URL to call on stdout first.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let (splice, listen, upstream, lifetime) = match args.mode()? {
        Mode::Stdio(command) => return stdio::relay(&command),
        Mode::Forward {
            splice,
            listen,
            upstream,
            lifetime,
        } => (splice, listen, upstream, lifetime),
    };
    // The gateway's runtime (multi-thread, one worker per CPU) for both, so that the two differ
    // only in what they parse.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // A splice passes requests through untouched, so they name the upstream's path; the HTTP
        // floor sends every path to it.
        let path = if splice {
            upstream.path.as_str()
        } else {
            "/mcp"
        };
        let listener = crate::http1::bind_and_announce(listen, path).await?;
        if splice {
            tcp::serve(listener, upstream.addr, lifetime).await;
            Ok(())
        } else {
            http::serve(listener, upstream, lifetime).await
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(argv: &[&str]) -> anyhow::Result<Mode> {
        let args =
            Args::try_parse_from(std::iter::once("switchboard-floor").chain(argv.iter().copied()))?;
        args.mode()
    }

    #[test]
    fn forwarding_needs_an_upstream_and_loopback_on_both_sides() {
        let to = "http://127.0.0.1:9/mcp";
        for (flag, spliced) in [("--http", false), ("--tcp", true)] {
            let m = mode(&[flag, "127.0.0.1:0", "--to", to]).unwrap();
            let Mode::Forward {
                splice, upstream, ..
            } = m
            else {
                panic!("{flag}: not forwarding: {m:?}")
            };
            assert_eq!(splice, spliced, "{flag}");
            assert_eq!(upstream.addr.port(), 9);
            assert_eq!(upstream.path, "/mcp");

            for bad in [
                [flag, "127.0.0.1:0", "--to", "http://192.0.2.1:80/mcp"],
                [flag, "0.0.0.0:0", "--to", to],
            ] {
                let err = mode(&bad).unwrap_err().to_string();
                assert!(err.contains("not a loopback address"), "{flag}: {err}");
            }
            assert!(mode(&[flag, "127.0.0.1:0", "--to", "https://127.0.0.1:9/mcp"]).is_err());
            let err = mode(&[flag, "127.0.0.1:0"]).unwrap_err().to_string();
            assert!(err.contains(&format!("{flag} needs --to")), "{err}");
            assert!(mode(&[flag, "127.0.0.1:0", "--to", to, "--", "x"]).is_err());
            assert!(mode(&[flag, "127.0.0.1:0", "--to", to, "--stdio"]).is_err());
        }
        let both = ["--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--to", to];
        assert!(mode(&both).is_err());
    }

    #[test]
    fn stdio_needs_a_command_and_one_mode() {
        let Mode::Stdio(cmd) = mode(&["--stdio", "--", "echo", "--stdio"]).unwrap() else {
            panic!("not stdio")
        };
        assert_eq!(cmd, ["echo", "--stdio"]);
        assert!(mode(&["--stdio"]).is_err());
        assert!(mode(&[]).is_err());
        assert!(mode(&["--stdio", "--to", "http://127.0.0.1:9/mcp", "--", "x"]).is_err());
    }
}
