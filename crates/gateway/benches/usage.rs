//! Micro-benchmark of usage accounting's per-call cost (`usage::Usage::count`): a known key
//! (the steady state: a read lock, a hash, two atomic adds) in a table of 1,000 keys, with the
//! metric on. Run with `cargo bench -p switchboard-gateway --bench usage`.

use divan::{Bencher, black_box};
use switchboard_gateway::usage::{CallOutcome, Usage};

fn main() {
    divan::main();
}

#[divan::bench]
fn count_known_key(b: Bencher) {
    let usage = Usage::new(10_000, &switchboard_telemetry::Metrics::new());
    let tools: Vec<String> = (0..1000).map(|i| format!("up__tool_{i}")).collect();
    for t in &tools {
        usage.count("ci", "support", t, CallOutcome::Ok);
    }
    b.bench(|| {
        usage.count(
            black_box("ci"),
            black_box("support"),
            black_box("up__tool_500"),
            CallOutcome::Ok,
        )
    });
}
