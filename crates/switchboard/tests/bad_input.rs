//! Everything a client or an upstream can get wrong, and the exact answer the gateway gives.
//!
//! HTTP-level refusals are checked for status, JSON-RPC error code and `error.data.request_id`
//! (equal to the `X-Request-Id` response header); upstream failures for an error that names the
//! upstream in `error.data.upstream`, delivered well within the configured timeout.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

// ----- the HTTP request itself ------------------------------------------------------------------

#[tokio::test]
async fn body_that_is_not_json_is_a_parse_error_without_id() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    for body in [
        "{not json",
        "hello",
        r#"{"jsonrpc":"2.0","id":7,"method":"ping""#,
        "",
    ] {
        let r = s.post_raw(body).await;
        r.assert_error(400, -32700);
        let resp = r.response().unwrap();
        assert!(
            resp.get("id").is_none(),
            "a parse error has no id member (body {body:?}): {}",
            r.text
        );
        assert_eq!(resp["jsonrpc"], "2.0", "{}", r.text);
    }
    // The same without a session: parsing comes before the session check.
    let r = gw.post_raw("{not json", &[]).await;
    r.assert_error(400, -32700);
}

#[tokio::test]
async fn wrong_json_rpc_shapes_are_invalid_requests() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let cases = [
        // A batch: JSON-RPC batches are not part of MCP since 2025-06-18.
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        r#"[]"#,
        // Missing or wrong `jsonrpc`.
        r#"{"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#,
        // `method` of the wrong type.
        r#"{"jsonrpc":"2.0","id":1,"method":42}"#,
        // `id: null` is not a request id.
        r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
        // Valid JSON, not an object.
        r#""ping""#,
        r#"3"#,
    ];
    for body in cases {
        let r = s.post_raw(body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let err = r.assert_error(400, -32600);
        assert!(!err["message"].as_str().unwrap().is_empty());
        // And without a session.
        let r = gw.post_raw(body, &[]).await;
        r.assert_error(400, -32600);
    }
    // Control: a well-formed ping on the same session works.
    let r = s.request("ping", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result(), serde_json::json!({}));
}

#[tokio::test]
async fn content_type_other_than_json_is_415() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json-seq",
        "text/event-stream",
    ] {
        let r = s.post_with(body, &[("content-type", ct)]).await;
        r.assert_error(415, -32600);
    }
    // No Content-Type at all.
    let r = Reply::read(
        gw.client
            .post(gw.mcp())
            .header("accept", ACCEPT_BOTH)
            .header("mcp-session-id", &s.id)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(415, -32600);
    // Parameters and case do not matter.
    let r = s
        .post_with(body, &[("content-type", "Application/JSON; charset=utf-8")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn accept_without_both_media_types_is_406() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    for accept in ["application/json", "text/event-stream", "text/html", ""] {
        let r = s.post_with(body, &[("accept", accept)]).await;
        let err = r.assert_error(406, -32600);
        assert!(
            err["message"].as_str().unwrap().contains("Accept"),
            "{}",
            r.text
        );
    }
    // initialize is held to the same rule.
    let r = gw
        .post_raw(initialize_body(1), &[("accept", "application/json")])
        .await;
    r.assert_error(406, -32600);
    assert!(r.header("mcp-session-id").is_none());
    // Wildcards count.
    let r = s.post_with(body, &[("accept", "*/*")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn body_over_the_configured_limit_is_413() {
    let c = Config::new().extra("http: { max_body_bytes: 1024 }");
    let gw = c.start().await;
    let s = gw.initialize().await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"_meta":{{"pad":"{}"}}}}}}"#,
        "x".repeat(2000)
    );
    let r = s.post_raw(big).await;
    r.assert_error(413, -32600);
    // Just under the limit is fine.
    let fits = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"ping","params":{{"_meta":{{"pad":"{}"}}}}}}"#,
        "x".repeat(900)
    );
    assert!(fits.len() <= 1024);
    let r = s.post_raw(fits).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// ----- sessions ---------------------------------------------------------------------------------

#[tokio::test]
async fn request_without_session_is_400() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let _s = gw.initialize().await;
    for body in [
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"fx__echo","arguments":{}}}"#,
    ] {
        let r = gw
            .post_raw(body, &[("mcp-protocol-version", PROTOCOL)])
            .await;
        r.assert_error(400, -32600);
    }
}

#[tokio::test]
async fn unknown_session_is_404() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let _s = gw.initialize().await;
    let r = gw
        .post_raw(
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            &[
                ("mcp-session-id", "no-such-session-0123456789"),
                ("mcp-protocol-version", PROTOCOL),
            ],
        )
        .await;
    r.assert_error(404, -32600);
    assert_eq!(r.response().unwrap()["id"], 1, "{}", r.text);
}

#[tokio::test]
async fn deleted_session_is_404() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    assert_eq!(s.request("ping", None).await.status, 200);
    let d = s.delete().await;
    assert!(d.status().is_success(), "DELETE: {}", d.status());
    let r = s.request("ping", None).await;
    r.assert_error(404, -32600);
    let r = s.call_tool("fx__echo", r#"{"message":"x"}"#).await;
    r.assert_error(404, -32600);
}

#[tokio::test]
async fn expired_session_is_404() {
    let (c, _) = fx_config();
    let gw = c.extra("sessions: { idle_ttl: 1s }").start().await;
    let s = gw.initialize().await;
    assert_eq!(s.request("ping", None).await.status, 200);
    let t0 = Instant::now();
    // Watch /status (which does not touch the session) until the sweeper has removed it.
    gw.wait_status("the idle session to expire", |st| st["sessions"] == 0)
        .await;
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "session expired after {:?}, before its idle_ttl of 1s",
        t0.elapsed()
    );
    let r = s.request("ping", None).await;
    r.assert_error(404, -32600);
}

#[tokio::test]
async fn active_session_does_not_expire() {
    let (c, _) = fx_config();
    let gw = c.extra("sessions: { idle_ttl: 1s }").start().await;
    let s = gw.initialize().await;
    // Used every 300 ms for 2 s: never idle for a whole second.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        let r = s.request("ping", None).await;
        assert_eq!(r.status, 200, "after {:?}: {}", t0.elapsed(), r.text);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

// ----- Slow and idle clients -------------------------------------------------------------------

/// Reads `sock` until the gateway closes it; what came, and how long that took.
async fn read_to_close(sock: &mut tokio::net::TcpStream) -> (String, Duration) {
    use tokio::io::AsyncReadExt;
    let t0 = Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(read.is_ok(), "still open after 10 s; read so far: {text:?}");
    (text, t0.elapsed())
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let (c, log) = fx_config();
    let gw = c
        .extra("http: { header_read_timeout: 500ms, body_read_timeout: 500ms }")
        .start()
        .await;
    let s = gw.initialize().await;
    let host = format!("127.0.0.1:{}", gw.addr.port());

    // A request head that never ends (slowloris): closed unanswered once the timeout is up.
    let mut sock = TcpStream::connect(gw.addr).await.unwrap();
    let head = format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\nX-Slow: a");
    sock.write_all(head.as_bytes()).await.unwrap();
    let (got, took) = read_to_close(&mut sock).await;
    assert_eq!(got, "", "a request that never arrived is not answered");
    assert!(took >= Duration::from_millis(400), "closed after {took:?}");

    // A keep-alive connection left idle after its answer: closed, the answer delivered first.
    let mut sock = TcpStream::connect(gw.addr).await.unwrap();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");
    sock.write_all(head.as_bytes()).await.unwrap();
    let (got, took) = read_to_close(&mut sock).await;
    assert!(got.starts_with("HTTP/1.1 200 "), "{got}");
    assert!(took >= Duration::from_millis(400), "closed after {took:?}");

    // A body that stops short: 408 and a JSON-RPC error with the request id, then the
    // connection closes, and nothing reached the upstream.
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fx__echo","arguments":{"message":"never-sent"#;
    let mut sock = TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Session-Id: {}\r\n\
         MCP-Protocol-Version: {PROTOCOL}\r\nX-Request-Id: slow-body\r\n\
         Content-Length: {}\r\n\r\n{body}",
        s.id,
        body.len() + 100,
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let (got, took) = read_to_close(&mut sock).await;
    assert!(got.starts_with("HTTP/1.1 408 "), "{got}");
    assert!(
        took >= Duration::from_millis(400),
        "answered after {took:?}"
    );
    assert!(got.contains("x-request-id: slow-body\r\n"), "{got}");
    let json: Value = serde_json::from_str(got.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap();
    assert_eq!(json["error"]["code"], -32600, "{json}");
    assert_eq!(
        json["error"]["message"], "the request body did not arrive within 0.5 s",
        "{json}"
    );
    assert_eq!(json["error"]["data"]["request_id"], "slow-body", "{json}");
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!seen.contains("never-sent"), "{seen}");

    // Clients that keep up are served as before, on the same session.
    let r = s.call_tool("fx__echo", r#"{"message":"still here"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("still here"), "{}", r.text);
}

// ----- Routes ----------------------------------------------------------------------------------

#[tokio::test]
async fn routes_answer_unknown_paths_and_methods_plainly() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let send = |method: &str, path: &str| {
        gw.client
            .request(method.parse().unwrap(), gw.url(path))
            .header("x-request-id", "route-1")
            .send()
    };
    // Unknown paths: 404, with the request id echoed like everywhere else.
    let r = send("GET", "/nope").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "route-1");
    let r = send("POST", "/mcp/extra").await.unwrap();
    assert_eq!(r.status(), 404);
    // A method /mcp has no use for: 405 naming the ones it has.
    for m in ["PUT", "PATCH", "HEAD", "OPTIONS"] {
        let r = send(m, "/mcp").await.unwrap();
        assert_eq!(r.status(), 405, "{m}");
        assert_eq!(r.headers()["allow"], "GET, POST, DELETE", "{m}");
    }
    // The operator endpoints answer GET and HEAD (without a body), nothing else.
    for path in ["/healthz", "/readyz", "/status", "/api/conformance"] {
        let r = send("GET", path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = send("HEAD", path).await.unwrap();
        assert_eq!(h.status(), 200, "{path}");
        assert_eq!(
            h.bytes().await.unwrap().len(),
            0,
            "{path}: HEAD has no body"
        );
        let r = send("POST", path).await.unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(r.headers()["allow"], "GET, HEAD", "{path}");
    }
    let status = send("GET", "/status").await.unwrap().bytes().await.unwrap();
    let status: Value = serde_json::from_slice(&status).unwrap();
    assert!(status.is_object(), "{status}");
    // Liveness and readiness are probed by address: a foreign Host does not stop them, and
    // does stop everything else.
    for (path, want) in [("/healthz", 200), ("/readyz", 200), ("/status", 403)] {
        let r = gw
            .client
            .get(gw.url(path))
            .header("host", "10.1.2.3:8080")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{path}");
    }
}

// ----- DNS rebinding ----------------------------------------------------------------------------

#[tokio::test]
async fn foreign_host_or_origin_is_403() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let port = gw.addr.port();
    let evil_host_port = format!("evil.example.com:{port}");
    for (name, value) in [
        ("host", "evil.example.com"),
        ("host", evil_host_port.as_str()),
        ("host", "127.0.0.2.evil.example.com"),
        ("origin", "http://evil.example.com"),
        ("origin", "https://evil.example.com:443"),
        ("origin", "null"),
        ("origin", "http://localhost.evil.example.com"),
    ] {
        // initialize: no session is created.
        let r = gw.post_raw(initialize_body(1), &[(name, value)]).await;
        r.assert_error(403, -32600);
        assert!(
            r.header("mcp-session-id").is_none(),
            "{name}: {value} got a session"
        );
        // A request on an existing session.
        let r = s
            .post_with(
                r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
                &[(name, value)],
            )
            .await;
        r.assert_error(403, -32600);
        // GET and DELETE are guarded too (the session must survive the refused DELETE).
        let g = Reply::read(
            gw.client
                .get(gw.mcp())
                .header("accept", "text/event-stream")
                .header("mcp-session-id", &s.id)
                .header(name, value)
                .send()
                .await
                .unwrap(),
        )
        .await;
        g.assert_error(403, -32600);
        let d = Reply::read(
            gw.client
                .delete(gw.mcp())
                .header("mcp-session-id", &s.id)
                .header(name, value)
                .send()
                .await
                .unwrap(),
        )
        .await;
        d.assert_error(403, -32600);
    }
    assert_eq!(s.request("ping", None).await.status, 200);
}

#[tokio::test]
async fn loopback_host_and_origin_are_accepted() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let port = gw.addr.port();
    let hosts = [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "[::1]".to_owned(),
    ];
    for h in &hosts {
        let r = gw.post_raw(initialize_body(1), &[("host", h)]).await;
        assert_eq!(r.status, 200, "Host {h}: {}", r.text);
        assert!(r.header("mcp-session-id").is_some(), "Host {h}");
    }
    let origins = [
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
        format!("http://[::1]:{port}"),
        "http://localhost".to_owned(),
        "https://127.0.0.1:8443".to_owned(),
        "http://[::1]".to_owned(),
    ];
    for o in &origins {
        let r = gw.post_raw(initialize_body(1), &[("origin", o)]).await;
        assert_eq!(r.status, 200, "Origin {o}: {}", r.text);
        assert!(r.header("mcp-session-id").is_some(), "Origin {o}");
    }
}

#[tokio::test]
async fn configured_host_and_origin_are_accepted() {
    let (c, _) = fx_config();
    let gw = c
        .extra("http:\n  allowed_hosts: [gw.example.com]\n  allowed_origins: [\"https://app.example.com\"]")
        .start()
        .await;
    let r = gw
        .post_raw(
            initialize_body(1),
            &[
                ("host", "gw.example.com"),
                ("origin", "https://app.example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = gw
        .post_raw(
            initialize_body(1),
            &[("origin", "https://other.example.com")],
        )
        .await;
    r.assert_error(403, -32600);
}

// ----- protocol version -------------------------------------------------------------------------

#[tokio::test]
async fn unsupported_protocol_version_header_is_400() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    for v in ["1999-01-01", "2025-13-45", "latest"] {
        let r = s
            .post_with(
                r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
                &[("mcp-protocol-version", v)],
            )
            .await;
        let err = r.assert_error(400, -32600);
        assert!(
            err["message"].as_str().unwrap().contains(v),
            "the message should name the bad version: {}",
            r.text
        );
        let g = Reply::read(
            gw.client
                .get(gw.mcp())
                .header("accept", "text/event-stream")
                .header("mcp-session-id", &s.id)
                .header("mcp-protocol-version", v)
                .send()
                .await
                .unwrap(),
        )
        .await;
        g.assert_error(400, -32600);
    }
    // Every known revision is accepted.
    for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let r = s
            .post_with(
                r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#,
                &[("mcp-protocol-version", v)],
            )
            .await;
        assert_eq!(r.status, 200, "{v}: {}", r.text);
    }
}

// ----- methods and tools ------------------------------------------------------------------------

#[tokio::test]
async fn unknown_tool_is_invalid_params() {
    let (c, log) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    for name in ["fx__no_such_tool", "nope", "echo", "fx_echo", "fx__"] {
        let r = s.call_tool(name, "{}").await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.assert_error(200, -32602);
    }
    // Missing or mistyped name.
    for p in [r#"{"arguments":{}}"#, r#"{"name":7}"#, r#"[]"#] {
        let r = s.request("tools/call", Some(p)).await;
        r.assert_error(200, -32602);
    }
    // None of them reached the upstream.
    assert!(
        !log_lines(&log).iter().any(|l| l.contains("tools/call")),
        "{:?}",
        log_lines(&log)
    );
}

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    for m in ["no/such/method", "tools/lists", "sampling/createMessage"] {
        let r = s.request(m, Some("{}")).await;
        let err = r.assert_error(200, -32601);
        assert!(err["message"].as_str().unwrap().contains(m), "{}", r.text);
    }
}

// ----- upstream failures ------------------------------------------------------------------------

/// Starts a gateway with a healthy `fx` and the upstream `bad`, then checks that calls routed to
/// `bad` fail promptly with an error naming it while `fx` keeps serving.
async fn assert_broken_upstream_is_named(bad: Upstream) {
    let name = bad.name.clone();
    let c = Config::new()
        .upstream(Upstream::fixture("fx"))
        .upstream(bad);
    let gw = c.start().await;
    let s = gw.initialize().await;
    // The catalog lists the healthy upstream only.
    let r = s.request("tools/list", None).await;
    let tools = r.result()["tools"].as_array().unwrap().clone();
    assert!(tools.iter().any(|t| t["name"] == "fx__echo"), "{}", r.text);
    assert!(
        !tools.iter().any(|t| t["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{name}__"))),
        "{}",
        r.text
    );
    for tool in ["echo", "anything"] {
        let t0 = Instant::now();
        let r = s.call_tool(&format!("{name}__{tool}"), "{}").await;
        let err = r.assert_error(200, -31001);
        assert_eq!(
            err["data"]["upstream"], name,
            "the error must name the upstream: {}",
            r.text
        );
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "took {:?}",
            t0.elapsed()
        );
    }
    let r = s.call_tool("fx__echo", r#"{"message":"still here"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "still here", "{}", r.text);
    let st = gw.status().await;
    let up = st["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name.as_str())
        .cloned()
        .unwrap();
    assert_ne!(up["state"], "ready", "{st}");
    assert!(up["error"].is_string(), "/status should say why: {st}");
}

#[tokio::test]
async fn upstream_that_exits_at_start_is_named() {
    assert_broken_upstream_is_named(Upstream::command("dead", "false", &[]).timeout("2s")).await;
}

#[tokio::test]
async fn upstream_command_that_does_not_exist_is_named() {
    assert_broken_upstream_is_named(
        Upstream::command("missing", "/nonexistent/switchboard-test-binary", &[]).timeout("2s"),
    )
    .await;
}

#[tokio::test]
async fn upstream_that_prints_garbage_at_start_is_named() {
    assert_broken_upstream_is_named(
        Upstream::command(
            "noisy",
            "sh",
            &[
                "-c",
                "echo 'this is not json'; echo '{\"half\":'; exec sleep 60",
            ],
        )
        .timeout("1s"),
    )
    .await;
}

#[tokio::test]
async fn upstream_that_never_answers_is_named() {
    assert_broken_upstream_is_named(Upstream::command("silent", "sleep", &["60"]).timeout("1s"))
        .await;
}

#[tokio::test]
async fn crashed_upstream_fails_fast_and_others_keep_serving() {
    let c = Config::new()
        .upstream(Upstream::fixture("fx").timeout("30s"))
        .upstream(Upstream::fixture("ok"));
    let gw = c.start().await;
    let s = gw.initialize().await;
    let t0 = Instant::now();
    let r = s.call_tool("fx__crash", "{}").await;
    let err = r.assert_error(200, -31004);
    assert_eq!(err["data"]["upstream"], "fx", "{}", r.text);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the crash was reported after {:?} (timeout is 30s)",
        t0.elapsed()
    );
    // Right after the crash fx is down (it restarts after a back-off). A call to it must either
    // succeed (already restarted) or fail promptly naming fx — not claim the tool does not exist.
    assert_down_or_back(&s, "right after the crash").await;
    // Same once the gateway has withdrawn fx's tools from the catalog (/status counts 0 tools),
    // if that state is caught before fx is back.
    let st = gw
        .wait_status("fx withdrawn or restarted", |st| {
            let fx = &st["upstreams"][0];
            fx["tools"] == 0 || (fx["state"] == "ready" && fx["restarts"].as_u64() >= Some(1))
        })
        .await;
    if st["upstreams"][0]["tools"] == 0 {
        assert_down_or_back(&s, "with fx's tools withdrawn").await;
    }
    // The other upstream never noticed.
    let r = s.call_tool("ok__echo", r#"{"message":"unaffected"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "unaffected", "{}", r.text);
    // And fx comes back.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = s.call_tool("fx__echo", r#"{"message":"back"}"#).await;
        if r.response().unwrap().get("result").is_some() {
            assert_eq!(r.result()["content"][0]["text"], "back");
            break;
        }
        assert!(Instant::now() < deadline, "fx never came back: {}", r.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls `fx__echo` on an upstream that just crashed: a prompt success (it is back) or a prompt
/// error naming `fx`.
async fn assert_down_or_back(s: &Session<'_>, when: &str) {
    let t = Instant::now();
    let r = s.call_tool("fx__echo", r#"{"message":"again"}"#).await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "{when}: {:?}",
        t.elapsed()
    );
    let resp = r.response().unwrap();
    if let Some(err) = resp.get("error") {
        assert_eq!(
            err["data"]["upstream"], "fx",
            "{when}: a call to a crashed upstream must name it: {}",
            r.text
        );
        // Unavailable, or closed if the call raced the connection's shutdown.
        assert!(
            err["code"] == -31001 || err["code"] == -31004,
            "{when}: {}",
            r.text
        );
    } else {
        assert_eq!(resp["result"]["content"][0]["text"], "again", "{}", r.text);
    }
}

#[tokio::test]
async fn slow_call_times_out_and_is_cancelled_upstream() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log).timeout("1s"))
        .start()
        .await;
    let s = gw.initialize().await;
    let t0 = Instant::now();
    let r = s.call_tool("fx__slow", r#"{"ms":10000}"#).await;
    let elapsed = t0.elapsed();
    let err = r.assert_error(200, -31002);
    assert_eq!(err["data"]["upstream"], "fx", "{}", r.text);
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "timed out after {elapsed:?} (timeout 1s)"
    );
    // The upstream was told to stop working on it.
    let call = wait_log(&log, PATIENCE, |l| {
        l.contains("tools/call") && l.contains("\"slow\"")
    })
    .await;
    let call = parse_logged(&call).unwrap();
    let cancel = wait_log(&log, Duration::from_secs(3), |l| {
        l.contains("notifications/cancelled")
    })
    .await;
    let cancel: Value = serde_json::from_str(&cancel).unwrap();
    assert_eq!(cancel["method"], "notifications/cancelled");
    assert_eq!(
        cancel["params"]["requestId"].to_string(),
        call.id,
        "cancelled the wrong request: {cancel}"
    );
    // The session is still usable.
    let r = s.call_tool("fx__echo", r#"{"message":"after"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "after", "{}", r.text);
}

#[tokio::test]
async fn garbage_line_from_upstream_is_skipped() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let r = s.call_tool("fx__garbage", "{}").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let result = r.result();
    assert_eq!(
        result["content"][0]["text"], "Wrote a non-JSON line to stdout before this answer",
        "{}",
        r.text
    );
    assert_ne!(result["isError"], true);
    let r = s.call_tool("fx__echo", r#"{"message":"fine"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "fine", "{}", r.text);
}

// ----- the command line -------------------------------------------------------------------------

#[test]
fn non_loopback_listen_without_allowed_hosts_exits_2() {
    let c = Config::new().upstream(Upstream::fixture("fx"));
    let path = c.write();
    let path = path.to_str().unwrap();
    let (st, _out, err) = run_gateway(
        &["serve", "--config", path, "--listen", "0.0.0.0:0"],
        Duration::from_secs(20),
    );
    assert_eq!(st.code(), Some(2), "stderr:\n{err}");
    assert!(err.contains("allowed_hosts"), "stderr:\n{err}");
}

#[test]
fn check_reports_unknown_key_with_file_line_col() {
    let c = Config::new();
    let path = c.path("bad.yaml");
    let fixture = fixture_bin().display().to_string();
    std::fs::write(
        &path,
        format!(
            "upstreams:\n  fx:\n    stdio: {{ command: {} }}\n    retries: 3\n",
            q(&fixture)
        ),
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let (st, out, err) = run_gateway(&["check", "--config", p], Duration::from_secs(20));
    assert_eq!(st.code(), Some(2), "stdout:\n{out}\nstderr:\n{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains(&format!("{p}:4:5")),
        "expected {p}:4:5 in:\n{all}"
    );
    assert!(all.contains("retries"), "{all}");
    // The same file without the typo passes.
    std::fs::write(
        &path,
        format!(
            "upstreams:\n  fx:\n    stdio: {{ command: {} }}\n",
            q(&fixture)
        ),
    )
    .unwrap();
    let (st, out, err) = run_gateway(&["check", "--config", p], Duration::from_secs(20));
    assert_eq!(st.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
}

// ----- idempotency keys -------------------------------------------------------------------------

#[tokio::test]
async fn idempotency_keys_must_be_printable_ascii_of_at_most_255() {
    let (c, log) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    let call = |id: u64| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fx__echo","arguments":{{"message":"k{id}"}}}}}}"#
        )
    };
    let too_long = "k".repeat(256);
    for (id, key) in [(1, ""), (2, too_long.as_str()), (3, "tab\there")] {
        let r = s.post_with(call(id), &[("idempotency-key", key)]).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.error_code(), -32602, "key {key:?}: {}", r.text);
        assert!(
            r.error()["message"]
                .as_str()
                .is_some_and(|m| m.contains("1 to 255 printable ASCII")),
            "{}",
            r.text
        );
        assert_eq!(r.error()["data"]["request_id"], r.request_id());
    }
    // In `_meta`, for transports without headers: the same rule, and it must be a string.
    let r = s
        .request(
            "tools/call",
            Some(r#"{"name":"fx__echo","arguments":{"message":"m"},"_meta":{"io.github.switchboard-mcp/idempotencyKey":7}}"#),
        )
        .await;
    assert_eq!(r.error_code(), -32602, "{}", r.text);
    // A refused call never reached the upstream; well-formed keys pass.
    let wire = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !wire.contains("\"k1\"") && !wire.contains("\"k2\""),
        "{wire}"
    );
    let longest = "k".repeat(255);
    let r = s.post_with(call(4), &[("idempotency-key", &longest)]).await;
    assert_eq!(r.result()["content"][0]["text"], "k4", "{}", r.text);
    let r = s
        .request(
            "tools/call",
            Some(r#"{"name":"fx__echo","arguments":{"message":"m"},"_meta":{"io.github.switchboard-mcp/idempotencyKey":"order-42"}}"#),
        )
        .await;
    assert_eq!(r.result()["content"][0]["text"], "m", "{}", r.text);
}
