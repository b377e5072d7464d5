//! JSON-RPC error codes and the error objects the gateway itself produces.
//!
//! The spec's codes (-32700 … -32603, -32002, -32042) are used with their spec meaning only. Errors
//! that are the gateway's own (an upstream that is down, slow or broken) use codes outside
//! -32768..-32000, which JSON-RPC reserves and MCP 2026-07-28 allocates, so no client mistakes a
//! gateway failure for a peer's protocol error. `docs/errors.md` lists every one.

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
    /// MCP 2025-11-25: resource not found.
    pub const RESOURCE_NOT_FOUND: ErrorCode = ErrorCode(-32002);

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
    /// Sent to an upstream: the client its request came from did not declare the capability
    /// (sampling, elicitation, roots) this server-to-client request needs.
    pub const CLIENT_LACKS_CAPABILITY: ErrorCode = ErrorCode(-31010);
    /// Sent to an upstream: its server-to-client request could not be tied to one client.
    pub const NO_CLIENT_FOR_REQUEST: ErrorCode = ErrorCode(-31011);
    /// Sent to an upstream: the client did not answer its server-to-client request in time.
    pub const CLIENT_TIMEOUT: ErrorCode = ErrorCode(-31012);
}

/// An error object under construction: `{"code":…,"message":…,"data":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
    /// Raw JSON members of `data` (`"key":value` pairs already encoded), in order.
    data: Vec<(String, String)>,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: Vec::new(),
        }
    }

    /// Adds `data.<key>` with a raw JSON value.
    pub fn with_raw(mut self, key: &str, raw: impl Into<String>) -> RpcError {
        self.data.push((key.to_owned(), raw.into()));
        self
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
        if !self.data.is_empty() {
            s.push_str(",\"data\":{");
            for (i, (k, v)) in self.data.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                push_json_string(&mut s, k);
                s.push(':');
                s.push_str(v);
            }
            s.push('}');
        }
        s.push('}');
        s
    }
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
            r#"{"code":-31002,"message":"upstream \"x\" timed out","data":{"upstream":"x","timeout_ms":30000}}"#
        );
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
