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
    /// Read the audit log: verify its chain, follow it, filter it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Signed plugins: keys, bundles, the plugins directory.
    Plugin(PluginArgs),
}

#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a new Ed25519 signing key (`signing.key`, PKCS#8 PEM, mode 0600) and its trust root
    /// (`trust-root.pem`, PUBLIC KEY PEM) into DIR.
    Keygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Pack SRC_DIR (a plugin.yaml or manifest.json template and the plugin's files) into a
    /// signed bundle.
    Pack {
        #[arg(value_name = "SRC_DIR")]
        src: PathBuf,
        /// The signing key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// Where to write the bundle (.tar.gz).
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a bundle offline against trust roots; exit 1 if it is refused.
    Verify {
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// A PUBLIC KEY PEM file (repeat for several).
        #[arg(long = "trust-root", required = true)]
        trust_root: Vec<PathBuf>,
    },
    /// Verify a bundle against the config's trust roots and install it into its plugins dir.
    Install {
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List installed plugins with their state (checked as the gateway would).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove an installed plugin.
    Remove {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
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

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain across FILEs (rotated files in any order); exit 1 on any problem.
    Verify(AuditVerifyArgs),
    /// Print the last records of FILE; with -f, keep printing new ones.
    Tail(AuditTailArgs),
    /// Print the records of FILEs that match every filter given.
    Query(AuditQueryArgs),
    /// Make an Ed25519 key pair for signed checkpoints: the private key goes to --out (mode
    /// 0600), the public key is printed (give it to `audit verify --key`).
    Keygen(AuditKeygenArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Also check checkpoint signatures with this public key (64 hex digits, or a file holding them).
    #[arg(long)]
    pub key: Option<String>,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditTailArgs {
    /// How many records to print.
    #[arg(short = 'n', long = "lines", default_value_t = 10)]
    pub lines: usize,
    /// Keep printing records as they are written (across rotations).
    #[arg(short = 'f', long)]
    pub follow: bool,
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct AuditQueryArgs {
    #[arg(long)]
    pub principal: Option<String>,
    /// Tool, prompt or resource name as called; a trailing `*` matches any ending.
    #[arg(long)]
    pub tool: Option<String>,
    #[arg(long, value_parser = ["allow", "deny"])]
    pub verdict: Option<String>,
    /// Records at or after this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Records before this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditKeygenArgs {
    /// Where to write the private key (refused if the file exists).
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_time(s: &str) -> Result<i64, String> {
    switchboard_audit::parse_rfc3339(s)
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 time (like 2026-12-05T14:00:00Z)"))
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
