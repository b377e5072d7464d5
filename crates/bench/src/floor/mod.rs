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

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use tokio::net::TcpListener;

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
    Http {
        listen: SocketAddr,
        upstream: HttpTarget,
        lifetime: Duration,
    },
    Tcp {
        listen: SocketAddr,
        upstream: HttpTarget,
        lifetime: Duration,
    },
    Stdio(Vec<String>),
}

impl Args {
    /// Checks the flags: exactly one mode, each with what it needs, loopback addresses only.
    pub fn mode(self) -> anyhow::Result<Mode> {
        let lifetime = Duration::from_secs(self.lifetime);
        match (self.http, self.tcp, self.stdio) {
            (Some(listen), None, false) => {
                let upstream = forward("--http", &listen, self.to, &self.command)?;
                Ok(Mode::Http {
                    listen,
                    upstream,
                    lifetime,
                })
            }
            (None, Some(listen), false) => {
                let upstream = forward("--tcp", &listen, self.to, &self.command)?;
                Ok(Mode::Tcp {
                    listen,
                    upstream,
                    lifetime,
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

/// Checks a forwarding mode's flags: an upstream URL, no command, loopback on both sides.
fn forward(
    flag: &str,
    listen: &SocketAddr,
    to: Option<String>,
    command: &[String],
) -> anyhow::Result<HttpTarget> {
    let Some(to) = to else {
        bail!("{flag} needs --to URL (the upstream)");
    };
    if !command.is_empty() {
        bail!("{flag} takes no command after --");
    }
    loopback::require(listen)?;
    // Refuses anything but http:// to a loopback address (`loopback::require`).
    HttpTarget::parse(&to)
}

/// Runs until the listener's lifetime ends (HTTP, TCP) or the child exits (stdio); the exit code
/// is the child's for stdio. A listening floor prints the URL to call on stdout first.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    match args.mode()? {
        Mode::Http {
            listen,
            upstream,
            lifetime,
        } => listening(listen, "/mcp", |listener| {
            http::serve(listener, upstream, lifetime)
        }),
        // Requests go through untouched, so they name the upstream's path.
        Mode::Tcp {
            listen,
            upstream: HttpTarget { addr, path, .. },
            lifetime,
        } => listening(listen, &path, |listener| async move {
            tcp::serve(listener, addr, lifetime).await;
            Ok(())
        }),
        Mode::Stdio(command) => stdio::relay(&command),
    }
}

/// Binds `listen`, prints `http://ADDR{path}` on stdout and runs `serve` on the listener, in the
/// gateway's runtime (multi-thread, one worker per CPU), which both listening floors share so
/// they differ only in what they parse.
fn listening<F, Fut>(listen: SocketAddr, path: &str, serve: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(TcpListener) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (listener, local) = http::bind(listen).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "http://{local}{path}")?;
        out.flush()?;
        drop(out);
        serve(listener).await
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
    fn http_needs_loopback_on_both_sides() {
        let m = mode(&["--http", "127.0.0.1:0", "--to", "http://127.0.0.1:9/mcp"]).unwrap();
        let Mode::Http { upstream, .. } = m else {
            panic!("not http: {m:?}")
        };
        assert_eq!(upstream.addr.port(), 9);
        assert_eq!(upstream.path, "/mcp");

        let err = mode(&["--http", "127.0.0.1:0", "--to", "http://192.0.2.1:80/mcp"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a loopback address"), "{err}");
        let err = mode(&["--http", "0.0.0.0:0", "--to", "http://127.0.0.1:9/mcp"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a loopback address"), "{err}");
        assert!(mode(&["--http", "127.0.0.1:0", "--to", "https://127.0.0.1:9/mcp"]).is_err());
        let err = mode(&["--http", "127.0.0.1:0"]).unwrap_err().to_string();
        assert!(err.contains("--to"), "{err}");
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
        assert!(
            mode(&[
                "--http",
                "127.0.0.1:0",
                "--to",
                "http://127.0.0.1:9/mcp",
                "--stdio"
            ])
            .is_err()
        );
        assert!(
            mode(&[
                "--http",
                "127.0.0.1:0",
                "--to",
                "http://127.0.0.1:9/mcp",
                "--",
                "x"
            ])
            .is_err()
        );
    }

    #[test]
    fn tcp_needs_an_upstream_on_loopback_and_no_other_mode() {
        let m = mode(&["--tcp", "127.0.0.1:0", "--to", "http://127.0.0.1:9/mcp"]).unwrap();
        let Mode::Tcp { upstream, .. } = m else {
            panic!("not tcp: {m:?}")
        };
        assert_eq!(upstream.addr.port(), 9);
        assert_eq!(upstream.path, "/mcp");

        let err = mode(&["--tcp", "127.0.0.1:0"]).unwrap_err().to_string();
        assert!(err.contains("--tcp needs --to"), "{err}");
        let err = mode(&["--tcp", "127.0.0.1:0", "--to", "http://192.0.2.1:80/mcp"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a loopback address"), "{err}");
        let err = mode(&["--tcp", "0.0.0.0:0", "--to", "http://127.0.0.1:9/mcp"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a loopback address"), "{err}");
        let to = "http://127.0.0.1:9/mcp";
        assert!(mode(&["--tcp", "127.0.0.1:0", "--to", to, "--", "x"]).is_err());
        assert!(mode(&["--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--to", to]).is_err());
        assert!(mode(&["--tcp", "127.0.0.1:0", "--to", to, "--stdio"]).is_err());
    }
}
