//! The `loki` built-in connector through the real gateway binary.
//!
//! Loki cannot be installed here from any package registry, so these tests run against a small
//! stand-in HTTP server inside the test that answers the way Loki's HTTP API is documented to
//! (https://grafana.com/docs/loki/latest/reference/loki-http-api/): `{"status":"success","data":…}`
//! bodies with `streams` results whose values are `["<unix ns>", "<line>"]` pairs, and a query
//! Loki cannot parse answered `400 Bad Request` with a plain-text body such as
//! `parse error at line 1, col 11: syntax error: unexpected $end`. The stand-in records each
//! request, so the tests also see what reached "Loki": the tenant header, credentials, and the
//! query parameters.

mod support;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::{Config, Session, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the stand-in received: path and query, and its headers (names lower-cased).
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded.
    fn param(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        reqwest::Url::parse(&format!("http://x/?{query}"))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What the stand-in answers for a request: status, content type, body.
fn answer(seen: &Seen) -> (u16, &'static str, String) {
    let path = seen.target.split('?').next().unwrap_or_default();
    let query = seen.param("query").unwrap_or_default();
    let ok = |data: Value| {
        (
            200,
            "application/json",
            json!({"status": "success", "data": data}).to_string(),
        )
    };
    match path {
        "/loki/api/v1/query_range" | "/loki/api/v1/query"
            if query.ends_with('}') && query.starts_with('{') =>
        {
            ok(json!({
                "resultType": "streams",
                // Loki answers each stream's entries in the order read; two streams interleave in time.
                "result": [
                    {"stream": {"app": "api", "level": "error"}, "values": [
                        ["1764950403000000000", "GET /orders 500 upstream timed out"],
                        ["1764950401000000000", "GET /orders 500 connection reset"]
                    ]},
                    {"stream": {"app": "api", "level": "info"}, "values": [
                        ["1764950402000000000", "GET /health 200"]
                    ]}
                ],
                "stats": {"summary": {"totalLinesProcessed": 3}}
            }))
        }
        "/loki/api/v1/query" if query.starts_with("sum(") => ok(json!({
            "resultType": "vector",
            "result": [{"metric": {"app": "api"}, "value": [1764950403.0, "7"]}]
        })),
        "/loki/api/v1/query_range" | "/loki/api/v1/query" => (
            400,
            "text/plain; charset=utf-8",
            "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,\n"
                .to_owned(),
        ),
        "/loki/api/v1/labels" => ok(json!(["app", "level", "namespace"])),
        "/loki/api/v1/label/level/values" => ok(json!(["error", "info", "warn"])),
        "/loki/api/v1/series" => {
            ok(json!([{"app": "api", "level": "error"}, {"app": "api", "level": "info"}]))
        }
        _ => (
            404,
            "text/plain; charset=utf-8",
            "404 page not found\n".to_owned(),
        ),
    }
}

/// Serves [`answer`] on a loopback port, recording every request.
async fn stand_in() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let mut lines = head.split("\r\n");
                let target = lines
                    .next()
                    .unwrap_or_default()
                    .split(' ')
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let headers = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let req = Seen { target, headers };
                let (status, ctype, body) = answer(&req);
                log.lock().unwrap().push(req);
                let reason = if status == 200 {
                    "OK"
                } else if status == 400 {
                    "Bad Request"
                } else {
                    "Not Found"
                };
                let resp = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn text(r: &Value) -> &str {
    r["content"][0]["text"].as_str().unwrap_or_default()
}

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
async fn loki_connector_reads_logs_newest_first_with_the_tenant_and_credentials() {
    let (url, seen) = stand_in().await;
    let gw = Config::new()
        .upstream(Upstream::command("logs", "", &[]).setting(&format!(
            "loki: {{ url: \"{url}\", tenant: team-a, basic_auth: {{ username: reader, password: \"${{LOKI_PASSWORD:-s3cret}}\" }} }}"
        )))
        .start()
        .await;
    let s = gw.initialize().await;

    let list = s.request("tools/list", None).await.result();
    let names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for want in [
        "logs__query",
        "logs__query_range",
        "logs__labels",
        "logs__label_values",
        "logs__series",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }

    // Log lines, newest first across streams, each with its timestamp and stream labels.
    let r = call(&s, "logs__query_range", r#"{"query":"{app=\"api\"}","start":"2025-12-05T15:00:00Z","end":"2025-12-05T16:00:00Z","limit":50,"direction":"forward"}"#).await;
    assert_eq!(r["isError"], false, "{r}");
    let lines: Vec<&str> = r["structuredContent"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "GET /orders 500 upstream timed out",
            "GET /health 200",
            "GET /orders 500 connection reset"
        ]
    );
    assert_eq!(
        r["structuredContent"]["lines"][0]["timestamp"],
        "2025-12-05T16:00:03Z"
    );
    assert_eq!(
        r["structuredContent"]["lines"][0]["labels"]["level"],
        "error"
    );
    assert_eq!(r["structuredContent"]["limit_reached"], false);
    let t = text(&r);
    assert!(t.contains("3 log lines from 2 streams"), "{t}");
    assert!(
        t.contains(
            "2025-12-05T16:00:03Z {app=\"api\", level=\"error\"} GET /orders 500 upstream timed out"
        ),
        "{t}"
    );

    // What reached Loki: the tenant, the credentials, nanosecond times, limit and direction.
    let req = seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        req.target.starts_with("/loki/api/v1/query_range?"),
        "{req:?}"
    );
    assert_eq!(req.header("x-scope-orgid"), Some("team-a"));
    // base64("reader:s3cret")
    assert_eq!(
        req.header("authorization"),
        Some("Basic cmVhZGVyOnMzY3JldA==")
    );
    assert_eq!(req.param("start").as_deref(), Some("1764946800000000000"));
    assert_eq!(req.param("end").as_deref(), Some("1764950400000000000"));
    assert_eq!(req.param("limit").as_deref(), Some("50"));
    assert_eq!(req.param("direction").as_deref(), Some("forward"));
    assert_eq!(req.param("query").as_deref(), Some("{app=\"api\"}"));

    // A limit that was reached says there may be more.
    let r = call(
        &s,
        "logs__query_range",
        r#"{"query":"{app=\"api\"}","limit":3}"#,
    )
    .await;
    assert_eq!(r["structuredContent"]["limit_reached"], true, "{r}");
    assert!(text(&r).contains("there may be more"), "{}", text(&r));

    // A LogQL error: Loki's plain-text 400, as an isError result.
    let r = call(&s, "logs__query_range", r#"{"query":"{app=\"api\""}"#).await;
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(
        text(&r),
        "Loki answered HTTP 400: parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"
    );

    // A metric query answers samples.
    let r = call(
        &s,
        "logs__query",
        r#"{"query":"sum(count_over_time({app=\"api\"}[5m]))"}"#,
    )
    .await;
    assert_eq!(r["structuredContent"]["resultType"], "vector", "{r}");
    assert_eq!(r["structuredContent"]["result"][0]["value"][1], "7", "{r}");

    // Labels, values, series.
    let r = call(&s, "logs__labels", "{}").await;
    assert_eq!(
        r["structuredContent"]["labels"],
        json!(["app", "level", "namespace"]),
        "{r}"
    );
    let r = call(&s, "logs__label_values", r#"{"label":"level"}"#).await;
    assert_eq!(
        r["structuredContent"]["values"],
        json!(["error", "info", "warn"]),
        "{r}"
    );
    let r = call(&s, "logs__series", r#"{"match":"{app=\"api\"}"}"#).await;
    assert_eq!(r["structuredContent"]["total"], 2, "{r}");
    assert!(
        text(&r).contains("{app=\"api\", level=\"info\"}"),
        "{}",
        text(&r)
    );
    let req = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(req.param("match[]").as_deref(), Some("{app=\"api\"}"));

    // Bad arguments never reach Loki.
    let before = seen.lock().unwrap().len();
    let r = s
        .call_tool(
            "logs__query_range",
            r#"{"query":"{a=\"b\"}","direction":"sideways"}"#,
        )
        .await;
    r.assert_error(200, -32602);
    let r = s
        .call_tool(
            "logs__query_range",
            r#"{"query":"{a=\"b\"}","limit":100000}"#,
        )
        .await;
    r.assert_error(200, -32602);
    assert_eq!(seen.lock().unwrap().len(), before);
}

#[tokio::test]
async fn an_unreachable_loki_is_an_error_result_not_a_broken_upstream() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = Config::new()
        .upstream(Upstream::command("logs", "", &[]).setting(&format!(
            "loki: {{ url: \"http://127.0.0.1:{port}\", timeout: 2s }}"
        )))
        .start()
        .await;
    let s = gw.initialize().await;
    let r = call(&s, "logs__labels", "{}").await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        text(&r).starts_with("Loki could not be reached"),
        "{}",
        text(&r)
    );
    // And the upstream itself stays ready.
    let status = gw.status().await;
    assert_eq!(status["upstreams"][0]["state"], "ready", "{status}");
    assert_eq!(status["upstreams"][0]["kind"], "loki", "{status}");
}
