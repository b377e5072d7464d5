//! The cross-cutting inputs a request carries in HTTP headers, read for the gateway's
//! [`Request`]: the caller's credentials, an `Idempotency-Key`, and W3C trace context; with
//! them rides the client's address (from the connection, for the audit record), and, only when
//! some upstream exchanges or forwards it, the caller's access token (wiped when dropped).
//!
//! Values are copied out only when the header is present (a request future outlives the
//! header map), so a request without them costs three header lookups and nothing else.

use std::net::SocketAddr;

use hyper::HeaderMap;
use switchboard_gateway::principal::Credentials;
use switchboard_gateway::request::{Request, TraceContext};

/// What a request's headers say beyond MCP itself.
#[derive(Debug, Default)]
pub(super) struct Inputs {
    /// Empty when the header is there but not visible ASCII (which the gateway then refuses).
    idempotency_key: Option<Box<str>>,
    traceparent: Option<Box<str>>,
    tracestate: Option<Box<str>>,
    client: Option<SocketAddr>,
    /// The caller's bearer access token (never an API key), when kept.
    caller_token: Option<CallerToken>,
}

/// A caller's access token: wiped when dropped, never shown by `Debug`.
pub(super) struct CallerToken(zeroize::Zeroizing<String>);

impl CallerToken {
    /// The token of an `Authorization` value (`Bearer <token>`), when it is one an upstream may
    /// receive: never a switchboard API key.
    pub(super) fn from_authorization(value: &str) -> Option<CallerToken> {
        bearer(value).map(|t| CallerToken(zeroize::Zeroizing::new(t.to_owned())))
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CallerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerToken(<redacted>)")
    }
}

impl Inputs {
    /// `keep_token`: some upstream exchanges or forwards the caller's token
    /// (`Gateway::forwards_caller_tokens`); otherwise it is not copied.
    pub(super) fn read(
        headers: &HeaderMap,
        client: Option<SocketAddr>,
        keep_token: bool,
    ) -> Inputs {
        let text = |name: &str| {
            headers
                .get(name)
                .map(|v| Box::from(v.to_str().unwrap_or_default()))
        };
        Inputs {
            idempotency_key: text("idempotency-key"),
            traceparent: text("traceparent"),
            tracestate: text("tracestate"),
            client,
            caller_token: if keep_token {
                headers
                    .get(hyper::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(CallerToken::from_authorization)
            } else {
                None
            },
        }
    }

    /// Adds these inputs to a request.
    pub(super) fn apply<'a>(&'a self, req: Request<'a>) -> Request<'a> {
        let trace = self.traceparent.as_deref().map(|traceparent| TraceContext {
            traceparent,
            tracestate: self.tracestate.as_deref(),
        });
        req.with_idempotency_key(self.idempotency_key.as_deref())
            .with_trace(trace)
            .with_client(self.client)
            .with_caller_token(self.caller_token.as_ref().map(|t| t.0.as_str()))
    }
}

/// The caller's credentials, as the gateway's `authenticate` takes them.
pub(super) fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    Credentials {
        authorization: headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    }
}

/// The bearer token of an `Authorization` value, unless it is a switchboard API key (which is
/// the gateway's own credential and never leaves it).
fn bearer(auth: &str) -> Option<&str> {
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty() && !token.starts_with(switchboard_gateway::auth::KEY_PREFIX))
        .then_some(token)
}
