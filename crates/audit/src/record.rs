//! Records: the JSON lines of the log, their fields, and the hash chain that links them.
//!
//! Every record is one line of canonical JSON (`canonical.rs`) whose members include `v` (the
//! schema version), `seq`, `time`, `kind`, `prev_hash` and `hash`. `hash` is the SHA-256 of
//! the record's canonical text *without* `hash`; `prev_hash` is the previous record's `hash`
//! (64 zeros before the first record of a log). Changing, removing, inserting or reordering
//! any record therefore breaks a link that `verify.rs` finds. The fields of each kind are
//! listed in `docs/audit.md`; a change to them bumps [`SCHEMA_VERSION`].
//!
//! The writer builds each record's text directly, member by member in sorted order ([`Body`]),
//! rather than through a generic JSON value: it is the one piece of audit work done per call,
//! and a unit test proves the result equals the generic canonical form.

use serde_json::Value;
use switchboard_protocol::{Kind, Message, object};

use crate::canonical::{self, push_hex, sha256, write_str};
use crate::event::Event;
use crate::redact::redact;
use crate::time::write_rfc3339;

/// The version of the record schema (`v`).
pub const SCHEMA_VERSION: u64 = 1;

/// `prev_hash` of the first record of a log.
pub const GENESIS: [u8; 32] = [0; 32];

/// Where the chain stands: the last record's `seq` and `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// `seq` of the last record written; 0 before the first (which gets 1).
    pub seq: u64,
    /// `hash` of the last record written ([`GENESIS`] before the first).
    pub hash: [u8; 32],
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            seq: 0,
            hash: GENESIS,
        }
    }
}

/// What the writer needs to render a call record.
#[derive(Debug, Clone, Default)]
pub struct Render {
    /// Write the arguments themselves (redacted), not only their hash.
    pub include_arguments: bool,
    /// Argument fields whose values are replaced by `"[redacted]"`.
    pub redact: Vec<String>,
}

/// A record being written: its canonical text without `hash`, and where `hash` goes.
pub(crate) struct Body {
    text: String,
    /// Byte offset the `"hash":"…",` member is inserted at.
    hash_at: usize,
    #[cfg(debug_assertions)]
    last_key: &'static str,
}

impl Body {
    fn new() -> Body {
        let mut text = String::with_capacity(512);
        text.push('{');
        Body {
            text,
            hash_at: 0,
            #[cfg(debug_assertions)]
            last_key: "",
        }
    }

    /// Starts member `key`; keys must come in canonical (here: ASCII) order.
    fn key(&mut self, key: &'static str) -> &mut String {
        #[cfg(debug_assertions)]
        {
            debug_assert!(key > self.last_key, "{key} after {}", self.last_key);
            self.last_key = key;
        }
        if self.hash_at == 0 && key > "hash" {
            self.hash_at = self.text.len();
        }
        if self.text.len() > 1 {
            self.text.push(',');
        }
        write_str(&mut self.text, key);
        self.text.push(':');
        &mut self.text
    }

    fn str(&mut self, key: &'static str, value: &str) {
        write_str(self.key(key), value);
    }

    fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => self.key(key).push_str("null"),
        }
    }

    fn num(&mut self, key: &'static str, value: impl std::fmt::Display) {
        use std::fmt::Write as _;
        let _ = write!(self.key(key), "{value}");
    }

    fn opt_num(&mut self, key: &'static str, value: Option<impl std::fmt::Display>) {
        match value {
            Some(v) => self.num(key, v),
            None => self.key(key).push_str("null"),
        }
    }

    fn hex(&mut self, key: &'static str, bytes: &[u8]) {
        let out = self.key(key);
        out.push('"');
        push_hex(out, bytes);
        out.push('"');
    }

    fn raw(&mut self, key: &'static str, canonical: &str) {
        self.key(key).push_str(canonical);
    }
}

/// The members every record has (`kind`, `prev_hash`, `seq`, `time`, `v`), written by each
/// render function in their sorted places among the kind's own.
struct Common<'a> {
    chain: &'a Chain,
    time_us: i64,
    kind: &'static str,
}

impl Common<'_> {
    fn kind(&self, b: &mut Body) {
        b.str("kind", self.kind);
    }
    fn prev_hash(&self, b: &mut Body) {
        b.hex("prev_hash", &self.chain.hash);
    }
    fn seq(&self, b: &mut Body) {
        b.num("seq", self.chain.seq + 1);
    }
    fn v(&self, b: &mut Body) {
        b.num("v", SCHEMA_VERSION);
    }
}

/// Closes `body`, hashes it, advances `chain`, and appends the finished line (with `hash` and
/// a newline) to `out`.
pub(crate) fn seal(mut body: Body, chain: &mut Chain, out: &mut Vec<u8>) {
    body.text.push('}');
    let hash = sha256(body.text.as_bytes());
    let at = if body.hash_at == 0 {
        body.text.len() - 1
    } else {
        body.hash_at
    };
    out.reserve(body.text.len() + 80);
    out.extend_from_slice(&body.text.as_bytes()[..at]);
    // Inserted before a member (after `{` or a `,`), or appended before the closing `}`.
    let before_member =
        body.text.as_bytes()[at - 1] == b'{' || body.text.as_bytes()[at - 1] == b',';
    let mut member = String::with_capacity(80);
    if !before_member {
        member.push(',');
    }
    member.push_str("\"hash\":\"");
    push_hex(&mut member, &hash);
    member.push('"');
    if before_member {
        member.push(',');
    }
    out.extend_from_slice(member.as_bytes());
    out.extend_from_slice(&body.text.as_bytes()[at..]);
    out.push(b'\n');
    chain.seq += 1;
    chain.hash = hash;
}

fn quoted_time(b: &mut Body, micros: i64) {
    let out = b.key("time");
    out.push('"');
    write_rfc3339(out, micros);
    out.push('"');
}

/// What the writer read out of an answer.
struct Answered {
    outcome: &'static str,
    error_code: Option<i64>,
    message: Option<String>,
}

fn classify(answer: Option<&bytes::Bytes>) -> Answered {
    let Some(bytes) = answer else {
        return Answered {
            outcome: "cancelled",
            error_code: None,
            message: None,
        };
    };
    let Ok(msg) = Message::parse(bytes.clone()) else {
        return Answered {
            outcome: "error",
            error_code: None,
            message: None,
        };
    };
    match (msg.kind(), msg.error(), msg.result()) {
        (Kind::Error, Some(error), _) => Answered {
            outcome: "error",
            error_code: object::get(error, "code").and_then(|c| c.parse().ok()),
            message: object::get_str(error, "message").map(|m| m.into_owned()),
        },
        (_, _, Some(result)) if object::get(result, "isError") == Some("true") => Answered {
            outcome: "tool_error",
            error_code: None,
            message: None,
        },
        _ => Answered {
            outcome: "ok",
            error_code: None,
            message: None,
        },
    }
}

/// Renders the record of one audited request and appends its line to `out`.
pub(crate) fn render_call(ev: &Event, opts: &Render, chain: &mut Chain, out: &mut Vec<u8>) {
    let params = ev
        .params
        .as_deref()
        .and_then(|p| std::str::from_utf8(p).ok());
    let [name, uri, arguments] = params
        .map(|p| object::get_all(p, ["name", "uri", "arguments"]))
        .unwrap_or([None; 3]);
    let name = name.or(uri).and_then(object::string_value);
    let arguments: Option<Value> = arguments.and_then(|a| serde_json::from_str(a).ok());
    let answered = if ev.replayed {
        Answered {
            outcome: "replayed",
            error_code: None,
            message: None,
        }
    } else {
        classify(ev.answer.as_ref())
    };
    let common = Common {
        chain,
        time_us: crate::time::micros(ev.time),
        kind: "call",
    };

    let mut b = Body::new();
    match &arguments {
        Some(args) => {
            let text = canonical::to_string(args);
            b.hex("args_sha256", &sha256(text.as_bytes()));
            if opts.include_arguments {
                if opts.redact.is_empty() {
                    b.raw("arguments", &text);
                } else {
                    let mut redacted = args.clone();
                    redact(&mut redacted, &opts.redact);
                    b.raw("arguments", &canonical::to_string(&redacted));
                }
            }
        }
        None => b.opt_str("args_sha256", None),
    }
    match ev.client {
        Some(addr) => b.str("client", &addr.to_string()),
        None => b.opt_str("client", None),
    }
    b.num(
        "duration_us",
        u64::try_from(ev.duration.as_micros()).unwrap_or(u64::MAX),
    );
    b.opt_num("error_code", answered.error_code);
    b.opt_num("http_status", ev.http_status);
    common.kind(&mut b);
    b.str("method", &ev.method);
    b.opt_str("name", name.as_deref());
    b.str("outcome", answered.outcome);
    common.prev_hash(&mut b);
    b.str("principal", &ev.principal);
    b.opt_str("product", ev.product.as_deref());
    // A refusal's reason is the gateway's own error message; an upstream's error text is not
    // copied (it is the upstream's output, and may echo what the caller sent).
    let reason = match ev.verdict {
        crate::Verdict::Deny => answered.message.as_deref(),
        crate::Verdict::Allow => None,
    };
    b.opt_str("reason", reason);
    b.str("request_id", &ev.request_id);
    common.seq(&mut b);
    quoted_time(&mut b, common.time_us);
    match ev.trace_id {
        Some(t) => b.hex("trace_id", &t),
        None => b.opt_str("trace_id", None),
    }
    b.opt_str("upstream", ev.upstream.as_deref());
    common.v(&mut b);
    b.str("verdict", ev.verdict.as_str());
    seal(b, chain, out);
}

/// The record of an operator's change to the running gateway (`kind: admin`).
pub(crate) fn render_admin(ev: &crate::AdminEvent, chain: &mut Chain, out: &mut Vec<u8>) {
    let common = Common {
        chain,
        time_us: crate::time::micros(ev.time),
        kind: "admin",
    };
    let mut b = Body::new();
    b.str("action", ev.action);
    b.opt_str("detail", ev.detail.as_deref());
    common.kind(&mut b);
    b.str("outcome", ev.outcome);
    common.prev_hash(&mut b);
    b.str("principal", &ev.principal);
    b.opt_str("reason", ev.reason.as_deref());
    common.seq(&mut b);
    quoted_time(&mut b, common.time_us);
    common.v(&mut b);
    seal(b, chain, out);
}

/// The record that accounts for records the queue had no room for (`on_full: drop_and_count`).
pub(crate) fn render_dropped(count: u64, time_us: i64, chain: &mut Chain, out: &mut Vec<u8>) {
    let common = Common {
        chain,
        time_us,
        kind: "dropped",
    };
    let mut b = Body::new();
    b.num("count", count);
    common.kind(&mut b);
    common.prev_hash(&mut b);
    common.seq(&mut b);
    quoted_time(&mut b, time_us);
    common.v(&mut b);
    seal(b, chain, out);
}

/// The record that says a restart cut off the torn end of the file (a write the process did
/// not finish before it was killed).
pub(crate) fn render_recovered(
    truncated_bytes: u64,
    time_us: i64,
    chain: &mut Chain,
    out: &mut Vec<u8>,
) {
    let common = Common {
        chain,
        time_us,
        kind: "recovered",
    };
    let mut b = Body::new();
    common.kind(&mut b);
    common.prev_hash(&mut b);
    common.seq(&mut b);
    quoted_time(&mut b, time_us);
    b.num("truncated_bytes", truncated_bytes);
    common.v(&mut b);
    seal(b, chain, out);
}

/// A signed checkpoint: an Ed25519 signature over the previous record's `hash` (see
/// `checkpoint.rs` for the signed message).
pub(crate) fn render_checkpoint(
    key_id: &str,
    signature: &[u8],
    time_us: i64,
    chain: &mut Chain,
    out: &mut Vec<u8>,
) {
    let common = Common {
        chain,
        time_us,
        kind: "checkpoint",
    };
    let mut b = Body::new();
    b.str("key_id", key_id);
    common.kind(&mut b);
    common.prev_hash(&mut b);
    common.seq(&mut b);
    b.hex("signature", signature);
    quoted_time(&mut b, time_us);
    common.v(&mut b);
    seal(b, chain, out);
}

/// What a verifier or reader learns from one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub seq: u64,
    pub hash: [u8; 32],
    pub prev_hash: [u8; 32],
    pub kind: String,
    /// Whether `hash` is the SHA-256 of the line's canonical text without `hash`.
    pub hash_ok: bool,
    pub value: Value,
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not an audit record: {0}")]
    NotRecord(&'static str),
    #[error("schema version {0} is not one this build reads (1)")]
    Version(u64),
}

/// Reads one line as a record and checks its own hash (not its links).
pub fn parse_line(line: &str) -> Result<Parsed, LineError> {
    let mut value: Value =
        serde_json::from_str(line).map_err(|e| LineError::NotJson(e.to_string()))?;
    let map = value
        .as_object_mut()
        .ok_or(LineError::NotRecord("not an object"))?;
    let v = map
        .get("v")
        .and_then(Value::as_u64)
        .ok_or(LineError::NotRecord("no `v`"))?;
    if v != SCHEMA_VERSION {
        return Err(LineError::Version(v));
    }
    let hex32 = |key: &'static str, map: &serde_json::Map<String, Value>| {
        map.get(key)
            .and_then(Value::as_str)
            .and_then(canonical::unhex::<32>)
            .ok_or(LineError::NotRecord(key))
    };
    let seq = map
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or(LineError::NotRecord("no `seq`"))?;
    let prev_hash = hex32("prev_hash", map)?;
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(LineError::NotRecord("no `kind`"))?
        .to_owned();
    let stated = map
        .remove("hash")
        .as_ref()
        .and_then(Value::as_str)
        .and_then(canonical::unhex::<32>)
        .ok_or(LineError::NotRecord("no `hash`"))?;
    let hash_ok = sha256(canonical::to_string(&value).as_bytes()) == stated;
    if let Some(map) = value.as_object_mut() {
        map.insert("hash".into(), Value::String(canonical::hex(&stated)));
    }
    Ok(Parsed {
        seq,
        hash: stated,
        prev_hash,
        kind,
        hash_ok,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Verdict;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    pub(crate) fn event(args: &str) -> Event {
        Event {
            time: UNIX_EPOCH + Duration::from_micros(1_796_480_338_123_456),
            duration: Duration::from_micros(1234),
            request_id: Arc::from("req-1"),
            principal: Arc::from("anonymous"),
            method: "tools/call".into(),
            upstream: Some(Arc::from("fx")),
            params: Some(Bytes::from(format!(
                r#"{{"name":"fx__mirror","arguments":{args}}}"#
            ))),
            answer: Some(Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}"#,
            )),
            verdict: Verdict::Allow,
            http_status: Some(200),
            client: Some("127.0.0.1:5555".parse().unwrap()),
            trace_id: Some([0xab; 16]),
            replayed: false,
            product: None,
        }
    }

    fn line(ev: &Event, opts: &Render, chain: &mut Chain) -> String {
        let mut out = Vec::new();
        render_call(ev, opts, chain, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_call_record_is_canonical_and_its_hash_checks() {
        let mut chain = Chain::default();
        let text = line(&event(r#"{"b":2,"a":"x"}"#), &Render::default(), &mut chain);
        assert!(text.ends_with('\n') && !text[..text.len() - 1].contains('\n'));
        let parsed = parse_line(text.trim_end()).unwrap();
        assert!(parsed.hash_ok);
        assert_eq!(parsed.seq, 1);
        assert_eq!(parsed.prev_hash, GENESIS);
        assert_eq!(chain.hash, parsed.hash);
        // The writer's hand-built text is exactly the generic canonical form.
        assert_eq!(canonical::to_string(&parsed.value), text.trim_end());
        let v = &parsed.value;
        assert_eq!(v["kind"], "call");
        assert_eq!(v["name"], "fx__mirror");
        assert_eq!(v["upstream"], "fx");
        assert_eq!(v["outcome"], "ok");
        assert_eq!(v["verdict"], "allow");
        assert_eq!(v["duration_us"], 1234);
        assert_eq!(v["time"], "2026-12-05T14:18:58.123456Z");
        assert_eq!(v["client"], "127.0.0.1:5555");
        assert_eq!(v["trace_id"], "abababababababababababababababab");
        assert_eq!(v["product"], Value::Null);
        assert!(v.get("arguments").is_none());
        assert_eq!(
            v["args_sha256"],
            canonical::hex(&sha256(br#"{"a":"x","b":2}"#))
        );
    }

    #[test]
    fn argument_order_does_not_change_the_hash() {
        let mut c = Chain::default();
        let a =
            parse_line(line(&event(r#"{"b":2,"a":"x"}"#), &Render::default(), &mut c).trim_end())
                .unwrap();
        let b = parse_line(
            line(
                &event(r#"{ "a": "x", "b": 2 }"#),
                &Render::default(),
                &mut c,
            )
            .trim_end(),
        )
        .unwrap();
        assert_eq!(a.value["args_sha256"], b.value["args_sha256"]);
    }

    #[test]
    fn records_chain_to_each_other() {
        let mut chain = Chain::default();
        let first =
            parse_line(line(&event("{}"), &Render::default(), &mut chain).trim_end()).unwrap();
        let mut out = Vec::new();
        render_dropped(7, 0, &mut chain, &mut out);
        render_recovered(12, 0, &mut chain, &mut out);
        render_checkpoint("k1", &[1, 2, 3], 0, &mut chain, &mut out);
        let text = String::from_utf8(out).unwrap();
        let mut prev = first.hash;
        for (i, l) in text.lines().enumerate() {
            let p = parse_line(l).unwrap();
            assert!(p.hash_ok, "{l}");
            assert_eq!(p.seq, i as u64 + 2);
            assert_eq!(p.prev_hash, prev);
            assert_eq!(canonical::to_string(&p.value), l);
            prev = p.hash;
        }
        assert_eq!(chain.seq, 4);
    }

    #[test]
    fn an_edited_record_fails_its_hash() {
        let mut chain = Chain::default();
        let text = line(&event("{}"), &Render::default(), &mut chain);
        let edited = text.replace("\"anonymous\"", "\"mallory\"");
        assert!(!parse_line(edited.trim_end()).unwrap().hash_ok);
    }

    #[test]
    fn arguments_appear_only_when_asked_and_redacted() {
        let opts = Render {
            include_arguments: true,
            redact: vec!["password".into()],
        };
        let mut chain = Chain::default();
        let ev = event(r#"{"user":"ada","password":"hunter2","deep":[{"password":"p"}]}"#);
        let text = line(&ev, &opts, &mut chain);
        assert!(
            !text.contains("hunter2") && !text.contains("\"p\""),
            "{text}"
        );
        let p = parse_line(text.trim_end()).unwrap();
        assert!(p.hash_ok);
        assert_eq!(p.value["arguments"]["password"], "[redacted]");
        assert_eq!(p.value["arguments"]["deep"][0]["password"], "[redacted]");
        assert_eq!(p.value["arguments"]["user"], "ada");
        // The hash is over what was sent, not the redacted copy.
        assert_eq!(
            p.value["args_sha256"],
            canonical::hex(&sha256(
                br#"{"deep":[{"password":"p"}],"password":"hunter2","user":"ada"}"#
            ))
        );
        let hidden = line(&ev, &Render::default(), &mut chain);
        assert!(!hidden.contains("hunter2") && !hidden.contains("\"arguments\""));
    }

    #[test]
    fn outcomes_are_read_from_the_answer() {
        let mut chain = Chain::default();
        let mut ev = event("{}");
        let outcome = |ev: &Event, chain: &mut Chain| {
            parse_line(line(ev, &Render::default(), chain).trim_end())
                .unwrap()
                .value
        };
        ev.answer = Some(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}"#,
        ));
        assert_eq!(outcome(&ev, &mut chain)["outcome"], "tool_error");
        ev.answer = Some(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad key"}}"#,
        ));
        let v = outcome(&ev, &mut chain);
        assert_eq!(
            (v["outcome"].as_str(), v["error_code"].as_i64()),
            (Some("error"), Some(-32602))
        );
        assert_eq!(
            v["reason"],
            Value::Null,
            "an allowed call's error text is not copied"
        );
        ev.verdict = Verdict::Deny;
        assert_eq!(outcome(&ev, &mut chain)["reason"], "bad key");
        ev.answer = None;
        assert_eq!(outcome(&ev, &mut chain)["outcome"], "cancelled");
    }
}
