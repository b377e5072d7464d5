//! Tracing and request logs, end to end: real gateways export OTLP to a receiver inside the
//! test (`support/otlp.rs`, decoding with the official `opentelemetry-proto` types), and the
//! test checks what a trace backend would see — the spans of one call and their parent links
//! across two gateways (the inner one the outer's Streamable HTTP upstream) down to the stdio
//! fixture, which logs the `_meta.traceparent` it received.

mod support;

use std::time::Duration;

#[path = "support/otlp.rs"]
mod otlp;

use otlp::{Got, Protocol, Receiver};
use support::{Config, Upstream};

/// A client's sampled trace context.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn traceparent(flags: &str) -> String {
    format!("00-{TRACE}-{CLIENT_SPAN}-{flags}")
}

fn telemetry(service: &str, receiver: &Receiver, ratio: &str) -> String {
    format!(
        "telemetry:\n  service_name: {service}\n  otlp:\n    endpoint: {}\n  sampling:\n    ratio: {ratio}\n",
        receiver.endpoint()
    )
}

fn find<'a>(spans: &'a [Got], service: &str, kind: i32) -> &'a Got {
    spans
        .iter()
        .find(|s| s.service == service && s.span.kind == kind)
        .unwrap_or_else(|| panic!("no span of kind {kind} from {service} in {spans:#?}"))
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

/// The `traceparent` values in the `_meta` of the `tools/call` lines a fixture logged.
fn fixture_traceparents(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("\"tools/call\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["params"]["_meta"]["traceparent"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn one_call_is_one_trace_across_the_gateway_an_http_upstream_and_a_stdio_one() {
    let receiver = Receiver::start(Protocol::Http).await;
    let inner_cfg = Config::new();
    let log = inner_cfg.path("fx.log");
    let inner = inner_cfg
        .upstream(Upstream::fixture("fx").log(&log))
        .extra(&telemetry("inner", &receiver, "1"))
        .start()
        .await;
    let outer = Config::new()
        .upstream(Upstream::http("up", &inner.mcp()))
        .extra(&telemetry("outer", &receiver, "1"))
        .start()
        .await;
    let s = outer.initialize().await;
    let r = s
        .post_with(
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"up__fx__echo","arguments":{"message":"hi"}}}"#,
            &[("traceparent", &traceparent("01")), ("tracestate", "vendor=abc")],
        )
        .await;
    assert_eq!(r.result()["content"][0]["text"], "hi", "{}", r.text);

    let spans = receiver
        .wait_for("four spans of the call", |g| {
            g.iter().filter(|s| s.trace_id() == TRACE).count() >= 4
        })
        .await;
    let spans: Vec<Got> = spans
        .into_iter()
        .filter(|s| s.trace_id() == TRACE)
        .collect();

    // The outer gateway's request continues the client's trace under the client's span.
    let outer_server = find(&spans, "outer", SERVER);
    assert_eq!(outer_server.parent_id(), CLIENT_SPAN);
    assert_eq!(outer_server.span.name, "tools/call up__fx__echo");
    assert_eq!(
        outer_server.attr("mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(
        outer_server.attr("gen_ai.tool.name").as_deref(),
        Some("up__fx__echo")
    );
    assert_eq!(
        outer_server.attr("gen_ai.operation.name").as_deref(),
        Some("execute_tool")
    );
    assert_eq!(
        outer_server.attr("jsonrpc.request.id").as_deref(),
        Some("7")
    );
    assert_eq!(
        outer_server.attr("network.transport").as_deref(),
        Some("tcp")
    );
    assert_eq!(outer_server.span.trace_state, "vendor=abc");
    assert!(outer_server.attr("mcp.session.id").is_some());
    let events: Vec<&str> = outer_server
        .span
        .events
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        events,
        [
            "admit",
            "authenticate",
            "authorize",
            "rate_limit",
            "idempotency"
        ]
    );
    assert!(outer_server.span.end_time_unix_nano >= outer_server.span.start_time_unix_nano);

    // Its call to the HTTP upstream is a CLIENT child, named with the upstream's tool name.
    let outer_client = find(&spans, "outer", CLIENT);
    assert_eq!(outer_client.parent_id(), outer_server.span_id());
    assert_eq!(outer_client.span.name, "tools/call fx__echo");
    assert_eq!(
        outer_client.attr("server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        outer_client.attr("server.port"),
        Some(inner.addr.port().to_string())
    );
    assert_eq!(
        outer_client.attr("switchboard.upstream").as_deref(),
        Some("up")
    );

    // The upstream got that span's context in its `traceparent` header: its own server span is
    // that span's child, and its call to the stdio fixture is the next link.
    let inner_server = find(&spans, "inner", SERVER);
    assert_eq!(inner_server.parent_id(), outer_client.span_id());
    assert_eq!(inner_server.span.name, "tools/call fx__echo");
    let inner_client = find(&spans, "inner", CLIENT);
    assert_eq!(inner_client.parent_id(), inner_server.span_id());
    assert_eq!(
        inner_client.attr("network.transport").as_deref(),
        Some("pipe")
    );

    // The stdio fixture received the inner client span's context in `_meta`.
    assert_eq!(
        fixture_traceparents(&log),
        [format!("00-{TRACE}-{}-01", inner_client.span_id())]
    );
}

#[tokio::test]
async fn a_call_without_a_caller_context_starts_a_trace_and_errors_are_marked() {
    let receiver = Receiver::start(Protocol::Http).await;
    let cfg = Config::new();
    let audit = cfg.path("audit.jsonl");
    let gw = cfg
        .upstream(Upstream::fixture("fx"))
        .extra(&telemetry("gw", &receiver, "1.0"))
        .extra(&format!(
            "audit:\n  file: {{ path: {} }}\n",
            audit.display()
        ))
        .start()
        .await;
    let s = gw.initialize().await;
    let r = s.call_tool("fx__nope", "{}").await;
    assert!(r.response().unwrap().get("error").is_some(), "{}", r.text);
    let spans = receiver
        .wait_for("the refused call's span", |g| !g.is_empty())
        .await;
    let server = find(&spans, "gw", SERVER);
    assert!(server.span.parent_span_id.is_empty(), "a root span");
    assert_eq!(server.span.trace_id.len(), 16);
    assert_eq!(server.span.status.as_ref().map(|s| s.code), Some(2));
    let code = r.error_code().to_string();
    assert_eq!(server.attr("error.type"), Some(code.clone()));
    assert_eq!(server.attr("rpc.response.status_code"), Some(code));

    // The audit record names the trace the gateway started, so the two can be joined.
    let records = std::fs::read_to_string(&audit).unwrap();
    let record: serde_json::Value = records
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["method"] == "tools/call")
        .unwrap_or_else(|| panic!("no tools/call record in {records}"));
    assert_eq!(record["trace_id"], server.trace_id(), "{record}");
}

/// Sampling at ratio 0, configured only through the standard variables: nothing of the
/// gateway's own is exported, a caller's sampled context still is (parent-based), and an
/// unsampled one is propagated unsampled.
#[tokio::test]
async fn ratio_zero_exports_nothing_but_a_sampled_parent_is_honoured() {
    let receiver = Receiver::start(Protocol::Http).await;
    let cfg = Config::new();
    let log = cfg.path("fx.log");
    let gw = cfg
        .upstream(Upstream::fixture("fx").log(&log))
        .gateway_env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint())
        .gateway_env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
        .gateway_env("OTEL_TRACES_SAMPLER_ARG", "0")
        .gateway_env("OTEL_SERVICE_NAME", "from-env")
        .start()
        .await;
    let s = gw.initialize().await;
    for i in 0..20 {
        let r = s
            .call_tool("fx__echo", &format!(r#"{{"message":"{i}"}}"#))
            .await;
        assert_eq!(
            r.result()["content"][0]["text"],
            i.to_string(),
            "{}",
            r.text
        );
    }
    // An unsampled caller context: passed on with its trace id, unsampled.
    let body = r#"{"jsonrpc":"2.0","id":900,"method":"tools/call","params":{"name":"fx__echo","arguments":{"message":"u"}}}"#;
    s.post_with(body, &[("traceparent", &traceparent("00"))])
        .await;
    // A sampled one, in `_meta` this time: honoured.
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":901,"method":"tools/call","params":{{"name":"fx__echo","arguments":{{"message":"s"}},"_meta":{{"traceparent":"{}"}}}}}}"#,
        traceparent("01")
    );
    let r = s.post_raw(body).await;
    assert_eq!(r.result()["content"][0]["text"], "s", "{}", r.text);

    let spans = receiver
        .wait_for("the sampled call's spans", |g| g.len() >= 2)
        .await;
    // Give a stray export of the unsampled calls the chance to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let spans = receiver
        .spans()
        .into_iter()
        .chain(spans)
        .collect::<Vec<_>>();
    assert!(spans.iter().all(|s| s.trace_id() == TRACE), "{spans:#?}");
    assert!(spans.iter().all(|s| s.service == "from-env"));
    let server = find(&spans, "from-env", SERVER);
    assert_eq!(server.parent_id(), CLIENT_SPAN);
    assert_eq!(receiver.spans().len(), 2, "one server and one client span");

    let sent = fixture_traceparents(&log);
    assert_eq!(sent.len(), 22);
    // Every call is propagated; only the one under a sampled parent says sampled.
    assert!(
        sent[..20]
            .iter()
            .all(|tp| tp.ends_with("-00") && tp.len() == 55),
        "{sent:?}"
    );
    assert!(sent[20].starts_with(&format!("00-{TRACE}-")) && sent[20].ends_with("-00"));
    assert!(
        !sent[20].contains(CLIENT_SPAN),
        "the gateway's span id, not the caller's"
    );
    assert!(sent[21].starts_with(&format!("00-{TRACE}-")) && sent[21].ends_with("-01"));
}

/// Without `telemetry:` or an OTLP endpoint variable, nothing is exported (other `OTEL_*`
/// variables alone do not turn export on) and upstreams get no trace context of the gateway's.
#[tokio::test]
async fn nothing_is_exported_when_not_configured() {
    let receiver = Receiver::start(Protocol::Http).await;
    let cfg = Config::new();
    let log = cfg.path("fx.log");
    let gw = cfg
        .upstream(Upstream::fixture("fx").log(&log))
        .gateway_env("OTEL_SERVICE_NAME", "nope")
        .gateway_env("OTEL_TRACES_SAMPLER", "always_on")
        .gateway_env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .start()
        .await;
    let s = gw.initialize().await;
    let body = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fx__echo","arguments":{"message":"x"}}}"#;
    let r = s
        .post_with(body, &[("traceparent", &traceparent("01"))])
        .await;
    assert_eq!(r.result()["content"][0]["text"], "x", "{}", r.text);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(receiver.spans().is_empty());
    assert!(receiver.requests.lock().unwrap().is_empty());
    assert_eq!(fixture_traceparents(&log), [""]);
}

#[tokio::test]
async fn spans_are_exported_over_grpc() {
    let receiver = Receiver::start(Protocol::Grpc).await;
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "telemetry:\n  otlp:\n    endpoint: {}\n    protocol: grpc\n    headers:\n      x-api-key: secret\n",
            receiver.endpoint()
        ))
        .start()
        .await;
    let s = gw.initialize().await;
    let body = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fx__echo","arguments":{"message":"x"}}}"#;
    s.post_with(body, &[("traceparent", &traceparent("01"))])
        .await;
    let spans = receiver.wait_for("two spans", |g| g.len() >= 2).await;
    let server = find(&spans, "switchboard", SERVER);
    assert_eq!(server.parent_id(), CLIENT_SPAN);
    let reqs = receiver.requests.lock().unwrap().clone();
    assert_eq!(
        reqs[0],
        (
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export".to_owned(),
            "application/grpc".to_owned()
        )
    );
}

/// With `SWITCHBOARD_LOG_FORMAT=json`, a line logged while serving a request carries the
/// request's id and trace id (here: a result cut to `max_result_bytes`, logged at info).
#[tokio::test]
async fn json_log_lines_of_a_request_carry_its_request_id_and_trace_id() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx").setting("max_result_bytes: 10"))
        .gateway_env("SWITCHBOARD_LOG_FORMAT", "json")
        .start()
        .await;
    let s = gw.initialize().await;
    let body = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fx__echo","arguments":{"message":"a message longer than ten bytes"}}}"#;
    let r = s
        .post_with(
            body,
            &[
                ("traceparent", &traceparent("01")),
                ("x-request-id", "req-log-1"),
            ],
        )
        .await;
    assert!(r.response().is_some(), "{}", r.text);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let err = gw.stderr();
        if let Some(l) = err.lines().find(|l| l.contains("max_result_bytes")) {
            break l.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such line in:\n{err}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["span"]["request_id"], "req-log-1", "{line}");
    assert_eq!(v["span"]["trace_id"], TRACE, "{line}");
}
