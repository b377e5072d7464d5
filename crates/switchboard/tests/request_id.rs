//! `X-Request-Id`: accepted when well-formed, generated otherwise, echoed on every response and
//! carried in every error's `data.request_id`.

mod support;

use std::collections::HashSet;

use serde_json::Value;
use support::*;

/// What the gateway accepts: 1–128 characters of `[A-Za-z0-9._:-]`.
fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[tokio::test]
async fn client_request_id_is_echoed() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    // On a success (initialize) …
    let r = gw
        .post_raw(initialize_body(1), &[("x-request-id", "abc-123")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.request_id(), "abc-123");
    let s = gw.initialize().await;
    // … on a request forwarded upstream …
    let r = s
        .post_with(
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fx__echo","arguments":{"message":"m"}}}"#,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(r.request_id(), "abc-123");
    assert_eq!(r.result()["content"][0]["text"], "m");
    // … on gateway errors, in the header and in the body …
    let r = s
        .post_with(
            r#"{"jsonrpc":"2.0","id":10,"method":"nope"}"#,
            &[("x-request-id", "abc-123")],
        )
        .await;
    let err = r.assert_error(200, -32601);
    assert_eq!(err["data"]["request_id"], "abc-123");
    // … and on HTTP refusals.
    let r = s.post_with("{oops", &[("x-request-id", "abc-123")]).await;
    let err = r.assert_error(400, -32700);
    assert_eq!(err["data"]["request_id"], "abc-123");
    // Every character class the format allows, and the longest allowed id.
    for id in ["A.b_c:d-9", &"z".repeat(128)] {
        let r = s
            .post_with(
                r#"{"jsonrpc":"2.0","id":11,"method":"ping"}"#,
                &[("x-request-id", id)],
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.request_id(), id);
    }
    // Other endpoints echo it too.
    for path in ["/healthz", "/readyz", "/status"] {
        let r = gw
            .client
            .get(gw.url(path))
            .header("x-request-id", "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers().get("x-request-id").unwrap(),
            "abc-123",
            "{path}"
        );
    }
}

#[tokio::test]
async fn malformed_request_id_is_replaced() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let too_long = "a".repeat(129);
    for bad in [
        "has space",
        too_long.as_str(),
        "semi;colon",
        "slash/es",
        "quote\"d",
        "ünïcode",
    ] {
        let r = s
            .post_with(
                r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#,
                &[("x-request-id", bad)],
            )
            .await;
        let got = r.request_id().to_owned();
        assert_ne!(got, bad, "a malformed id must not be echoed");
        assert!(well_formed(&got), "generated id {got:?} is not well-formed");
        let err = r.assert_error(200, -32601);
        assert_eq!(err["data"]["request_id"], got.as_str());
    }
}

#[tokio::test]
async fn missing_request_id_is_generated_and_unique() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let r = s.request("ping", None).await;
        assert_eq!(r.status, 200);
        let id = r.request_id().to_owned();
        assert!(well_formed(&id), "{id:?}");
        assert!(seen.insert(id.clone()), "request id {id} generated twice");
    }
    // Errors carry the generated id in the body.
    let r = s.call_tool("fx__missing", "{}").await;
    r.assert_error(200, -32602);
    assert!(!seen.contains(r.request_id()));
}

/// A sample of every family of error the gateway returns; each must carry
/// `error.data.request_id` equal to its `X-Request-Id` header.
#[tokio::test]
async fn every_error_carries_the_request_id() {
    let c = Config::new();
    let gw = c
        .upstream(Upstream::fixture("fx").timeout("1s"))
        .extra("http: { max_body_bytes: 4096 }")
        .start()
        .await;
    let s = gw.initialize().await;
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let mut checked = 0;

    // HTTP refusals.
    let cases: Vec<(u16, i64, Reply)> = vec![
        (400, -32700, s.post_raw("nope").await),
        (400, -32600, s.post_raw("[]").await),
        (
            415,
            -32600,
            s.post_with(ping, &[("content-type", "text/plain")]).await,
        ),
        (
            406,
            -32600,
            s.post_with(ping, &[("accept", "application/json")]).await,
        ),
        (
            413,
            -32600,
            s.post_raw(format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"p":"{}"}}}}"#,
                "x".repeat(5000)
            ))
            .await,
        ),
        (400, -32600, gw.post_raw(ping, &[]).await),
        (
            404,
            -32600,
            gw.post_raw(ping, &[("mcp-session-id", "gone")]).await,
        ),
        (
            400,
            -32600,
            s.post_with(ping, &[("mcp-protocol-version", "1999-01-01")])
                .await,
        ),
        (
            403,
            -32600,
            s.post_with(ping, &[("origin", "http://evil.example.com")])
                .await,
        ),
        (400, -32600, s.post_raw(initialize_body(5)).await),
    ];
    for (status, code, r) in &cases {
        r.assert_error(*status, *code);
        checked += 1;
    }
    // GET and DELETE refusals.
    let g = Reply::read(
        gw.client
            .get(gw.mcp())
            .header("accept", "application/json")
            .header("mcp-session-id", &s.id)
            .send()
            .await
            .unwrap(),
    )
    .await;
    g.assert_error(406, -32600);
    let d = Reply::read(
        gw.client
            .delete(gw.mcp())
            .header("mcp-session-id", "gone")
            .send()
            .await
            .unwrap(),
    )
    .await;
    d.assert_error(404, -32600);
    checked += 2;

    // Gateway JSON-RPC errors.
    s.request("nope", None).await.assert_error(200, -32601);
    s.call_tool("fx__nope", "{}")
        .await
        .assert_error(200, -32602);
    s.request("tools/list", Some(r#"{"cursor":"bogus"}"#))
        .await
        .assert_error(200, -32602);
    s.request("logging/setLevel", Some(r#"{"level":"loud"}"#))
        .await
        .assert_error(200, -32602);
    checked += 4;

    // Upstream failures.
    let r = s.call_tool("fx__slow", r#"{"ms":5000}"#).await;
    let err = r.assert_error(200, -31002);
    assert_eq!(err["data"]["upstream"], "fx");
    checked += 1;

    // Errors the upstream itself returned.
    let r = s
        .request(
            "resources/read",
            Some(r#"{"uri":"test://no-such-resource"}"#),
        )
        .await;
    let err = r.assert_error(200, -32002);
    assert_eq!(err["data"]["uri"], "test://no-such-resource", "{}", r.text);
    checked += 1;
    assert_eq!(checked, 18);
}

#[tokio::test]
async fn upstream_error_data_gains_request_id_without_losing_keys() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    // The fixture answers an unknown resource with
    // {"code":-32002,"message":"Resource not found: <uri>","data":{"uri":"<uri>"}}.
    let r = s
        .post_with(
            r#"{"jsonrpc":"2.0","id":"r-1","method":"resources/read","params":{"uri":"test://no-such-resource"}}"#,
            &[("x-request-id", "rid-upstream-1")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let resp = r.response().unwrap();
    assert_eq!(resp["id"], "r-1");
    let err = r.assert_error(200, -32002);
    assert_eq!(
        err["message"], "Resource not found: test://no-such-resource",
        "the upstream's message is relayed: {}",
        r.text
    );
    let data = err["data"].as_object().unwrap();
    assert_eq!(
        data.get("uri"),
        Some(&Value::from("test://no-such-resource"))
    );
    assert_eq!(data.get("request_id"), Some(&Value::from("rid-upstream-1")));
    assert_eq!(data.len(), 2, "{}", r.text);
    // The upstream's bytes are kept: `data` still starts with the upstream's own member.
    let raw = r.raw_response().unwrap();
    assert!(
        raw.contains(r#""data":{"uri":"test://no-such-resource","request_id":"rid-upstream-1"}"#),
        "{raw}"
    );
}
