//! The HTTP front door: the accept loop, the checks every request passes, routes, and graceful
//! shutdown.
//!
//! Every request first gets its request id (accepted or generated, echoed on the response), then
//! passes the Host/Origin guard, then reaches its route. This is hyper's HTTP/1.1 server and a
//! `match`, on purpose: at tens of thousands of calls per second, a router and two middleware
//! layers (boxed futures, cloned header maps, extensions) cost more than the endpoint itself.
//! `/mcp` is the MCP endpoint ([`mcp`]), `/mcp/ws` the same over WebSocket ([`ws`]), `/v1/mcp/…`
//! the deprecated REST routes ([`legacy`]); `/healthz`, `/readyz`, `/status` and `/api/conformance`
//! are for operators and tooling; the admin REST API and `/api/openapi.json` are [`admin`].
//!
//! Shutdown happens in two steps: new connections stop and standalone streams close at once (with
//! `retry:` so clients come back to another replica or after the restart); streams of requests in
//! flight get a drain period to deliver their responses before they close too.

mod admin;
mod body;
mod classify;
mod closing;
mod events;
mod guard;
mod inputs;
mod legacy;
mod mcp;
mod modern;
mod oauth;
mod plugins;
mod rejection;
mod version;
mod ws;

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use switchboard_gateway::Gateway;
use switchboard_gateway::sessions::Session;
use switchboard_gateway::view::Endpoint;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::request_id;
use closing::Closing;
pub use events::EventStore;
pub use guard::Allowlist;
use rejection::Rejection;

/// How long requests in flight may keep their streams open after shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Shared state of the HTTP server.
pub struct Server {
    gw: Gateway,
    allow: Allowlist,
    max_body: usize,
    /// How long a connection may take to send a request head, after opening or after its
    /// previous answer (`http.header_read_timeout`).
    header_read_timeout: Duration,
    /// Bytes of request line and headers read per request; past it hyper answers 431.
    max_header_bytes: usize,
    /// How long a `POST` body may take to arrive whole after its head (`http.body_read_timeout`).
    body_read_timeout: Duration,
    event_buffer: usize,
    keepalive: Duration,
    /// Fires when shutdown begins: standalone streams close.
    streams_closing: CancellationToken,
    /// Fires after the drain period: every stream closes.
    drained: CancellationToken,
    /// `http.websocket` and the open sockets (`/mcp/ws`).
    ws: ws::Sockets,
    /// `http.legacy_rest` (`/v1/mcp/…`).
    legacy: legacy::Legacy,
}

impl Server {
    pub fn new(gw: Gateway) -> Arc<Server> {
        let cfg = gw.config();
        Arc::new(Server {
            allow: Allowlist::new(&cfg.http),
            max_body: cfg.http.max_body_bytes,
            header_read_timeout: cfg.http.header_read_timeout,
            max_header_bytes: cfg.http.max_header_bytes.max(8192),
            body_read_timeout: cfg.http.body_read_timeout,
            event_buffer: cfg.sessions.event_buffer,
            keepalive: cfg.sessions.keepalive,
            ws: ws::Sockets::new(&cfg.http.websocket),
            legacy: legacy::Legacy::new(&cfg.http.legacy_rest),
            gw,
            streams_closing: CancellationToken::new(),
            drained: CancellationToken::new(),
        })
    }

    /// Keeps a new session's event store with the session and starts moving its outbox into
    /// the standalone stream. The pump ends when the session is gone.
    fn attach(&self, session: &Arc<Session>, store: Arc<EventStore>) {
        session.attach(store.clone());
        let Some(mut outbox) = session.take_outbox() else {
            return;
        };
        tokio::spawn(async move {
            while let Some(m) = outbox.recv().await {
                store.push(events::STANDALONE, m);
            }
            store.closed.cancel();
        });
    }

    /// Serves until `signal` resolves, then drains and shuts the gateway down.
    ///
    /// Each connection is served by hyper directly: a request's own future does everything
    /// between reading its head and writing its answer, with no router or middleware stack in
    /// between (those cost more per call than everything the endpoint itself does; see
    /// docs/performance.md). Once `signal` fires no connection is accepted; open ones finish the
    /// request in hand and close; streams get [`DRAIN`] to deliver what they still owe.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let closing = Arc::new(Closing::default());
        let conns = TaskTracker::new();
        tokio::pin!(signal);
        loop {
            let stream = tokio::select! {
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors, or a connection reset before it was accepted: the
                        // listener is fine, and trying again at once would spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            // Answers are written whole; waiting to coalesce them only adds latency.
            let _ = stream.set_nodelay(true);
            conns.spawn(connection(self.clone(), stream, closing.watch()));
        }
        drop(listener);
        tracing::info!("shutting down: draining requests in flight");
        self.streams_closing.cancel();
        closing.close();
        conns.close();
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DRAIN).await;
            me.drained.cancel();
        });
        // Connections close once their streams end; the drain period bounds how long that takes.
        // (WebSockets, handed over by their connections, are waited for beside them.)
        let drained = self.drained.clone();
        self.ws.open.close();
        tokio::select! {
            () = async { conns.wait().await; self.ws.open.wait().await } => {}
            () = async { drained.cancelled().await; tokio::time::sleep(Duration::from_secs(1)).await } => {
                tracing::warn!("drain period over; closing remaining connections");
            }
        }
        self.drained.cancel();
        self.gw.shutdown().await;
        Ok(())
    }

    /// Whether the Host/Origin guard refuses this request (DNS-rebinding protection).
    fn refused(&self, head: &Parts, rid: &str) -> Option<Response> {
        let host = head
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| head.uri.authority().map(|a| a.as_str()));
        if !host.is_some_and(|h| self.allow.host_ok(h)) {
            return Some(Rejection::forbidden("this Host").into_response_with(rid));
        }
        if let Some(origin) = head.headers.get(header::ORIGIN)
            && !origin.to_str().is_ok_and(|o| self.allow.origin_ok(o))
        {
            return Some(Rejection::forbidden("this Origin").into_response_with(rid));
        }
        None
    }
}

/// `X-Request-Id`, as a constant: a header name given as text is copied into each map it enters.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Pause after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Serves one connection until it closes, or until shutdown lets it finish its request in hand.
async fn connection(srv: Arc<Server>, stream: TcpStream, mut closing: closing::Watch) {
    let header_read_timeout = srv.header_read_timeout;
    let max_header_bytes = srv.max_header_bytes;
    // The client's address, for the audit record of each request on this connection.
    let client = stream.peer_addr().ok();
    let service = service_fn(move |req| {
        let srv = srv.clone();
        async move { Ok::<_, Infallible>(dispatch(&srv, req, client).await) }
    });
    // A client that never finishes a request head (slowloris), or leaves a keep-alive
    // connection idle, gives its socket and task back after the header read timeout.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // A head larger than this is refused with 431 before it is parsed any further.
        .max_buf_size(max_header_bytes)
        .serve_connection(TokioIo::new(stream), service)
        // A `101` hands the socket to the WebSocket transport (`/mcp/ws`).
        .with_upgrades();
    tokio::pin!(conn);
    let mut graceful = false;
    let outcome = poll_fn(|cx| {
        if let Poll::Ready(r) = conn.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        if !graceful && closing.is_closed(cx) {
            // Finishes the request in hand (if any), then closes.
            graceful = true;
            conn.as_mut().graceful_shutdown();
            return conn.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await;
    if let Err(e) = outcome {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Every request: its id (accepted or generated, echoed on the answer), the Host/Origin guard,
/// then its route.
async fn dispatch(
    srv: &Arc<Server>,
    req: hyper::Request<Incoming>,
    client: Option<SocketAddr>,
) -> Response {
    let (head, body) = req.into_parts();
    let rid =
        request_id::accept_or_generate(head.headers.get(&REQUEST_ID).and_then(|v| v.to_str().ok()));
    let path = head.uri.path();
    // Liveness and readiness reveal nothing and are probed by address (a pod IP), not by name.
    let guarded = !matches!(path, "/healthz" | "/readyz");
    let mut resp = match guarded.then(|| srv.refused(&head, &rid)).flatten() {
        Some(refusal) => refusal,
        None => route(srv, &rid, &head, body, client).await,
    };
    oauth::challenge(srv, &head, &mut resp);
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

async fn route(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    head: &Parts,
    body: Incoming,
    client: Option<SocketAddr>,
) -> Response {
    let (get, head_only) = (head.method == Method::GET, head.method == Method::HEAD);
    let path = head.uri.path();
    if srv.ws.enabled
        && let Some(mcp) = ws::mcp_path(path)
    {
        return ws::handshake(srv, rid, head, mcp, client).await;
    }
    if srv.legacy.enabled
        && let Some(rest) = path.strip_prefix(legacy::PREFIX)
    {
        return legacy::route(srv, rid, head, body, rest, client).await;
    }
    // `/mcp`, or a published product's `/mcp/v/<id>` (an unknown or draft id is 404).
    let endpoint = match path.strip_prefix("/mcp/v/") {
        None if path == "/mcp" => Some(Endpoint::WHOLE),
        None => None,
        Some(id) => match srv.gw.product_endpoint(id) {
            Some(e) => Some(e),
            None => return (StatusCode::NOT_FOUND, "no such product\n").into_response(),
        },
    };
    if let Some(endpoint) = endpoint {
        if let Some(refused) = oauth::token_in_query(head, rid) {
            return refused;
        }
        let at = mcp::At { client, endpoint };
        return match head.method {
            Method::POST => mcp::post(srv, rid, &head.headers, body, at).await,
            Method::GET => mcp::get(srv, rid, &head.headers, at).await,
            // Boxed: ending a session is a large future, and rare; every request's future
            // would otherwise carry room for it.
            Method::DELETE => Box::pin(mcp::delete(srv, rid, &head.headers, at)).await,
            _ => method_not_allowed("GET, POST, DELETE"),
        };
    }
    if admin::owns(path) {
        // Boxed: the admin routes are rare, and large futures.
        return Box::pin(admin::route(srv, rid, head, body, client)).await;
    }
    match path {
        "/api/plugins" => match head.method {
            Method::POST => plugins::post(srv, rid, &head.headers, body).await,
            _ => method_not_allowed("POST"),
        },
        "/healthz" | "/readyz" | "/status" | "/metrics" | "/api/conformance"
            if !(get || head_only) =>
        {
            method_not_allowed("GET, HEAD")
        }
        "/healthz" => (StatusCode::OK, "ok\n").into_response(),
        "/readyz" => readyz(srv),
        "/status" => json_text(srv.gw.status_json()),
        "/metrics" => metrics(srv, head),
        "/api/conformance" => json_text(srv.gw.conformance()),
        p if p.starts_with(oauth::METADATA_PATH) && (get || head_only) => {
            oauth::metadata(srv, head, &p[oauth::METADATA_PATH.len()..])
        }
        _ => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn readyz(srv: &Server) -> Response {
    match srv.gw.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

/// `/metrics`: OpenMetrics when the scraper asks for it (Prometheus does), else Prometheus
/// text 0.0.4; 404 when metrics are off.
fn metrics(srv: &Server, head: &Parts) -> Response {
    let format = switchboard_telemetry::Format::negotiate(
        head.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    match srv.gw.metrics_text(format) {
        Some(text) => {
            let mut r = (StatusCode::OK, text).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            r
        }
        None => (StatusCode::NOT_FOUND, "metrics are off\n").into_response(),
    }
}

fn json_text(s: String) -> Response {
    let mut r = (StatusCode::OK, s).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
