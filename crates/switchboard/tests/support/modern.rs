//! A 2026-07-28 client over the harness: requests carry their version and capabilities in
//! `_meta` and the headers that mirror the body; no session.

use serde_json::{Value, json};

use super::{Gateway, Reply};

pub const V: &str = "2026-07-28";

/// The `_meta` every modern request carries (no client capabilities), plus `extra` members.
pub fn meta(extra: Value) -> Value {
    let mut m = json!({
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "modern-test", "version": "1"},
    });
    if let (Some(m), Some(e)) = (m.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    m
}

/// A modern request body with `params` (an object) and the standard `_meta` plus `extra_meta`.
pub fn body(id: u64, method: &str, mut params: Value, extra_meta: Value) -> String {
    params["_meta"] = meta(extra_meta);
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// The headers a well-behaved modern client sends for `method` (and `name`, when it has one).
pub fn headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("mcp-protocol-version", V), ("mcp-method", method)];
    if let Some(n) = name {
        h.push(("mcp-name", n));
    }
    h
}

/// A modern request with the standard `_meta` and headers.
pub async fn call(gw: &Gateway, id: u64, method: &str, params: Value, name: Option<&str>) -> Reply {
    gw.post_raw(body(id, method, params, json!({})), &headers(method, name))
        .await
}

/// `tools/call` of `tool` with `arguments`, declaring `caps`, with `extra` params members
/// (`inputResponses`, `requestState`).
pub async fn call_tool(gw: &Gateway, id: u64, tool: &str, caps: Value, extra: Value) -> Reply {
    let mut params = json!({"name": tool, "arguments": {}});
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let b = body(
        id,
        "tools/call",
        params,
        json!({"io.modelcontextprotocol/clientCapabilities": caps}),
    );
    gw.post_raw(b, &headers("tools/call", Some(tool))).await
}

/// Asserts an error response with this HTTP status, code and echoed id; returns the error.
pub fn assert_error(r: &Reply, status: u16, code: i64, id: u64) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    let resp = r
        .response()
        .unwrap_or_else(|| panic!("no response: {}", r.text));
    assert_eq!(resp["id"], id, "the id is echoed: {}", r.text);
    assert_eq!(r.error_code(), code, "{}", r.text);
    r.error()
}
