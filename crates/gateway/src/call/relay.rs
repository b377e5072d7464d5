//! Everything that flows back while a request is being served upstream.
//!
//! While the upstream works on a request it may report progress, log, or ask the client something
//! (sampling, elicitation, roots). [`forward`] waits for the response while relaying those to the
//! client that caused them, on that request's own stream: progress tokens mapped back to the
//! client's, log messages filtered by the client's level with the logger prefixed by the upstream,
//! and server-to-client requests re-issued under ids the gateway mints in the client's session.
//! A server-to-client request the client cannot answer (it never declared the capability, or its
//! revision lacks the feature) is refused to the upstream at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::message::encode;
use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{ErrorCode, Id, Kind, Message, RpcError};
use switchboard_upstream::{Connection, RequestCtx, UpstreamError, related};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::level::Level;
use crate::sessions::Session;
use crate::upstreams::Upstream;
use crate::{Gateway, tasks};

/// How long the gateway waits for a client to answer a server-to-client request (a person may be
/// filling in an elicitation form).
const CLIENT_ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// Where the messages related to one client request go while it runs (progress, log lines,
/// server-to-client requests): the request's own queue, read by whatever carries its answer (an
/// HTTP response, which becomes a stream once something arrives), or a pipe every request
/// shares (`switchboard stdio`'s stdout, where they simply interleave).
#[derive(Clone)]
pub enum Related {
    Own(related::Sender<Bytes>),
    Shared(mpsc::Sender<Bytes>),
}

impl Related {
    /// Offers `msg`; it comes back when the reader is gone or too far behind.
    pub fn try_send(&self, msg: Bytes) -> Result<(), Bytes> {
        match self {
            Related::Own(tx) => tx.try_send(msg).map_err(|e| match e {
                related::TrySendError::Full(m) | related::TrySendError::Closed(m) => m,
            }),
            Related::Shared(tx) => tx.try_send(msg).map_err(|e| e.into_inner()),
        }
    }
}

/// Related messages a call may have waiting before its relay reads them; past that, the
/// connection detaches the call's stream rather than stall its reader for everyone.
const RELATED_BACKLOG: usize = 64;

/// One request to forward.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    pub params: Option<&'a str>,
    /// The client's progress token (raw), if it asked for progress.
    pub progress: Option<&'a str>,
    /// Overrides the upstream's default timeout.
    pub timeout: Option<Duration>,
    pub cancel: CancellationToken,
    pub request_id: &'a Arc<str>,
    /// The trace context the upstream gets, when tracing is on.
    pub trace: Option<&'a switchboard_upstream::TraceHeaders>,
    /// The caller's access token, kept only when some upstream exchanges or forwards it
    /// (`super::send` decides whether this upstream gets anything of it).
    pub caller_token: Option<&'a str>,
}

/// Sends `call` to `conn` for `session` and waits for its response message, relaying related
/// messages to `related` meanwhile.
pub(crate) async fn forward(
    gw: &Gateway,
    up: &Upstream,
    session: &Arc<Session>,
    conn: &Connection,
    call: Call<'_>,
    related: &Related,
) -> Result<Message, UpstreamError> {
    let (tx, mut rx) = related::channel(RELATED_BACKLOG);
    let progress = call.progress;
    let ctx = RequestCtx {
        timeout: call.timeout,
        max_timeout: up.cfg.max_timeout,
        cancel: Some(call.cancel),
        related: Some(tx),
        owner: session.key,
        attributable: None,
        rewrite_progress: progress.is_some(),
        request_id: Some(call.request_id.clone()),
        authorization: call.caller_token.and_then(super::bearer_header),
        // A handshake session's request to a modern upstream says who it is for; a modern
        // caller's request already carries its own `_meta` (the connection would drop this).
        modern: (conn.is_modern() && !session.record.revision.is_modern())
            .then(|| modern_meta(session)),
        trace: call.trace.cloned(),
    };
    let call = super::send(up, conn, call.method, call.params, ctx);
    tokio::pin!(call);
    // Upstream ids of server-to-client requests relayed for this call, and the client's ids for them.
    let mut relayed: HashMap<Box<str>, Id> = HashMap::new();
    // The sender lives in the connection's pending entry; it closes when the response arrives.
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            m = rx.recv(), if open => match m {
                Some(m) => relay_one(gw, session, conn, m, progress, related, &mut relayed),
                None => open = false,
            },
            out = &mut call => {
                // Whatever arrived just before the response still belongs before it.
                while let Some(m) = rx.try_recv() {
                    relay_one(gw, session, conn, m, progress, related, &mut relayed);
                }
                return out;
            }
        }
    }
}

fn relay_one(
    gw: &Gateway,
    session: &Arc<Session>,
    conn: &Connection,
    m: Message,
    progress: Option<&str>,
    related: &Related,
    relayed: &mut HashMap<Box<str>, Id>,
) {
    match (m.kind(), m.method().unwrap_or_default()) {
        (Kind::Notification, "notifications/progress" | "notifications/message") => {
            relay_note(session, conn, &m, progress, related);
        }
        (Kind::Notification, "notifications/cancelled") => {
            // The upstream withdrew a server-to-client request: withdraw it from the client too.
            let Some(up_id) = m.param("requestId") else {
                return;
            };
            if let Some(down) = relayed.remove(up_id.trim()) {
                session.forget_client_request(&down);
                let p = format!("{{\"requestId\":{}}}", down.as_raw());
                send(
                    related,
                    encode::notification("notifications/cancelled", Some(&p)),
                );
            }
        }
        (Kind::Request, _) => {
            let Some(up_id) = m.id().cloned() else { return };
            let gw = gw.clone();
            let session = session.clone();
            let conn = conn.clone();
            let related = related.clone();
            let (down_id, rx) = session.client_request();
            relayed.insert(up_id.as_raw().into(), down_id.clone());
            // In the request's span: its log lines carry its request id.
            tokio::spawn(
                async move {
                    relay_client_request(&gw, &session, &conn, m, Some(&related), down_id, rx)
                        .await;
                }
                .in_current_span(),
            );
        }
        _ => {
            // Anything else (list changes, resource updates) is not about this request.
            gw.on_upstream_message_shared(conn, m);
        }
    }
}

/// Relays a request's progress (under the client's own token) or log line (if the client's level
/// admits it) to the request's stream.
pub(crate) fn relay_note(
    session: &Session,
    conn: &Connection,
    m: &Message,
    progress: Option<&str>,
    related: &Related,
) {
    match m.method().unwrap_or_default() {
        "notifications/progress" => {
            let (Some(token), Some(params)) = (progress, m.params()) else {
                return;
            };
            if let Some(p) = object::edit(params, &[("progressToken", Edit::Set(token))]) {
                send(
                    related,
                    encode::notification("notifications/progress", Some(&p)),
                );
            }
        }
        "notifications/message" => {
            let level = m
                .param_str("level")
                .and_then(|l| Level::parse(&l))
                .unwrap_or(Level::Info);
            // A handshake session hears everything until it sets a level; a modern caller hears
            // nothing unless its request named a level.
            let admitted = match session.level() {
                Some(l) => l.admits(level),
                None => !session.record.revision.is_modern(),
            };
            if !admitted {
                return;
            }
            if let Some(out) = log_message(conn.name(), m) {
                let _ = related.try_send(out);
            }
        }
        _ => {}
    }
}

/// Relays one server-to-client request that arrived outside any request (isolated sessions).
pub(crate) async fn client_request(
    gw: &Gateway,
    session: &Arc<Session>,
    conn: &Connection,
    m: Message,
    related: Option<&Related>,
) {
    let (down_id, rx) = session.client_request();
    relay_client_request(gw, session, conn, m, related, down_id, rx).await;
}

async fn relay_client_request(
    gw: &Gateway,
    session: &Arc<Session>,
    conn: &Connection,
    m: Message,
    related: Option<&Related>,
    down_id: Id,
    rx: tokio::sync::oneshot::Receiver<Message>,
) {
    let Some(up_id) = m.id().cloned() else { return };
    let method = m.method().unwrap_or_default();
    if let Err(why) = permitted(session, &m) {
        session.forget_client_request(&down_id);
        let e = RpcError::new(ErrorCode::CLIENT_LACKS_CAPABILITY, why).with_str("method", method);
        let _ = conn.respond_error(&up_id, &e).await;
        return;
    }
    // A request made on behalf of a task names the task: the client knows it by the gateway's id.
    let mapped = m
        .params()
        .and_then(|p| tasks::map_related_task(p, |uid| gw.task_id_for(conn, uid)));
    let out = Bytes::from(encode::request(
        &down_id,
        method,
        mapped.as_deref().or(m.params()),
    ));
    match related {
        Some(r) if r.try_send(out.clone()).is_ok() => {}
        _ => session.push(out),
    }
    let answer = tokio::select! {
        a = tokio::time::timeout(CLIENT_ANSWER_TIMEOUT, rx) => a.map(Result::ok),
        _ = session.closed.cancelled() => Ok(None),
    };
    // The answer's sender is dropped, not used, when the upstream itself withdrew the request
    // (notifications/cancelled): then it expects no answer at all.
    let withdrawn = matches!(answer, Ok(None)) && !session.closed.is_cancelled();
    if withdrawn {
        return;
    }
    match answer {
        Ok(Some(reply)) => {
            let r = match reply.kind() {
                Kind::Result => conn.respond(&up_id, reply.result().unwrap_or("{}")).await,
                _ => {
                    conn.respond_raw_error(
                        &up_id,
                        reply
                            .error()
                            .unwrap_or("{\"code\":-32603,\"message\":\"client error\"}"),
                    )
                    .await
                }
            };
            if let Err(e) = r {
                tracing::debug!(upstream = conn.name(), "answering {method} failed: {e}");
            }
        }
        Ok(None) => {
            let e = RpcError::new(
                ErrorCode::NO_CLIENT_FOR_REQUEST,
                "the client session ended before answering",
            );
            let _ = conn.respond_error(&up_id, &e).await;
        }
        Err(_) => {
            session.forget_client_request(&down_id);
            let e = RpcError::new(
                ErrorCode::CLIENT_TIMEOUT,
                "the client did not answer in time",
            );
            let _ = conn.respond_error(&up_id, &e).await;
        }
    }
}

/// Whether this client may receive this server-to-client request.
fn permitted(session: &Session, m: &Message) -> Result<(), String> {
    permitted_raw(session, m.method().unwrap_or_default(), m.params())
}

fn permitted_raw(session: &Session, method: &str, params: Option<&str>) -> Result<(), String> {
    let caps = &session.record.caps;
    let rev = session.record.revision;
    if rev.is_modern() {
        return Err(
            "2026-07-28 callers take no server-to-client requests outside the calls that can ask for input".into(),
        );
    }
    let param = |k: &str| params.and_then(|p| object::get(p, k));
    match method {
        "sampling/createMessage" => {
            if !caps.sampling {
                return Err("the client did not declare the sampling capability".into());
            }
            let uses_tools = param("tools").is_some() || param("toolChoice").is_some();
            if uses_tools && !(caps.sampling_tools && rev.has_sampling_tools()) {
                return Err("the client did not declare sampling.tools".into());
            }
            Ok(())
        }
        "elicitation/create" => {
            let url_mode = param("mode") == Some("\"url\"");
            if url_mode && !(caps.elicitation_url && rev.has_url_elicitation()) {
                return Err("the client did not declare URL-mode elicitation".into());
            }
            if !url_mode && !caps.elicitation_form {
                return Err("the client did not declare the elicitation capability".into());
            }
            Ok(())
        }
        "roots/list" => {
            if caps.roots {
                Ok(())
            } else {
                Err("the client did not declare the roots capability".into())
            }
        }
        "ping" => Ok(()),
        other => Err(format!(
            "{other} is not a request the gateway relays to clients"
        )),
    }
}

/// The capabilities an isolated upstream session declares: exactly the client's.
pub(crate) fn declared_capabilities(session: &Session) -> String {
    let c = &session.record.caps;
    let mut parts = Vec::new();
    if c.sampling {
        parts.push(if c.sampling_tools {
            r#""sampling":{"tools":{}}"#
        } else {
            r#""sampling":{}"#
        });
    }
    match (c.elicitation_form, c.elicitation_url) {
        (true, true) => parts.push(r#""elicitation":{"form":{},"url":{}}"#),
        (true, false) => parts.push(r#""elicitation":{"form":{}}"#),
        (false, true) => parts.push(r#""elicitation":{"url":{}}"#),
        _ => {}
    }
    if c.roots {
        parts.push(r#""roots":{"listChanged":true}"#);
    }
    format!("{{{}}}", parts.join(","))
}

/// Asks a handshake session's client something on behalf of a 2026-07-28 upstream's
/// `input_required` (bridge B): a real server-to-client request on the request's stream, whose
/// answer becomes the `inputResponses` value. A client's error for an elicitation is a cancel
/// (an answer has no error form); for anything else the call fails with it.
pub(crate) async fn ask_client(
    session: &Arc<Session>,
    method: &str,
    params: Option<&str>,
    related: &Related,
) -> Result<String, RpcError> {
    if let Err(why) = permitted_raw(session, method, params) {
        return Err(
            RpcError::new(ErrorCode::CLIENT_LACKS_CAPABILITY, why).with_str("method", method)
        );
    }
    let (down_id, rx) = session.client_request();
    let out = Bytes::from(encode::request(&down_id, method, params));
    if related.try_send(out.clone()).is_err() {
        session.push(out);
    }
    let answer = tokio::select! {
        a = tokio::time::timeout(CLIENT_ANSWER_TIMEOUT, rx) => a.map(Result::ok),
        _ = session.closed.cancelled() => Ok(None),
    };
    match answer {
        Ok(Some(reply)) => match (reply.kind(), reply.result()) {
            (Kind::Result, Some(r)) => Ok(r.to_owned()),
            _ if method == "elicitation/create" => Ok("{\"action\":\"cancel\"}".to_owned()),
            _ => Err(RpcError::new(
                ErrorCode::CLIENT_LACKS_CAPABILITY,
                format!("the client refused {method}"),
            )
            .with_raw("client_error", reply.error().unwrap_or("null").to_owned())
            .with_str("reason", &format!("client refused {method}"))),
        },
        Ok(None) => Err(RpcError::new(
            ErrorCode::NO_CLIENT_FOR_REQUEST,
            "the client session ended before answering",
        )),
        Err(_) => {
            session.forget_client_request(&down_id);
            Err(RpcError::new(
                ErrorCode::CLIENT_TIMEOUT,
                "the client did not answer in time",
            ))
        }
    }
}

/// The `_meta` a handshake session's requests carry to a modern upstream: its capabilities
/// (as it declared them in `initialize`), its identity and its log level.
pub(crate) fn modern_meta(session: &Session) -> switchboard_upstream::ModernMeta {
    switchboard_upstream::ModernMeta {
        capabilities: Some(declared_capabilities(session)),
        client_info: Some(session.record.client_info.to_string()),
        log_level: session.level().map(Level::as_str),
    }
}

/// A `notifications/message` with the logger prefixed by the upstream's name.
pub(crate) fn log_message(upstream: &str, m: &Message) -> Option<Bytes> {
    let params = m.params()?;
    let logger = match object::get_str(params, "logger") {
        Some(l) => format!("{upstream}/{l}"),
        None => upstream.to_owned(),
    };
    let p = object::edit(
        params,
        &[("logger", Edit::Set(&object::json_string(&logger)))],
    )?;
    Some(Bytes::from(encode::notification(
        "notifications/message",
        Some(&p),
    )))
}

fn send(related: &Related, msg: String) {
    if related.try_send(Bytes::from(msg)).is_err() {
        tracing::debug!("response stream full or gone; related message dropped");
    }
}
