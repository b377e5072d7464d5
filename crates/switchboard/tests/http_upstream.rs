//! Streamable HTTP upstreams over real sockets: another gateway (`inner`, serving the fixture) is
//! the upstream of the gateway under test (`outer`). The upstream client must carry JSON and SSE
//! answers, many calls at once over its keep-alive connections, a restarted upstream (dead
//! connections replaced, the lost session re-created without the client noticing), and
//! `max_message_bytes`. A gateway serves 2026-07-28 as well, so with `era: auto` the outer one
//! speaks that to the inner one: headers mirroring the body (`Mcp-Method`, `Mcp-Name`,
//! `Mcp-Param-*`, checked strictly by the inner gateway), no session. The tests that are about
//! handshake-era sessions say `era: legacy`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Config, Gateway, PATIENCE, Upstream};

/// `inner` (the fixture behind a gateway) and `outer`, whose upstream `up` is `inner`'s `/mcp`.
async fn outer_for(inner: &Gateway, settings: &[&str]) -> Gateway {
    let mut up = Upstream::http("up", &inner.mcp());
    for s in settings {
        up = up.setting(s);
    }
    Config::new().upstream(up).start().await
}

fn echoed(r: &support::Reply) -> String {
    r.result()["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {}", r.text))
        .to_owned()
}

#[tokio::test]
async fn calls_reach_an_http_upstream_with_json_and_sse_answers() {
    let inner = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let outer = outer_for(&inner, &[]).await;
    let s = outer.initialize().await;

    // One after another: each reuses the upstream connection the last one returned.
    for i in 0..20 {
        let r = s
            .call_tool("up__fx__echo", &format!(r#"{{"message":"hi {i}"}}"#))
            .await;
        assert_eq!(echoed(&r), format!("hi {i}"), "{}", r.text);
    }

    // Many at once: one upstream connection each, all answered with their own result.
    let calls = (0..24).map(|i| {
        let s = &s;
        async move {
            let r = s
                .call_tool("up__fx__echo", &format!(r#"{{"message":"at once {i}"}}"#))
                .await;
            (i, r)
        }
    });
    for (i, r) in futures::future::join_all(calls).await {
        assert_eq!(echoed(&r), format!("at once {i}"), "{}", r.text);
    }

    // Progress before the result makes the upstream answer with an SSE stream; its events reach
    // the client, and the result after them.
    let r = s
        .request(
            "tools/call",
            Some(r#"{"name":"up__fx__test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p-1"}}"#),
        )
        .await;
    let progress: Vec<Value> = r
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{}", r.text);
    assert!(
        progress
            .iter()
            .all(|m| m["params"]["progressToken"] == "p-1"),
        "{}",
        r.text
    );
    assert!(
        r.response().is_some_and(|m| m.get("result").is_some()),
        "{}",
        r.text
    );

    // And plain calls still work on the connections after the stream.
    let r = s.call_tool("up__fx__echo", r#"{"message":"after"}"#).await;
    assert_eq!(echoed(&r), "after");
}

#[tokio::test]
async fn a_restarted_upstream_is_reached_again_without_the_client_noticing() {
    let inner = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let addr = inner.addr;
    // Upstream sessions (and their re-creation) are the handshake era's.
    let outer = outer_for(&inner, &["era: legacy"]).await;
    let s = outer.initialize().await;
    for _ in 0..3 {
        let r = s.call_tool("up__fx__echo", r#"{"message":"before"}"#).await;
        assert_eq!(echoed(&r), "before", "{}", r.text);
    }

    // The upstream goes away with the outer gateway's keep-alive connections and its session,
    // and comes back on the same address knowing nothing of either.
    drop(inner);
    let inner = Config::new()
        .upstream(Upstream::fixture("fx"))
        .listen(addr)
        .start()
        .await;
    assert_eq!(inner.addr, addr);

    // The dead connections are not used; the POST with the old session id gets 404, and the
    // session is re-created and the call sent again, all inside this one call.
    let started = Instant::now();
    let r = s.call_tool("up__fx__echo", r#"{"message":"after"}"#).await;
    assert_eq!(echoed(&r), "after", "{}", r.text);
    assert!(started.elapsed() < PATIENCE);
    for _ in 0..3 {
        let r = s.call_tool("up__fx__echo", r#"{"message":"again"}"#).await;
        assert_eq!(echoed(&r), "again", "{}", r.text);
    }
    assert!(
        outer
            .stderr()
            .contains("upstream session expired; re-initialising"),
        "{}",
        outer.stderr()
    );
}

#[tokio::test]
async fn an_http_answer_over_max_message_bytes_is_refused_and_names_the_upstream() {
    let inner = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let outer = outer_for(&inner, &["max_message_bytes: 65536"]).await;
    let s = outer.initialize().await;
    let started = Instant::now();
    let r = s.call_tool("up__fx__big", r#"{"bytes":200000}"#).await;
    let err = r.error();
    assert_eq!(err["data"]["upstream"], "up", "{err}");
    assert_eq!(err["code"], -31003, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or("")
            .contains("max_message_bytes"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Under the limit, the same tool (and the connection pool after the refused answer) is fine.
    let r = s.call_tool("up__fx__big", r#"{"bytes":1000}"#).await;
    assert_eq!(echoed(&r).len(), 1000, "{}", r.text);
}

#[tokio::test]
async fn a_2026_07_28_http_upstream_gets_the_headers_it_checks() {
    let inner = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let outer = outer_for(&inner, &[]).await;
    let st = outer
        .wait_status("up to be ready", |st| {
            st["upstreams"][0]["state"] == "ready"
        })
        .await;
    assert_eq!(st["upstreams"][0]["revision"], "2026-07-28", "{st}");
    let s = outer.initialize().await;
    // Mcp-Name is the upstream's own name (`fx__echo` there), not the outer one.
    let r = s.call_tool("up__fx__echo", r#"{"message":"héllo"}"#).await;
    assert_eq!(echoed(&r), "héllo", "{}", r.text);
    // A tool with an x-mcp-header annotation: the inner gateway refuses the call unless
    // Mcp-Param-Region mirrors the argument (base64 for what is not plain ASCII).
    for region in ["eu-west", "Zürich", " padded "] {
        let r = s
            .call_tool(
                "up__fx__test_custom_header",
                &format!(r#"{{"region":"{region}"}}"#),
            )
            .await;
        let text = r.result()["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(text.contains(region.trim()), "{region}: {}", r.text);
    }
    let r = s
        .request("resources/read", Some(r#"{"uri":"test://static-text"}"#))
        .await;
    assert!(r.result()["contents"].is_array(), "{}", r.text);
}
