//! The legacy REST routes: `GET /v1/mcp/tools` and `POST /v1/mcp/invoke` (and the same under
//! `/v1/mcp/v/<product-id>/` for a product), kept for clients written before MCP; deprecated.
//!
//! They are a translation, not a second gateway: each request becomes the MCP request it means
//! (`tools/list`, or `tools/call` with the body's `name` and `arguments`) and goes through the one
//! pipeline ([`Gateway::request`](switchboard_gateway::Gateway)) on a detached session of the
//! caller — the same authentication, scopes and view, rate limits, `Idempotency-Key` (header)
//! and audit record as on `/mcp`. What comes back is unwrapped: a result is the body as is (the
//! tool result, `isError` or not, is 200); an error is `{"error": <the JSON-RPC error object>}`
//! (its `data` as is, with `request_id`) under the HTTP status its category or code calls for.
//!
//! Every answer here, error or not, carries `Deprecation: true`, `Sunset: <http.legacy_rest.sunset>`
//! and `Link: </mcp>; rel="successor-version"` (`</mcp/v/<id>>` for a product's routes), and
//! the `Switchboard-Version` it was served with ([`super::version`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_config::LegacyRestConfig;
use switchboard_gateway::principal::Principal;
use switchboard_gateway::request::Request;
use switchboard_gateway::view::Endpoint;
use switchboard_gateway::{Answer, Related};
use switchboard_protocol::{ErrorCode, Message, object};
use tokio::sync::mpsc;

use super::Server;
use super::inputs::Inputs;
use super::rejection::Rejection;
use super::version;

/// Where the routes live.
pub(super) const PREFIX: &str = "/v1/mcp/";

/// How a detached session of these routes names its client in logs.
const CLIENT_INFO: &str = r#"{"name":"switchboard-legacy-rest"}"#;

/// `http.legacy_rest`, ready to answer with.
pub(super) struct Legacy {
    pub(super) enabled: bool,
    /// The `Sunset` header's value (an HTTP-date).
    sunset: HeaderValue,
}

impl Legacy {
    pub(super) fn new(cfg: &LegacyRestConfig) -> Legacy {
        Legacy {
            enabled: cfg.enabled,
            sunset: HeaderValue::try_from(cfg.sunset.http_date())
                .unwrap_or(HeaderValue::from_static("")),
        }
    }
}

/// The two routes.
#[derive(Clone, Copy)]
enum Op {
    Tools,
    Invoke,
}

/// A request under `/v1/mcp/` (`rest` is the path after it).
pub(super) async fn route(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    head: &Parts,
    body: Incoming,
    rest: &str,
    client: Option<SocketAddr>,
) -> Response {
    let product = rest
        .strip_prefix("v/")
        .map(|r| r.split_once('/').map_or(r, |(id, _)| id));
    let (mut resp, served) = match version::negotiate(&head.headers) {
        Err(refused) => (unwrap(refused.into_response_with(rid)).await, None),
        Ok(v) => (serve(srv, rid, head, body, rest, client).await, Some(v)),
    };
    let h = resp.headers_mut();
    h.insert(DEPRECATION, HeaderValue::from_static("true"));
    h.insert(SUNSET, srv.legacy.sunset.clone());
    let link = match product {
        None => HeaderValue::from_static("</mcp>; rel=\"successor-version\""),
        Some(id) => HeaderValue::try_from(format!("</mcp/v/{id}>; rel=\"successor-version\""))
            .unwrap_or(HeaderValue::from_static(
                "</mcp>; rel=\"successor-version\"",
            )),
    };
    h.insert(header::LINK, link);
    if let Some(v) = served {
        h.insert(version::HEADER, v);
    }
    resp
}

const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
const SUNSET: HeaderName = HeaderName::from_static("sunset");

async fn serve(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    head: &Parts,
    body: Incoming,
    rest: &str,
    client: Option<SocketAddr>,
) -> Response {
    let (product, op) = match rest.strip_prefix("v/") {
        None => (None, rest),
        Some(r) => match r.split_once('/') {
            Some((id, op)) if !id.is_empty() => (Some(id), op),
            _ => return no_route(rid).await,
        },
    };
    let op = match op {
        "tools" => Op::Tools,
        "invoke" => Op::Invoke,
        _ => return no_route(rid).await,
    };
    let endpoint = match product {
        None => Endpoint::WHOLE,
        Some(id) => match srv.gw.product_endpoint(id) {
            Some(e) => e,
            None => {
                return error(
                    rid,
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no such product: {id}"),
                )
                .await;
            }
        },
    };
    let (allowed, name, verb) = match op {
        Op::Tools => (Method::GET, "GET", "GET /v1/mcp/tools"),
        Op::Invoke => (Method::POST, "POST", "POST /v1/mcp/invoke"),
    };
    if head.method != allowed {
        let mut r = error(
            rid,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            format!("{} takes {name}", head.uri.path()),
        )
        .await;
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(name));
        return r;
    }
    if let Some(refused) = super::oauth::token_in_query(head, rid) {
        return unwrap(refused).await;
    }
    let principal =
        match super::mcp::authenticate(srv, rid, &head.headers, None, verb, client).await {
            Ok(p) => p,
            Err(r) => return unwrap(r.into_response_with(rid)).await,
        };
    let msg = match op {
        Op::Tools => list_message(head),
        Op::Invoke => call_message(srv, head, body).await,
    };
    let msg = match msg {
        Ok(m) => m,
        Err((status, why)) => return error(rid, status, "invalid_request", why).await,
    };
    let inputs = Inputs::read(&head.headers, client, srv.gw.forwards_caller_tokens());
    run(srv, rid, principal, endpoint, msg, inputs).await
}

/// `GET …/tools[?cursor=…]` as `tools/list` (a page at a time, as MCP pages it: the result's
/// `nextCursor` goes back as `?cursor=`).
fn list_message(head: &Parts) -> Result<Message, (StatusCode, String)> {
    #[derive(Deserialize)]
    struct ListQuery {
        cursor: Option<String>,
    }
    let query = axum::extract::Query::<ListQuery>::try_from_uri(&head.uri)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad query: {e}")))?;
    let params = match query.0.cursor {
        Some(c) => format!("{{\"cursor\":{}}}", object::json_string(&c)),
        None => "{}".to_owned(),
    };
    envelope("tools/list", &params)
}

/// `POST …/invoke` with `{"name": "...", "arguments": {...}}` as `tools/call`.
async fn call_message(
    srv: &Server,
    head: &Parts,
    body: Incoming,
) -> Result<Message, (StatusCode, String)> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Invoke<'a> {
        name: String,
        #[serde(default, borrow)]
        arguments: Option<&'a RawValue>,
    }
    if !super::body::is_json(&head.headers) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json".to_owned(),
        ));
    }
    let bytes = super::body::read(srv, body)
        .await
        .map_err(|r| (r.status, r.message))?;
    const SHAPE: &str = "the body must be {\"name\": \"<tool>\", \"arguments\": {…}}";
    let invoke: Invoke<'_> = serde_json::from_slice(&bytes)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("{SHAPE}: {e}")))?;
    if invoke.name.is_empty() {
        return Err((StatusCode::BAD_REQUEST, format!("{SHAPE}: `name` is empty")));
    }
    let mut params = String::with_capacity(bytes.len() + 32);
    params.push_str("{\"name\":");
    object::push_json_string(&mut params, &invoke.name);
    if let Some(args) = invoke.arguments.map(RawValue::get) {
        if !args.starts_with('{') {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("{SHAPE}: `arguments` must be a JSON object"),
            ));
        }
        params.push_str(",\"arguments\":");
        params.push_str(args);
    }
    params.push('}');
    envelope("tools/call", &params)
}

/// The MCP request a REST request means.
fn envelope(method: &str, params: &str) -> Result<Message, (StatusCode, String)> {
    let raw =
        format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"{method}\",\"params\":{params}}}");
    Message::parse(Bytes::from(raw))
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("not a valid request: {e}")))
}

/// Runs the MCP request through the pipeline on a detached session of `principal`.
async fn run(
    srv: &Arc<Server>,
    rid: &Arc<str>,
    principal: Principal,
    endpoint: Endpoint,
    msg: Message,
    inputs: Inputs,
) -> Response {
    let gw = srv.gw.clone();
    let request_id = rid.clone();
    // A task of its own: a client that goes away mid-call does not cancel it, so its
    // idempotency key completes and its audit record is written, as on `/mcp`.
    let answer = tokio::spawn(async move {
        let session = gw.detached_session(&principal, endpoint, CLIENT_INFO);
        // Progress and logs have nowhere to go; the session declared no capability, so no
        // server-to-client request is relayed to it.
        let (tx, _) = mpsc::channel(1);
        let related = Related::Shared(tx);
        let answer = {
            let req = inputs.apply(Request::new(&session, &request_id, &related));
            gw.request(&req.with_principal(&principal), &msg).await
        };
        gw.end_detached(&session).await;
        answer
    })
    .await;
    match answer {
        Ok(Answer::Cancelled) | Err(_) => {
            error(
                rid,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the call ended without an answer".to_owned(),
            )
            .await
        }
        Ok(a) => unwrap(super::mcp::json_answer(a)).await,
    }
}

/// 404 for a path under `/v1/mcp/` that names no route.
async fn no_route(rid: &str) -> Response {
    error(
        rid,
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route: the legacy REST API has GET /v1/mcp/tools and POST /v1/mcp/invoke, and the same under /v1/mcp/v/<product-id>/".to_owned(),
    )
    .await
}

/// An error this module makes, shaped like the pipeline's: `data.request_id` and `data.category`.
async fn error(rid: &str, status: StatusCode, category: &str, message: String) -> Response {
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::METHOD_NOT_FOUND,
        StatusCode::INTERNAL_SERVER_ERROR => ErrorCode::INTERNAL_ERROR,
        _ => ErrorCode::INVALID_REQUEST,
    };
    let r = Rejection::new(status, code, message)
        .with_data("category", object::json_string(category))
        .into_response_with(rid);
    unwrap(r).await
}

/// A JSON-RPC answer as REST: a result is the body; an error is `{"error": …}` under its HTTP
/// status (kept when the answer has one of its own, else from the error). Headers are kept
/// (`WWW-Authenticate`, `Retry-After`, `Idempotent-Replayed`).
async fn unwrap(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(msg) = Message::parse(bytes.clone()) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let out = if let Some(result) = msg.result() {
        Bytes::copy_from_slice(result.as_bytes())
    } else if let Some(err) = msg.error() {
        if parts.status == StatusCode::OK {
            parts.status = status_of_error(err);
        }
        Bytes::from(format!("{{\"error\":{err}}}"))
    } else {
        bytes
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(out))
}

/// The HTTP status of a JSON-RPC error that has none of its own: by its `data.category` when it
/// has one (`docs/errors.md`), else by its code.
fn status_of_error(err: &str) -> StatusCode {
    let category = object::get(err, "data").and_then(|d| object::get_str(d, "category"));
    let by_category = match category.as_deref() {
        Some("auth") => Some(StatusCode::UNAUTHORIZED),
        Some("scope" | "insufficient_scope") => Some(StatusCode::FORBIDDEN),
        Some("rate_limited") => Some(StatusCode::TOO_MANY_REQUESTS),
        Some("idempotency_conflict" | "idempotency_in_flight") => Some(StatusCode::CONFLICT),
        Some("upstream_unavailable" | "overloaded" | "circuit_open") => {
            Some(StatusCode::SERVICE_UNAVAILABLE)
        }
        Some("upstream_timeout") => Some(StatusCode::GATEWAY_TIMEOUT),
        Some("invocation_failed") => Some(StatusCode::BAD_GATEWAY),
        Some("invalid_request") => Some(StatusCode::BAD_REQUEST),
        Some("not_found") => Some(StatusCode::NOT_FOUND),
        Some("internal") => Some(StatusCode::INTERNAL_SERVER_ERROR),
        _ => None,
    };
    if let Some(s) = by_category {
        return s;
    }
    let code = object::get(err, "code")
        .and_then(|c| c.trim().parse::<i64>().ok())
        .map_or(ErrorCode::INTERNAL_ERROR, ErrorCode);
    let status = switchboard_gateway::error::status_of(code);
    if status != 200 {
        return StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    }
    match code {
        ErrorCode::PARSE_ERROR | ErrorCode::INVALID_REQUEST | ErrorCode::INVALID_PARAMS => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::METHOD_NOT_FOUND | ErrorCode::RESOURCE_NOT_FOUND => StatusCode::NOT_FOUND,
        ErrorCode::INTERNAL_ERROR => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::UPSTREAM_TIMEOUT => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::UPSTREAM_UNAVAILABLE | ErrorCode::SHUTTING_DOWN => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        // An upstream's own error, or the gateway's about one.
        _ => StatusCode::BAD_GATEWAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_without_a_status_get_one_from_category_then_code() {
        let s = |e: &str| status_of_error(e).as_u16();
        assert_eq!(s(r#"{"code":-32602,"message":"x"}"#), 400);
        assert_eq!(
            s(r#"{"code":-32602,"message":"x","data":{"category":"not_found"}}"#),
            404
        );
        assert_eq!(s(r#"{"code":-31002,"message":"x"}"#), 504);
        assert_eq!(s(r#"{"code":-31001,"message":"x"}"#), 503);
        assert_eq!(s(r#"{"code":-31030,"message":"x"}"#), 409);
        assert_eq!(s(r#"{"code":-32001,"message":"x"}"#), 502);
        assert_eq!(s(r#"{"code":"bad"}"#), 500);
    }
}
