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
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
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
    let mut lines = BufReader::with_capacity(64 * 1024, input).lines();
    let mut session: Option<Arc<Session>> = None;
    let mut tasks = JoinSet::new();
    let max = gw.config().http.max_body_bytes;
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > max {
            let e = RpcError::new(
                ErrorCode::INVALID_REQUEST,
                format!("message larger than {max} bytes"),
            );
            let _ = out_tx
                .send(Bytes::from(encode::error(None, &e.to_json())))
                .await;
            continue;
        }
        let msg = match Message::parse(Bytes::from(line)) {
            Ok(m) => m,
            Err(e) => {
                let err = RpcError::new(ErrorCode(e.code()), e.to_string());
                let _ = out_tx
                    .send(Bytes::from(encode::error(None, &err.to_json())))
                    .await;
                continue;
            }
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
                        let _ = out_tx
                            .send(Bytes::from(encode::error(id.as_ref(), &e.to_json())))
                            .await;
                    }
                    Err(SessionRefused::TooMany(_)) => {}
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
                tasks.spawn(async move {
                    let rid: Arc<str> =
                        format!("stdio-{}", msg.id().map(|i| i.as_raw()).unwrap_or_default())
                            .into();
                    if let Answer::Response(b) = gw.request(&s, &msg, &tx, &rid).await {
                        let _ = tx.send(b).await;
                    }
                });
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

/// A refusal by the transport itself, with a fresh `data.request_id` like every error.
fn refusal(id: Option<&switchboard_protocol::Id>, e: RpcError) -> Bytes {
    let rid = request_id::generate();
    Bytes::from(encode::error(id, &e.with_str("request_id", &rid).to_json()))
}

async fn write_loop<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::Receiver<Bytes>) {
    // One message per line: an upstream's pretty-printed JSON would otherwise break the framing.
    while let Some(m) = rx.recv().await {
        let r = async {
            out.write_all(&single_line(m)).await?;
            out.write_all(b"\n").await?;
            while let Ok(more) = rx.try_recv() {
                out.write_all(&single_line(more)).await?;
                out.write_all(b"\n").await?;
            }
            out.flush().await
        }
        .await;
        if r.is_err() {
            return;
        }
    }
}
