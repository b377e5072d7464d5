//! MCP 2026-07-28 on `/mcp`, over real sockets, in front of a handshake-era fixture: the era
//! classification of every request, each validation step with its status and code, the shape of
//! modern results (`server/discover`, `resultType`, cache hints, renumbered errors), opted-in
//! logging, progress on a per-request stream, closing a stream as cancellation, and
//! `subscriptions/listen` — all next to a handshake session that must not notice.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::modern::{V, assert_error, body, call, headers, meta};
use support::{Gateway, fx_config};

async fn started() -> (Gateway, std::path::PathBuf) {
    let (c, log) = fx_config();
    let gw = c.start().await;
    gw.wait_status("the fixture to be up", |st| {
        st["upstreams"][0]["state"] == "ready"
    })
    .await;
    (gw, log)
}

#[tokio::test]
async fn classification_and_validation_steps() {
    let (gw, _log) = started().await;
    let list = |id| body(id, "tools/list", json!({}), json!({}));

    // Neither a session nor modern markers: the handshake era's "send initialize first".
    let r = gw
        .post_raw(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            &[("mcp-protocol-version", "2025-11-25")],
        )
        .await;
    let e = assert_error(&r, 400, -32600, 1);
    assert!(e["message"].as_str().unwrap().contains("initialize"), "{e}");

    // A session and the modern version header contradict each other.
    let s = gw.initialize().await;
    let r = s
        .post_with(
            list(2),
            &[("mcp-protocol-version", V), ("mcp-method", "tools/list")],
        )
        .await;
    let e = assert_error(&r, 400, -32600, 2);
    assert!(
        e["message"].as_str().unwrap().contains("does not belong"),
        "{e}"
    );

    // V1: the modern header without `_meta`, then `_meta` lacking each required key.
    let r = gw
        .post_raw(
            r#"{"jsonrpc":"2.0","id":3,"method":"server/discover","params":{}}"#,
            &headers("server/discover", None),
        )
        .await;
    let e = assert_error(&r, 400, -32602, 3);
    assert_eq!(
        e["data"]["missing"],
        json!([
            "io.modelcontextprotocol/protocolVersion",
            "io.modelcontextprotocol/clientCapabilities"
        ])
    );
    let no_caps = json!({"jsonrpc":"2.0","id":4,"method":"server/discover",
        "params":{"_meta":{"io.modelcontextprotocol/protocolVersion": V}}});
    let r = gw
        .post_raw(no_caps.to_string(), &headers("server/discover", None))
        .await;
    let e = assert_error(&r, 400, -32602, 4);
    assert_eq!(
        e["data"]["missing"],
        json!(["io.modelcontextprotocol/clientCapabilities"])
    );
    // `clientInfo` is optional.
    let no_info = json!({"jsonrpc":"2.0","id":5,"method":"server/discover",
        "params":{"_meta":{"io.modelcontextprotocol/protocolVersion": V,
                           "io.modelcontextprotocol/clientCapabilities": {}}}});
    let r = gw
        .post_raw(no_info.to_string(), &headers("server/discover", None))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // V2: the version header is missing, or says something else than `_meta` (checked before
    // the version is judged).
    let r = gw.post_raw(list(6), &[("mcp-method", "tools/list")]).await;
    assert_error(&r, 400, -32020, 6);
    let odd = json!({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":
        {"io.modelcontextprotocol/protocolVersion":"v999.0.0","io.modelcontextprotocol/clientCapabilities":{}}}});
    let r = gw
        .post_raw(odd.to_string(), &headers("tools/list", None))
        .await;
    assert_error(&r, 400, -32020, 7);

    // V3: Mcp-Method missing, different, or different in case.
    for m in [None, Some("prompts/list"), Some("TOOLS/LIST")] {
        let mut h = vec![("mcp-protocol-version", V)];
        if let Some(m) = m {
            h.push(("mcp-method", m));
        }
        let r = gw.post_raw(list(8), &h).await;
        assert_error(&r, 400, -32020, 8);
    }

    // V4: an unknown version in both places, and a handshake revision without a session.
    let r = gw
        .post_raw(
            odd.to_string().replace("\"id\":7", "\"id\":9"),
            &[
                ("mcp-protocol-version", "v999.0.0"),
                ("mcp-method", "tools/list"),
            ],
        )
        .await;
    let e = assert_error(&r, 400, -32022, 9);
    assert_eq!(e["data"]["requested"], "v999.0.0");
    assert_eq!(
        e["data"]["supported"],
        json!(["2026-07-28", "2025-11-25", "2025-06-18"])
    );
    let old = odd.to_string().replace("v999.0.0", "2025-11-25");
    let r = gw
        .post_raw(
            old,
            &[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/list"),
            ],
        )
        .await;
    let e = assert_error(&r, 400, -32600, 7);
    assert!(e["message"].as_str().unwrap().contains("initialize"), "{e}");

    // V5: Mcp-Name missing, different, or badly encoded; a correct base64 form is accepted.
    let p = json!({"name": "fx__test_simple_text", "arguments": {}});
    let r = call(&gw, 10, "tools/call", p.clone(), None).await;
    assert_error(&r, 400, -32020, 10);
    let r = call(&gw, 11, "tools/call", p.clone(), Some("fx__other")).await;
    assert_error(&r, 400, -32020, 11);
    let r = call(
        &gw,
        12,
        "tools/call",
        p.clone(),
        Some("=?base64?ZnhfX3Rlc3Rfc2ltcGxlX3RleHQ?="),
    )
    .await;
    assert_error(&r, 400, -32020, 12);
    let r = call(
        &gw,
        13,
        "tools/call",
        p.clone(),
        Some("=?base64?ZnhfX3Rlc3Rfc2ltcGxlX3RleHQ=?="),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result()["resultType"], "complete", "{}", r.text);
    let r = call(
        &gw,
        14,
        "resources/read",
        json!({"uri": "test://static-text"}),
        Some("test://other"),
    )
    .await;
    assert_error(&r, 400, -32020, 14);

    // V7: methods the era removed, and unknown ones, are 404 -32601.
    for (i, m) in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "tasks/list",
        "unknown/method",
    ]
    .into_iter()
    .enumerate()
    {
        let id = 20 + i as u64;
        let r = gw
            .post_raw(
                body(id, m, json!({"uri": "test://static-text"}), json!({})),
                &headers(m, None),
            )
            .await;
        assert_error(&r, 404, -32601, id);
    }

    // Core tasks are gone; the answer says where they went.
    let r = gw
        .post_raw(
            body(30, "tasks/get", json!({"taskId": "t"}), json!({})),
            &headers("tasks/get", None),
        )
        .await;
    let e = assert_error(&r, 404, -32601, 30);
    assert!(e["message"].as_str().unwrap().contains("extension"), "{e}");

    // V0: a notification is accepted and ignored.
    let n = json!({"jsonrpc":"2.0","method":"notifications/cancelled",
        "params":{"requestId":1,"_meta":meta(json!({}))}});
    let r = gw
        .post_raw(n.to_string(), &headers("notifications/cancelled", None))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);

    // GET and DELETE belong to sessions: 405 for a modern client.
    let r = support::client()
        .get(gw.mcp())
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = support::client()
        .delete(gw.mcp())
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    // The handshake session from above never noticed any of this.
    let r = s.call_tool("fx__test_simple_text", "{}").await;
    assert!(r.result()["content"].is_array(), "{}", r.text);
    assert!(r.result().get("resultType").is_none(), "{}", r.text);
}

#[tokio::test]
async fn results_are_shaped_for_the_era() {
    let (gw, log) = started().await;

    let r = call(&gw, 1, "server/discover", json!({}), None).await;
    let d = r.result();
    assert_eq!(
        d["supportedVersions"],
        json!(["2026-07-28", "2025-11-25", "2025-06-18"])
    );
    assert_eq!(d["capabilities"]["tools"]["listChanged"], true);
    assert_eq!(d["capabilities"]["resources"]["subscribe"], true);
    assert_eq!(d["resultType"], "complete");
    assert_eq!(d["ttlMs"], 0);
    assert_eq!(d["cacheScope"], "private");
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "switchboard"
    );

    // Lists: resultType and the hint of a handshake-era contributor (do not cache).
    for (id, m) in [
        (2, "tools/list"),
        (3, "prompts/list"),
        (4, "resources/list"),
        (5, "resources/templates/list"),
    ] {
        let r = call(&gw, id, m, json!({}), None).await;
        let res = r.result();
        assert_eq!(res["resultType"], "complete", "{m}: {}", r.text);
        assert_eq!(res["ttlMs"], 0, "{m}");
        assert_eq!(res["cacheScope"], "private", "{m}");
    }
    let r = call(
        &gw,
        6,
        "resources/read",
        json!({"uri": "test://static-text"}),
        Some("test://static-text"),
    )
    .await;
    assert_eq!(r.result()["cacheScope"], "private", "{}", r.text);
    assert!(r.result()["contents"].is_array());

    // A missing resource is -32602 now (was -32002), with the URI.
    let uri = "test://nonexistent";
    let r = call(&gw, 7, "resources/read", json!({"uri": uri}), Some(uri)).await;
    let e = assert_error(&r, 200, -32602, 7);
    assert_eq!(e["data"]["uri"], uri);

    // Calls get resultType but no hint; the upstream never sees the era's `_meta` keys, only
    // the application's.
    let r = gw
        .post_raw(
            body(
                8,
                "tools/call",
                json!({"name": "fx__echo", "arguments": {"message": "hi"}}),
                json!({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}),
            ),
            &headers("tools/call", Some("fx__echo")),
        )
        .await;
    let res = r.result();
    assert_eq!(res["resultType"], "complete", "{}", r.text);
    assert!(res.get("ttlMs").is_none(), "{}", r.text);
    let wire = std::fs::read_to_string(&log).unwrap();
    let line = wire
        .lines()
        .find(|l| l.contains("\"tools/call\"") && l.contains("\"echo\""))
        .expect("the call reached the upstream");
    assert!(!line.contains("io.modelcontextprotocol/"), "{line}");
    assert!(line.contains("traceparent"), "{line}");
}

#[tokio::test]
async fn logs_are_opt_in_and_progress_streams() {
    let (gw, _log) = started().await;

    // No logLevel: no log lines, so a plain JSON answer.
    let r = call(
        &gw,
        1,
        "tools/call",
        json!({"name": "fx__test_logging_tool", "arguments": {}}),
        Some("fx__test_logging_tool"),
    )
    .await;
    assert!(
        !r.raw_messages()
            .iter()
            .any(|m| m.contains("notifications/message")),
        "{}",
        r.text
    );
    assert_eq!(r.result()["resultType"], "complete");

    // With one, they come on the request's own stream, which has no event ids.
    let r = gw
        .post_raw(
            body(
                2,
                "tools/call",
                json!({"name": "fx__test_logging_tool", "arguments": {}}),
                json!({"io.modelcontextprotocol/logLevel": "debug"}),
            ),
            &headers("tools/call", Some("fx__test_logging_tool")),
        )
        .await;
    assert!(r.is_sse(), "{}", r.text);
    let logs = r
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "notifications/message")
        .count();
    assert!(logs >= 1, "{}", r.text);
    assert!(
        !r.text.contains("\nid:") && !r.text.starts_with("id:"),
        "{}",
        r.text
    );
    assert_eq!(r.response().unwrap()["id"], 2);

    // A log level that is not one is the caller's error.
    let r = gw
        .post_raw(
            body(
                3,
                "tools/list",
                json!({}),
                json!({"io.modelcontextprotocol/logLevel": "loud"}),
            ),
            &headers("tools/list", None),
        )
        .await;
    assert_error(&r, 400, -32602, 3);

    // Progress with the caller's own token.
    let r = gw
        .post_raw(
            body(
                4,
                "tools/call",
                json!({"name": "fx__test_tool_with_progress", "arguments": {}}),
                json!({"progressToken": "p-1"}),
            ),
            &headers("tools/call", Some("fx__test_tool_with_progress")),
        )
        .await;
    let progress: Vec<Value> = r
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 3, "{}", r.text);
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "p-1")
    );
}

#[tokio::test]
async fn closing_the_stream_cancels_the_request() {
    let (gw, log) = started().await;
    let req = gw
        .post()
        .headers(support::header_map(&headers(
            "tools/call",
            Some("fx__slow"),
        )))
        .body(body(
            1,
            "tools/call",
            json!({"name": "fx__slow", "arguments": {"ms": 20000}}),
            json!({}),
        ))
        .send();
    // The client gives up long before the tool would answer.
    let _ = tokio::time::timeout(Duration::from_millis(500), req).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let wire = std::fs::read_to_string(&log).unwrap_or_default();
        if wire.contains("notifications/cancelled") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream was never told: {wire}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads SSE events from a streaming response until `n` data events arrived or `limit` passed.
async fn events(resp: &mut reqwest::Response, n: usize, limit: Duration) -> Vec<Value> {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let got: Vec<Value> = text
            .split("\n\n")
            .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect();
        if got.len() >= n {
            return got;
        }
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            _ => return got,
        }
    }
}

async fn open_listen(gw: &Gateway, id: &str, filter: Value) -> reqwest::Response {
    let b = json!({"jsonrpc":"2.0","id":id,"method":"subscriptions/listen",
        "params":{"notifications": filter, "_meta": meta(json!({}))}});
    let r = gw
        .post()
        .headers(support::header_map(&headers("subscriptions/listen", None)))
        .body(b.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    r
}

#[tokio::test]
async fn listen_acknowledges_filters_and_tags() {
    let (gw, log) = started().await;
    let mut tools = open_listen(&gw, "L1", json!({"toolsListChanged": true})).await;
    let mut prompts = open_listen(&gw, "L2", json!({"promptsListChanged": true})).await;
    let mut res = open_listen(
        &gw,
        "L3",
        json!({"resourceSubscriptions": ["test://static-text", "test://nowhere"]}),
    )
    .await;

    let ack = &events(&mut tools, 1, Duration::from_secs(5)).await[0];
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "L1"
    );
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true})
    );
    let ack = &events(&mut prompts, 1, Duration::from_secs(5)).await[0];
    assert_eq!(
        ack["params"]["notifications"],
        json!({"promptsListChanged": true})
    );
    // Only URIs some upstream can subscribe to are honoured, and the upstream hears of them.
    let ack = &events(&mut res, 1, Duration::from_secs(5)).await[0];
    assert_eq!(
        ack["params"]["notifications"],
        json!({"resourceSubscriptions": ["test://static-text"]})
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("resources/subscribe")
    );
    assert_eq!(gw.status().await["listens"], 3);

    // A real change of the tool list reaches the tools listen, tagged, and not the prompts one.
    let r = call(
        &gw,
        1,
        "tools/call",
        json!({"name": "fx__test_trigger_tool_change", "arguments": {}}),
        Some("fx__test_trigger_tool_change"),
    )
    .await;
    assert_eq!(r.result()["resultType"], "complete", "{}", r.text);
    // (Each read starts after what the last one consumed: the acknowledgements are gone.)
    let got = events(&mut tools, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["method"], "notifications/tools/list_changed");
    assert_eq!(
        got[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "L1"
    );
    let got = events(&mut prompts, 1, Duration::from_millis(700)).await;
    assert!(
        got.is_empty(),
        "the prompts listen heard something: {got:?}"
    );

    // Closing the resource listen lets go of the upstream subscription.
    drop(res);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("resources/unsubscribe")
    {
        assert!(tokio::time::Instant::now() < deadline, "never unsubscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.wait_status("the listen to be gone", |st| st["listens"] == 2)
        .await;
}
