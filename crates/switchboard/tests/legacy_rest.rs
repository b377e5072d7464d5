//! The legacy REST routes (`GET /v1/mcp/tools`, `POST /v1/mcp/invoke`, and the same per
//! product) end to end: the real gateway and the fixture upstream. They are answered by the MCP
//! pipeline, so policy, scopes, idempotency and audit hold as on `/mcp`; every answer carries
//! `Deprecation`, `Sunset`, `Link` and (when one was served) `Switchboard-Version`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Config, Gateway, PATIENCE, Upstream, create_key, fx_config, tool_calls_on_wire};

const SUNSET_YAML: &str = "http:\n  legacy_rest: { sunset: 2027-01-31 }\n";
const SUNSET: &str = "Sun, 31 Jan 2027 00:00:00 GMT";
const VERSION: &str = "2026-12-01";

/// One REST answer.
struct Rest {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Rest {
    async fn read(r: reqwest::Response) -> Rest {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Rest {
            status,
            headers,
            body,
            text,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The deprecation headers every legacy answer carries.
    fn assert_deprecated(&self, successor: &str) {
        assert_eq!(self.header("deprecation"), Some("true"), "{}", self.text);
        assert_eq!(self.header("sunset"), Some(SUNSET), "{}", self.text);
        assert_eq!(
            self.header("link"),
            Some(format!("<{successor}>; rel=\"successor-version\"").as_str()),
            "{}",
            self.text
        );
        assert!(self.header("x-request-id").is_some());
    }

    /// An error answer: `{"error": {code, message, data: {request_id, …}}}` with the request id
    /// of the `X-Request-Id` header.
    fn assert_error(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        let e = &self.body["error"];
        assert!(e["code"].is_i64(), "{}", self.text);
        assert!(e["message"].is_string(), "{}", self.text);
        assert_eq!(
            e["data"]["request_id"].as_str(),
            self.header("x-request-id"),
            "{}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.text
        );
        e
    }

    fn names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{} {}", self.status, self.text))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Rest {
    let r = gw
        .client
        .get(gw.url(path))
        .headers(support::header_map(headers))
        .send()
        .await
        .unwrap();
    Rest::read(r).await
}

async fn invoke(gw: &Gateway, path: &str, body: &str, headers: &[(&str, &str)]) -> Rest {
    let r = gw
        .client
        .post(gw.url(path))
        .header("content-type", "application/json")
        .headers(support::header_map(headers))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Rest::read(r).await
}

#[tokio::test]
async fn answers_carry_the_deprecation_headers_on_success_and_error() {
    let (c, _) = fx_config();
    let gw = c.extra(SUNSET_YAML).start().await;

    let list = get(&gw, "/v1/mcp/tools", &[]).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.assert_deprecated("/mcp");
    assert_eq!(list.header("switchboard-version"), Some(VERSION));
    assert!(list.names().contains(&"fx__echo".to_owned()));
    let schema = list.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "fx__echo")
        .unwrap();
    assert!(schema["inputSchema"].is_object(), "tools as MCP lists them");

    let unknown = invoke(&gw, "/v1/mcp/invoke", r#"{"name":"fx__nope"}"#, &[]).await;
    // Unknown tools are `not_found` in the catalogue, so REST says 404.
    let e = unknown.assert_error(404);
    assert!(e["message"].as_str().unwrap().contains("fx__nope"), "{e}");
    assert_eq!(e["data"]["category"], "not_found", "{e}");
    unknown.assert_deprecated("/mcp");
    assert_eq!(unknown.header("switchboard-version"), Some(VERSION));

    let nowhere = get(&gw, "/v1/mcp/nothing", &[]).await;
    nowhere.assert_error(404);
    nowhere.assert_deprecated("/mcp");
    assert_eq!(nowhere.body["error"]["data"]["category"], "not_found");

    let wrong_verb = get(&gw, "/v1/mcp/invoke", &[]).await;
    wrong_verb.assert_error(405);
    wrong_verb.assert_deprecated("/mcp");
    assert_eq!(wrong_verb.header("allow"), Some("POST"));
}

#[tokio::test]
async fn routes_that_are_off_are_not_there() {
    let (c, _) = fx_config();
    let gw = c
        .extra("http:\n  legacy_rest: { enabled: false }\n")
        .start()
        .await;
    let r = get(&gw, "/v1/mcp/tools", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.header("deprecation").is_none());
}

#[tokio::test]
async fn invoke_reaches_the_upstream_and_returns_the_tool_result() {
    let (c, log) = fx_config();
    let gw = c.extra(SUNSET_YAML).start().await;
    let r = invoke(
        &gw,
        "/v1/mcp/invoke",
        r#"{"name":"fx__echo","arguments":{"message":"through REST"}}"#,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_deprecated("/mcp");
    assert_eq!(
        r.body,
        json!({"content": [{"type": "text", "text": "through REST"}]})
    );
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);
    // The upstream got exactly the arguments, under its own name.
    let line = support::log_lines(&log)
        .into_iter()
        .find(|l| l.contains("\"tools/call\""))
        .unwrap();
    let sent: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(sent["params"]["name"], "echo");
    assert_eq!(
        sent["params"]["arguments"],
        json!({"message": "through REST"})
    );

    // A tool's own failure is a result, not an HTTP error.
    let failed = invoke(
        &gw,
        "/v1/mcp/invoke",
        r#"{"name":"fx__test_error_handling"}"#,
        &[],
    )
    .await;
    assert_eq!(failed.status, 200, "{}", failed.text);
    assert_eq!(failed.body["isError"], true, "{}", failed.text);
}

#[tokio::test]
async fn lists_and_calls_obey_policy_and_scopes() {
    let (reader, e1) = create_key("reader", "mcp.tools.read,mcp.invoke");
    let (trusted, e2) = create_key("trusted", "mcp.tools.read,mcp.invoke,fx.read");
    let (blind, e3) = create_key("blind", "mcp.invoke");
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(
            Upstream::fixture("fx")
                .log(&log)
                .setting("scopes: [fx.read]"),
        )
        .upstream(Upstream::fixture("open"))
        .extra(&format!(
            "{SUNSET_YAML}auth:\n  api_keys:\n    {e1}\n    {e2}\n    {e3}\n"
        ))
        .start()
        .await;
    let bearer = |k: &str| format!("Bearer {k}");

    let none = get(&gw, "/v1/mcp/tools", &[]).await;
    none.assert_error(401);
    none.assert_deprecated("/mcp");
    assert!(none.header("www-authenticate").is_some());

    let r = get(&gw, "/v1/mcp/tools", &[("authorization", &bearer(&reader))]).await;
    let names = r.names();
    assert!(names.contains(&"open__echo".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("fx__")), "{names:?}");
    let r = get(
        &gw,
        "/v1/mcp/tools",
        &[("authorization", &bearer(&trusted))],
    )
    .await;
    assert!(r.names().contains(&"fx__echo".to_owned()));

    // A tool the caller may not see is answered like one that does not exist.
    let hidden = invoke(
        &gw,
        "/v1/mcp/invoke",
        r#"{"name":"fx__echo","arguments":{}}"#,
        &[("authorization", &bearer(&reader))],
    )
    .await;
    let unknown = invoke(
        &gw,
        "/v1/mcp/invoke",
        r#"{"name":"fx__absent","arguments":{}}"#,
        &[("authorization", &bearer(&reader))],
    )
    .await;
    assert_eq!(hidden.status, unknown.status, "{}", hidden.text);
    assert_eq!(hidden.body["error"]["code"], unknown.body["error"]["code"]);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 0);

    // A missing scope is 403 naming it.
    let r = get(&gw, "/v1/mcp/tools", &[("authorization", &bearer(&blind))]).await;
    let e = r.assert_error(403);
    assert_eq!(
        e["data"]["required_scopes"],
        json!(["mcp.tools.read"]),
        "{e}"
    );
    assert_eq!(r.header("x-required-scopes"), Some("mcp.tools.read"));
    r.assert_deprecated("/mcp");

    let ok = invoke(
        &gw,
        "/v1/mcp/invoke",
        r#"{"name":"fx__echo","arguments":{"message":"allowed"}}"#,
        &[("authorization", &bearer(&trusted))],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);
}

#[tokio::test]
async fn an_idempotency_key_replays_through_rest() {
    let (c, log) = fx_config();
    let gw = c.extra(SUNSET_YAML).start().await;
    let body = r#"{"name":"fx__echo","arguments":{"message":"once"}}"#;
    let first = invoke(
        &gw,
        "/v1/mcp/invoke",
        body,
        &[("idempotency-key", "order-1")],
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(first.header("idempotent-replayed").is_none());
    let again = invoke(
        &gw,
        "/v1/mcp/invoke",
        body,
        &[("idempotency-key", "order-1")],
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["content"], first.body["content"]);
    again.assert_deprecated("/mcp");
    assert_eq!(
        tool_calls_on_wire(&log, "echo"),
        1,
        "a replay never reaches the upstream"
    );

    let other = r#"{"name":"fx__echo","arguments":{"message":"twice"}}"#;
    let conflict = invoke(
        &gw,
        "/v1/mcp/invoke",
        other,
        &[("idempotency-key", "order-1")],
    )
    .await;
    conflict.assert_error(409);
    conflict.assert_deprecated("/mcp");
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);

    let bad = invoke(
        &gw,
        "/v1/mcp/invoke",
        body,
        &[("idempotency-key", &"k".repeat(256))],
    )
    .await;
    bad.assert_error(400);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);
}

#[tokio::test]
async fn a_version_pin_is_echoed_or_refused_with_the_supported_list() {
    let (c, _) = fx_config();
    let gw = c.extra(SUNSET_YAML).start().await;
    let pinned = get(&gw, "/v1/mcp/tools", &[("switchboard-version", VERSION)]).await;
    assert_eq!(pinned.status, 200, "{}", pinned.text);
    assert_eq!(pinned.header("switchboard-version"), Some(VERSION));

    for (pin, says) in [
        ("2026-13-01", "YYYY-MM-DD"),
        ("12/01/2026", "YYYY-MM-DD"),
        ("latest", "YYYY-MM-DD"),
        ("2020-01-01", "not a version"),
        ("2099-12-31", "not a version"),
    ] {
        let r = get(&gw, "/v1/mcp/tools", &[("switchboard-version", pin)]).await;
        let e = r.assert_error(400);
        assert!(e["message"].as_str().unwrap().contains(says), "{pin}: {e}");
        assert_eq!(e["data"]["supported"], json!([VERSION]), "{e}");
        assert_eq!(e["data"]["requested"], pin, "{e}");
        assert_eq!(e["data"]["category"], "invalid_request", "{e}");
        r.assert_deprecated("/mcp");
        assert!(
            r.header("switchboard-version").is_none(),
            "nothing was served"
        );
    }
    // Refused before anything else: the invoke is never made.
    let r = invoke(
        &gw,
        "/v1/mcp/invoke",
        r#"{"name":"fx__echo"}"#,
        &[("switchboard-version", "2026-12")],
    )
    .await;
    r.assert_error(400);
}

#[tokio::test]
async fn a_body_that_is_not_an_invocation_is_400_saying_why() {
    let (c, log) = fx_config();
    let gw = c.extra(SUNSET_YAML).start().await;
    for (body, says) in [
        ("not json", "expected"),
        (r#"{"name": 5}"#, "invalid type"),
        (r#"{"arguments": {}}"#, "missing field `name`"),
        (
            r#"{"name": "fx__echo", "args": {}}"#,
            "unknown field `args`",
        ),
        (
            r#"{"name": "fx__echo", "arguments": [1]}"#,
            "must be a JSON object",
        ),
        (r#"{"name": ""}"#, "`name` is empty"),
    ] {
        let r = invoke(&gw, "/v1/mcp/invoke", body, &[]).await;
        let e = r.assert_error(400);
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
        assert!(
            message.contains(r#"{"name": "<tool>""#),
            "{body}: {message}"
        );
        assert_eq!(e["data"]["category"], "invalid_request", "{e}");
        r.assert_deprecated("/mcp");
    }
    let r = invoke(
        &gw,
        "/v1/mcp/invoke",
        r#"{"name":"fx__echo"}"#,
        &[("content-type", "text/plain")],
    )
    .await;
    r.assert_error(415);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 0);
}

#[tokio::test]
async fn a_product_has_its_own_routes() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log))
        .extra(&format!(
            "{SUNSET_YAML}products:\n  reads:\n    status: published\n    tools: [\"fx__echo\"]\n  wip:\n    status: draft\n    tools: [\"*\"]\n"
        ))
        .start()
        .await;
    let r = get(&gw, "/v1/mcp/v/reads/tools", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.names(), ["fx__echo"]);
    r.assert_deprecated("/mcp/v/reads");

    let outside = invoke(
        &gw,
        "/v1/mcp/v/reads/invoke",
        r#"{"name":"fx__test_simple_text"}"#,
        &[],
    )
    .await;
    // A tool outside the product looks exactly like an unknown one.
    outside.assert_error(404);
    let inside = invoke(
        &gw,
        "/v1/mcp/v/reads/invoke",
        r#"{"name":"fx__echo","arguments":{"message":"product"}}"#,
        &[],
    )
    .await;
    assert_eq!(inside.status, 200, "{}", inside.text);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);
    assert_eq!(tool_calls_on_wire(&log, "test_simple_text"), 0);

    for path in ["/v1/mcp/v/nope/tools", "/v1/mcp/v/wip/tools"] {
        let r = get(&gw, path, &[]).await;
        let e = r.assert_error(404);
        assert_eq!(e["data"]["category"], "not_found", "{e}");
        r.assert_deprecated(&path.replace("/v1", "").replace("/tools", ""));
    }
}

/// The records in `path` once there are at least `n` (the writer is asynchronous).
async fn records(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(Instant::now() < deadline, "{n} records expected:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn calls_and_refusals_are_audited() {
    let (key, entry) = create_key("auditor", "mcp.tools.read,mcp.invoke");
    let c = Config::new();
    let audit = c.path("audit.jsonl");
    let gw = c
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "{SUNSET_YAML}auth:\n  api_keys:\n    {entry}\nproducts:\n  reads:\n    status: published\n    tools: [\"fx__echo\"]\naudit:\n  file: {{ path: {}, fsync: 100ms }}\n",
            support::q(&audit.display().to_string())
        ))
        .start()
        .await;
    let bearer = format!("Bearer {key}");
    let ok = invoke(
        &gw,
        "/v1/mcp/v/reads/invoke",
        r#"{"name":"fx__echo","arguments":{"message":"audited"}}"#,
        &[("authorization", &bearer), ("x-request-id", "rest-audit-1")],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let refused = get(
        &gw,
        "/v1/mcp/tools",
        &[("authorization", "Bearer sb_wrong")],
    )
    .await;
    refused.assert_error(401);

    let recs = records(&audit, 2).await;
    let call = recs
        .iter()
        .find(|r| r["request_id"] == "rest-audit-1")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(call["method"], "tools/call");
    assert_eq!(call["name"], "fx__echo");
    assert_eq!(call["upstream"], "fx");
    assert_eq!(call["product"], "reads");
    assert_eq!(call["principal"], "key:auditor");
    assert_eq!(call["verdict"], "allow");
    let denied = recs
        .iter()
        .find(|r| r["verdict"] == "deny")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(denied["principal"], "unauthenticated");
    assert_eq!(denied["method"], "GET /v1/mcp/tools");
    assert_eq!(denied["http_status"], 401);
}
