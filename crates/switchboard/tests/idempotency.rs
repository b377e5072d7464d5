//! Idempotent `tools/call`s through the real binary: a key replays a completed call's result
//! without reaching the upstream again, refuses other arguments and a call still running
//! (HTTP 409), and stores nothing for a call that did not complete. What reached the upstream
//! is read from the fixture's wire log.

mod support;

use std::time::Duration;

use support::{Config, Session, Upstream, tool_calls_on_wire};

async fn call(s: &Session<'_>, tool: &str, args: &str, key: &str) -> support::Reply {
    let id = s.next_id();
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
    );
    s.post_with(body, &[("Idempotency-Key", key)]).await
}

#[tokio::test]
async fn a_key_replays_refuses_and_never_calls_twice() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log).timeout("500ms"))
        .start()
        .await;
    let s = gw.initialize().await;

    // First call: through to the upstream. Second, same key and arguments (another key order
    // and spacing): replayed, marked, and not sent.
    let first = call(&s, "fx__echo", r#"{"message":"pay 10"}"#, "order-1").await;
    assert_eq!(
        first.result()["content"][0]["text"],
        "pay 10",
        "{}",
        first.text
    );
    assert!(first.header("idempotent-replayed").is_none());
    let again = call(&s, "fx__echo", r#"{ "message": "pay 10" }"#, "order-1").await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.header("idempotent-replayed"),
        Some("true"),
        "{:?}",
        again.headers
    );
    assert_eq!(again.result()["content"], first.result()["content"]);
    assert_eq!(
        again.result()["_meta"]["io.github.switchboard-mcp/idempotentReplay"],
        true
    );
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);

    // Same key, other arguments: a conflict, HTTP 409.
    let r = call(&s, "fx__echo", r#"{"message":"pay 20"}"#, "order-1").await;
    assert_eq!(r.status, 409, "{}", r.text);
    let e = r.error();
    assert_eq!(e["code"], -31030);
    assert_eq!(e["data"]["category"], "idempotency_conflict");
    assert!(e["data"]["request_id"].is_string());
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);

    // The key is the tool's: the same key on another tool is another call.
    let r = call(&s, "fx__mirror", r#"{"a":1}"#, "order-1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(tool_calls_on_wire(&log, "mirror"), 1);

    // While the first call runs, a second with its key is refused at once, never sent.
    let running = call(&s, "fx__slow", r#"{"ms":400}"#, "slow-1");
    let second = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        call(&s, "fx__slow", r#"{"ms":400}"#, "slow-1").await
    };
    let (r1, r2) = tokio::join!(running, second);
    assert_eq!(
        r1.result()["content"][0]["text"],
        "Slept for 400 ms",
        "{}",
        r1.text
    );
    assert_eq!(r2.status, 409, "{}", r2.text);
    assert_eq!(r2.error()["data"]["category"], "idempotency_in_flight");
    assert_eq!(tool_calls_on_wire(&log, "slow"), 1);

    // A call that did not complete (timed out) stores nothing: its retry goes through.
    let r = call(&s, "fx__slow", r#"{"ms":2000}"#, "slow-2").await;
    assert_eq!(r.error()["code"], -31002, "{}", r.text);
    let r = call(&s, "fx__slow", r#"{"ms":2000}"#, "slow-2").await;
    assert_eq!(
        r.error()["code"],
        -31002,
        "the retry was sent, not refused: {}",
        r.text
    );
    assert_eq!(tool_calls_on_wire(&log, "slow"), 3);
}

#[tokio::test]
async fn a_key_in_meta_works_like_the_header() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c.upstream(Upstream::fixture("fx").log(&log)).start().await;
    let s = gw.initialize().await;
    let params = r#"{"name":"fx__echo","arguments":{"message":"m"},"_meta":{"io.github.switchboard-mcp/idempotencyKey":"meta-1"}}"#;
    let a = s.request("tools/call", Some(params)).await;
    let b = s.request("tools/call", Some(params)).await;
    assert_eq!(a.result()["content"], b.result()["content"]);
    assert_eq!(
        b.result()["_meta"]["io.github.switchboard-mcp/idempotentReplay"],
        true,
        "{}",
        b.text
    );
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);
}

/// POSTs a `tools/call` at `path` (a session id there, optional key header): the reply.
async fn call_at(
    gw: &support::Gateway,
    path: &str,
    session: &str,
    params: serde_json::Value,
    key: Option<&str>,
) -> support::Reply {
    let body =
        serde_json::json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params})
            .to_string();
    let mut rb = gw
        .client
        .post(gw.url(path))
        .header("content-type", "application/json")
        .header("accept", support::ACCEPT_BOTH)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", support::PROTOCOL)
        .body(body);
    if let Some(k) = key {
        rb = rb.header("Idempotency-Key", k);
    }
    support::Reply::read(rb.send().await.expect("POST")).await
}

/// Opens a session at `path`: its id.
async fn open(gw: &support::Gateway, path: &str) -> String {
    let r = support::Reply::read(
        gw.client
            .post(gw.url(path))
            .header("content-type", "application/json")
            .header("accept", support::ACCEPT_BOTH)
            .body(support::initialize_body(1))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.header("mcp-session-id").unwrap().to_owned()
}

const POLICIES: &str = r#"products:
  pay:
    status: published
    tools: ["fx__echo", "fx__mirror"]
    idempotency: required
    overrides:
      fx__mirror: { annotations: { readOnlyHint: true } }
  free:
    status: published
    tools: ["fx__echo"]
    idempotency: off
  plain:
    status: published
    tools: ["fx__echo"]
"#;

/// `idempotency: required` refuses a keyless call to a tool not marked read-only (HTTP 400,
/// `invalid_request`) and sends nothing; a read-only tool needs no key. `off` ignores keys:
/// every call is sent. The product is part of the key: the same key at `/mcp` and at a product
/// is two calls.
#[tokio::test]
async fn product_policies_require_or_ignore_keys_and_scope_them() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log))
        .extra(POLICIES)
        .start()
        .await;
    let echo = |m: &str| serde_json::json!({"name": "fx__echo", "arguments": {"message": m}});

    let pay = open(&gw, "/mcp/v/pay").await;
    let r = call_at(&gw, "/mcp/v/pay", &pay, echo("no key"), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error()["code"], -31032);
    assert_eq!(r.error()["data"]["category"], "invalid_request");
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("requires an idempotency key for fx__echo"),
        "{}",
        r.text
    );
    assert!(r.error()["data"]["request_id"].is_string());
    assert_eq!(
        tool_calls_on_wire(&log, "echo"),
        0,
        "a refused call is not sent"
    );
    let r = call_at(&gw, "/mcp/v/pay", &pay, echo("keyed"), Some("pay-1")).await;
    assert_eq!(r.result()["content"][0]["text"], "keyed", "{}", r.text);
    let r = call_at(
        &gw,
        "/mcp/v/pay",
        &pay,
        serde_json::json!({"name": "fx__mirror", "arguments": {}}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "read-only needs no key: {}", r.text);
    assert!(r.response().unwrap()["result"].is_object(), "{}", r.text);

    let free = open(&gw, "/mcp/v/free").await;
    for _ in 0..2 {
        let r = call_at(&gw, "/mcp/v/free", &free, echo("again"), Some("free-1")).await;
        assert_eq!(r.result()["content"][0]["text"], "again", "{}", r.text);
        assert!(r.header("idempotent-replayed").is_none());
    }
    // Even a malformed key is ignored where keys are off.
    let r = call_at(&gw, "/mcp/v/free", &free, echo("again"), Some("")).await;
    assert_eq!(r.result()["content"][0]["text"], "again", "{}", r.text);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 4);

    // One key, one tool, two places: two calls. Repeated in each place: replayed.
    let plain = open(&gw, "/mcp/v/plain").await;
    let s = gw.initialize().await;
    let a = call_at(&gw, "/mcp/v/plain", &plain, echo("here"), Some("shared")).await;
    let b = call(&s, "fx__echo", r#"{"message":"here"}"#, "shared").await;
    assert!(a.header("idempotent-replayed").is_none() && b.header("idempotent-replayed").is_none());
    assert_eq!(tool_calls_on_wire(&log, "echo"), 6);
    let a = call_at(&gw, "/mcp/v/plain", &plain, echo("here"), Some("shared")).await;
    assert_eq!(a.header("idempotent-replayed"), Some("true"), "{}", a.text);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 6);
}

/// Keys are 1–255 printable ASCII characters: empty, 256 long and non-ASCII (in `_meta`, as a
/// header cannot carry it) are refused with -32602 and nothing is sent; 255 is fine.
#[tokio::test]
async fn malformed_keys_are_refused() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c.upstream(Upstream::fixture("fx").log(&log)).start().await;
    let s = gw.initialize().await;
    let msg = "an idempotency key must be 1 to 255 printable ASCII characters";
    for key in [String::new(), "k".repeat(256)] {
        let r = call(&s, "fx__echo", r#"{"message":"m"}"#, &key).await;
        assert_eq!(r.error()["code"], -32602, "{}", r.text);
        assert_eq!(r.error()["message"], msg);
    }
    let params = r#"{"name":"fx__echo","arguments":{"message":"m"},"_meta":{"io.github.switchboard-mcp/idempotencyKey":"clé"}}"#;
    let r = s.request("tools/call", Some(params)).await;
    assert_eq!(r.error()["code"], -32602, "{}", r.text);
    assert_eq!(r.error()["message"], msg);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 0);
    let r = call(&s, "fx__echo", r#"{"message":"m"}"#, &"k".repeat(255)).await;
    assert_eq!(r.result()["content"][0]["text"], "m", "{}", r.text);
}

/// The same key from 50 clients at once (each its own session, one principal): the upstream
/// sees exactly one call; every other client gets the replay or `idempotency_in_flight` (409).
#[tokio::test]
async fn fifty_concurrent_clients_with_one_key_make_one_upstream_call() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c.upstream(Upstream::fixture("fx").log(&log)).start().await;
    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(gw.initialize().await);
    }
    let replies = futures::future::join_all(
        sessions
            .iter()
            .map(|s| call(s, "fx__slow", r#"{"ms":300}"#, "once")),
    )
    .await;
    let (mut first, mut replayed, mut in_flight) = (0, 0, 0);
    for r in &replies {
        match (r.status, r.header("idempotent-replayed")) {
            (200, Some("true")) => replayed += 1,
            (200, None) => {
                assert_eq!(
                    r.result()["content"][0]["text"],
                    "Slept for 300 ms",
                    "{}",
                    r.text
                );
                first += 1;
            }
            (409, _) => {
                assert_eq!(
                    r.error()["data"]["category"],
                    "idempotency_in_flight",
                    "{}",
                    r.text
                );
                in_flight += 1;
            }
            _ => panic!("unexpected: {} {}", r.status, r.text),
        }
    }
    assert_eq!(first, 1, "replayed {replayed}, in flight {in_flight}");
    assert_eq!(first + replayed + in_flight, 50);
    assert_eq!(tool_calls_on_wire(&log, "slow"), 1);
}

/// A stored result outlives a hot reload that changes the product it was made at (and the
/// upstreams around it): the repeat is replayed, not sent.
#[tokio::test]
async fn replays_survive_a_hot_reload_and_a_product_reload() {
    let c = Config::new();
    let log = c.path("fx.log");
    let mut gw = c
        .upstream(Upstream::fixture("fx").log(&log))
        .extra(POLICIES)
        .start()
        .await;
    let echo = serde_json::json!({"name": "fx__echo", "arguments": {"message": "before"}});
    let pay = open(&gw, "/mcp/v/pay").await;
    let r = call_at(&gw, "/mcp/v/pay", &pay, echo.clone(), Some("reload-1")).await;
    assert_eq!(r.result()["content"][0]["text"], "before", "{}", r.text);
    let whole = open(&gw, "/mcp").await;
    let w = serde_json::json!({"name": "fx__echo", "arguments": {"message": "whole"}});
    call_at(&gw, "/mcp", &whole, w.clone(), Some("reload-2")).await;

    // The product changes (a description, another tool) and an upstream is added.
    gw.config.extra = POLICIES.replace(
        "    tools: [\"fx__echo\", \"fx__mirror\"]\n",
        "    description: Payments\n    tools: [\"fx__echo\", \"fx__mirror\", \"fx__add\"]\n",
    );
    gw.config.upstreams.push(Upstream::fixture("fy"));
    std::fs::write(gw.config.path("switchboard.yaml"), gw.config.yaml()).unwrap();
    gw.signal("HUP");
    gw.wait_status("the reload applied", |st| {
        st["config_reloads"]["ok"].as_u64() >= Some(1)
            && st["upstreams"]
                .as_array()
                .is_some_and(|u| u.iter().any(|u| u["name"] == "fy" && u["state"] == "ready"))
    })
    .await;
    assert!(gw.stderr().contains("products applied"), "{}", gw.stderr());

    let r = call_at(&gw, "/mcp/v/pay", &pay, echo, Some("reload-1")).await;
    assert_eq!(r.header("idempotent-replayed"), Some("true"), "{}", r.text);
    assert_eq!(r.result()["content"][0]["text"], "before");
    let r = call_at(&gw, "/mcp", &whole, w, Some("reload-2")).await;
    assert_eq!(r.header("idempotent-replayed"), Some("true"), "{}", r.text);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 2);
}
