//! What a transport knows about one request, handed to the pipeline.
//!
//! Every transport (HTTP `/mcp`, 2026-07-28 POSTs, `switchboard stdio`; later WebSocket and the
//! legacy REST routes) builds a [`Request`] and calls [`Gateway::request`](crate::Gateway): the
//! session (a real one, or a 2026-07-28 one-request caller), the principal it is served for, the
//! view it is served from, its request id, the cross-cutting inputs the transport read (an
//! idempotency key, a deadline, a trace context, the client's address), and where its related
//! messages go. Everything
//! here is borrowed: building one allocates nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use switchboard_protocol::RpcError;

use crate::Related;
use crate::error;
use crate::principal::Principal;
use crate::sessions::Session;
use crate::view::ViewKey;

/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// One request, as its transport hands it to the gateway.
pub struct Request<'a> {
    pub session: &'a Arc<Session>,
    pub principal: &'a Principal,
    /// Which view of the catalog the request is served from (the endpoint it came to).
    pub view: ViewKey,
    pub request_id: &'a Arc<str>,
    /// The `Idempotency-Key` header, as sent (checked by the pipeline; `_meta` may carry one too).
    pub idempotency_key: Option<&'a str>,
    /// When the caller stops waiting, if it said.
    pub deadline: Option<Instant>,
    /// W3C trace context the caller sent, if any.
    pub trace: Option<TraceContext<'a>>,
    /// The client's address, when the transport has one (HTTP); for the audit record.
    pub client: Option<SocketAddr>,
    pub related: &'a Related,
    /// The caller's bearer access token (never an API key), kept only when some upstream
    /// exchanges or forwards it ([`crate::Gateway::forwards_caller_tokens`]); what of it
    /// reaches an upstream is decided in one place, `crate::call::send`.
    pub caller_token: Option<&'a str>,
}

/// W3C trace context (`traceparent`, `tracestate`), as received.
#[derive(Debug, Clone, Copy)]
pub struct TraceContext<'a> {
    pub traceparent: &'a str,
    pub tracestate: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request of `session` (served for the session's own principal, from the whole
    /// catalog's view for its era) with nothing else said.
    pub fn new(
        session: &'a Arc<Session>,
        request_id: &'a Arc<str>,
        related: &'a Related,
    ) -> Request<'a> {
        Request {
            session,
            principal: &session.record.principal,
            view: session.record.view,
            request_id,
            idempotency_key: None,
            deadline: None,
            trace: None,
            client: None,
            related,
            caller_token: None,
        }
    }

    pub fn with_idempotency_key(mut self, key: Option<&'a str>) -> Request<'a> {
        self.idempotency_key = key;
        self
    }

    /// Served for `principal` (the same caller as the session's, by id — `Gateway::session`
    /// checked that — with the scopes its credential carries now: a refreshed token or an
    /// edited keys file takes effect on the next request, not the next session).
    pub fn with_principal(mut self, principal: &'a Principal) -> Request<'a> {
        self.principal = principal;
        self
    }

    pub fn with_trace(mut self, trace: Option<TraceContext<'a>>) -> Request<'a> {
        self.trace = trace;
        self
    }

    /// With the caller's access token (see [`Request::caller_token`]).
    pub fn with_caller_token(mut self, token: Option<&'a str>) -> Request<'a> {
        self.caller_token = token;
        self
    }

    pub fn with_client(mut self, client: Option<SocketAddr>) -> Request<'a> {
        self.client = client;
        self
    }
}

/// Checks an idempotency key: 1–255 printable ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<&str, RpcError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY
        && key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if ok {
        Ok(key)
    } else {
        Err(error::invalid_params(format!(
            "an idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_printable_ascii_up_to_255() {
        assert!(check_idempotency_key("order-42").is_ok());
        assert!(check_idempotency_key(&"k".repeat(255)).is_ok());
        assert!(check_idempotency_key(&"k".repeat(256)).is_err());
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key("tab\there").is_err());
        assert!(check_idempotency_key("clé").is_err());
    }
}
