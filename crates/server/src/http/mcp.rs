//! The MCP endpoint: POST, GET and DELETE on `/mcp` (Streamable HTTP, 2025-06-18 and 2025-11-25).
//!
//! POST checks the request's shape in the order the spec's status codes imply (media type 415,
//! Accept 406, size 413, JSON 400, version 400, session 400/404), then hands the message to the
//! gateway. A request's answer is plain JSON when nothing else comes first; as soon as a related
//! message (progress, a log line, an elicitation) arrives before the response, the answer becomes
//! an SSE stream backed by the session's [`EventStore`], so a dropped connection can resume.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::Incoming;
use switchboard_gateway::pipeline::Refused;
use switchboard_gateway::principal::Principal;
use switchboard_gateway::request::Request;
use switchboard_gateway::sessions::Session;
use switchboard_gateway::view::Endpoint;
use switchboard_gateway::{Answer, Related, SessionRefused, related};
use switchboard_protocol::message::encode;
use switchboard_protocol::{ErrorCode, Kind, Message};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Server;
use super::events::{EventStore, Reader, STANDALONE, parse_event_id, sse_body};
use super::inputs::{Inputs, credentials};
use super::rejection::Rejection;

use super::classify::{Route, SESSION_HEADER, VersionHeader, classify};

/// Related messages a request may queue before its stream reader catches up.
pub(super) const RELATED_QUEUE: usize = 256;

/// Where a request came from and to: the client's address and the endpoint it addressed.
#[derive(Clone, Copy)]
pub(super) struct At {
    pub client: Option<SocketAddr>,
    pub endpoint: Endpoint,
}

/// POST: one JSON-RPC message.
pub(super) async fn post(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    headers: &HeaderMap,
    body: Incoming,
    at: At,
) -> Response {
    match handle_post(srv, rid, headers, body, at).await {
        Ok(r) => r,
        Err(rej) => rej.into_response_with(rid),
    }
}

async fn handle_post(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    headers: &HeaderMap,
    body: Incoming,
    at: At,
) -> Result<Response, Rejection> {
    let client = at.client;
    if !super::body::is_json(headers) {
        return Err(Rejection::unsupported_media());
    }
    let accept = header_str(headers, header::ACCEPT.as_str()).unwrap_or("");
    if !accepts(accept, "application/json") || !accepts(accept, "text/event-stream") {
        return Err(Rejection::not_acceptable(
            "application/json and text/event-stream",
        ));
    }
    let bytes = super::body::read(srv, body).await?;
    let msg = Message::parse(bytes).map_err(|e| Rejection::parse(&e))?;
    match classify(headers, &msg) {
        Route::Handshake => {}
        Route::Modern => return super::modern::post(srv, rid, headers, msg, at).await,
        Route::Refuse(r) => return Err(r.with_id(msg.id().cloned())),
    }
    let principal = authenticate(srv, rid, headers, Some(&msg), "POST /mcp", client).await?;
    let session_id = header_str(headers, SESSION_HEADER);
    if msg.method() == Some("initialize") && msg.is_request() {
        if session_id.is_some_and(|id| srv.gw.session(id, &principal, at.endpoint).is_some()) {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                "this session is already initialized",
            )
            .with_id(msg.id().cloned()));
        }
        return crate::request_id::span(rid)
            .in_scope(|| initialize(srv, rid, &principal, &msg, at.endpoint));
    }
    let Some(session_id) = session_id else {
        return Err(Rejection::missing_session().with_id(msg.id().cloned()));
    };
    let session = srv
        .gw
        .session(session_id, &principal, at.endpoint)
        .ok_or_else(|| Rejection::unknown_session().with_id(msg.id().cloned()))?;
    match msg.kind() {
        Kind::Notification => {
            // Boxed, as the listen of a 2026-07-28 POST is: large, and not the common case.
            Box::pin(srv.gw.notification(&session, msg))
                .instrument(crate::request_id::span(rid))
                .await;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Kind::Result | Kind::Error => {
            crate::request_id::span(rid).in_scope(|| {
                if !srv.gw.client_response(&session, msg) {
                    tracing::debug!(session = %session.id, "response to no pending request ignored");
                }
            });
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Kind::Request => {
            let inputs = Inputs::read(headers, client, srv.gw.forwards_caller_tokens());
            Ok(request(srv, rid, session, principal, msg, inputs).await)
        }
    }
}

/// Who the caller is (the same for every kind of message it sends). A refusal is audited
/// before it is answered: `msg` is the refused message, `verb` names a request without one.
pub(super) async fn authenticate(
    srv: &Server,
    rid: &str,
    headers: &HeaderMap,
    msg: Option<&Message>,
    verb: &str,
    client: Option<SocketAddr>,
) -> Result<Principal, Rejection> {
    match srv.gw.authenticate(credentials(headers)).await {
        Ok(p) => Ok(p),
        Err(e) => {
            if srv.gw.audit().is_some() {
                // Boxed: a refusal is rare, and every request's future would otherwise carry
                // room for the audit record.
                Box::pin(srv.gw.audit_refusal(Refused {
                    msg,
                    method: verb,
                    error: e.clone(),
                    request_id: rid,
                    client,
                    http_status: switchboard_gateway::error::status_of(e.code),
                }))
                .await;
            }
            Err(Rejection::from_error(e).with_id(msg.and_then(|m| m.id().cloned())))
        }
    }
}

fn initialize(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    principal: &Principal,
    msg: &Message,
    endpoint: Endpoint,
) -> Result<Response, Rejection> {
    let Some(id) = msg.id().cloned() else {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST,
            "initialize must be a request",
        ));
    };
    let (session, result) = match srv.gw.initialize(principal, msg.params(), endpoint) {
        Ok(ok) => ok,
        Err(SessionRefused::TooMany(why)) => {
            return Err(Rejection::overloaded(&format!("{why}; try again later")).with_id(Some(id)));
        }
        Err(SessionRefused::Invalid(e)) => {
            // A refusal HTTP has a status for (a product's scopes: 403) keeps it.
            let status = StatusCode::from_u16(switchboard_gateway::error::status_of(e.code))
                .unwrap_or(StatusCode::OK);
            let body = encode::error(Some(&id), &e.with_str("request_id", rid).to_json());
            return Ok(json(status, Bytes::from(body)));
        }
    };
    let store = EventStore::new(srv.event_buffer, session.record.revision.has_sse_priming());
    srv.attach(&session, store);
    let mut resp = json(StatusCode::OK, Bytes::from(encode::result(&id, &result)));
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    Ok(resp)
}

/// Runs one request: JSON if its response comes first, SSE as soon as anything else does.
async fn request(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    session: Arc<Session>,
    principal: Principal,
    msg: Message,
    inputs: Inputs,
) -> Response {
    let (tx, mut rx) = related::channel::<Bytes>(RELATED_QUEUE);
    let tx = Related::Own(tx);
    let gw = srv.gw.clone();
    let s2 = session.clone();
    let rid2 = rid.clone();
    // Polled here, not spawned: a plain JSON answer (the common case) costs no task hop. The
    // future moves to a task of its own only if the answer becomes a stream.
    let mut handler = RunToEnd::new(async move {
        let req = inputs.apply(Request::new(&s2, &rid2, &tx).with_principal(&principal));
        gw.request(&req, &msg).await
    });
    let (first, answer) = match start(&mut handler, &mut rx).await {
        Ok(Start::Json(a)) => return json_answer(a),
        Ok(Start::Stream(first, answer)) => (first, answer),
        Err(broken) => return broken.into_response_with(rid),
    };
    let Some(store) = session.attachment::<EventStore>() else {
        return Rejection::unknown_session().into_response_with(rid);
    };
    let stream = store.open_stream();
    let after = store.head();
    store.push(stream, first);
    // The stream lives in the store, not in this connection: if the client goes away the call
    // still completes and its events wait there for a resumption.
    let st = store.clone();
    tokio::spawn(async move {
        let a = match answer {
            Some(a) => a,
            // Drive the call and move what it relates onto the stream, in order.
            None => loop {
                tokio::select! {
                    biased;
                    m = rx.recv() => match m {
                        Some(m) => st.push(stream, m),
                        None => break (&mut handler).await,
                    },
                    a = &mut handler => break a,
                }
            },
        };
        // Whatever it sent just before answering still goes before the answer.
        while let Some(m) = rx.try_recv() {
            st.push(stream, m);
        }
        if let Answer::Response(b) | Answer::Status(_, b) | Answer::Replayed(b) = a {
            st.push(stream, b);
        }
        st.finish(stream);
    });
    sse(srv, store, stream, after, false)
}

/// How a request's answer begins.
pub(super) enum Start {
    /// The answer came first: plain JSON.
    Json(Answer),
    /// A related message came first (the answer too, perhaps): the answer is a stream.
    Stream(Bytes, Option<Answer>),
}

/// Polls the call until its answer or its first related message, whichever comes first.
pub(super) async fn start<F: Future<Output = Answer> + Send + 'static>(
    handler: &mut RunToEnd<F>,
    rx: &mut related::Receiver<Bytes>,
) -> Result<Start, Rejection> {
    let early = tokio::select! {
        biased;
        m = rx.recv() => Err(m),
        a = &mut *handler => Ok(a),
    };
    match early {
        // Only the finished call drops its sender, and the call is polled only here, where its
        // completion is seen first: this cannot happen, but must not be a panic if it ever does.
        Err(None) => Err(Rejection::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::INTERNAL_ERROR,
            "internal error",
        )),
        Err(Some(m)) => Ok(Start::Stream(m, None)),
        Ok(a) => Ok(match rx.try_recv() {
            Some(m) => Start::Stream(m, Some(a)),
            None => Start::Json(a),
        }),
    }
}

/// A gateway call polled in place by the POST handler that, if the handler is dropped before it
/// finishes (the client closed the connection), goes on in a task of its own: a closed POST stream
/// is not a cancellation, and the call's bookkeeping (in-flight entry, subscriptions) must run
/// to its end.
pub(super) struct RunToEnd<F: Future<Output = Answer> + Send + 'static> {
    fut: Option<Pin<Box<F>>>,
    /// Fired when the handler is dropped unfinished (2026-07-28: closing is cancelling).
    cancel_on_drop: Option<CancellationToken>,
}

impl<F: Future<Output = Answer> + Send + 'static> RunToEnd<F> {
    pub(super) fn new(f: F) -> Self {
        RunToEnd {
            fut: Some(Box::pin(f)),
            cancel_on_drop: None,
        }
    }

    /// Like [`RunToEnd::new`], but a drop before the end also cancels the call.
    pub(super) fn cancelling(f: F, cancel: CancellationToken) -> Self {
        RunToEnd {
            fut: Some(Box::pin(f)),
            cancel_on_drop: Some(cancel),
        }
    }
}

impl<F: Future<Output = Answer> + Send + 'static> Future for RunToEnd<F> {
    type Output = Answer;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Answer> {
        let Some(f) = self.fut.as_mut() else {
            return std::task::Poll::Ready(Answer::Cancelled);
        };
        let out = f.as_mut().poll(cx);
        if out.is_ready() {
            self.fut = None;
        }
        out
    }
}

impl<F: Future<Output = Answer> + Send + 'static> Drop for RunToEnd<F> {
    fn drop(&mut self) {
        if let Some(f) = self.fut.take() {
            if let Some(c) = &self.cancel_on_drop {
                c.cancel();
            }
            tokio::spawn(async move {
                let _ = f.await;
            });
        }
    }
}

/// An answer that came first, as plain JSON. (Only 2026-07-28 answers carry a status of their
/// own; a handshake session's errors are all 200.)
pub(super) fn json_answer(a: Answer) -> Response {
    match a {
        Answer::Response(b) => json(StatusCode::OK, b),
        Answer::Replayed(b) => {
            let mut r = json(StatusCode::OK, b);
            r.headers_mut().insert(
                HeaderName::from_static("idempotent-replayed"),
                HeaderValue::from_static("true"),
            );
            r
        }
        Answer::Status(s, b) => {
            let scopes = (s == 403).then(|| required_scopes(&b)).flatten();
            let retry = (s == 429).then(|| retry_after(&b)).flatten();
            let mut r = json(
                StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST),
                b,
            );
            if s == 401 {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"switchboard\""),
                );
            }
            if let Some(secs) = retry {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            if let Some(v) = scopes.and_then(|v| HeaderValue::from_str(&v).ok()) {
                r.headers_mut()
                    .insert(HeaderName::from_static("x-required-scopes"), v);
            }
            r
        }
        // Cancelled by the client: the spec sends no response, so the POST gets none either.
        Answer::Cancelled => StatusCode::ACCEPTED.into_response(),
    }
}

/// A 429 answer's `error.data.retry_after_ms`, in whole seconds (rounded up), for `Retry-After`.
fn retry_after(body: &Bytes) -> Option<u64> {
    use switchboard_protocol::object;
    let msg = Message::parse(body.clone()).ok()?;
    let data = object::get(msg.error()?, "data")?;
    let ms: u64 = object::get(data, "retry_after_ms")?.trim().parse().ok()?;
    Some(ms.div_ceil(1000))
}

/// A 403 answer's `error.data.required_scopes`, space-separated, for `X-Required-Scopes`.
fn required_scopes(body: &Bytes) -> Option<String> {
    use switchboard_protocol::object;
    let msg = Message::parse(body.clone()).ok()?;
    let data = object::get(msg.error()?, "data")?;
    let list = object::array_items(object::get(data, "required_scopes")?)?;
    Some(
        list.iter()
            .filter_map(|s| object::string_value(s))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// GET: the standalone stream, or the resumption of any stream with `Last-Event-ID`.
pub(super) async fn get(srv: &Arc<Server>, rid: &str, headers: &HeaderMap, at: At) -> Response {
    let accept = header_str(headers, header::ACCEPT.as_str()).unwrap_or("");
    if !accepts(accept, "text/event-stream") {
        return Rejection::not_acceptable("text/event-stream").into_response_with(rid);
    }
    if let Some(r) = no_session_verb(headers) {
        return r;
    }
    if let VersionHeader::Unknown(v) = VersionHeader::read(headers) {
        return Rejection::bad_version(v).into_response_with(rid);
    }
    let Some(session_id) = header_str(headers, SESSION_HEADER) else {
        return Rejection::missing_session().into_response_with(rid);
    };
    let principal = match authenticate(srv, rid, headers, None, "GET /mcp", at.client).await {
        Ok(p) => p,
        Err(r) => return r.into_response_with(rid),
    };
    let Some(store) = srv
        .gw
        .session(session_id, &principal, at.endpoint)
        .and_then(|s| s.attachment::<EventStore>())
    else {
        return Rejection::unknown_session().into_response_with(rid);
    };
    if let Some(last) = header_str(headers, "last-event-id") {
        let Some((stream, seq)) = parse_event_id(last).filter(|(s, _)| store.knows(*s)) else {
            return Rejection::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                "Last-Event-ID names no stream of this session",
            )
            .into_response_with(rid);
        };
        if stream == STANDALONE && !store.attach_standalone() {
            return conflict(rid);
        }
        return sse(srv, store, stream, seq, true);
    }
    if !store.attach_standalone() {
        return conflict(rid);
    }
    let after = store.head();
    sse(srv, store, STANDALONE, after, true)
}

/// GET and DELETE belong to sessions: a 2026-07-28 client (no session, the modern version
/// header) gets 405, as the revision has neither a standalone stream nor sessions to end.
fn no_session_verb(headers: &HeaderMap) -> Option<Response> {
    let modern = !headers.contains_key(SESSION_HEADER)
        && VersionHeader::read(headers) == VersionHeader::Modern;
    modern.then(|| super::method_not_allowed("POST"))
}

fn conflict(rid: &str) -> Response {
    Rejection::new(
        StatusCode::CONFLICT,
        ErrorCode::INVALID_REQUEST,
        "this session already has a GET stream open",
    )
    .into_response_with(rid)
}

/// DELETE: ends the session and everything it holds upstream.
pub(super) async fn delete(srv: &Arc<Server>, rid: &str, headers: &HeaderMap, at: At) -> Response {
    if let Some(r) = no_session_verb(headers) {
        return r;
    }
    let Some(session_id) = header_str(headers, SESSION_HEADER) else {
        return Rejection::missing_session().into_response_with(rid);
    };
    let principal = match authenticate(srv, rid, headers, None, "DELETE /mcp", at.client).await {
        Ok(p) => p,
        Err(r) => return r.into_response_with(rid),
    };
    // Another principal's session is as unknown as one that never existed.
    let Some(session) = srv.gw.session(session_id, &principal, at.endpoint) else {
        return Rejection::unknown_session().into_response_with(rid);
    };
    if srv
        .gw
        .close_session(session_id)
        .instrument(crate::request_id::span(rid))
        .await
    {
        if let Some(store) = session.attachment::<EventStore>() {
            store.closed.cancel();
        }
        StatusCode::OK.into_response()
    } else {
        Rejection::unknown_session().into_response_with(rid)
    }
}

fn sse(
    srv: &Arc<Server>,
    store: Arc<EventStore>,
    stream: u64,
    after: u64,
    standalone: bool,
) -> Response {
    let shutdown = if standalone {
        srv.streams_closing.clone()
    } else {
        srv.drained.clone()
    };
    let reader = Reader {
        store,
        stream,
        after,
        prime: true,
        keepalive: srv.keepalive,
        shutdown,
    };
    event_stream(Body::from_stream(sse_body(reader)))
}

/// A response whose body is an SSE stream, with the headers that keep proxies from holding it.
pub(super) fn event_stream(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

pub(super) fn json(status: StatusCode, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(super) fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether an Accept header admits `mime` (wildcards count).
fn accepts(accept: &str, mime: &str) -> bool {
    let (ty, _) = mime.split_once('/').unwrap_or((mime, ""));
    accept.split(',').any(|part| {
        let m = part.split(';').next().unwrap_or("").trim();
        m.eq_ignore_ascii_case(mime)
            || m == "*/*"
            || m.strip_suffix("/*")
                .is_some_and(|t| t.eq_ignore_ascii_case(ty))
    })
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[test]
    fn accept_matching() {
        assert!(accepts(
            "application/json, text/event-stream",
            "text/event-stream"
        ));
        assert!(accepts("*/*", "application/json"));
        assert!(accepts("text/*;q=0.5", "text/event-stream"));
        assert!(!accepts("application/json", "text/event-stream"));
        assert!(!accepts("", "application/json"));
    }
}
