//! JSON-RPC error codes and the error objects the gateway itself produces.
//!
//! The spec's codes (-32700 … -32603, -32002, -32042) are used with their spec meaning only. Errors
//! that are the gateway's own (an upstream that is down, slow or broken) use codes outside
//! -32768..-32000, which JSON-RPC reserves and MCP 2026-07-28 allocates, so no client mistakes a
//! gateway failure for a peer's protocol error. `docs/errors.md` lists every one.

use crate::catalogue::ErrorKind;
use crate::object::{json_string, push_json_string};

/// A JSON-RPC error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    pub const PARSE_ERROR: ErrorCode = ErrorCode(-32700);
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(-32600);
    pub const METHOD_NOT_FOUND: ErrorCode = ErrorCode(-32601);
    pub const INVALID_PARAMS: ErrorCode = ErrorCode(-32602);
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(-32603);
    /// MCP 2025-11-25: resource not found (2026-07-28 uses -32602 instead).
    pub const RESOURCE_NOT_FOUND: ErrorCode = ErrorCode(-32002);
    /// MCP 2026-07-28: an `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` or `Mcp-Param-*`
    /// header disagrees with the body (HTTP 400).
    pub const HEADER_MISMATCH: ErrorCode = ErrorCode(-32020);
    /// MCP 2026-07-28: the request needs a client capability it did not declare (HTTP 400).
    pub const MISSING_CLIENT_CAPABILITY: ErrorCode = ErrorCode(-32021);
    /// MCP 2026-07-28: the requested protocol version is not served (HTTP 400).
    pub const UNSUPPORTED_PROTOCOL_VERSION: ErrorCode = ErrorCode(-32022);

    /// The upstream could not be reached, started, or has failed and is not serving.
    pub const UPSTREAM_UNAVAILABLE: ErrorCode = ErrorCode(-31001);
    /// The upstream did not answer within its timeout; the request was cancelled upstream.
    pub const UPSTREAM_TIMEOUT: ErrorCode = ErrorCode(-31002);
    /// The upstream broke the protocol (invalid message, wrong answer shape).
    pub const UPSTREAM_PROTOCOL: ErrorCode = ErrorCode(-31003);
    /// The upstream exited or closed its connection while the request was in flight.
    pub const UPSTREAM_CLOSED: ErrorCode = ErrorCode(-31004);
    /// The gateway is shutting down and takes no new requests.
    pub const SHUTTING_DOWN: ErrorCode = ErrorCode(-31005);
    /// A concurrency limit (an upstream's `max_concurrency` or `limits.max_inflight`) is full
    /// and its wait queue too, or the call waited `limits.max_wait`; retry later.
    pub const OVERLOADED: ErrorCode = ErrorCode(-31006);
    /// The upstream's circuit breaker is open after repeated failures; `data.retry_after_ms`
    /// says when it lets a probe call through.
    pub const CIRCUIT_OPEN: ErrorCode = ErrorCode(-31007);
    /// The audit log's queue is full and `audit.on_full: refuse_calls` refuses audited calls.
    pub const AUDIT_BACKLOG: ErrorCode = ErrorCode(-31008);
    /// Sent to an upstream: the client its request came from did not declare the capability
    /// (sampling, elicitation, roots) this server-to-client request needs.
    pub const CLIENT_LACKS_CAPABILITY: ErrorCode = ErrorCode(-31010);
    /// Sent to an upstream: its server-to-client request could not be tied to one client.
    pub const NO_CLIENT_FOR_REQUEST: ErrorCode = ErrorCode(-31011);
    /// Sent to an upstream: the client did not answer its server-to-client request in time.
    pub const CLIENT_TIMEOUT: ErrorCode = ErrorCode(-31012);
    /// To a 2026-07-28 caller: its `requestState` expired, or the call it stood for is gone.
    pub const STATE_EXPIRED: ErrorCode = ErrorCode(-31020);
    /// To a 2026-07-28 caller: its `requestState` is held by another replica of the gateway.
    pub const STATE_ELSEWHERE: ErrorCode = ErrorCode(-31021);
    /// To a 2026-07-28 caller: the call asked for input more often than `modern.max_rounds`.
    pub const TOO_MANY_ROUNDS: ErrorCode = ErrorCode(-31022);
    /// To a 2026-07-28 caller: the gateway holds `modern.max_held` calls for retries already.
    pub const TOO_MANY_HELD: ErrorCode = ErrorCode(-31023);
}

/// An error object the gateway makes: `{"code":…,"message":…,"data":{"category":…,
/// "retryable":…,…}}`. Its kind, from the [catalogue](crate::catalogue), writes `data.category`
/// and `data.retryable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
    kind: &'static ErrorKind,
    /// Raw JSON members of `data` (`"key":value` pairs already encoded), in order.
    data: Vec<(String, String)>,
}

impl RpcError {
    /// An error of the catalogue's kind for `code` ([`ErrorKind::of_code`]).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            kind: ErrorKind::of_code(code),
            data: Vec::new(),
        }
    }

    /// An error of `kind` (its code, category and retryability).
    pub fn of(kind: &'static ErrorKind, message: impl Into<String>) -> RpcError {
        RpcError {
            code: kind.code,
            message: message.into(),
            kind,
            data: Vec::new(),
        }
    }

    /// Its kind in the catalogue.
    pub fn kind(&self) -> &'static ErrorKind {
        self.kind
    }

    /// Adds `data.<key>` with a raw JSON value. `category` and `retryable` belong to the
    /// error's kind and are ignored here.
    pub fn with_raw(mut self, key: &str, raw: impl Into<String>) -> RpcError {
        if matches!(key, "category" | "retryable") {
            return self;
        }
        self.data.push((key.to_owned(), raw.into()));
        self
    }

    /// The members of `data` so far: (key, raw JSON value), in order (without `category` and
    /// `retryable`, which are the kind's).
    pub fn data(&self) -> &[(String, String)] {
        &self.data
    }

    /// Adds `data.<key>` with a string value.
    pub fn with_str(self, key: &str, value: &str) -> RpcError {
        let raw = json_string(value);
        self.with_raw(key, raw)
    }

    /// The error object as JSON text.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(64 + self.message.len());
        s.push_str("{\"code\":");
        s.push_str(&self.code.0.to_string());
        s.push_str(",\"message\":");
        push_json_string(&mut s, &self.message);
        s.push_str(",\"data\":{\"category\":\"");
        s.push_str(self.kind.category.as_str());
        s.push_str("\",\"retryable\":");
        s.push_str(if self.kind.retryable { "true" } else { "false" });
        for (k, v) in &self.data {
            s.push(',');
            push_json_string(&mut s, k);
            s.push(':');
            s.push_str(v);
        }
        s.push_str("}}");
        s
    }
}

/// A handshake-era error object made fit for a 2026-07-28 client. `-32002` (resource not found)
/// became `-32602` there, with `data` kept. Codes inside the band the spec reserves
/// (-32099..=-32020) that 2026-07-28 does not define would be read as its own codes (it validates
/// -32020..-32022 by shape), so they become -32603 with the original in `data.upstream_code`.
/// `None` when the error needs no change.
pub fn remap_for_modern(error: &str) -> Option<String> {
    use crate::object::{Edit, edit, get};
    let code: i64 = get(error, "code")?.trim().parse().ok()?;
    let defined = [-32020, -32021, -32022];
    let new_code = match code {
        -32002 => -32602,
        c if (-32099..=-32020).contains(&c) && !defined.contains(&c) => -32603,
        _ => return None,
    };
    let code_text = new_code.to_string();
    let mut out = edit(error, &[("code", Edit::Set(&code_text))])?;
    if new_code == -32603 {
        let original = code.to_string();
        let data = match get(&out, "data") {
            Some(d) if d.starts_with('{') => edit(d, &[("upstream_code", Edit::Set(&original))])?,
            Some(_) => return Some(out),
            None => format!("{{\"upstream_code\":{original}}}"),
        };
        out = edit(&out, &[("data", Edit::Set(&data))])?;
    }
    Some(out)
}

/// Adds `request_id` to the `data` of a raw error object, when `data` is absent or an object that
/// lacks the key; any other `data` is left alone. Returns `None` when nothing needed changing.
pub fn add_request_id(error: &str, request_id: &str) -> Option<String> {
    use crate::object::{Edit, edit, get};
    let rid = json_string(request_id);
    match get(error, "data") {
        None => {
            let data = format!("{{\"request_id\":{rid}}}");
            edit(error, &[("data", Edit::Set(&data))])
        }
        Some(d) if d.starts_with('{') && get(d, "request_id").is_none() => {
            let data = edit(d, &[("request_id", Edit::Set(&rid))])?;
            edit(error, &[("data", Edit::Set(&data))])
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_error_objects() {
        let e = RpcError::new(ErrorCode::UPSTREAM_TIMEOUT, "upstream \"x\" timed out")
            .with_str("upstream", "x")
            .with_raw("timeout_ms", "30000");
        assert_eq!(
            e.to_json(),
            r#"{"code":-31002,"message":"upstream \"x\" timed out","data":{"category":"upstream_timeout","retryable":true,"upstream":"x","timeout_ms":30000}}"#
        );
        // The category is the kind's: text cannot set or repeat it.
        let e = RpcError::of(crate::catalogue::ErrorKind::UNKNOWN_TOOL, "Unknown tool: t")
            .with_str("category", "made_up")
            .with_raw("retryable", "true")
            .with_str("name", "t");
        assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(
            e.to_json(),
            r#"{"code":-32602,"message":"Unknown tool: t","data":{"category":"not_found","retryable":false,"name":"t"}}"#
        );
        assert_eq!(
            RpcError::new(ErrorCode(-1), "m").to_json(),
            r#"{"code":-1,"message":"m","data":{"category":"internal","retryable":false}}"#
        );
    }

    #[test]
    fn errors_are_remapped_for_modern_clients() {
        assert_eq!(
            remap_for_modern(
                r#"{"code":-32002,"message":"Resource not found","data":{"uri":"x"}}"#
            )
            .unwrap(),
            r#"{"code":-32602,"message":"Resource not found","data":{"uri":"x"}}"#
        );
        assert_eq!(
            remap_for_modern(r#"{"code":-32042,"message":"URL elicitation required"}"#).unwrap(),
            r#"{"code":-32603,"message":"URL elicitation required","data":{"upstream_code":-32042}}"#
        );
        assert_eq!(remap_for_modern(r#"{"code":-32602,"message":"m"}"#), None);
        assert_eq!(remap_for_modern(r#"{"code":-32022,"message":"m"}"#), None);
        assert_eq!(remap_for_modern(r#"{"code":-31001,"message":"m"}"#), None);
    }

    #[test]
    fn request_id_is_added_without_overwriting() {
        assert_eq!(
            add_request_id(r#"{"code":1,"message":"m"}"#, "r1").unwrap(),
            r#"{"code":1,"message":"m","data":{"request_id":"r1"}}"#
        );
        assert_eq!(
            add_request_id(r#"{"code":1,"message":"m","data":{"a":1}}"#, "r1").unwrap(),
            r#"{"code":1,"message":"m","data":{"a":1,"request_id":"r1"}}"#
        );
        assert_eq!(
            add_request_id(r#"{"code":1,"message":"m","data":{"request_id":2}}"#, "r"),
            None
        );
        assert_eq!(
            add_request_id(r#"{"code":1,"message":"m","data":"text"}"#, "r"),
            None
        );
    }
}
