//! Handles on one upstream's series and on one (upstream, tool)'s, resolved once.
//!
//! Resolving a series (finding or creating it in its family under its label values) takes the
//! family's lock and allocates the label set; counting on a resolved handle is a relaxed atomic
//! add. So the gateway resolves an [`UpstreamMetrics`] when it builds an upstream, and a
//! [`ToolMetrics`] once per catalog entry (on the entry's first call); the call path itself only
//! counts. A handle made from disabled [`crate::Metrics`] counts nothing and costs a branch.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::histogram::{Histogram, Snapshot};
use crate::labels::{Breaker, HealthCheck, Outcome, State};
use crate::{Families, label, lock};

/// How long `/status`'s recent-latency window lasts before it turns over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One upstream's series. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct UpstreamMetrics(Option<Arc<UpstreamInner>>);

#[derive(Debug)]
struct UpstreamInner {
    name: Arc<str>,
    families: Arc<Families>,
    states: [Gauge; 5],
    restarts: Counter,
    cold_starts: Counter,
    health: [Counter; 3],
    breaker: Gauge,
    inflight: Gauge,
    /// Every `tools/call` on this upstream, for `/status` (not exported: the per-tool families
    /// already carry it).
    latency: Histogram,
    window: Mutex<Window>,
}

impl UpstreamMetrics {
    pub(crate) fn new(families: &Arc<Families>, name: &str) -> UpstreamMetrics {
        let name: Arc<str> = Arc::from(name);
        let f = families;
        let up = label("upstream", &name);
        let inner = UpstreamInner {
            states: State::ALL.map(|s| {
                f.upstream_state
                    .get_or_create_owned(&[up.clone(), label("state", s.as_str())])
            }),
            restarts: f.restarts.get_or_create_owned(std::array::from_ref(&up)),
            cold_starts: f.cold_starts.get_or_create_owned(std::array::from_ref(&up)),
            health: HealthCheck::ALL.map(|h| {
                f.health_checks
                    .get_or_create_owned(&[up.clone(), label("outcome", h.as_str())])
            }),
            breaker: f.breaker.get_or_create_owned(std::array::from_ref(&up)),
            inflight: f.inflight.get_or_create_owned(&[up]),
            latency: Histogram::default(),
            window: Mutex::new(Window::new()),
            families: families.clone(),
            name,
        };
        let m = UpstreamMetrics(Some(Arc::new(inner)));
        // Until the supervisor says otherwise, an upstream is starting (today every upstream is
        // started at boot); a replacement of the same name takes over the same series.
        m.set_state(State::Starting);
        m
    }

    /// A handle that counts nothing (metrics off, or an upstream built outside a gateway).
    pub fn disabled() -> UpstreamMetrics {
        UpstreamMetrics(None)
    }

    /// Makes `state` the one current state (1) and every other 0.
    pub fn set_state(&self, state: State) {
        if let Some(m) = &self.0 {
            for (s, g) in State::ALL.iter().zip(&m.states) {
                g.set(i64::from(*s == state));
            }
        }
    }

    /// A restart: the upstream starts again after it had been down.
    pub fn restarted(&self) {
        if let Some(m) = &self.0 {
            m.restarts.inc();
        }
    }

    /// A start from cold (at boot today; on first use or after an idle stop with lazy start).
    pub fn cold_start(&self) {
        if let Some(m) = &self.0 {
            m.cold_starts.inc();
        }
    }

    pub fn health_check(&self, outcome: HealthCheck) {
        if let Some(m) = &self.0 {
            m.health[outcome.index()].inc();
        }
    }

    pub fn set_breaker(&self, state: Breaker) {
        if let Some(m) = &self.0 {
            m.breaker.set(state as i64);
        }
    }

    /// Counts one call in flight until the guard drops (also when the call's future is
    /// dropped: a cancelled call leaves the gauge right).
    pub fn in_flight(&self) -> InFlight<'_> {
        InFlight::counting(self.0.as_ref().map(|m| m.inflight.inner()))
    }

    /// Calls in flight now.
    pub fn inflight_now(&self) -> i64 {
        self.0.as_ref().map_or(0, |m| m.inflight.get())
    }

    /// Resolves the series of one of this upstream's tools (`tool` is the upstream's own name
    /// for it, as its `tools/list` gave it). Takes a lock and allocates: call it once per
    /// catalog entry, not per call.
    pub fn tool(&self, tool: &str) -> ToolMetrics {
        let Some(m) = &self.0 else {
            return ToolMetrics::default();
        };
        ToolMetrics::new(&m.families, &m.name, tool, Some(m.latency.clone()))
    }

    /// Latency of this upstream's `tools/call`s over the recent window (between one and two
    /// [`WINDOW`]s, or since the previous look if that was longer ago).
    pub fn recent_latency(&self) -> Option<Recent> {
        let m = self.0.as_ref()?;
        let now = m.latency.snapshot();
        let mut w = lock(&m.window);
        let (base_at, base) = w.turn(now);
        let recent = now.since(&base);
        Some(Recent {
            calls: recent.count(),
            p50_seconds: recent.quantile(0.5),
            p99_seconds: recent.quantile(0.99),
            window: base_at.elapsed(),
        })
    }
}

/// What `/status` shows of an upstream's recent calls.
#[derive(Debug, Clone, Copy)]
pub struct Recent {
    pub calls: u64,
    pub p50_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    /// How far back the window reaches.
    pub window: Duration,
}

/// Two snapshots: the base the current window is measured from, and the next base.
#[derive(Debug)]
struct Window {
    base: (Instant, Snapshot),
    next: (Instant, Snapshot),
}

impl Window {
    fn new() -> Window {
        let now = Instant::now();
        Window {
            base: (now, Snapshot::default()),
            next: (now, Snapshot::default()),
        }
    }

    /// Moves the window on when the next base is old enough; returns the base to diff against.
    fn turn(&mut self, now: Snapshot) -> (Instant, Snapshot) {
        if self.next.0.elapsed() >= WINDOW {
            self.base = self.next;
            self.next = (Instant::now(), now);
        }
        self.base
    }
}

/// One call in flight on an upstream (see [`UpstreamMetrics::in_flight`]).
#[must_use = "the call counts as in flight only while the guard lives"]
#[derive(Debug)]
pub struct InFlight<'a>(Option<&'a AtomicI64>);

impl<'a> InFlight<'a> {
    /// Adds one to `gauge` until the guard drops.
    pub(crate) fn counting(gauge: Option<&'a AtomicI64>) -> InFlight<'a> {
        if let Some(a) = gauge {
            a.fetch_add(1, Ordering::Relaxed);
        }
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.0 {
            a.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// One (upstream, tool)'s series. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ToolMetrics(Option<Arc<ToolInner>>);

#[derive(Debug)]
struct ToolInner {
    calls: [Counter; 4],
    duration: Histogram,
    /// The upstream's aggregate for `/status`, when the tool belongs to a known upstream.
    upstream: Option<Histogram>,
}

impl ToolMetrics {
    pub(crate) fn new(
        families: &Families,
        upstream: &Arc<str>,
        tool: &str,
        aggregate: Option<Histogram>,
    ) -> ToolMetrics {
        let up = label("upstream", upstream);
        let tool: Arc<str> = Arc::from(tool);
        families.note_tool(upstream, &tool);
        let t = label("tool", &tool);
        let inner = ToolInner {
            calls: Outcome::ALL.map(|o| {
                families.tool_calls.get_or_create_owned(&[
                    up.clone(),
                    t.clone(),
                    label("outcome", o.as_str()),
                ])
            }),
            duration: families
                .tool_duration
                .get_or_create_owned(&[up.clone(), t.clone()]),
            upstream: aggregate,
        };
        ToolMetrics(Some(Arc::new(inner)))
    }

    /// Starts timing one call; [`ToolCall::finish`] counts it (dropping it unfinished counts
    /// it `cancelled`).
    pub fn start(&self) -> ToolCall {
        ToolCall(self.0.clone().map(|t| (t, Instant::now())))
    }

    /// Counts a call that never reached an upstream (no duration is observed).
    pub fn count(&self, outcome: Outcome) {
        if let Some(t) = &self.0 {
            t.calls[outcome.index()].inc();
        }
    }
}

/// One `tools/call` being timed (see [`ToolMetrics::start`]).
#[derive(Debug)]
pub struct ToolCall(Option<(Arc<ToolInner>, Instant)>);

impl ToolCall {
    /// Counts the call as `outcome` and observes its duration.
    pub fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: Outcome) {
        if let Some((t, started)) = self.0.take() {
            let took = started.elapsed();
            t.calls[outcome.index()].inc();
            t.duration.observe(took);
            if let Some(u) = &t.upstream {
                u.observe(took);
            }
        }
    }
}

impl Drop for ToolCall {
    fn drop(&mut self) {
        self.record(Outcome::Cancelled);
    }
}
