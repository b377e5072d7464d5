//! The seam between a connection and the transport that carries its bytes.
//!
//! A connection (`connection.rs`) owns everything MCP about a session — ids, the pending table,
//! timeouts, which request a message belongs to — and needs only four things from a transport:
//! send a request, send a message that expects no response, hear that the session is open, and
//! close. That is [`Transport`]. The other direction is [`Sink`]: everything a transport reads is
//! delivered into it, and so is the news that the transport died. A transport is started with a
//! [`Link`] (the sink and the few settings it needs), never with the connection itself, so neither
//! side reaches into the other and a new way to reach an upstream (an in-process connector, say)
//! is one more `Transport` and one more arm in [`start`], the only place that names them all.
//!
//! The connection holds the transport as [`Builtin`], an enum: calls dispatch statically, and a
//! Streamable HTTP request is still a POST driven inside the caller's own future, with no task hop
//! and no boxing per call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::headers::ParamHeader;
use switchboard_protocol::{Message, Revision};

use crate::error::UpstreamError;
use crate::reaper::Reaper;
use crate::{http, in_process, legacy_sse, stdio};

/// How to reach an upstream.
#[derive(Debug, Clone)]
pub enum Target {
    Stdio(stdio::StdioSpec),
    Http(http::HttpSpec),
    Sse(http::HttpSpec),
    /// A server inside the gateway (a built-in connector): no process, no socket.
    InProcess(Arc<dyn in_process::InProcessServer>),
}

impl std::fmt::Debug for dyn in_process::InProcessServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcessServer(..)")
    }
}

/// What a transport that re-creates an expired upstream session on its own (Streamable HTTP) sends
/// again afterwards, as `(method, params)` requests: the log level and resource subscriptions the
/// old session had. The caller keeps that state (it decided to send it in the first place); the
/// transport asks for it at the moment it replays.
#[derive(Clone)]
pub struct Replay(Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>);

impl Replay {
    pub fn new(plan: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static) -> Replay {
        Replay(Arc::new(plan))
    }

    /// The requests to replay now.
    pub fn plan(&self) -> Vec<(String, String)> {
        (self.0)()
    }
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Replay(..)")
    }
}

/// Why a transport could not send.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// It can carry nothing any more; the connection knows (or will be told) why it closed.
    #[error("transport closed")]
    Closed,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// Where a transport delivers what it reads. Implemented by the connection; transports hold it
/// weakly (through [`Link::sink`]), so a dropped connection ends its transport's tasks.
pub(crate) trait Sink: Send + Sync {
    /// A message from the upstream. `related` is the id of the request whose response stream
    /// carried it, when the transport knows.
    fn deliver(&self, msg: Message, related: Option<u64>);
    /// The transport can no longer carry messages.
    fn transport_closed(&self, reason: String);
    /// Whether request `id` still waits for its response (a response stream is read until then).
    fn is_pending(&self, id: u64) -> bool;
    /// Whether the connection has closed (background streams stop then).
    fn is_closed(&self) -> bool;
}

/// What a transport is started with: where to deliver, and what it must know of its connection.
#[derive(Clone)]
pub(crate) struct Link {
    pub sink: Weak<dyn Sink>,
    /// The upstream's configured name, for logs and errors.
    pub name: Arc<str>,
    /// The connection's default timeout (legacy SSE waits this long for its endpoint).
    pub timeout: Duration,
    /// Largest message accepted from the upstream.
    pub max_message_bytes: usize,
    /// The connection speaks 2026-07-28 (no handshake; HTTP POSTs mirror their body in headers).
    pub modern: bool,
    /// The `initialize` params, for a transport that re-initialises on its own.
    pub initialize_params: String,
    /// Registers stdio children's process groups.
    pub reaper: Option<Reaper>,
    /// Open the HTTP standalone GET stream once a handshake-era session is open.
    pub standalone_stream: bool,
    /// What to replay after re-initialising.
    pub replay: Option<Replay>,
}

impl Link {
    /// The sink, while its connection lives.
    pub fn sink(&self) -> Option<Arc<dyn Sink>> {
        self.sink.upgrade()
    }
}

/// What a request carries beside its body where the transport has headers: the gateway's
/// request id (`X-Request-Id`) and W3C trace context (`traceparent`, `tracestate`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Outbound<'a> {
    pub request_id: Option<&'a str>,
    /// Replaces the connection's own `Authorization` for this request (see
    /// [`crate::RequestCtx::authorization`]).
    pub authorization: Option<&'a reqwest::header::HeaderValue>,
    pub traceparent: Option<&'a str>,
    pub tracestate: Option<&'a str>,
}

/// What a connection needs from the transport under it.
pub(crate) trait Transport: Send + Sync {
    /// Sends request `id`, already encoded as `body`, and resolves once it is sent — its response
    /// arrives through the sink, related to `id` when the transport can tell. A pipe resolves when
    /// the bytes are queued; Streamable HTTP resolves when its POST's answer has been read (and a
    /// failure has been delivered as the request's error response), so the POST is driven by the
    /// caller's future. `out` is what HTTP sends as headers beside the body (`X-Request-Id`,
    /// `traceparent`); pipes have no headers and ignore it.
    fn send_request(
        &self,
        id: u64,
        body: Bytes,
        out: Outbound<'_>,
    ) -> impl Future<Output = Result<(), SendError>> + Send;

    /// Sends a message that expects no response (a notification, or an answer to the upstream).
    fn send(&self, body: Bytes) -> impl Future<Output = Result<(), SendError>> + Send;

    /// The session opened at `revision`: later messages may depend on it (HTTP's version header).
    fn opened(&self, _revision: Revision) {}

    /// The `x-mcp-header` annotations of the upstream's tools (by its own tool names), for the
    /// `Mcp-Param-*` headers a 2026-07-28 HTTP upstream requires. Transports without headers
    /// ignore them.
    fn set_param_headers(&self, _headers: HashMap<String, Arc<[ParamHeader]>>) {}

    /// Whether every message shares one ordered pipe. Then a server-to-client message that names
    /// no request can only be tied to one by elimination; on a transport that carries each
    /// request's messages on its own stream (HTTP), it is never guessed.
    fn shared_pipe(&self) -> bool;

    /// Ends what the transport runs: a child is stopped politely, an HTTP session is deleted,
    /// background tasks end. Called on every `Connection::close`; only the first does anything.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// The transports built into this crate.
pub(crate) enum Builtin {
    Stdio(stdio::StdioTransport),
    Http(Arc<http::HttpWire>),
    Sse(legacy_sse::SseTransport),
    InProcess(in_process::InProcessTransport),
}

/// Starts the transport `target` names. The one place that knows every kind of transport.
pub(crate) async fn start(target: &Target, link: Link) -> Result<Builtin, UpstreamError> {
    Ok(match target {
        Target::Stdio(spec) => Builtin::Stdio(stdio::start(spec, link)?),
        Target::Http(spec) => Builtin::Http(http::start(spec, link)?),
        Target::Sse(spec) => Builtin::Sse(legacy_sse::start(spec, link).await?),
        Target::InProcess(server) => Builtin::InProcess(in_process::start(server, link)),
    })
}

impl Transport for Builtin {
    async fn send_request(&self, id: u64, body: Bytes, out: Outbound<'_>) -> Result<(), SendError> {
        match self {
            Builtin::Stdio(t) => t.send_request(id, body, out).await,
            Builtin::Http(t) => t.send_request(id, body, out).await,
            Builtin::Sse(t) => t.send_request(id, body, out).await,
            Builtin::InProcess(t) => t.send_request(id, body, out).await,
        }
    }

    async fn send(&self, body: Bytes) -> Result<(), SendError> {
        match self {
            Builtin::Stdio(t) => t.send(body).await,
            Builtin::Http(t) => t.send(body).await,
            Builtin::Sse(t) => t.send(body).await,
            Builtin::InProcess(t) => t.send(body).await,
        }
    }

    fn opened(&self, revision: Revision) {
        match self {
            Builtin::Stdio(t) => t.opened(revision),
            Builtin::Http(t) => t.opened(revision),
            Builtin::Sse(t) => t.opened(revision),
            Builtin::InProcess(t) => t.opened(revision),
        }
    }

    fn set_param_headers(&self, headers: HashMap<String, Arc<[ParamHeader]>>) {
        match self {
            Builtin::Stdio(t) => t.set_param_headers(headers),
            Builtin::Http(t) => t.set_param_headers(headers),
            Builtin::Sse(t) => t.set_param_headers(headers),
            Builtin::InProcess(t) => t.set_param_headers(headers),
        }
    }

    fn shared_pipe(&self) -> bool {
        match self {
            Builtin::Stdio(t) => t.shared_pipe(),
            Builtin::Http(t) => t.shared_pipe(),
            Builtin::Sse(t) => t.shared_pipe(),
            Builtin::InProcess(t) => t.shared_pipe(),
        }
    }

    async fn close(&self) {
        match self {
            Builtin::Stdio(t) => t.close().await,
            Builtin::Http(t) => t.close().await,
            Builtin::Sse(t) => t.close().await,
            Builtin::InProcess(t) => t.close().await,
        }
    }
}
