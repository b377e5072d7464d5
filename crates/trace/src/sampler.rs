//! Which requests are traced: parent-based ratio sampling.
//!
//! With `parent_based`, a caller's sampled flag decides (a sampled parent is always traced, an
//! unsampled one never); otherwise, and for requests without a parent, the trace id decides: its
//! last 8 bytes, read as a number, fall below the ratio's share of the range. Every service that
//! samples by the same rule makes the same decision for the same trace.

use switchboard_config::Sampling;

use crate::context::SpanContext;

/// A sampling rule, with the ratio turned into a threshold once.
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    parent_based: bool,
    /// Trace ids whose last 63 bits are below this are sampled.
    threshold: u64,
    always: bool,
}

impl Sampler {
    pub fn new(cfg: Sampling) -> Sampler {
        let ratio = cfg.ratio.clamp(0.0, 1.0);
        Sampler {
            parent_based: cfg.parent_based,
            // 2^63 as f64 is exact; the product fits in u64 for ratio < 1.
            threshold: (ratio * (1u64 << 63) as f64) as u64,
            always: ratio >= 1.0,
        }
    }

    /// Whether a span of `trace_id` with this `parent` (the caller's context) is recorded.
    #[inline]
    pub fn sampled(&self, parent: Option<&SpanContext>, trace_id: &[u8; 16]) -> bool {
        if self.parent_based
            && let Some(p) = parent
        {
            return p.is_sampled();
        }
        if self.always {
            return true;
        }
        let mut low = [0u8; 8];
        low.copy_from_slice(&trace_id[8..]);
        (u64::from_be_bytes(low) >> 1) < self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(ratio: f64, parent_based: bool) -> Sampler {
        Sampler::new(Sampling {
            ratio,
            parent_based,
        })
    }

    #[test]
    fn a_parent_decides_when_parent_based() {
        let on =
            SpanContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let off = SpanContext { flags: 0, ..on };
        assert!(sampler(0.0, true).sampled(Some(&on), &on.trace_id));
        assert!(!sampler(1.0, true).sampled(Some(&off), &off.trace_id));
        // Not parent-based: the ratio decides.
        assert!(!sampler(0.0, false).sampled(Some(&on), &on.trace_id));
    }

    #[test]
    fn the_ratio_samples_its_share_of_trace_ids() {
        let s = sampler(0.01, true);
        let hits = (0..100_000)
            .filter(|_| s.sampled(None, &crate::context::new_trace_id()))
            .count();
        assert!((700..1300).contains(&hits), "{hits}");
        assert!(!sampler(0.0, true).sampled(None, &[0xff; 16]));
        assert!(sampler(1.0, true).sampled(None, &[0xff; 16]));
    }
}
