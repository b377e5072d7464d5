//! The HTTP front door: routes, the layers every request passes, and graceful shutdown.
//!
//! Every request first gets its request id (accepted or generated, echoed on the response), then
//! passes the Host/Origin guard, then reaches its route. `/mcp` is the MCP endpoint ([`mcp`]);
//! `/healthz`, `/readyz`, `/status` and `/api/conformance` are for operators and tooling.
//!
//! Shutdown happens in two steps: new connections stop and standalone streams close at once (with
//! `retry:` so clients come back to another replica or after the restart); streams of requests in
//! flight get a drain period to deliver their responses before they close too.

mod classify;
mod events;
mod guard;
mod mcp;
mod modern;
mod rejection;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use switchboard_gateway::Gateway;
use switchboard_gateway::session::Session;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::request_id;
pub use crate::request_id::RequestId;
pub use events::EventStore;
pub use guard::Allowlist;
use rejection::Rejection;

/// How long requests in flight may keep their streams open after shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Shared state of the HTTP server.
pub struct Server {
    gw: Gateway,
    stores: Mutex<HashMap<Arc<str>, Arc<EventStore>>>,
    allow: Allowlist,
    max_body: usize,
    event_buffer: usize,
    keepalive: Duration,
    /// Fires when shutdown begins: standalone streams close.
    streams_closing: CancellationToken,
    /// Fires after the drain period: every stream closes.
    drained: CancellationToken,
}

impl Server {
    pub fn new(gw: Gateway) -> Arc<Server> {
        let cfg = gw.config();
        Arc::new(Server {
            allow: Allowlist::new(&cfg.http),
            max_body: cfg.http.max_body_bytes,
            event_buffer: cfg.sessions.event_buffer,
            keepalive: cfg.sessions.keepalive,
            gw,
            stores: Mutex::new(HashMap::new()),
            streams_closing: CancellationToken::new(),
            drained: CancellationToken::new(),
        })
    }

    fn stores(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<EventStore>>> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, session: &str) -> Option<Arc<EventStore>> {
        self.stores().get(session).cloned()
    }

    /// Registers a new session's event store and starts moving its outbox into the standalone
    /// stream. The pump ends when the session is gone, and takes the store with it.
    fn attach(self: &Arc<Self>, session: &Arc<Session>, store: Arc<EventStore>) {
        self.stores().insert(session.id.clone(), store.clone());
        let Some(mut outbox) = session.take_outbox() else {
            return;
        };
        let me = Arc::downgrade(self);
        let id = session.id.clone();
        tokio::spawn(async move {
            while let Some(m) = outbox.recv().await {
                store.push(events::STANDALONE, m);
            }
            store.closed.cancel();
            if let Some(me) = me.upgrade() {
                me.stores().remove(&id);
            }
        });
    }

    fn detach(&self, session: &str) {
        if let Some(s) = self.stores().remove(session) {
            s.closed.cancel();
        }
    }

    /// The router, with every layer.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/mcp", get(mcp::get).post(mcp::post).delete(mcp::delete))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/status", get(status))
            .route("/api/conformance", get(conformance))
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(self.clone(), guard_layer))
            .layer(middleware::from_fn(request_id_layer))
            .with_state(self.clone())
    }

    /// Serves until `signal` resolves, then drains and shuts the gateway down.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router();
        let me = self.clone();
        let shutdown = async move {
            signal.await;
            tracing::info!("shutting down: draining requests in flight");
            me.streams_closing.cancel();
            let me2 = me.clone();
            tokio::spawn(async move {
                tokio::time::sleep(DRAIN).await;
                me2.drained.cancel();
            });
        };
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown);
        // Graceful shutdown waits for every connection; bound it by the drain period.
        let drained = self.drained.clone();
        tokio::select! {
            r = served => r?,
            _ = async { drained.cancelled().await; tokio::time::sleep(Duration::from_secs(1)).await } => {
                tracing::warn!("drain period over; closing remaining connections");
            }
        }
        self.drained.cancel();
        self.gw.shutdown().await;
        Ok(())
    }
}

async fn request_id_layer(mut req: Request, next: Next) -> Response {
    let rid = request_id::accept_or_generate(
        req.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
    );
    req.extensions_mut().insert(RequestId(rid.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

async fn guard_layer(State(srv): State<Arc<Server>>, req: Request, next: Next) -> Response {
    // Liveness and readiness reveal nothing and are probed by address (a pod IP), not by name.
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    let rid = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(request_id::generate);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if !host.is_some_and(|h| srv.allow.host_ok(h)) {
        return Rejection::forbidden("this Host").into_response_with(&rid);
    }
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin.to_str().is_ok_and(|o| srv.allow.origin_ok(o))
    {
        return Rejection::forbidden("this Origin").into_response_with(&rid);
    }
    next.run(req).await
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(srv): State<Arc<Server>>) -> Response {
    if srv.gw.is_ready() && !srv.gw.is_shutting_down() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn status(State(srv): State<Arc<Server>>) -> Response {
    json_text(srv.gw.status_json())
}

async fn conformance() -> Response {
    json_text(format!(
        "{{\"server\":{{\"name\":\"switchboard\",\"version\":\"{}\"}},\"revisions\":[\"2025-06-18\",\"2025-11-25\"],\"transports\":[\"streamable-http\",\"stdio\"],\"upstream_revisions\":[\"2024-11-05\",\"2025-03-26\",\"2025-06-18\",\"2025-11-25\"],\"upstream_transports\":[\"stdio\",\"streamable-http\",\"sse\"],\"capabilities\":{{\"tools\":{{\"listChanged\":true}},\"prompts\":{{\"listChanged\":true}},\"resources\":{{\"subscribe\":true,\"listChanged\":true}},\"logging\":{{}},\"completions\":{{}}}},\"endpoints\":{{\"mcp\":\"/mcp\",\"health\":\"/healthz\",\"ready\":\"/readyz\",\"status\":\"/status\"}}}}",
        env!("CARGO_PKG_VERSION")
    ))
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn json_text(s: String) -> Response {
    let mut r = (StatusCode::OK, s).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
