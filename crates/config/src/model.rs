//! The validated configuration the rest of the workspace codes against.
//!
//! Everything here is plain data: env variables are already expanded, durations and sizes are
//! parsed, relative paths are resolved and every rule in `validate` has passed. The defaults
//! live here as constants so the docs, the loader and the tests name one value each.

use std::path::PathBuf;
use std::time::Duration;

/// Address the HTTP gateway binds when neither the file, `SWITCHBOARD_LISTEN` nor `--listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Joins an upstream's prefix to a tool, prompt or resource name: `github__create_issue`.
pub const DEFAULT_NAMESPACE_SEPARATOR: &str = "__";
/// Largest request body the HTTP layer accepts: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// A client connection that has not sent a whole request head this long after it opened, or
/// after its previous answer, is closed (slow-header clients and idle keep-alive connections).
/// nginx's `keepalive_timeout`: above the 60 s idle timeout of common load balancers, so that a
/// balancer never sends a request into a connection the gateway is closing.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(75);
/// A `POST` body not received whole this long after its head gets HTTP 408.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A downstream session idle this long is forgotten.
pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(30 * 60);
/// Sessions kept at once before new ones are refused.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Sessions one principal may hold open at once, by default (a tenth of the default total, so
/// one caller cannot take them all).
pub const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL: usize = 1_000;
/// Bytes of request line and headers read per request, by default.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// SSE events kept per session so a client can resume with `Last-Event-ID`.
pub const DEFAULT_EVENT_BUFFER: usize = 256;
/// Interval between SSE keep-alive comments.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);
/// Default time an upstream gets to answer one request.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time an HTTP upstream's connection may take to open (`connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest single message read from an upstream: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Time an `era: auto` upstream gets to answer the gateway's `server/discover` probe.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Lifetime of a held call and of any sealed `requestState`.
pub const DEFAULT_INPUT_TTL: Duration = Duration::from_secs(10 * 60);
/// Rounds of `input_required` one call may take, as in the Python SDK and rmcp.
pub const DEFAULT_MAX_ROUNDS: u32 = 10;
/// Calls waiting for a 2026-07-28 caller's answers that one gateway holds at most.
pub const DEFAULT_MAX_HELD: usize = 10_000;
/// Quiet time that ends a batch of an upstream's server-to-client requests.
pub const DEFAULT_GATHER: Duration = Duration::from_millis(50);
/// `ttlMs` given to lists built from handshake-era upstreams: do not cache.
pub const DEFAULT_LIST_TTL: Duration = Duration::ZERO;
/// Longest `modern.replica_id`; it is sealed into every held `requestState`.
pub const MAX_REPLICA_ID_LEN: usize = 64;
/// The audit log's file when `audit:` names no sink (relative to the config file).
pub const DEFAULT_AUDIT_PATH: &str = "audit.jsonl";
/// `state_dir` when the file names none: beside the config file.
pub const DEFAULT_STATE_DIR: &str = "switchboard-state";
/// The audit file is rotated before it grows past this: 100 MiB.
pub const DEFAULT_AUDIT_ROTATE_BYTES: u64 = 100 * 1024 * 1024;
/// Audit writes are synced to disk at most this long after they are made.
pub const DEFAULT_AUDIT_FSYNC: Duration = Duration::from_millis(100);
/// Audit records waiting for the writer at most.
pub const DEFAULT_AUDIT_QUEUE: usize = 8192;
/// Interval between signed audit checkpoints.
pub const DEFAULT_AUDIT_CHECKPOINT_EVERY: Duration = Duration::from_secs(60);
/// Records one webhook POST carries at most, by default.
pub const DEFAULT_WEBHOOK_BATCH: usize = 500;
/// Longest a record waits for more to fill its webhook batch, by default.
pub const DEFAULT_WEBHOOK_FLUSH: Duration = Duration::from_secs(1);
/// Records the webhook holds in memory before it moves them to its dead-letter file.
pub const DEFAULT_WEBHOOK_QUEUE: usize = 10_000;
/// Failed attempts at one batch before the records in memory go to the dead-letter file.
pub const DEFAULT_WEBHOOK_RETRIES: u32 = 3;
/// How long one webhook POST may take, by default.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// The webhook's dead-letter file, beside the config, by default.
pub const DEFAULT_WEBHOOK_DEAD_LETTER: &str = "audit-webhook.dead-letter.jsonl";

/// The whole gateway configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address the HTTP gateway binds, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Joins prefix and name in the catalog; 1–4 characters out of `_`, `-`, `.`.
    pub namespace_separator: String,
    pub http: HttpConfig,
    /// SSRF strict mode's switch: `Some(true)` permits upstream addresses in private space
    /// (never cloud metadata); `Some(false)` refuses them all, loopback included; `None` (not
    /// configured) refuses them except loopback while the gateway itself listens on loopback.
    /// `SWITCHBOARD_ALLOW_PRIVATE_UPSTREAMS` overrides the file.
    pub allow_private_upstreams: Option<bool>,
    /// `outbound: { proxy }`: the proxy of every upstream that names none itself.
    pub outbound_proxy: ProxySetting,
    pub sessions: SessionsConfig,
    /// Roots answered to an upstream's `roots/list` when no client session can be named.
    pub roots: Vec<Root>,
    /// In config file order, then `SWITCHBOARD_UPSTREAMS` order; earlier wins name collisions.
    pub upstreams: Vec<UpstreamConfig>,
    /// In config file order.
    pub products: Vec<ProductConfig>,
    /// How `/mcp` offers its tools (`mode:`; a product has its own).
    pub mode: ToolMode,
    /// Serving MCP 2026-07-28 (stateless) clients.
    pub modern: ModernConfig,
    /// Limits on calls to upstreams, gateway-wide.
    pub limits: LimitsConfig,
    pub idempotency: IdempotencyConfig,
    pub auth: AuthConfig,
    /// Serve `/metrics` and count what it shows (`metrics: { enabled: false }` turns both off).
    pub metrics_enabled: bool,
    /// The audit log; `None` (off) when the file has no `audit:` section.
    pub audit: Option<AuditConfig>,
    /// Signed plugins: where they live, who must have signed them.
    pub plugins: PluginsConfig,
    /// Tracing export; `None` (off) unless `telemetry.otlp` or an `OTEL_EXPORTER_OTLP_*ENDPOINT`
    /// asks for it (`crate::telemetry`).
    pub telemetry: Option<crate::telemetry::TelemetryConfig>,
    /// Where the gateway keeps what it writes itself (the admin API's changes,
    /// `admin.json`), made absolute against the config file's directory; `None` when not
    /// given: [`DEFAULT_STATE_DIR`] beside the config file ([`Config::state_dir_in`]).
    /// Created on the first write.
    pub state_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.to_owned(),
            namespace_separator: DEFAULT_NAMESPACE_SEPARATOR.to_owned(),
            http: HttpConfig::default(),
            allow_private_upstreams: None,
            outbound_proxy: ProxySetting::default(),
            sessions: SessionsConfig::default(),
            roots: Vec::new(),
            upstreams: Vec::new(),
            products: Vec::new(),
            mode: ToolMode::default(),
            modern: ModernConfig::default(),
            limits: LimitsConfig::default(),
            idempotency: IdempotencyConfig::default(),
            auth: AuthConfig::default(),
            metrics_enabled: true,
            audit: None,
            plugins: PluginsConfig::default(),
            telemetry: None,
            state_dir: None,
        }
    }
}

impl Config {
    /// The state directory: `state_dir`, or [`DEFAULT_STATE_DIR`] in `config_dir` (the
    /// directory of the config file).
    pub fn state_dir_in(&self, config_dir: &std::path::Path) -> std::path::PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| config_dir.join(DEFAULT_STATE_DIR))
    }
}

/// Downstream HTTP hygiene: DNS-rebinding protection and body limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `Host` header values accepted besides the localhost forms.
    pub allowed_hosts: Vec<String>,
    /// `Origin` header values accepted besides the localhost forms.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Bytes of request line and headers read per request (at least 8192); past it, 431.
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    /// The URL clients reach the gateway at (`https://gw.example.com`, no trailing `/`): the
    /// base of the canonical resource URLs (RFC 8707) in protected-resource metadata and the
    /// default JWT audience (`<public_url>/mcp`). `None`: derived from each request's `Host`.
    pub public_url: Option<String>,
    /// `http.websocket`: MCP over WebSocket at `/mcp/ws`.
    pub websocket: crate::WebSocketConfig,
    /// `http.legacy_rest`: the deprecated `/v1/mcp` routes.
    pub legacy_rest: crate::LegacyRestConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            public_url: None,
            websocket: crate::WebSocketConfig::default(),
            legacy_rest: crate::LegacyRestConfig::default(),
        }
    }
}

/// Limits on downstream (client-facing) MCP sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionsConfig {
    pub idle_ttl: Duration,
    pub max_sessions: usize,
    /// Sessions one principal may hold open at once.
    pub max_per_principal: usize,
    /// SSE events kept per session for resumption.
    pub event_buffer: usize,
    /// SSE keep-alive comment interval.
    pub keepalive: Duration,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            idle_ttl: DEFAULT_IDLE_TTL,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_principal: DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
            event_buffer: DEFAULT_EVENT_BUFFER,
            keepalive: DEFAULT_KEEPALIVE,
        }
    }
}

/// One MCP root (`file://` URI) the gateway reports on its own behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub uri: String,
    pub name: Option<String>,
}

/// One MCP server switchboard talks to as a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// The key under `upstreams:`; unique.
    pub name: String,
    /// Namespace for this upstream's names; defaults to `name`, `""` mounts without one. Unique.
    pub prefix: String,
    pub transport: Transport,
    pub session: SessionMode,
    /// Default time one request to this upstream may take.
    pub timeout: Duration,
    /// Largest single message accepted from this upstream; a longer stdio line kills the child.
    pub max_message_bytes: usize,
    pub era: Era,
    /// How long an `era: auto` upstream gets to answer `server/discover` before it counts as
    /// handshake-era.
    pub probe_timeout: Duration,
    /// Which of its tools, prompts and resources (and templates) are served.
    pub tools: ItemFilter,
    pub prompts: ItemFilter,
    pub resources: ItemFilter,
    /// Per-tool timeouts (by the upstream's own tool name) overriding `timeout`.
    pub tool_timeouts: Vec<(String, Duration)>,
    /// Client calls in flight to this upstream at once (`None`: unlimited).
    pub max_concurrency: Option<usize>,
    pub breaker: BreakerConfig,
    /// Largest `tools/call` result passed on whole (`None`: no limit); a larger one is cut.
    pub max_result_bytes: Option<usize>,
    pub health: HealthConfig,
    /// With `session: isolated`, the upstream sessions (processes, for stdio) open at once.
    pub max_sessions: Option<usize>,
    pub start: StartMode,
    /// Stop the upstream after this long without a client call (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// How long a call that keeps sending progress may run in all (`None`: `timeout` is final).
    pub max_timeout: Option<Duration>,
    /// `/readyz` answers 503 while this upstream is not serving.
    pub required: bool,
    /// Scopes a caller needs to see or call any of its items (a caller without them gets
    /// lists without them, and calls answered as for an unknown name).
    pub scopes: Vec<String>,
    /// More scopes for the tools whose own names match a glob, in file order (every matching
    /// entry applies).
    pub tool_scopes: Vec<(String, Vec<String>)>,
    /// Where an `http`/`sse` upstream may connect, through which proxy, with which TLS.
    pub outbound: Outbound,
    /// What an `http`/`sse` upstream is sent to authenticate the gateway.
    pub credentials: Credentials,
    /// How long an `http`/`sse` upstream's connection (TCP and TLS) may take to open.
    pub connect_timeout: Duration,
    /// How long an `http`/`sse` upstream's answer may go without a byte arriving; `None`: only
    /// `timeout` limits a call.
    pub read_timeout: Option<Duration>,
}

impl Config {
    /// Whether loopback upstream addresses are allowed: `allow_private_upstreams` not
    /// configured and the gateway listening on loopback (the quick start), or allowed outright.
    pub fn loopback_upstreams_allowed(&self) -> bool {
        match self.allow_private_upstreams {
            Some(allowed) => allowed,
            None => self.listen_is_loopback(),
        }
    }
}

/// One network of an `outbound.allow` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

/// `outbound.proxy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxySetting {
    /// `none`: connect directly, whatever the environment says.
    #[default]
    Direct,
    /// `env`: `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY`.
    Env,
    Url(String),
}

/// An upstream's `outbound:` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbound {
    /// Networks this upstream may reach although SSRF strict mode refuses them (never cloud
    /// metadata).
    pub allow: Vec<IpNet>,
    /// `None`: the gateway-wide `outbound.proxy`.
    pub proxy: Option<ProxySetting>,
    pub tls: OutboundTls,
}

/// An upstream's `outbound.tls`. Paths are absolute or relative to the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundTls {
    pub ca: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

/// A secret from the config (usually `${VAR}`): its `Debug` shows no part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What an HTTP upstream is sent to authenticate the gateway (never anything of the caller's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: Secret },
    /// A bearer token fetched from `token_url` with the OAuth 2 client-credentials grant, cached
    /// until shortly before it expires.
    ClientCredentials(ClientCredentials),
    /// The caller's access token exchanged (RFC 8693) for one scoped to this upstream, cached
    /// per caller token until it expires. Only for calls made on a caller's behalf.
    TokenExchange(TokenExchange),
    /// The caller's own access token, forwarded as it came (`passthrough: true`): the one case
    /// where anything of the caller's reaches an upstream.
    Passthrough,
}

impl Credentials {
    /// Whether the upstream is sent the caller's token (forwarded or exchanged).
    pub fn uses_caller_token(&self) -> bool {
        matches!(
            self,
            Credentials::TokenExchange(_) | Credentials::Passthrough
        )
    }
}

/// `credentials.token_exchange`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenExchange {
    pub token_url: String,
    /// The gateway's own client at the token endpoint (HTTP Basic), if it must authenticate.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub scopes: Vec<String>,
}

/// `credentials.client_credentials`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub audience: Option<String>,
}

/// When an upstream's shared connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMode {
    /// At gateway start, and kept running.
    #[default]
    Eager,
    /// Its catalog is discovered at gateway start, then it stops; it starts again on the
    /// first call that needs it.
    Lazy,
}

impl UpstreamConfig {
    /// An upstream with every optional setting at its default (prefix = name).
    pub fn new(name: impl Into<String>, transport: Transport) -> Self {
        let name = name.into();
        UpstreamConfig {
            prefix: name.clone(),
            name,
            transport,
            session: SessionMode::default(),
            timeout: DEFAULT_UPSTREAM_TIMEOUT,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            era: Era::default(),
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            tools: ItemFilter::default(),
            prompts: ItemFilter::default(),
            resources: ItemFilter::default(),
            tool_timeouts: Vec::new(),
            max_concurrency: None,
            breaker: BreakerConfig::default(),
            max_result_bytes: None,
            health: HealthConfig::default(),
            max_sessions: None,
            start: StartMode::Eager,
            idle_timeout: None,
            max_timeout: None,
            required: false,
            scopes: Vec::new(),
            tool_scopes: Vec::new(),
            outbound: Outbound::default(),
            credentials: Credentials::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: None,
        }
    }
}

/// How an upstream is reached. `Debug` shows header names and the URL without user-info or
/// query, never header values (they are often credentials).
#[derive(Clone, PartialEq)]
pub enum Transport {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Added to the child's environment, in file order.
        env: Vec<(String, String)>,
        /// Absolute once loaded (relative paths resolve against the config file's directory).
        cwd: Option<PathBuf>,
        /// Start the child with only `env` (no inherited environment). Set for plugins; the
        /// config file has no key for it.
        env_clear: bool,
        /// A file that must hash to a known SHA-256 right before every start (a plugin's
        /// command); the config file has no key for it.
        integrity: Option<FileIntegrity>,
    },
    /// MCP Streamable HTTP.
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
    /// The legacy HTTP+SSE transport (MCP 2024-11-05).
    Sse {
        url: String,
        headers: Vec<(String, String)>,
    },
    /// A built-in connector served inside the gateway (`prometheus`, `loki`, `kubernetes`,
    /// `management`). `settings` is its block as written, strings `${VAR}`-expanded; the
    /// connector reads it (and the loader's `builtins` check has refused what it would not).
    Builtin {
        kind: String,
        settings: serde_json::Value,
    },
    /// No transport of its own: calls go to one of `members` (other upstreams serving the same
    /// tools), chosen by `strategy`. Members are served only through their group.
    Group {
        members: Vec<String>,
        strategy: GroupStrategy,
    },
}

/// A file and the SHA-256 it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIntegrity {
    pub path: PathBuf,
    pub sha256: [u8; 32],
}

/// The `plugins:` block (see `docs/plugins.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginsConfig {
    /// Where plugins are installed, one directory each (`None`: no `plugins:` block, no plugins).
    pub dir: Option<PathBuf>,
    /// `PUBLIC KEY` PEM files; a plugin loads only if one of their keys signed it.
    pub trust_roots: Vec<PathBuf>,
    /// `false` loads plugins without checking who signed them (hashes are still checked).
    pub verify: bool,
    /// Accept `POST /api/plugins` (always verified, whatever `verify` says).
    pub runtime_install: bool,
    /// Plugins that never load (the file's list, then `SWITCHBOARD_PLUGINS_DISABLED`).
    pub disabled: Vec<String>,
    /// Per-plugin settings from `plugins.config.<name>`.
    pub settings: Vec<PluginSettings>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: None,
            trust_roots: Vec::new(),
            verify: true,
            runtime_install: false,
            disabled: Vec::new(),
            settings: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |h: &[(String, String)]| h.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        match self {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
                env_clear,
                integrity,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &names(env))
                .field("cwd", cwd)
                .field("env_clear", env_clear)
                .field("integrity", &integrity.as_ref().map(|i| &i.path))
                .finish(),
            Transport::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", &shown_url(url))
                .field("headers", &names(headers))
                .finish(),
            Transport::Sse { url, headers } => f
                .debug_struct("Sse")
                .field("url", &shown_url(url))
                .field("headers", &names(headers))
                .finish(),
            Transport::Group { members, strategy } => f
                .debug_struct("Group")
                .field("members", members)
                .field("strategy", strategy)
                .finish(),
            // Settings may hold credentials (a bearer token, a password): only their keys show.
            Transport::Builtin { kind, settings } => f
                .debug_struct("Builtin")
                .field("kind", kind)
                .field(
                    "settings",
                    &settings
                        .as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>())
                        .unwrap_or_default(),
                )
                .finish(),
        }
    }
}

/// What one plugin's process is given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginSettings {
    pub name: String,
    /// The child's whole environment (it inherits nothing), in file order.
    pub env: Vec<(String, String)>,
}

/// A URL up to its host part and path, without `user:password@` or `?query`.
fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

// A built-in's settings come from YAML, which yields no NaN, so `==` on them is an equivalence.
impl Eq for Transport {}

/// How a group picks the member for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupStrategy {
    /// The first healthy member in `members` order; the next ones only when it fails.
    #[default]
    Failover,
    /// Members in turn.
    RoundRobin,
    /// The member with the fewest calls in flight.
    LeastInflight,
}

/// Whether downstream sessions share one upstream session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// One upstream session serves every client.
    #[default]
    Shared,
    /// One upstream session per downstream session.
    Isolated,
}

/// Which generation of the MCP protocol to speak to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Era {
    /// Negotiate: try the modern revisions, fall back to legacy.
    #[default]
    Auto,
    Modern,
    Legacy,
}

/// Settings for MCP 2026-07-28 clients: the sealed `requestState`, held calls and the cache
/// hint of lists the gateway builds itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModernConfig {
    /// Keys for sealing `requestState`. The first seals; every one opens, so a key can be
    /// rotated in by putting it first and out by dropping it later. Empty: the gateway seals with
    /// a random key of its own, and states do not survive a restart or reach another replica.
    pub state_keys: Vec<StateKey>,
    /// This gateway's name among replicas sharing `state_keys`: 1 to [`MAX_REPLICA_ID_LEN`]
    /// visible ASCII characters. `None` when not configured; the gateway then mints one per
    /// process (16 random hex characters).
    pub replica_id: Option<String>,
    /// Lifetime of a held call and of any sealed `requestState`.
    pub input_ttl: Duration,
    /// Rounds of `input_required` one call may take; at least 1.
    pub max_rounds: u32,
    /// Calls held for callers' retries at once; at least 1. One more is refused, not held.
    pub max_held: usize,
    /// Quiet time that ends a batch of an upstream's server-to-client requests.
    pub gather: Duration,
    /// `ttlMs` for lists built from handshake-era upstreams; may be zero.
    pub list_ttl: Duration,
    /// `cacheScope` for lists built from handshake-era upstreams.
    pub list_scope: CacheScope,
}

impl Default for ModernConfig {
    fn default() -> Self {
        ModernConfig {
            state_keys: Vec::new(),
            replica_id: None,
            input_ttl: DEFAULT_INPUT_TTL,
            max_rounds: DEFAULT_MAX_ROUNDS,
            max_held: DEFAULT_MAX_HELD,
            gather: DEFAULT_GATHER,
            list_ttl: DEFAULT_LIST_TTL,
            list_scope: CacheScope::default(),
        }
    }
}

/// A 32-byte secret that seals and opens `requestState`. Its `Debug` form never shows the
/// bytes, so a printed `Config` leaks no key.
#[derive(Clone, PartialEq, Eq)]
pub struct StateKey([u8; 32]);

impl StateKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        StateKey(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(<redacted>)")
    }
}

/// Who may cache a list result (`cacheScope` in MCP 2026-07-28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheScope {
    /// Any client may reuse it for anyone.
    Public,
    /// Only for the principal that fetched it.
    #[default]
    Private,
}

/// A virtual MCP server: a named selection of the catalog served at `/mcp/v/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductConfig {
    /// The key under `products:`.
    pub id: String,
    /// Display name; defaults to the id.
    pub name: String,
    pub status: ProductStatus,
    pub description: Option<String>,
    /// Globs over namespaced catalog names.
    pub tools: Vec<String>,
    pub prompts: Vec<String>,
    pub resources: Vec<String>,
    /// Per-tool changes to what the product's clients see, in file order: each names a catalog
    /// tool (its namespaced name) its `tools` globs select. No two tools of the product are
    /// exposed under one name (checked when it loads, and against the live catalog).
    pub overrides: Vec<ToolOverride>,
    /// Scopes every request at `/mcp/v/<id>` needs, on top of the method's own.
    pub scopes: Vec<String>,
    /// Whether `tools/call` here needs, accepts or ignores idempotency keys.
    pub idempotency: IdempotencyPolicy,
    /// How tools are offered: the full list, or the two search meta-tools.
    pub mode: ToolMode,
}

/// What one product changes about one catalog tool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolOverride {
    /// The catalog's (namespaced) name of the tool.
    pub tool: String,
    /// The name the product exposes it under; calls with it reach the tool, and the catalog
    /// name is not callable through the product.
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Members merged over the tool's own `annotations` (a member given here wins).
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ToolOverride {
    /// The name the product exposes the tool under.
    pub fn exposed(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.tool)
    }
}

/// A product's idempotency policy for `tools/call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdempotencyPolicy {
    /// A call to a tool not annotated `readOnlyHint: true` without a key is refused.
    Required,
    /// A key is honoured when given (as at `/mcp`).
    #[default]
    Optional,
    /// Keys are ignored: every call reaches the upstream.
    Off,
}

/// How an endpoint offers its tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolMode {
    /// `tools/list` lists every tool.
    #[default]
    List,
    /// `tools/list` lists only `search_tools` and `call_tool`, which find and call the tools.
    Search,
}

/// Whether a product is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductStatus {
    Published,
    #[default]
    Draft,
}

/// Which of an upstream's items (tools, prompts, or resources and templates) the gateway
/// serves: an item is served when it matches an `allow` glob (or `allow` is empty) and no `deny`
/// glob. Globs match the upstream's own names (resource URIs, template URIs), before namespacing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemFilter {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl ItemFilter {
    /// True when this filter lets every item through (the default).
    pub fn is_open(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// True when `name` is served.
    pub fn permits(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|g| crate::glob::glob_match(g, name)))
            && !self.deny.iter().any(|g| crate::glob::glob_match(g, name))
    }
}

/// Runs of consecutive failures that open an upstream's circuit breaker by default.
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
/// How long an open breaker fails calls fast before it lets probes through.
pub const DEFAULT_BREAKER_OPEN_FOR: Duration = Duration::from_secs(30);
/// Calls let through at once while half-open.
pub const DEFAULT_BREAKER_PROBES: u32 = 1;
/// Calls a failure-rate window counts before it judges.
pub const DEFAULT_BREAKER_WINDOW: u32 = 20;

/// When an upstream's circuit breaker opens and how it recovers. Failures are timeouts,
/// transport errors and HTTP 5xx (anything the connection reports as an upstream error); a
/// JSON-RPC error or a tool's `isError` result is the upstream answering, not failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    pub enabled: bool,
    /// Opens after this many failures in a row.
    pub consecutive_failures: u32,
    /// Opens when at least this percentage of a window's calls failed (`None`: not judged by
    /// rate).
    pub failure_rate_percent: Option<u8>,
    /// Calls per failure-rate window (windows are consecutive runs of this many calls).
    pub window: u32,
    /// How long it stays open before half-opening.
    pub open_for: Duration,
    /// Calls let through at once while half-open; one success closes it, one failure reopens.
    pub half_open_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            consecutive_failures: DEFAULT_BREAKER_FAILURES,
            failure_rate_percent: None,
            window: DEFAULT_BREAKER_WINDOW,
            open_for: DEFAULT_BREAKER_OPEN_FOR,
            half_open_calls: DEFAULT_BREAKER_PROBES,
        }
    }
}

/// The audit log (`docs/audit.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// The file sink; present unless only `stdout: true` was asked for.
    pub file: Option<AuditFileConfig>,
    /// Also write every record to stdout (not with `switchboard stdio`).
    pub stdout: bool,
    /// Write each call's arguments (after redaction), not only their hash.
    pub include_arguments: bool,
    /// Argument fields whose values are written as `"[redacted]"`, at any depth.
    pub redact: Vec<String>,
    pub on_full: OnFull,
    /// Records waiting for the writer at most; at least 1.
    pub queue: usize,
    /// Signed checkpoints, when configured.
    pub checkpoint: Option<CheckpointConfig>,
    /// Records also POSTed to a collector (a SIEM), when configured.
    pub webhook: Option<WebhookConfig>,
}

/// The audit webhook sink: batches of records POSTed as JSON lines, retried with backoff, kept
/// in a dead-letter file while the receiver is away and re-sent, in order, when it is back.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`; never logged or shown.
    pub token: Option<String>,
    /// Records per POST at most.
    pub batch: usize,
    /// Longest a record waits for its batch to fill.
    pub flush: Duration,
    /// Records held in memory; more go to the dead-letter file (nothing is dropped).
    pub queue: usize,
    /// Failed attempts at a batch before the records in memory move to the dead-letter file.
    pub retries: u32,
    /// How long one POST may take.
    pub timeout: Duration,
    /// Where undelivered records wait (absolute once loaded).
    pub dead_letter: PathBuf,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("batch", &self.batch)
            .field("flush", &self.flush)
            .field("queue", &self.queue)
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .field("dead_letter", &self.dead_letter)
            .finish()
    }
}

impl AuditConfig {
    /// Every setting at its default: the file sink at `path`.
    pub fn with_file(path: PathBuf) -> AuditConfig {
        AuditConfig {
            file: Some(AuditFileConfig::new(path)),
            stdout: false,
            include_arguments: false,
            redact: Vec::new(),
            on_full: OnFull::default(),
            queue: DEFAULT_AUDIT_QUEUE,
            checkpoint: None,
            webhook: None,
        }
    }
}

/// Calls a full concurrency limit lets wait by default, per limit.
pub const DEFAULT_MAX_QUEUE: usize = 256;
/// Longest a call waits for a concurrency slot by default.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);

/// Gateway-wide limits on calls to upstreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Client calls in flight to all upstreams at once (`None`: unlimited).
    pub max_inflight: Option<usize>,
    /// Calls that may wait for a slot of a full limit (global or per upstream); one more is
    /// refused at once.
    pub max_queue: usize,
    /// Longest a call waits for a slot before it is refused.
    pub max_wait: Duration,
    /// Requests one principal may make (every method but `ping` and notifications).
    pub rate_per_principal: Option<Rate>,
    /// `tools/call`s one principal may make of one tool.
    pub rate_per_tool: Option<Rate>,
}

/// `count` requests per `per`, with a burst of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_inflight: None,
            max_queue: DEFAULT_MAX_QUEUE,
            max_wait: DEFAULT_MAX_WAIT,
            rate_per_principal: None,
            rate_per_tool: None,
        }
    }
}

/// Interval between an upstream's health checks by default.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(15);
/// Missed health checks in a row that fail an upstream by default.
pub const DEFAULT_HEALTH_FAILURES: u32 = 2;

/// How the supervisor checks a connected upstream: `ping` for a handshake-era one,
/// `server/discover` for a 2026-07-28 one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    pub interval: Duration,
    /// How long one check waits for its answer.
    pub timeout: Duration,
    /// Checks missed in a row before the connection is closed and restarted; one miss makes
    /// the upstream `degraded`.
    pub failures: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_INTERVAL,
            failures: DEFAULT_HEALTH_FAILURES,
        }
    }
}

/// How long a `tools/call` result stored under an idempotency key is replayed by default.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Results stored under idempotency keys at most, by default.
pub const DEFAULT_IDEMPOTENCY_MAX_ENTRIES: usize = 100_000;
/// Bytes of stored results kept by default: 64 MiB.
pub const DEFAULT_IDEMPOTENCY_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Results of `tools/call`s made with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// How long a stored result is replayed.
    pub ttl: Duration,
    /// Stored results kept at most; the oldest go first.
    pub max_entries: usize,
    /// Bytes of stored results (and their keys) kept at most; the oldest go first.
    pub max_bytes: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            ttl: DEFAULT_IDEMPOTENCY_TTL,
            max_entries: DEFAULT_IDEMPOTENCY_MAX_ENTRIES,
            max_bytes: DEFAULT_IDEMPOTENCY_MAX_BYTES,
        }
    }
}

/// Who may call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthConfig {
    pub anonymous: Anonymous,
    /// Keys written in the config file itself.
    pub api_keys: Vec<ApiKey>,
    /// `auth.keys_file`: more keys, in a file of their own that is re-read when it changes.
    pub keys_file: Option<PathBuf>,
    /// The keys `keys_file` held when the config was loaded.
    pub file_keys: Vec<ApiKey>,
    /// `auth.jwt`: bearer tokens from an identity provider.
    pub jwt: Option<JwtConfig>,
    /// `auth.roles`, in file order.
    pub roles: Vec<Role>,
}

/// A role (`auth.roles.<name>`): scopes it grants, which namespaced items its holders may see
/// and call, and its own rate limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Role {
    pub name: String,
    pub scopes: Vec<String>,
    /// Globs over exposed (namespaced) tool and prompt names and resource URIs; empty allows
    /// everything.
    pub allow: Vec<String>,
    /// Globs over the same names; a match hides the item even if `allow` matches.
    pub deny: Vec<String>,
    /// Overrides `limits.rate.per_principal` for its holders.
    pub rate_per_principal: Option<Rate>,
    /// Overrides `limits.rate.per_tool` for its holders.
    pub rate_per_tool: Option<Rate>,
}

impl Role {
    /// Whether it narrows what its holders see (`allow` or `deny` given).
    pub fn has_globs(&self) -> bool {
        !self.allow.is_empty() || !self.deny.is_empty()
    }

    /// Whether it admits the exposed name `name`.
    pub fn admits(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|g| crate::glob_match(g, name)))
            && !self.deny.iter().any(|g| crate::glob_match(g, name))
    }
}

/// How long a JWKS is trusted before it is fetched again (in the background of a request).
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(10 * 60);
/// The least time between two JWKS fetches caused by tokens naming an unknown key (`kid`): a
/// flood of made-up key ids costs the identity provider one request per interval at most.
pub const DEFAULT_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Default allowed clock difference for `exp` and `nbf`.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// How long a verified token is remembered (never past its `exp`).
pub const DEFAULT_TOKEN_CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// Verified tokens remembered at most.
pub const DEFAULT_TOKEN_CACHE_SIZE: usize = 10_000;

/// `auth.jwt`: who issues the tokens, for whom, and where their keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The `iss` every token must carry, exactly.
    pub issuer: String,
    /// Accepted `aud` values (one must match); defaults to `<http.public_url>/mcp` (RFC 8707)
    /// and `<http.public_url>`.
    pub audiences: Vec<String>,
    /// Accepted signature algorithms: asymmetric only.
    pub algorithms: Vec<JwtAlgorithm>,
    pub clock_skew: Duration,
    pub keys: JwtKeys,
    /// The claim that carries scopes; `None`: `scope` (space separated) or else `scp`.
    pub scopes_claim: Option<String>,
    /// The claim that carries role names (a list or a space-separated string).
    pub roles_claim: String,
    pub jwks_ttl: Duration,
    pub jwks_refetch_interval: Duration,
    pub cache_ttl: Duration,
    pub cache_size: usize,
}

/// Where token signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtKeys {
    /// A JWKS document at this URL.
    JwksUrl(String),
    /// The `jwks_uri` of the issuer's metadata: OpenID Connect discovery
    /// (`<issuer>/.well-known/openid-configuration`), else RFC 8414
    /// (`/.well-known/oauth-authorization-server` on the issuer).
    Discovery,
    /// One public key in a PEM file (SPKI, `-----BEGIN PUBLIC KEY-----`), read at load.
    Pem { path: PathBuf, text: String },
}

/// A JWS signature algorithm switchboard verifies. There is no `none` and no `HS*`: a shared
/// secret would let anyone who can verify also sign, and accepting HS with a public key is the
/// classic algorithm-confusion forgery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl JwtAlgorithm {
    pub const ALL: [JwtAlgorithm; 9] = [
        JwtAlgorithm::Rs256,
        JwtAlgorithm::Rs384,
        JwtAlgorithm::Rs512,
        JwtAlgorithm::Ps256,
        JwtAlgorithm::Ps384,
        JwtAlgorithm::Ps512,
        JwtAlgorithm::Es256,
        JwtAlgorithm::Es384,
        JwtAlgorithm::EdDsa,
    ];

    /// Its `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Rs384 => "RS384",
            JwtAlgorithm::Rs512 => "RS512",
            JwtAlgorithm::Ps256 => "PS256",
            JwtAlgorithm::Ps384 => "PS384",
            JwtAlgorithm::Ps512 => "PS512",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::Es384 => "ES384",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn from_name(name: &str) -> Option<JwtAlgorithm> {
        JwtAlgorithm::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Whether callers without credentials are served (as `anonymous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Anonymous {
    /// Served when the listener is on loopback (the quick start); refused at start otherwise.
    #[default]
    Loopback,
    /// Never.
    Off,
    /// Even on a public listener (a warning at every start).
    Forced,
}

/// An API key, as stored: its hash, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub name: String,
    /// `sha256:<salt hex>:<hash hex>`.
    pub hash: String,
    pub scopes: Vec<String>,
    /// Role names (`auth.roles`) whose scopes it also has.
    pub roles: Vec<String>,
    /// Unix seconds after which it is refused.
    pub expires_unix: Option<u64>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("hash", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("roles", &self.roles)
            .field("expires_unix", &self.expires_unix)
            .finish()
    }
}

/// The audit file sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFileConfig {
    /// The live file; rotated files are `<path>.1`, `<path>.2`, … (absolute once loaded).
    pub path: PathBuf,
    /// The live file is rotated before a record would take it past this many bytes.
    pub rotate_bytes: u64,
    pub fsync: Fsync,
}

impl AuditFileConfig {
    pub fn new(path: PathBuf) -> AuditFileConfig {
        AuditFileConfig {
            path,
            rotate_bytes: DEFAULT_AUDIT_ROTATE_BYTES,
            fsync: Fsync::Every(DEFAULT_AUDIT_FSYNC),
        }
    }
}

/// When the audit file is synced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every write (each batch of records the writer takes from its queue).
    Always,
    /// Never explicitly: the operating system decides.
    Never,
    /// At most this long after a write.
    Every(Duration),
}

/// What a request does when the audit queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFull {
    /// Wait for room: no record is lost; requests slow down to the writer's pace.
    #[default]
    Block,
    /// Drop the record and count it; the count is written as a `dropped` record.
    DropAndCount,
    /// Refuse new audited calls while the queue is full; records of calls already made wait.
    RefuseCalls,
}

/// Periodic Ed25519-signed checkpoints of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// The file holding the signing key: the 32-byte Ed25519 seed as 64 hex digits (what
    /// `switchboard audit keygen` writes). Absolute once loaded.
    pub key: PathBuf,
    pub every: Duration,
}
