//! Rate limits per principal and per principal-and-tool, by GCRA (the generic cell rate
//! algorithm): each key keeps one number, its theoretical arrival time (TAT). A request at `t`
//! is let through when `TAT - t` is within the burst tolerance, and moves the TAT one emission
//! interval on; otherwise it is refused with how long until it would pass. Memory is bounded:
//! past `MAX_KEYS`, keys whose TAT has passed (idle ones) are dropped first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchboard_config::Rate;
use switchboard_protocol::lock;

/// Keys remembered at most per limiter.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct Limiter {
    /// Time between requests at the sustained rate.
    interval: Duration,
    /// How far ahead of now the TAT may run: a burst of `count` requests.
    tolerance: Duration,
    epoch: Instant,
    /// Key → TAT (nanoseconds since `epoch`).
    tats: Mutex<HashMap<String, u64>>,
}

impl Limiter {
    pub fn new(rate: Rate) -> Limiter {
        let interval = rate.per / rate.count.max(1);
        Limiter {
            interval,
            tolerance: interval * rate.count.saturating_sub(1),
            epoch: Instant::now(),
            tats: Mutex::new(HashMap::new()),
        }
    }

    /// Lets a request for `key` through, or says how long until one would pass.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = nanos(self.epoch.elapsed());
        let interval = nanos(self.interval);
        let tolerance = nanos(self.tolerance);
        let mut tats = lock(&self.tats);
        let tat = tats.get(key).copied().unwrap_or(now).max(now);
        if tat - now > tolerance {
            return Err(Duration::from_nanos(tat - now - tolerance));
        }
        if let Some(t) = tats.get_mut(key) {
            *t = tat + interval;
        } else {
            if tats.len() >= MAX_KEYS {
                tats.retain(|_, t| *t > now);
                if tats.len() >= MAX_KEYS {
                    // Every key is busy: forget one (its holder gets a fresh burst).
                    if let Some(k) = tats.keys().next().cloned() {
                        tats.remove(&k);
                    }
                }
            }
            tats.insert(key.to_owned(), tat + interval);
        }
        Ok(())
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = Limiter::new(Rate {
            count: 5,
            per: Duration::from_millis(500),
        });
        for i in 0..5 {
            assert!(l.check("a").is_ok(), "request {i} of the burst");
        }
        let wait = l.check("a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(l.check("b").is_ok(), "another key has its own budget");
        std::thread::sleep(wait + Duration::from_millis(5));
        assert!(l.check("a").is_ok(), "one more after one interval");
        assert!(l.check("a").is_err());
    }
}
