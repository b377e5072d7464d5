//! The load generator's output: one JSON object per run.

use serde::{Deserialize, Serialize};

use crate::latency::Summary;

/// What one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `http` or `stdio`.
    pub mode: String,
    pub method: String,
    /// The protocol revision spoken (`2026-07-28`: no sessions). Absent from older reports.
    #[serde(default)]
    pub revision: String,
    pub tool: String,
    pub concurrency: usize,
    pub sessions: usize,
    pub warmup: u64,
    /// Measured calls (including failed ones).
    pub calls: u64,
    pub errors: u64,
    pub duration_s: f64,
    /// Successful calls per second.
    pub throughput_per_s: f64,
    /// Latency of successful calls.
    pub latency_ms: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// The watched process over the measured phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerUsage>,
}

/// CPU and memory of the watched process (the gateway, or the stdio server) over the measured
/// phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerUsage {
    pub pid: u32,
    /// CPU time of all its threads, from `/proc/PID/task/*/schedstat`.
    pub cpu_ms: f64,
    pub cpu_us_per_call: f64,
    pub rss_kib_start: u64,
    pub rss_kib_max: u64,
    pub rss_kib_end: u64,
}
