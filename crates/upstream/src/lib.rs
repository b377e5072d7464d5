//! The client side of switchboard: one MCP session with one upstream server.
//!
//! A [`Connection`] is transport-agnostic. It mints request ids, keeps the table of requests in
//! flight, performs the `initialize` handshake, enforces timeouts and cancellation, and decides
//! which in-flight request each server-initiated message belongs to. It reaches the upstream
//! through the `Transport` seam in [`transport`], which is all it knows of the transports below:
//! [`stdio`] runs a child process in its own process group (with a [`reaper`] that outlives a
//! killed gateway), [`http`] speaks Streamable HTTP with resumption and transparent
//! re-initialisation, [`legacy_sse`] speaks the 2024-11-05 HTTP+SSE transport, and [`in_process`] carries a server
//! that lives inside the gateway (a built-in connector). Transports in
//! turn know nothing of the connection: they deliver what they read into a sink. [`backoff`] is
//! the one retry policy, shared with the gateway's reconnects. [`egress`] is the outbound policy
//! (SSRF strict mode, proxies, outbound TLS) every HTTP client here is built with, and that other
//! crates' outbound clients use too.
//!
//! This crate knows nothing of downstream clients: what to do with a notification or a
//! server-to-client request is the caller's business, delivered through [`Inbound`] channels; so
//! is the state a re-created session must be told again ([`Replay`]), and which requests in
//! flight may be the cause of a server-to-client request ([`RequestCtx::attributable`]).

pub mod backoff;
mod connection;
pub mod egress;
mod error;
pub mod http;
pub mod in_process;
pub mod legacy_sse;
pub mod oauth;
pub mod reaper;
pub mod related;
pub mod stdio;
pub mod token_exchange;
pub mod transport;

pub use backoff::Backoff;
pub use connection::{
    ConnectOptions, Connection, Era, Inbound, ModernMeta, RequestCtx, ServerInfo, TraceHeaders,
};
pub use error::UpstreamError;
pub use in_process::{InProcessError, InProcessServer};
pub use transport::{Replay, Target};
