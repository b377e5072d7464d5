//! The admin REST API (`/api/upstreams`, `/api/products`), usage accounting (`/api/usage`,
//! `switchboard_usage_calls_total`) and the OpenAPI document, against the real binary: changes
//! apply live, persist to `<state_dir>/admin.json` and survive a restart; bad input is refused
//! with the field it is about; stale ETags, wrong ids, missing scopes and a state file cut off
//! mid-write are handled.

mod support;

use serde_json::{Value, json};
use support::{
    ACCEPT_BOTH, Config, Gateway, PROTOCOL, Reply, Upstream, create_key, initialize_body,
};

async fn send(
    gw: &Gateway,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut rb = gw
        .client
        .request(method.parse().unwrap(), gw.url(path))
        .headers(support::header_map(headers));
    if let Some(b) = body {
        rb = rb
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    Reply::read(rb.send().await.expect("request")).await
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_str(&r.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text))
}

/// Opens a session at `path` and lists its tools' names.
async fn tools_at(gw: &Gateway, path: &str) -> Result<Vec<String>, u16> {
    let post = |body: String, headers: Vec<(&'static str, String)>| {
        let mut rb = gw
            .client
            .post(gw.url(path))
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        async move { Reply::read(rb.send().await.expect("POST")).await }
    };
    let init = post(initialize_body(1), vec![]).await;
    if init.status != 200 {
        return Err(init.status);
    }
    let sid = init.header("mcp-session-id").expect("a session").to_owned();
    let h = || {
        vec![
            ("mcp-session-id", sid.clone()),
            ("mcp-protocol-version", PROTOCOL.to_owned()),
        ]
    };
    post(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
        h(),
    )
    .await;
    let list = post(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.into(),
        h(),
    )
    .await;
    let v = list.messages().pop().expect("an answer");
    Ok(v["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", list.text))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect())
}

const PRODUCT: &str = r#"{"id":"test","name":"Test","status":"published","tools":["fx__echo"]}"#;

#[tokio::test]
async fn a_product_put_is_served_at_once_and_after_a_restart() {
    let mut gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    assert_eq!(tools_at(&gw, "/mcp/v/test").await, Err(404));

    let r = send(&gw, "PUT", "/api/products/test", Some(PRODUCT), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let etag = r.header("etag").expect("an ETag").to_owned();
    assert_eq!(json_of(&r)["tools"], json!(["fx__echo"]));
    assert_eq!(
        tools_at(&gw, "/mcp/v/test").await,
        Ok(vec!["fx__echo".to_owned()])
    );

    // GET shows what PUT took, with the same ETag; the list has it; conformance names it.
    let got = send(&gw, "GET", "/api/products/test", None, &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some(etag.as_str()));
    assert_eq!(
        json_of(&got),
        serde_json::from_str::<Value>(PRODUCT).unwrap()
    );
    let list = json_of(&send(&gw, "GET", "/api/products", None, &[]).await);
    assert_eq!(list["products"][0]["id"], "test", "{list}");
    let conf = json_of(&send(&gw, "GET", "/api/conformance", None, &[]).await);
    assert_eq!(conf["products"][0]["endpoint"], "/mcp/v/test", "{conf}");
    assert_eq!(
        conf["transports"],
        serde_json::json!(["streamable-http", "stdio", "websocket"]),
        "{conf}"
    );
    assert_eq!(conf["endpoints"]["websocket"], "/mcp/ws", "{conf}");

    // Persisted atomically beside the config; no temporary file left behind.
    let state = gw.config.path("switchboard-state/admin.json");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["products"]["test"]["status"], "published", "{saved}");
    assert!(!gw.config.path("switchboard-state/admin.json.tmp").exists());

    // `switchboard check` shows what `serve` would run: the file with the state file laid over.
    let path = gw.config.path("switchboard.yaml");
    let (status, out, err) = support::run_gateway(
        &["check", "--config", path.to_str().unwrap()],
        std::time::Duration::from_secs(20),
    );
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains("admin API changes laid over the file")
            && out.contains("0 upstream(s), 1 product(s)"),
        "{out}"
    );
    assert!(out.contains("test"), "{out}");

    // Back to draft: 404 at once.
    let draft = r#"{"name":"Test","status":"draft","tools":["fx__echo"]}"#;
    let r = send(
        &gw,
        "PUT",
        "/api/products/test",
        Some(draft),
        &[("if-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(tools_at(&gw, "/mcp/v/test").await, Err(404));
    let r = send(&gw, "PUT", "/api/products/test", Some(PRODUCT), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A restart reads the state file: the product is still served. A write cut off by a
    // crash (a half-written temporary file) is ignored; the previous state stands.
    gw.terminate();
    std::fs::write(
        gw.config.path("switchboard-state/admin.json.tmp"),
        br#"{"products": {"test": {"status": "dra"#,
    )
    .unwrap();
    let config = std::mem::take(&mut gw.config);
    drop(gw);
    let gw = Gateway::start(config).await;
    assert_eq!(
        tools_at(&gw, "/mcp/v/test").await,
        Ok(vec!["fx__echo".to_owned()])
    );
    assert!(!gw.config.path("switchboard-state/admin.json.tmp").exists());

    // Deleted: gone now, and after the next restart too.
    let r = send(&gw, "DELETE", "/api/products/test", None, &[]).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(tools_at(&gw, "/mcp/v/test").await, Err(404));
    let r = send(&gw, "GET", "/api/products/test", None, &[]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_corrupt_state_file_stops_the_start_with_a_clear_error() {
    let c = Config::new().upstream(Upstream::fixture("fx"));
    std::fs::create_dir_all(c.path("switchboard-state")).unwrap();
    std::fs::write(
        c.path("switchboard-state/admin.json"),
        b"{\"products\": {\"te",
    )
    .unwrap();
    let path = c.write();
    let (status, _, err) = support::run_gateway(
        &[
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        std::time::Duration::from_secs(20),
    );
    assert!(!status.success());
    assert!(
        err.contains("admin.json") && err.contains("not valid"),
        "{err}"
    );
    // `check` refuses it the same way.
    let (status, _, err) = support::run_gateway(
        &["check", "--config", path.to_str().unwrap()],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("admin.json"), "{err}");
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_it_is_about() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let put = |body: &'static str| send(&gw, "PUT", "/api/products/test", Some(body), &[]);

    let r = put(r#"{"name": "Test", "status": "published""#).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let r = put(r#"{"name": "Test", "colour": "red"}"#).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.error()["data"]["field"],
        "products.test.colour",
        "{}",
        r.text
    );

    let r = put(r#"{"name": "Test", "status": "live"}"#).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error()["data"]["field"], "products.test.status");
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("products.test.status: "),
        "{}",
        r.text
    );

    // Two tools under one name: by the body alone (two overrides), and only against the live
    // catalog (a rename onto a tool the product also selects). Both name the field and both
    // tools, and neither is written.
    let r = put(
        r#"{"status": "published", "tools": ["fx__*"], "overrides": {"fx__echo": {"name": "same"}, "fx__test_simple_text": {"name": "same"}}}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let message = r.error()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("fx__echo") && message.contains("fx__test_simple_text"),
        "{}",
        r.text
    );
    let r = put(
        r#"{"status": "published", "tools": ["fx__*"], "overrides": {"fx__echo": {"name": "fx__test_simple_text"}}}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.error()["data"]["field"],
        "products.test.overrides",
        "{}",
        r.text
    );
    let message = r.error()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("fx__echo") && message.contains("fx__test_simple_text"),
        "{}",
        r.text
    );

    let r = put(r#"{"id": "other", "name": "Test"}"#).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = put(r#"["not", "an", "object"]"#).await;
    assert_eq!(r.status, 400, "{}", r.text);

    let r = send(&gw, "PUT", "/api/products/test", None, &[]).await;
    assert_eq!(r.status, 415, "{}", r.text);

    // Nothing of that was applied or written.
    assert_eq!(
        send(&gw, "GET", "/api/products/test", None, &[])
            .await
            .status,
        404
    );
    assert!(!gw.config.path("switchboard-state/admin.json").exists());

    // Lost updates: a change based on a stale ETag is refused.
    let first = put(PRODUCT).await;
    assert_eq!(first.status, 201);
    let old = first.header("etag").unwrap().to_owned();
    let r = send(
        &gw,
        "PUT",
        "/api/products/test",
        Some(r#"{"name": "Second", "status": "published"}"#),
        &[("if-match", &old)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        &gw,
        "PUT",
        "/api/products/test",
        Some(r#"{"name": "Third", "status": "published"}"#),
        &[("if-match", &old)],
    )
    .await;
    assert_eq!(r.status, 412, "{}", r.text);
    let r = send(
        &gw,
        "DELETE",
        "/api/products/test",
        None,
        &[("if-match", &old)],
    )
    .await;
    assert_eq!(r.status, 412, "{}", r.text);
    let got = json_of(&send(&gw, "GET", "/api/products/test", None, &[]).await);
    assert_eq!(got["name"], "Second");

    // Wrong methods and unknown items.
    assert_eq!(
        send(&gw, "POST", "/api/products", Some("{}"), &[])
            .await
            .status,
        405
    );
    assert_eq!(
        send(&gw, "DELETE", "/api/upstreams/nope", None, &[])
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn concurrent_writers_with_one_etag_one_wins() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let first = send(&gw, "PUT", "/api/products/test", Some(PRODUCT), &[]).await;
    let etag = first.header("etag").unwrap().to_owned();
    let bodies: Vec<String> = (0..8)
        .map(|i| format!(r#"{{"name": "Writer {i}", "status": "published"}}"#))
        .collect();
    let headers = [("if-match", etag.as_str())];
    let replies = futures::future::join_all(
        bodies
            .iter()
            .map(|b| send(&gw, "PUT", "/api/products/test", Some(b), &headers)),
    )
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn upstreams_are_added_and_removed_live_and_the_egress_policy_applies() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let fixture = support::fixture_bin();
    let body = json!({"stdio": {"command": fixture.to_str().unwrap()}}).to_string();
    let r = send(&gw, "PUT", "/api/upstreams/two", Some(&body), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    gw.wait_status("upstream two ready", |st| {
        st["upstreams"].as_array().is_some_and(|a| {
            a.iter()
                .any(|u| u["name"] == "two" && u["state"] == "ready")
        })
    })
    .await;
    let tools = tools_at(&gw, "/mcp").await.unwrap();
    assert!(tools.contains(&"two__echo".to_owned()), "{tools:?}");

    // The file's upstream is listed as written.
    let list = json_of(&send(&gw, "GET", "/api/upstreams", None, &[]).await);
    let ids: Vec<&str> = list["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["fx", "two"]);

    // Cloud metadata is never an upstream; an unknown transport field names itself.
    let meta = r#"{"http": {"url": "http://169.254.169.254/mcp"}}"#;
    let r = send(&gw, "PUT", "/api/upstreams/meta", Some(meta), &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error()["data"]["field"], "upstreams.meta.http.url");
    let r = send(
        &gw,
        "PUT",
        "/api/upstreams/bad",
        Some(r#"{"http": {"url": "https://example.com/mcp", "verb": "GET"}}"#),
        &[],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error()["data"]["field"], "upstreams.bad.http.verb");
    // Two upstreams, one prefix.
    let clash =
        json!({"stdio": {"command": fixture.to_str().unwrap()}, "prefix": "fx"}).to_string();
    let r = send(&gw, "PUT", "/api/upstreams/three", Some(&clash), &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error()["data"]["field"], "upstreams.three.prefix");

    let r = send(&gw, "DELETE", "/api/upstreams/two", None, &[]).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let tools = tools_at(&gw, "/mcp").await.unwrap();
    assert!(!tools.iter().any(|t| t.starts_with("two__")), "{tools:?}");
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_scope() {
    let (admin, admin_entry) = create_key("ops", "admin");
    let (user, user_entry) = create_key("ci", "mcp.invoke");
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  api_keys:\n    {admin_entry}\n    {user_entry}\n"
        ))
        .start()
        .await;
    let as_admin = format!("Bearer {admin}");
    let as_user = format!("Bearer {user}");
    let r = send(&gw, "GET", "/api/products", None, &[]).await;
    assert_eq!(r.status, 401, "{}", r.text);
    for (method, path, body) in [
        ("GET", "/api/products", None),
        ("PUT", "/api/products/test", Some(PRODUCT)),
        ("GET", "/api/usage", None),
        ("POST", "/api/usage/reset", None),
    ] {
        let r = send(&gw, method, path, body, &[("authorization", &as_user)]).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
    }
    let r = send(
        &gw,
        "PUT",
        "/api/products/test",
        Some(PRODUCT),
        &[("authorization", &as_admin)],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The OpenAPI document and conformance are open.
    assert_eq!(
        send(&gw, "GET", "/api/openapi.json", None, &[])
            .await
            .status,
        200
    );
    assert_eq!(
        send(&gw, "GET", "/api/conformance", None, &[]).await.status,
        200
    );
}

/// Without auth, the admin API answers loopback callers only: the gateway listens on every
/// address here (`anonymous: force`) and is reached at the machine's own non-loopback address.
#[tokio::test]
async fn without_auth_a_non_loopback_caller_is_refused() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine; nothing to test");
        return;
    };
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .listen(std::net::SocketAddr::from(([0, 0, 0, 0], port)))
        .extra(&format!(
            "auth:\n  anonymous: force\nhttp:\n  allowed_hosts: [\"{ip}:{port}\"]\n"
        ))
        .start()
        .await;
    let r = gw
        .client
        .get(format!("http://{ip}:{port}/api/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = gw
        .client
        .get(format!("http://{ip}:{port}/api/conformance"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn non_loopback_ip() -> Option<std::net::IpAddr> {
    // The address the kernel would use to leave the machine; nothing is sent.
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn usage_counts_calls_by_outcome_and_replays_are_not_billed_twice() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let s = gw.initialize().await;
    let echo = |id: u64| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fx__echo","arguments":{{"message":"hi"}}}}}}"#
        )
    };
    assert_eq!(s.post_raw(echo(10)).await.status, 200);
    // The same key twice: one call upstream, one replay.
    for id in [11, 12] {
        let r = s.post_with(echo(id), &[("Idempotency-Key", "k-1")]).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // The same key with other arguments: refused (a conflict).
    let other = r#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"fx__echo","arguments":{"message":"other"}}}"#;
    let r = s.post_with(other, &[("Idempotency-Key", "k-1")]).await;
    assert_ne!(r.status, 500, "{}", r.text);
    assert!(
        r.messages().iter().any(|m| m.get("error").is_some()),
        "{}",
        r.text
    );
    // A tool that does not exist: an error.
    let r = s.call_tool("fx__nope", "{}").await;
    assert!(
        r.messages().iter().any(|m| m.get("error").is_some()),
        "{}",
        r.text
    );

    let u = json_of(&send(&gw, "GET", "/api/usage?tool=fx__echo", None, &[]).await);
    let rows = u["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{u}");
    let row = &rows[0];
    assert_eq!(row["principal"], "anonymous");
    assert_eq!(row["product"], Value::Null);
    assert_eq!(
        (
            row["ok"].as_u64(),
            row["replayed"].as_u64(),
            row["refused"].as_u64()
        ),
        (Some(2), Some(1), Some(1)),
        "{u}"
    );
    assert_eq!(row["billable"], 2, "{u}");
    let all = json_of(&send(&gw, "GET", "/api/usage", None, &[]).await);
    assert_eq!(all["total"]["error"], 1, "{all}");
    // A name nobody listed is never a key: it is counted as `unknown`.
    let unknown = json_of(&send(&gw, "GET", "/api/usage?tool=unknown", None, &[]).await);
    assert_eq!(unknown["rows"][0]["error"], 1, "{unknown}");
    assert!(!all.to_string().contains("fx__nope"), "{all}");
    let r = send(&gw, "GET", "/api/usage?colour=red", None, &[]).await;
    assert_eq!(r.status, 400);

    let metrics = gw
        .client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"switchboard_usage_calls_total{principal="anonymous",product="",tool="fx__echo",outcome="replayed"} 1"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains("fx__nope"),
        "raw input became a label: {metrics}"
    );

    // A reset starts a new window; the metric keeps counting.
    assert_eq!(
        send(&gw, "POST", "/api/usage/reset", None, &[])
            .await
            .status,
        204
    );
    let u = json_of(&send(&gw, "GET", "/api/usage", None, &[]).await);
    assert_eq!(u["rows"], json!([]), "{u}");
    assert_eq!(s.post_raw(echo(20)).await.status, 200);
    let u = json_of(&send(&gw, "GET", "/api/usage", None, &[]).await);
    assert_eq!(u["rows"][0]["ok"], 1, "{u}");
    let metrics = gw
        .client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"switchboard_usage_calls_total{principal="anonymous",product="",tool="fx__echo",outcome="ok"} 3"#),
        "{metrics}"
    );
}

/// The admin routes this branch serves: every one must be in the OpenAPI document.
const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/upstreams"),
    ("get", "/api/upstreams/{id}"),
    ("put", "/api/upstreams/{id}"),
    ("delete", "/api/upstreams/{id}"),
    ("get", "/api/products"),
    ("get", "/api/products/{id}"),
    ("put", "/api/products/{id}"),
    ("delete", "/api/products/{id}"),
    ("get", "/api/usage"),
    ("post", "/api/usage/reset"),
    ("post", "/api/plugins"),
    ("get", "/api/conformance"),
    ("get", "/api/openapi.json"),
];

#[tokio::test]
async fn every_route_in_the_openapi_document_is_served_and_every_admin_route_documented() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let r = send(&gw, "GET", "/api/openapi.json", None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "application/json");
    let doc = json_of(&r);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ADMIN_ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
    let mut exercised = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            if !["get", "put", "post", "delete"].contains(&method.as_str()) {
                continue;
            }
            let concrete = path.replace("{id}", "nope");
            let body = op.get("requestBody").map(|_| "{}");
            let r = send(&gw, &method.to_uppercase(), &concrete, body, &[]).await;
            assert_ne!(r.status, 405, "{method} {path}: not allowed");
            assert!(
                !(r.status == 404 && r.text == "not found\n"),
                "{method} {path}: no such route"
            );
            // Each documented answer is one the document lists.
            let documented = op["responses"]
                .as_object()
                .unwrap()
                .contains_key(&r.status.to_string());
            assert!(
                documented,
                "{method} {path} answered {} (undocumented): {}",
                r.status, r.text
            );
            exercised += 1;
        }
    }
    assert!(exercised >= ADMIN_ROUTES.len(), "{exercised}");
}

/// The audit records of `path` once there are at least `n`.
async fn audit_records(path: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} records expected:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Admin changes are audited with their principal; a reload of the file keeps them (the state
/// file is laid over the new file); products in the file change live on a reload too.
#[tokio::test]
async fn changes_are_audited_and_outlive_a_reload_of_the_file() {
    let c = Config::new().upstream(Upstream::fixture("fx"));
    let log = c.path("audit.jsonl");
    let mut gw = c
        .extra(&format!(
            "audit:\n  file: {{ path: {}, fsync: 100ms }}\nproducts:\n  filed: {{ status: published, tools: [\"fx__*\"] }}\n",
            support::q(&log.display().to_string())
        ))
        .start()
        .await;
    let r = send(&gw, "PUT", "/api/products/test", Some(PRODUCT), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = send(&gw, "DELETE", "/api/products/filed", None, &[]).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let recs = audit_records(&log, 2).await;
    let put = recs
        .iter()
        .find(|r| r["action"] == "product_put")
        .expect("a put record");
    assert_eq!(put["kind"], "admin", "{put}");
    assert_eq!(put["principal"], "anonymous", "{put}");
    assert_eq!(put["outcome"], "ok", "{put}");
    assert!(put["detail"].as_str().unwrap().contains("`test`"), "{put}");
    assert!(recs.iter().any(|r| r["action"] == "product_delete"));

    // The file gains a product and SIGHUP reloads it: served at once. The one the API made is
    // still served, and the one it deleted stays deleted although the file still has it.
    gw.config
        .extra
        .push_str("  more: { status: published, tools: [\"fx__echo\"] }\n");
    std::fs::write(gw.config.path("switchboard.yaml"), gw.config.yaml()).unwrap();
    gw.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tools_at(&gw, "/mcp/v/more").await.is_err() {
        assert!(std::time::Instant::now() < deadline, "{}", gw.stderr());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        tools_at(&gw, "/mcp/v/test").await,
        Ok(vec!["fx__echo".to_owned()])
    );
    assert_eq!(tools_at(&gw, "/mcp/v/filed").await, Err(404));
    let list = json_of(&send(&gw, "GET", "/api/products", None, &[]).await);
    let ids: Vec<&str> = list["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["more", "test"], "{list}");
    gw.terminate();
}
