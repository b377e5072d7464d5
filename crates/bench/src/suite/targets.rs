//! The performance targets from the issue, checked against a run's results.

use serde::{Deserialize, Serialize};

use super::results::{Comparison, Results};

/// One target and whether this run met it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetCheck {
    pub target: String,
    /// What was measured, in `unit`.
    pub value: f64,
    pub limit: f64,
    pub unit: String,
    /// `value <= limit` (or `>=` for the "at least" targets).
    pub met: bool,
    /// Which run it was read from.
    pub source: String,
}

fn at_most(target: &str, value: f64, limit: f64, unit: &str, source: String) -> TargetCheck {
    TargetCheck {
        target: target.into(),
        value,
        limit,
        unit: unit.into(),
        met: value <= limit,
        source,
    }
}

fn at_least(target: &str, value: f64, limit: f64, unit: &str, source: String) -> TargetCheck {
    TargetCheck {
        met: value >= limit,
        ..at_most(target, value, limit, unit, source)
    }
}

fn find<'a>(r: &'a Results, path: &str, c: usize) -> Option<&'a Comparison> {
    r.transport
        .iter()
        .find(|x| x.path == path && x.concurrency == c)
}

/// Checks every target the run has numbers for.
pub fn check(r: &Results) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    if let Some(c) = find(r, "http", 1) {
        out.push(at_most(
            "HTTP c=1: added p50 latency",
            c.added_p50_ms(),
            0.2,
            "ms",
            c.key(),
        ));
        out.push(at_most(
            "HTTP c=1: added p99 latency",
            c.added_p99_ms(),
            1.0,
            "ms",
            c.key(),
        ));
    }
    for path in ["http", "stdio"] {
        if let Some(c) = find(r, path, 32) {
            out.push(at_least(
                &format!("{} c=32: gateway throughput vs direct", path_name(path)),
                c.throughput_ratio(),
                0.5,
                "×",
                c.key(),
            ));
        }
    }
    if let Some((c, cpu)) = find(r, "http", 32).and_then(|c| c.gateway_cpu_us().map(|u| (c, u))) {
        out.push(at_most(
            "gateway CPU per proxied tools/call",
            cpu,
            30.0,
            "µs",
            format!("{} ({} calls)", c.key(), c.gateway.calls),
        ));
    }
    if let Some(m) = &r.memory {
        out.push(at_most(
            &format!(
                "{} idle sessions: added RSS",
                super::markdown::thousands(m.sessions as f64)
            ),
            mib(m.added_kib),
            64.0 * m.sessions as f64 / 10_000.0,
            "MiB",
            "memory".into(),
        ));
        out.push(at_most(
            "idle gateway RSS",
            mib(m.idle_kib),
            30.0,
            "MiB",
            "memory".into(),
        ));
    }
    if let Some(s) = &r.startup {
        out.push(at_most(
            &format!("exec → accepting MCP requests, {} upstreams", s.upstreams),
            s.accept_ms_median,
            100.0,
            "ms",
            format!("median of {}", s.runs.len()),
        ));
    }
    if let Some(c) = find(r, "stdio", 1) {
        out.push(at_most(
            "stdio c=1: added p50 latency",
            c.added_p50_ms(),
            0.3,
            "ms",
            c.key(),
        ));
    }
    for i in &r.isolation {
        out.push(at_most(
            &format!(
                "{} upstream: fast p99 beside a slow one (alone {:.3} ms; limit ×1.25 or +0.25 ms)",
                path_name(&i.upstream),
                i.alone.latency_ms.p99
            ),
            i.beside_slow.latency_ms.p99,
            i.p99_limit_ms(),
            "ms",
            format!("isolation.{}", i.upstream),
        ));
    }
    out
}

pub fn path_name(path: &str) -> &'static str {
    match path {
        "http" => "HTTP",
        "stdio" => "stdio",
        "http-stdio" => "HTTP→stdio",
        "http-modern" => "HTTP 2026-07-28",
        _ => "?",
    }
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}
