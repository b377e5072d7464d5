//! The gateway's resident memory: idle, and with many idle sessions.
//!
//! A fresh gateway (one HTTP upstream) is read once ready and settled; then N sessions are
//! created (`initialize` + `notifications/initialized`, over 16 connections that are closed
//! afterwards, so the sessions hold no stream or connection) and it is read again. Memory under
//! load is taken from the transport case's highest-concurrency HTTP run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use super::config::{self, Upstream};
use super::plan::Plan;
use super::process::{Layout, start_echo_http, start_gateway};
use super::results::Memory;
use crate::load::http::HttpClient;
use crate::loopback::HttpTarget;
use crate::procfs;

/// Connections the sessions are created over.
const WORKERS: usize = 16;
/// Time for the allocator and the gateway's background tasks to settle before a reading.
const SETTLE: Duration = Duration::from_secs(1);

pub fn run(layout: &Layout, plan: &Plan) -> anyhow::Result<Memory> {
    let (_echo, url) = start_echo_http(layout, "echo-memory", &[])?;
    let cfg = config::write(
        &layout.run_dir,
        "memory",
        &[("up".into(), Upstream::Http(url))],
    )?;
    let (gw, gw_url) = start_gateway(layout, "gateway-memory", &cfg)?;
    std::thread::sleep(SETTLE);
    let idle = procfs::rss_kib(gw.pid())?;
    let target = Arc::new(HttpTarget::parse(&gw_url)?);
    let n = plan.idle_sessions;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t0 = Instant::now();
    let made = rt.block_on(create_sessions(target, n))?;
    let secs = t0.elapsed().as_secs_f64();
    if made != n {
        bail!("created {made} of {n} sessions");
    }
    std::thread::sleep(SETTLE);
    let with = procfs::rss_kib(gw.pid())?;
    let added = with.saturating_sub(idle);
    Ok(Memory {
        idle_kib: idle,
        sessions: n,
        with_sessions_kib: with,
        added_kib: added,
        per_session_bytes: added * 1024 / n.max(1) as u64,
        sessions_per_s: (n as f64 / secs).round(),
        under_load_kib: 0,
        under_load_run: String::new(),
    })
}

/// Creates `n` sessions over [`WORKERS`] connections, then closes the connections.
pub async fn create_sessions(target: Arc<HttpTarget>, n: usize) -> anyhow::Result<usize> {
    let results = futures::future::join_all((0..WORKERS).map(|w| {
        let target = target.clone();
        async move {
            let mut c = HttpClient::connect(target, Duration::from_secs(30)).await?;
            let mut made = 0;
            for _ in (w..n).step_by(WORKERS) {
                c.initialize().await?;
                made += 1;
            }
            c.disconnect();
            Ok::<_, String>(made)
        }
    }))
    .await;
    let mut total = 0;
    for r in results {
        total += r.map_err(|e| anyhow!("creating sessions: {e}"))?;
    }
    Ok(total)
}
