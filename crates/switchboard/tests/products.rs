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

const OVERRIDES: &str = r#"products:
  desk:
    status: published
    tools: ["fx__echo", "fx__mirror"]
    overrides:
      fx__echo:
        name: say
        title: Say it
        description: Says the message back
        annotations: { readOnlyHint: true }
      fx__mirror: { description: "Mirrors what it gets" }
"#;

/// Overrides: the product lists the new name, title, description and annotations; a call with
/// the new name reaches the original tool under its own name; the catalog name is not callable
/// there (while `/mcp` keeps it).
#[tokio::test]
async fn overrides_rename_and_describe_and_route_to_the_original_tool() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log))
        .extra(OVERRIDES)
        .start()
        .await;
    let s = open(&gw, "/mcp/v/desk").await;
    let r = request(&gw, "/mcp/v/desk", &s, "tools/list", json!({})).await;
    let tools = r.result()["tools"].as_array().unwrap().clone();
    assert_eq!(names(&r, "tools"), ["say", "fx__mirror"], "{}", r.text);
    assert_eq!(tools[0]["title"], "Say it");
    assert_eq!(tools[0]["description"], "Says the message back");
    assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);
    assert!(
        tools[0]["inputSchema"]["properties"]["message"].is_object(),
        "the schema is kept"
    );
    assert_eq!(tools[1]["description"], "Mirrors what it gets");

    let r = request(
        &gw,
        "/mcp/v/desk",
        &s,
        "tools/call",
        json!({"name": "say", "arguments": {"message": "renamed"}}),
    )
    .await;
    assert_eq!(r.result()["content"][0]["text"], "renamed", "{}", r.text);
    assert_eq!(
        support::tool_calls_on_wire(&log, "echo"),
        1,
        "sent as `echo`"
    );
    assert_eq!(support::tool_calls_on_wire(&log, "say"), 0);

    let r = request(
        &gw,
        "/mcp/v/desk",
        &s,
        "tools/call",
        json!({"name": "fx__echo", "arguments": {"message": "old name"}}),
    )
    .await;
    assert_eq!(r.error()["message"], "Unknown tool: fx__echo", "{}", r.text);
    assert_eq!(support::tool_calls_on_wire(&log, "echo"), 1);

    // `/mcp` is untouched by the product's overrides.
    let whole = gw.initialize().await;
    let all = names(&whole.request("tools/list", None).await, "tools");
    assert!(all.contains(&"fx__echo".to_owned()) && !all.contains(&"say".to_owned()));
}

/// Two tools under one name in one product: refused when the file is checked (naming both);
/// refused by a reload when only the live catalog shows it (the running products keep
/// serving); a glob that selects nothing is only a warning.
#[tokio::test]
async fn collisions_are_refused_and_empty_globs_only_warned_about() {
    let c = Config::new();
    let path = c.path("bad.yaml");
    std::fs::write(
        &path,
        "upstreams: {}\nproducts:\n  p:\n    tools: ['fx__*']\n    overrides:\n      fx__a: { name: x }\n      fx__b: { name: x }\n",
    )
    .unwrap();
    let (status, out, err) = support::run_gateway(
        &["check", "--config", path.to_str().unwrap()],
        support::PATIENCE,
    );
    assert_eq!(status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains("tools `fx__a` and `fx__b` would both be exposed as `x` in product `p`"),
        "{err}"
    );

    // With the catalog: `check --connect` warns about a glob that selects nothing.
    let c = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra("products:\n  p:\n    status: published\n    tools: ['fx__echo', 'nothing__*']\n");
    let file = c.write();
    let (status, out, err) = support::run_gateway(
        &["check", "--connect", "--config", file.to_str().unwrap()],
        support::PATIENCE,
    );
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains("warning: product p: `tools` glob `nothing__*` selects nothing"),
        "{out}"
    );

    // A rename onto a tool the product keeps, known only from the live catalog: the reload
    // is refused and the running product keeps serving as it was.
    let mut gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(OVERRIDES)
        .start()
        .await;
    let s = open(&gw, "/mcp/v/desk").await;
    gw.config.extra = "products:\n  desk:\n    status: published\n    tools: [fx__echo, fx__mirror]\n    overrides:\n      fx__echo: { name: fx__mirror }\n".to_owned();
    let next = gw.config.yaml();
    std::fs::write(gw.config.path("switchboard.yaml"), next).unwrap();
    gw.signal("HUP");
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !gw.stderr().contains("products not reloaded") {
        assert!(std::time::Instant::now() < deadline, "{}", gw.stderr());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        gw.stderr()
            .contains("tools `fx__echo` and `fx__mirror` would both be exposed as `fx__mirror`"),
        "{}",
        gw.stderr()
    );
    let r = request(&gw, "/mcp/v/desk", &s, "tools/list", json!({})).await;
    assert_eq!(names(&r, "tools"), ["say", "fx__mirror"], "{}", r.text);
}

/// A product's `scopes`: a caller without them is refused at the product (403, -31041, naming
/// the scope) as by any scope check; with them it is served; `/mcp` does not need them.
#[tokio::test]
async fn a_products_scopes_are_required_at_its_endpoint() {
    let base = "mcp.tools.read,mcp.invoke";
    let (plain, e1) = support::create_key("plain", base);
    let (member, e2) = support::create_key("member", &format!("{base},desk.use"));
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra("products:\n  desk:\n    status: published\n    tools: ['fx__echo']\n    scopes: [desk.use]\n")
        .extra(&format!("auth:\n  api_keys:\n    {e1}\n    {e2}\n"))
        .start()
        .await;
    let bearer = |k: &str| format!("Bearer {k}");
    let r = post(
        &gw,
        "/mcp/v/desk",
        initialize_body(1),
        &[("authorization", &bearer(&plain))],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.error()["code"], -31041);
    assert_eq!(r.error()["data"]["category"], "scope");
    assert_eq!(r.error()["data"]["required_scopes"], json!(["desk.use"]));
    let r = post(
        &gw,
        "/mcp/v/desk",
        initialize_body(1),
        &[("authorization", &bearer(&member))],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // `/mcp` needs only the method scopes.
    gw.try_initialize(&[("authorization", &bearer(&plain))])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
}

/// A product's catalog follows its upstreams: an upstream added by a reload whose tools the
/// product selects reaches the product's sessions as `notifications/tools/list_changed`, and
/// its list then has them.
#[tokio::test]
async fn a_products_sessions_hear_list_changed_when_upstreams_change() {
    let mut gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra("products:\n  echoes:\n    status: published\n    tools: ['*__echo']\n")
        .start()
        .await;
    let s = open(&gw, "/mcp/v/echoes").await;
    let stream = gw
        .client
        .get(gw.url("/mcp/v/echoes"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s)
        .header("mcp-protocol-version", PROTOCOL)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut stream = support::SseStream::new(stream);
    gw.config.upstreams.push(Upstream::fixture("fy"));
    std::fs::write(gw.config.path("switchboard.yaml"), gw.config.yaml()).unwrap();
    gw.signal("HUP");
    stream
        .wait_for(support::PATIENCE, |m| {
            m["method"] == "notifications/tools/list_changed"
        })
        .await;
    let r = request(&gw, "/mcp/v/echoes", &s, "tools/list", json!({})).await;
    assert_eq!(names(&r, "tools"), ["fx__echo", "fy__echo"], "{}", r.text);
}

/// `mode: search` over a catalog of three upstreams: the endpoint lists only `search_tools` and
/// `call_tool`; a search returns full definitions, best match first; `call_tool` reaches the
/// tool. Both obey the policy: a tool the caller may not call is never found, and calling it
/// is answered exactly like calling a name that does not exist. `/mcp` takes `mode` from the
/// top of the file.
#[tokio::test]
async fn search_mode_finds_and_calls_only_what_the_caller_may_call() {
    let base = "mcp.tools.read,mcp.invoke";
    let (reader, e1) = support::create_key("reader", base);
    let (tester, e2) = support::create_key("tester", &format!("{base},fx.test"));
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(
            Upstream::fixture("fx")
                .log(&log)
                .setting("tool_scopes: { \"test_*\": fx.test }"),
        )
        .upstream(Upstream::fixture("fy"))
        .upstream(Upstream::fixture("fz"))
        .extra("mode: search\nproducts:\n  finder:\n    status: published\n    tools: ['*']\n    mode: search\n")
        .extra(&format!("auth:\n  api_keys:\n    {e1}\n    {e2}\n"))
        .start()
        .await;
    let open_as = |key: &str| {
        let bearer = format!("Bearer {key}");
        let gw = &gw;
        async move {
            let r = post(
                gw,
                "/mcp/v/finder",
                initialize_body(1),
                &[("authorization", &bearer)],
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let id = r.header("mcp-session-id").unwrap().to_owned();
            (id, bearer)
        }
    };
    let call = |s: &(String, String), method: &str, params: Value| {
        let body =
            json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params}).to_string();
        let headers = [
            ("mcp-session-id", s.0.clone()),
            ("mcp-protocol-version", PROTOCOL.to_owned()),
            ("authorization", s.1.clone()),
        ];
        let gw = &gw;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(gw, "/mcp/v/finder", body, &h).await
        }
    };
    let found = |r: &Reply| -> Vec<String> {
        let tools = r.result()["structuredContent"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.text))
            .clone();
        let text: Value =
            serde_json::from_str(r.result()["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            text["tools"],
            Value::from(tools.clone()),
            "text mirrors structuredContent"
        );
        tools
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let tester_s = open_as(&tester).await;
    let reader_s = open_as(&reader).await;
    let r = call(&tester_s, "tools/list", json!({})).await;
    assert_eq!(
        names(&r, "tools"),
        ["search_tools", "call_tool"],
        "{}",
        r.text
    );

    let r = call(
        &tester_s,
        "tools/call",
        json!({"name": "search_tools", "arguments": {"query": "echo", "limit": 3}}),
    )
    .await;
    let hits = found(&r);
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits.iter().all(|h| h.ends_with("__echo")), "{hits:?}");
    assert!(
        r.result()["structuredContent"]["tools"][0]["inputSchema"]["properties"]["message"]
            .is_object(),
        "full definitions: {}",
        r.text
    );

    // The tester may call fx__test_*, the reader may not: never found, and a call is unknown.
    let q = json!({"name": "search_tools", "arguments": {"query": "fx__test_simple_text", "limit": 50}});
    let hits = found(&call(&tester_s, "tools/call", q.clone()).await);
    assert_eq!(
        hits[0], "fx__test_simple_text",
        "exact name first: {hits:?}"
    );
    let hits = found(&call(&reader_s, "tools/call", q).await);
    assert!(!hits.iter().any(|h| h.starts_with("fx__test_")), "{hits:?}");
    let hidden = call(
        &reader_s,
        "tools/call",
        json!({"name": "call_tool", "arguments": {"name": "fx__test_simple_text"}}),
    )
    .await;
    let unknown = call(
        &reader_s,
        "tools/call",
        json!({"name": "call_tool", "arguments": {"name": "fx__no_such_tool"}}),
    )
    .await;
    assert_eq!(
        hidden.error()["code"],
        unknown.error()["code"],
        "{}",
        hidden.text
    );
    assert_eq!(
        hidden.error()["message"],
        "Unknown tool: fx__test_simple_text"
    );
    assert_eq!(support::tool_calls_on_wire(&log, "test_simple_text"), 0);

    // call_tool reaches the tool; the tools themselves are not callable by name here.
    let r = call(&reader_s, "tools/call", json!({"name": "call_tool", "arguments": {"name": "fx__echo", "arguments": {"message": "via meta"}}})).await;
    assert_eq!(r.result()["content"][0]["text"], "via meta", "{}", r.text);
    assert_eq!(support::tool_calls_on_wire(&log, "echo"), 1);
    let r = call(
        &reader_s,
        "tools/call",
        json!({"name": "fx__echo", "arguments": {"message": "x"}}),
    )
    .await;
    assert_eq!(r.error()["message"], "Unknown tool: fx__echo", "{}", r.text);
    let r = call(
        &reader_s,
        "tools/call",
        json!({"name": "search_tools", "arguments": {"limit": 0}}),
    )
    .await;
    assert_eq!(r.error()["code"], -32602, "{}", r.text);

    // `/mcp` follows the top-level `mode: search`.
    let whole = gw
        .try_initialize(&[("authorization", &format!("Bearer {tester}"))])
        .await
        .unwrap_or_else(|r| panic!("{}", r.text));
    let r = whole.request("tools/list", None).await;
    assert_eq!(
        names(&r, "tools"),
        ["search_tools", "call_tool"],
        "{}",
        r.text
    );
}

/// In search mode the audit record names the tool a `call_tool` ran (and hashes its
/// arguments), not `call_tool`; so does the per-tool rate limit, which counts that tool.
#[tokio::test]
async fn search_mode_audits_and_rate_limits_the_tool_that_ran() {
    let c = Config::new();
    let log = c.path("audit.jsonl");
    let gw = c
        .upstream(Upstream::fixture("fx"))
        .extra("mode: search\nlimits:\n  rate: { per_tool: 2/m }\n")
        .extra(&format!(
            "audit:\n  file: {{ path: {} }}\n",
            support::q(&log.display().to_string())
        ))
        .start()
        .await;
    let s = gw.initialize().await;
    let r = s
        .call_tool(
            "call_tool",
            &json!({"name": "fx__echo", "arguments": {"message": "a"}}).to_string(),
        )
        .await;
    assert_eq!(r.result()["content"][0]["text"], "a", "{}", r.text);

    let deadline = std::time::Instant::now() + support::PATIENCE;
    let record: Value = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break serde_json::from_str(line).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no audit record");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(record["name"], "fx__echo", "{record}");
    assert_eq!(record["upstream"], "fx", "{record}");
    assert_eq!(record["outcome"], "ok", "{record}");

    // Two calls of fx__echo per minute: the third through call_tool is refused, while another
    // tool through the same meta-tool is not.
    let r = s
        .call_tool(
            "call_tool",
            &json!({"name": "fx__echo", "arguments": {"message": "b"}}).to_string(),
        )
        .await;
    assert_eq!(r.result()["content"][0]["text"], "b", "{}", r.text);
    let r = s
        .call_tool(
            "call_tool",
            &json!({"name": "fx__echo", "arguments": {"message": "c"}}).to_string(),
        )
        .await;
    assert_eq!(r.error()["code"], -31042, "{}", r.text);
    let r = s
        .call_tool(
            "call_tool",
            &json!({"name": "fx__test_simple_text", "arguments": {}}).to_string(),
        )
        .await;
    assert!(r.result()["content"].is_array(), "{}", r.text);
}
