//! How long to wait before trying again after a failure, for everything that retries an upstream.
//!
//! One policy, so that the gateway's reconnects and a transport's stream resumptions behave alike
//! and are tuned in one place: the delay doubles with each consecutive failure from `base` up to
//! `cap`. [`Backoff::jittered`] spreads it ("equal jitter": half fixed, half random), so that many
//! clients that lost the same upstream at the same moment do not all come back at the same moment
//! too; the random half only ever shortens the wait, never lengthens it past the plain delay.

use std::time::Duration;

/// Exponential backoff from `base`, doubling per failure, never above `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay, however many failures came before.
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap }
    }

    /// The delay after `n` failures beyond the first (0 for the first): `base · 2ⁿ`, at most `cap`.
    pub fn delay(&self, n: u32) -> Duration {
        // Past 2³¹ the cap has long been reached; saturating keeps huge `n` from overflowing.
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// [`Backoff::delay`] with equal jitter: a uniformly random delay between half of it and all
    /// of it.
    pub fn jittered(&self, n: u32) -> Duration {
        let full = self.delay(n);
        let half = full / 2;
        half + (full - half).mul_f64(rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_base_up_to_cap() {
        let b = Backoff::new(Duration::from_millis(250), Duration::from_secs(15));
        let ms: Vec<u128> = (0..9).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(
            ms,
            [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]
        );
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(15));
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_delay() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        for n in 0..12 {
            for _ in 0..50 {
                let d = b.jittered(n);
                assert!(d >= b.delay(n) / 2 && d <= b.delay(n), "{n}: {d:?}");
            }
        }
    }
}
