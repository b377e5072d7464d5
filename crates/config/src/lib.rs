//! Loads and validates switchboard's YAML config file into a [`Config`].
//!
//! Pure: no network, no processes, and the environment only through the injected `env`
//! lookup. Errors point at `FILE:LINE:COL` so a person can fix the file without guessing.
//!
//! Code map: `model` is the result; `document` is the file's shape as written (located,
//! unexpanded scalars); `resolve` expands (`expand`), parses (`duration`, `size`) and checks
//! (`validate`) every value; `federation` adds `SWITCHBOARD_UPSTREAMS`; `listen` holds the
//! listen-address overrides; `outbound` SSRF strict mode, proxies, outbound TLS and upstream
//! credentials; `load` runs the pipeline; `error` is the one error type.

mod auth;
mod document;
mod duration;
mod error;
mod expand;
mod federation;
mod glob;
mod idempotency;
mod limits;
mod listen;
mod load;
mod model;
mod ordered_map;
mod outbound;
mod overlay;
mod plugins;
mod policy;
mod product;
mod resolve;
mod size;
mod telemetry;
mod transports;
mod validate;

pub use auth::{load_keys_file, parse_time};
pub use error::ConfigError;
pub use federation::{TOKEN_ENV_PREFIX, UPSTREAMS_ENV, token_env_name};
pub use glob::glob_match;
pub use listen::LISTEN_ENV;
pub use load::{load, load_with, parse, parse_with};
pub use model::{
    Anonymous, ApiKey, AuditConfig, AuditFileConfig, AuthConfig, BreakerConfig, CacheScope,
    CheckpointConfig, ClientCredentials, Config, Credentials, DEFAULT_AUDIT_CHECKPOINT_EVERY,
    DEFAULT_AUDIT_FSYNC, DEFAULT_AUDIT_PATH, DEFAULT_AUDIT_QUEUE, DEFAULT_AUDIT_ROTATE_BYTES,
    DEFAULT_BREAKER_FAILURES, DEFAULT_BREAKER_OPEN_FOR, DEFAULT_CLOCK_SKEW,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_BUFFER, DEFAULT_GATHER, DEFAULT_IDEMPOTENCY_MAX_BYTES,
    DEFAULT_IDEMPOTENCY_MAX_ENTRIES, DEFAULT_IDEMPOTENCY_TTL, DEFAULT_IDLE_TTL, DEFAULT_INPUT_TTL,
    DEFAULT_KEEPALIVE, DEFAULT_LIST_TTL, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HELD,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_QUEUE, DEFAULT_MAX_ROUNDS, DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_WAIT, DEFAULT_NAMESPACE_SEPARATOR, DEFAULT_PROBE_TIMEOUT, DEFAULT_STATE_DIR,
    DEFAULT_UPSTREAM_TIMEOUT, Era, FileIntegrity, Fsync, GroupStrategy, HealthConfig, HttpConfig,
    IdempotencyConfig, IdempotencyPolicy, IpNet, ItemFilter, JwtAlgorithm, JwtConfig, JwtKeys,
    LimitsConfig, MAX_REPLICA_ID_LEN, ModernConfig, OnFull, Outbound, OutboundTls, PluginSettings,
    PluginsConfig, ProductConfig, ProductStatus, ProxySetting, Rate, Role, Root, Secret,
    SessionMode, SessionsConfig, StartMode, StateKey, TokenExchange, ToolMode, ToolOverride,
    Transport, UpstreamConfig, WebhookConfig,
};
pub use outbound::ALLOW_PRIVATE_ENV;
pub use overlay::{FieldError, Kind, Overlay, Written, apply as apply_overlay, remote_url};
pub use plugins::PLUGINS_DISABLED_ENV;
pub use policy::MAX_VISIBILITY_SCOPES;
pub use product::{ProductDoc, parse_product_json};
pub use resolve::BuiltinCheck;
pub use telemetry::{
    DEFAULT_OTLP_TIMEOUT, DEFAULT_SERVICE_NAME, OtlpConfig, OtlpProtocol, Sampling, TelemetryConfig,
};
pub use transports::{
    DEFAULT_LEGACY_SUNSET, DEFAULT_WS_PING_INTERVAL, DEFAULT_WS_PONG_TIMEOUT, Date,
    LegacyRestConfig, WebSocketConfig,
};
