//! Loads and validates switchboard's YAML config file into a [`Config`].
//!
//! Pure: no network, no processes, and the environment only through the injected `env`
//! lookup. Errors point at `FILE:LINE:COL` so a person can fix the file without guessing.
//!
//! Code map: `model` is the result; `document` is the file's shape as written (located,
//! unexpanded scalars); `resolve` expands (`expand`), parses (`duration`, `size`) and checks
//! (`validate`) every value; `federation` adds `SWITCHBOARD_UPSTREAMS`; `listen` holds the
//! listen-address overrides; `load` runs the pipeline; `error` is the one error type.

mod document;
mod duration;
mod error;
mod expand;
mod federation;
mod listen;
mod load;
mod model;
mod ordered_map;
mod resolve;
mod size;
mod validate;

pub use error::ConfigError;
pub use federation::{TOKEN_ENV_PREFIX, UPSTREAMS_ENV, token_env_name};
pub use listen::LISTEN_ENV;
pub use load::{load, parse};
pub use model::{
    AuditConfig, AuditFileConfig, CacheScope, CheckpointConfig, Config,
    DEFAULT_AUDIT_CHECKPOINT_EVERY, DEFAULT_AUDIT_FSYNC, DEFAULT_AUDIT_PATH, DEFAULT_AUDIT_QUEUE,
    DEFAULT_AUDIT_ROTATE_BYTES, DEFAULT_EVENT_BUFFER, DEFAULT_GATHER, DEFAULT_IDLE_TTL,
    DEFAULT_INPUT_TTL, DEFAULT_KEEPALIVE, DEFAULT_LIST_TTL, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HELD, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_ROUNDS, DEFAULT_MAX_SESSIONS,
    DEFAULT_NAMESPACE_SEPARATOR, DEFAULT_PROBE_TIMEOUT, DEFAULT_UPSTREAM_TIMEOUT, Era, Fsync,
    HttpConfig, MAX_REPLICA_ID_LEN, ModernConfig, OnFull, ProductConfig, ProductStatus, Root,
    SessionMode, SessionsConfig, StateKey, Transport, UpstreamConfig,
};
