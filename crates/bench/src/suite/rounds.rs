//! Repeated runs folded into one report.
//!
//! On a small machine a run's latency depends on where the scheduler puts the client, gateway
//! and upstream (same core or not: 25 µs against 75 µs per round trip here), and that placement
//! changes from process to process. So each direct-vs-gateway measurement is taken in several
//! alternating rounds and summarised by the median round for each figure; totals (calls, errors,
//! CPU time) are summed, peaks (max latency, RSS) are maxima.

use crate::latency::{Summary, round3};
use crate::load::{Report, ServerUsage};

/// One report standing for `rounds` (which must not be empty).
pub fn fold(rounds: &[Report]) -> Option<Report> {
    let first = rounds.first()?;
    if rounds.len() == 1 {
        return Some(first.clone());
    }
    let med = |f: &dyn Fn(&Report) -> f64| median(rounds.iter().map(f).collect());
    let calls: u64 = rounds.iter().map(|r| r.calls).sum();
    let ok: u64 = rounds.iter().map(|r| r.calls - r.errors).sum();
    let server = fold_server(rounds, calls);
    Some(Report {
        calls,
        errors: rounds.iter().map(|r| r.errors).sum(),
        warmup: rounds.iter().map(|r| r.warmup).sum(),
        duration_s: round3(rounds.iter().map(|r| r.duration_s).sum()),
        throughput_per_s: med(&|r| r.throughput_per_s),
        latency_ms: Summary {
            p50: med(&|r| r.latency_ms.p50),
            p90: med(&|r| r.latency_ms.p90),
            p99: med(&|r| r.latency_ms.p99),
            max: rounds.iter().map(|r| r.latency_ms.max).fold(0.0, f64::max),
            mean: round3(
                rounds
                    .iter()
                    .map(|r| r.latency_ms.mean * (r.calls - r.errors) as f64)
                    .sum::<f64>()
                    / ok.max(1) as f64,
            ),
        },
        first_error: rounds.iter().find_map(|r| r.first_error.clone()),
        server,
        ..first.clone()
    })
}

fn fold_server(rounds: &[Report], calls: u64) -> Option<ServerUsage> {
    let all: Vec<&ServerUsage> = rounds.iter().filter_map(|r| r.server.as_ref()).collect();
    let first = all.first()?;
    let cpu_ms: f64 = all.iter().map(|s| s.cpu_ms).sum();
    Some(ServerUsage {
        pid: first.pid,
        cpu_ms: round3(cpu_ms),
        cpu_us_per_call: round3(cpu_ms * 1000.0 / calls.max(1) as f64),
        rss_kib_start: first.rss_kib_start,
        rss_kib_max: all.iter().map(|s| s.rss_kib_max).max().unwrap_or(0),
        rss_kib_end: all.last().map_or(0, |s| s.rss_kib_end),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => round3((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(p50: f64, tput: f64, cpu_ms: f64) -> Report {
        Report {
            server: Some(ServerUsage {
                pid: 1,
                cpu_ms,
                cpu_us_per_call: cpu_ms * 10.0,
                rss_kib_start: 1,
                rss_kib_max: (p50 * 100.0) as u64,
                rss_kib_end: 1,
            }),
            ..crate::suite::results::fixture::report(tput, p50)
        }
    }

    #[test]
    fn medians_sums_and_maxima() {
        let f = fold(&[
            report(0.1, 900.0, 1.0),
            report(0.3, 1000.0, 2.0),
            report(0.2, 950.0, 3.0),
        ])
        .unwrap();
        assert_eq!(f.latency_ms.p50, 0.2);
        assert!((f.latency_ms.max - 0.9).abs() < 1e-9);
        assert_eq!(f.throughput_per_s, 950.0);
        assert_eq!(f.calls, 300);
        let s = f.server.unwrap();
        assert_eq!(s.cpu_ms, 6.0);
        assert_eq!(s.cpu_us_per_call, 20.0);
        assert_eq!(s.rss_kib_max, 30);
        assert!(fold(&[]).is_none());
    }
}
