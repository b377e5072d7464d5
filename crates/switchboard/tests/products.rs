//! Products: a published product is served at `/mcp/v/<id>` with the full MCP behaviour of
//! `/mcp`, narrowed to its selection; a draft or unknown id is 404; a session belongs to the
//! endpoint that opened it.

mod support;

use serde_json::{Value, json};
use support::{ACCEPT_BOTH, Config, Gateway, PROTOCOL, Reply, Upstream, initialize_body};

const PRODUCTS: &str = "products:\n  reads:\n    status: published\n    tools: [\"fx__echo\", \"fx__test_simple_*\"]\n    prompts: [\"fx__test_simple_prompt\"]\n  wip:\n    status: draft\n    tools: [\"*\"]\n";

async fn post(gw: &Gateway, path: &str, body: String, headers: &[(&str, &str)]) -> Reply {
    let rb = gw
        .client
        .post(gw.url(path))
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .body(body)
        .headers(support::header_map(headers));
    Reply::read(rb.send().await.expect("POST")).await
}

/// Opens a session at `path`: its id.
async fn open(gw: &Gateway, path: &str) -> String {
    let r = post(gw, path, initialize_body(1), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.header("mcp-session-id").expect("a session").to_owned();
    let n = post(
        gw,
        path,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
        &[("mcp-session-id", &id), ("mcp-protocol-version", PROTOCOL)],
    )
    .await;
    assert_eq!(n.status, 202, "{}", n.text);
    id
}

async fn request(gw: &Gateway, path: &str, session: &str, method: &str, params: Value) -> Reply {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string();
    post(
        gw,
        path,
        body,
        &[
            ("mcp-session-id", session),
            ("mcp-protocol-version", PROTOCOL),
        ],
    )
    .await
}

fn names(r: &Reply, field: &str) -> Vec<String> {
    r.result()[field]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_published_product_serves_its_selection_and_nothing_else() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log))
        .extra(PRODUCTS)
        .start()
        .await;

    let s = open(&gw, "/mcp/v/reads").await;
    let tools = names(
        &request(&gw, "/mcp/v/reads", &s, "tools/list", json!({})).await,
        "tools",
    );
    let mut expected = vec!["fx__echo".to_owned()];
    let whole = gw.initialize().await;
    let all: Vec<String> = names(&whole.request("tools/list", None).await, "tools");
    expected.extend(
        all.iter()
            .filter(|t| t.starts_with("fx__test_simple_"))
            .cloned(),
    );
    expected.sort();
    let mut sorted = tools.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "the product lists its selection");
    assert!(
        all.len() > tools.len() + 2,
        "the whole catalog has more: {all:?}"
    );
    let prompts = names(
        &request(&gw, "/mcp/v/reads", &s, "prompts/list", json!({})).await,
        "prompts",
    );
    assert_eq!(prompts, ["fx__test_simple_prompt"]);

    // Selected: served. Not selected: exactly as unknown, and nothing reaches the upstream.
    let r = request(
        &gw,
        "/mcp/v/reads",
        &s,
        "tools/call",
        json!({"name": "fx__echo", "arguments": {"message": "in product"}}),
    )
    .await;
    assert_eq!(r.result()["content"][0]["text"], "in product", "{}", r.text);
    let r = request(
        &gw,
        "/mcp/v/reads",
        &s,
        "tools/call",
        json!({"name": "fx__mirror", "arguments": {}}),
    )
    .await;
    assert_eq!(r.error()["code"], -32602, "{}", r.text);
    assert_eq!(r.error()["message"], "Unknown tool: fx__mirror");
    assert_eq!(support::tool_calls_on_wire(&log, "mirror"), 0);

    // The product's session is not a session of /mcp, nor of another product.
    let r = post(
        &gw,
        "/mcp",
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
        &[("mcp-session-id", &s), ("mcp-protocol-version", PROTOCOL)],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // A draft and an unknown id are alike: 404, for every verb.
    for path in ["/mcp/v/wip", "/mcp/v/nope", "/mcp/v/"] {
        let r = post(&gw, path, initialize_body(1), &[]).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }

    // A 2026-07-28 caller at the product gets the same selection.
    let modern = support::modern::body(7, "tools/list", json!({}), json!({}));
    let headers = support::modern::headers("tools/list", None);
    let r = post(&gw, "/mcp/v/reads", modern, &headers).await;
    let mut modern_tools = names(&r, "tools");
    modern_tools.sort();
    assert_eq!(modern_tools, expected, "{}", r.text);

    // DELETE ends the product's session at its own endpoint.
    let r = gw
        .client
        .delete(gw.url("/mcp/v/reads"))
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A call made at a product is audited with the product's id; one at `/mcp` with none.
#[tokio::test]
async fn audit_records_name_the_product_a_call_came_to() {
    let c = Config::new();
    let log = c.path("audit.jsonl");
    let gw = c
        .upstream(Upstream::fixture("fx"))
        .extra(PRODUCTS)
        .extra(&format!(
            "audit:\n  file: {{ path: {} }}\n",
            support::q(&log.display().to_string())
        ))
        .start()
        .await;
    let s = open(&gw, "/mcp/v/reads").await;
    let call = json!({"name": "fx__echo", "arguments": {"message": "p"}});
    let r = request(&gw, "/mcp/v/reads", &s, "tools/call", call.clone()).await;
    assert_eq!(r.result()["content"][0]["text"], "p", "{}", r.text);
    let whole = gw.initialize().await;
    whole.call_tool("fx__echo", r#"{"message":"w"}"#).await;

    let deadline = std::time::Instant::now() + support::PATIENCE;
    let records: Vec<Value> = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let recs: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if recs.len() >= 2 {
            break recs;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(records[0]["product"], "reads", "{}", records[0]);
    assert_eq!(records[1]["product"], Value::Null, "{}", records[1]);
}
