//! The spans of one request, when tracing is on (`telemetry:`; `switchboard-trace`): a SERVER
//! span for the request the gateway serves, named and attributed by the OpenTelemetry semantic
//! conventions for MCP (`{mcp.method.name} {target}`, `mcp.*`, `jsonrpc.*`, `gen_ai.*`), with
//! the pipeline stages as events; and a CLIENT span for each call to an upstream (one per
//! member tried in a group), whose context is what the upstream receives as its parent.
//!
//! Everything here runs only when the gateway has a tracer; attributes are computed only for a
//! span that is recorded (sampled).

use std::net::SocketAddr;

use switchboard_config::Transport;
use switchboard_protocol::{Id, Kind, Message, RpcError, object};
use switchboard_trace::{Kind as SpanKind, Span, SpanContext, Tracer};
use switchboard_upstream::TraceHeaders;

use crate::pipeline::{Answer, Outcome};
use crate::request::Request;
use crate::upstreams::Upstream;

/// The caller's trace context: the `traceparent` header, else `params._meta.traceparent` (the
/// 2026-07-28 reserved key, and the MCP semantic conventions' carrier on any revision). One
/// that is not valid W3C is ignored, as the spec asks.
pub(crate) fn caller_context<'m>(
    req: &Request<'m>,
    msg: &'m Message,
) -> (Option<SpanContext>, Option<&'m str>) {
    if let Some(t) = req.trace {
        let state = t
            .tracestate
            .filter(|s| switchboard_trace::context::valid_tracestate(s));
        return (SpanContext::parse(t.traceparent), state);
    }
    let Some(meta) = msg.param("_meta") else {
        return (None, None);
    };
    let [tp, ts] = object::get_all(meta, ["traceparent", "tracestate"]);
    // Both are plain strings; one with escapes is not a valid value anyway.
    let plain = |raw: &'m str| raw.strip_prefix('"')?.strip_suffix('"');
    let cx = tp.and_then(plain).and_then(SpanContext::parse);
    let state = ts
        .and_then(plain)
        .filter(|s| switchboard_trace::context::valid_tracestate(s));
    (cx, state)
}

/// The request's SERVER span.
pub(crate) fn server(
    tracer: &Tracer,
    req: &Request<'_>,
    msg: &Message,
    method: &str,
    id: &Id,
    parent: Option<SpanContext>,
    state: Option<&str>,
) -> Span {
    let mut span = tracer.server(parent, state, || span_name(method, msg));
    if span.is_recording() {
        span.set_str("mcp.method.name", method);
        span.set_str("jsonrpc.request.id", id.to_string());
        span.set_str("jsonrpc.protocol.version", "2.0");
        let revision = req.session.record.revision;
        span.set_str("mcp.protocol.version", revision.as_str());
        if !revision.is_modern() {
            span.set_str("mcp.session.id", &*req.session.id);
        }
        target_attributes(&mut span, method, msg);
        span.set_str("switchboard.request_id", &**req.request_id);
        match req.client {
            Some(addr) => {
                span.set_str("network.transport", "tcp");
                span.set_str("network.protocol.name", "http");
                client_address(&mut span, addr);
            }
            None => span.set_str("network.transport", "pipe"),
        }
    }
    span
}

/// A CLIENT span for one call to `up`, under the request's server span.
pub(crate) fn client(
    tracer: &Tracer,
    parent: &Span,
    up: &Upstream,
    method: &str,
    params: Option<&str>,
) -> Span {
    let name = || match target(method, params) {
        Some(t) => format!("{method} {t}"),
        None => method.to_owned(),
    };
    let mut span = tracer.child(parent, SpanKind::Client, name);
    if span.is_recording() {
        span.set_str("mcp.method.name", method);
        if let Some(t) = target(method, params) {
            match method {
                "tools/call" => {
                    span.set_str("gen_ai.tool.name", &t);
                    span.set_str("gen_ai.operation.name", "execute_tool");
                }
                "prompts/get" => span.set_str("gen_ai.prompt.name", &t),
                _ => {}
            }
        }
        if method == "resources/read"
            && let Some(uri) = params.and_then(|p| object::get_str(p, "uri"))
        {
            span.set_str("mcp.resource.uri", &uri);
        }
        span.set_str("switchboard.upstream", up.name());
        match &up.cfg.transport {
            Transport::Http { url, .. } | Transport::Sse { url, .. } => {
                span.set_str("network.transport", "tcp");
                span.set_str("network.protocol.name", "http");
                if let Some((host, port)) = host_port(url) {
                    span.set_str("server.address", host);
                    span.set_int("server.port", i64::from(port));
                }
            }
            _ => span.set_str("network.transport", "pipe"),
        }
    }
    span
}

/// What an upstream call is sent with: this span's context, and the caller's `tracestate`.
pub(crate) fn headers(span: &Span, tracestate: Option<&str>) -> TraceHeaders {
    TraceHeaders {
        traceparent: span.context().traceparent(),
        tracestate: tracestate.map(Box::from),
    }
}

/// Records how a handler's call ended on a (recorded) span: `error.type` and
/// `rpc.response.status_code` for an error, `tool_error` for a result with `isError: true`.
pub(crate) fn call_outcome(span: &mut Span, out: &Result<Outcome, RpcError>) {
    if !span.is_recording() {
        return;
    }
    match out {
        Err(e) => error_code(span, e.code.0, &e.message),
        Ok(Outcome::Upstream(m)) => message_outcome(span, m),
        Ok(Outcome::Cancelled) => span.fail("cancelled", "cancelled by the client"),
        Ok(_) => {}
    }
}

/// Records the answer the caller got on the (recorded) server span.
pub(crate) fn answer_outcome(span: &mut Span, answer: &Answer) {
    if !span.is_recording() {
        return;
    }
    let body = match answer {
        Answer::Response(b) | Answer::Replayed(b) => b,
        Answer::Status(status, b) => {
            span.set_int("http.response.status_code", i64::from(*status));
            b
        }
        Answer::Cancelled => {
            span.fail("cancelled", "cancelled by the client");
            return;
        }
    };
    if matches!(answer, Answer::Replayed(_)) {
        span.set_bool("switchboard.idempotent_replay", true);
    }
    if let Ok(text) = std::str::from_utf8(body) {
        outcome_of_text(span, text);
    }
}

fn message_outcome(span: &mut Span, m: &Message) {
    match m.kind() {
        Kind::Error => {
            let err = m.error().unwrap_or("{}");
            let code = object::get(err, "code")
                .and_then(|c| c.parse::<i64>().ok())
                .unwrap_or(0);
            let message = object::get_str(err, "message").unwrap_or_default();
            error_code(span, code, &message);
        }
        _ => {
            if m.result().is_some_and(|r| object::is_true(r, "isError")) {
                span.fail("tool_error", "the tool reported an error (isError)");
            }
        }
    }
}

fn outcome_of_text(span: &mut Span, text: &str) {
    if let Some(err) = object::get(text, "error") {
        let code = object::get(err, "code")
            .and_then(|c| c.parse::<i64>().ok())
            .unwrap_or(0);
        let message = object::get_str(err, "message").unwrap_or_default();
        error_code(span, code, &message);
    } else if object::get(text, "result").is_some_and(|r| object::is_true(r, "isError")) {
        span.fail("tool_error", "the tool reported an error (isError)");
    }
}

fn error_code(span: &mut Span, code: i64, message: &str) {
    let code = code.to_string();
    span.set_str("rpc.response.status_code", &code);
    span.fail(&code, message);
}

/// `{mcp.method.name} {target}`, the target being the tool or prompt name.
fn span_name(method: &str, msg: &Message) -> String {
    match target(method, msg.params()) {
        Some(t) => format!("{method} {t}"),
        None => method.to_owned(),
    }
}

fn target(method: &str, params: Option<&str>) -> Option<String> {
    match method {
        "tools/call" | "prompts/get" => params
            .and_then(|p| object::get_str(p, "name"))
            .map(|n| n.into_owned()),
        _ => None,
    }
}

fn target_attributes(span: &mut Span, method: &str, msg: &Message) {
    match method {
        "tools/call" => {
            if let Some(name) = msg.param_str("name") {
                span.set_str("gen_ai.tool.name", &name);
            }
            span.set_str("gen_ai.operation.name", "execute_tool");
        }
        "prompts/get" => {
            if let Some(name) = msg.param_str("name") {
                span.set_str("gen_ai.prompt.name", &name);
            }
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            if let Some(uri) = msg.param_str("uri") {
                span.set_str("mcp.resource.uri", &uri);
            }
        }
        _ => {}
    }
}

fn client_address(span: &mut Span, addr: SocketAddr) {
    span.set_str("client.address", addr.ip().to_string());
    span.set_int("client.port", i64::from(addr.port()));
}

/// The host and port of an `http(s)://` URL (the scheme's port when none is written).
fn host_port(url: &str) -> Option<(&str, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(default);
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, port.parse().ok()?)),
        None => Some((authority, default)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_upstream_urls() {
        assert_eq!(
            host_port("http://127.0.0.1:9000/mcp"),
            Some(("127.0.0.1", 9000))
        );
        assert_eq!(
            host_port("https://mcp.example.com/x"),
            Some(("mcp.example.com", 443))
        );
        assert_eq!(host_port("http://[::1]:8080/"), Some(("::1", 8080)));
        assert_eq!(host_port("http://u:p@h/"), Some(("h", 80)));
    }
}
