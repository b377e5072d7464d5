//! A span being recorded, or one that is not (then every call on it is a branch and nothing
//! else). A recorded span is the OTLP message itself, filled in place and handed to the
//! exporter whole when it ends ([`crate::Tracer::end`]).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::context::{SAMPLED, SpanContext};
use crate::proto::{self, KeyValue};

/// What a span stands for, as OTLP's `SpanKind` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request the gateway serves.
    Server = 2,
    /// A request the gateway sends to an upstream.
    Client = 3,
}

/// One span: its context (always, so it can be propagated), and its record when sampled.
#[derive(Debug)]
pub struct Span {
    cx: SpanContext,
    rec: Option<Box<proto::Span>>,
}

impl Span {
    /// A span that records nothing, in context `cx`.
    pub fn unrecorded(cx: SpanContext) -> Span {
        Span { cx, rec: None }
    }

    pub(crate) fn recorded(
        cx: SpanContext,
        parent: Option<&SpanContext>,
        remote_parent: bool,
        kind: Kind,
        name: String,
        tracestate: Option<&str>,
    ) -> Span {
        let flags = u32::from(cx.flags & SAMPLED) | 0x100 | if remote_parent { 0x200 } else { 0 };
        let rec = proto::Span {
            trace_id: cx.trace_id.to_vec(),
            span_id: cx.span_id.to_vec(),
            trace_state: tracestate.unwrap_or_default().to_owned(),
            parent_span_id: parent.map(|p| p.span_id.to_vec()).unwrap_or_default(),
            name,
            kind: kind as i32,
            start_time_unix_nano: now_unix_nanos(),
            end_time_unix_nano: 0,
            attributes: Vec::with_capacity(12),
            events: Vec::new(),
            status: None,
            flags,
        };
        Span {
            cx,
            rec: Some(Box::new(rec)),
        }
    }

    /// The context to propagate and to parent children on.
    #[inline]
    pub fn context(&self) -> SpanContext {
        self.cx
    }

    /// Whether this span will be exported: only then are attributes worth computing.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.rec.is_some()
    }

    #[inline]
    pub fn set_str(&mut self, key: &str, value: impl AsRef<str>) {
        if let Some(r) = &mut self.rec {
            r.attributes.push(KeyValue::str(key, value.as_ref()));
        }
    }

    #[inline]
    pub fn set_int(&mut self, key: &str, value: i64) {
        if let Some(r) = &mut self.rec {
            r.attributes.push(KeyValue::int(key, value));
        }
    }

    #[inline]
    pub fn set_bool(&mut self, key: &str, value: bool) {
        if let Some(r) = &mut self.rec {
            r.attributes.push(KeyValue::bool(key, value));
        }
    }

    /// A point in time within the span (a pipeline stage passed).
    #[inline]
    pub fn event(&mut self, name: &str) {
        if let Some(r) = &mut self.rec {
            r.events.push(proto::Event {
                time_unix_nano: now_unix_nanos(),
                name: name.to_owned(),
                attributes: Vec::new(),
            });
        }
    }

    /// Marks the span failed: status `ERROR` with `message`, and `error.type` (a low-cardinality
    /// class: a JSON-RPC code, `tool_error`, `timeout`, …).
    pub fn fail(&mut self, error_type: &str, message: &str) {
        if let Some(r) = &mut self.rec {
            r.attributes.push(KeyValue::str("error.type", error_type));
            r.status = Some(proto::Status {
                message: message.to_owned(),
                code: 2,
            });
        }
    }

    /// The finished record, with its end time, if it was recorded.
    pub(crate) fn finish(self) -> Option<Box<proto::Span>> {
        self.rec.map(|mut r| {
            r.end_time_unix_nano = now_unix_nanos().max(r.start_time_unix_nano);
            r
        })
    }
}

fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
