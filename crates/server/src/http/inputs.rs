//! The cross-cutting inputs a request carries in HTTP headers, read for the gateway's
//! [`Request`]: the caller's credentials, an `Idempotency-Key`, and W3C trace context; with
//! them rides the client's address (from the connection, for the audit record).
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
}

impl Inputs {
    pub(super) fn read(headers: &HeaderMap, client: Option<SocketAddr>) -> Inputs {
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
