//! Usage accounting: `tools/call`s per (principal, product, tool), by outcome — `ok`, `error`,
//! `replayed` (an idempotent replay: answered from the store, never a second billable call) and
//! `refused` (a stage before the handler said no). Fed by the pipeline's record stage; read by
//! `GET /api/usage` and exported as `switchboard_usage_calls_total`.
//!
//! A known key costs a read lock, a hash of three borrowed strings and two atomic adds (the
//! window's count and the metric's); nothing is allocated. The table holds at most
//! [`MAX_KEYS`] keys: past it, calls are counted under one overflow entry (and its metric
//! series), so neither memory nor label cardinality grows with what callers send. A reset
//! starts a new window for the API (counts to zero, keys kept); the metric's counters never go
//! back.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use switchboard_protocol::lock;
use switchboard_telemetry::{Metrics, USAGE_OUTCOMES, UsageSeries};

/// Distinct (principal, product, tool) keys kept.
pub const MAX_KEYS: usize = 10_000;

/// Longest tool name or principal id kept as a key; longer ones count as overflow.
pub const MAX_NAME: usize = 256;

/// The label every part of the overflow entry carries.
pub const OVERFLOW: &str = "_overflow";

/// What became of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok = 0,
    Error = 1,
    Replayed = 2,
    Refused = 3,
}

struct Entry {
    principal: Arc<str>,
    product: Arc<str>,
    tool: Arc<str>,
    /// Since the window began.
    window: [AtomicU64; 4],
    /// The metric's series; `None` with metrics off.
    series: Option<UsageSeries>,
}

impl Entry {
    fn new(metrics: &Metrics, principal: &str, product: &str, tool: &str) -> Entry {
        Entry {
            principal: Arc::from(principal),
            product: Arc::from(product),
            tool: Arc::from(tool),
            window: Default::default(),
            series: metrics.usage(principal, product, tool),
        }
    }

    fn count(&self, outcome: CallOutcome) {
        let i = outcome as usize;
        self.window[i].fetch_add(1, Ordering::Relaxed);
        if let Some(s) = &self.series {
            s[i].inc();
        }
    }

    fn is(&self, principal: &str, product: &str, tool: &str) -> bool {
        &*self.principal == principal && &*self.product == product && &*self.tool == tool
    }
}

/// The usage table.
pub struct Usage {
    hasher: RandomState,
    /// Entries by the hash of their key (collisions share a bucket).
    keys: RwLock<HashMap<u64, Vec<Arc<Entry>>>>,
    len: AtomicU64,
    cap: usize,
    overflow: Entry,
    metrics: Metrics,
    /// When the current window began.
    since: Mutex<SystemTime>,
}

/// A filter on the rows [`Usage::rows`] returns; `None` matches anything.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub principal: Option<String>,
    pub product: Option<String>,
    pub tool: Option<String>,
}

impl Usage {
    pub fn new(cap: usize, metrics: &Metrics) -> Usage {
        Usage {
            hasher: RandomState::new(),
            keys: RwLock::default(),
            len: AtomicU64::new(0),
            cap,
            overflow: Entry::new(metrics, OVERFLOW, OVERFLOW, OVERFLOW),
            metrics: metrics.clone(),
            since: Mutex::new(SystemTime::now()),
        }
    }

    /// Counts one call. `product` is `""` at `/mcp`.
    pub fn count(&self, principal: &str, product: &str, tool: &str, outcome: CallOutcome) {
        // A name this long is no tool anyone listed; it must not cost a key's worth of memory.
        if tool.len() > MAX_NAME || principal.len() > MAX_NAME {
            self.overflow.count(outcome);
            return;
        }
        let h = self.hasher.hash_one((principal, product, tool));
        {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = keys
                .get(&h)
                .and_then(|b| b.iter().find(|e| e.is(principal, product, tool)))
            {
                e.count(outcome);
                return;
            }
        }
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let bucket = keys.entry(h).or_default();
        if let Some(e) = bucket.iter().find(|e| e.is(principal, product, tool)) {
            e.count(outcome);
            return;
        }
        if self.len.load(Ordering::Relaxed) as usize >= self.cap {
            self.overflow.count(outcome);
            return;
        }
        let e = Arc::new(Entry::new(&self.metrics, principal, product, tool));
        e.count(outcome);
        bucket.push(e);
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts a new window: every count back to zero (keys and metrics stay).
    pub fn reset(&self) {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        for e in keys
            .values()
            .flatten()
            .map(|e| &**e)
            .chain(std::iter::once(&self.overflow))
        {
            for c in &e.window {
                c.store(0, Ordering::Relaxed);
            }
        }
        *lock(&self.since) = SystemTime::now();
    }

    /// When the current window began.
    pub fn since(&self) -> SystemTime {
        *lock(&self.since)
    }

    /// The `GET /api/usage` document: the window's start, the rows that match (sorted by
    /// principal, product, tool; keys without a call in the window left out), totals, and the
    /// overflow entry's counts.
    pub fn to_json(&self, filter: &Filter) -> serde_json::Value {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<&Arc<Entry>> = keys
            .values()
            .flatten()
            .filter(|e| {
                filter
                    .principal
                    .as_deref()
                    .is_none_or(|p| p == &*e.principal)
                    && filter.product.as_deref().is_none_or(|p| p == &*e.product)
                    && filter.tool.as_deref().is_none_or(|t| t == &*e.tool)
            })
            .collect();
        rows.sort_by(|a, b| {
            (&a.principal, &a.product, &a.tool).cmp(&(&b.principal, &b.product, &b.tool))
        });
        let counts =
            |e: &Entry| -> [u64; 4] { e.window.each_ref().map(|c| c.load(Ordering::Relaxed)) };
        let mut totals = [0u64; 4];
        let rows: Vec<serde_json::Value> = rows
            .into_iter()
            .filter_map(|e| {
                let c = counts(e);
                if c.iter().all(|n| *n == 0) {
                    return None;
                }
                for (t, n) in totals.iter_mut().zip(c) {
                    *t += n;
                }
                let mut row = serde_json::json!({
                    "principal": &*e.principal,
                    "product": (!e.product.is_empty()).then_some(&*e.product),
                    "tool": &*e.tool,
                });
                outcomes_into(&mut row, c);
                Some(row)
            })
            .collect();
        let mut total = serde_json::json!({});
        outcomes_into(&mut total, totals);
        let mut overflow = serde_json::json!({});
        outcomes_into(&mut overflow, counts(&self.overflow));
        serde_json::json!({
            "since": crate::usage::rfc3339(self.since()),
            "rows": rows,
            "total": total,
            "overflow": overflow,
            "max_keys": self.cap,
        })
    }
}

fn outcomes_into(v: &mut serde_json::Value, counts: [u64; 4]) {
    if let Some(m) = v.as_object_mut() {
        for (name, n) in USAGE_OUTCOMES.iter().zip(counts) {
            m.insert((*name).to_owned(), n.into());
        }
        // Billable calls: those that reached a tool. A replay was billed the first time.
        m.insert("billable".to_owned(), (counts[0] + counts[1]).into());
    }
}

/// `time` as RFC 3339 UTC.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let micros = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    switchboard_audit::rfc3339(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_outcome_then_overflows_at_the_cap() {
        let u = Usage::new(2, &Metrics::new());
        u.count("alice", "", "a__x", CallOutcome::Ok);
        u.count("alice", "", "a__x", CallOutcome::Replayed);
        u.count("alice", "p", "a__x", CallOutcome::Refused);
        u.count("bob", "", "a__x", CallOutcome::Ok);
        let all = u.to_json(&Filter::default());
        let rows = all["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{all}");
        assert_eq!(rows[0]["ok"], 1);
        assert_eq!(rows[0]["replayed"], 1);
        assert_eq!(rows[0]["billable"], 1);
        assert_eq!(rows[1]["product"], "p");
        assert_eq!(all["overflow"]["ok"], 1, "bob is past the cap: {all}");
        let only = u.to_json(&Filter {
            product: Some("p".into()),
            ..Filter::default()
        });
        assert_eq!(only["rows"].as_array().unwrap().len(), 1);
        u.reset();
        assert_eq!(u.to_json(&Filter::default())["rows"], serde_json::json!([]));
    }

    #[test]
    fn the_metric_counts_on_and_survives_a_reset() {
        let m = Metrics::new();
        let u = Usage::new(10, &m);
        u.count("alice", "", "a__x", CallOutcome::Ok);
        u.reset();
        u.count("alice", "", "a__x", CallOutcome::Ok);
        let text = m
            .encode(switchboard_telemetry::Format::PrometheusText)
            .unwrap();
        assert!(
            text.contains(r#"switchboard_usage_calls_total{principal="alice",product="",tool="a__x",outcome="ok"} 2"#),
            "{text}"
        );
    }
}
