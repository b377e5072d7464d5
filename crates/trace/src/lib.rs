//! switchboard's tracing: which requests are traced, the spans recorded for them, and their
//! export over OTLP.
//!
//! - [`context`]: W3C `traceparent` parsed and formatted (no allocation), ids minted.
//! - [`sampler`]: parent-based ratio sampling.
//! - [`span`]: a [`Span`] — its context always (so it can be propagated), its OTLP record only
//!   when sampled; every setter on an unsampled span is one branch.
//! - [`proto`]: the OTLP messages, declared with prost.
//! - [`export`]: the bounded queue and the exporter thread (HTTP/protobuf and gRPC).
//!
//! The gateway holds an `Option<Tracer>`: with tracing off, that `None` is the whole cost.
//! With it on, a request that is not sampled costs a trace id (or the caller's), a sampling
//! decision and a span id; a sampled one builds its record and hands it to the exporter with
//! one `try_send`.

pub mod context;
pub mod export;
pub mod proto;
pub mod sampler;
pub mod span;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchboard_config::TelemetryConfig;
use tokio::sync::{mpsc, oneshot};

pub use context::{SpanContext, Traceparent};
pub use export::Stats;
pub use sampler::Sampler;
pub use span::{Kind, Span};

/// The tracing handle: samples, starts spans, and queues finished ones for export.
pub struct Tracer {
    sampler: Sampler,
    tx: mpsc::Sender<export::Command>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("sampler", &self.sampler)
            .finish()
    }
}

impl Tracer {
    /// Starts exporting as `cfg` says (the exporter runs on a thread of its own).
    pub fn start(cfg: &TelemetryConfig) -> std::io::Result<Tracer> {
        let stats = Arc::new(Stats::default());
        let tx = export::start(cfg, stats.clone())?;
        Ok(Tracer {
            sampler: Sampler::new(cfg.sampling),
            tx,
            stats,
        })
    }

    /// The span of a request the gateway serves, continuing the caller's trace when `parent`
    /// is its valid context, else starting one. `name` is asked for only when the span is
    /// recorded.
    #[inline]
    pub fn server(
        &self,
        parent: Option<SpanContext>,
        tracestate: Option<&str>,
        name: impl FnOnce() -> String,
    ) -> Span {
        let trace_id = match &parent {
            Some(p) => p.trace_id,
            None => context::new_trace_id(),
        };
        let sampled = self.sampler.sampled(parent.as_ref(), &trace_id);
        let cx = SpanContext {
            trace_id,
            span_id: context::new_span_id(),
            flags: u8::from(sampled),
        };
        if sampled {
            Span::recorded(
                cx,
                parent.as_ref(),
                parent.is_some(),
                Kind::Server,
                name(),
                tracestate,
            )
        } else {
            Span::unrecorded(cx)
        }
    }

    /// A span of this process under `parent` (a request to an upstream, under the request's
    /// server span): recorded exactly when the parent is.
    #[inline]
    pub fn child(&self, parent: &Span, kind: Kind, name: impl FnOnce() -> String) -> Span {
        let pcx = parent.context();
        let cx = pcx.child();
        if parent.is_recording() {
            Span::recorded(cx, Some(&pcx), false, kind, name(), None)
        } else {
            Span::unrecorded(cx)
        }
    }

    /// Ends `span`: a recorded one is queued for export (dropped and counted when the queue is
    /// full: the request never waits for tracing).
    #[inline]
    pub fn end(&self, span: Span) {
        if let Some(rec) = span.finish()
            && self.tx.try_send(export::Command::Span(rec)).is_err()
        {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What the exporter counted.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Sends every queued span now and waits (at most `limit`) until that is done: at
    /// shutdown, so the last requests' spans are not lost.
    pub async fn flush(&self, limit: Duration) {
        let (done, wait) = oneshot::channel();
        let sent = tokio::time::timeout(limit, self.tx.send(export::Command::Flush(done))).await;
        if matches!(sent, Ok(Ok(()))) {
            let _ = tokio::time::timeout(limit, wait).await;
        }
    }
}
