//! 2026-07-28 requests on `/mcp`: validated, served, answered without a session.
//!
//! A modern request is checked in the order the revision's errors imply, each step with its own
//! status and code (`docs/errors.md`):
//!
//! - V0: a notification is accepted (202) and nothing more: no client notification is defined on
//!   modern HTTP, and closing a response stream is how a client cancels;
//! - V1: `params._meta` names a protocol version and the client's capabilities (400, -32602);
//! - V2: `MCP-Protocol-Version` equals that version (400, -32020);
//! - V3: `Mcp-Method` equals the method (400, -32020);
//! - V4: the version is one this endpoint serves statelessly (400, -32022; a handshake revision
//!   gets the handshake era's "send initialize first");
//! - V5: `Mcp-Name` equals `params.name` (`tools/call`, `prompts/get`) or `params.uri`
//!   (`resources/read`), after base64-sentinel decoding (400, -32020);
//! - then the gateway serves it, and a method the era lacks is 404 (-32601).
//!
//! The answer is JSON, or an SSE stream as soon as something related (progress, an opted-in log
//! line) comes before the response. Modern streams carry no event ids and cannot be resumed;
//! closing one, or dropping the connection while the JSON answer is pending, cancels the request
//! upstream.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use switchboard_gateway::capabilities::supported_versions;
use switchboard_gateway::request::Request;
use switchboard_gateway::sessions::Session;
use switchboard_gateway::view::ViewKey;
use switchboard_gateway::{Answer, Gateway, Related, related};
use switchboard_protocol::headers::{self, trim_ows};
use switchboard_protocol::message::encode;
use switchboard_protocol::meta::RequestMeta;
use switchboard_protocol::sse;
use switchboard_protocol::{ErrorCode, Message, Revision, object};
use tokio::sync::mpsc;

use super::Server;
use super::classify::VERSION_HEADER;
use super::inputs::Inputs;
use super::mcp::{
    RELATED_QUEUE, RunToEnd, Start, event_stream, header_str, json, json_answer, start,
};
use super::rejection::Rejection;

const METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
const NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");

/// Serves one POSTed message of the modern era.
pub(super) async fn post(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    headers: &HeaderMap,
    msg: Message,
    at: super::mcp::At,
) -> Result<Response, Rejection> {
    let client = at.client;
    if msg.is_notification() {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let id = msg.id().cloned();
    let principal =
        super::mcp::authenticate(srv, rid, headers, Some(&msg), "POST /mcp", client).await?;
    let meta = validate(headers, &msg).map_err(|r| r.with_id(id.clone()))?;
    if msg.method() == Some("tools/call") {
        validate_params(&srv.gw, &principal, at.endpoint, headers, &msg)
            .map_err(|r| r.with_id(id.clone()))?;
    }
    if msg.method() == Some("subscriptions/listen") {
        // Boxed: a listen's future is ten times a call's, and every POST's would carry room
        // for it otherwise.
        let view = srv
            .gw
            .caller_key(ViewKey::at(at.endpoint, true), &principal);
        return Ok(Box::pin(listen(srv, rid, msg, view)).await);
    }
    let session = srv
        .gw
        .modern_caller(&principal, &meta, at.endpoint)
        .map_err(|e| {
            let mut r = Rejection::from_error(e).with_id(id);
            r.status = StatusCode::BAD_REQUEST;
            r
        })?;
    Ok(serve(
        srv,
        rid,
        session,
        msg,
        Inputs::read(headers, client, srv.gw.forwards_caller_tokens()),
    )
    .await)
}

/// Steps V1 to V5; the request's `_meta`, read once, for whoever needs it next.
fn validate<'m>(headers: &HeaderMap, msg: &'m Message) -> Result<RequestMeta<'m>, Rejection> {
    let method = msg.method().unwrap_or_default();
    let params = msg.params().filter(|p| p.starts_with('{'));
    let meta = RequestMeta::read(params);
    let missing = meta.missing();
    let (Some(_), Some(version), true) = (params, meta.version.as_deref(), missing.is_empty())
    else {
        return Err(Rejection::missing_meta(&missing));
    };
    mirrored(headers, VERSION_HEADER, "MCP-Protocol-Version", version)?;
    mirrored(headers, METHOD_HEADER, "Mcp-Method", method)?;
    match Revision::parse_any(version) {
        Some(r) if r.is_modern() => {}
        Some(_) => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                format!(
                    "Bad Request: {version} is a handshake-era revision: send initialize first, then use MCP-Session-Id"
                ),
            ));
        }
        None => {
            return Err(Rejection::unsupported_version(
                version,
                supported_versions(),
            ));
        }
    }
    if let Some(key) = headers::name_param(method) {
        let body = params.and_then(|p| object::get_str(p, key));
        let header = headers.get(NAME_HEADER).map(|v| v.to_str().map_err(|_| ()));
        match (header, body) {
            (None, Some(b)) => {
                return Err(Rejection::header_mismatch(format!(
                    "the Mcp-Name header is missing; params.{key} is {b:?}"
                )));
            }
            (Some(Err(())), _) => {
                return Err(Rejection::header_mismatch(
                    "the Mcp-Name header is not visible ASCII; send non-ASCII values as =?base64?…?="
                        .into(),
                ));
            }
            (Some(Ok(h)), Some(b)) if !headers::matches(h, &b) => {
                return Err(Rejection::header_mismatch(format!(
                    "Mcp-Name header value {:?} does not match params.{key} {b:?}",
                    trim_ows(h)
                )));
            }
            // No name in the body: the gateway's own "params.name must be a string" says more.
            _ => {}
        }
    }
    Ok(meta)
}

/// A header that mirrors a body value (V2, V3) must be there and equal to it.
fn mirrored(
    headers: &HeaderMap,
    header: HeaderName,
    shown: &str,
    body: &str,
) -> Result<(), Rejection> {
    match header_str(headers, header).map(trim_ows) {
        None => Err(Rejection::header_mismatch(format!(
            "the {shown} header is missing; the body says {body:?}"
        ))),
        Some(h) if h != body => Err(Rejection::header_mismatch(format!(
            "{shown} header value {h:?} does not match body value {body:?}"
        ))),
        Some(_) => Ok(()),
    }
}

/// Step V6: every argument a tool mirrors into an `Mcp-Param-*` header (its `x-mcp-header`
/// annotations) is there, well formed, and equal to the body's value.
fn validate_params(
    gw: &Gateway,
    principal: &switchboard_gateway::principal::Principal,
    endpoint: switchboard_gateway::view::Endpoint,
    headers: &HeaderMap,
    msg: &Message,
) -> Result<(), Rejection> {
    let Some(params) = msg.params() else {
        return Ok(());
    };
    let Some(name) = object::get_str(params, "name") else {
        return Ok(());
    };
    // The caller's own view: a tool it may not see has no annotations to check (it is then
    // answered as unknown, like any name the view does not have).
    let view = gw.caller_view(ViewKey::at(endpoint, true), principal);
    let Some(annotations) = view.param_headers(&name) else {
        return Ok(());
    };
    let arguments = object::get(params, "arguments").unwrap_or("{}");
    for a in annotations.iter() {
        let Some(raw) = a.value_in(arguments) else {
            continue;
        };
        let what = || format!("arguments.{}", a.path.join("."));
        match headers.get(a.header.as_str()).map(|v| v.to_str()) {
            None => {
                return Err(Rejection::header_mismatch(format!(
                    "the Mcp-Param-{} header is missing; {} is {raw}",
                    a.name,
                    what()
                )));
            }
            Some(Err(_)) => {
                return Err(Rejection::header_mismatch(format!(
                    "the Mcp-Param-{} header is not visible ASCII",
                    a.name
                )));
            }
            Some(Ok(h)) if !headers::param_matches(h, raw, a.ty) => {
                return Err(Rejection::header_mismatch(format!(
                    "Mcp-Param-{} header value {:?} does not match {} {raw} (or is not valid =?base64?…?=)",
                    a.name,
                    trim_ows(h),
                    what()
                )));
            }
            Some(Ok(_)) => {}
        }
    }
    Ok(())
}

/// Runs one modern request: JSON if its response comes first, a per-request SSE stream as soon
/// as anything else does.
async fn serve(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    session: Arc<Session>,
    msg: Message,
    inputs: Inputs,
) -> Response {
    let (tx, mut rx) = related::channel::<Bytes>(RELATED_QUEUE);
    let tx = Related::Own(tx);
    let gw: Gateway = srv.gw.clone();
    let s2 = session.clone();
    let rid2 = rid.clone();
    // The request ends with the caller: if the client goes away before the answer, the request is
    // cancelled upstream (and its bookkeeping still runs to its end).
    let mut handler = RunToEnd::cancelling(
        async move {
            let req = inputs.apply(Request::new(&s2, &rid2, &tx));
            let a = gw.request(&req, &msg).await;
            gw.end_modern(&s2).await;
            a
        },
        session.closer(),
    );
    let (first, answer) = match start(&mut handler, &mut rx).await {
        Ok(Start::Json(a)) => return json_answer(a),
        Ok(Start::Stream(first, answer)) => (first, answer),
        Err(broken) => return broken.into_response_with(rid),
    };
    let (out, body) = mpsc::channel::<Bytes>(RELATED_QUEUE);
    let cancel = session.closer();
    let keepalive = srv.keepalive;
    let drained = srv.drained.clone();
    tokio::spawn(async move {
        let _ = out.send(frame(&first)).await;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
        let a = match answer {
            Some(a) => a,
            None => loop {
                tokio::select! {
                    biased;
                    m = rx.recv() => match m {
                        Some(m) => {
                            let _ = out.send(frame(&m)).await;
                        }
                        None => break (&mut handler).await,
                    },
                    a = &mut handler => break a,
                    // The client closed the stream, or the server is going away: that cancels.
                    _ = out.closed() => {
                        cancel.cancel();
                        break (&mut handler).await;
                    }
                    _ = drained.cancelled() => {
                        cancel.cancel();
                        break (&mut handler).await;
                    }
                    _ = tick.tick() => {
                        let mut c = Vec::new();
                        sse::encode_comment(&mut c, "keepalive");
                        let _ = out.send(Bytes::from(c)).await;
                    }
                }
            },
        };
        while let Some(m) = rx.try_recv() {
            let _ = out.send(frame(&m)).await;
        }
        if let Answer::Response(b) | Answer::Status(_, b) | Answer::Replayed(b) = a {
            let _ = out.send(frame(&b)).await;
        }
    });
    sse_response(body)
}

/// `subscriptions/listen`: an SSE stream that opens with the acknowledgement and stays open
/// until the client closes it or the gateway shuts down (then it ends with the graceful result).
async fn listen(srv: &Arc<Server>, rid: &Arc<str>, msg: Message, view: ViewKey) -> Response {
    let mut listening = match srv.gw.listen(view, &msg).await {
        Ok(l) => l,
        Err(e) => {
            let body = encode::error(msg.id(), &e.with_str("request_id", rid).to_json());
            return json(StatusCode::OK, Bytes::from(body));
        }
    };
    let (out, body) = mpsc::channel::<Bytes>(RELATED_QUEUE);
    let keepalive = srv.keepalive;
    let closing = srv.streams_closing.clone();
    tokio::spawn(async move {
        if out.send(frame(&listening.ack)).await.is_err() {
            return;
        }
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
        loop {
            tokio::select! {
                biased;
                m = listening.rx.recv() => match m {
                    Some(m) => {
                        if out.send(frame(&m)).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                // The client closed the stream: the listen ends (dropping it lets go upstream).
                _ = out.closed() => break,
                _ = closing.cancelled() => {
                    let _ = out.send(frame(&listening.done)).await;
                    break;
                }
                _ = tick.tick() => {
                    let mut c = Vec::new();
                    sse::encode_comment(&mut c, "keepalive");
                    if out.send(Bytes::from(c)).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    sse_response(body)
}

fn sse_response(body: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(body, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    event_stream(Body::from_stream(stream))
}

/// One SSE event without id: modern streams cannot be resumed.
fn frame(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 16);
    sse::encode_event(&mut out, None, None, data);
    Bytes::from(out)
}
