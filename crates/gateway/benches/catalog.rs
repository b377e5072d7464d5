//! Micro-benchmark of routing a tool name through a large merged catalog (the lookup every
//! `tools/call` does), and of rebuilding that catalog (what every list change costs).
//! Run with `cargo bench -p switchboard-gateway`.

use divan::{Bencher, black_box};
use switchboard_gateway::catalog::ListKind;
use switchboard_gateway::catalog::{Catalog, Lists, Source};
use switchboard_gateway::upstreams::UpstreamId;
use switchboard_gateway::view::{ViewKey, Views};

fn main() {
    divan::main();
}

/// 20 upstreams of 250 tools each: a 5,000-tool catalog.
fn lists() -> Vec<Lists> {
    (0..20)
        .map(|u| Lists {
            tools: (0..250)
                .map(|t| format!(r#"{{"name":"tool_{u}_{t}","description":"d","inputSchema":{{"type":"object"}}}}"#).into())
                .collect(),
            ..Lists::default()
        })
        .collect()
}

fn build(lists: &[Lists], names: &[UpstreamId]) -> Catalog {
    let sources: Vec<Source<'_>> = lists
        .iter()
        .zip(names)
        .map(|(l, n)| Source {
            id: n,
            prefix: n.as_str(),
            lists: Some(l),
        })
        .collect();
    Catalog::build(&sources, "__", 1)
}

#[divan::bench]
fn route_tool_name(b: Bencher) {
    let lists = lists();
    let names: Vec<UpstreamId> = (0..20)
        .map(|u| UpstreamId::new(&format!("up{u}")))
        .collect();
    let catalog = build(&lists, &names);
    b.bench(|| {
        catalog
            .tool(black_box("up13__tool_13_200"))
            .map(|e| e.upstream.clone())
    });
}

/// The same lookup as every `tools/call` makes it: through the caller's cached view.
#[divan::bench]
fn route_tool_name_through_a_view(b: Bencher) {
    let lists = lists();
    let names: Vec<UpstreamId> = (0..20)
        .map(|u| UpstreamId::new(&format!("up{u}")))
        .collect();
    let catalog = std::sync::Arc::new(build(&lists, &names));
    let views = Views::default();
    b.bench(|| {
        views
            .get(&catalog, ViewKey::whole(false))
            .resolve(ListKind::Tools, black_box("up13__tool_13_200"))
            .map(|t| t.upstream.clone())
    });
}

#[divan::bench(sample_count = 20)]
fn rebuild_5000_tools(b: Bencher) {
    let lists = lists();
    let names: Vec<UpstreamId> = (0..20)
        .map(|u| UpstreamId::new(&format!("up{u}")))
        .collect();
    b.bench(|| build(black_box(&lists), &names).tools.len());
}
