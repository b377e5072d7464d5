//! Time from exec to accepting MCP requests, with 20 stdio upstreams configured.
//!
//! The clock starts just before the gateway is spawned. A client then tries, in a tight loop
//! (200 µs apart), to connect and POST `initialize`; the first valid answer is "accepting". It
//! goes on polling `/readyz` until every upstream had its first connection attempt ("ready").

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::config::{self, Upstream};
use super::plan::Plan;
use super::process::{Layout, Proc, free_port, http_status};
use super::results::{Startup, StartupRun};
use crate::latency::round3;
use crate::load::http::HttpClient;
use crate::loopback::HttpTarget;

/// Give up on one start-up after this long.
const LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_micros(200);

pub fn run(layout: &Layout, plan: &Plan) -> anyhow::Result<Startup> {
    let upstreams: Vec<(String, Upstream)> = (0..plan.startup_upstreams)
        .map(|i| {
            (
                format!("u{i:02}"),
                Upstream::Stdio(layout.echo(), vec!["--stdio".into()]),
            )
        })
        .collect();
    let cfg = config::write(&layout.run_dir, "startup", &upstreams)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut runs = Vec::new();
    for i in 0..plan.startup_runs {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let addr: SocketAddr = listen.parse()?;
        let target = Arc::new(HttpTarget::parse(&format!("http://{listen}/mcp"))?);
        let mut cmd = Command::new(layout.gateway());
        cmd.arg("serve")
            .arg("--config")
            .arg(&cfg)
            .args(["--listen", &listen])
            .stdout(Stdio::null());
        let t0 = Instant::now();
        let mut gw = Proc::spawn(layout, &format!("gateway-startup-{i}"), &mut cmd)?;
        let accept = loop {
            let attempt = rt.block_on(async {
                let mut c = HttpClient::connect(target.clone(), Duration::from_secs(5)).await?;
                c.initialize().await
            });
            if attempt.is_ok() {
                break t0.elapsed();
            }
            if gw.exited() {
                bail!("gateway exited during start-up: {}", gw.log_tail());
            }
            if t0.elapsed() > LIMIT {
                bail!("gateway not accepting after {LIMIT:?}: {}", gw.log_tail());
            }
            std::thread::sleep(POLL);
        };
        let ready = loop {
            if http_status(addr, "/readyz") == Some(200) {
                break t0.elapsed();
            }
            if t0.elapsed() > LIMIT {
                bail!("gateway not ready after {LIMIT:?}: {}", gw.log_tail());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        gw.stop();
        runs.push(StartupRun {
            accept_ms: ms(accept),
            ready_ms: ms(ready),
        });
    }
    let mut accept: Vec<f64> = runs.iter().map(|r| r.accept_ms).collect();
    let mut ready: Vec<f64> = runs.iter().map(|r| r.ready_ms).collect();
    Ok(Startup {
        upstreams: plan.startup_upstreams,
        accept_ms_median: median(&mut accept),
        accept_ms_max: accept.iter().copied().fold(0.0, f64::max),
        ready_ms_median: median(&mut ready),
        runs,
    })
}

fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
