//! What one measured call is, and how its answer is judged.
//!
//! A `tools/call` passes when the response carries the request's id, a `result` and no `error`,
//! the result is not `isError`, its text equals the echoed message (for echo tools) and adds up to
//! `--expect-bytes`. A `tools/list` call follows `nextCursor` to the last page and passes when
//! every page does, and the tool count matches `--expect-tools` when given.

use std::borrow::Cow;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::driver::Client;
use crate::jsonrpc::Envelope;

/// Most pages one `tools/list` call follows.
pub const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ToolsCall,
    ToolsList,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ToolsCall => "tools/call",
            Method::ToolsList => "tools/list",
        }
    }
}

/// One kind of call, prepared once and performed many times.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub method: Method,
    pub tool: String,
    /// `{"name":TOOL,"arguments":ARGS}` (with the 2026-07-28 `_meta` when modern), ready to send.
    params: String,
    /// 2026-07-28: every request carries `_meta` and no session exists.
    modern: bool,
    expect_text: Option<String>,
    expect_bytes: usize,
    expect_tools: Option<usize>,
}

#[derive(Deserialize)]
struct ToolResult<'a> {
    #[serde(borrow, default)]
    content: Vec<Content<'a>>,
    #[serde(default, rename = "isError")]
    is_error: bool,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ListResult<'a> {
    #[serde(borrow)]
    tools: Vec<&'a RawValue>,
    #[serde(borrow, default, rename = "nextCursor")]
    next_cursor: Option<Cow<'a, str>>,
}

impl CallSpec {
    /// `arguments` must be a JSON object. When no text is expected and the tool is an echo tool
    /// (`echo`, `*__echo`, `t<N>`), the expected text is `arguments.message`.
    pub fn new(
        method: Method,
        tool: &str,
        arguments: &str,
        expect_text: Option<String>,
        expect_bytes: usize,
        expect_tools: Option<usize>,
        modern: bool,
    ) -> anyhow::Result<CallSpec> {
        let args: serde_json::Value = serde_json::from_str(arguments).context("not JSON")?;
        let Some(obj) = args.as_object() else {
            bail!("the tool's arguments must be a JSON object");
        };
        let base = tool.rsplit("__").next().unwrap_or(tool);
        let echo_like = base == "echo"
            || (base.len() > 1
                && base.starts_with('t')
                && base[1..].bytes().all(|b| b.is_ascii_digit()));
        let expect_text = expect_text.or_else(|| {
            echo_like
                .then(|| {
                    obj.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                })
                .flatten()
        });
        let mut params = serde_json::json!({ "name": tool, "arguments": args });
        if modern {
            params["_meta"] = serde_json::from_str(&crate::jsonrpc::modern_meta())?;
        }
        let params = serde_json::to_string(&params)?;
        Ok(CallSpec {
            method,
            tool: tool.to_owned(),
            params,
            modern,
            expect_text,
            expect_bytes,
            expect_tools,
        })
    }

    /// Performs one call on `client` and judges it.
    pub async fn perform(&self, client: &mut Client) -> Result<(), String> {
        match self.method {
            Method::ToolsCall => {
                let (id, body) = client
                    .exchange("tools/call", Some(&self.params), Some(&self.tool))
                    .await?;
                let result = response_result(&body, id)?;
                self.judge_call(result)
            }
            Method::ToolsList => {
                let mut cursor: Option<String> = None;
                let mut count = 0usize;
                for _ in 0..MAX_PAGES {
                    let mut params = cursor.as_ref().map(|c| serde_json::json!({ "cursor": c }));
                    if self.modern {
                        let meta: serde_json::Value =
                            serde_json::from_str(&crate::jsonrpc::modern_meta())
                                .map_err(|e| e.to_string())?;
                        params.get_or_insert_with(|| serde_json::json!({}))["_meta"] = meta;
                    }
                    let params = params
                        .map(|p| serde_json::to_string(&p))
                        .transpose()
                        .map_err(|e| e.to_string())?;
                    let (id, body) = client
                        .exchange("tools/list", params.as_deref(), None)
                        .await?;
                    let result = response_result(&body, id)?;
                    let page: ListResult<'_> = serde_json::from_str(result)
                        .map_err(|e| format!("tools/list result: {e}"))?;
                    count += page.tools.len();
                    match page.next_cursor {
                        Some(c) if cursor.as_deref() != Some(c.as_ref()) => {
                            cursor = Some(c.into_owned());
                        }
                        Some(_) => return Err("tools/list repeated its cursor".into()),
                        None => {
                            return match self.expect_tools {
                                Some(n) if n != count => {
                                    Err(format!("tools/list gave {count} tools, expected {n}"))
                                }
                                _ => Ok(()),
                            };
                        }
                    }
                }
                Err(format!("tools/list has more than {MAX_PAGES} pages"))
            }
        }
    }

    fn judge_call(&self, result: &str) -> Result<(), String> {
        let r: ToolResult<'_> =
            serde_json::from_str(result).map_err(|e| format!("tools/call result: {e}"))?;
        if r.is_error {
            return Err(format!("tool error: {}", clip(result)));
        }
        if let Some(want) = &self.expect_text {
            let got = r
                .content
                .first()
                .filter(|c| c.kind == "text")
                .and_then(|c| c.text.as_deref());
            if got != Some(want.as_str()) {
                return Err(format!("expected text {want:?}, got {}", clip(result)));
            }
        }
        if self.expect_bytes > 0 {
            let n: usize = r
                .content
                .iter()
                .filter_map(|c| c.text.as_ref().map(|t| t.len()))
                .sum();
            if n < self.expect_bytes {
                return Err(format!(
                    "result text is {n} bytes, expected at least {}",
                    self.expect_bytes
                ));
            }
        }
        Ok(())
    }
}

/// The raw `result` of a response to request `id`, or why there is none.
pub fn response_result(body: &[u8], id: u64) -> Result<&str, String> {
    let msg = Envelope::parse(body).map_err(|e| format!("bad JSON-RPC response: {e}"))?;
    if msg.jsonrpc.as_deref() != Some("2.0") {
        return Err("response lacks jsonrpc: \"2.0\"".into());
    }
    if msg.id_u64() != Some(id) {
        return Err(format!(
            "response id {} does not match request id {id}",
            msg.id.map_or("(none)", RawValue::get)
        ));
    }
    if let Some(e) = msg.error {
        return Err(format!("error response: {}", clip(e.get())));
    }
    msg.result
        .map(RawValue::get)
        .ok_or_else(|| "response has no result".to_owned())
}

/// The first 200 bytes of a text, for error messages.
pub fn clip(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tool: &str, args: &str) -> CallSpec {
        CallSpec::new(Method::ToolsCall, tool, args, None, 0, None, false).unwrap()
    }

    #[test]
    fn expected_text_comes_from_echo_arguments() {
        assert_eq!(
            spec("echo", r#"{"message":"hi"}"#).expect_text.as_deref(),
            Some("hi")
        );
        assert_eq!(
            spec("up__echo", r#"{"message":"x"}"#)
                .expect_text
                .as_deref(),
            Some("x")
        );
        assert_eq!(
            spec("cat__t17", r#"{"message":"y"}"#)
                .expect_text
                .as_deref(),
            Some("y")
        );
        assert_eq!(spec("slow__slow", r#"{"ms":1}"#).expect_text, None);
        assert_eq!(spec("big", r#"{"message":"z"}"#).expect_text, None);
        assert!(CallSpec::new(Method::ToolsCall, "echo", "[1]", None, 0, None, false).is_err());
    }

    #[test]
    fn judges_responses() {
        let s = spec("echo", r#"{"message":"hi"}"#);
        let ok = br#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"hi"}]}}"#;
        assert!(s.judge_call(response_result(ok, 3).unwrap()).is_ok());
        assert!(
            response_result(ok, 4)
                .unwrap_err()
                .contains("does not match")
        );
        let wrong =
            br#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"ho"}]}}"#;
        assert!(s.judge_call(response_result(wrong, 3).unwrap()).is_err());
        let err = br#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#;
        assert!(response_result(err, 3).is_err());
        let tool_err =
            br#"{"jsonrpc":"2.0","id":3,"result":{"isError":true,"content":[{"type":"text","text":"hi"}]}}"#;
        assert!(s.judge_call(response_result(tool_err, 3).unwrap()).is_err());
        let big = CallSpec::new(Method::ToolsCall, "big", "{}", None, 10, None, false).unwrap();
        let short =
            br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"xxxxx"}]}}"#;
        assert!(big.judge_call(response_result(short, 1).unwrap()).is_err());
    }
}
