//! The WebSocket transport: one MCP session per connection at `/mcp/ws` and
//! `/mcp/v/<product-id>/ws`.
//!
//! The handshake is an HTTP/1.1 `GET` with `Upgrade: websocket` (RFC 6455) that must offer the
//! subprotocol `mcp`; hyper hands the connection over after the `101`. From then on every
//! WebSocket text message is one JSON-RPC message, both ways, exactly as a line is on stdio
//! (`crate::stdio`): the client's requests run concurrently through the one pipeline
//! ([`Gateway::request`](switchboard_gateway::Gateway)), and the server's answers, related
//! messages (progress, logs, server-to-client requests) and the session's own notifications
//! (`list_changed`) interleave on the same socket.
//!
//! Who the caller is: the upgrade's `Authorization` header, checked before the `101` (a refused
//! credential is a 401 there). Browsers cannot set that header on a WebSocket, so without one the
//! first message may carry it instead, as `params._meta["io.github.switchboard-mcp/authorization"]`
//! (`"Bearer <token>"`); without either the caller is whoever the gateway takes a caller without
//! credentials to be. A first message whose credential is refused is answered with the error and
//! the socket closed with 1008. The session belongs to that principal and to the endpoint the
//! upgrade came to, like a session opened by `initialize` on `/mcp`.
//!
//! Limits: a message larger than `http.max_body_bytes` closes the socket with 1009 (the frame
//! header says so before its payload is read); `initialize` must come within
//! `http.header_read_timeout`; `sessions.max_per_principal` applies as on HTTP (1013 when full).
//! The server pings every `http.websocket.ping_interval`; a peer that sends nothing (no pong)
//! within `pong_timeout` of a ping is closed with 1008, and so is one that stops reading
//! (an answer it does not take within the same time). On shutdown a socket stops taking
//! requests, lets those in flight answer within the drain period, and closes with 1001.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use switchboard_config::WebSocketConfig;
use switchboard_gateway::pipeline::Refused;
use switchboard_gateway::principal::{Credentials, Principal};
use switchboard_gateway::request::Request;
use switchboard_gateway::sessions::Session;
use switchboard_gateway::view::Endpoint;
use switchboard_gateway::{Answer, Related, SessionRefused};
use switchboard_protocol::message::encode;
use switchboard_protocol::{ErrorCode, Id, Kind, Message, Revision, RpcError, object};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig as Frames};
use tokio_tungstenite::tungstenite::{Message as Frame, Utf8Bytes};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Server;
use super::inputs::CallerToken;
use super::rejection::Rejection;
use crate::request_id;

/// The subprotocol a client must offer (`Sec-WebSocket-Protocol: mcp`).
pub const SUBPROTOCOL: &str = "mcp";

/// The `_meta` key of the first message that may carry the caller's credential (the value of an
/// `Authorization` header, e.g. `"Bearer sb_…"`) when the upgrade had no `Authorization` header.
pub const AUTHORIZATION_META_KEY: &str = "io.github.switchboard-mcp/authorization";

/// Messages queued for the socket (answers, related messages, notifications) before senders
/// wait; related messages beyond it are dropped, as on a slow HTTP stream.
const OUT_QUEUE: usize = 1024;

/// Messages written per flush at most (the rest wait for the next turn of the loop, so reading
/// is never starved by a stream of answers).
const WRITE_BATCH: usize = 64;

/// How long a closing socket waits to write its close frame and read the peer's reply.
const CLOSE_WRITE: Duration = Duration::from_secs(1);

/// What the HTTP server keeps for WebSockets.
pub(super) struct Sockets {
    pub(super) enabled: bool,
    ping_interval: Duration,
    pong_timeout: Duration,
    /// Every open socket: shutdown waits for them as for HTTP connections.
    pub(super) open: TaskTracker,
}

impl Sockets {
    pub(super) fn new(cfg: &WebSocketConfig) -> Sockets {
        Sockets {
            enabled: cfg.enabled,
            ping_interval: cfg.ping_interval,
            pong_timeout: cfg.pong_timeout,
            open: TaskTracker::new(),
        }
    }
}

/// The MCP endpoint a WebSocket path upgrades: `/mcp/ws` → `/mcp`, `/mcp/v/<id>/ws` →
/// `/mcp/v/<id>`; `None` for any other path.
pub(super) fn mcp_path(path: &str) -> Option<&str> {
    let mcp = path.strip_suffix("/ws")?;
    let product = mcp
        .strip_prefix("/mcp/v/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    (mcp == "/mcp" || product).then_some(mcp)
}

/// The upgrade request: checked in the order RFC 6455 implies (not an upgrade 426, wrong
/// version 426, bad key 400), then the subprotocol (400), then the caller (401); a `101` hands
/// the connection to a task of its own.
pub(super) async fn handshake(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    head: &Parts,
    mcp: &str,
    client: Option<SocketAddr>,
) -> Response {
    let endpoint = match mcp.strip_prefix("/mcp/v/") {
        None => Endpoint::WHOLE,
        Some(id) => match srv.gw.product_endpoint(id) {
            Some(e) => e,
            None => return (StatusCode::NOT_FOUND, "no such product\n").into_response(),
        },
    };
    if head.method != hyper::Method::GET {
        return super::method_not_allowed("GET");
    }
    let h = &head.headers;
    if !has_token(h, header::UPGRADE, "websocket") || !has_token(h, header::CONNECTION, "upgrade") {
        return upgrade_required(
            rid,
            "this is a WebSocket endpoint: send GET with Connection: Upgrade and Upgrade: websocket (or use /mcp for Streamable HTTP)",
        );
    }
    if h.get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(&b"13"[..])
    {
        let mut r = upgrade_required(rid, "Sec-WebSocket-Version must be 13");
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return r;
    }
    let Some(key) = h
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| valid_key(k.as_bytes()))
    else {
        return bad_request(
            rid,
            "Sec-WebSocket-Key must be 16 random bytes in base64 (RFC 6455 §4.1)",
        );
    };
    if !offers_subprotocol(h) {
        return bad_request(
            rid,
            "offer the WebSocket subprotocol mcp (Sec-WebSocket-Protocol: mcp): this endpoint speaks nothing else",
        );
    }
    if let Some(refused) = super::oauth::token_in_query(head, rid) {
        return refused;
    }
    // With a header, the caller is known now and a refusal is a 401 before any upgrade.
    let principal = if h.contains_key(header::AUTHORIZATION) {
        match super::mcp::authenticate(srv, rid, h, None, "GET /mcp/ws", client).await {
            Ok(p) => Some(p),
            Err(r) => return r.into_response_with(rid),
        }
    } else {
        None
    };
    let Some(on_upgrade) = head.extensions.get::<OnUpgrade>().cloned() else {
        // The connection is not one hyper can hand over (it always is on this server).
        return Rejection::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::INTERNAL_ERROR,
            "this connection cannot be upgraded",
        )
        .into_response_with(rid);
    };
    let accept = derive_accept_key(key.as_bytes());
    let caller_token = if srv.gw.forwards_caller_tokens() {
        h.get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(CallerToken::from_authorization)
            .map(Arc::new)
    } else {
        None
    };
    let socket = Socket {
        srv: srv.clone(),
        endpoint,
        client,
        principal,
        caller_token,
    };
    srv.ws.open.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => socket.run(upgraded).await,
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let out = resp.headers_mut();
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    out.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    if let Ok(v) = HeaderValue::from_str(&accept) {
        out.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

/// Whether a comma-separated header lists `token` (case-insensitive).
fn has_token(h: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    h.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Whether `Sec-WebSocket-Protocol` offers `mcp` (subprotocol names are case-sensitive).
fn offers_subprotocol(h: &HeaderMap) -> bool {
    h.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim() == SUBPROTOCOL))
    })
}

/// A `Sec-WebSocket-Key`: 16 bytes in padded base64, 24 characters.
fn valid_key(k: &[u8]) -> bool {
    k.len() == 24
        && k.ends_with(b"==")
        && k[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn upgrade_required(rid: &str, why: &str) -> Response {
    let mut r = Rejection::new(
        StatusCode::UPGRADE_REQUIRED,
        ErrorCode::INVALID_REQUEST,
        why,
    )
    .into_response_with(rid);
    r.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    r
}

fn bad_request(rid: &str, why: &str) -> Response {
    Rejection::new(StatusCode::BAD_REQUEST, ErrorCode::INVALID_REQUEST, why).into_response_with(rid)
}

/// One upgraded connection, before its session exists.
struct Socket {
    srv: Arc<Server>,
    endpoint: Endpoint,
    client: Option<SocketAddr>,
    /// Known from the upgrade's header; `None` until the first message says.
    principal: Option<Principal>,
    /// The caller's access token, kept only when some upstream exchanges or forwards it.
    caller_token: Option<Arc<CallerToken>>,
}

/// Why the server ends a socket: the close frame it sends, or none when the peer is gone.
type Ending = Option<CloseFrame>;

fn close(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Ending {
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

/// The live state of one socket's session.
struct Live {
    principal: Option<Principal>,
    /// The socket's caller token (from the upgrade, or from the first message).
    caller_token: Option<Arc<CallerToken>>,
    session: Option<Arc<Session>>,
    /// Fires when the session ends from the gateway's side (expiry, shutdown).
    ended: CancellationToken,
    /// Requests in flight.
    tasks: TaskTracker,
    out: mpsc::Sender<Bytes>,
    /// Shutdown began: requests are refused, and the socket closes once those in flight answered.
    draining: bool,
}

impl Socket {
    async fn run(self, upgraded: Upgraded) {
        let max = self.srv.max_body;
        let frames = Frames::default()
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(frames))
                .await;
        let (out, mut out_rx) = mpsc::channel::<Bytes>(OUT_QUEUE);
        let mut live = Live {
            principal: self.principal.clone(),
            caller_token: self.caller_token.clone(),
            session: None,
            ended: CancellationToken::new(),
            tasks: TaskTracker::new(),
            out,
            draining: false,
        };
        let ending = self.serve(&mut ws, &mut live, &mut out_rx).await;
        if let Some(frame) = ending {
            // What the requests that finished already answered goes out before the close.
            let flushed = async {
                while let Ok(m) = out_rx.try_recv() {
                    if ws.feed(text(m)).await.is_err() {
                        return;
                    }
                }
                let _ = ws.close(Some(frame)).await;
                // The peer's close reply ends the handshake (RFC 6455 §7.1.1: the server closes
                // the TCP connection after it); a dead peer gets the same bounded wait.
                while let Some(Ok(_)) = ws.next().await {}
            };
            let _ = tokio::time::timeout(CLOSE_WRITE, flushed).await;
        } else {
            // The peer closed: tungstenite queued its close reply; send it.
            let _ = tokio::time::timeout(CLOSE_WRITE, ws.flush()).await;
        }
        drop(ws);
        live.tasks.close();
        if let Some(s) = &live.session {
            // The connection was the session: what it still has in flight is cancelled.
            self.srv.gw.close_session(&s.id).await;
        }
    }

    /// The socket's loop, until one side ends it.
    async fn serve(
        &self,
        ws: &mut WebSocketStream<TokioIo<Upgraded>>,
        live: &mut Live,
        out_rx: &mut mpsc::Receiver<Bytes>,
    ) -> Ending {
        let srv = &self.srv;
        let (interval, pong_timeout) = (srv.ws.ping_interval, srv.ws.pong_timeout);
        let mut ping = tokio::time::interval_at(Instant::now() + interval, interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Set by a ping, cleared by anything the peer sends.
        let mut pong_due: Option<Instant> = None;
        let opening = Instant::now() + srv.header_read_timeout;
        // A peer that takes no answer for this long is not reading.
        let write_limit = interval + pong_timeout;
        loop {
            tokio::select! {
                () = srv.streams_closing.cancelled(), if !live.draining => {
                    live.draining = true;
                    live.tasks.close();
                }
                () = live.tasks.wait(), if live.draining => {
                    return close(CloseCode::Away, "server shutting down");
                }
                () = srv.drained.cancelled() => {
                    return close(CloseCode::Away, "server shutting down");
                }
                () = live.ended.cancelled() => {
                    return close(CloseCode::Away, "session ended");
                }
                Some(m) = out_rx.recv() => {
                    // Whatever else is queued goes out with it, in one flush: with many
                    // requests in flight, one write carries a burst of answers.
                    let write = async {
                        ws.feed(text(m)).await?;
                        for _ in 0..WRITE_BATCH {
                            let Ok(m) = out_rx.try_recv() else { break };
                            ws.feed(text(m)).await?;
                        }
                        ws.flush().await
                    };
                    match tokio::time::timeout(write_limit, write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return None,
                        Err(_) => return close(CloseCode::Policy, "not reading: an answer waited too long"),
                    }
                }
                frame = ws.next() => {
                    pong_due = None;
                    match frame {
                        None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => return None,
                        Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                            return close(
                                CloseCode::Size,
                                format!("message larger than {} bytes", srv.max_body),
                            );
                        }
                        Some(Err(WsError::Protocol(e))) => {
                            return close(CloseCode::Protocol, e.to_string());
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "WebSocket ended with an error");
                            return None;
                        }
                        Some(Ok(Frame::Text(t))) => {
                            if let Some(end) = self.message(live, Bytes::from(t)).await {
                                return end;
                            }
                        }
                        Some(Ok(Frame::Binary(_))) => {
                            return close(CloseCode::Unsupported, "MCP messages are JSON in text frames");
                        }
                        Some(Ok(Frame::Close(_))) => return None,
                        // Pings are answered by tungstenite; pongs only prove the peer is there.
                        Some(Ok(Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_))) => {}
                    }
                }
                _ = ping.tick() => {
                    if pong_due.is_none() {
                        pong_due = Some(Instant::now() + pong_timeout);
                    }
                    if let Some(s) = &live.session {
                        // An open socket keeps its session from expiring idle.
                        s.touch();
                    }
                    if tokio::time::timeout(write_limit, ws.send(Frame::Ping(Bytes::new()))).await.is_err() {
                        return close(CloseCode::Policy, "not reading");
                    }
                }
                () = sleep_until(pong_due) => {
                    return close(
                        CloseCode::Policy,
                        format!("no pong within {} ms of a ping", pong_timeout.as_millis()),
                    );
                }
                () = tokio::time::sleep_until(opening), if live.session.is_none() => {
                    return close(
                        CloseCode::Policy,
                        format!("no initialize within {} s", srv.header_read_timeout.as_secs_f64()),
                    );
                }
            }
        }
    }

    /// One text message from the client; `Some` ends the socket.
    async fn message(&self, live: &mut Live, bytes: Bytes) -> Option<Ending> {
        let gw = &self.srv.gw;
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                // Not JSON, or not JSON-RPC: answered, and the session goes on.
                let e = RpcError::new(ErrorCode(e.code()), e.to_string());
                let _ = live
                    .out
                    .send(refusal(None, e, &request_id::generate()))
                    .await;
                return None;
            }
        };
        let principal = match &live.principal {
            Some(p) => p.clone(),
            None => match self.first_caller(&msg).await {
                Ok((p, token)) => {
                    live.principal = Some(p.clone());
                    live.caller_token = token.map(Arc::new);
                    p
                }
                Err(answer) => {
                    let _ = live.out.send(answer).await;
                    return Some(close(CloseCode::Policy, "authentication failed"));
                }
            },
        };
        let Some(session) = live.session.clone() else {
            return self.opening(live, &principal, msg).await;
        };
        match msg.kind() {
            Kind::Request if msg.method() == Some("initialize") => {
                let e = RpcError::new(
                    ErrorCode::INVALID_REQUEST,
                    "this connection's session is initialized already (one session per WebSocket)",
                );
                let _ = live
                    .out
                    .send(refusal(msg.id(), e, &request_id::generate()))
                    .await;
            }
            Kind::Request if names_modern(&msg) => {
                let e = RpcError::new(
                    ErrorCode::INVALID_REQUEST,
                    "this connection was opened with initialize (handshake era); 2026-07-28 requests are not accepted on it",
                );
                let _ = live
                    .out
                    .send(refusal(msg.id(), e, &request_id::generate()))
                    .await;
            }
            Kind::Request if live.draining => {
                let e = switchboard_gateway::error::shutting_down();
                let _ = live
                    .out
                    .send(refusal(msg.id(), e, &request_id::generate()))
                    .await;
            }
            Kind::Request => {
                let gw = gw.clone();
                let tx = live.out.clone();
                let client = self.client;
                let token = live.caller_token.clone();
                // Boxed, as on stdio: the call's future is large and a task moves it by value.
                live.tasks.spawn(Box::pin(async move {
                    let rid = request_id::generate();
                    let related = Related::Shared(tx.clone());
                    let req = Request::new(&session, &rid, &related)
                        .with_principal(&principal)
                        .with_client(client)
                        .with_caller_token(token.as_deref().map(CallerToken::as_str));
                    if let Answer::Response(b) | Answer::Status(_, b) | Answer::Replayed(b) =
                        gw.request(&req, &msg).await
                    {
                        let _ = tx.send(b).await;
                    }
                }));
            }
            Kind::Notification => gw.notification(&session, msg).await,
            Kind::Result | Kind::Error => {
                if !gw.client_response(&session, msg) {
                    tracing::debug!(session = %session.id, "response to no pending request ignored");
                }
            }
        }
        None
    }

    /// Who the caller is, from the first message when the upgrade had no `Authorization` header;
    /// `Err` is the answer to a refused credential (audited like a refused header).
    async fn first_caller(&self, msg: &Message) -> Result<(Principal, Option<CallerToken>), Bytes> {
        let given = msg
            .param("_meta")
            .and_then(|m| object::get(m, AUTHORIZATION_META_KEY))
            .map(|raw| object::string_value(raw).ok_or(()));
        let authorization = match given {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(())) => {
                let e = switchboard_gateway::error::invalid_params(format!(
                    "_meta {AUTHORIZATION_META_KEY} must be a string (\"Bearer <token>\")"
                ));
                return Err(refusal(msg.id(), e, &request_id::generate()));
            }
        };
        let gw = &self.srv.gw;
        match gw
            .authenticate(Credentials {
                authorization: authorization.as_deref(),
            })
            .await
        {
            Ok(p) => {
                let token = if gw.forwards_caller_tokens() {
                    authorization
                        .as_deref()
                        .and_then(CallerToken::from_authorization)
                } else {
                    None
                };
                Ok((p, token))
            }
            Err(e) => {
                let rid = request_id::generate();
                if gw.audit().is_some() {
                    // No message in the record: its `_meta` holds the refused credential.
                    Box::pin(gw.audit_refusal(Refused {
                        msg: None,
                        method: "WebSocket /mcp/ws",
                        error: e.clone(),
                        request_id: &rid,
                        client: self.client,
                        http_status: switchboard_gateway::error::status_of(e.code),
                    }))
                    .await;
                }
                Err(refusal(msg.id(), e, &rid))
            }
        }
    }

    /// A message before the session exists: `initialize` opens it; `ping` is answered;
    /// anything else is refused.
    async fn opening(
        &self,
        live: &mut Live,
        principal: &Principal,
        msg: Message,
    ) -> Option<Ending> {
        let rid = request_id::generate();
        let id = msg.id().cloned();
        let answer = match (msg.kind(), msg.method()) {
            (Kind::Request, Some("initialize")) => {
                match self
                    .srv
                    .gw
                    .initialize(principal, msg.params(), self.endpoint)
                {
                    Ok((session, result)) => {
                        if let Some(mut outbox) = session.take_outbox() {
                            let tx = live.out.clone();
                            tokio::spawn(async move {
                                while let Some(m) = outbox.recv().await {
                                    if tx.send(m).await.is_err() {
                                        return;
                                    }
                                }
                            });
                        }
                        live.ended = session.closer();
                        live.session = Some(session);
                        id.map(|id| Bytes::from(encode::result(&id, &result)))
                    }
                    Err(SessionRefused::Invalid(e)) => Some(refusal(id.as_ref(), e, &rid)),
                    Err(SessionRefused::TooMany(why)) => {
                        let e = RpcError::new(
                            ErrorCode::INVALID_REQUEST,
                            format!("{why}; try again later"),
                        );
                        let _ = live.out.send(refusal(id.as_ref(), e, &rid)).await;
                        return Some(close(CloseCode::Again, "too many sessions"));
                    }
                }
            }
            (Kind::Request, Some("ping")) => id.map(|id| Bytes::from(encode::result(&id, "{}"))),
            (Kind::Request, _) => {
                let e = RpcError::new(
                    ErrorCode::INVALID_REQUEST,
                    "send initialize first: a WebSocket carries one MCP session",
                );
                Some(refusal(id.as_ref(), e, &rid))
            }
            _ => None,
        };
        if let Some(a) = answer {
            let _ = live.out.send(a).await;
        }
        None
    }
}

/// Whether `params._meta` names a 2026-07-28 revision (such a request has no place in a
/// handshake session; it reads the one key it needs and copies nothing).
fn names_modern(msg: &Message) -> bool {
    switchboard_protocol::meta::version(msg.params())
        .and_then(object::string_value)
        .and_then(|v| Revision::parse_any(&v))
        .is_some_and(Revision::is_modern)
}

/// Sleeps until `at`, or forever when there is no deadline.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A JSON-RPC message as a text frame. Every message the gateway writes is UTF-8 (it parsed or
/// built it); one that is not goes as a binary frame rather than not at all.
fn text(m: Bytes) -> Frame {
    match Utf8Bytes::try_from(m.clone()) {
        Ok(t) => Frame::Text(t),
        Err(_) => Frame::Binary(m),
    }
}

/// An error answer made by the transport, with `data.request_id`.
fn refusal(id: Option<&Id>, e: RpcError, rid: &str) -> Bytes {
    Bytes::from(encode::error(id, &e.with_str("request_id", rid).to_json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_paths_name_their_endpoint() {
        assert_eq!(mcp_path("/mcp/ws"), Some("/mcp"));
        assert_eq!(mcp_path("/mcp/v/support/ws"), Some("/mcp/v/support"));
        assert_eq!(mcp_path("/mcp"), None);
        assert_eq!(mcp_path("/mcp/v/ws"), None);
        assert_eq!(mcp_path("/mcp/v//ws"), None);
        assert_eq!(mcp_path("/mcp/v/a/b/ws"), None);
        assert_eq!(mcp_path("/mcpx/ws"), None);
    }

    #[test]
    fn keys_are_sixteen_bytes_of_base64() {
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ!="));
        assert!(!valid_key(b""));
    }

    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
