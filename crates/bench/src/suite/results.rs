//! Everything one benchmark run measured: the raw JSON written to `docs/bench/latest.json`.
//!
//! Each measurement keeps the load generator's full reports; [`Results::metrics`] flattens the
//! numbers that matter into `name → value` (with which direction is better), which is what a
//! comparison against a baseline reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::machine::Machine;
use super::targets::TargetCheck;
use crate::latency::round3;
use crate::load::Report;

/// Bumped when the JSON changes shape.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    pub tiny: bool,
    pub machine: Machine,
    pub elapsed_s: f64,
    /// Each transport round's least duration ([`super::plan::Plan::round_min_ms`]; 0 in runs
    /// from before it existed).
    #[serde(default)]
    pub round_min_ms: u64,
    /// Direct vs through the gateway, per path and concurrency.
    #[serde(default)]
    pub transport: Vec<Comparison>,
    /// A 1 MiB tool result.
    #[serde(default)]
    pub big_result: Vec<Comparison>,
    /// `tools/list` over a large catalog.
    #[serde(default)]
    pub catalog: Option<Catalog>,
    #[serde(default)]
    pub memory: Option<Memory>,
    #[serde(default)]
    pub startup: Option<Startup>,
    /// A fast upstream's latency with and without a slow one busy beside it.
    #[serde(default)]
    pub isolation: Vec<Isolation>,
    #[serde(default)]
    pub targets: Vec<TargetCheck>,
    #[serde(default)]
    pub metrics: BTreeMap<String, Metric>,
}

/// The same load, once straight to the upstream and once through switchboard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// `http` (HTTP client, HTTP upstream), `http-audit` (the same, audit log on), `http-modern`
    /// (the same, 2026-07-28 client), `stdio`
    /// (stdio client, `switchboard stdio`, stdio upstream) or `http-stdio` (HTTP client, stdio
    /// upstream); or a floor path ([`is_floor`]): `http-floor`, `tcp-floor` (a TCP splice in front
    /// of the HTTP upstream) or `stdio-floor`, the same clients and upstreams with
    /// `switchboard-floor` in the gateway's place.
    pub path: String,
    pub concurrency: usize,
    /// The rounds folded into one ([`super::rounds::fold`]).
    pub direct: Report,
    /// Through the gateway; on a floor path, through the floor.
    pub gateway: Report,
    /// Each round's own reports, when there was more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub direct_rounds: Vec<Report>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_rounds: Vec<Report>,
}

impl Comparison {
    /// A comparison of single runs.
    pub fn single(path: &str, concurrency: usize, direct: Report, gateway: Report) -> Comparison {
        Comparison {
            path: path.into(),
            concurrency,
            direct,
            gateway,
            direct_rounds: Vec::new(),
            gateway_rounds: Vec::new(),
        }
    }

    /// A comparison of several alternating rounds.
    pub fn rounds(
        path: &str,
        concurrency: usize,
        direct: Vec<Report>,
        gateway: Vec<Report>,
    ) -> Option<Comparison> {
        let mut c = Comparison::single(
            path,
            concurrency,
            super::rounds::fold(&direct)?,
            super::rounds::fold(&gateway)?,
        );
        if direct.len() > 1 {
            c.direct_rounds = direct;
            c.gateway_rounds = gateway;
        }
        Some(c)
    }

    /// Every round's report, direct and gateway: the single reports when there was one round.
    pub fn each_round(&self) -> impl Iterator<Item = &Report> {
        let single = self
            .gateway_rounds
            .is_empty()
            .then_some([&self.direct, &self.gateway]);
        self.direct_rounds
            .iter()
            .chain(&self.gateway_rounds)
            .chain(single.into_iter().flatten())
    }

    /// Whether this measured `switchboard-floor` rather than the gateway.
    pub fn is_floor(&self) -> bool {
        is_floor(&self.path)
    }

    pub fn key(&self) -> String {
        format!("{}.c{}", self.path, self.concurrency)
    }

    pub fn added_p50_ms(&self) -> f64 {
        round3(self.gateway.latency_ms.p50 - self.direct.latency_ms.p50)
    }

    pub fn added_p99_ms(&self) -> f64 {
        round3(self.gateway.latency_ms.p99 - self.direct.latency_ms.p99)
    }

    /// Gateway p50 over direct p50.
    pub fn p50_ratio(&self) -> f64 {
        ratio(self.gateway.latency_ms.p50, self.direct.latency_ms.p50)
    }

    /// Gateway p99 over direct p99.
    pub fn p99_ratio(&self) -> f64 {
        ratio(self.gateway.latency_ms.p99, self.direct.latency_ms.p99)
    }

    /// Gateway throughput over direct throughput.
    pub fn throughput_ratio(&self) -> f64 {
        ratio(self.gateway.throughput_per_s, self.direct.throughput_per_s)
    }

    pub fn gateway_cpu_us(&self) -> Option<f64> {
        self.gateway.server.as_ref().map(|s| s.cpu_us_per_call)
    }
}

/// Whether `path` is measured through `switchboard-floor` ([`crate::floor`]), a bare forwarder
/// in the gateway's place: numbers for reference beside the gateway's, never the gateway's own.
pub fn is_floor(path: &str) -> bool {
    path.ends_with("-floor")
}

/// The TCP splice in front of the HTTP upstream: the least any proxy hop can cost there.
pub const TCP_FLOOR: &str = "tcp-floor";

/// Every transport path: its id in the JSON and its name on the page, in the page's order.
const PATHS: [(&str, &str); 14] = [
    ("http", "HTTP"),
    ("http-off", "HTTP, features off"),
    ("http-on", "HTTP, features on"),
    ("http-audit", "HTTP, audit log on (file, fsync 100ms)"),
    ("http-auth", "HTTP, features off, API key and role policy"),
    ("http-jwt", "HTTP, features off, cached JWT"),
    ("http-trace", "HTTP, tracing on (OTLP, 1% sampled)"),
    ("http-floor", "HTTP floor (bare proxy)"),
    (TCP_FLOOR, "TCP floor (splice)"),
    ("http-modern", "HTTP 2026-07-28"),
    ("stdio", "stdio"),
    ("stdio-floor", "stdio floor (bare relay)"),
    ("http-stdio", "HTTP→stdio"),
    (super::replay::PATH, "HTTP, idempotent replay"),
];

/// A path's name on the page (`?` for one this build does not know).
pub fn path_name(path: &str) -> &'static str {
    PATHS
        .iter()
        .find(|(id, _)| *id == path)
        .map_or("?", |(_, name)| name)
}

/// A path's place on the page; unknown ones go last.
pub fn path_order(path: &str) -> usize {
    PATHS
        .iter()
        .position(|(id, _)| *id == path)
        .unwrap_or(PATHS.len())
}

/// The floor paths measured beside a gateway path, least first. The last is the forwarder of
/// the gateway's own kind, which the gateway is compared with.
pub fn floors_of(path: &str) -> &'static [&'static str] {
    match path {
        "http" => &[TCP_FLOOR, "http-floor"],
        "stdio" => &["stdio-floor"],
        _ => &[],
    }
}

/// Whether a metric of [`Results::compute_metrics`] is a floor's (`transport.http-floor.…`).
pub fn is_floor_metric(key: &str) -> bool {
    key.split('.').nth(1).is_some_and(is_floor)
}

/// `a / b` to three decimals (0 when `b` is 0).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { round3(a / b) } else { 0.0 }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub tools: usize,
    pub page_size: usize,
    /// Exec to `/readyz` 200 for a gateway whose upstream has this catalog.
    pub gateway_ready_ms: f64,
    pub comparison: Comparison,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Memory {
    /// `VmRSS` of a ready gateway (one HTTP upstream) that has served nothing.
    pub idle_kib: u64,
    pub sessions: usize,
    /// `VmRSS` after `sessions` idle sessions were created and their connections closed.
    pub with_sessions_kib: u64,
    pub added_kib: u64,
    pub per_session_bytes: u64,
    /// Rate at which sessions were created (initialize + initialized).
    pub sessions_per_s: f64,
    /// Largest `VmRSS` during the HTTP run at the highest concurrency.
    pub under_load_kib: u64,
    pub under_load_run: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupRun {
    /// Exec to the first successful `initialize` answer on `/mcp`.
    pub accept_ms: f64,
    /// Exec to `/readyz` 200 (every upstream had its first connection attempt).
    pub ready_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Startup {
    pub upstreams: usize,
    pub runs: Vec<StartupRun>,
    pub accept_ms_median: f64,
    pub accept_ms_max: f64,
    pub ready_ms_median: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Isolation {
    /// How both upstreams are reached: `http` or `stdio`.
    pub upstream: String,
    pub slow_ms: u64,
    pub alone: Report,
    pub beside_slow: Report,
    pub slow: Report,
}

impl Isolation {
    pub fn p99_ratio(&self) -> f64 {
        ratio(self.beside_slow.latency_ms.p99, self.alone.latency_ms.p99)
    }

    /// The most the fast upstream's p99 may reach beside the slow one and still count as "did
    /// not move": 25% or 0.25 ms over its p99 alone, whichever is larger (a p99 of a few tenths
    /// of a millisecond on a shared 2-core machine moves by that much between identical runs).
    pub fn p99_limit_ms(&self) -> f64 {
        let a = self.alone.latency_ms.p99;
        round3((a * 1.25).max(a + 0.25))
    }

    pub fn p99_held(&self) -> bool {
        self.beside_slow.latency_ms.p99 <= self.p99_limit_ms()
    }
}

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    pub value: f64,
    pub better: Better,
}

impl Results {
    /// A run on `machine` with nothing measured yet.
    pub fn empty(tiny: bool, machine: Machine) -> Results {
        Results {
            schema: SCHEMA,
            tiny,
            machine,
            elapsed_s: 0.0,
            round_min_ms: 0,
            transport: Vec::new(),
            big_result: Vec::new(),
            catalog: None,
            memory: None,
            startup: None,
            isolation: Vec::new(),
            targets: Vec::new(),
            metrics: BTreeMap::new(),
        }
    }

    /// The numbers a comparison looks at: the gateway's own figures and its ratios to direct;
    /// for floor paths the floor's (`….floor.…`, told apart by [`is_floor_metric`]).
    pub fn compute_metrics(&self) -> BTreeMap<String, Metric> {
        let mut m = BTreeMap::new();
        let mut put = |k: String, value: f64, better: Better| {
            m.insert(k, Metric { value, better });
        };
        let comparisons = self
            .transport
            .iter()
            .map(|c| (format!("transport.{}", c.key()), c))
            .chain(
                self.big_result
                    .iter()
                    .map(|c| (format!("big_result.{}", c.key()), c)),
            )
            .chain(
                self.catalog
                    .iter()
                    .map(|c| ("catalog".to_owned(), &c.comparison)),
            );
        for (k, c) in comparisons {
            let via = if c.is_floor() { "floor" } else { "gateway" };
            put(
                format!("{k}.{via}.p50_ms"),
                c.gateway.latency_ms.p50,
                Better::Lower,
            );
            put(
                format!("{k}.{via}.p99_ms"),
                c.gateway.latency_ms.p99,
                Better::Lower,
            );
            put(
                format!("{k}.{via}.throughput_per_s"),
                c.gateway.throughput_per_s,
                Better::Higher,
            );
            put(format!("{k}.p50_ratio"), c.p50_ratio(), Better::Lower);
            put(format!("{k}.p99_ratio"), c.p99_ratio(), Better::Lower);
            put(
                format!("{k}.throughput_ratio"),
                c.throughput_ratio(),
                Better::Higher,
            );
            if let Some(cpu) = c.gateway_cpu_us() {
                put(format!("{k}.{via}.cpu_us_per_call"), cpu, Better::Lower);
            }
        }
        if let Some(mem) = &self.memory {
            put("memory.idle_kib".into(), mem.idle_kib as f64, Better::Lower);
            put(
                "memory.per_session_bytes".into(),
                mem.per_session_bytes as f64,
                Better::Lower,
            );
            put(
                "memory.under_load_kib".into(),
                mem.under_load_kib as f64,
                Better::Lower,
            );
        }
        if let Some(s) = &self.startup {
            put(
                "startup.accept_ms".into(),
                s.accept_ms_median,
                Better::Lower,
            );
            put("startup.ready_ms".into(), s.ready_ms_median, Better::Lower);
        }
        for i in &self.isolation {
            put(
                format!("isolation.{}.p99_ratio", i.upstream),
                i.p99_ratio(),
                Better::Lower,
            );
        }
        m
    }
}

/// Small made-up runs for the renderers' tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::latency::Summary;

    /// A run of 100 calls with this throughput and p50 (p90 = p50, p99 = 2×, max = 3×).
    pub(crate) fn report(throughput_per_s: f64, p50: f64) -> Report {
        Report {
            mode: "http".into(),
            method: "tools/call".into(),
            revision: "2025-11-25".into(),
            tool: "echo".into(),
            concurrency: 1,
            sessions: 1,
            warmup: 10,
            calls: 100,
            errors: 0,
            duration_s: 1.0,
            throughput_per_s,
            latency_ms: Summary {
                p50,
                p90: p50,
                p99: p50 * 2.0,
                max: p50 * 3.0,
                mean: p50,
            },
            first_error: None,
            server: None,
        }
    }

    /// A run with transport rows `(path, c, direct calls/s, gateway-or-floor calls/s)`.
    pub(crate) fn results(rows: &[(&str, usize, f64, f64)]) -> Results {
        let machine = Machine {
            nproc: 2,
            cpu: "test".into(),
            memory_gib: 1.0,
            kernel: "test".into(),
            rustc: "test".into(),
            switchboard: "test".into(),
            commit: "test".into(),
            date: "test".into(),
        };
        Results {
            elapsed_s: 1.0,
            transport: rows
                .iter()
                .map(|&(path, c, direct, via)| {
                    Comparison::single(path, c, report(direct, 0.1), report(via, 0.2))
                })
                .collect(),
            ..Results::empty(false, machine)
        }
    }
}
