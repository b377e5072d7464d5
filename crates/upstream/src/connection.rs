//! One MCP client session with one upstream, independent of transport.
//!
//! The connection owns the upstream-side id space: every request it sends gets the next integer id,
//! so ids from many downstream clients never collide on a shared upstream. It keeps the table of
//! requests in flight and resolves each with the matching response, a timeout (which also sends
//! `notifications/cancelled` upstream), the caller's cancellation, or the transport's death.
//!
//! Server-initiated messages are tied to the request they belong to when that can be known: by the
//! HTTP response stream they arrived on, by their progress token (which the connection rewrites to
//! the request's own id), or — on transports with one shared pipe — by the only client with calls in
//! flight (among the requests the caller marks attributable). Tied messages go to that request's
//! `related` channel; everything else goes to the connection's `Inbound` channel for the gateway to
//! route.
//!
//! The connection reaches its upstream only through the [`Transport`] seam and is told what the
//! transport reads as its [`Sink`]; it never names a concrete transport.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::headers::ParamHeader;
use switchboard_protocol::lock;
use switchboard_protocol::message::encode;
use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{ErrorCode, Id, Kind, Message, Revision, RpcError};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::UpstreamError;
use crate::transport::{self, Builtin, Link, Outbound, Replay, SendError, Sink, Target, Transport};
use crate::{reaper, related};

/// Everything needed to open a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The upstream's configured name, used in logs and errors.
    pub name: Arc<str>,
    pub target: Target,
    /// Default per-request timeout; the handshake uses it too.
    pub timeout: Duration,
    /// Largest message accepted from the upstream.
    pub max_message_bytes: usize,
    /// Raw JSON of the client capabilities declared in `initialize`.
    pub capabilities: String,
    /// Raw JSON of `clientInfo`.
    pub client_info: String,
    /// The revision asked for in `initialize`.
    pub revision: Revision,
    /// Registers stdio children's process groups so they die with the gateway.
    pub reaper: Option<reaper::Reaper>,
    /// Open the HTTP upstream's standalone GET stream for its unsolicited messages (list changes,
    /// resource updates). A one-shot client such as `probe` does without.
    pub standalone_stream: bool,
    /// Which era to speak, or `Auto` to find out.
    pub era: Era,
    /// How long an `Auto` upstream gets to answer the `server/discover` probe.
    pub probe_timeout: Duration,
    /// What a transport that re-creates an expired upstream session (Streamable HTTP) sends again
    /// afterwards: the caller's log level and subscriptions on this connection. None: nothing.
    pub replay: Option<Replay>,
}

/// The era of protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Era {
    /// Probe with `server/discover`; fall back to `initialize` on a fresh connection.
    #[default]
    Auto,
    /// 2026-07-28: no handshake, `_meta` on every request.
    Modern,
    /// The `initialize` handshake (2025-11-25 and older).
    Legacy,
}

/// The `_meta` a request to a modern upstream carries on behalf of whoever caused it.
#[derive(Debug, Clone, Default)]
pub struct ModernMeta {
    /// Raw `clientCapabilities` (`{}` when the gateway asks for itself).
    pub capabilities: Option<String>,
    /// Raw `clientInfo` (the gateway's own when `None`).
    pub client_info: Option<String>,
    /// The log level to ask for, if any.
    pub log_level: Option<&'static str>,
}

/// What the upstream said about itself in the handshake.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub revision: Revision,
    /// Raw JSON of the server's capabilities.
    pub capabilities: String,
    /// Raw JSON of `serverInfo` (`{}` when the server sent none).
    pub server_info: String,
    pub instructions: Option<String>,
}

impl ServerInfo {
    /// Whether the server declared capability `name` (e.g. `"tools"`).
    pub fn has(&self, name: &str) -> bool {
        object::get(&self.capabilities, name).is_some_and(|v| v != "null")
    }

    /// Whether the server declared `name.flag: true` (e.g. `resources.subscribe`).
    pub fn has_flag(&self, name: &str, flag: &str) -> bool {
        object::get(&self.capabilities, name)
            .and_then(|c| object::get(c, flag))
            .is_some_and(|v| v == "true")
    }
}

/// A message from the upstream that no request in flight claimed, or the news that it closed.
#[derive(Debug)]
pub enum Inbound {
    Message(Message),
    Closed(String),
}

/// Per-request options.
#[derive(Debug, Default)]
pub struct RequestCtx {
    /// Overrides the connection's default timeout.
    pub timeout: Option<Duration>,
    /// Lets progress extend the deadline: while the upstream sends `notifications/progress`
    /// for this request at least once per `timeout`, it may run up to this long in all.
    pub max_timeout: Option<Duration>,
    /// Cancels the request (and tells the upstream) when fired.
    pub cancel: Option<CancellationToken>,
    /// Receives the notifications and server-to-client requests that belong to this request.
    pub related: Option<related::Sender<Message>>,
    /// Who asked: requests from one owner may share server-to-client requests on shared pipes.
    pub owner: u64,
    /// While this reads false, the request is left out when a server-to-client message on a
    /// shared pipe is tied to its cause by elimination: it waits on its caller (who holds back
    /// an answer), not on the upstream, so it cannot be what the upstream is asking about. The
    /// caller flips it; `None` is always attributable.
    pub attributable: Option<Arc<AtomicBool>>,
    /// Replace `params._meta.progressToken` with this request's upstream id, so progress can be
    /// routed back; the caller maps the token back for its client.
    pub rewrite_progress: bool,
    /// The gateway request id, forwarded to HTTP upstreams as `X-Request-Id`.
    pub request_id: Option<Arc<str>>,
    /// The `Authorization` value a Streamable HTTP upstream gets for this request instead of its
    /// connection's own credentials (an exchanged or passed-through caller token; marked
    /// sensitive). Pipes ignore it.
    pub authorization: Option<reqwest::header::HeaderValue>,
    /// For a modern upstream: who the request is for. Requests that already carry a modern
    /// `_meta` (a 2026-07-28 caller's own) are sent as they are.
    pub modern: Option<ModernMeta>,
    /// W3C trace context to send on: as `traceparent`/`tracestate` headers to a Streamable HTTP
    /// upstream, in `params._meta` to a pipe (stdio, legacy SSE); a `_meta.traceparent` the
    /// request already carries is replaced on every transport, so the upstream sees one parent.
    pub trace: Option<TraceHeaders>,
}

/// The trace context a request is sent with (see [`RequestCtx::trace`]).
#[derive(Debug, Clone)]
pub struct TraceHeaders {
    /// A valid `traceparent` value.
    pub traceparent: switchboard_trace::Traceparent,
    /// The caller's `tracestate`, passed on unchanged (already checked printable and bounded).
    pub tracestate: Option<Box<str>>,
}

impl RequestCtx {
    pub fn with_timeout(timeout: Duration) -> RequestCtx {
        RequestCtx {
            timeout: Some(timeout),
            ..RequestCtx::default()
        }
    }
}

struct Pending {
    tx: oneshot::Sender<Message>,
    related: Option<related::Sender<Message>>,
    owner: u64,
    attributable: Option<Arc<AtomicBool>>,
    /// Counts this request's progress notifications, when progress may extend its deadline.
    progressed: Option<Arc<AtomicU64>>,
}

impl Pending {
    /// Whether this request may be taken for the cause of an unattributed server message.
    fn attributable(&self) -> bool {
        self.related.is_some()
            && self
                .attributable
                .as_ref()
                .is_none_or(|a| a.load(Ordering::Acquire))
    }
}

struct Core {
    /// Itself, for the tasks that answer the upstream on their own (pings, refusals).
    me: Weak<Core>,
    name: Arc<str>,
    /// Unique per connection in this process: ids the upstream mints (tasks) are only unique
    /// within one of its sessions.
    serial: u64,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    /// Server-to-client request ids (raw) and the request they were tied to, for cancellations.
    s2c: Mutex<HashMap<Box<str>, u64>>,
    inbound: mpsc::Sender<Inbound>,
    /// Set once the transport has started (it needs the core, as its sink, to start).
    wire: OnceLock<Builtin>,
    closed: CancellationToken,
    close_reason: Mutex<Option<String>>,
    info: OnceLock<ServerInfo>,
    /// Speaks 2026-07-28: requests are stamped with `_meta`, there is no handshake.
    modern: bool,
    opts: ConnectOptions,
}

/// A live MCP session with one upstream. Cheap to clone; the session ends with [`Connection::close`]
/// or when the last clone is dropped.
#[derive(Clone)]
pub struct Connection {
    core: Arc<Core>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.core.name)
            .finish()
    }
}

impl Connection {
    /// Starts or reaches the upstream and opens an MCP session with it: `initialize` in the
    /// handshake era, `server/discover` in 2026-07-28. With [`Era::Auto`] the upstream is probed
    /// with `server/discover` first; anything but a 2026-07-28 answer makes it handshake-era, and
    /// then the probed process (or HTTP client) is dropped and a fresh one gets `initialize` as
    /// its first message, as handshake-era servers require. Messages no request claims go to
    /// `inbound`.
    pub async fn connect(
        opts: ConnectOptions,
        inbound: mpsc::Sender<Inbound>,
    ) -> Result<Connection, UpstreamError> {
        match (opts.era, &opts.target) {
            (Era::Modern, Target::Sse(_)) => Err(UpstreamError::Unavailable(
                "sse: upstreams speak the 2024-11-05 transport, a handshake-era one; era: modern cannot apply (use http: for a 2026-07-28 server)".into(),
            )),
            // A built-in server speaks the handshake era, whatever `era` says: it has no process
            // to probe and discard, and it is the gateway's own code.
            (_, Target::InProcess(_)) | (Era::Legacy, _) | (Era::Auto, Target::Sse(_)) => {
                Connection::open(opts, inbound, Opening::Handshake).await
            }
            (Era::Modern, _) => Connection::open(opts, inbound, Opening::Discover).await,
            (Era::Auto, _) => {
                match Connection::open(opts.clone(), inbound.clone(), Opening::Probe).await {
                    Err(UpstreamError::NotModern(why)) => {
                        tracing::debug!(upstream = %opts.name, "not a 2026-07-28 server ({why}); using initialize");
                        Connection::open(opts, inbound, Opening::Handshake).await
                    }
                    other => other,
                }
            }
        }
    }

    async fn open(
        opts: ConnectOptions,
        inbound: mpsc::Sender<Inbound>,
        opening: Opening,
    ) -> Result<Connection, UpstreamError> {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let modern = opening != Opening::Handshake;
        let core = Arc::new_cyclic(|me| Core {
            me: me.clone(),
            name: opts.name.clone(),
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            s2c: Mutex::new(HashMap::new()),
            inbound,
            wire: OnceLock::new(),
            closed: CancellationToken::new(),
            close_reason: Mutex::new(None),
            info: OnceLock::new(),
            modern,
            opts: opts.clone(),
        });
        let sink: Weak<dyn Sink> = Arc::downgrade(&core) as Weak<dyn Sink>;
        let link = Link {
            sink,
            name: opts.name.clone(),
            timeout: opts.timeout,
            max_message_bytes: opts.max_message_bytes,
            modern,
            initialize_params: initialize_params(&opts),
            reaper: opts.reaper.clone(),
            standalone_stream: opts.standalone_stream,
            replay: opts.replay.clone(),
        };
        let wire = transport::start(&opts.target, link).await?;
        let _ = core.wire.set(wire);
        let conn = Connection { core };
        let opened = match opening {
            Opening::Handshake => conn.handshake().await,
            Opening::Discover | Opening::Probe => conn.discover(opening).await,
        };
        match opened {
            Ok(info) => {
                let _ = conn.core.info.set(info);
                if conn.core.closed.is_cancelled() {
                    // It died between its answer and now: say so, as nobody else will.
                    let _ = conn
                        .core
                        .inbound
                        .try_send(Inbound::Closed(conn.core.reason()));
                }
                Ok(conn)
            }
            Err(e) => {
                conn.close().await;
                Err(match e {
                    UpstreamError::Unavailable(m) => UpstreamError::Unavailable(m),
                    UpstreamError::NotModern(m) => UpstreamError::NotModern(m),
                    other => UpstreamError::Unavailable(format!("initialize failed: {other}")),
                })
            }
        }
    }

    /// Tells the connection its tools' `x-mcp-header` annotations (from its `tools/list`), so
    /// that calls to a 2026-07-28 HTTP upstream carry the `Mcp-Param-*` headers it requires.
    pub fn set_param_headers(&self, headers: HashMap<String, Arc<[ParamHeader]>>) {
        if let Some(w) = self.core.wire.get() {
            w.set_param_headers(headers);
        }
    }

    /// Whether this connection speaks 2026-07-28.
    pub fn is_modern(&self) -> bool {
        self.core.is_modern()
    }

    /// A number unique to this connection within the process.
    pub fn serial(&self) -> u64 {
        self.core.serial
    }

    /// The upstream's configured name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// What the upstream declared in the handshake.
    pub fn info(&self) -> Option<&ServerInfo> {
        self.core.info.get()
    }

    /// The negotiated revision (the asked one until the handshake finishes).
    pub fn revision(&self) -> Revision {
        self.info().map_or(self.core.opts.revision, |i| i.revision)
    }

    /// True once the transport has died or the connection was closed.
    pub fn is_closed(&self) -> bool {
        self.core.closed.is_cancelled()
    }

    /// Resolves when the connection closes; yields why.
    pub async fn closed(&self) -> String {
        self.core.closed.cancelled().await;
        lock(&self.core.close_reason)
            .clone()
            .unwrap_or_else(|| "closed".into())
    }

    /// Number of requests in flight.
    pub fn in_flight(&self) -> usize {
        lock(&self.core.pending).len()
    }

    /// Sends a request and waits for its response message (a result or an error).
    pub async fn request(
        &self,
        method: &str,
        params: Option<&str>,
        ctx: RequestCtx,
    ) -> Result<Message, UpstreamError> {
        self.core.request(method, params, ctx).await
    }

    /// Sends a notification.
    pub async fn notify(&self, method: &str, params: Option<&str>) -> Result<(), UpstreamError> {
        let body = encode::notification(method, params);
        self.core.send(Bytes::from(body)).await
    }

    /// Answers a server-to-client request with a result.
    pub async fn respond(&self, id: &Id, result: &str) -> Result<(), UpstreamError> {
        self.core.forget_s2c(id);
        self.core
            .send(Bytes::from(encode::result(id, result)))
            .await
    }

    /// Answers a server-to-client request with an error.
    pub async fn respond_error(&self, id: &Id, error: &RpcError) -> Result<(), UpstreamError> {
        self.core.forget_s2c(id);
        let body = encode::error(Some(id), &error.to_json());
        self.core.send(Bytes::from(body)).await
    }

    /// Answers a server-to-client request with a raw JSON-RPC error object (a client's own error,
    /// relayed as it was).
    pub async fn respond_raw_error(&self, id: &Id, error: &str) -> Result<(), UpstreamError> {
        self.core.forget_s2c(id);
        self.core
            .send(Bytes::from(encode::error(Some(id), error)))
            .await
    }

    /// Ends the session: stdio children get stdin closed, then SIGTERM, then SIGKILL; HTTP
    /// sessions get a DELETE.
    pub async fn close(&self) {
        self.core.shutdown("closed by gateway").await;
    }

    async fn handshake(&self) -> Result<ServerInfo, UpstreamError> {
        let opts = &self.core.opts;
        let params = initialize_params(opts);
        let resp = self
            .request(
                "initialize",
                Some(&params),
                RequestCtx::with_timeout(opts.timeout),
            )
            .await?;
        let result = match resp.kind() {
            Kind::Result => resp.result().unwrap_or("null"),
            _ => {
                return Err(UpstreamError::Unavailable(format!(
                    "initialize was refused: {}",
                    resp.error().unwrap_or("?")
                )));
            }
        };
        let version = object::get_str(result, "protocolVersion").ok_or_else(|| {
            UpstreamError::Protocol("initialize result lacks protocolVersion".into())
        })?;
        let revision = Revision::parse(&version).ok_or_else(|| {
            UpstreamError::Unavailable(format!("upstream chose unsupported revision {version}"))
        })?;
        let info = ServerInfo {
            revision,
            capabilities: object::get(result, "capabilities")
                .unwrap_or("{}")
                .to_owned(),
            server_info: object::get(result, "serverInfo").unwrap_or("{}").to_owned(),
            instructions: object::get_str(result, "instructions").map(|s| s.into_owned()),
        };
        if let Some(w) = self.core.wire.get() {
            w.opened(revision);
        }
        self.notify("notifications/initialized", None).await?;
        Ok(info)
    }

    /// Opens a 2026-07-28 connection: `server/discover` says what the server is. As a probe
    /// (`Opening::Probe`), any answer but a 2026-07-28 one is `NotModern`, and so is silence
    /// until the probe timeout.
    async fn discover(&self, opening: Opening) -> Result<ServerInfo, UpstreamError> {
        let opts = &self.core.opts;
        let probing = opening == Opening::Probe;
        let timeout = if probing {
            opts.probe_timeout
        } else {
            opts.timeout
        };
        let not_modern = |why: String| {
            if probing {
                UpstreamError::NotModern(why)
            } else {
                UpstreamError::Unavailable(format!("upstream is not a 2026-07-28 server: {why}"))
            }
        };
        let resp = match self
            .request("server/discover", None, RequestCtx::with_timeout(timeout))
            .await
        {
            Ok(r) => r,
            Err(UpstreamError::Timeout(_)) => {
                return Err(not_modern(format!(
                    "no answer to server/discover within {timeout:?}"
                )));
            }
            Err(e) if probing => return Err(UpstreamError::NotModern(e.to_string())),
            Err(e) => return Err(e),
        };
        let Some(result) = resp.result() else {
            return Err(not_modern(format!(
                "server/discover was answered with {}",
                resp.error().unwrap_or("?")
            )));
        };
        let modern = object::get(result, "supportedVersions")
            .and_then(object::array_items)
            .unwrap_or_default()
            .into_iter()
            .filter_map(object::string_value)
            .any(|v| Revision::parse_any(&v).is_some_and(Revision::is_modern));
        if !modern {
            return Err(not_modern(
                "its server/discover lists no 2026-07-28 version".into(),
            ));
        }
        let server_info = object::get(result, "_meta")
            .and_then(|m| object::get(m, switchboard_protocol::meta::SERVER_INFO))
            .or_else(|| object::get(result, "serverInfo"))
            .unwrap_or("{}");
        if let Some(w) = self.core.wire.get() {
            w.opened(Revision::V2026_07_28);
        }
        Ok(ServerInfo {
            revision: Revision::V2026_07_28,
            capabilities: object::get(result, "capabilities")
                .unwrap_or("{}")
                .to_owned(),
            server_info: server_info.to_owned(),
            instructions: object::get_str(result, "instructions").map(|s| s.into_owned()),
        })
    }
}

/// How a connection opens its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    Handshake,
    Discover,
    Probe,
}

impl Core {
    async fn request(
        &self,
        method: &str,
        params: Option<&str>,
        ctx: RequestCtx,
    ) -> Result<Message, UpstreamError> {
        if self.closed.is_cancelled() {
            return Err(UpstreamError::Closed(self.reason()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stamped;
        let params = if self.is_modern() && switchboard_protocol::meta::version(params).is_none() {
            let m = ctx.modern.as_ref();
            stamped = switchboard_protocol::meta::stamp_modern(
                params,
                Revision::V2026_07_28.as_str(),
                m.and_then(|m| m.capabilities.as_deref()).unwrap_or("{}"),
                Some(
                    m.and_then(|m| m.client_info.as_deref())
                        .unwrap_or(&self.opts.client_info),
                ),
                m.and_then(|m| m.log_level),
            );
            stamped.as_deref().or(params)
        } else {
            params
        };
        let rewritten;
        let params = match (ctx.rewrite_progress, params) {
            (true, Some(p)) => match with_progress_token(p, id) {
                Some(p2) => {
                    rewritten = p2;
                    Some(rewritten.as_str())
                }
                None => Some(p),
            },
            (_, p) => p,
        };
        let Some(wire) = self.wire.get() else {
            return Err(UpstreamError::Unavailable("transport not ready".into()));
        };
        let traced;
        let params = match &ctx.trace {
            Some(t) if wire.shared_pipe() || has_meta_traceparent(params) => {
                traced = switchboard_protocol::meta::stamp_trace(
                    params,
                    t.traceparent.as_str(),
                    t.tracestate.as_deref(),
                );
                traced.as_deref().or(params)
            }
            _ => params,
        };
        let body = Bytes::from(encode::request(&Id::number(id), method, params));
        let (tx, rx) = oneshot::channel();
        let timeout = ctx.timeout.unwrap_or(self.opts.timeout);
        // Progress may extend the deadline only past the timeout, never shorten it.
        let max_timeout = ctx.max_timeout.filter(|m| *m > timeout);
        let progressed = max_timeout.map(|_| Arc::new(AtomicU64::new(0)));
        lock(&self.pending).insert(
            id,
            Pending {
                tx,
                related: ctx.related,
                owner: ctx.owner,
                attributable: ctx.attributable,
                progressed: progressed.clone(),
            },
        );
        let mut guard = PendingGuard {
            core: self,
            id: Some(id),
        };
        // Sending is part of the wait, under the same deadline and cancellation: a child that
        // stops reading its stdin fills the pipe, and then even sending must be able to time out.
        // An HTTP request is its own POST, driven right here rather than in a task of its own (one
        // task hop less per call); it may finish before the response (a 202, or a stream that
        // continues elsewhere), and then only the response is awaited.
        let headers = ctx.trace.as_ref().filter(|_| !wire.shared_pipe());
        let out = Outbound {
            request_id: ctx.request_id.as_deref(),
            authorization: ctx.authorization.as_ref(),
            traceparent: headers.map(|t| t.traceparent.as_str()),
            tracestate: headers.and_then(|t| t.tracestate.as_deref()),
        };
        let post = wire.send_request(id, body, out);
        tokio::pin!(post);
        let mut posting = true;
        let cancel = ctx.cancel.unwrap_or_default();
        let started = tokio::time::Instant::now();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut rx = rx;
        let outcome = loop {
            tokio::select! {
                r = &mut rx => break match r {
                    Ok(msg) => Ok(msg),
                    Err(_) => Err(UpstreamError::Closed(self.reason())),
                },
                sent = &mut post, if posting => match sent {
                    Ok(()) => posting = false,
                    Err(e) => break Err(self.send_error(e)),
                },
                _ = &mut deadline => {
                    // Progress since the deadline was set buys another `timeout`, up to the cap.
                    if let (Some(max), Some(p)) = (max_timeout, &progressed) {
                        let elapsed = started.elapsed();
                        if p.swap(0, Ordering::AcqRel) > 0 && elapsed < max {
                            deadline.as_mut().reset(tokio::time::Instant::now() + timeout.min(max - elapsed));
                            continue;
                        }
                    }
                    break Err(UpstreamError::Timeout(started.elapsed().max(timeout)));
                }
                _ = cancel.cancelled() => break Err(UpstreamError::Cancelled),
            }
        };
        match &outcome {
            Ok(_) => guard.id = None,
            Err(UpstreamError::Timeout(_)) | Err(UpstreamError::Cancelled) => {
                if method != "initialize" {
                    let reason = if matches!(outcome, Err(UpstreamError::Cancelled)) {
                        "cancelled by client"
                    } else {
                        "timed out at gateway"
                    };
                    let p = format!("{{\"requestId\":{id},\"reason\":\"{reason}\"}}");
                    let note =
                        Bytes::from(encode::notification("notifications/cancelled", Some(&p)));
                    // Best effort, and bounded: the upstream may be the reason we gave up.
                    // (Boxed: this rare send is as large as the request itself, and every
                    // future awaiting a request would otherwise carry room for both.)
                    let send = Box::pin(self.send(note));
                    let _ = tokio::time::timeout(Duration::from_secs(1), send).await;
                }
            }
            Err(_) => {}
        }
        outcome
    }

    fn is_modern(&self) -> bool {
        self.modern
    }

    /// Sends a message that expects no response on its own stream.
    async fn send(&self, body: Bytes) -> Result<(), UpstreamError> {
        match self.wire.get() {
            Some(w) => w.send(body).await.map_err(|e| self.send_error(e)),
            None => Err(UpstreamError::Unavailable("transport not ready".into())),
        }
    }

    /// A transport's failure to send, as the caller sees it: a closed transport says why the
    /// connection closed.
    fn send_error(&self, e: SendError) -> UpstreamError {
        match e {
            SendError::Closed => UpstreamError::Closed(self.reason()),
            SendError::Upstream(e) => e,
        }
    }

    /// Sends `body` from a task of its own (an answer the connection gives without a caller).
    fn spawn_send(&self, body: Bytes) {
        if let Some(core) = self.me.upgrade() {
            tokio::spawn(async move {
                let _ = core.send(body).await;
            });
        }
    }

    fn forget_s2c(&self, id: &Id) {
        lock(&self.s2c).remove(id.as_raw());
    }

    fn reason(&self) -> String {
        lock(&self.close_reason)
            .clone()
            .unwrap_or_else(|| "connection closed".into())
    }

    /// Every message read from the upstream. `related` is the id of the request whose response
    /// stream carried it, when the transport knows.
    fn deliver(&self, msg: Message, related: Option<u64>) {
        match msg.kind() {
            Kind::Result | Kind::Error => {
                let Some(id) = msg.id().and_then(Id::as_u64) else {
                    tracing::warn!(upstream = %self.name, "response with an id the gateway never sent; dropped");
                    return;
                };
                match lock(&self.pending).remove(&id) {
                    Some(p) => {
                        let _ = p.tx.send(msg);
                    }
                    None => tracing::debug!(upstream = %self.name, id, "late response dropped"),
                }
            }
            Kind::Request => {
                if msg.method() == Some("ping") {
                    if let Some(id) = msg.id() {
                        self.spawn_send(Bytes::from(encode::result(id, "{}")));
                    }
                    return;
                }
                let related = related.or_else(|| self.attribute());
                if let (Some(r), Some(id)) = (related, msg.id()) {
                    lock(&self.s2c).insert(id.as_raw().into(), r);
                }
                self.route(related, msg);
            }
            Kind::Notification => {
                if msg.method() == Some("notifications/progress") {
                    self.note_progress(&msg);
                }
                let related = related.or_else(|| match msg.method() {
                    Some("notifications/progress") => msg
                        .param("progressToken")
                        .and_then(|t| t.parse::<u64>().ok())
                        .filter(|t| lock(&self.pending).contains_key(t)),
                    Some("notifications/cancelled") => msg
                        .param("requestId")
                        .and_then(|r| lock(&self.s2c).get(r.trim()).copied()),
                    // A log line emitted while one client's calls are running is that client's.
                    Some("notifications/message") => self.attribute(),
                    _ => None,
                });
                self.route(related, msg);
            }
        }
    }

    /// Counts a progress notification for the request it belongs to, when that request lets
    /// progress extend its deadline.
    fn note_progress(&self, msg: &Message) {
        let Some(token) = msg
            .param("progressToken")
            .and_then(|t| t.parse::<u64>().ok())
        else {
            return;
        };
        if let Some(p) = lock(&self.pending)
            .get(&token)
            .and_then(|p| p.progressed.as_ref())
        {
            p.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// On a shared pipe, a server-to-client request can only be tied to a client when every
    /// request in flight comes from that one client; then the newest of them is the likely cause.
    /// Requests their caller marked not attributable are not in flight in that sense: they wait
    /// on the caller, not on the upstream.
    fn attribute(&self) -> Option<u64> {
        if self.wire.get().is_some_and(|w| !w.shared_pipe()) {
            return None;
        }
        let pending = lock(&self.pending);
        let mut owner = None;
        let mut newest = None;
        for (&id, p) in pending.iter() {
            if !p.attributable() {
                continue;
            }
            match owner {
                None => owner = Some(p.owner),
                Some(o) if o != p.owner => return None,
                _ => {}
            }
            newest = newest.max(Some(id));
        }
        newest
    }

    fn route(&self, related: Option<u64>, msg: Message) {
        let sink = related.and_then(|r| {
            let mut pending = lock(&self.pending);
            let p = pending.get_mut(&r)?;
            let tx = p.related.clone()?;
            Some((r, tx))
        });
        let msg = match sink {
            Some((r, tx)) => match tx.try_send(msg) {
                Ok(()) => return,
                Err(related::TrySendError::Full(m)) => {
                    // The client reading this request's stream cannot keep up: it loses the
                    // stream rather than stalling the upstream's reader for everyone.
                    tracing::warn!(upstream = %self.name, request = r, "related stream full; detached");
                    if let Some(p) = lock(&self.pending).get_mut(&r) {
                        p.related = None;
                    }
                    m
                }
                Err(related::TrySendError::Closed(m)) => m,
            },
            None => msg,
        };
        if msg.is_request() && related.is_some() {
            // Tied to a request whose client is gone: nobody can answer.
            self.refuse(
                &msg,
                ErrorCode::NO_CLIENT_FOR_REQUEST,
                "the client that caused this request is no longer listening",
            );
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(Inbound::Message(m))) =
            self.inbound.try_send(Inbound::Message(msg))
        {
            tracing::warn!(upstream = %self.name, method = ?m.method(), "gateway inbound queue full; message dropped");
            if m.is_request() {
                self.refuse(&m, ErrorCode::NO_CLIENT_FOR_REQUEST, "gateway overloaded");
            }
        }
    }

    fn refuse(&self, msg: &Message, code: ErrorCode, why: &str) {
        if let Some(id) = msg.id() {
            self.forget_s2c(id);
            let err = RpcError::new(code, why).to_json();
            self.spawn_send(Bytes::from(encode::error(Some(id), &err)));
        }
    }

    /// The transport can no longer carry messages.
    fn transport_closed(&self, reason: String) {
        if self.closed.is_cancelled() {
            return;
        }
        // A connection that never opened (a failed handshake, an era probe that found a
        // handshake-era server) reports its end to nobody: its opener has the error already,
        // and the gateway must not take it for the connection that replaces it.
        let opened = self.info.get().is_some();
        // Closed by us (shutdown, a restart): expected, not worth a warning.
        let ours = lock(&self.close_reason).is_some();
        if opened && !ours {
            tracing::warn!(upstream = %self.name, %reason, "upstream connection closed");
        } else if opened {
            tracing::debug!(upstream = %self.name, %reason, "upstream connection closed");
        }
        lock(&self.close_reason).get_or_insert(reason.clone());
        self.closed.cancel();
        // Dropping the senders fails every waiter with `Closed`.
        lock(&self.pending).clear();
        if opened {
            let _ = self.inbound.try_send(Inbound::Closed(reason));
        }
    }

    async fn shutdown(&self, reason: &str) {
        lock(&self.close_reason).get_or_insert_with(|| reason.to_owned());
        if let Some(w) = self.wire.get() {
            w.close().await;
        }
        self.closed.cancel();
        lock(&self.pending).clear();
    }
}

/// What the transports deliver into: the connection's own handling of each message.
impl Sink for Core {
    fn deliver(&self, msg: Message, related: Option<u64>) {
        Core::deliver(self, msg, related);
    }

    fn transport_closed(&self, reason: String) {
        Core::transport_closed(self, reason);
    }

    fn is_pending(&self, id: u64) -> bool {
        lock(&self.pending).contains_key(&id)
    }

    fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }
}

/// The `initialize` params (also what a transport that re-initialises on its own sends).
fn initialize_params(opts: &ConnectOptions) -> String {
    format!(
        "{{\"protocolVersion\":\"{}\",\"capabilities\":{},\"clientInfo\":{}}}",
        opts.revision, opts.capabilities, opts.client_info
    )
}

/// Removes a request from the pending table if its waiter gives up for any reason.
struct PendingGuard<'a> {
    core: &'a Core,
    id: Option<u64>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.core.pending).remove(&id);
        }
    }
}

/// `params` with `_meta.progressToken` replaced by `id`; `None` when there is no token to replace.
fn with_progress_token(params: &str, id: u64) -> Option<String> {
    let meta = object::get(params, "_meta")?;
    object::get(meta, "progressToken")?;
    let token = id.to_string();
    let meta2 = object::edit(meta, &[("progressToken", Edit::Set(&token))])?;
    object::edit(params, &[("_meta", Edit::Set(&meta2))])
}

/// Whether `params._meta` has a `traceparent` (then it is replaced by the gateway's own).
fn has_meta_traceparent(params: Option<&str>) -> bool {
    params
        .and_then(|p| switchboard_protocol::object::get(p, "_meta"))
        .is_some_and(|m| switchboard_protocol::object::get(m, "traceparent").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_token_is_rewritten_in_place() {
        let p = r#"{"name":"x","_meta":{"progressToken":"abc","x-v":1},"arguments":{}}"#;
        assert_eq!(
            with_progress_token(p, 42).unwrap(),
            r#"{"name":"x","_meta":{"progressToken":42,"x-v":1},"arguments":{}}"#
        );
        assert!(with_progress_token(r#"{"name":"x"}"#, 1).is_none());
    }
}
