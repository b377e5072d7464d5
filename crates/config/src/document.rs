//! The config file's shape exactly as written: every scalar a located, unexpanded string.
//!
//! serde-saphyr checks the structure here — unknown keys (`deny_unknown_fields`), missing
//! required keys, a list where a mapping belongs, duplicate mapping keys — and reports each with
//! its line and column. Every leaf is a [`Scalar`] (`Spanned<String>`): its original text plus
//! where it sits, whatever YAML type it looks like. That is what lets `resolve` expand `${VAR}`
//! *after* parsing (a variable's value can never add YAML structure), then parse numbers,
//! booleans, durations and enum words from the expanded text (`timeout: ${T:-30s}` works), and
//! point any error at the scalar that caused it.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::ordered_map::OrderedMap;

/// One scalar's source text and location.
pub(crate) type Scalar = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    pub listen: Option<Scalar>,
    pub namespace_separator: Option<Scalar>,
    pub http: Option<HttpDoc>,
    pub allow_private_upstreams: Option<Scalar>,
    pub outbound: Option<crate::outbound::OutboundDoc>,
    pub sessions: Option<SessionsDoc>,
    #[serde(default)]
    pub roots: Vec<RootDoc>,
    pub upstreams: Option<OrderedMap<Scalar, UpstreamDoc>>,
    pub products: Option<OrderedMap<Scalar, crate::product::ProductDoc>>,
    pub mode: Option<Scalar>,
    pub modern: Option<ModernDoc>,
    pub limits: Option<crate::limits::LimitsDoc>,
    pub idempotency: Option<crate::idempotency::IdempotencyDoc>,
    pub auth: Option<crate::auth::AuthDoc>,
    pub metrics: Option<MetricsDoc>,
    pub audit: Option<AuditDoc>,
    pub plugins: Option<crate::plugins::PluginsDoc>,
    pub telemetry: Option<crate::telemetry::TelemetryDoc>,
    pub state_dir: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsDoc {
    pub enabled: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditDoc {
    pub file: Option<AuditFileDoc>,
    pub stdout: Option<Scalar>,
    pub include_arguments: Option<Scalar>,
    #[serde(default)]
    pub redact: Vec<Scalar>,
    pub on_full: Option<Scalar>,
    pub queue: Option<Scalar>,
    pub checkpoint: Option<CheckpointDoc>,
    pub webhook: Option<WebhookDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookDoc {
    pub url: Scalar,
    pub token: Option<Scalar>,
    pub batch: Option<Scalar>,
    pub flush: Option<Scalar>,
    pub queue: Option<Scalar>,
    pub retries: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub dead_letter: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditFileDoc {
    pub path: Option<Scalar>,
    pub rotate_bytes: Option<Scalar>,
    pub fsync: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointDoc {
    pub key: Scalar,
    pub every: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModernDoc {
    #[serde(default)]
    pub state_keys: Vec<Scalar>,
    pub replica_id: Option<Scalar>,
    pub input_ttl: Option<Scalar>,
    pub max_rounds: Option<Scalar>,
    pub max_held: Option<Scalar>,
    pub gather: Option<Scalar>,
    pub list_ttl: Option<Scalar>,
    pub list_scope: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpDoc {
    #[serde(default)]
    pub allowed_hosts: Vec<Scalar>,
    #[serde(default)]
    pub allowed_origins: Vec<Scalar>,
    pub max_body_bytes: Option<Scalar>,
    pub max_header_bytes: Option<Scalar>,
    pub header_read_timeout: Option<Scalar>,
    pub body_read_timeout: Option<Scalar>,
    pub public_url: Option<Scalar>,
    pub websocket: Option<crate::transports::WebSocketDoc>,
    pub legacy_rest: Option<crate::transports::LegacyRestDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionsDoc {
    pub idle_ttl: Option<Scalar>,
    pub max_sessions: Option<Scalar>,
    pub max_per_principal: Option<Scalar>,
    pub event_buffer: Option<Scalar>,
    pub keepalive: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RootDoc {
    pub uri: Scalar,
    pub name: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpstreamDoc {
    pub stdio: Option<StdioDoc>,
    pub http: Option<RemoteDoc>,
    pub sse: Option<RemoteDoc>,
    /// Built-in connectors: each block is kept as written (its strings expanded later) and read
    /// by the connector itself, which refuses fields it does not know.
    #[serde(default, deserialize_with = "present")]
    pub prometheus: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub loki: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub kubernetes: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub management: Option<serde_json::Value>,
    pub prefix: Option<Scalar>,
    pub session: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub max_message_bytes: Option<Scalar>,
    pub era: Option<Scalar>,
    pub probe_timeout: Option<Scalar>,
    pub tools: Option<crate::limits::FilterDoc>,
    pub prompts: Option<crate::limits::FilterDoc>,
    pub resources: Option<crate::limits::FilterDoc>,
    pub tool_timeouts: Option<OrderedMap<Scalar, Scalar>>,
    pub max_concurrency: Option<Scalar>,
    pub breaker: Option<crate::limits::BreakerDoc>,
    pub max_result_bytes: Option<Scalar>,
    pub health: Option<crate::limits::HealthDoc>,
    pub max_sessions: Option<Scalar>,
    pub start: Option<Scalar>,
    pub idle_timeout: Option<Scalar>,
    pub max_timeout: Option<Scalar>,
    pub required: Option<Scalar>,
    pub group: Option<crate::limits::GroupDoc>,
    #[serde(default)]
    pub scopes: Vec<Scalar>,
    pub tool_scopes: Option<crate::policy::ToolScopesDoc>,
    pub outbound: Option<crate::outbound::OutboundDoc>,
    pub credentials: Option<crate::outbound::CredentialsDoc>,
    pub connect_timeout: Option<Scalar>,
    pub read_timeout: Option<Scalar>,
}

/// A key that is present, even with nothing after it (`management:` is `management: {}`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(Some(if v.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        v
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StdioDoc {
    pub command: Scalar,
    #[serde(default)]
    pub args: Vec<Scalar>,
    pub env: Option<OrderedMap<Scalar, Scalar>>,
    pub cwd: Option<Scalar>,
}

/// The body of both `http:` and `sse:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoteDoc {
    pub url: Scalar,
    pub headers: Option<OrderedMap<Scalar, Scalar>>,
}
