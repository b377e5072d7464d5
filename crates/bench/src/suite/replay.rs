//! `http-replay`: a `tools/call` answered from the idempotency store, at c=1.
//!
//! Every call carries the same `Idempotency-Key` and arguments, so the first reaches the echo
//! upstream and every later one (warm-up included) is a replay: the gateway run measures what
//! answering from the store costs end to end (client → gateway → client, no upstream). The
//! direct run beside it is the same call straight to the upstream, for scale.

use super::config::{self, Upstream};
use super::load::Load;
use super::plan::Plan;
use super::process::{Layout, start_echo_http, start_gateway};
use super::results::Comparison;

/// The path's id in the results and targets.
pub const PATH: &str = "http-replay";

pub fn run(layout: &Layout, plan: &Plan) -> anyhow::Result<Comparison> {
    let (echo, url) = start_echo_http(layout, "echo-replay", &[])?;
    let cfg = config::write(
        &layout.run_dir,
        "replay",
        &[("up".into(), Upstream::Http(url.clone()))],
    )?;
    let (gw, gw_url) = start_gateway(layout, "gateway-replay", &cfg)?;
    let calls = |l: Load| {
        plan.threads(l)
            .calls(if plan.tiny { 200 } else { 5000 })
            .warmup(if plan.tiny { 10 } else { 500 })
            .concurrency(1)
    };
    let direct = calls(Load::http("replay-direct", &url))
        .watch(echo.pid())
        .run(layout)?;
    let gateway = calls(Load::http("replay-gateway", &gw_url))
        .tool("up__echo")
        .arg("idempotency-key", "bench-replay")
        .watch(gw.pid())
        .run(layout)?;
    Ok(Comparison::single(PATH, 1, direct, gateway))
}
