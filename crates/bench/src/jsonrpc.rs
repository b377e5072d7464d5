//! The JSON-RPC 2.0 envelope, read without building a JSON tree.
//!
//! Both the echo server (reading requests) and the load generator (reading responses) only need
//! a few members of each message; the rest stays as borrowed raw text, so a 1 MiB result is
//! scanned once and never copied into a `Value`.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The protocol revision the load generator asks for and sends in `MCP-Protocol-Version`.
pub const LATEST_REVISION: &str = "2025-11-25";

/// Revisions the echo server accepts in `initialize` (anything else is answered with the latest).
pub const REVISIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// One JSON-RPC message, with every member borrowed from the input.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow, default)]
    pub jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Envelope<'a>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The id as an integer, when it is one.
    pub fn id_u64(&self) -> Option<u64> {
        self.id.and_then(|r| r.get().parse().ok())
    }

    pub fn is_request(&self) -> bool {
        self.method.is_some() && self.id.is_some()
    }
}

/// `{"jsonrpc":"2.0","id":ID,"method":METHOD[,"params":PARAMS]}` with an integer id.
pub fn request(id: u64, method: &str, params: Option<&str>) -> Vec<u8> {
    let mut v = Vec::with_capacity(64 + method.len() + params.map_or(0, str::len));
    v.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    v.extend_from_slice(id.to_string().as_bytes());
    v.extend_from_slice(b",\"method\":\"");
    v.extend_from_slice(method.as_bytes());
    v.push(b'"');
    if let Some(p) = params {
        v.extend_from_slice(b",\"params\":");
        v.extend_from_slice(p.as_bytes());
    }
    v.push(b'}');
    v
}

/// `{"jsonrpc":"2.0","method":METHOD}`: a notification without params.
pub fn notification(method: &str) -> Vec<u8> {
    format!("{{\"jsonrpc\":\"2.0\",\"method\":\"{method}\"}}").into_bytes()
}

/// `{"jsonrpc":"2.0","id":ID,"result":RESULT}` around raw parts.
pub fn result(id: &str, result: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(40 + id.len() + result.len());
    v.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    v.extend_from_slice(id.as_bytes());
    v.extend_from_slice(b",\"result\":");
    v.extend_from_slice(result);
    v.push(b'}');
    v
}

/// `{"jsonrpc":"2.0","id":ID,"error":{"code":CODE,"message":MESSAGE}}`.
pub fn error(id: &str, code: i64, message: &str) -> Vec<u8> {
    let message = serde_json::to_string(message).unwrap_or_else(|_| "\"error\"".to_owned());
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{code},\"message\":{message}}}}}"
    )
    .into_bytes()
}

/// The stateless revision: no `initialize`, version and capabilities in every request's `_meta`.
pub const MODERN_REVISION: &str = "2026-07-28";

/// The `_meta` object a 2026-07-28 request of the load generator carries.
pub fn modern_meta() -> String {
    format!(
        "{{\"io.modelcontextprotocol/protocolVersion\":\"{MODERN_REVISION}\",\"io.modelcontextprotocol/clientCapabilities\":{{}},\"io.modelcontextprotocol/clientInfo\":{{\"name\":\"switchboard-load\",\"version\":\"{}\"}}}}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The `initialize` params the load generator sends.
pub fn initialize_params() -> String {
    format!(
        "{{\"protocolVersion\":\"{LATEST_REVISION}\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"switchboard-load\",\"version\":\"{}\"}}}}",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = request(7, "tools/call", Some("{\"name\":\"echo\"}"));
        let e = Envelope::parse(&r).unwrap();
        assert_eq!(e.id_u64(), Some(7));
        assert_eq!(e.method.as_deref(), Some("tools/call"));
        assert_eq!(e.params.unwrap().get(), "{\"name\":\"echo\"}");
        assert!(e.is_request());
        let n = notification("notifications/initialized");
        assert!(!Envelope::parse(&n).unwrap().is_request());
        let res = result("\"a\"", b"{}");
        let e = Envelope::parse(&res).unwrap();
        assert_eq!(e.id.unwrap().get(), "\"a\"");
        assert_eq!(e.result.unwrap().get(), "{}");
        let err = error("null", -32601, "no \"such\" method");
        let e = Envelope::parse(&err).unwrap();
        assert!(e.error.is_some());
    }
}
