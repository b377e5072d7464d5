//! What `/proc` says about a process: CPU time of all its threads and its resident memory.
//!
//! CPU time is the sum of `/proc/PID/task/*/schedstat` (nanoseconds on CPU, per thread), read as
//! per-thread deltas so a thread that starts mid-run counts from zero; `/proc/PID/schedstat`
//! alone would be the main thread only. Resident memory is `VmRSS` from `/proc/PID/status`,
//! sampled by a background thread while a run lasts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// CPU time per thread of one process at one instant.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    per_thread_ns: HashMap<u32, u64>,
}

impl CpuSnapshot {
    /// Reads every thread's time on CPU.
    pub fn take(pid: u32) -> std::io::Result<CpuSnapshot> {
        let mut per_thread_ns = HashMap::new();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let Ok(entry) = entry else { continue };
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            // A thread may exit between the listing and the read: skip it.
            let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
                continue;
            };
            if let Some(ns) = text.split_whitespace().next().and_then(|f| f.parse().ok()) {
                per_thread_ns.insert(tid, ns);
            }
        }
        Ok(CpuSnapshot { per_thread_ns })
    }

    /// CPU nanoseconds spent between `earlier` and `self` by threads alive at `self`.
    pub fn since(&self, earlier: &CpuSnapshot) -> u64 {
        self.per_thread_ns
            .iter()
            .map(|(tid, &now)| {
                now.saturating_sub(earlier.per_thread_ns.get(tid).copied().unwrap_or(0))
            })
            .sum()
    }
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> std::io::Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// `VmHWM` (peak resident set) of a process, in KiB.
pub fn hwm_kib(pid: u32) -> std::io::Result<u64> {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, key: &str) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no {key} in /proc/{pid}/status")))
}

/// Samples a process's `VmRSS` every few milliseconds until stopped, keeping the largest.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

/// Sampling interval; a run lasts seconds, so this catches any sustained peak.
const RSS_INTERVAL: Duration = Duration::from_millis(20);
/// No run is longer than this; the sampler stops by itself after it.
const RSS_MAX_SAMPLES: u32 = 100_000;

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let (s, m) = (stop.clone(), max.clone());
        let thread = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                for _ in 0..RSS_MAX_SAMPLES {
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    match rss_kib(pid) {
                        Ok(kib) => {
                            m.fetch_max(kib, Ordering::Relaxed);
                        }
                        Err(_) => break,
                    }
                    std::thread::sleep(RSS_INTERVAL);
                }
            })
            .ok();
        RssSampler { stop, max, thread }
    }

    /// Stops sampling and returns the largest `VmRSS` seen, in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        let a = CpuSnapshot::take(pid).unwrap();
        // Busy for a wall-clock time, not a count of iterations: the kernel adds a running
        // thread's time to schedstat only at ticks and switches, and an optimised loop of a
        // fixed count can finish inside one tick.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let b = CpuSnapshot::take(pid).unwrap();
        assert!(b.since(&a) > 0);
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(hwm_kib(pid).unwrap() >= rss_kib(pid).unwrap() / 2);
        let s = RssSampler::start(pid);
        assert!(s.finish() > 0);
    }
}
