//! Answers one JSON-RPC message: `initialize`, `ping`, `tools/list`, `tools/call`.
//!
//! Members are read as borrowed raw JSON and the answer is spliced from raw parts: the echo
//! tool copies `arguments.message` verbatim (it is already a JSON string), so the fast path
//! allocates the response buffer and nothing else.

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Catalog;
use crate::jsonrpc::{self, Envelope, LATEST_REVISION, REVISIONS};

/// Largest `big` result (`arguments.bytes`).
pub const MAX_BIG_BYTES: u64 = 64 << 20;
/// Longest `slow` sleep (`arguments.ms`).
pub const MAX_SLOW_MS: u64 = 60_000;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// What to send back for one message.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// Nothing: the message was a notification or a response.
    None,
    /// This message, now.
    Now(Vec<u8>),
    /// This message, after sleeping (the `slow` tool).
    After(Duration, Vec<u8>),
}

/// The echo server's behaviour, shared by both transports.
#[derive(Debug)]
pub struct Echo {
    catalog: Catalog,
}

#[derive(Deserialize)]
struct InitializeParams<'a> {
    #[serde(borrow, default, rename = "protocolVersion")]
    protocol_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ListParams<'a> {
    #[serde(borrow, default)]
    cursor: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct EchoArgs<'a> {
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct BigArgs {
    #[serde(default)]
    bytes: u64,
}

#[derive(Deserialize)]
struct SlowArgs {
    #[serde(default)]
    ms: u64,
}

impl Echo {
    pub fn new(catalog: Catalog) -> Echo {
        Echo { catalog }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Parses and answers one message.
    pub fn handle(&self, bytes: &[u8]) -> Reply {
        match Envelope::parse(bytes) {
            Ok(msg) => self.respond(&msg),
            Err(e) => Reply::Now(jsonrpc::error("null", PARSE_ERROR, &e.to_string())),
        }
    }

    /// Answers one parsed message.
    pub fn respond(&self, msg: &Envelope<'_>) -> Reply {
        let Some(method) = msg.method.as_deref() else {
            // A response from the client (we never ask it anything) or garbage without a method.
            return match (msg.id, msg.result.or(msg.error)) {
                (Some(_), Some(_)) => Reply::None,
                (id, _) => Reply::Now(jsonrpc::error(
                    id.map_or("null", RawValue::get),
                    INVALID_REQUEST,
                    "not a request",
                )),
            };
        };
        let Some(id) = msg.id.map(RawValue::get) else {
            return Reply::None;
        };
        let params = msg.params.map_or("{}", RawValue::get);
        match method {
            "tools/call" => self.call(id, params),
            "ping" => Reply::Now(jsonrpc::result(id, b"{}")),
            "tools/list" => self.list(id, params),
            "initialize" => Reply::Now(initialize(id, params)),
            _ => Reply::Now(jsonrpc::error(id, METHOD_NOT_FOUND, "method not found")),
        }
    }

    fn list(&self, id: &str, params: &str) -> Reply {
        let cursor = match serde_json::from_str::<ListParams<'_>>(params) {
            Ok(p) => p.cursor,
            Err(e) => return invalid(id, &e.to_string()),
        };
        match self.catalog.page(cursor.as_deref()) {
            Some(page) => Reply::Now(jsonrpc::result(id, page)),
            None => invalid(id, "invalid cursor"),
        }
    }

    fn call(&self, id: &str, params: &str) -> Reply {
        let p = match serde_json::from_str::<CallParams<'_>>(params) {
            Ok(p) => p,
            Err(e) => return invalid(id, &e.to_string()),
        };
        let args = p.arguments.map_or("{}", RawValue::get);
        match p.name.as_ref() {
            "echo" => echo(id, args),
            name if self.catalog.has_synthetic(name) => echo(id, args),
            "big" => match serde_json::from_str::<BigArgs>(args) {
                Ok(a) if a.bytes <= MAX_BIG_BYTES => {
                    let n = usize::try_from(a.bytes).unwrap_or(0);
                    let mut text = Vec::with_capacity(n + 2);
                    text.push(b'"');
                    text.resize(n + 1, b'x');
                    text.push(b'"');
                    Reply::Now(text_result(id, &text))
                }
                Ok(_) => invalid(id, "bytes is larger than 64 MiB"),
                Err(e) => invalid(id, &e.to_string()),
            },
            "slow" => match serde_json::from_str::<SlowArgs>(args) {
                Ok(a) => {
                    let ms = a.ms.min(MAX_SLOW_MS);
                    let text = format!("\"slept {ms} ms\"");
                    Reply::After(Duration::from_millis(ms), text_result(id, text.as_bytes()))
                }
                Err(e) => invalid(id, &e.to_string()),
            },
            other => invalid(id, &format!("unknown tool {other}")),
        }
    }
}

fn invalid(id: &str, message: &str) -> Reply {
    Reply::Now(jsonrpc::error(id, INVALID_PARAMS, message))
}

/// The `echo` tool: `arguments.message`, copied as raw JSON when it is a string.
fn echo(id: &str, args: &str) -> Reply {
    let message = match serde_json::from_str::<EchoArgs<'_>>(args) {
        Ok(a) => a.message,
        Err(e) => return invalid(id, &e.to_string()),
    };
    match message.map(RawValue::get) {
        Some(raw) if raw.starts_with('"') => Reply::Now(text_result(id, raw.as_bytes())),
        // Not a string: its JSON text, as a string.
        Some(raw) => match serde_json::to_string(raw) {
            Ok(s) => Reply::Now(text_result(id, s.as_bytes())),
            Err(e) => invalid(id, &e.to_string()),
        },
        None => Reply::Now(text_result(id, b"\"\"")),
    }
}

/// A response whose result is one text content block; `text` is a JSON string literal.
fn text_result(id: &str, text: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":";
    const MID: &[u8] = b",\"result\":{\"content\":[{\"type\":\"text\",\"text\":";
    const TAIL: &[u8] = b"}]}}";
    let mut v = Vec::with_capacity(HEAD.len() + id.len() + MID.len() + text.len() + TAIL.len());
    v.extend_from_slice(HEAD);
    v.extend_from_slice(id.as_bytes());
    v.extend_from_slice(MID);
    v.extend_from_slice(text);
    v.extend_from_slice(TAIL);
    v
}

fn initialize(id: &str, params: &str) -> Vec<u8> {
    let asked = serde_json::from_str::<InitializeParams<'_>>(params)
        .ok()
        .and_then(|p| p.protocol_version);
    let version = match asked.as_deref() {
        Some(v) if REVISIONS.contains(&v) => v,
        _ => LATEST_REVISION,
    };
    let result = format!(
        r#"{{"protocolVersion":"{version}","capabilities":{{"tools":{{"listChanged":false}}}},"serverInfo":{{"name":"switchboard-echo","version":"{}"}}}}"#,
        env!("CARGO_PKG_VERSION")
    );
    jsonrpc::result(id, result.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> Echo {
        Echo::new(Catalog::new(3, 0))
    }

    fn now(r: Reply) -> serde_json::Value {
        match r {
            Reply::Now(b) => serde_json::from_slice(&b).unwrap(),
            other => panic!("expected an immediate reply, got {other:?}"),
        }
    }

    #[test]
    fn echoes_the_message_verbatim() {
        let v = now(echo_server().handle(
            br#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"echo","arguments":{"message":"h\u00e9 \"q\""}}}"#,
        ));
        assert_eq!(v["id"], "x");
        assert_eq!(v["result"]["content"][0]["text"], "hé \"q\"");
        let v = now(echo_server().handle(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t2","arguments":{"message":5}}}"#,
        ));
        assert_eq!(v["result"]["content"][0]["text"], "5");
    }

    #[test]
    fn big_and_slow() {
        let v = now(echo_server().handle(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big","arguments":{"bytes":1000}}}"#,
        ));
        assert_eq!(
            v["result"]["content"][0]["text"].as_str().unwrap().len(),
            1000
        );
        match echo_server().handle(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"ms":5}}}"#,
        ) {
            Reply::After(d, _) => assert_eq!(d, Duration::from_millis(5)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lifecycle_and_errors() {
        let e = echo_server();
        let v = now(e.handle(
            br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
        ));
        assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
        let v = now(e.handle(
            br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#,
        ));
        assert_eq!(v["result"]["protocolVersion"], LATEST_REVISION);
        assert_eq!(
            e.handle(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Reply::None
        );
        let v = now(e.handle(br#"{"jsonrpc":"2.0","id":2,"method":"nope"}"#));
        assert_eq!(v["error"]["code"], METHOD_NOT_FOUND);
        let v = now(e.handle(b"{not json"));
        assert_eq!(v["error"]["code"], PARSE_ERROR);
        let v = now(
            e.handle(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t9"}}"#)
        );
        assert_eq!(v["error"]["code"], INVALID_PARAMS);
        let v = now(e.handle(br#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#));
        assert_eq!(v["result"]["tools"].as_array().unwrap().len(), 6);
    }
}
