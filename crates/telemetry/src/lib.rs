//! switchboard's metrics: the Prometheus families, cheap handles for the call path, `/metrics`.
//!
//! [`Metrics`] owns one explicit `prometheus-client` registry (no global: two gateways in one
//! process, or two tests, never share a counter) with every family `docs/metrics.md` lists.
//! What counts on the path of a call is a pre-resolved handle: [`UpstreamMetrics`] per
//! upstream, [`ToolMetrics`] per (upstream, tool) — atomics, with no label allocation and no
//! lock per call. Label values come from [`labels`]' closed vocabularies, the config (upstream
//! names) and the catalog (tool names an upstream listed), never from what a client sent.
//!
//! Metrics can be switched off (`metrics: { enabled: false }`): then every handle is empty,
//! counting is a branch, and [`Metrics::encode`] has nothing to say.

mod exposition;
mod histogram;
pub mod labels;
mod process;
mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use exposition::Format;
pub use histogram::{BUCKETS, Histogram, Snapshot};
pub use labels::{Breaker, Era, HealthCheck, Method, Outcome, Reload, State, UNKNOWN};
pub use upstream::{InFlight, Recent, ToolCall, ToolMetrics, UpstreamMetrics, WINDOW};

/// One label: a fixed key and a shared value.
type Label = (&'static str, Arc<str>);

fn label(key: &'static str, value: &str) -> Label {
    (key, Arc::from(value))
}

/// Locks a mutex that only the scrape and resolve paths take, recovering from poisoning (a
/// panic elsewhere must not take the metrics down with it).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every family, shared by the registry (which encodes them) and the handles (which resolve
/// series in them).
#[derive(Debug, Default)]
pub(crate) struct Families {
    requests: Family<[Label; 2], Counter>,
    tool_calls: Family<[Label; 3], Counter>,
    tool_duration: Family<[Label; 2], Histogram>,
    upstream_state: Family<[Label; 2], Gauge>,
    restarts: Family<[Label; 1], Counter>,
    cold_starts: Family<[Label; 1], Counter>,
    health_checks: Family<[Label; 2], Counter>,
    breaker: Family<[Label; 1], Gauge>,
    inflight: Family<[Label; 1], Gauge>,
    concurrency_wait: Histogram,
    sessions: Family<[Label; 1], Gauge>,
    reloads: Family<[Label; 1], Counter>,
    audit_webhook: Family<[Label; 1], Counter>,
    audit_webhook_queued: Family<[Label; 0], Gauge>,
    usage_calls: Family<[Label; 4], Counter>,
    /// The tool names each upstream has series for, so its series can go when it does.
    tools_of: Mutex<HashMap<Arc<str>, Vec<Arc<str>>>>,
}

impl Families {
    fn note_tool(&self, upstream: &Arc<str>, tool: &Arc<str>) {
        let mut map = lock(&self.tools_of);
        let tools = map.entry(upstream.clone()).or_default();
        if !tools.iter().any(|t| t == tool) {
            tools.push(tool.clone());
        }
    }

    /// Removes every series labelled with this upstream.
    fn forget(&self, upstream: &str) {
        let up = label("upstream", upstream);
        for s in State::ALL {
            self.upstream_state
                .remove(&[up.clone(), label("state", s.as_str())]);
        }
        self.restarts.remove(std::array::from_ref(&up));
        self.cold_starts.remove(std::array::from_ref(&up));
        for h in HealthCheck::ALL {
            self.health_checks
                .remove(&[up.clone(), label("outcome", h.as_str())]);
        }
        self.breaker.remove(std::array::from_ref(&up));
        self.inflight.remove(std::array::from_ref(&up));
        let tools = lock(&self.tools_of).remove(upstream).unwrap_or_default();
        for tool in tools {
            let t: Label = ("tool", tool);
            for o in Outcome::ALL {
                self.tool_calls
                    .remove(&[up.clone(), t.clone(), label("outcome", o.as_str())]);
            }
            self.tool_duration.remove(&[up.clone(), t]);
        }
    }
}

/// One usage key's counters, one per outcome.
pub type UsageSeries = [Counter; 4];

/// The outcomes of `switchboard_usage_calls_total`, in the order of [`Metrics::usage`].
pub const USAGE_OUTCOMES: [&str; 4] = ["ok", "error", "replayed", "refused"];

/// The audit webhook sink's counters, as its writer keeps them.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditWebhook {
    pub queued: u64,
    pub sent: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub dropped: u64,
}

/// The gateway's metrics. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

#[derive(Debug)]
struct Inner {
    registry: Registry,
    families: Arc<Families>,
    /// `switchboard_requests_total`, resolved for every (method, outcome) at start.
    requests: Vec<[Counter; 4]>,
    sessions: [Gauge; 2],
    reloads: [Counter; 2],
    /// The series of tool names no view resolved.
    unknown_tool: ToolMetrics,
}

impl Metrics {
    /// Metrics on: every family registered, the fixed label sets resolved.
    pub fn new() -> Metrics {
        let families = Arc::new(Families::default());
        let f = &families;
        let mut r = Registry::default();
        r.register(
            "switchboard_requests",
            "Requests served, by MCP method (unlisted methods are \"other\") and outcome",
            f.requests.clone(),
        );
        r.register(
            "switchboard_tool_calls",
            "tools/call requests by upstream, tool (the upstream's own name; \"unknown\" when no view resolved it) and outcome",
            f.tool_calls.clone(),
        );
        r.register(
            "switchboard_tool_call_duration_seconds",
            "Time from routing a tools/call to its answer, by upstream and tool",
            f.tool_duration.clone(),
        );
        r.register(
            "switchboard_upstream_state",
            "1 for the state each upstream is in, 0 for the others",
            f.upstream_state.clone(),
        );
        r.register(
            "switchboard_upstream_restarts",
            "Times an upstream was started again after it went down",
            f.restarts.clone(),
        );
        r.register(
            "switchboard_cold_starts",
            "Times an upstream was started from cold (at boot, or on first use when lazy)",
            f.cold_starts.clone(),
        );
        r.register(
            "switchboard_health_checks",
            "Health checks (keep-alive pings) of upstreams, by outcome",
            f.health_checks.clone(),
        );
        r.register(
            "switchboard_circuit_breaker_state",
            "Each upstream's circuit breaker: 0 closed, 1 open, 2 half-open",
            f.breaker.clone(),
        );
        r.register(
            "switchboard_inflight_calls",
            "Client calls in flight to each upstream",
            f.inflight.clone(),
        );
        r.register(
            "switchboard_concurrency_wait_seconds",
            "Time calls waited for a concurrency slot",
            f.concurrency_wait.clone(),
        );
        r.register(
            "switchboard_sessions",
            "Downstream sessions open, by era (handshake: initialize-opened; modern: 2026-07-28 requests in flight)",
            f.sessions.clone(),
        );
        r.register(
            "switchboard_config_reloads",
            "Config reloads, by outcome",
            f.reloads.clone(),
        );
        r.register(
            "switchboard_audit_webhook_records",
            "Audit records by what the webhook sink did with them: sent, retried (failed POSTs), dead_lettered, dropped",
            f.audit_webhook.clone(),
        );
        r.register(
            "switchboard_audit_webhook_queued",
            "Audit records waiting for the webhook, in memory and in its dead-letter file",
            f.audit_webhook_queued.clone(),
        );
        r.register(
            "switchboard_usage_calls",
            "tools/call requests by principal, product (\"\" at /mcp), tool (as called) and outcome: ok, error, replayed (an idempotent replay, not billable), refused; bounded: past the usage table's cap every series is \"_overflow\"",
            f.usage_calls.clone(),
        );
        r.register_collector(Box::new(process::Process));
        let requests = Method::ALL
            .iter()
            .map(|m| {
                Outcome::ALL.map(|o| {
                    f.requests
                        .get_or_create_owned(&[label("method", m), label("outcome", o.as_str())])
                })
            })
            .collect();
        let sessions =
            Era::ALL.map(|e| f.sessions.get_or_create_owned(&[label("era", e.as_str())]));
        let reloads = Reload::ALL.map(|o| {
            f.reloads
                .get_or_create_owned(&[label("outcome", o.as_str())])
        });
        let unknown_tool = ToolMetrics::new(f, &Arc::from(UNKNOWN), UNKNOWN, None);
        Metrics(Some(Arc::new(Inner {
            registry: r,
            families,
            requests,
            sessions,
            reloads,
            unknown_tool,
        })))
    }

    /// Metrics off: handles count nothing, [`Metrics::encode`] gives `None`.
    pub fn disabled() -> Metrics {
        Metrics(None)
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Resolves an upstream's series (`name` from the config). A second upstream of the same
    /// name (a replacement) shares them.
    pub fn upstream(&self, name: &str) -> UpstreamMetrics {
        match &self.0 {
            Some(m) => UpstreamMetrics::new(&m.families, name),
            None => UpstreamMetrics::disabled(),
        }
    }

    /// The `switchboard_usage_calls_total` series of one (principal, product, tool), one
    /// counter per outcome in [`USAGE_OUTCOMES`] order. Resolved once per usage key; the caller
    /// bounds how many keys there are.
    pub fn usage(&self, principal: &str, product: &str, tool: &str) -> Option<UsageSeries> {
        let m = self.0.as_ref()?;
        let labels = [
            label("principal", principal),
            label("product", product),
            label("tool", tool),
        ];
        Some(USAGE_OUTCOMES.map(|o| {
            let [p, d, t] = labels.clone();
            m.families
                .usage_calls
                .get_or_create_owned(&[p, d, t, label("outcome", o)])
        }))
    }

    /// Drops every series of an upstream removed at run time.
    pub fn forget_upstream(&self, name: &str) {
        if let Some(m) = &self.0 {
            m.families.forget(name);
        }
    }

    /// The series a `tools/call` for a name no view resolved counts on.
    pub fn unknown_tool(&self) -> ToolMetrics {
        self.0
            .as_ref()
            .map(|m| m.unknown_tool.clone())
            .unwrap_or_default()
    }

    /// Counts one request that ended with `outcome`.
    #[inline]
    pub fn request(&self, method: Method, outcome: Outcome) {
        if let Some(m) = &self.0 {
            m.requests[method.index()][outcome.index()].inc();
        }
    }

    /// Counts one modern (2026-07-28) session while the guard lives.
    pub fn modern_session(&self) -> InFlight<'_> {
        self.session_guard(Era::Modern)
    }

    fn session_guard(&self, era: Era) -> InFlight<'_> {
        InFlight::counting(self.0.as_ref().map(|m| m.sessions[era.index()].inner()))
    }

    /// Sets the number of open sessions of an era (handshake sessions are counted at scrape
    /// time from the session store).
    pub fn set_sessions(&self, era: Era, n: usize) {
        if let Some(m) = &self.0 {
            m.sessions[era.index()].set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Sets the audit webhook's series from its own counters (read at scrape time).
    pub fn set_audit_webhook(&self, counts: AuditWebhook) {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(m) = &self.0 else { return };
        let f = &m.families;
        for (result, n) in [
            ("sent", counts.sent),
            ("retried", counts.retried),
            ("dead_lettered", counts.dead_lettered),
            ("dropped", counts.dropped),
        ] {
            f.audit_webhook
                .get_or_create(&[label("result", result)])
                .inner()
                .store(n, Relaxed);
        }
        f.audit_webhook_queued
            .get_or_create(&[])
            .set(i64::try_from(counts.queued).unwrap_or(i64::MAX));
    }

    /// Counts one config reload.
    pub fn config_reload(&self, outcome: Reload) {
        if let Some(m) = &self.0 {
            m.reloads[outcome.index()].inc();
        }
    }

    /// Observes one wait for a concurrency slot.
    pub fn concurrency_wait(&self, waited: Duration) {
        if let Some(m) = &self.0 {
            m.families.concurrency_wait.observe(waited);
        }
    }

    /// The `/metrics` text in `format`; `None` when metrics are off.
    pub fn encode(&self, format: Format) -> Option<String> {
        let m = self.0.as_ref()?;
        let mut open = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail; an encoder error would be a bug in a metric's
        // encoding, and the scrape then shows what was written before it.
        let _ = prometheus_client::encoding::text::encode(&mut open, &m.registry);
        Some(match format {
            Format::OpenMetrics => open,
            Format::PrometheusText => exposition::to_prometheus_text(&open),
        })
    }
}
