//! How big each measurement is: the full run, or the tiny one CI uses to prove the suite works.

use serde::{Deserialize, Serialize};

use super::load::Load;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub tiny: bool,
    /// Client concurrencies of the direct-vs-gateway runs.
    pub concurrency: Vec<usize>,
    /// Measured calls per direct-vs-gateway measurement, split over `rounds` (≥ 20,000 in all so
    /// CPU per call is well resolved).
    pub calls: u64,
    /// Alternating direct/gateway rounds per measurement ([`super::rounds`]).
    pub rounds: u64,
    /// Each round goes on past its share of `calls` until this many milliseconds have passed:
    /// on the fast paths (stdio at ~300,000 calls/s) a round of a few thousand calls would
    /// otherwise last ~15 ms, right after its processes were spawned.
    pub round_min_ms: u64,
    /// Warm-up calls before every measured run.
    pub warmup: u64,
    /// Idle sessions created for the memory case.
    pub idle_sessions: usize,
    /// Gateway start-ups timed.
    pub startup_runs: usize,
    pub startup_upstreams: usize,
    pub big_bytes: usize,
    pub big_calls: u64,
    pub big_warmup: u64,
    pub catalog_tools: usize,
    pub catalog_page_size: usize,
    pub catalog_calls: u64,
    pub catalog_warmup: u64,
    /// Seconds the fast upstream is measured, alone and beside the slow one.
    pub isolation_secs: u64,
    pub isolation_concurrency: usize,
    pub slow_ms: u64,
    /// Worker threads of each load generator (1: current-thread runtime).
    pub load_threads: usize,
}

impl Plan {
    pub fn full(load_threads: usize) -> Plan {
        Plan {
            tiny: false,
            concurrency: vec![1, 8, 32, 256],
            calls: 21_000,
            rounds: 5,
            round_min_ms: 250,
            warmup: 1_000,
            idle_sessions: 10_000,
            startup_runs: 7,
            startup_upstreams: 20,
            big_bytes: 1 << 20,
            big_calls: 1_000,
            big_warmup: 100,
            catalog_tools: 5_000,
            catalog_page_size: 1_000,
            catalog_calls: 200,
            catalog_warmup: 20,
            isolation_secs: 10,
            isolation_concurrency: 8,
            slow_ms: 200,
            load_threads,
        }
    }

    pub fn tiny(load_threads: usize) -> Plan {
        Plan {
            tiny: true,
            calls: 300,
            rounds: 1,
            round_min_ms: 0,
            warmup: 100,
            idle_sessions: 500,
            startup_runs: 2,
            big_calls: 20,
            big_warmup: 5,
            catalog_tools: 500,
            catalog_page_size: 100,
            catalog_calls: 10,
            catalog_warmup: 2,
            isolation_secs: 2,
            ..Plan::full(load_threads)
        }
    }

    /// A load with one round's call count and least duration, the warm-up and threads.
    pub fn standard(&self, load: Load) -> Load {
        self.threads(load)
            .calls(self.calls.div_ceil(self.rounds.max(1)))
            .arg("min-duration", format!("{}ms", self.round_min_ms))
            .warmup(self.warmup)
    }

    pub fn threads(&self, load: Load) -> Load {
        load.arg("threads", self.load_threads)
    }
}
