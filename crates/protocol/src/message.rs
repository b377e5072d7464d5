//! One JSON-RPC 2.0 message, held as the bytes it arrived in.
//!
//! [`Message::parse`] validates the envelope (a single object, `"jsonrpc": "2.0"`, an `id` that is a
//! string or an integer and never `null`) and remembers where each part sits in the buffer. Nothing
//! below the envelope is parsed: `params`, `result` and `error` stay raw until a stage that owns one
//! of their fields asks for it. Building messages goes the other way: [`encode`] writes envelopes
//! around raw parts, so a forwarded payload is copied, never re-serialised.

use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::object;

/// A JSON-RPC request id exactly as the sender wrote it (`7`, `"abc"`), so it can be echoed back
/// byte for byte. Never `null`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id(Box<str>);

impl Id {
    /// An integer id.
    pub fn number(n: u64) -> Id {
        Id(n.to_string().into_boxed_str())
    }

    /// A string id.
    pub fn string(s: &str) -> Id {
        Id(object::json_string(s).into_boxed_str())
    }

    /// Validates raw id text: a JSON string or an integer.
    pub fn from_raw(raw: &str) -> Option<Id> {
        let raw = raw.trim();
        let ok = if raw.starts_with('"') {
            serde_json::from_str::<&RawValue>(raw).is_ok() && raw.len() >= 2
        } else {
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        };
        ok.then(|| Id(raw.into()))
    }

    /// The raw JSON text of the id.
    pub fn as_raw(&self) -> &str {
        &self.0
    }

    /// The id as an unsigned integer, when it is one (how the gateway's own ids look).
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a message is, from the presence of its envelope members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Notification,
    /// A response carrying `result`.
    Result,
    /// A response carrying `error`.
    Error,
}

/// Why a message was rejected, with the JSON-RPC code it earns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("parse error: {0}")]
    Json(String),
    #[error("batches are not supported: send one JSON-RPC message per request")]
    Batch,
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}

impl ParseError {
    /// The JSON-RPC error code for this rejection.
    pub fn code(&self) -> i64 {
        match self {
            ParseError::Json(_) => crate::ErrorCode::PARSE_ERROR.0,
            ParseError::Batch | ParseError::Invalid(_) => crate::ErrorCode::INVALID_REQUEST.0,
        }
    }
}

/// A validated JSON-RPC message: its bytes and the spans of its members.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Bytes,
    kind: Kind,
    id: Option<Id>,
    method: Option<Range<usize>>,
    params: Option<Range<usize>>,
    /// `result` or `error`, whichever the response carries.
    body: Option<Range<usize>>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a RawValue>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// Deserialises a member that is present, even when its value is `null` (plain `Option` would
/// turn `"id": null` into "absent", and that is precisely what must be rejected).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

impl Message {
    /// Parses and validates one message. `buf` is kept; the message borrows nothing else.
    pub fn parse(buf: Bytes) -> Result<Message, ParseError> {
        let text = std::str::from_utf8(&buf).map_err(|e| ParseError::Json(e.to_string()))?;
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') {
            // Validate first so that a malformed array is still a parse error.
            serde_json::from_str::<&RawValue>(text).map_err(|e| ParseError::Json(e.to_string()))?;
            return Err(ParseError::Batch);
        }
        if !trimmed.starts_with('{') {
            serde_json::from_str::<&RawValue>(text).map_err(|e| ParseError::Json(e.to_string()))?;
            return Err(ParseError::Invalid(
                "a JSON-RPC message must be a JSON object",
            ));
        }
        let env: Envelope<'_> = match serde_json::from_str(text) {
            Ok(env) => env,
            Err(e) if e.is_data() => {
                // Well-formed JSON with a member of the wrong shape (e.g. duplicate keys).
                return Err(ParseError::Invalid("malformed JSON-RPC envelope"));
            }
            Err(e) => return Err(ParseError::Json(e.to_string())),
        };
        if env.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
            return Err(ParseError::Invalid("\"jsonrpc\" must be \"2.0\""));
        }
        let base = text.as_ptr() as usize;
        let span = |r: &RawValue| {
            let start = r.get().as_ptr() as usize - base;
            start..start + r.get().len()
        };
        let id = match env.id {
            None => None,
            Some(raw) if raw.get() == "null" => {
                return Err(ParseError::Invalid("\"id\" must not be null"));
            }
            Some(raw) => Some(
                Id::from_raw(raw.get())
                    .ok_or(ParseError::Invalid("\"id\" must be a string or an integer"))?,
            ),
        };
        let method = match env.method {
            None => None,
            Some(raw) => {
                let s = object::string_value(raw.get())
                    .ok_or(ParseError::Invalid("\"method\" must be a string"))?;
                if matches!(s, std::borrow::Cow::Owned(_)) {
                    return Err(ParseError::Invalid("\"method\" must not contain escapes"));
                }
                let r = span(raw);
                Some(r.start + 1..r.end - 1)
            }
        };
        if let Some(p) = env.params {
            let first = p.get().as_bytes().first();
            if !matches!(first, Some(b'{' | b'[')) {
                return Err(ParseError::Invalid(
                    "\"params\" must be an object or an array",
                ));
            }
        }
        let (kind, body) = match (&method, &id, env.result, env.error) {
            (Some(_), Some(_), None, None) => (Kind::Request, None),
            (Some(_), None, None, None) => (Kind::Notification, None),
            (None, Some(_), Some(r), None) => (Kind::Result, Some(span(r))),
            (None, Some(_), None, Some(e)) => {
                if !e.get().starts_with('{') {
                    return Err(ParseError::Invalid("\"error\" must be an object"));
                }
                (Kind::Error, Some(span(e)))
            }
            (None, None, _, Some(e)) if e.get().starts_with('{') => {
                // An error answering something unparseable has no id; accept it so it can be logged.
                (Kind::Error, Some(span(e)))
            }
            (Some(_), _, _, _) => {
                return Err(ParseError::Invalid(
                    "a request must not carry result or error",
                ));
            }
            (None, Some(_), Some(_), Some(_)) => {
                return Err(ParseError::Invalid(
                    "a response must not carry both result and error",
                ));
            }
            _ => {
                return Err(ParseError::Invalid(
                    "not a request, notification or response",
                ));
            }
        };
        let params = env.params.map(span);
        Ok(Message {
            kind,
            id,
            method,
            params,
            body,
            buf,
        })
    }

    /// Parses a message from a byte slice (copies it).
    pub fn parse_slice(b: &[u8]) -> Result<Message, ParseError> {
        Message::parse(Bytes::copy_from_slice(b))
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn is_request(&self) -> bool {
        self.kind == Kind::Request
    }

    pub fn is_notification(&self) -> bool {
        self.kind == Kind::Notification
    }

    pub fn is_response(&self) -> bool {
        matches!(self.kind, Kind::Result | Kind::Error)
    }

    pub fn id(&self) -> Option<&Id> {
        self.id.as_ref()
    }

    pub fn method(&self) -> Option<&str> {
        self.method.clone().map(|r| self.text(r))
    }

    /// The raw `params`, if present.
    pub fn params(&self) -> Option<&str> {
        self.params.clone().map(|r| self.text(r))
    }

    /// The raw `params` as a slice of the message's bytes (shared, not copied).
    pub fn params_bytes(&self) -> Option<Bytes> {
        self.params.clone().map(|r| self.buf.slice(r))
    }

    /// The raw `result` of a result response.
    pub fn result(&self) -> Option<&str> {
        match self.kind {
            Kind::Result => self.body.clone().map(|r| self.text(r)),
            _ => None,
        }
    }

    /// The raw `error` object of an error response.
    pub fn error(&self) -> Option<&str> {
        match self.kind {
            Kind::Error => self.body.clone().map(|r| self.text(r)),
            _ => None,
        }
    }

    /// The exact bytes the message was parsed from.
    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }

    /// A member of `params` (raw), when params is an object that has it.
    pub fn param(&self, key: &str) -> Option<&str> {
        object::get(self.params()?, key)
    }

    /// A string member of `params`, decoded.
    pub fn param_str(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        object::get_str(self.params()?, key)
    }

    /// `params._meta.progressToken` (raw), if any.
    pub fn progress_token(&self) -> Option<&str> {
        object::get(self.param("_meta")?, "progressToken")
    }

    fn text(&self, r: Range<usize>) -> &str {
        // The buffer was validated as UTF-8 in `parse` and every span lies on a char boundary
        // because it came from serde_json's own slicing of that text.
        std::str::from_utf8(&self.buf[r]).unwrap_or_default()
    }
}

/// A write to a newline-delimited transport (stdio) gathers queued messages up to about this
/// many bytes, so one syscall carries a burst of them.
pub const LINE_BATCH_BYTES: usize = 64 * 1024;

/// Appends `m` to `out` as one line. Valid JSON can hold a raw CR or LF only as whitespace between
/// tokens (inside strings they must be escaped), so turning them into spaces keeps the message's
/// meaning: a message per line, even when a peer sent pretty-printed JSON.
pub fn push_line(out: &mut Vec<u8>, m: &[u8]) {
    // memchr scans a word or a vector at a time: a large result is searched at memory speed.
    if memchr::memchr2(b'\n', b'\r', m).is_some() {
        out.extend(
            m.iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(m);
    }
    out.push(b'\n');
}

/// Where the first line in `chunk` ends: the index of its `\n`, if it has one. (For line readers:
/// a large message is searched a vector at a time, not a byte at a time.)
pub fn line_end(chunk: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', chunk)
}

/// Fills `batch` with `first` and then whatever `more` yields, one line each, until it holds
/// [`LINE_BATCH_BYTES`] or `more` runs dry.
pub fn batch_lines(batch: &mut Vec<u8>, first: &[u8], mut more: impl FnMut() -> Option<Bytes>) {
    batch.clear();
    push_line(batch, first);
    while batch.len() < LINE_BATCH_BYTES {
        match more() {
            Some(m) => push_line(batch, &m),
            None => break,
        }
    }
}

/// Writers of JSON-RPC envelopes around raw parts. Each sizes its output exactly up front: a
/// result is often large (a file, a log), and a buffer that grows while the result is copied
/// in copies it twice.
pub mod encode {
    use super::Id;
    use crate::object::push_json_string;

    /// `{"jsonrpc":"2.0","id":ID,"method":M[,"params":P]}`
    pub fn request(id: &Id, method: &str, params: Option<&str>) -> String {
        let mut s = String::with_capacity(
            48 + id.as_raw().len() + method.len() + params.map_or(0, str::len),
        );
        s.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
        s.push_str(id.as_raw());
        s.push_str(",\"method\":");
        push_json_string(&mut s, method);
        if let Some(p) = params {
            s.push_str(",\"params\":");
            s.push_str(p);
        }
        s.push('}');
        s
    }

    /// `{"jsonrpc":"2.0","method":M[,"params":P]}`
    pub fn notification(method: &str, params: Option<&str>) -> String {
        let mut s = String::with_capacity(40 + method.len() + params.map_or(0, str::len));
        s.push_str("{\"jsonrpc\":\"2.0\",\"method\":");
        push_json_string(&mut s, method);
        if let Some(p) = params {
            s.push_str(",\"params\":");
            s.push_str(p);
        }
        s.push('}');
        s
    }

    /// `{"jsonrpc":"2.0","id":ID,"result":R}`
    pub fn result(id: &Id, result: &str) -> String {
        let mut s = String::with_capacity(33 + id.as_raw().len() + result.len());
        s.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
        s.push_str(id.as_raw());
        s.push_str(",\"result\":");
        s.push_str(result);
        s.push('}');
        s
    }

    /// `{"jsonrpc":"2.0","id":ID,"error":E}`; `id` absent when the request could not be read.
    pub fn error(id: Option<&Id>, error: &str) -> String {
        let mut s =
            String::with_capacity(26 + id.map_or(0, |i| 6 + i.as_raw().len()) + error.len());
        s.push_str("{\"jsonrpc\":\"2.0\",");
        if let Some(id) = id {
            s.push_str("\"id\":");
            s.push_str(id.as_raw());
            s.push(',');
        }
        s.push_str("\"error\":");
        s.push_str(error);
        s.push('}');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Message, ParseError> {
        Message::parse_slice(s.as_bytes())
    }

    #[test]
    fn classifies() {
        let m =
            p(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#).unwrap();
        assert_eq!(m.kind(), Kind::Request);
        assert_eq!(m.method(), Some("tools/call"));
        assert_eq!(m.id().unwrap().as_raw(), "1");
        assert_eq!(m.param_str("name").as_deref(), Some("x"));
        let n = p(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(n.kind(), Kind::Notification);
        let r = p(r#"{"jsonrpc":"2.0","id":"a","result":{"x":1}}"#).unwrap();
        assert_eq!((r.kind(), r.result()), (Kind::Result, Some(r#"{"x":1}"#)));
        let r = p(r#"{"jsonrpc":"2.0","id":"a","result":null}"#).unwrap();
        assert_eq!(r.result(), Some("null"));
        let e = p(r#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"m"}}"#).unwrap();
        assert_eq!(e.kind(), Kind::Error);
    }

    #[test]
    fn rejects_bad_envelopes() {
        assert!(matches!(p("{"), Err(ParseError::Json(_))));
        assert!(matches!(p("nope"), Err(ParseError::Json(_))));
        assert_eq!(
            p(r#"[{"jsonrpc":"2.0","method":"a"}]"#).unwrap_err(),
            ParseError::Batch
        );
        assert!(matches!(p("[1,"), Err(ParseError::Json(_))));
        assert!(matches!(p("3"), Err(ParseError::Invalid(_))));
        for bad in [
            r#"{"id":1,"method":"a"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"a"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"a"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"a"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"a"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","params":3}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
            r#"{"jsonrpc":"2.0","method":"a","result":1}"#,
        ] {
            assert!(matches!(p(bad), Err(ParseError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn envelopes_are_sized_exactly_up_front() {
        // No growth while a large part is copied in (it would copy the part twice).
        let id = Id::from_raw(r#""a-long-string-request-id-0123456789""#).unwrap();
        let big = format!("{{\"text\":\"{}\"}}", "x".repeat(100_000));
        let r = encode::result(&id, &big);
        assert_eq!(r.capacity(), r.len());
        let e = encode::error(Some(&id), &big);
        assert_eq!(e.capacity(), e.len());
        let e = encode::error(None, &big);
        assert_eq!(e.capacity(), e.len());
        let q = encode::request(&id, "tools/call", Some(&big));
        assert!(
            q.capacity() >= q.len() && q.capacity() < q.len() + 8,
            "{}",
            q.capacity()
        );
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["id"], "a-long-string-request-id-0123456789");
    }

    #[test]
    fn lines_keep_meaning_and_batch() {
        let m = b"{\n  \"a\": \"x\\ny\"\r\n}";
        let mut out = Vec::new();
        push_line(&mut out, m);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["a"], "x\ny");
        let mut queued = vec![Bytes::from_static(b"{}"), Bytes::from_static(b"[1]")].into_iter();
        batch_lines(&mut out, b"1", || queued.next());
        assert_eq!(out, b"1\n{}\n[1]\n");
    }

    #[test]
    fn encodes_around_raw_parts() {
        let id = Id::string("a\"b");
        assert_eq!(
            encode::request(&id, "ping", None),
            r#"{"jsonrpc":"2.0","id":"a\"b","method":"ping"}"#
        );
        assert_eq!(
            encode::result(&Id::number(3), r#"{"n":123456789012345678901234567890}"#),
            r#"{"jsonrpc":"2.0","id":3,"result":{"n":123456789012345678901234567890}}"#
        );
        let m = p(&encode::error(None, r#"{"code":-32700,"message":"x"}"#)).unwrap();
        assert_eq!(m.kind(), Kind::Error);
        assert!(m.id().is_none());
    }
}
