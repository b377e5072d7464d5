//! `switchboard stdio`: the catalog served over stdin/stdout, for desktop MCP clients.
//!
//! One process is one client session. Lines on stdin are JSON-RPC messages; everything written to
//! stdout is a JSON-RPC message, one per line, and every log line goes to stderr. Requests run
//! concurrently, each with its own channel for related messages, which here simply interleave on
//! stdout. End of input ends the session once requests in flight have answered.

use std::sync::Arc;

use bytes::Bytes;
use switchboard_gateway::session::Session;
use switchboard_gateway::{Answer, Gateway, SessionRefused};
use switchboard_protocol::message::{encode, single_line};

use crate::request_id;
use switchboard_protocol::{ErrorCode, Kind, Message, RpcError};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

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
    let mut tasks = JoinSet::new();
    let max = gw.config().http.max_body_bytes;
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
        match (msg.kind(), msg.method(), &session) {
            (Kind::Request, Some("initialize"), None) => {
                let id = msg.id().cloned();
                match gw.initialize(msg.params()) {
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
                    Err(SessionRefused::TooMany(n)) => {
                        let e = RpcError::new(
                            ErrorCode::INVALID_REQUEST,
                            format!("too many sessions (limit {n})"),
                        );
                        let _ = out_tx.send(refusal(id.as_ref(), e)).await;
                    }
                }
            }
            (Kind::Request, _, None) => {
                let answer = if msg.method() == Some("ping") {
                    msg.id().map(|id| Bytes::from(encode::result(id, "{}")))
                } else {
                    let e = RpcError::new(ErrorCode::INVALID_REQUEST, "send initialize first");
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
                tasks.spawn(Box::pin(async move {
                    let rid = request_id::generate();
                    if let Answer::Response(b) = gw.request(&s, &msg, &tx, &rid).await {
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
        // Reap finished request tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    if let Some(s) = session {
        gw.close_session(&s.id).await;
    }
    drop(out_tx);
    let _ = writer.await;
    Ok(())
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
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
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

/// A write to stdout gathers queued messages up to about this many bytes.
const BATCH_BYTES: usize = 64 * 1024;

async fn write_loop<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::Receiver<Bytes>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        // Whatever else is queued goes out in the same write (stdout is written unbuffered):
        // with many requests in flight, one syscall carries a burst of answers.
        batch.clear();
        push_line(&mut batch, first);
        while batch.len() < BATCH_BYTES {
            match rx.try_recv() {
                Ok(m) => push_line(&mut batch, m),
                Err(_) => break,
            }
        }
        let written = async {
            out.write_all(&batch).await?;
            out.flush().await
        };
        if written.await.is_err() {
            return;
        }
        if batch.capacity() > 4 * BATCH_BYTES {
            // One huge answer should not pin its buffer for the session's lifetime.
            batch = Vec::new();
        }
    }
}

/// Appends `m` as one line: an upstream's pretty-printed JSON would otherwise break the framing.
fn push_line(batch: &mut Vec<u8>, m: Bytes) {
    batch.extend_from_slice(&single_line(m));
    batch.push(b'\n');
}
