//! What tracing costs a request: the spans of one proxied call (a SERVER span and a CLIENT span,
//! its `traceparent` formatted for the upstream, both ended) unsampled and sampled, and the
//! per-request `tracing` span that puts `request_id` and `trace_id` on log lines, at the default
//! INFO level with the real formatter (writing to nowhere). Run with
//! `cargo bench -p switchboard-trace`.

use std::time::Duration;

use divan::{Bencher, black_box};
use switchboard_config::{OtlpConfig, OtlpProtocol, Sampling, TelemetryConfig};
use switchboard_trace::{Kind, SpanContext, Tracer};

fn main() {
    divan::main();
}

fn tracer(ratio: f64) -> Tracer {
    // A closed port: exports fail and are counted, off this thread.
    Tracer::start(&TelemetryConfig {
        service_name: "bench".into(),
        otlp: OtlpConfig {
            endpoint: "http://127.0.0.1:9/v1/traces".into(),
            protocol: OtlpProtocol::HttpProtobuf,
            headers: Vec::new(),
            timeout: Duration::from_millis(100),
        },
        sampling: Sampling {
            ratio,
            parent_based: true,
        },
    })
    .expect("tracer")
}

fn one_call(t: &Tracer, parent: Option<SpanContext>) {
    let mut server = t.server(parent, None, || "tools/call fx__echo".to_owned());
    server.set_str("mcp.method.name", "tools/call");
    server.event("authorize");
    let mut client = t.child(&server, Kind::Client, || "tools/call echo".to_owned());
    client.set_str("mcp.method.name", "tools/call");
    black_box(client.context().traceparent());
    t.end(client);
    t.end(server);
}

#[divan::bench]
fn call_unsampled(b: Bencher) {
    let t = tracer(0.0);
    b.bench(|| one_call(&t, None));
}

#[divan::bench]
fn call_unsampled_with_caller_traceparent(b: Bencher) {
    let t = tracer(0.0);
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    b.bench(|| one_call(&t, SpanContext::parse(black_box(tp))));
}

#[divan::bench]
fn call_sampled(b: Bencher) {
    let t = tracer(1.0);
    b.bench(|| one_call(&t, None));
}

#[divan::bench]
fn log_span_per_request(b: Bencher) {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .json()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let request_id = "c0ffee00-0000-4000-8000-000000000000";
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    b.bench(|| {
        let span = tracing::error_span!(
            "request",
            request_id = black_box(request_id),
            trace_id = Some(black_box(trace_id))
        );
        // A request future is polled a few times: each poll enters and leaves the span.
        for _ in 0..3 {
            let _e = span.enter();
        }
    });
}
