//! A circuit breaker per upstream: closed (calls flow), open (calls fail fast until
//! `open_for` has passed), half-open (up to `half_open_calls` probes at once; a success closes
//! it, a failure opens it again).
//!
//! It opens on a run of `consecutive_failures`, or when a window of `window` calls had at least
//! `failure_rate_percent` failures (windows are consecutive runs of calls, counted without a
//! lock). A closed breaker costs a call one atomic load to admit and, on success, a load and
//! at most one store.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchboard_config::BreakerConfig;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// A breaker's state, as `/status` and metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// Admission to call through the breaker; report how it went with [`Breaker::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    probe: bool,
}

#[derive(Debug)]
pub struct Breaker {
    cfg: BreakerConfig,
    /// Times are milliseconds since this instant.
    epoch: Instant,
    state: AtomicU8,
    /// When it last opened.
    opened_ms: AtomicU64,
    consecutive: AtomicU32,
    window_calls: AtomicU32,
    window_failures: AtomicU32,
    probes: AtomicU32,
    /// Times it opened, ever.
    opens: AtomicU64,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Breaker {
        Breaker {
            cfg,
            epoch: Instant::now(),
            state: AtomicU8::new(CLOSED),
            opened_ms: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            window_calls: AtomicU32::new(0),
            window_failures: AtomicU32::new(0),
            probes: AtomicU32::new(0),
            opens: AtomicU64::new(0),
        }
    }

    pub fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            CLOSED => State::Closed,
            OPEN => State::Open,
            _ => State::HalfOpen,
        }
    }

    pub fn opens(&self) -> u64 {
        self.opens.load(Ordering::Relaxed)
    }

    /// How long until an open breaker lets a probe through (zero when it is not open).
    pub fn retry_in(&self) -> Duration {
        if self.state.load(Ordering::Acquire) != OPEN {
            return Duration::ZERO;
        }
        let opened = Duration::from_millis(self.opened_ms.load(Ordering::Acquire));
        (opened + self.cfg.open_for).saturating_sub(self.epoch.elapsed())
    }

    /// May a call go through now? `Err` carries how long until it may.
    pub fn admit(&self) -> Result<Ticket, Duration> {
        if !self.cfg.enabled {
            return Ok(Ticket { probe: false });
        }
        match self.state.load(Ordering::Acquire) {
            CLOSED => Ok(Ticket { probe: false }),
            OPEN => {
                let wait = self.retry_in();
                if !wait.is_zero() {
                    return Err(wait);
                }
                // Open long enough: the first caller here half-opens it.
                let _ = self.state.compare_exchange(
                    OPEN,
                    HALF_OPEN,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                self.probe()
            }
            _ => self.probe(),
        }
    }

    fn probe(&self) -> Result<Ticket, Duration> {
        let taken = self.probes.fetch_add(1, Ordering::AcqRel);
        if taken >= self.cfg.half_open_calls {
            self.probes.fetch_sub(1, Ordering::AcqRel);
            // Probes are out; their verdict comes soon.
            return Err(Duration::from_millis(100).min(self.cfg.open_for));
        }
        Ok(Ticket { probe: true })
    }

    /// How a call admitted with `ticket` ended: `failed` for timeouts, transport errors and
    /// 5xx; an answer of any kind (errors and `isError` results included) is a success.
    pub fn record(&self, ticket: Ticket, failed: bool) {
        if !self.cfg.enabled {
            return;
        }
        if ticket.probe {
            self.probes.fetch_sub(1, Ordering::AcqRel);
            if failed {
                self.open();
            } else {
                self.close();
            }
            return;
        }
        if failed {
            let run = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
            if run >= self.cfg.consecutive_failures {
                self.open();
                return;
            }
        } else if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if let Some(percent) = self.cfg.failure_rate_percent {
            self.count_in_window(percent, failed);
        }
    }

    /// A call admitted but never made (the caller went away first).
    pub fn forget(&self, ticket: Ticket) {
        if ticket.probe && self.cfg.enabled {
            self.probes.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn count_in_window(&self, percent: u8, failed: bool) {
        let failures = if failed {
            self.window_failures.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.window_failures.load(Ordering::Acquire)
        };
        let calls = self.window_calls.fetch_add(1, Ordering::AcqRel) + 1;
        if calls < self.cfg.window {
            return;
        }
        // The caller that completes the window judges it and starts the next one.
        if calls == self.cfg.window {
            self.window_calls.store(0, Ordering::Release);
            self.window_failures.store(0, Ordering::Release);
            if u64::from(failures) * 100 >= u64::from(percent) * u64::from(calls) {
                self.open();
            }
        }
    }

    fn open(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.opened_ms.store(now, Ordering::Release);
        if self.state.swap(OPEN, Ordering::AcqRel) != OPEN {
            self.opens.fetch_add(1, Ordering::Relaxed);
        }
        self.consecutive.store(0, Ordering::Relaxed);
    }

    fn close(&self) {
        self.state.store(CLOSED, Ordering::Release);
        self.consecutive.store(0, Ordering::Relaxed);
        self.window_calls.store(0, Ordering::Release);
        self.window_failures.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(failures: u32, rate: Option<u8>, window: u32, open_for_ms: u64) -> Breaker {
        Breaker::new(BreakerConfig {
            enabled: true,
            consecutive_failures: failures,
            failure_rate_percent: rate,
            window,
            open_for: Duration::from_millis(open_for_ms),
            half_open_calls: 1,
        })
    }

    fn call(b: &Breaker, failed: bool) -> bool {
        match b.admit() {
            Ok(t) => {
                b.record(t, failed);
                true
            }
            Err(_) => false,
        }
    }

    #[test]
    fn opens_at_the_run_not_before() {
        let b = breaker(3, None, 20, 60_000);
        assert!(call(&b, true));
        assert!(call(&b, true));
        assert!(call(&b, false), "a success breaks the run");
        assert!(call(&b, true));
        assert!(call(&b, true));
        assert_eq!(b.state(), State::Closed);
        assert!(call(&b, true));
        assert_eq!(b.state(), State::Open);
        assert!(b.admit().is_err());
        assert!(b.retry_in() > Duration::from_secs(59));
        assert_eq!(b.opens(), 1);
    }

    #[test]
    fn opens_on_the_failure_rate_of_a_window() {
        let b = breaker(100, Some(50), 10, 60_000);
        for i in 0..9 {
            assert!(call(&b, i % 2 == 0), "call {i}");
        }
        assert_eq!(
            b.state(),
            State::Closed,
            "a window is judged only when full"
        );
        assert!(call(&b, false));
        // 5 of 10 failed: 50 % reached.
        assert_eq!(b.state(), State::Open);
        let b = breaker(100, Some(50), 10, 60_000);
        for i in 0..10 {
            assert!(call(&b, i < 4));
        }
        assert_eq!(b.state(), State::Closed, "4 of 10 is under 50 %");
    }

    #[test]
    fn half_opens_after_open_for_with_one_probe() {
        let b = breaker(1, None, 20, 30);
        assert!(call(&b, true));
        assert_eq!(b.state(), State::Open);
        std::thread::sleep(Duration::from_millis(40));
        let probe = b.admit().expect("open_for passed: a probe");
        assert_eq!(b.state(), State::HalfOpen);
        assert!(b.admit().is_err(), "one probe at a time");
        b.record(probe, true);
        assert_eq!(b.state(), State::Open, "a failed probe reopens it");
        std::thread::sleep(Duration::from_millis(40));
        let probe = b.admit().unwrap();
        b.record(probe, false);
        assert_eq!(b.state(), State::Closed, "a good probe closes it");
        assert!(call(&b, false));
    }

    #[test]
    fn a_forgotten_probe_frees_its_slot() {
        let b = breaker(1, None, 20, 1);
        assert!(call(&b, true));
        std::thread::sleep(Duration::from_millis(5));
        let probe = b.admit().unwrap();
        b.forget(probe);
        assert!(b.admit().is_ok());
    }

    #[test]
    fn disabled_never_opens() {
        let b = Breaker::new(BreakerConfig {
            enabled: false,
            ..BreakerConfig::default()
        });
        for _ in 0..100 {
            assert!(call(&b, true));
        }
        assert_eq!(b.state(), State::Closed);
    }
}
