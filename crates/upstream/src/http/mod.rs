//! Upstreams that speak MCP Streamable HTTP.
//!
//! Every request is its own POST whose answer is either one JSON message or an SSE stream carrying
//! the request's notifications, server-to-client requests and finally its response; everything on
//! that stream is delivered as related to the request. A GET stream carries the server's unrelated
//! messages. Both kinds of stream are resumed after a drop with `Last-Event-ID`, waiting the
//! `retry` interval the server asked for.
//!
//! Sessions expire on servers' own schedules. When an upstream answers 404 (or 400 naming the
//! session) for a session it issued, the session is re-created transparently: a fresh `initialize`,
//! then the log level and resource subscriptions this connection had set are replayed, then the
//! failed message is sent again. Clients of the gateway never see the upstream's session change.
//!
//! `client.rs` picks the HTTP client (the lean pool in `pool.rs` for plain `http://`, reqwest for
//! the rest); this file is the MCP side of the transport and works the same over either.

mod client;
mod pool;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use switchboard_protocol::headers::ParamHeader;
use switchboard_protocol::message::encode;
use switchboard_protocol::sse::Parser;
use switchboard_protocol::{ErrorCode, Id, Kind, Message, Revision, RpcError};

use crate::backoff::Backoff;
use crate::egress::EgressPolicy;
use crate::error::UpstreamError;
use crate::transport::{Link, Outbound, SendError, Transport};
pub(crate) use client::reqwest_client;
use client::{Answer, Client};
use switchboard_protocol::lock;

/// Where a Streamable HTTP (or legacy SSE) upstream lives.
#[derive(Clone)]
pub struct HttpSpec {
    pub url: String,
    /// Extra headers sent with every request (e.g. `Authorization`). Values are secrets: never
    /// shown by `Debug`, and marked sensitive on the wire.
    pub headers: Vec<(String, String)>,
    /// What the upstream may be connected to, through which proxy, with which TLS.
    pub egress: EgressPolicy,
    /// Where a bearer token for every request comes from (OAuth client credentials), shared by
    /// all connections to the upstream so the token outlives reconnects.
    pub token: Option<Arc<crate::oauth::TokenSource>>,
}

impl std::fmt::Debug for HttpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpSpec")
            .field("url", &crate::egress::display_url_str(&self.url))
            .field("headers", &names)
            .field("egress", &self.egress)
            .finish()
    }
}

const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
const LAST_EVENT_ID_HEADER: HeaderName = HeaderName::from_static("last-event-id");
/// How much of a refusal's body is read for its error message (and for the word "session").
const REFUSAL_TEXT_BYTES: usize = 64 * 1024;
/// How long to wait before resuming a dropped stream when the server named no `retry`.
const DEFAULT_RETRY: Duration = Duration::from_millis(1000);
/// Resumption attempts for one stream before giving up on it.
const MAX_RESUMES: u32 = 5;
/// How long the GET stream waits after consecutive failures to open it.
const GET_BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(15));

/// The `x-mcp-header` annotations of an upstream's tools, by its own tool names.
type ParamHeaders = HashMap<String, Arc<[ParamHeader]>>;

/// The headers a 2026-07-28 POST mirrors from its body: the version, `Mcp-Method`, `Mcp-Name`
/// (the upstream's own tool or prompt name, or the URI) and one `Mcp-Param-*` per annotated
/// argument present in the call. Values that are not plain visible ASCII travel base64-encoded.
fn modern_headers(
    param_headers: &Mutex<Arc<ParamHeaders>>,
    body: &Bytes,
    headers: &mut HeaderMap,
) -> Result<(), UpstreamError> {
    use switchboard_protocol::headers::{ParamType, encode as header_value};
    use switchboard_protocol::object;
    headers.insert(
        VERSION_HEADER,
        HeaderValue::from_static(Revision::V2026_07_28.as_str()),
    );
    let Ok(msg) = Message::parse(body.clone()) else {
        return Ok(());
    };
    let Some(method) = msg.method() else {
        return Ok(());
    };
    let value = |s: &str| {
        HeaderValue::from_str(&header_value(s))
            .map_err(|_| UpstreamError::Protocol(format!("cannot send {s:?} as a header")))
    };
    headers.insert(HeaderName::from_static("mcp-method"), value(method)?);
    let Some(key) = switchboard_protocol::headers::name_param(method) else {
        return Ok(());
    };
    let Some(name) = msg.param_str(key) else {
        return Ok(());
    };
    headers.insert(HeaderName::from_static("mcp-name"), value(&name)?);
    if method != "tools/call" {
        return Ok(());
    }
    let annotations = lock(param_headers).get(name.as_ref()).cloned();
    let (Some(annotations), Some(args)) = (annotations, msg.param("arguments")) else {
        return Ok(());
    };
    for a in annotations.iter() {
        let Some(raw) = a.value_in(args) else {
            continue;
        };
        let text = match a.ty {
            ParamType::String => match object::string_value(raw) {
                Some(s) => header_value(&s),
                None => continue,
            },
            ParamType::Integer | ParamType::Boolean => raw.to_owned(),
        };
        let name = HeaderName::from_bytes(a.header.as_bytes())
            .map_err(|_| UpstreamError::Protocol(format!("bad x-mcp-header name {:?}", a.name)))?;
        let text = HeaderValue::from_str(&text)
            .map_err(|_| UpstreamError::Protocol(format!("cannot send {text:?} as a header")))?;
        headers.insert(name, text);
    }
    Ok(())
}

/// Installs the process-wide TLS crypto provider once (ring: small, and no C toolchain surprises).
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub(crate) struct HttpWire {
    client: Client,
    /// For error messages, without credentials or query; the client has its own parsed copy.
    url: String,
    session: Mutex<Option<HeaderValue>>,
    revision: Mutex<Option<Revision>>,
    /// The connection's sink, its settings, and what to replay after re-initialising.
    link: Link,
    /// The `x-mcp-header` annotations of the upstream's tools, for a modern upstream's POSTs.
    param_headers: Mutex<Arc<ParamHeaders>>,
    /// Serialises re-initialisation; holds the session generation it produced.
    reinit: tokio::sync::Mutex<u64>,
    generation: AtomicU64,
    get_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    reinit_ids: AtomicU64,
}

pub(crate) fn start(spec: &HttpSpec, link: Link) -> Result<Arc<HttpWire>, UpstreamError> {
    let url = reqwest::Url::parse(&spec.url).map_err(|e| {
        UpstreamError::Unavailable(format!(
            "bad url {}: {e}",
            crate::egress::display_url_str(&spec.url)
        ))
    })?;
    let client = Client::new(&url, &spec.headers, &spec.egress, spec.token.clone())?;
    let url = crate::egress::display_url(&url);
    let wire = Arc::new(HttpWire {
        client,
        url,
        session: Mutex::new(None),
        revision: Mutex::new(None),
        link,
        param_headers: Mutex::new(Arc::default()),
        reinit: tokio::sync::Mutex::new(0),
        generation: AtomicU64::new(0),
        get_task: Mutex::new(None),
        reinit_ids: AtomicU64::new(1),
    });
    Ok(wire)
}

impl Transport for Arc<HttpWire> {
    async fn send_request(&self, id: u64, body: Bytes, out: Outbound<'_>) -> Result<(), SendError> {
        self.post_request(id, body, out).await;
        Ok(())
    }

    async fn send(&self, body: Bytes) -> Result<(), SendError> {
        Ok(self.send_message(body).await?)
    }

    /// Later requests carry the version header, and a handshake-era session opens its GET stream
    /// (a 2026-07-28 one has none: its changes come on a listen).
    fn opened(&self, revision: Revision) {
        *lock(&self.revision) = Some(revision);
        if self.link.standalone_stream && !self.link.modern {
            self.start_get_stream();
        }
    }

    fn set_param_headers(&self, headers: ParamHeaders) {
        *lock(&self.param_headers) = Arc::new(headers);
    }

    fn shared_pipe(&self) -> bool {
        false
    }

    async fn close(&self) {
        self.terminate().await;
    }
}

impl HttpWire {
    /// (Re)opens the GET stream for the current upstream session.
    fn start_get_stream(self: &Arc<Self>) {
        let me = self.clone();
        let task = tokio::spawn(async move { me.get_loop().await });
        if let Some(old) = lock(&self.get_task).replace(task) {
            old.abort();
        }
    }

    /// POSTs `body` with the headers of the current session.
    async fn post(&self, body: Bytes, out: Outbound<'_>) -> Result<Answer, UpstreamError> {
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(rid) = out.request_id {
            let value = HeaderValue::from_str(rid).map_err(|_| {
                UpstreamError::Unavailable(format!("POST {}: bad X-Request-Id {rid:?}", self.url))
            })?;
            headers.insert(REQUEST_ID_HEADER, value);
        }
        // The gateway's own trace context (valid by construction; a value that is not is left
        // out rather than failing the call).
        if let Some(tp) = out.traceparent.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static("traceparent"), tp);
            if let Some(ts) = out.tracestate.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(HeaderName::from_static("tracestate"), ts);
            }
        }
        self.session_headers(&mut headers);
        if self.link.modern {
            modern_headers(&self.param_headers, &body, &mut headers)?;
        }
        if let Some(auth) = out.authorization {
            headers.insert(reqwest::header::AUTHORIZATION, auth.clone());
        }
        self.client
            .send(Method::POST, headers, body)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("POST {}: {e}", self.url)))
    }

    /// A GET for an SSE stream in the current session, resuming after `last` if given.
    async fn get(&self, last: Option<&str>) -> Result<Answer, String> {
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Some(last) = last {
            let value = HeaderValue::from_str(last)
                .map_err(|_| format!("bad Last-Event-ID {last:?} from the server"))?;
            headers.insert(LAST_EVENT_ID_HEADER, value);
        }
        self.session_headers(&mut headers);
        self.client.send(Method::GET, headers, Bytes::new()).await
    }

    fn session_headers(&self, headers: &mut HeaderMap) {
        if let Some(s) = lock(&self.session).clone() {
            headers.insert(SESSION_HEADER, s);
        }
        if let Some(r) = *lock(&self.revision)
            && r.has_version_header()
        {
            headers.insert(VERSION_HEADER, HeaderValue::from_static(r.as_str()));
        }
    }

    fn capture_session(&self, resp: &Answer) {
        if let Some(v) = resp.headers.get(SESSION_HEADER) {
            let mut s = lock(&self.session);
            if s.as_ref() != Some(v) {
                *s = Some(v.clone());
            }
        }
    }

    /// POSTs a request and reads its answer; it (and everything related) is delivered to the
    /// sink, and a failure resolves the request with an error naming the upstream.
    async fn post_request(self: &Arc<Self>, id: u64, body: Bytes, out: Outbound<'_>) {
        if let Err(e) = self.run_request(id, body, out).await {
            self.fail(id, &e);
        }
    }

    async fn run_request(
        self: &Arc<Self>,
        id: u64,
        body: Bytes,
        out: Outbound<'_>,
    ) -> Result<(), UpstreamError> {
        let resp = self.post_in_session(&body, out).await?;
        let status = resp.status;
        if status == StatusCode::ACCEPTED {
            // The answer will arrive on the GET stream.
            return Ok(());
        }
        if !status.is_success() {
            let text = resp.text(REFUSAL_TEXT_BYTES).await;
            return Err(http_error(status, &text));
        }
        self.read_answer(resp, Some(id)).await
    }

    /// POSTs `body` in the current upstream session. If the upstream says that session is gone,
    /// it is re-created once and the POST repeated; any other answer is returned as it is.
    async fn post_in_session(
        self: &Arc<Self>,
        body: &Bytes,
        out: Outbound<'_>,
    ) -> Result<Answer, UpstreamError> {
        let mut retried = false;
        loop {
            let generation = self.generation.load(Ordering::Acquire);
            let resp = self.post(body.clone(), out).await?;
            self.capture_session(&resp);
            let status = resp.status;
            if retried || !self.may_be_expired(status) {
                return Ok(resp);
            }
            // 404 is the spec's answer for an unknown session; some servers say 400 instead,
            // which counts only when the body names the session.
            let text = resp.text(REFUSAL_TEXT_BYTES).await;
            if status != StatusCode::NOT_FOUND && !text.to_ascii_lowercase().contains("session") {
                return Err(http_error(status, &text));
            }
            retried = true;
            // Boxed, like the resumption below: rare paths, and each as large as the common
            // one, which would otherwise carry room for them on every call.
            Box::pin(self.reinitialize(generation)).await?;
        }
    }

    /// Whether an answer with this status could mean our upstream session is gone.
    fn may_be_expired(&self, status: StatusCode) -> bool {
        let had_session = lock(&self.session).is_some();
        had_session && (status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST)
    }

    /// Reads a POST's answer: one JSON message, or an SSE stream resumed until the response for
    /// `id` has arrived.
    async fn read_answer(&self, resp: Answer, id: Option<u64>) -> Result<(), UpstreamError> {
        let sink = self
            .link
            .sink()
            .ok_or(UpstreamError::Closed("gateway dropped".into()))?;
        let max = self.link.max_message_bytes;
        if !resp.is_event_stream() {
            let bytes = read_limited(resp, max).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let msg = Message::parse(bytes)
                .map_err(|e| UpstreamError::Protocol(format!("invalid JSON answer: {e}")))?;
            sink.deliver(msg, id);
            return Ok(());
        }
        drop(sink);
        let mut parser = Parser::new(max);
        let mut resp = resp;
        let mut resumes = 0;
        loop {
            let mut retry = None;
            self.pump_sse(resp, &mut parser, id, &mut retry).await?;
            let still_waiting = match (id, self.link.sink()) {
                (Some(id), Some(sink)) => sink.is_pending(id),
                _ => false,
            };
            if !still_waiting {
                return Ok(());
            }
            let Some(last) = parser.last_event_id.clone() else {
                return Err(UpstreamError::Closed(
                    "response stream ended before the response".into(),
                ));
            };
            resumes += 1;
            if resumes > MAX_RESUMES {
                return Err(UpstreamError::Closed(
                    "response stream could not be resumed".into(),
                ));
            }
            tokio::time::sleep(retry.unwrap_or(DEFAULT_RETRY)).await;
            resp = Box::pin(self.resume(&last)).await?;
        }
    }

    /// GET with `Last-Event-ID`: how every stream is resumed.
    async fn resume(&self, last: &str) -> Result<Answer, UpstreamError> {
        let resp = self
            .get(Some(last))
            .await
            .map_err(|e| UpstreamError::Closed(format!("resume failed: {e}")))?;
        if !resp.status.is_success() {
            return Err(UpstreamError::Closed(format!(
                "resume refused: HTTP {}",
                resp.status
            )));
        }
        Ok(resp)
    }

    /// Feeds one SSE response through the parser, delivering messages. Returns when it ends.
    async fn pump_sse(
        &self,
        mut resp: Answer,
        parser: &mut Parser,
        related: Option<u64>,
        retry: &mut Option<Duration>,
    ) -> Result<(), UpstreamError> {
        let mut events = Vec::new();
        // A read error ends this stream like its end does: the caller resumes it if it must.
        while let Ok(Some(chunk)) = resp.chunk().await {
            parser
                .feed(&chunk, &mut events)
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            let Some(sink) = self.link.sink() else {
                return Ok(());
            };
            for ev in events.drain(..) {
                if let Some(ms) = ev.retry {
                    *retry = Some(Duration::from_millis(ms));
                }
                if ev.event != "message" || ev.data.trim().is_empty() {
                    continue;
                }
                match Message::parse(Bytes::from(ev.data)) {
                    Ok(msg) => sink.deliver(msg, related),
                    Err(e) => {
                        tracing::warn!(upstream = %self.link.name, "skipped an SSE event that is not JSON-RPC: {e}")
                    }
                }
            }
            // A request's stream is done once its response is in, even if the server keeps the
            // connection open (a resumed GET stream usually stays open).
            if related.is_some_and(|id| !sink.is_pending(id)) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Keeps the GET stream open for the connection's lifetime, resuming it when it drops.
    async fn get_loop(self: Arc<Self>) {
        let mut parser = Parser::new(self.link.max_message_bytes);
        let mut failures = 0u32;
        loop {
            let Some(sink) = self.link.sink() else {
                return;
            };
            if sink.is_closed() {
                return;
            }
            drop(sink);
            let resp = match self.get(parser.last_event_id.as_deref()).await {
                Ok(r) => r,
                Err(_) => {
                    failures += 1;
                    tokio::time::sleep(GET_BACKOFF.jittered(failures)).await;
                    continue;
                }
            };
            match resp.status {
                s if s.is_success() => {}
                // The server offers no GET stream: fine, everything comes on POST streams.
                StatusCode::METHOD_NOT_ALLOWED => return,
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => {
                    // Session gone: the next POST re-initialises and restarts this loop.
                    return;
                }
                _ => {
                    failures += 1;
                    tokio::time::sleep(GET_BACKOFF.jittered(failures)).await;
                    continue;
                }
            }
            failures = 0;
            let mut retry = None;
            if self
                .pump_sse(resp, &mut parser, None, &mut retry)
                .await
                .is_err()
            {
                failures += 1;
            }
            let pause = GET_BACKOFF.jittered(failures);
            tokio::time::sleep(retry.unwrap_or(DEFAULT_RETRY).max(pause)).await;
        }
    }

    /// Sends a notification or a response; the server answers 202.
    async fn send_message(self: &Arc<Self>, body: Bytes) -> Result<(), UpstreamError> {
        let resp = self.post_in_session(&body, Outbound::default()).await?;
        let status = resp.status;
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text(REFUSAL_TEXT_BYTES).await;
        Err(http_error(status, &text))
    }

    /// Re-creates an expired upstream session and replays what the old one had set.
    async fn reinitialize(self: &Arc<Self>, seen_generation: u64) -> Result<(), UpstreamError> {
        let mut gen_guard = self.reinit.lock().await;
        if self.generation.load(Ordering::Acquire) != seen_generation {
            // Someone else already re-created the session while we waited.
            return Ok(());
        }
        if self.link.sink().is_none() {
            return Err(UpstreamError::Closed("gateway dropped".into()));
        }
        let name = &self.link.name;
        tracing::info!(upstream = %name, "upstream session expired; re-initialising");
        *lock(&self.session) = None;
        let init = self
            .direct("initialize", Some(&self.link.initialize_params))
            .await?;
        if init.kind() != Kind::Result {
            return Err(UpstreamError::Unavailable("re-initialize refused".into()));
        }
        self.send_plain(Bytes::from(encode::notification(
            "notifications/initialized",
            None,
        )))
        .await?;
        let plan = self
            .link
            .replay
            .as_ref()
            .map(|r| r.plan())
            .unwrap_or_default();
        for (method, params) in plan {
            if let Err(e) = self.direct(&method, Some(&params)).await {
                tracing::warn!(upstream = %name, method, "replay after re-initialise failed: {e}");
            }
        }
        let next = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        *gen_guard = next;
        if self.link.standalone_stream {
            self.start_get_stream();
        }
        Ok(())
    }

    /// A request the wire answers itself (re-initialisation), not through the core's table.
    async fn direct(&self, method: &str, params: Option<&str>) -> Result<Message, UpstreamError> {
        let n = self.reinit_ids.fetch_add(1, Ordering::Relaxed);
        let id = Id::string(&format!("switchboard-reinit-{n}"));
        let body = Bytes::from(encode::request(&id, method, params));
        let mut resp = self.post(body, Outbound::default()).await?;
        self.capture_session(&resp);
        let status = resp.status;
        if !status.is_success() {
            let text = resp.text(REFUSAL_TEXT_BYTES).await;
            return Err(http_error(status, &text));
        }
        // The same bound as every other answer from this upstream.
        let max = self.link.max_message_bytes;
        if !resp.is_event_stream() {
            let bytes = read_limited(resp, max).await?;
            return Message::parse(bytes).map_err(|e| UpstreamError::Protocol(e.to_string()));
        }
        let mut parser = Parser::new(max);
        let mut events = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            parser
                .feed(&chunk, &mut events)
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            for ev in events.drain(..) {
                if let Ok(m) = Message::parse(Bytes::from(ev.data))
                    && m.is_response()
                    && m.id() == Some(&id)
                {
                    return Ok(m);
                }
            }
        }
        Err(UpstreamError::Closed(
            "stream ended before the response".into(),
        ))
    }

    async fn send_plain(&self, body: Bytes) -> Result<(), UpstreamError> {
        let resp = self.post(body, Outbound::default()).await?;
        if resp.status.is_success() {
            Ok(())
        } else {
            Err(http_error(resp.status, ""))
        }
    }

    /// Ends the upstream session (DELETE) and the GET stream.
    async fn terminate(&self) {
        if let Some(t) = lock(&self.get_task).take() {
            t.abort();
        }
        let session = lock(&self.session).take();
        if let Some(s) = session {
            let mut headers = HeaderMap::with_capacity(2);
            headers.insert(SESSION_HEADER, s);
            let req = self.client.send(Method::DELETE, headers, Bytes::new());
            let _ = tokio::time::timeout(Duration::from_secs(2), req).await;
        }
    }

    /// Resolves request `id` with a gateway-made error naming the upstream.
    fn fail(&self, id: u64, e: &UpstreamError) {
        let Some(sink) = self.link.sink() else {
            return;
        };
        let name = &self.link.name;
        let code = match e {
            UpstreamError::Protocol(_) => ErrorCode::UPSTREAM_PROTOCOL,
            UpstreamError::Closed(_) => ErrorCode::UPSTREAM_CLOSED,
            _ => ErrorCode::UPSTREAM_UNAVAILABLE,
        };
        let err = RpcError::new(code, format!("upstream {name}: {e}")).with_str("upstream", name);
        let text = encode::error(Some(&Id::number(id)), &err.to_json());
        if let Ok(m) = Message::parse(Bytes::from(text)) {
            sink.deliver(m, Some(id));
        }
    }
}

impl Drop for HttpWire {
    fn drop(&mut self) {
        if let Some(t) = lock(&self.get_task).take() {
            t.abort();
        }
    }
}

fn http_error(status: StatusCode, body: &str) -> UpstreamError {
    let snippet: String = body.chars().take(200).collect();
    if status.is_server_error()
        || status == StatusCode::NOT_FOUND
        || status == StatusCode::UNAUTHORIZED
    {
        UpstreamError::Unavailable(format!("HTTP {status}: {snippet}"))
    } else {
        UpstreamError::Protocol(format!("HTTP {status}: {snippet}"))
    }
}

async fn read_limited(mut resp: Answer, max: usize) -> Result<Bytes, UpstreamError> {
    if resp.content_length().is_some_and(|l| l > max as u64) {
        return Err(UpstreamError::Protocol(format!(
            "answer over max_message_bytes ({max})"
        )));
    }
    let over = || UpstreamError::Protocol(format!("answer over max_message_bytes ({max})"));
    // An answer usually arrives in one piece, which is then kept as it is, without a copy.
    let Some(first) = resp.chunk().await.map_err(UpstreamError::Closed)? else {
        return Ok(Bytes::new());
    };
    if first.len() > max {
        return Err(over());
    }
    // Sized once from Content-Length (already checked against `max`) when the answer has one:
    // a buffer that grows copies everything read so far each time it does.
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(UpstreamError::Closed)? {
        if buf.is_empty() {
            let declared = resp.content_length().map_or(0, |l| l as usize);
            buf.reserve_exact(declared.max(first.len() + chunk.len()));
            buf.extend_from_slice(&first);
        }
        if buf.len() + chunk.len() > max {
            return Err(over());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(if buf.is_empty() {
        first
    } else {
        Bytes::from(buf)
    })
}

/// An error with its causes, for messages people read ("connection refused", not "error sending request").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Token exchange drops a cached token when the upstream refuses it: that hangs on a 401
    /// being recognisable, and nothing else being taken for one.
    #[test]
    fn only_a_401_reads_as_refused_credentials() {
        assert!(http_error(StatusCode::UNAUTHORIZED, "expired").refused_credentials());
        for other in [
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::BAD_GATEWAY,
        ] {
            assert!(
                !http_error(other, "HTTP 401 ").refused_credentials(),
                "{other}"
            );
        }
    }
}
