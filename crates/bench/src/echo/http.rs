//! The echo server over MCP Streamable HTTP, on hyper directly (no router, no middleware).
//!
//! POST `/mcp` answers with plain JSON (never SSE); `initialize` mints a session id returned in
//! `Mcp-Session-Id`, and every later POST must carry a known one (400 without, 404 unknown).
//! Notifications and responses get 202. GET is 405 (no server-initiated stream), DELETE ends the
//! session.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use super::{Echo, Reply};
use crate::jsonrpc::Envelope;

const SESSION_HEADER: &str = "mcp-session-id";
/// Largest request body accepted.
const MAX_BODY: usize = 64 << 20;

/// Shared state of the HTTP transport.
struct State {
    echo: Echo,
    sessions: Mutex<HashSet<Box<str>>>,
    next_session: AtomicU64,
    /// Distinguishes this process's session ids from an earlier instance's on the same port.
    epoch: u64,
}

/// Serves connections on `listener` until `lifetime` has passed.
pub async fn serve(listener: TcpListener, echo: Echo, lifetime: Duration) -> anyhow::Result<()> {
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let state = Arc::new(State {
        echo,
        sessions: Mutex::new(HashSet::new()),
        next_session: AtomicU64::new(1),
        epoch,
    });
    crate::http1::serve(
        listener,
        lifetime,
        "switchboard-echo",
        state,
        |st, req| async move { handle(&st, req).await },
    )
    .await;
    Ok(())
}

async fn handle(st: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/mcp" {
        return status(StatusCode::NOT_FOUND);
    }
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match *req.method() {
        Method::POST => {}
        Method::DELETE => {
            let removed = session.is_some_and(|s| sessions(st).remove(s.as_str()));
            return status(if removed {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            });
        }
        _ => {
            let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST, DELETE"));
            return r;
        }
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let msg = match Envelope::parse(&body) {
        Ok(m) => m,
        Err(_) => return json(StatusCode::BAD_REQUEST, st.echo.handle(&body)),
    };
    if msg.is_request() && msg.method.as_deref() == Some("initialize") {
        let reply = st.echo.respond(&msg);
        let id = format!(
            "echo-{:x}-{}",
            st.epoch,
            st.next_session.fetch_add(1, Ordering::Relaxed)
        );
        let mut r = json(StatusCode::OK, reply);
        if let Ok(v) = HeaderValue::from_str(&id) {
            r.headers_mut().insert(SESSION_HEADER, v);
            sessions(st).insert(id.into_boxed_str());
        }
        return r;
    }
    match session {
        None => return status(StatusCode::BAD_REQUEST),
        Some(s) if !sessions(st).contains(s.as_str()) => return status(StatusCode::NOT_FOUND),
        Some(_) => {}
    }
    match st.echo.respond(&msg) {
        Reply::None => status(StatusCode::ACCEPTED),
        Reply::After(d, b) => {
            tokio::time::sleep(d).await;
            json(StatusCode::OK, Reply::Now(b))
        }
        now => json(StatusCode::OK, now),
    }
}

fn sessions(st: &State) -> std::sync::MutexGuard<'_, HashSet<Box<str>>> {
    // A panic while holding this lock leaves the set intact: keep serving.
    st.sessions.lock().unwrap_or_else(|p| p.into_inner())
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

fn json(code: StatusCode, reply: Reply) -> Response<Full<Bytes>> {
    let body = match reply {
        Reply::Now(b) | Reply::After(_, b) => b,
        Reply::None => return status(StatusCode::ACCEPTED),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
