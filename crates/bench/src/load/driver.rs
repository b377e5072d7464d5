//! Runs the clients: set-up, a warm-up phase, the measured phase, tear-down.
//!
//! Each client is its own task. A phase ends when its call budget is spent (a shared counter),
//! its deadline passes, or errors pile up; the measured phase records every successful call's
//! latency and, when a process is watched, its CPU time and resident memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use hyper::header::HeaderValue;

use super::call::CallSpec;
use super::http::HttpClient;
use super::report::{Report, ServerUsage};
use super::stdio::StdioMux;
use crate::latency::{Samples, round3};
use crate::loopback::HttpTarget;
use crate::procfs::{self, CpuSnapshot, RssSampler};

/// A phase stops early after this many errors, once they are at least half the calls.
const ABORT_ERRORS: u64 = 100;

/// Where the calls go.
#[derive(Debug, Clone)]
pub enum Target {
    Http(HttpTarget),
    Stdio(Vec<String>),
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    pub spec: CallSpec,
    pub concurrency: usize,
    pub sessions: usize,
    pub calls: Option<u64>,
    pub duration: Option<Duration>,
    /// The measured phase goes on past `calls` until this long has passed.
    pub min_duration: Duration,
    pub warmup: u64,
    pub watch_pid: Option<u32>,
    pub timeout: Duration,
    pub max_duration: Duration,
    /// Speak 2026-07-28 (no `initialize`, `_meta` on every request).
    pub modern: bool,
}

/// One client task's connection.
pub enum Client {
    Http(HttpClient),
    Stdio(Arc<StdioMux>),
}

impl Client {
    /// One request; `name` is what `Mcp-Name` mirrors (2026-07-28 over HTTP).
    pub async fn exchange(
        &mut self,
        method: &str,
        params: Option<&str>,
        name: Option<&str>,
    ) -> Result<(u64, bytes::Bytes), String> {
        match self {
            Client::Http(c) => c.exchange(method, params, name).await,
            Client::Stdio(m) => m.exchange(method, params).await,
        }
    }
}

struct PhaseResult {
    clients: Vec<Client>,
    samples: Samples,
    calls: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

/// Runs the load described by `opts` and reports on its measured phase.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let spec = Arc::new(opts.spec.clone());
    let (clients, sessions, mux) = setup(&opts).await?;
    let watch = opts.watch_pid.or_else(|| mux.as_ref().map(|m| m.pid()));

    let warm = phase(
        clients,
        &spec,
        Some(opts.warmup),
        Duration::ZERO,
        opts.max_duration,
        opts.timeout,
    )
    .await;
    if warm.errors > 0 && warm.errors == warm.calls {
        return Err(anyhow!(
            "every warm-up call failed: {}",
            warm.first_error.unwrap_or_default()
        ));
    }
    let budget = opts
        .duration
        .map_or(opts.max_duration, |d| d.min(opts.max_duration));

    let cpu0 = watch
        .map(CpuSnapshot::take)
        .transpose()
        .context("reading /proc")?;
    let rss0 = watch
        .map(procfs::rss_kib)
        .transpose()
        .context("reading /proc")?;
    let sampler = watch.map(RssSampler::start);
    let measured = phase(
        warm.clients,
        &spec,
        opts.calls,
        opts.min_duration,
        budget,
        opts.timeout,
    )
    .await;
    let server = match (watch, cpu0, rss0, sampler) {
        (Some(pid), Some(cpu0), Some(rss0), Some(sampler)) => {
            let cpu_ns = CpuSnapshot::take(pid).map(|c| c.since(&cpu0)).unwrap_or(0);
            let rss_end = procfs::rss_kib(pid).unwrap_or(0);
            let rss_max = sampler.finish().max(rss_end);
            Some(ServerUsage {
                pid,
                cpu_ms: round3(cpu_ns as f64 / 1e6),
                cpu_us_per_call: round3(cpu_ns as f64 / 1e3 / measured.calls.max(1) as f64),
                rss_kib_start: rss0,
                rss_kib_max: rss_max,
                rss_kib_end: rss_end,
            })
        }
        _ => None,
    };

    teardown(measured.clients, &sessions, mux.as_deref()).await;
    let ok = measured.calls - measured.errors;
    let secs = measured.elapsed.as_secs_f64();
    Ok(Report {
        mode: match opts.target {
            Target::Http(_) => "http",
            Target::Stdio(_) => "stdio",
        }
        .into(),
        method: opts.spec.method.as_str().into(),
        tool: opts.spec.tool.clone(),
        concurrency: opts.concurrency,
        revision: if opts.modern {
            crate::jsonrpc::MODERN_REVISION
        } else {
            crate::jsonrpc::LATEST_REVISION
        }
        .into(),
        sessions: match opts.target {
            Target::Http(_) if opts.modern => 0,
            Target::Http(_) => opts.sessions,
            Target::Stdio(_) => 1,
        },
        warmup: warm.calls,
        calls: measured.calls,
        errors: measured.errors,
        duration_s: round3(secs),
        throughput_per_s: if secs > 0.0 {
            (ok as f64 / secs * 10.0).round() / 10.0
        } else {
            0.0
        },
        latency_ms: measured.samples.summary(),
        first_error: measured.first_error.or(warm.first_error),
        server,
    })
}

type Setup = (Vec<Client>, Vec<HeaderValue>, Option<Arc<StdioMux>>);

/// Connects the clients; over HTTP, creates the sessions and hands them out round-robin.
async fn setup(opts: &Options) -> anyhow::Result<Setup> {
    match &opts.target {
        Target::Stdio(cmd) => {
            let mux = StdioMux::spawn(cmd, opts.timeout, opts.modern)
                .await
                .map_err(|e| anyhow!(e))?;
            let clients = (0..opts.concurrency)
                .map(|_| Client::Stdio(mux.clone()))
                .collect();
            Ok((clients, Vec::new(), Some(mux)))
        }
        Target::Http(t) => {
            let t = Arc::new(t.clone());
            let c = opts.concurrency;
            if opts.modern {
                // No sessions in 2026-07-28: every request stands alone.
                let clients = futures::future::join_all(
                    (0..c).map(|_| HttpClient::connect_modern(t.clone(), opts.timeout)),
                )
                .await
                .into_iter()
                .map(|r| r.map(Client::Http))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow!("set-up: {e}"))?;
                return Ok((clients, Vec::new(), None));
            }
            let s = opts.sessions;
            // Client i opens sessions i, i+C, i+2C, ...; they run side by side.
            let made = futures::future::join_all((0..c).map(|i| {
                let t = t.clone();
                let timeout = opts.timeout;
                async move {
                    let mut client = HttpClient::connect(t, timeout).await?;
                    let mut mine = Vec::new();
                    for j in (i..s).step_by(c) {
                        mine.push((j, client.initialize().await?));
                    }
                    Ok::<_, String>((client, mine))
                }
            }))
            .await;
            let mut clients = Vec::with_capacity(c);
            let mut sessions: Vec<Option<HeaderValue>> = vec![None; s];
            for m in made {
                let (client, mine) = m.map_err(|e| anyhow!("set-up: {e}"))?;
                clients.push(client);
                for (j, id) in mine {
                    sessions[j] = Some(id);
                }
            }
            let sessions: Vec<HeaderValue> = sessions.into_iter().flatten().collect();
            if sessions.len() != s {
                return Err(anyhow!(
                    "set-up: only {} of {s} sessions were created",
                    sessions.len()
                ));
            }
            let clients = clients
                .into_iter()
                .enumerate()
                .map(|(i, mut client)| {
                    client.use_session(sessions[i % s].clone());
                    Client::Http(client)
                })
                .collect();
            Ok((clients, sessions, None))
        }
    }
}

/// Ends the sessions (HTTP) or the child (stdio); best effort.
async fn teardown(clients: Vec<Client>, sessions: &[HeaderValue], mux: Option<&StdioMux>) {
    if let Some(m) = mux {
        drop(clients);
        m.shutdown().await;
        return;
    }
    let c = clients.len().max(1);
    futures::future::join_all(
        clients
            .into_iter()
            .enumerate()
            .map(|(i, client)| async move {
                if let Client::Http(mut h) = client {
                    for s in sessions.iter().skip(i).step_by(c) {
                        h.delete(s).await;
                    }
                }
            }),
    )
    .await;
}

/// Runs every client until `limit` calls are done in all and `min` has passed, or until `budget`
/// has passed.
async fn phase(
    clients: Vec<Client>,
    spec: &Arc<CallSpec>,
    limit: Option<u64>,
    min: Duration,
    budget: Duration,
    timeout: Duration,
) -> PhaseResult {
    let started = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let abort = Arc::new(AtomicBool::new(false));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let t0 = Instant::now();
    let deadline = t0 + budget;
    let until = t0 + min;
    let per_client = limit.map_or(1 << 16, |l| (l as usize / clients.len().max(1)) + 1);
    let handles: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let spec = spec.clone();
            let (started, errors, abort, first_error) = (
                started.clone(),
                errors.clone(),
                abort.clone(),
                first_error.clone(),
            );
            tokio::spawn(async move {
                let mut samples = Samples::with_capacity(per_client.min(1 << 20));
                loop {
                    if abort.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        break;
                    }
                    let n = started.fetch_add(1, Ordering::Relaxed);
                    if limit.is_some_and(|l| n >= l) && Instant::now() >= until {
                        started.fetch_sub(1, Ordering::Relaxed);
                        break;
                    }
                    let begin = Instant::now();
                    // Bounded even if a call's own timeouts misbehave (list calls make several).
                    let r = tokio::time::timeout(timeout * 4, spec.perform(&mut client)).await;
                    let r = r.unwrap_or_else(|_| {
                        Err(format!("call took longer than {:?}", timeout * 4))
                    });
                    match r {
                        Ok(()) => samples.record(begin.elapsed()),
                        Err(e) => {
                            let e_count = errors.fetch_add(1, Ordering::Relaxed) + 1;
                            let mut f = first_error.lock().unwrap_or_else(|p| p.into_inner());
                            if f.is_none() {
                                *f = Some(e);
                            }
                            if e_count >= ABORT_ERRORS
                                && e_count * 2 >= started.load(Ordering::Relaxed)
                            {
                                abort.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
                (client, samples)
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(handles.len());
    let mut samples = Samples::default();
    for h in handles {
        if let Ok((c, mut s)) = h.await {
            clients.push(c);
            samples.append(&mut s);
        }
    }
    let elapsed = t0.elapsed();
    let first_error = first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    PhaseResult {
        clients,
        samples,
        calls: started.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        first_error,
        elapsed,
    }
}
