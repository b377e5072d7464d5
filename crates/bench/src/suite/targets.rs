//! The performance targets from the issue, checked against a run's results, and the figures
//! shown beside them for reference (the floor's), which are not targets.

use serde::{Deserialize, Serialize};

pub use super::results::path_name;
use super::results::{Comparison, Results, floors_of, ratio};

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
    if let Some(c) = find(r, super::replay::PATH, 1) {
        out.push(at_most(
            "idempotent replay c=1: p50 latency",
            c.gateway.latency_ms.p50,
            0.1,
            "ms",
            c.key(),
        ));
    }
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
    // Issue 14's budget: the audit log (file sink, fsync 100 ms) adds at most 4 µs of gateway
    // CPU per call and costs at most 10 % of throughput at c=32.
    if let (Some(off), Some(on)) = (find(r, "http-off", 32), find(r, "http-audit", 32)) {
        if let (Some(a), Some(b)) = (off.gateway_cpu_us(), on.gateway_cpu_us()) {
            out.push(at_most(
                "audit log on: added gateway CPU per proxied tools/call",
                ((b - a) * 100.0).round() / 100.0,
                4.0,
                "µs",
                format!("{} vs {}", on.key(), off.key()),
            ));
        }
        out.push(at_least(
            "audit log on c=32: throughput vs audit off",
            ratio(on.gateway.throughput_per_s, off.gateway.throughput_per_s),
            0.9,
            "×",
            format!("{} vs {}", on.key(), off.key()),
        ));
    }
    // Issue 14's budget: tracing exported at 1 % sampling adds at most 3 µs of gateway CPU per
    // call.
    if let (Some(off), Some(on)) = (find(r, "http-off", 32), find(r, "http-trace", 32))
        && let (Some(a), Some(b)) = (off.gateway_cpu_us(), on.gateway_cpu_us())
    {
        out.push(at_most(
            "tracing on (1% sampled, OTLP): added gateway CPU per proxied tools/call",
            ((b - a) * 100.0).round() / 100.0,
            3.0,
            "µs",
            format!("{} vs {}", on.key(), off.key()),
        ));
    }
    // Issue 12's budget: authenticating every call adds at most 4 µs of gateway CPU with an
    // API key and a role policy, at most 6 µs with a cached JWT.
    for (path, what, budget) in [
        ("http-auth", "API key and role policy", 4.0),
        ("http-jwt", "cached JWT", 6.0),
    ] {
        if let (Some(off), Some(on)) = (find(r, "http-off", 32), find(r, path, 32))
            && let (Some(a), Some(b)) = (off.gateway_cpu_us(), on.gateway_cpu_us())
        {
            out.push(at_most(
                &format!("{what}: added gateway CPU per proxied tools/call"),
                ((b - a) * 100.0).round() / 100.0,
                budget,
                "µs",
                format!("{} vs {}", on.key(), off.key()),
            ));
        }
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

/// A figure shown beside the targets for reference: not a target, never met or missed.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub what: String,
    pub value: f64,
    pub unit: &'static str,
    /// Which runs it was read from.
    pub source: String,
}

/// For HTTP and stdio at c=32, where the throughput target is: the floor's throughput vs direct
/// (what any proxy hop costs on this machine) and the gateway's vs the floor's (what the gateway
/// costs beyond that); for HTTP also the TCP splice's vs direct (what the second socket pair costs
/// a proxy that parses nothing). Whatever a run lacks (older runs have no floor) is left out.
pub fn reference(r: &Results) -> Vec<Reference> {
    let mut out = Vec::new();
    let hop = |floor: &Comparison| Reference {
        what: format!("{} c=32: throughput vs direct", path_name(&floor.path)),
        value: floor.throughput_ratio(),
        unit: "×",
        source: floor.key(),
    };
    for path in ["http", "stdio"] {
        out.extend(
            floors_of(path)
                .iter()
                .filter_map(|f| find(r, f, 32))
                .map(hop),
        );
        // The gateway against the forwarder of its own kind.
        let Some(floor) = floors_of(path).last().and_then(|f| find(r, f, 32)) else {
            continue;
        };
        if let Some(gw) = find(r, path, 32) {
            out.push(Reference {
                what: format!("{} c=32: gateway throughput vs the floor", path_name(path)),
                value: ratio(gw.gateway.throughput_per_s, floor.gateway.throughput_per_s),
                unit: "×",
                source: format!("{} / {}", gw.key(), floor.key()),
            });
        }
    }
    out
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::super::results::fixture::results;
    use super::*;

    #[test]
    fn floor_figures_are_references_not_targets() {
        let r = results(&[
            ("http", 32, 10_000.0, 3_500.0),
            ("http-floor", 32, 10_000.0, 5_000.0),
            ("tcp-floor", 32, 10_000.0, 5_500.0),
            ("stdio", 32, 20_000.0, 15_000.0),
            ("stdio-floor", 32, 20_000.0, 18_000.0),
            ("http-floor", 1, 3_000.0, 2_000.0),
        ]);
        let refs = reference(&r);
        let got: Vec<(&str, f64, &str)> = refs
            .iter()
            .map(|x| (x.what.as_str(), x.value, x.source.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "TCP floor (splice) c=32: throughput vs direct",
                    0.55,
                    "tcp-floor.c32"
                ),
                (
                    "HTTP floor (bare proxy) c=32: throughput vs direct",
                    0.5,
                    "http-floor.c32"
                ),
                (
                    "HTTP c=32: gateway throughput vs the floor",
                    0.7,
                    "http.c32 / http-floor.c32"
                ),
                (
                    "stdio floor (bare relay) c=32: throughput vs direct",
                    0.9,
                    "stdio-floor.c32"
                ),
                (
                    "stdio c=32: gateway throughput vs the floor",
                    0.833,
                    "stdio.c32 / stdio-floor.c32"
                ),
            ]
        );
        // The targets are the gateway's alone.
        let targets = check(&r);
        assert!(
            targets.iter().all(|t| !t.source.contains("floor")),
            "{targets:?}"
        );
        assert_eq!(targets.len(), 2, "{targets:?}");
    }

    #[test]
    fn a_run_without_a_floor_has_no_references() {
        let r = results(&[("http", 32, 10_000.0, 3_500.0), ("stdio", 32, 2.0, 1.0)]);
        assert!(reference(&r).is_empty());
        // A floor without its gateway row still says what the hop costs.
        let r = results(&[("stdio-floor", 32, 10.0, 8.0)]);
        assert_eq!(reference(&r).len(), 1);
    }
}
