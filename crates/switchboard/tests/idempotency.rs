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
