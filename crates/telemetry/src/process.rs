//! The standard `process_*` metrics, read from `/proc/self` at scrape time.
//!
//! Nothing is sampled in the background: each scrape reads `/proc/self/stat`, `/proc/self/fd`
//! and `/proc/self/limits` (and `/proc/stat` once, for the boot time). Where `/proc` is not
//! there (not Linux), the family is simply absent.

use std::sync::OnceLock;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// The process collector registered with every enabled registry.
#[derive(Debug, Default)]
pub(crate) struct Process;

/// One reading of the process's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reading {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub start_time_seconds: f64,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(r) = read() else {
            return Ok(());
        };
        encoder
            .encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, f64>(&r.cpu_seconds, None)?;
        encoder
            .encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&r.resident_bytes)?;
        encoder
            .encode_descriptor(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&r.virtual_bytes)?;
        encoder
            .encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&r.start_time_seconds)?;
        if let Some(n) = r.open_fds {
            encoder
                .encode_descriptor(
                    "process_open_fds",
                    "Number of open file descriptors.",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&n)?;
        }
        if let Some(n) = r.max_fds {
            encoder
                .encode_descriptor(
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&n)?;
        }
        Ok(())
    }
}

/// Reads the process's numbers; `None` without a readable `/proc/self/stat`.
pub(crate) fn read() -> Option<Reading> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (ticks, page) = units();
    let s = parse_stat(&stat)?;
    Some(Reading {
        cpu_seconds: (s.utime + s.stime) as f64 / ticks,
        resident_bytes: s.rss_pages.saturating_mul(page),
        virtual_bytes: s.vsize,
        start_time_seconds: boot_time()? + s.start_ticks as f64 / ticks,
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64),
        max_fds: std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| parse_max_fds(&l)),
    })
}

/// The fields of `/proc/self/stat` used here.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    start_ticks: u64,
    vsize: u64,
    rss_pages: u64,
}

/// Parses `/proc/<pid>/stat` (proc(5)). The command name (field 2) is in parentheses and may
/// hold spaces and parentheses itself, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state): field n is at index n - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        utime: n(14)?,
        stime: n(15)?,
        start_ticks: n(22)?,
        vsize: n(23)?,
        rss_pages: n(24)?,
    })
}

/// The soft "Max open files" limit of `/proc/self/limits`.
fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

/// Clock ticks per second and the page size, asked of the system once.
fn units() -> (f64, u64) {
    static UNITS: OnceLock<(f64, u64)> = OnceLock::new();
    *UNITS.get_or_init(|| {
        // SAFETY: sysconf takes a plain integer, reads no memory of ours and only returns a
        // number (or -1); it has no precondition to break.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        (
            if ticks > 0 { ticks as f64 } else { 100.0 },
            u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096),
        )
    })
}

/// The boot time (seconds since the epoch), from `/proc/stat`'s `btime` line.
fn boot_time() -> Option<f64> {
    static BOOT: OnceLock<Option<f64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().find(|l| l.starts_with("btime "))?;
        line["btime ".len()..]
            .trim()
            .parse::<u64>()
            .ok()
            .map(|s| s as f64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 4 0 12345 \
                    987654 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                utime: 7,
                stime: 3,
                start_ticks: 12345,
                vsize: 987654,
                rss_pages: 321,
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn max_fds_is_the_soft_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            1024                 1048576              files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_read() {
        let r = read().expect("/proc/self is readable on Linux");
        assert!(r.resident_bytes > 0);
        assert!(r.open_fds.is_some_and(|n| n > 0));
        assert!(r.start_time_seconds > 1.0e9);
    }
}
