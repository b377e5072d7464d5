//! Direct vs through switchboard, for an HTTP upstream and a stdio upstream, at each concurrency.
//!
//! Four gateway paths: `http` (HTTP client → gateway → HTTP upstream), `http-modern` (the same
//! with a 2026-07-28 client: no session, `_meta` and mirrored headers on every request; compared
//! with the direct handshake-era call, as the upstream speaks only that), `stdio` (stdio client →
//! `switchboard stdio` → stdio upstream) and `http-stdio` (HTTP client → gateway → stdio
//! upstream, compared with the direct stdio call). `http-audit` is `http-off` plus the audit log
//! (file sink, `fsync: 100ms`), measured in the same rounds: the gap between the two is the
//! audit's cost (budget +4 µs). `http-trace` is `http-off` plus tracing exported over
//! OTLP/HTTP at 1 % sampling to a sink in the bench process (budget +3 µs). Two floor paths put `switchboard-floor`
//! ([`crate::floor`]), a forwarder that moves bytes and does nothing else, where the gateway is:
//! `http-floor` (HTTP client → floor → HTTP upstream) and `stdio-floor` (stdio client → floor
//! relay → stdio upstream), compared with the same direct runs as `http` and `stdio`; the gap
//! between a floor and direct is what any proxy hop costs on the machine. A third, `tcp-floor`,
//! splices TCP in front of the HTTP upstream and parses nothing: the least any proxy hop costs. At each concurrency the
//! direct, floor and gateway runs alternate over several rounds ([`super::rounds`]), so drift and
//! scheduling on the machine hit all alike. Gateway and floor runs watch that process's CPU and
//! memory (over stdio, the load generator watches the process it spawns: the gateway or the
//! floor relay).

use anyhow::anyhow;

use super::config::{self, Upstream};
use super::load::Load;
use super::plan::Plan;
use super::process::{Layout, start_echo_http, start_floor, start_gateway};
use super::results::{Comparison, TCP_FLOOR};
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
        // The same gateway with every optional call-path feature off, and on: measured beside
        // each other at one concurrency, so a feature's cost per call is the gap between them.
        let up = [("up".to_owned(), Upstream::Http(url.clone()))];
        let sink = super::otlp_sink::start()?;
        let featured = [
            ("http-off", config::FEATURES_OFF),
            ("http-on", config::FEATURES_ON),
            ("http-audit", config::FEATURES_AUDIT),
            ("http-trace", config::features_trace(&sink.url)),
        ]
        .map(|(path, features)| -> anyhow::Result<_> {
            let cfg = config::write_with(
                &layout.run_dir,
                &format!("transport-{path}"),
                &up,
                &features,
            )?;
            Ok((
                path,
                start_gateway(layout, &format!("gateway-{path}"), &cfg)?,
                Vec::new(),
            ))
        });
        let mut featured = featured.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        // Features off plus an API key that every call presents: the gap to `http-off` is
        // what authenticating and the scope check cost per call.
        let (key, auth) = config::api_key(&layout.gateway())?;
        let cfg = config::write_with(
            &layout.run_dir,
            "transport-http-auth",
            &up,
            &config::FEATURES_OFF,
        )?;
        std::fs::write(&cfg, format!("{}{auth}", std::fs::read_to_string(&cfg)?))?;
        featured.push((
            "http-auth",
            start_gateway(layout, "gateway-http-auth", &cfg)?,
            Vec::new(),
        ));
        // Features off plus a JWT every call presents (EdDSA, key from a PEM file): the gap to
        // `http-off` is a cached token's verification, scopes and view per call.
        let minted = super::jwt::mint(&layout.run_dir)?;
        let cfg = config::write_with(
            &layout.run_dir,
            "transport-http-jwt",
            &up,
            &config::FEATURES_OFF,
        )?;
        std::fs::write(
            &cfg,
            format!("{}{}", std::fs::read_to_string(&cfg)?, minted.auth),
        )?;
        featured.push((
            "http-jwt",
            start_gateway(layout, "gateway-http-jwt", &cfg)?,
            Vec::new(),
        ));
        let feature_c = plan.concurrency.iter().copied().filter(|&c| c <= 32).max();
        // Both floors, measured against the same direct runs: the bare proxy and the splice.
        // Each with its runs at the concurrency being measured.
        let mut floors = [
            (
                "http-floor",
                start_floor(layout, "floor-http", "--http", &url)?,
                Vec::new(),
            ),
            (
                TCP_FLOOR,
                start_floor(layout, "floor-tcp", "--tcp", &url)?,
                Vec::new(),
            ),
        ];
        for &c in &plan.concurrency {
            let (mut direct, mut gateway, mut modern) = (Vec::new(), Vec::new(), Vec::new());
            for round in 1..=plan.rounds {
                direct.push(
                    plan.standard(Load::http(&format!("http-c{c}-direct-{round}"), &url))
                        .concurrency(c)
                        .watch(echo.pid())
                        .run(layout)?,
                );
                for (path, (floor, floor_url), runs) in &mut floors {
                    runs.push(
                        plan.standard(Load::http(&format!("{path}-c{c}-floor-{round}"), floor_url))
                            .concurrency(c)
                            .watch(floor.pid())
                            .run(layout)?,
                    );
                }
                gateway.push(
                    plan.standard(Load::http(&format!("http-c{c}-gateway-{round}"), &gw_url))
                        .tool("up__echo")
                        .concurrency(c)
                        .watch(gw.pid())
                        .run(layout)?,
                );
                if Some(c) == feature_c {
                    for (path, (gw, gw_url), runs) in &mut featured {
                        let mut load = plan
                            .standard(Load::http(&format!("{path}-c{c}-gateway-{round}"), gw_url))
                            .tool("up__echo")
                            .concurrency(c)
                            .watch(gw.pid());
                        if *path == "http-auth" {
                            load = load.arg("bearer", &key);
                        }
                        if *path == "http-jwt" {
                            load = load.arg("bearer", &minted.token);
                        }
                        runs.push(load.run(layout)?);
                    }
                }
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
            if Some(c) == feature_c {
                for (path, _, runs) in &mut featured {
                    out.push(fold(path, c, direct.clone(), std::mem::take(runs))?);
                }
            }
            for (path, _, runs) in &mut floors {
                out.push(fold(path, c, direct.clone(), std::mem::take(runs))?);
            }
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
        // The relay in the gateway's place; the load generator watches it, not the echo.
        let floor_cmd: Vec<String> = [
            layout.floor().to_string_lossy().into_owned(),
            "--stdio".into(),
            "--".into(),
        ]
        .into_iter()
        .chain(echo_cmd.iter().cloned())
        .collect();
        let (gw, gw_url) = start_gateway(layout, "gateway-http-stdio", &cfg)?;
        for &c in &plan.concurrency {
            let (mut direct, mut gateway, mut over_http) = (Vec::new(), Vec::new(), Vec::new());
            let mut floored = Vec::new();
            for round in 1..=plan.rounds {
                direct.push(
                    plan.standard(Load::stdio(
                        &format!("stdio-c{c}-direct-{round}"),
                        echo_cmd.clone(),
                    ))
                    .concurrency(c)
                    .run(layout)?,
                );
                floored.push(
                    plan.standard(Load::stdio(
                        &format!("stdio-floor-c{c}-floor-{round}"),
                        floor_cmd.clone(),
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
            out.push(fold("stdio-floor", c, direct.clone(), floored)?);
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
