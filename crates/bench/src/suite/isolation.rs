//! One slow upstream beside a fast one: the fast one's p99 must not move.
//!
//! One gateway, two upstreams of the same kind (`fast` and `slow`). The fast upstream's `echo` is
//! driven at C=8 for a fixed time, first alone, then while another C=8 load keeps `slow__slow`
//! (200 ms per call) busy, and the two p99s are compared.

use std::time::Duration;

use super::config::{self, Upstream};
use super::load::Load;
use super::plan::Plan;
use super::process::{Layout, start_echo_http, start_gateway};
use super::results::Isolation;

/// The slow load starts this long before the fast one; it outlasts the fast run's warm-up and
/// measured phase by about as much.
const LEAD: Duration = Duration::from_secs(1);

pub fn run(layout: &Layout, plan: &Plan) -> anyhow::Result<Vec<Isolation>> {
    let mut out = Vec::new();
    {
        let (_fast, fast_url) = start_echo_http(layout, "echo-iso-fast", &[])?;
        let (_slow, slow_url) = start_echo_http(layout, "echo-iso-slow", &[])?;
        let cfg = config::write(
            &layout.run_dir,
            "isolation-http",
            &[
                ("fast".into(), Upstream::Http(fast_url)),
                ("slow".into(), Upstream::Http(slow_url)),
            ],
        )?;
        out.push(measure(layout, plan, "http", &cfg)?);
    }
    {
        let stdio = Upstream::Stdio(layout.echo(), vec!["--stdio".into()]);
        let cfg = config::write(
            &layout.run_dir,
            "isolation-stdio",
            &[("fast".into(), stdio.clone()), ("slow".into(), stdio)],
        )?;
        out.push(measure(layout, plan, "stdio", &cfg)?);
    }
    Ok(out)
}

fn measure(
    layout: &Layout,
    plan: &Plan,
    kind: &str,
    cfg: &std::path::Path,
) -> anyhow::Result<Isolation> {
    let (gw, url) = start_gateway(layout, &format!("gateway-iso-{kind}"), cfg)?;
    let c = plan.isolation_concurrency;
    let fast = |name: &str| {
        plan.threads(Load::http(name, &url))
            .tool("fast__echo")
            .concurrency(c)
            .warmup(plan.warmup)
            .arg("duration", format!("{}s", plan.isolation_secs))
            .watch(gw.pid())
    };
    let alone = fast(&format!("iso-{kind}-alone")).run(layout)?;
    let slow_secs = plan.isolation_secs + LEAD.as_secs() + 2;
    let slow = plan
        .threads(Load::http(&format!("iso-{kind}-slow"), &url))
        .tool("slow__slow")
        .arg("args", format!("{{\"ms\":{}}}", plan.slow_ms))
        .concurrency(c)
        .warmup(0)
        .arg("duration", format!("{slow_secs}s"))
        .start(layout)?;
    std::thread::sleep(LEAD);
    let beside = fast(&format!("iso-{kind}-beside-slow")).run(layout)?;
    let slow = slow.finish()?;
    Ok(Isolation {
        upstream: kind.into(),
        slow_ms: plan.slow_ms,
        alone,
        beside_slow: beside,
        slow,
    })
}
