//! What one audited call leaves behind on the request path: an [`Event`].
//!
//! The gateway builds an `Event` from what it already holds — reference-counted names, the
//! request's raw `params` and the answer's bytes (both `Bytes`, so cloning them copies
//! nothing), two clock readings — and hands it to [`crate::Audit::record`]. Everything that costs
//! (reading names and arguments out of the params, classifying the answer, hashing,
//! serialising) happens later, in the writer thread (`record.rs`).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// Whether the gateway let the request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every stage let it through (the call itself may still have failed: see `outcome`).
    Allow,
    /// A stage refused it (admission, authentication, authorization, rate limit,
    /// idempotency, limits); `reason` says why.
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }
}

/// One audited request, as the request path hands it over.
#[derive(Debug, Clone)]
pub struct Event {
    /// When the request was taken.
    pub time: SystemTime,
    /// How long it took, admission to answer.
    pub duration: Duration,
    pub request_id: Arc<str>,
    pub principal: Arc<str>,
    /// The JSON-RPC method (`tools/call`, `resources/read`, `prompts/get`, or a refused one).
    pub method: Cow<'static, str>,
    /// The upstream the request was routed to, when it got that far.
    pub upstream: Option<Arc<str>>,
    /// The product the request came to (`/mcp/v/<id>`); `None` for `/mcp`.
    pub product: Option<Arc<str>>,
    /// The request's raw `params` object (names, URI and arguments are read from it later).
    pub params: Option<Bytes>,
    /// The complete JSON-RPC answer sent; `None` when the client cancelled and got none.
    pub answer: Option<Bytes>,
    pub verdict: Verdict,
    pub http_status: Option<u16>,
    pub client: Option<SocketAddr>,
    /// The W3C trace id of the request's `traceparent`, when it had a valid one.
    pub trace_id: Option<[u8; 16]>,
    /// The answer is a stored result replayed for an idempotency key: the upstream was not
    /// called (outcome `replayed`).
    pub replayed: bool,
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`); `None` when it is
/// malformed or all zeros (which the spec calls invalid).
pub fn trace_id(traceparent: &str) -> Option<[u8; 16]> {
    let b = traceparent.as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' {
        return None;
    }
    let id = crate::canonical::unhex::<16>(traceparent.get(3..35)?)?;
    (id != [0; 16]).then_some(id)
}

/// The method's name without an allocation when it is one of MCP's own (refusals of any
/// method are audited, so an unknown one is copied).
pub fn method_name(method: &str) -> Cow<'static, str> {
    const KNOWN: &[&str] = &[
        "tools/call",
        "resources/read",
        "prompts/get",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/subscribe",
        "resources/unsubscribe",
        "completion/complete",
        "logging/setLevel",
        "ping",
        "initialize",
        "server/discover",
        "tasks/get",
        "tasks/list",
        "tasks/cancel",
        "tasks/result",
    ];
    match KNOWN.iter().find(|k| **k == method) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(method.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_come_from_valid_traceparents_only() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(tp).map(|t| crate::canonical::hex(&t)).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id("garbage"), None);
    }

    #[test]
    fn known_methods_are_borrowed() {
        assert!(matches!(method_name("tools/call"), Cow::Borrowed(_)));
        assert!(matches!(method_name("x/y"), Cow::Owned(_)));
    }
}

/// A change an operator made to the running gateway: a config reload, a plugin installed at
/// run time. Written as a `kind: admin` record.
#[derive(Debug, Clone)]
pub struct AdminEvent {
    pub time: SystemTime,
    /// `config_reload`, `plugin_install`.
    pub action: &'static str,
    /// Who made it: an API key's or token's principal, or `operator` for a change made on the
    /// machine (the config file edited, `SIGHUP`).
    pub principal: Arc<str>,
    /// `ok` or `error`.
    pub outcome: &'static str,
    /// What changed (`added: a; changed: b`, `weather 1.2.0`), never a secret.
    pub detail: Option<String>,
    /// Why it failed, for `outcome: error`.
    pub reason: Option<String>,
}
