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
