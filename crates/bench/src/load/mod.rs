//! `switchboard-load`: an MCP client that drives C concurrent calls and measures them.
//!
//! Over Streamable HTTP ([`http`]) each client task holds its own keep-alive connection and the
//! C clients are spread over S sessions, each initialized properly (`initialize`, then
//! `notifications/initialized`, then requests with `Mcp-Session-Id` and
//! `MCP-Protocol-Version`); answers may be JSON or SSE ([`sse`]). Over stdio ([`stdio`]) one child
//! is spawned, initialized and asked for `tools/list` once, then the C clients' requests are
//! multiplexed over its pipes by id. [`call`] says
//! what one call is and how its answer is validated, [`driver`] runs the warm-up and measured
//! phases, [`report`] is the JSON printed at the end.

pub mod call;
pub mod driver;
pub mod http;
pub mod report;
pub mod sse;
pub mod stdio;

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

pub use call::{CallSpec, Method};
pub use driver::{Options, Target, run};
pub use report::{Report, ServerUsage};

use crate::loopback::HttpTarget;

/// Hard cap on one phase, whatever `--calls` or `--duration` say.
pub const DEFAULT_MAX_DURATION: &str = "600s";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    #[value(name = "tools/call")]
    ToolsCall,
    #[value(name = "tools/list")]
    ToolsList,
}

#[derive(Debug, Parser)]
#[command(
    name = "switchboard-load",
    version,
    about = "MCP load generator: C concurrent clients over Streamable HTTP or stdio; prints JSON."
)]
pub struct Args {
    /// Streamable HTTP endpoint (loopback only), e.g. http://127.0.0.1:8080/mcp.
    #[arg(long, value_name = "URL", required_unless_present = "stdio")]
    pub http: Option<String>,
    /// Spawn the server given after `--` and talk to it over stdin/stdout.
    #[arg(long, conflicts_with = "http")]
    pub stdio: bool,
    /// The stdio server's command and arguments.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// Tool to call.
    #[arg(long, default_value = "echo")]
    pub tool: String,
    /// The tool's arguments (a JSON object).
    #[arg(long = "args", default_value = r#"{"message":"hi"}"#)]
    pub arguments: String,
    /// What each call is; `tools/list` follows every page.
    #[arg(long, value_enum, default_value = "tools/call")]
    pub method: MethodArg,
    /// Concurrent clients.
    #[arg(long, short = 'c', default_value_t = 1)]
    pub concurrency: usize,
    /// Measured calls in all (default 10000 unless --duration is given).
    #[arg(long, short = 'n')]
    pub calls: Option<u64>,
    /// Measure for this long (e.g. 10s, 500ms); with --calls, whichever ends first.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Keep measuring past --calls until this long has passed (never past --duration): on a
    /// fast path a fixed count of calls is over in a few milliseconds, too short to measure.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub min_duration: Duration,
    /// Unmeasured calls first, at the same concurrency.
    #[arg(long, default_value_t = 1000)]
    pub warmup: u64,
    /// HTTP: MCP sessions the clients are spread over (default: one per client).
    #[arg(long)]
    pub sessions: Option<usize>,
    /// Each result's text must add up to at least this many bytes.
    #[arg(long, default_value_t = 0)]
    pub expect_bytes: usize,
    /// tools/list: the listing must hold exactly this many tools.
    #[arg(long)]
    pub expect_tools: Option<usize>,
    /// The result's first text block must equal this (default: arguments.message for echo tools).
    #[arg(long)]
    pub expect_text: Option<String>,
    /// Report this process's CPU time and resident memory over the measured phase (default for
    /// stdio: the spawned server).
    #[arg(long, value_name = "PID")]
    pub watch_pid: Option<u32>,
    /// Runtime worker threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Give up on one call after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Protocol revision: 2025-11-25 (initialize, sessions) or 2026-07-28 (stateless: `_meta`
    /// and mirrored headers on every request, no sessions).
    #[arg(long, default_value = "2025-11-25", value_parser = ["2025-11-25", "2026-07-28"])]
    pub revision: String,
    /// HTTP: send `Authorization: Bearer <CREDENTIAL>` on every request (an API key or a JWT).
    #[arg(long, value_name = "CREDENTIAL")]
    pub bearer: Option<String>,
    /// HTTP: send `Idempotency-Key: KEY` on every request (all calls after the first are
    /// replays of it when the arguments stay the same).
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Hard cap on each phase.
    #[arg(long, default_value = DEFAULT_MAX_DURATION, value_parser = parse_duration)]
    pub max_duration: Duration,
}

/// Parses `10`, `10s`, `250ms`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?}"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

impl Args {
    /// Checks the flags and turns them into run options.
    pub fn options(self) -> anyhow::Result<Options> {
        if self.concurrency == 0 || self.concurrency > 100_000 {
            bail!("--concurrency must be 1..=100000");
        }
        let target = match (&self.http, self.stdio) {
            (Some(url), false) => {
                let mut t = HttpTarget::parse(url)?;
                t.authorization = self.bearer.as_ref().map(|b| format!("Bearer {b}"));
                t.idempotency_key = self.idempotency_key.clone();
                Target::Http(t)
            }
            (None, true) => {
                if self.command.is_empty() {
                    bail!("--stdio needs the server's command after --");
                }
                Target::Stdio(self.command.clone())
            }
            _ => bail!("give exactly one of --http URL and --stdio -- CMD"),
        };
        let method = match self.method {
            MethodArg::ToolsCall => Method::ToolsCall,
            MethodArg::ToolsList => Method::ToolsList,
        };
        let spec = CallSpec::new(
            method,
            &self.tool,
            &self.arguments,
            self.expect_text.clone(),
            self.expect_bytes,
            self.expect_tools,
            self.revision == crate::jsonrpc::MODERN_REVISION,
        )
        .context("--args")?;
        let sessions = self.sessions.unwrap_or(self.concurrency).max(1);
        let calls = match (self.calls, self.duration) {
            (None, None) => Some(10_000),
            (c, _) => c,
        };
        Ok(Options {
            target,
            spec,
            concurrency: self.concurrency,
            sessions,
            calls,
            duration: self.duration,
            min_duration: self.min_duration,
            warmup: self.warmup,
            watch_pid: self.watch_pid,
            timeout: self.timeout,
            max_duration: self.max_duration,
            modern: self.revision == crate::jsonrpc::MODERN_REVISION,
        })
    }
}

/// Runs the load generator on its own runtime and returns its report.
pub fn main(args: Args) -> anyhow::Result<Report> {
    let threads = args.threads;
    let opts = args.options()?;
    let _ = crate::rlimit::raise_nofile();
    let rt = crate::runtime::build(threads)?;
    rt.block_on(run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("3h").is_err());
    }
}
