//! The `prometheus` built-in connector against a real Prometheus (the Debian `prometheus`
//! package) on a loopback port, which scrapes the gateway's own `/metrics` and itself. Every
//! call goes through the real gateway binary as an MCP `tools/call` over `/mcp`: real PromQL,
//! an invalid query (Prometheus' own error as an `isError` result), a range with too many
//! points (refused with the smallest step that fits), and an answer too large to pass whole
//! (summarised, saying what was omitted).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Config, Session, Upstream};

fn text(r: &Value) -> &str {
    r["content"][0]["text"].as_str().unwrap_or_default()
}

/// Calls a tool and returns its result (panicking on a JSON-RPC error).
async fn call(s: &Session<'_>, tool: &str, args: &str) -> Value {
    let r = s.call_tool(tool, args).await;
    assert!(
        r.response().is_some_and(|v| v.get("result").is_some()),
        "{tool} {args}: {}",
        r.text
    );
    r.result()
}

#[tokio::test]
async fn prometheus_connector_answers_real_promql_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let prom_port = support::free_port();
    let gw_addr: std::net::SocketAddr = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\nscrape_configs:\n  - job_name: switchboard\n    static_configs:\n      - targets: [\"{gw_addr}\"]\n  - job_name: prometheus\n    static_configs:\n      - targets: [\"127.0.0.1:{prom_port}\"]\n"
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the prometheus binary (Debian package `prometheus`)");
    let _prometheus = support::Killed(child);

    let gw = Config::new()
        .listen(gw_addr)
        .upstream(Upstream::command("prom", "", &[]).setting(&format!(
            "prometheus: {{ url: \"http://127.0.0.1:{prom_port}\", timeout: 10s }}"
        )))
        .start()
        .await;
    let s = gw.initialize().await;

    // The catalog: nine tools under the upstream's prefix, read-only, each with an output schema.
    let list = s.request("tools/list", None).await.result();
    let tools: Vec<&Value> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("prom__"))
        .collect();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for want in [
        "prom__query",
        "prom__query_range",
        "prom__series",
        "prom__label_names",
        "prom__label_values",
        "prom__metadata",
        "prom__targets",
        "prom__alerts",
        "prom__rules",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for t in &tools {
        assert_eq!(t["annotations"]["readOnlyHint"], true, "{t}");
        assert_eq!(t["outputSchema"]["type"], "object", "{t}");
    }

    // Real PromQL: wait until Prometheus has scraped the gateway.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = call(&s, "prom__query", r#"{"query":"up"}"#).await;
        if r["isError"] == false && r["structuredContent"]["series_total"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped both targets: {r}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let up = call(&s, "prom__query", r#"{"query":"up{job=\"switchboard\"}"}"#).await;
    let sc = &up["structuredContent"];
    assert_eq!(sc["resultType"], "vector");
    assert_eq!(sc["result"][0]["metric"]["job"], "switchboard");
    assert_eq!(sc["result"][0]["value"][1], "1");
    assert!(text(&up).contains("up{"), "{}", text(&up));
    assert!(text(&up).contains("=> 1 @ "), "{}", text(&up));

    // An aggregation and a scalar.
    let r = call(&s, "prom__query", r#"{"query":"count by (job) (up)"}"#).await;
    assert_eq!(r["structuredContent"]["series_total"], 2, "{r}");
    let r = call(&s, "prom__query", r#"{"query":"scalar(vector(42))"}"#).await;
    assert_eq!(r["structuredContent"]["resultType"], "scalar", "{r}");
    assert_eq!(r["structuredContent"]["result"][1], "42", "{r}");

    // An invalid query: Prometheus' own message, as an isError result (not a protocol error).
    let r = call(&s, "prom__query", r#"{"query":"sum(rate(up[5m]"}"#).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("HTTP 400"), "{}", text(&r));
    assert!(text(&r).contains("bad_data"), "{}", text(&r));
    assert!(text(&r).contains("parse error"), "{}", text(&r));

    // A range query with a chosen step.
    let r = call(&s, "prom__query_range", r#"{"query":"up","start":"5m"}"#).await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(
        r["structuredContent"]["step"], 2.0,
        "5m / 250 points rounds up to 2s: {r}"
    );
    assert!(
        r["structuredContent"]["points_total"].as_u64().unwrap() > 0,
        "{r}"
    );

    // Too many points: refused before Prometheus is asked, saying which step would fit.
    let r = call(
        &s,
        "prom__query_range",
        r#"{"query":"up","start":"30d","step":"1s"}"#,
    )
    .await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        text(&r).contains("2592001 points per series"),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains("limit of 11000"), "{}", text(&r));
    assert!(text(&r).contains("at least 236s"), "{}", text(&r));

    // An answer too large to pass whole: whole series are kept up to the sample budget, and
    // both the text and the structured content say how many series and points were left out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = call(
        &s,
        "prom__query_range",
        r#"{"query":"{__name__=~\".+\"}","start":"30s","step":"10ms"}"#,
    )
    .await;
    assert_eq!(r["isError"], false, "{}", text(&r));
    let sc = &r["structuredContent"];
    let omitted = sc["series_omitted"].as_u64().unwrap();
    assert!(omitted > 0, "expected a summary: {}", text(&r));
    assert!(sc["points_omitted"].as_u64().unwrap() > 0);
    assert_eq!(
        sc["series_total"].as_u64().unwrap(),
        sc["result"].as_array().unwrap().len() as u64 + omitted
    );
    assert!(
        text(&r).contains(&format!("summarised: {omitted} of ")),
        "{}",
        text(&r)
    );

    // The metadata endpoints.
    let r = call(&s, "prom__label_values", r#"{"label":"job"}"#).await;
    let values = r["structuredContent"]["values"].as_array().unwrap();
    assert!(values.contains(&Value::from("switchboard")), "{r}");
    let r = call(&s, "prom__label_names", "{}").await;
    assert!(
        r["structuredContent"]["names"]
            .as_array()
            .unwrap()
            .contains(&Value::from("instance")),
        "{r}"
    );
    let r = call(&s, "prom__series", r#"{"match":["up"]}"#).await;
    assert_eq!(r["structuredContent"]["total"], 2, "{r}");
    let r = call(&s, "prom__targets", "{}").await;
    assert_eq!(r["structuredContent"]["active_total"], 2, "{r}");
    assert!(
        text(&r).contains(&format!("up http://{gw_addr}/metrics")),
        "{}",
        text(&r)
    );
    let r = call(&s, "prom__metadata", r#"{"metric":"go_goroutines"}"#).await;
    assert!(
        text(&r).contains("go_goroutines (gauge): Number of goroutines"),
        "{}",
        text(&r)
    );
    let r = call(&s, "prom__alerts", "{}").await;
    assert_eq!(
        r["structuredContent"]["alerts"],
        serde_json::json!([]),
        "{r}"
    );
    let r = call(&s, "prom__rules", "{}").await;
    assert_eq!(
        r["structuredContent"]["groups"],
        serde_json::json!([]),
        "{r}"
    );

    // Arguments that do not fit: JSON-RPC -32602, like any MCP server.
    let r = s.call_tool("prom__query", r#"{"querry":"up"}"#).await;
    let e = r.assert_error(200, -32602);
    assert!(e["message"].as_str().unwrap().contains("`querry`"), "{e}");
    let r = s
        .call_tool("prom__label_values", r#"{"label":"a/b"}"#)
        .await;
    r.assert_error(200, -32602);

    // The calls were counted like any upstream's.
    let metrics = gw
        .client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "switchboard_tool_calls_total{upstream=\"prom\",tool=\"query\",outcome=\"ok\"}"
        ),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("prom"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
