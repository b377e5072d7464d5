//! A lock-free latency histogram with fixed buckets.
//!
//! `prometheus-client`'s own histogram takes a mutex per observation; on the path of every
//! proxied call that is a lock we do not want. This one is an array of atomic bucket counts and
//! an atomic sum in nanoseconds: an observation is a short scan of the bounds and two relaxed
//! `fetch_add`s. It encodes as an ordinary Prometheus histogram (`_bucket`, `_sum`, `_count`),
//! and a [`Snapshot`] of it, diffed against an older one, gives the quantiles `/status` shows
//! for a recent window.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds of the buckets, in seconds (the last, `+Inf`, is implicit): from half a
/// millisecond (a local stdio tool) to a minute (a slow remote one).
pub const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The same bounds in nanoseconds, for the hot path's integer comparisons.
const BOUNDS_NS: [u64; 16] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
];

/// Buckets including `+Inf`.
const SLOTS: usize = BUCKETS.len() + 1;

/// A histogram of durations. Cheap to clone (the cells are shared).
#[derive(Debug, Clone, Default)]
pub struct Histogram(Arc<Cells>);

#[derive(Debug, Default)]
struct Cells {
    /// Per bucket, observations in it alone (not cumulative).
    counts: [AtomicU64; SLOTS],
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let slot = BOUNDS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(BUCKETS.len());
        self.0.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.0.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The counts as they are now.
    pub fn snapshot(&self) -> Snapshot {
        let mut counts = [0u64; SLOTS];
        for (c, a) in counts.iter_mut().zip(&self.0.counts) {
            *c = a.load(Ordering::Relaxed);
        }
        Snapshot {
            counts,
            sum_ns: self.0.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// A histogram's counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    counts: [u64; SLOTS],
    sum_ns: u64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            counts: [0; SLOTS],
            sum_ns: 0,
        }
    }
}

impl Snapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }

    /// What was observed after `earlier` (a snapshot of the same histogram).
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let mut counts = [0u64; SLOTS];
        for (i, c) in counts.iter_mut().enumerate() {
            *c = self.counts[i].saturating_sub(earlier.counts[i]);
        }
        Snapshot {
            counts,
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
        }
    }

    /// The `q` quantile (0–1) in seconds, interpolated linearly inside its bucket the way
    /// Prometheus's `histogram_quantile` does; `None` when nothing was observed. A quantile
    /// that falls in `+Inf` is reported as the largest finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 && (below + c) as f64 >= rank {
                let Some(&upper) = BUCKETS.get(i) else {
                    return Some(BUCKETS[BUCKETS.len() - 1]);
                };
                let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
                let into = ((rank - below as f64) / c as f64).clamp(0.0, 1.0);
                return Some(lower + (upper - lower) * into);
            }
            below += c;
        }
        Some(BUCKETS[BUCKETS.len() - 1])
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let s = self.snapshot();
        let buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(s.counts)
            .collect();
        encoder.encode_histogram::<NoLabelSet>(s.sum_seconds(), s.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_agree() {
        for (s, ns) in BUCKETS.iter().zip(BOUNDS_NS) {
            assert_eq!((s * 1e9).round() as u64, ns);
        }
    }

    #[test]
    fn observations_land_in_their_bucket() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(100)); // ≤ 0.5 ms
        h.observe(Duration::from_micros(500)); // = 0.5 ms: the bound is inclusive
        h.observe(Duration::from_millis(3)); // ≤ 5 ms
        h.observe(Duration::from_secs(120)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.counts[0], 2);
        assert_eq!(s.counts[3], 1);
        assert_eq!(s.counts[SLOTS - 1], 1);
        assert_eq!(s.count(), 4);
        assert!((s.sum_seconds() - 120.0036).abs() < 1e-9);
    }

    #[test]
    fn quantiles_of_a_window() {
        let h = Histogram::default();
        for _ in 0..100 {
            h.observe(Duration::from_secs(2)); // (1, 2.5]
        }
        let before = h.snapshot();
        for _ in 0..99 {
            h.observe(Duration::from_millis(2)); // (1 ms, 2.5 ms]
        }
        h.observe(Duration::from_millis(400)); // (250 ms, 500 ms]
        let recent = h.snapshot().since(&before);
        assert_eq!(recent.count(), 100);
        let p50 = recent.quantile(0.5).unwrap();
        assert!(p50 > 0.001 && p50 <= 0.0025, "{p50}");
        let p99 = recent.quantile(0.99).unwrap();
        assert!(p99 > 0.001 && p99 <= 0.0025, "{p99}");
        let max = recent.quantile(1.0).unwrap();
        assert!(max > 0.25 && max <= 0.5, "{max}");
        assert_eq!(Snapshot::default().quantile(0.5), None);
    }
}
