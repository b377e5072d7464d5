//! The error catalogue on the wire, through the real binary: every error the gateway makes
//! carries `data.category` (one of the twelve of `docs/errors.md`), `data.retryable` and
//! `data.request_id`; each category a client can provoke is provoked here (rate limits and
//! concurrency limits in `auth.rs` and `resilience.rs`, where their setups live). Errors an
//! upstream returns stay untouched. Every HTTP response carries `X-Request-Id`, and log lines
//! of work done for a request outside the pipeline carry its id.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// The twelve categories of `docs/errors.md`.
const CATEGORIES: [&str; 12] = [
    "auth",
    "scope",
    "rate_limited",
    "idempotency_conflict",
    "idempotency_in_flight",
    "upstream_unavailable",
    "upstream_timeout",
    "invocation_failed",
    "overloaded",
    "invalid_request",
    "not_found",
    "internal",
];

/// Asserts status, code (and `data.request_id` = `X-Request-Id`), then category and
/// retryability; the error object.
fn check(r: &Reply, status: u16, code: i64, category: &str, retryable: bool) -> Value {
    assert!(CATEGORIES.contains(&category), "{category}");
    let e = r.assert_error(status, code);
    assert_eq!(e["data"]["category"], category, "{}", r.text);
    assert_eq!(e["data"]["retryable"], retryable, "{}", r.text);
    e
}

async fn call_with_key(s: &Session<'_>, tool: &str, args: &str, key: &str) -> Reply {
    let id = s.next_id();
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
    );
    s.post_with(body, &[("Idempotency-Key", key)]).await
}

#[tokio::test]
async fn each_category_reaches_the_wire_with_retryable_and_request_id() {
    let (key, entry) = create_key("full", "mcp.tools.read,mcp.invoke,mcp.resources.read");
    let (reader, reader_entry) = create_key("reader", "mcp.tools.read");
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log).timeout("500ms"))
        .extra(&format!(
            "auth:\n  api_keys:\n    {entry}\n    {reader_entry}\nsessions:\n  max_sessions: 2\n"
        ))
        .start()
        .await;
    let bearer = format!("Bearer {key}");

    // auth: no credential; a credential that is not valid; a token in the query.
    let r = gw.try_initialize(&[]).await.err().expect("refused");
    let e = check(&r, 401, -31040, "auth", false);
    assert!(e["data"].get("reason").is_none(), "{e}");
    let r = gw
        .try_initialize(&[("authorization", "Bearer sb_nope")])
        .await
        .err()
        .expect("refused");
    let e = check(&r, 401, -31040, "auth", false);
    assert_eq!(e["data"]["reason"], "invalid_token");
    let r = Reply::read(
        gw.client
            .post(format!("{}?access_token=x", gw.mcp()))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize_body(1))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let e = check(&r, 400, -32600, "auth", false);
    assert_eq!(e["data"]["reason"], "token_in_query");

    // scope: a key that may list but not call.
    let ro = match gw
        .try_initialize(&[("authorization", &format!("Bearer {reader}"))])
        .await
    {
        Ok(s) => s,
        Err(r) => panic!("{} {}", r.status, r.text),
    };
    let r = ro.call_tool("fx__echo", r#"{"message":"x"}"#).await;
    check(&r, 403, -31041, "scope", false);

    let s = match gw.try_initialize(&[("authorization", &bearer)]).await {
        Ok(s) => s,
        Err(r) => panic!("{} {}", r.status, r.text),
    };
    // overloaded: a third session over `max_sessions: 2`.
    let r = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .err()
        .expect("refused");
    check(&r, 503, -32600, "overloaded", true);

    // invalid_request: before dispatch and after.
    let r = s.post_raw("{oops").await;
    check(&r, 400, -32700, "invalid_request", false);
    let r = s.post_with("{}", &[("content-type", "text/plain")]).await;
    check(&r, 415, -32600, "invalid_request", false);
    let r = s.request("tools/call", Some(r#"{"arguments":{}}"#)).await;
    check(&r, 200, -32602, "invalid_request", false);

    // not_found: a method, a tool, a session.
    let r = s.request("no/such/method", None).await;
    check(&r, 200, -32601, "not_found", false);
    let r = s.call_tool("fx__no_such_tool", "{}").await;
    let e = check(&r, 200, -32602, "not_found", false);
    assert_eq!(e["data"]["name"], "fx__no_such_tool");
    let r = Reply::read(
        gw.post()
            .header("authorization", &bearer)
            .header("mcp-session-id", "no-such-session")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(&r, 404, -32600, "not_found", false);

    // idempotency_conflict and idempotency_in_flight.
    let r = call_with_key(&s, "fx__echo", r#"{"message":"a"}"#, "k-1").await;
    assert_eq!(r.result()["content"][0]["text"], "a", "{}", r.text);
    let r = call_with_key(&s, "fx__echo", r#"{"message":"b"}"#, "k-1").await;
    check(&r, 409, -31030, "idempotency_conflict", false);
    let running = call_with_key(&s, "fx__slow", r#"{"ms":300}"#, "k-2");
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        call_with_key(&s, "fx__slow", r#"{"ms":300}"#, "k-2").await
    };
    let (first, second) = tokio::join!(running, second);
    assert_eq!(first.status, 200, "{}", first.text);
    check(&second, 409, -31031, "idempotency_in_flight", true);

    // upstream_timeout: no answer within the upstream's 500 ms.
    let t = Instant::now();
    let r = s.call_tool("fx__slow", r#"{"ms":5000}"#).await;
    let e = check(&r, 200, -31002, "upstream_timeout", true);
    assert_eq!(e["data"]["upstream"], "fx");
    assert!(t.elapsed() < Duration::from_secs(3));

    // An upstream's own error is relayed as it came: no category of the gateway's.
    let r = s
        .request(
            "resources/read",
            Some(r#"{"uri":"test://no-such-resource"}"#),
        )
        .await;
    let e = r.assert_error(200, -32002);
    assert!(e["data"].get("category").is_none(), "{e}");
    assert!(e["data"].get("retryable").is_none(), "{e}");

    // upstream_unavailable: the upstream died with the call in flight (last: it restarts).
    let r = s.call_tool("fx__crash", "{}").await;
    let e = check(&r, 200, -31004, "upstream_unavailable", true);
    assert_eq!(e["data"]["upstream"], "fx");
}

/// Errors of the 2026-07-28 era: the same categories, with the era's HTTP statuses.
#[tokio::test]
async fn modern_callers_get_the_same_categories() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let none = serde_json::json!({});
    let r =
        support::modern::call_tool(&gw, 1, "fx__no_such_tool", none.clone(), none.clone()).await;
    let e = check(&r, 200, -32602, "not_found", false);
    assert_eq!(e["data"]["name"], "fx__no_such_tool");
    let r = support::modern::call(&gw, 2, "tasks/get", none.clone(), None).await;
    check(&r, 404, -32601, "not_found", false);
    // V4: a version the endpoint does not serve (before dispatch, HTTP 400).
    let body = support::modern::body(
        3,
        "tools/list",
        none.clone(),
        serde_json::json!({"io.modelcontextprotocol/protocolVersion": "2099-01-01"}),
    );
    let r = gw
        .post_raw(
            body,
            &[
                ("mcp-protocol-version", "2099-01-01"),
                ("mcp-method", "tools/list"),
            ],
        )
        .await;
    check(&r, 400, -32022, "invalid_request", false);
}

/// Every answer the HTTP server gives carries `X-Request-Id`: routes, 404s and 405s,
/// refusals, operator endpoints, OAuth metadata, streams, 202s.
#[tokio::test]
async fn every_http_response_carries_the_request_id() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let client = &gw.client;
    let mut seen = 0;
    let mut expect = |what: &str, r: &reqwest::Response, rid: &str| {
        assert_eq!(
            r.headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            Some(rid),
            "{what}: status {}",
            r.status()
        );
        seen += 1;
    };
    for (path, status) in [
        ("/healthz", 200),
        ("/readyz", 200),
        ("/status", 200),
        ("/metrics", 200),
        ("/api/conformance", 200),
        ("/.well-known/oauth-protected-resource/mcp", 404),
        ("/no/such/path", 404),
        ("/mcp/v/no-such-product", 404),
    ] {
        let rid = format!("rid{}", path.replace('/', "."));
        let r = client
            .get(gw.url(path))
            .header("x-request-id", &rid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        expect(path, &r, &rid);
    }
    // 405, a foreign Host (403), a token in the query (400).
    let r = client
        .put(gw.url("/mcp"))
        .header("x-request-id", "rid-405")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    expect("PUT /mcp", &r, "rid-405");
    let r = gw
        .post()
        .header("host", "evil.example.com")
        .header("x-request-id", "rid-403")
        .body(initialize_body(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    expect("a foreign Host", &r, "rid-403");
    let r = client
        .get(format!("{}?access_token=x", gw.mcp()))
        .header("x-request-id", "rid-query")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    expect("a token in the query", &r, "rid-query");
    // A notification (202), the standalone stream, and the end of the session.
    let r = s
        .post()
        .header("x-request-id", "rid-202")
        .body(r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    expect("a notification", &r, "rid-202");
    let stream = s.get_stream().await;
    assert_eq!(stream.status(), 200);
    assert!(
        stream
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("sb-")),
        "a generated id on the stream"
    );
    drop(stream);
    let r = client
        .delete(gw.mcp())
        .header("mcp-session-id", &s.id)
        .header("x-request-id", "rid-delete")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    expect("DELETE /mcp", &r, "rid-delete");
    assert_eq!(seen, 13);
}

/// Work a transport does for a request outside the pipeline (opening and closing a session)
/// logs inside a span carrying the request's id, like the pipeline's own lines.
#[tokio::test]
async fn log_lines_of_session_work_carry_the_request_id() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .gateway_env("SWITCHBOARD_LOG", "info,switchboard_gateway=debug")
        .gateway_env("SWITCHBOARD_LOG_FORMAT", "json")
        .start()
        .await;
    let r = gw
        .post_raw(initialize_body(1), &[("x-request-id", "rid-open-1")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let session = r.header("mcp-session-id").expect("a session").to_owned();
    let r = gw
        .client
        .delete(gw.mcp())
        .header("mcp-session-id", &session)
        .header("x-request-id", "rid-close-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (message, rid) in [
        ("session opened", "rid-open-1"),
        ("session closed", "rid-close-1"),
    ] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let line = loop {
            let err = gw.stderr();
            if let Some(l) = err
                .lines()
                .find(|l| l.contains(message) && l.contains(&session))
            {
                break l.to_owned();
            }
            assert!(Instant::now() < deadline, "no {message:?} line in:\n{err}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let v: Value = serde_json::from_str(&line).expect("a JSON line");
        assert_eq!(v["span"]["request_id"], rid, "{line}");
    }
}
