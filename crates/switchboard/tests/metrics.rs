//! `/metrics` after real calls through the real binary: exact counter values for an ok call, a
//! tool error and an unknown tool, and no client-sent string ever becoming a label value.

mod support;

use support::{Config, Upstream};

async fn scrape(gw: &support::Gateway) -> String {
    let r = gw.client.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.text().await.unwrap()
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn counts_calls_by_outcome_and_keeps_raw_input_out_of_labels() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let s = gw.initialize().await;
    for _ in 0..3 {
        let r = s.call_tool("fx__test_simple_text", "{}").await;
        assert!(r.response().is_some());
    }
    s.call_tool("fx__test_error_handling", "{}").await;
    s.call_tool("evil\"}\n", "{}").await;
    s.call_tool("nope", "{}").await;
    let text = scrape(&gw).await;
    let ok = r#"switchboard_tool_calls_total{upstream="fx",tool="test_simple_text",outcome="ok"}"#;
    assert_eq!(value(&text, ok), Some(3.0), "{text}");
    let te = r#"switchboard_tool_calls_total{upstream="fx",tool="test_error_handling",outcome="tool_error"}"#;
    assert_eq!(value(&text, te), Some(1.0), "{text}");
    let unknown =
        r#"switchboard_tool_calls_total{upstream="unknown",tool="unknown",outcome="error"}"#;
    assert_eq!(value(&text, unknown), Some(2.0), "{text}");
    let req_ok = r#"switchboard_requests_total{method="tools/call",outcome="ok"}"#;
    assert_eq!(value(&text, req_ok), Some(3.0), "{text}");
    let req_te = r#"switchboard_requests_total{method="tools/call",outcome="tool_error"}"#;
    assert_eq!(value(&text, req_te), Some(1.0), "{text}");
    assert!(!text.contains("evil"), "raw input became a label: {text}");
    assert!(!text.contains("nope"), "raw input became a label: {text}");
    let ready = r#"switchboard_upstream_state{upstream="fx",state="ready"}"#;
    assert_eq!(value(&text, ready), Some(1.0), "{text}");
    assert_eq!(
        value(&text, r#"switchboard_inflight_calls{upstream="fx"}"#),
        Some(0.0)
    );
    assert!(text.contains("process_resident_memory_bytes "), "{text}");
    assert!(text.contains("process_cpu_seconds_total "), "{text}");
    // /status shows the same calls per upstream, with in-flight and recent latency.
    let st = gw.status().await;
    let fx = &st["upstreams"][0];
    assert_eq!(fx["inflight"], 0, "{st}");
    assert_eq!(fx["latency"]["calls"], 4, "{st}");
    assert!(fx["latency"]["p99_ms"].as_f64().is_some(), "{st}");
}

/// Every `switchboard_*` / `process_*` name the shipped dashboard and alert rules use exists in
/// a real scrape (histogram `_bucket`/`_sum`/`_count` names included as exposed).
#[tokio::test]
async fn dashboard_and_alerts_use_only_metrics_that_exist() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let s = gw.initialize().await;
    s.call_tool("fx__test_simple_text", "{}").await;
    let text = scrape(&gw).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0;
    for file in [
        "deploy/grafana/switchboard.json",
        "deploy/prometheus/alerts.yml",
    ] {
        let body = std::fs::read_to_string(root.join(file)).unwrap();
        for name in names(&body) {
            checked += 1;
            let exposed = text.lines().any(|l| {
                !l.starts_with('#')
                    && l.strip_prefix(name.as_str())
                        .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
            });
            assert!(
                exposed,
                "{file} uses {name}, which /metrics does not expose:\n{text}"
            );
        }
    }
    assert!(checked > 10, "too few metric names found in deploy/");
}

fn names(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["switchboard_", "process_"] {
        let mut rest = body;
        while let Some(i) = rest.find(prefix) {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let before = rest[..i].chars().last();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.push(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
    }
    out.sort();
    out.dedup();
    out
}
