//! `switchboard stdio`: the catalog served over stdin/stdout, for desktop MCP clients.
//!
//! Lines on stdin are JSON-RPC messages; everything written to stdout is a JSON-RPC message, one
//! per line, and every log line goes to stderr. Requests run concurrently, each with its own
//! channel for related messages, which here simply interleave on stdout.
//!
//! The first request fixes the era of the process, as the spec says for stdio:
//!
//! | state | message | answer |
//! |---|---|---|
//! | undecided | `initialize` without modern `_meta` | handshake: one session for the process |
//! | undecided | a request with modern `_meta` | modern: every request stands alone |
//! | undecided | `ping` | `{}` |
//! | undecided | any other request | -32600: send initialize first, or 2026-07-28 `_meta` |
//! | handshake | a request naming 2026-07-28 in `_meta` | -32600: this connection used initialize |
//! | modern | `initialize` | -32022 with the supported versions |
//! | modern | a request without modern `_meta` | -32602 naming what is missing |
//! | modern | `notifications/cancelled` | cancels that request (a listen included) |
//!
//! End of input ends the session (handshake) or the listens (modern, each with its graceful
//! result) once requests in flight have answered.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use switchboard_gateway::principal::{Credentials, Principal};
use switchboard_gateway::request::Request;
use switchboard_gateway::sessions::Session;
use switchboard_gateway::{Answer, Gateway, Related, SessionRefused};
use switchboard_protocol::message::{LINE_BATCH_BYTES, batch_lines, encode, line_end};

use crate::request_id;
use switchboard_gateway::capabilities::supported_versions;
use switchboard_gateway::view::{Endpoint, ViewKey};
use switchboard_protocol::lock;
use switchboard_protocol::meta::{self, RequestMeta};
use switchboard_protocol::{ErrorCode, ErrorKind, Id, Kind, Message, Revision, RpcError, object};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serves one client on `input`/`output` until end of input.
pub async fn serve<R, W>(gw: Gateway, input: R, output: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(1024);
    let writer = tokio::spawn(write_loop(output, out_rx));
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let mut line = Vec::with_capacity(8 * 1024);
    let mut session: Option<Arc<Session>> = None;
    let mut modern: Option<Modern> = None;
    // Requests in flight, waited for at end of input. (A tracker, not a `JoinSet`: nothing reads
    // their results, and a `JoinSet` costs two allocations and a lock per request to keep them.)
    let tasks = TaskTracker::new();
    let max = gw.config().http.max_body_bytes;
    // The process that started `switchboard stdio` is its one caller; it has no headers to
    // show, so it is whoever the gateway takes a caller without credentials to be.
    let principal = match gw.authenticate(Credentials::default()).await {
        Ok(p) => p,
        Err(e) => {
            let _ = out_tx.send(refusal(None, e)).await;
            drop(out_tx);
            let _ = writer.await;
            return Ok(());
        }
    };
    loop {
        line.clear();
        // Bounded: a line longer than the body limit is skipped, never held in memory whole.
        let msg = match read_line(&mut input, &mut line, max).await? {
            Line::End => break,
            Line::TooLong => {
                let e = RpcError::new(
                    ErrorCode::INVALID_REQUEST,
                    format!("message larger than {max} bytes"),
                );
                let _ = out_tx.send(refusal(None, e)).await;
                continue;
            }
            Line::Complete if line.iter().all(u8::is_ascii_whitespace) => continue,
            Line::Complete => match Message::parse_slice(&line) {
                Ok(m) => m,
                Err(e) => {
                    // Not JSON, not UTF-8, or not JSON-RPC: answered, and the session goes on.
                    let _ = out_tx
                        .send(refusal(
                            None,
                            RpcError::new(ErrorCode(e.code()), e.to_string()),
                        ))
                        .await;
                    continue;
                }
            },
        };
        if modern.is_none()
            && session.is_none()
            && msg.is_request()
            && meta::version(msg.params()).is_some()
        {
            modern = Some(Modern::default());
        }
        if let Some(m) = &modern {
            m.handle(&gw, &principal, msg, &out_tx, &tasks).await;
            continue;
        }
        if session.is_some() && msg.is_request() && names_modern(&msg) {
            let e = RpcError::new(
                ErrorCode::INVALID_REQUEST,
                "this connection was opened with initialize (handshake era); 2026-07-28 requests are not accepted on it",
            );
            let _ = out_tx.send(refusal(msg.id(), e)).await;
            continue;
        }
        match (msg.kind(), msg.method(), &session) {
            (Kind::Request, Some("initialize"), None) => {
                let id = msg.id().cloned();
                match gw.initialize(&principal, msg.params(), Endpoint::WHOLE) {
                    Ok((s, result)) => {
                        if let Some(mut outbox) = s.take_outbox() {
                            let tx = out_tx.clone();
                            tokio::spawn(async move {
                                while let Some(m) = outbox.recv().await {
                                    if tx.send(m).await.is_err() {
                                        return;
                                    }
                                }
                            });
                        }
                        if let Some(id) = id {
                            let _ = out_tx.send(Bytes::from(encode::result(&id, &result))).await;
                        }
                        session = Some(s);
                    }
                    Err(SessionRefused::Invalid(e)) => {
                        let _ = out_tx.send(refusal(id.as_ref(), e)).await;
                    }
                    Err(SessionRefused::TooMany(why)) => {
                        let e = RpcError::of(ErrorKind::TOO_MANY_SESSIONS, why);
                        let _ = out_tx.send(refusal(id.as_ref(), e)).await;
                    }
                }
            }
            (Kind::Request, _, None) => {
                let answer = if msg.method() == Some("ping") {
                    msg.id().map(|id| Bytes::from(encode::result(id, "{}")))
                } else {
                    let e = RpcError::new(
                        ErrorCode::INVALID_REQUEST,
                        "send initialize first, or send 2026-07-28 requests with per-request _meta",
                    );
                    msg.id().map(|id| refusal(Some(id), e))
                };
                if let Some(a) = answer {
                    let _ = out_tx.send(a).await;
                }
            }
            (Kind::Request, _, Some(s)) => {
                let gw = gw.clone();
                let s = s.clone();
                let tx = out_tx.clone();
                // Boxed: the call's future is large, and tokio moves a task's future (and later its
                // finished stage) by value several times; a box moves as a pointer. (memcpy went
                // from ~12% to ~4% of `switchboard stdio`'s CPU at c=32.)
                let related = Related::Shared(tx.clone());
                tasks.spawn(Box::pin(async move {
                    let rid = request_id::generate();
                    let req = Request::new(&s, &rid, &related);
                    if let Answer::Response(b) | Answer::Status(_, b) | Answer::Replayed(b) =
                        gw.request(&req, &msg).await
                    {
                        let _ = tx.send(b).await;
                    }
                }));
            }
            (Kind::Notification, _, Some(s)) => gw.notification(s, msg).await,
            (Kind::Result | Kind::Error, _, Some(s)) => {
                gw.client_response(s, msg);
            }
            _ => {}
        }
    }
    if let Some(m) = &modern {
        m.ending.cancel();
    }
    tasks.close();
    tasks.wait().await;
    if let Some(s) = session {
        gw.close_session(&s.id).await;
    }
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

/// The state of a process serving 2026-07-28: what is in flight, so it can be cancelled.
#[derive(Default)]
struct Modern {
    in_flight: Arc<std::sync::Mutex<HashMap<Id, CancellationToken>>>,
    /// Fired at end of input: listens end with their graceful result.
    ending: CancellationToken,
}

impl Modern {
    async fn handle(
        &self,
        gw: &Gateway,
        principal: &Principal,
        msg: Message,
        out: &mpsc::Sender<Bytes>,
        tasks: &TaskTracker,
    ) {
        match msg.kind() {
            Kind::Notification => {
                if msg.method() == Some("notifications/cancelled")
                    && let Some(id) = msg.param("requestId").and_then(Id::from_raw)
                    && let Some(t) = lock(&self.in_flight).get(&id)
                {
                    t.cancel();
                }
                return;
            }
            Kind::Result | Kind::Error => return,
            Kind::Request => {}
        }
        let Some(id) = msg.id().cloned() else { return };
        let meta = match validate(&msg) {
            Ok(meta) => meta,
            Err(e) => {
                let _ = out.send(refusal(Some(&id), e)).await;
                return;
            }
        };
        let gw = gw.clone();
        let tx = out.clone();
        let in_flight = self.in_flight.clone();
        if msg.method() == Some("subscriptions/listen") {
            let token = CancellationToken::new();
            lock(&in_flight).insert(id.clone(), token.clone());
            let ending = self.ending.clone();
            tasks.spawn(async move {
                match gw.listen(ViewKey::whole(true), &msg).await {
                    Ok(mut l) => {
                        let _ = tx.send(l.ack.clone()).await;
                        loop {
                            tokio::select! {
                                m = l.rx.recv() => match m {
                                    Some(m) => { let _ = tx.send(m).await; }
                                    None => break,
                                },
                                // Cancelled by the client: no response, as for any request.
                                _ = token.cancelled() => break,
                                _ = ending.cancelled() => {
                                    let _ = tx.send(l.done.clone()).await;
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(refusal(Some(&id), e)).await;
                    }
                }
                lock(&in_flight).remove(&id);
            });
            return;
        }
        let caller = match gw.modern_caller(principal, &meta, Endpoint::WHOLE) {
            Ok(c) => c,
            Err(e) => {
                let _ = out.send(refusal(Some(&id), e)).await;
                return;
            }
        };
        lock(&in_flight).insert(id.clone(), caller.closer());
        let related = Related::Shared(tx.clone());
        // Boxed, as a handshake request's task is (see there).
        tasks.spawn(Box::pin(async move {
            let rid = request_id::generate();
            let answer = gw
                .request(&Request::new(&caller, &rid, &related), &msg)
                .await;
            gw.end_modern(&caller).await;
            lock(&in_flight).remove(&id);
            if let Answer::Response(b) | Answer::Status(_, b) | Answer::Replayed(b) = answer {
                let _ = tx.send(b).await;
            }
        }));
    }
}

/// Steps V1 and V4 of a modern request (stdio has no headers to compare): its `_meta`, read
/// once, when it is well formed.
fn validate(msg: &Message) -> Result<RequestMeta<'_>, RpcError> {
    if msg.method() == Some("initialize") {
        let requested = msg.param_str("protocolVersion").unwrap_or_default();
        return Err(unsupported(&requested));
    }
    let params = msg.params().filter(|p| p.starts_with('{'));
    let meta = RequestMeta::read(params);
    let missing = meta.missing();
    let Some(version) = meta.version.as_deref().filter(|_| missing.is_empty()) else {
        let list: Vec<String> = missing.iter().map(|k| object::json_string(k)).collect();
        return Err(RpcError::of(
            ErrorKind::MISSING_META,
            "Invalid params: a 2026-07-28 request's params._meta must carry io.modelcontextprotocol/protocolVersion (a string) and io.modelcontextprotocol/clientCapabilities (an object)",
        )
        .with_raw("missing", format!("[{}]", list.join(","))));
    };
    match Revision::parse_any(version) {
        Some(r) if r.is_modern() => Ok(meta),
        _ => Err(unsupported(version)),
    }
}

fn unsupported(requested: &str) -> RpcError {
    RpcError::new(
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        format!("Unsupported protocol version {requested:?} on this connection (2026-07-28)"),
    )
    .with_raw("supported", supported_versions())
    .with_str("requested", requested)
}

/// Whether `params._meta` names a modern revision. (Asked of every request on a handshake
/// connection, so it reads the one key it needs and copies nothing.)
fn names_modern(msg: &Message) -> bool {
    meta::version(msg.params())
        .and_then(object::string_value)
        .and_then(|v| Revision::parse_any(&v))
        .is_some_and(Revision::is_modern)
}

enum Line {
    Complete,
    TooLong,
    End,
}

/// Reads one `\n`-terminated line into `buf`, holding at most `max` bytes of it: the rest of a
/// longer line is read and dropped.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(match (buf.is_empty() && !too_long, too_long) {
                (true, _) => Line::End,
                (false, true) => Line::TooLong,
                (false, false) => Line::Complete,
            });
        }
        let (take, done) = match line_end(chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max.saturating_add(1) {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

/// A refusal by the transport itself, with a fresh `data.request_id` like every error.
fn refusal(id: Option<&switchboard_protocol::Id>, e: RpcError) -> Bytes {
    let rid = request_id::generate();
    Bytes::from(encode::error(id, &e.with_str("request_id", &rid).to_json()))
}

async fn write_loop<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::Receiver<Bytes>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        // Whatever else is queued goes out in the same write (stdout is written unbuffered):
        // with many requests in flight, one syscall carries a burst of answers.
        batch_lines(&mut batch, &first, || rx.try_recv().ok());
        let written = async {
            out.write_all(&batch).await?;
            out.flush().await
        };
        if written.await.is_err() {
            return;
        }
        if batch.capacity() > 4 * LINE_BATCH_BYTES {
            // One huge answer should not pin its buffer for the session's lifetime.
            batch = Vec::new();
        }
    }
}
