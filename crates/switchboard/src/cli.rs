//! The command line: subcommands, flags and their environment fallbacks.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "One fast, safe front door for every MCP server."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP gateway.
    Serve(ServeArgs),
    /// Serve the catalog over stdin/stdout (for desktop MCP clients).
    Stdio(ConfigArgs),
    /// Validate a config and print the catalog plan; exit 2 on error.
    Check(CheckArgs),
    /// Connect to one MCP server as a client: initialize, list tools, call one.
    Probe(ProbeArgs),
    /// Manage API keys.
    Keys(KeysArgs),
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new API key (once, on stdout) and the `auth.api_keys` entry that admits it (on
    /// stderr).
    Create {
        /// The key's name: its principal is `key:<name>`.
        #[arg(long)]
        name: String,
        /// Scopes granted (repeat, or comma-separate).
        #[arg(long)]
        scopes: Vec<String>,
        /// Roles (`auth.roles`) whose scopes it also has (repeat, or comma-separate).
        #[arg(long)]
        roles: Vec<String>,
        /// When it stops working: Unix seconds or an RFC 3339 UTC time.
        #[arg(long)]
        expires: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The config file (YAML).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on; overrides SWITCHBOARD_LISTEN and the file.
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Also start every upstream (with a timeout) and print the real catalog and any collisions.
    #[arg(long)]
    pub connect: bool,
    /// How long --connect waits for upstreams.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Call this tool after listing.
    #[arg(long)]
    pub call: Option<String>,
    /// Arguments for --call, as a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// Speak the legacy HTTP+SSE transport (2024-11-05) instead of Streamable HTTP.
    #[arg(long)]
    pub sse: bool,
    /// Give up after this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// The server's URL (Streamable HTTP, or HTTP+SSE with --sse).
    #[arg(required_unless_present = "command", conflicts_with = "command")]
    pub url: Option<String>,
    /// `-- COMMAND ARGS…`: start this stdio server instead.
    // `last`: clap consumes the `--` itself and hands over everything after it verbatim, so the
    // README's `probe -- CMD --flag` works and the server's own flags never reach our parser.
    // (A free positional with `allow_hyphen_values` kept the `--` as a value, so only `-- --` worked.)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    Ok(match unit {
        "" | "s" => std::time::Duration::from_secs(n),
        "ms" => std::time::Duration::from_millis(n),
        "m" => std::time::Duration::from_secs(n * 60),
        _ => return Err(format!("bad duration {s:?} (use ms, s or m)")),
    })
}
