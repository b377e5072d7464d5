//! `switchboard check`: validate a config and print the plan. Offline by default (spawns nothing,
//! connects nowhere); `--connect` starts every upstream and prints the real catalog, with the items
//! withheld by name collisions. The plan shows each HTTP upstream's outbound route (direct or
//! through which proxy) and flags a URL the egress policy refuses without a lookup (a literal
//! private or metadata address, a metadata host name): then `check` exits 1.

use std::fmt::Write as _;
use std::process::ExitCode;

use switchboard_config::{Config, SessionMode, Transport};
use switchboard_gateway::Gateway;
use switchboard_gateway::catalog::ListKind;
use switchboard_gateway::upstreams::outbound::egress_policy;
use switchboard_upstream::egress::{Proxy, display_url_str};

use crate::cli::CheckArgs;
use crate::output::out;
use crate::setup;

pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = match setup::load_config(&args.config.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    // What `serve` would run: the file with the admin API's changes (its state file) laid over
    // it; a state file that does not load fails the check as it would fail the start.
    let (admin, config) = match setup::admin_state(&args.config.config, config) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let (mut plan, refused) = plan(&config, &args.config.config.display().to_string());
    let changes = admin.overlay.upstreams.len() + admin.overlay.products.len();
    if changes > 0 {
        plan.push_str(&format!(
            "admin API changes laid over the file ({}): {} upstream(s), {} product(s)\n",
            switchboard_gateway::admin::state_file(&admin.state_dir).display(),
            admin.overlay.upstreams.len(),
            admin.overlay.products.len(),
        ));
    }
    out!("{plan}")?;
    if !args.connect {
        return Ok(if refused {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    if std::env::var_os("SWITCHBOARD_LOG").is_some()
        && let Err(code) = setup::init_logging()
    {
        return Ok(code);
    }
    switchboard_upstream::http::ensure_crypto_provider();
    let gw = Gateway::new(config, setup::reaper());
    gw.start();
    gw.wait_ready(args.timeout).await;
    let (report, healthy) = connected(&gw);
    let printed = out!("{report}");
    gw.shutdown().await;
    printed?;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The offline plan: what would be started and how it would be named; true when an upstream's
/// URL is refused by the egress policy.
fn plan(c: &Config, file: &str) -> (String, bool) {
    let mut refused = false;
    let mut s = String::new();
    let _ = writeln!(s, "config {file}: ok");
    let _ = writeln!(s, "listen: {}", c.listen);
    let _ = writeln!(s, "namespace separator: {:?}", c.namespace_separator);
    let _ = writeln!(s, "upstreams: {}", c.upstreams.len());
    for u in &c.upstreams {
        let what = match &u.transport {
            Transport::Stdio { command, args, .. } => {
                format!("stdio  {} {}", command, args.join(" "))
            }
            Transport::Http { url, .. } => format!("http   {}", display_url_str(url)),
            Transport::Sse { url, .. } => format!("sse    {}", display_url_str(url)),
            Transport::Builtin { kind, settings } => {
                match settings.get("url").and_then(|u| u.as_str()) {
                    Some(url) => format!("{kind} (built in) {}", display_url_str(url)),
                    None => format!("{kind} (built in)"),
                }
            }
            Transport::Group { members, strategy } => {
                format!("group  {} ({strategy:?})", members.join(", "))
            }
        };
        let names = if u.prefix.is_empty() {
            "names unprefixed".to_owned()
        } else {
            format!("names {}{}*", u.prefix, c.namespace_separator)
        };
        let session = match u.session {
            SessionMode::Shared => "shared",
            SessionMode::Isolated => "isolated",
        };
        let _ = writeln!(
            s,
            "  {:<16} {}  ({names}, session {session}, timeout {}s)",
            u.name,
            what.trim_end(),
            u.timeout.as_secs()
        );
        if let Transport::Http { url, .. } | Transport::Sse { url, .. } = &u.transport {
            let policy = egress_policy(c, u);
            let route = match policy.proxy_setting() {
                Proxy::Direct => "direct".to_owned(),
                Proxy::Env => {
                    "through the proxy in HTTPS_PROXY/HTTP_PROXY (NO_PROXY honoured)".to_owned()
                }
                Proxy::Url(p) => format!("through proxy {}", display_url_str(p)),
            };
            let _ = writeln!(s, "  {:<16} outbound: {route}", "");
            if let Err(e) = policy.check_url_str(url) {
                refused = true;
                let _ = writeln!(s, "  {:<16} refused: {e}", "");
            }
        }
    }
    if !c.products.is_empty() {
        let _ = writeln!(s, "products: {}", c.products.len());
        for p in &c.products {
            let _ = writeln!(s, "  {:<16} {:?}  tools {:?}", p.id, p.name, p.tools);
            for o in &p.overrides {
                if o.exposed() != o.tool {
                    let _ = writeln!(s, "  {:<16} {} exposed as {}", "", o.tool, o.exposed());
                }
            }
        }
    }
    s.push_str(&crate::plugin::plan(c));
    (s, refused)
}

/// The live catalog after connecting; false when an upstream failed.
fn connected(gw: &Gateway) -> (String, bool) {
    let mut s = String::new();
    let mut healthy = true;
    let catalog = gw.catalog();
    let _ = writeln!(s, "\nconnected:");
    for up in gw.upstreams().members().iter() {
        let health = up.health();
        let count = catalog.tools.iter().filter(|e| e.upstream == up.id).count();
        match up.last_error() {
            Some(e) if health != switchboard_gateway::upstreams::Health::Ready => {
                healthy = false;
                let _ = writeln!(s, "  {:<16} {}: {e}", up.name(), health.as_str());
            }
            _ => {
                let _ = writeln!(s, "  {:<16} {} ({count} tools)", up.name(), health.as_str());
            }
        }
    }
    for kind in ListKind::ALL {
        let count = catalog.len(kind);
        if count == 0 {
            continue;
        }
        let _ = writeln!(s, "{} ({count}):", kind.key());
        let names: Vec<String> = match kind {
            ListKind::Tools | ListKind::Prompts => {
                let entries = if kind == ListKind::Tools {
                    &catalog.tools
                } else {
                    &catalog.prompts
                };
                entries
                    .iter()
                    .map(|e| {
                        let exposed = switchboard_protocol::object::get_str(&e.raw, "name")
                            .map(|n| n.into_owned())
                            .unwrap_or_default();
                        format!("{exposed}  <- {}:{}", e.upstream, e.original)
                    })
                    .collect()
            }
            ListKind::Resources => catalog
                .resources
                .iter()
                .map(|e| format!("{}  <- {}", e.original, e.upstream))
                .collect(),
            ListKind::Templates => catalog
                .templates
                .iter()
                .map(|t| format!("{}  <- {}", t.entry.original, t.entry.upstream))
                .collect(),
        };
        for n in names {
            let _ = writeln!(s, "  {n}");
        }
    }
    // What the live catalog says about each product: globs that select nothing are a warning,
    // two tools exposed under one name an error.
    for p in gw.products().iter() {
        let report = gw.product_report(&p.cfg);
        for w in &report.warnings {
            let _ = writeln!(s, "warning: product {}: {w}", p.cfg.id);
        }
        for c in &report.collisions {
            healthy = false;
            let _ = writeln!(s, "error: product {}: {c}", p.cfg.id);
        }
    }
    if !catalog.withheld.is_empty() {
        let _ = writeln!(s, "withheld ({}):", catalog.withheld.len());
        for w in &catalog.withheld {
            let _ = writeln!(
                s,
                "  {} {} from {}: {}",
                w.kind.key(),
                w.name,
                w.upstream,
                w.reason
            );
        }
    }
    (s, healthy)
}
