//! What can go wrong talking to an upstream, in terms the gateway can map to one JSON-RPC error.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// Could not be started or reached, or failed its handshake.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// No answer within the timeout (the request was cancelled upstream).
    #[error("upstream did not answer within {}ms", .0.as_millis())]
    Timeout(Duration),
    /// The process exited or the connection closed while the request was in flight.
    #[error("upstream closed: {0}")]
    Closed(String),
    /// The upstream broke the protocol.
    #[error("upstream protocol error: {0}")]
    Protocol(String),
    /// The caller cancelled the request.
    #[error("request cancelled")]
    Cancelled,
    /// An `era: auto` probe found no 2026-07-28 server (it then gets `initialize` instead).
    #[error("not a 2026-07-28 server: {0}")]
    NotModern(String),
}

impl UpstreamError {
    /// The upstream answered HTTP 401: the credentials sent were refused.
    pub fn refused_credentials(&self) -> bool {
        matches!(self, UpstreamError::Unavailable(m) if m.starts_with(HTTP_401))
    }
}

/// How the message of an HTTP upstream's 401 answer starts (see `http::http_error`).
pub(crate) const HTTP_401: &str = "HTTP 401 ";
