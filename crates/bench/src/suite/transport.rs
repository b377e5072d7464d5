//! Direct vs through switchboard, for an HTTP upstream and a stdio upstream, at each concurrency.
//!
//! Four paths: `http` (HTTP client → gateway → HTTP upstream), `http-modern` (the same with a
//! 2026-07-28 client: no session, `_meta` and mirrored headers on every request; compared with
//! the direct handshake-era call, as the upstream speaks only that), `stdio` (stdio client →
//! `switchboard stdio` → stdio upstream) and `http-stdio` (HTTP client → gateway → stdio
//! upstream, compared with the direct stdio call). At each concurrency the direct and gateway
//! runs alternate over several rounds ([`super::rounds`]), so drift and scheduling on the
//! machine hit both alike. Gateway runs watch the gateway's CPU and memory.

use anyhow::anyhow;

use super::config::{self, Upstream};
use super::load::Load;
use super::plan::Plan;
use super::process::{Layout, start_echo_http, start_gateway};
use super::results::Comparison;
use crate::load::Report;

pub fn run(layout: &Layout, plan: &Plan) -> anyhow::Result<Vec<Comparison>> {
    let mut out = Vec::new();
    {
        let (echo, url) = start_echo_http(layout, "echo-http", &[])?;
        let cfg = config::write(
            &layout.run_dir,
            "transport-http",
            &[("up".into(), Upstream::Http(url.clone()))],
        )?;
        let (gw, gw_url) = start_gateway(layout, "gateway-http", &cfg)?;
        for &c in &plan.concurrency {
            let (mut direct, mut gateway, mut modern) = (Vec::new(), Vec::new(), Vec::new());
            for round in 1..=plan.rounds {
                direct.push(
                    plan.standard(Load::http(&format!("http-c{c}-direct-{round}"), &url))
                        .concurrency(c)
                        .watch(echo.pid())
                        .run(layout)?,
                );
                gateway.push(
                    plan.standard(Load::http(&format!("http-c{c}-gateway-{round}"), &gw_url))
                        .tool("up__echo")
                        .concurrency(c)
                        .watch(gw.pid())
                        .run(layout)?,
                );
                modern.push(
                    plan.standard(Load::http(
                        &format!("http-modern-c{c}-gateway-{round}"),
                        &gw_url,
                    ))
                    .tool("up__echo")
                    .arg("revision", "2026-07-28")
                    .concurrency(c)
                    .watch(gw.pid())
                    .run(layout)?,
                );
            }
            out.push(fold("http-modern", c, direct.clone(), modern)?);
            out.push(fold("http", c, direct, gateway)?);
        }
    }
    {
        let echo_cmd = vec![
            layout.echo().to_string_lossy().into_owned(),
            "--stdio".into(),
        ];
        let cfg = config::write(
            &layout.run_dir,
            "transport-stdio",
            &[(
                "up".into(),
                Upstream::Stdio(layout.echo(), vec!["--stdio".into()]),
            )],
        )?;
        let gw_cmd = vec![
            layout.gateway().to_string_lossy().into_owned(),
            "stdio".into(),
            "--config".into(),
            cfg.to_string_lossy().into_owned(),
        ];
        let (gw, gw_url) = start_gateway(layout, "gateway-http-stdio", &cfg)?;
        for &c in &plan.concurrency {
            let (mut direct, mut gateway, mut over_http) = (Vec::new(), Vec::new(), Vec::new());
            for round in 1..=plan.rounds {
                direct.push(
                    plan.standard(Load::stdio(
                        &format!("stdio-c{c}-direct-{round}"),
                        echo_cmd.clone(),
                    ))
                    .concurrency(c)
                    .run(layout)?,
                );
                gateway.push(
                    plan.standard(Load::stdio(
                        &format!("stdio-c{c}-gateway-{round}"),
                        gw_cmd.clone(),
                    ))
                    .tool("up__echo")
                    .concurrency(c)
                    .run(layout)?,
                );
                over_http.push(
                    plan.standard(Load::http(
                        &format!("http-stdio-c{c}-gateway-{round}"),
                        &gw_url,
                    ))
                    .tool("up__echo")
                    .concurrency(c)
                    .watch(gw.pid())
                    .run(layout)?,
                );
            }
            out.push(fold("stdio", c, direct.clone(), gateway)?);
            out.push(fold("http-stdio", c, direct, over_http)?);
        }
    }
    Ok(out)
}

fn fold(
    path: &str,
    c: usize,
    direct: Vec<Report>,
    gateway: Vec<Report>,
) -> anyhow::Result<Comparison> {
    Comparison::rounds(path, c, direct, gateway).ok_or_else(|| anyhow!("{path} c={c}: no rounds"))
}
