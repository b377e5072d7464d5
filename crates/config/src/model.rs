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
/// SSE events kept per session so a client can resume with `Last-Event-ID`.
pub const DEFAULT_EVENT_BUFFER: usize = 256;
/// Interval between SSE keep-alive comments.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);
/// Default time an upstream gets to answer one request.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
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
/// The audit file is rotated before it grows past this: 100 MiB.
pub const DEFAULT_AUDIT_ROTATE_BYTES: u64 = 100 * 1024 * 1024;
/// Audit writes are synced to disk at most this long after they are made.
pub const DEFAULT_AUDIT_FSYNC: Duration = Duration::from_millis(100);
/// Audit records waiting for the writer at most.
pub const DEFAULT_AUDIT_QUEUE: usize = 8192;
/// Interval between signed audit checkpoints.
pub const DEFAULT_AUDIT_CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// The whole gateway configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address the HTTP gateway binds, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Joins prefix and name in the catalog; 1–4 characters out of `_`, `-`, `.`.
    pub namespace_separator: String,
    pub http: HttpConfig,
    /// Permits upstream URLs that resolve to private addresses (accepted here, enforced later).
    pub allow_private_upstreams: bool,
    pub sessions: SessionsConfig,
    /// Roots answered to an upstream's `roots/list` when no client session can be named.
    pub roots: Vec<Root>,
    /// In config file order, then `SWITCHBOARD_UPSTREAMS` order; earlier wins name collisions.
    pub upstreams: Vec<UpstreamConfig>,
    /// In config file order.
    pub products: Vec<ProductConfig>,
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
    /// Tracing export; `None` (off) unless `telemetry.otlp` or an `OTEL_EXPORTER_OTLP_*ENDPOINT`
    /// asks for it (`crate::telemetry`).
    pub telemetry: Option<crate::telemetry::TelemetryConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.to_owned(),
            namespace_separator: DEFAULT_NAMESPACE_SEPARATOR.to_owned(),
            http: HttpConfig::default(),
            allow_private_upstreams: false,
            sessions: SessionsConfig::default(),
            roots: Vec::new(),
            upstreams: Vec::new(),
            products: Vec::new(),
            modern: ModernConfig::default(),
            limits: LimitsConfig::default(),
            idempotency: IdempotencyConfig::default(),
            auth: AuthConfig::default(),
            metrics_enabled: true,
            audit: None,
            telemetry: None,
        }
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
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
        }
    }
}

/// Limits on downstream (client-facing) MCP sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionsConfig {
    pub idle_ttl: Duration,
    pub max_sessions: usize,
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
        }
    }
}

/// How an upstream is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Added to the child's environment, in file order.
        env: Vec<(String, String)>,
        /// Absolute once loaded (relative paths resolve against the config file's directory).
        cwd: Option<PathBuf>,
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
    /// No transport of its own: calls go to one of `members` (other upstreams serving the same
    /// tools), chosen by `strategy`. Members are served only through their group.
    Group {
        members: Vec<String>,
        strategy: GroupStrategy,
    },
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Results of `tools/call`s made with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// How long a stored result is replayed.
    pub ttl: Duration,
    /// Stored results kept at most; the oldest go first.
    pub max_entries: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            ttl: DEFAULT_IDEMPOTENCY_TTL,
            max_entries: DEFAULT_IDEMPOTENCY_MAX_ENTRIES,
        }
    }
}

/// Who may call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthConfig {
    pub anonymous: Anonymous,
    pub api_keys: Vec<ApiKey>,
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
    /// Unix seconds after which it is refused.
    pub expires_unix: Option<u64>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("hash", &"<redacted>")
            .field("scopes", &self.scopes)
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
