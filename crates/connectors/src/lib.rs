//! Built-in connectors: MCP servers that run inside the gateway.
//!
//! A connector is a set of tools and a way to call them, nothing more. It has no process and no
//! socket; the upstream layer carries it as one more transport, so everything the gateway does for
//! an upstream (names, filters, policy, limits, metrics, audit) applies to it unchanged. Each
//! connector is one module that owns its settings (the YAML block under its kind, parsed here with
//! unknown fields refused), its tools and its tests.

pub mod kubernetes;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

/// An in-process MCP server's tools.
///
/// Tool failures the caller should see (a bad PromQL query, a 404 from the API) are `Ok` results
/// with `isError: true` and the backend's message; `Err` is only for requests that never reach the
/// backend: an unknown tool or arguments that do not fit the tool's input schema.
pub trait Connector: Send + Sync + 'static {
    /// The tools it offers, as MCP `Tool` objects (`name`, `description`, `inputSchema`, and where
    /// they help `title`, `outputSchema` and `annotations`). Called once per (re)start.
    fn tools(&self) -> Vec<Value>;

    /// Calls tool `name` with `arguments`, answering an MCP `CallToolResult` object.
    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, CallError>>;
}

/// Why a tool call never reached the backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Answered as JSON-RPC -32602 with this message, like an unknown tool on any MCP server.
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    /// Answered as JSON-RPC -32602 with this message.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
}

mod args;
pub mod http;
mod listing;
pub mod loki;
pub mod management;
pub mod prometheus;
pub mod server;
pub mod settings;
pub mod time;

use std::sync::Arc;

pub use management::Operations;
pub use server::McpServer;

/// Every kind of built-in connector, as its key under an upstream in the config.
pub const KINDS: &[&str] = &["prometheus", "loki", "kubernetes", "management"];

/// What building a connector may need beyond its settings.
#[derive(Clone, Default)]
pub struct Context {
    /// The upstream's configured name (for messages, and so `management` knows itself).
    pub upstream: String,
    /// The gateway's own operations, for `management`.
    pub operations: Option<Arc<dyn Operations>>,
    /// The outbound rules (SSRF strict mode, proxy) for connectors that call out over HTTP;
    /// `None` outside the gateway.
    pub egress: Option<switchboard_upstream::egress::EgressPolicy>,
}

/// Checks `settings` for connector `kind` without building anything: what the config loader
/// runs, so `switchboard check` and a reload refuse what `serve` would. The error names the field.
pub fn check(kind: &str, settings: &serde_json::Value) -> Result<(), String> {
    match kind {
        "prometheus" => prometheus::Settings::parse(settings).map(drop),
        "loki" => loki::Settings::parse(settings).map(drop),
        "management" => management::Settings::parse(settings).map(drop),
        // Fields only: a kubeconfig that cannot be read fails the upstream, not the config.
        "kubernetes" => kubernetes::Kubernetes::check_settings(settings),
        other => Err(format!("no built-in connector `{other}`")),
    }
}

/// Builds connector `kind` from its settings.
pub fn build(
    kind: &str,
    settings: &serde_json::Value,
    cx: &Context,
) -> Result<Arc<dyn Connector>, String> {
    Ok(match kind {
        "prometheus" => Arc::new(prometheus::Prometheus::new(
            prometheus::Settings::parse(settings)?,
            cx.egress.as_ref(),
        )?),
        "loki" => Arc::new(loki::Loki::new(
            loki::Settings::parse(settings)?,
            cx.egress.as_ref(),
        )?),
        "management" => {
            management::Settings::parse(settings)?;
            let ops = cx
                .operations
                .clone()
                .ok_or("the management connector runs only inside the gateway")?;
            Arc::new(management::Management::new(ops, cx.upstream.clone()))
        }
        "kubernetes" => Arc::new(kubernetes::Kubernetes::with_egress(
            settings,
            cx.egress.as_ref(),
        )?),
        other => return Err(format!("no built-in connector `{other}`")),
    })
}

/// The in-process MCP server for connector `kind`: what the upstream layer runs. A connector that
/// cannot be built becomes a server that refuses `initialize` with the reason, so the upstream
/// shows as failed with it (in logs and `/status`) and every other upstream is unaffected.
pub fn server(
    kind: &str,
    settings: &serde_json::Value,
    cx: &Context,
) -> Arc<dyn switchboard_upstream::InProcessServer> {
    Arc::new(McpServer::new(kind, build(kind, settings, cx)))
}

/// A tool result: `text` for people and models, `structured` for programs (the tool's
/// `outputSchema` describes it).
pub fn result(text: String, structured: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": structured,
        "isError": false,
    })
}

/// A tool failure the caller should see (the backend's own message).
pub fn failure(text: impl Into<String>) -> serde_json::Value {
    serde_json::json!({
        "content": [{"type": "text", "text": text.into()}],
        "isError": true,
    })
}
