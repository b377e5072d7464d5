//! `tools/list` over a large catalog (5,000 tools), direct vs through switchboard.
//!
//! The upstream pages its list like the gateway does (1,000 per page), so both sides answer the
//! same number of requests per listing; a "call" is the whole listing, every page followed.

use std::time::Instant;

use super::config::{self, Upstream};
use super::load::Load;
use super::plan::Plan;
use super::process::{Layout, start_echo_http, start_gateway};
use super::results::{Catalog, Comparison};
use crate::echo::catalog::BUILT_IN_TOOLS;
use crate::latency::round3;

pub fn run(layout: &Layout, plan: &Plan) -> anyhow::Result<Catalog> {
    let extra = plan
        .catalog_tools
        .saturating_sub(BUILT_IN_TOOLS)
        .to_string();
    let page = plan.catalog_page_size.to_string();
    let (echo, url) = start_echo_http(
        layout,
        "echo-catalog",
        &["--extra-tools", &extra, "--page-size", &page],
    )?;
    let cfg = config::write(
        &layout.run_dir,
        "catalog",
        &[("cat".into(), Upstream::Http(url.clone()))],
    )?;
    let t0 = Instant::now();
    let (gw, gw_url) = start_gateway(layout, "gateway-catalog", &cfg)?;
    let ready_ms = round3(t0.elapsed().as_secs_f64() * 1000.0);
    let list = |l: Load| {
        plan.threads(l)
            .arg("method", "tools/list")
            .arg("expect-tools", plan.catalog_tools)
            .calls(plan.catalog_calls)
            .warmup(plan.catalog_warmup)
            .concurrency(1)
    };
    let comparison = Comparison::single(
        "http",
        1,
        list(Load::http("catalog-direct", &url))
            .watch(echo.pid())
            .run(layout)?,
        list(Load::http("catalog-gateway", &gw_url))
            .watch(gw.pid())
            .run(layout)?,
    );
    Ok(Catalog {
        tools: plan.catalog_tools,
        page_size: plan.catalog_page_size,
        gateway_ready_ms: ready_ms,
        comparison,
    })
}
