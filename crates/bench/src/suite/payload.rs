//! A 1 MiB tool result, direct vs through switchboard, over HTTP and over stdio.

use super::config::{self, Upstream};
use super::load::Load;
use super::plan::Plan;
use super::process::{Layout, start_echo_http, start_gateway};
use super::results::Comparison;

pub fn run(layout: &Layout, plan: &Plan) -> anyhow::Result<Vec<Comparison>> {
    let args = format!("{{\"bytes\":{}}}", plan.big_bytes);
    let sized = |l: Load, tool: &str| {
        plan.threads(l)
            .tool(tool)
            .arg("args", &args)
            .arg("expect-bytes", plan.big_bytes)
            .calls(plan.big_calls)
            .warmup(plan.big_warmup)
            .concurrency(1)
    };
    let (echo, url) = start_echo_http(layout, "echo-big", &[])?;
    let cfg = config::write(
        &layout.run_dir,
        "big-http",
        &[("up".into(), Upstream::Http(url.clone()))],
    )?;
    let (gw, gw_url) = start_gateway(layout, "gateway-big", &cfg)?;
    let http = Comparison::single(
        "http",
        1,
        sized(Load::http("big-http-direct", &url), "big")
            .watch(echo.pid())
            .run(layout)?,
        sized(Load::http("big-http-gateway", &gw_url), "up__big")
            .watch(gw.pid())
            .run(layout)?,
    );
    drop(gw);
    drop(echo);

    let cfg = config::write(
        &layout.run_dir,
        "big-stdio",
        &[(
            "up".into(),
            Upstream::Stdio(layout.echo(), vec!["--stdio".into()]),
        )],
    )?;
    let echo_cmd = vec![
        layout.echo().to_string_lossy().into_owned(),
        "--stdio".into(),
    ];
    let gw_cmd = vec![
        layout.gateway().to_string_lossy().into_owned(),
        "stdio".into(),
        "--config".into(),
        cfg.to_string_lossy().into_owned(),
    ];
    let stdio = Comparison::single(
        "stdio",
        1,
        sized(Load::stdio("big-stdio-direct", echo_cmd), "big").run(layout)?,
        sized(Load::stdio("big-stdio-gateway", gw_cmd), "up__big").run(layout)?,
    );
    Ok(vec![http, stdio])
}
