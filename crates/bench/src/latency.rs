//! Latency samples and their summary.
//!
//! Every call's latency is kept (in whole microseconds, 4 bytes each), so the percentiles are
//! exact nearest-rank values over the sorted samples rather than histogram buckets.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Latencies of one run, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    us: Vec<u32>,
}

/// Percentiles of a run, in milliseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Samples {
    pub fn with_capacity(n: usize) -> Samples {
        Samples {
            us: Vec::with_capacity(n),
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.us
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn append(&mut self, other: &mut Samples) {
        self.us.append(&mut other.us);
    }

    pub fn len(&self) -> usize {
        self.us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.us.is_empty()
    }

    /// Sorts the samples and reads the percentiles off them.
    pub fn summary(mut self) -> Summary {
        if self.us.is_empty() {
            return Summary::default();
        }
        self.us.sort_unstable();
        let n = self.us.len();
        let at = |p: f64| -> f64 {
            // Nearest rank: the smallest sample with at least p% of samples at or below it.
            let rank = ((p / 100.0) * n as f64).ceil() as usize;
            ms(self.us[rank.clamp(1, n) - 1])
        };
        let sum: u64 = self.us.iter().map(|&u| u64::from(u)).sum();
        Summary {
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: ms(self.us[n - 1]),
            mean: round3(sum as f64 / n as f64 / 1000.0),
        }
    }
}

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

/// Rounds to three decimals (1 µs when the unit is ms), so the JSON stays readable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::with_capacity(100);
        for i in (1..=100).rev() {
            s.record(Duration::from_micros(i * 10));
        }
        let sum = s.summary();
        assert_eq!(sum.p50, 0.5);
        assert_eq!(sum.p90, 0.9);
        assert_eq!(sum.p99, 0.99);
        assert_eq!(sum.max, 1.0);
        assert_eq!(sum.mean, 0.505);
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(Samples::default().summary(), Summary::default());
        let mut s = Samples::default();
        s.record(Duration::from_micros(42));
        let sum = s.summary();
        assert_eq!(sum.p50, 0.042);
        assert_eq!(sum.p99, 0.042);
    }
}
