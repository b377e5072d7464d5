//! API keys through the real binary: a key made by `switchboard keys create` admits its holder,
//! anything else gets HTTP 401 with `WWW-Authenticate`, a session belongs to the key that
//! opened it, an anonymous gateway refuses a public listener, and the key never shows up in the
//! gateway's logs.

mod support;

use support::{create_key, create_key_with};

use std::time::Duration;

use serde_json::json;
use support::modern::{assert_error, call_tool as modern_call};
use support::{Config, Gateway, Upstream, run_gateway};

#[tokio::test]
async fn api_keys_admit_their_holders_and_refuse_everyone_else() {
    let (key, entry) = create_key("ci", "mcp.invoke");
    let (other, other_entry) = create_key("ops", "mcp.invoke");
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  api_keys:\n    {entry}\n    {other_entry}\n"
        ))
        .start()
        .await;
    let bearer = format!("Bearer {key}");

    // No credentials, a wrong key, a token that is not a key: 401, saying how to authenticate.
    let mut wrong = key.clone();
    wrong.replace_range(key.len() - 4.., "AAAA");
    for auth in [
        None,
        Some(format!("Bearer {wrong}")),
        Some("Bearer abc.def.ghi".to_owned()),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let r = gw.try_initialize(&headers).await.err().expect("refused");
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text);
        // RFC 6750: `invalid_token` only when a credential was presented; no `resource_metadata`
        // without `auth.jwt` (there is no authorization server to discover).
        let expected = if auth.is_some() {
            "Bearer realm=\"switchboard\", error=\"invalid_token\", scope=\"mcp.tools.read mcp.invoke mcp.prompts.read mcp.resources.read\""
        } else {
            "Bearer realm=\"switchboard\", scope=\"mcp.tools.read mcp.invoke mcp.prompts.read mcp.resources.read\""
        };
        assert_eq!(r.header("www-authenticate"), Some(expected));
        assert_eq!(r.error()["code"], -31040, "{}", r.text);
        assert_eq!(r.error()["data"]["category"], "auth");
        assert_eq!(r.error()["data"]["retryable"], false);
        let reason = auth.is_some().then_some("invalid_token");
        assert_eq!(r.error()["data"]["reason"].as_str(), reason, "{}", r.text);
    }

    // The key: served.
    let s = match gw.try_initialize(&[("authorization", &bearer)]).await {
        Ok(s) => s,
        Err(r) => panic!("refused: {} {}", r.status, r.text),
    };
    let r = s.call_tool("fx__echo", r#"{"message":"hi"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "hi", "{}", r.text);

    // Its session is its own: another valid key presenting the id gets "no such session".
    let id = s.next_id();
    let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#);
    let r = gw
        .post()
        .header("mcp-session-id", &s.id)
        .header("mcp-protocol-version", "2025-06-18")
        .header("authorization", format!("Bearer {other}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The key itself appears in no log line.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = gw.stderr();
    assert!(
        !log.contains(&key) && !log.contains(&other),
        "a key leaked into the log"
    );
}

#[test]
fn anonymous_on_a_public_listener_is_refused_unless_forced() {
    let c = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra("http: { allowed_hosts: [\"gw.example\"] }\n");
    let path = c.write();
    let path = path.to_str().unwrap();
    let (st, _out, err) = run_gateway(
        &["serve", "--config", path, "--listen", "0.0.0.0:0"],
        Duration::from_secs(20),
    );
    assert_eq!(st.code(), Some(2), "stderr:\n{err}");
    assert!(err.contains("auth.anonymous: force"), "stderr:\n{err}");
}

#[tokio::test]
async fn each_method_needs_its_scope_and_a_refusal_names_it() {
    let (reader, reader_entry) = create_key("reader", "mcp.tools.read");
    let (caller, caller_entry) = create_key("caller", "mcp.tools.read,mcp.invoke");
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log))
        .extra(&format!(
            "auth:\n  api_keys:\n    {reader_entry}\n    {caller_entry}\n"
        ))
        .start()
        .await;
    let bearer = format!("Bearer {reader}");
    let s = match gw.try_initialize(&[("authorization", &bearer)]).await {
        Ok(s) => s,
        Err(r) => panic!("{} {}", r.status, r.text),
    };
    // It may list...
    let r = s.request("tools/list", None).await;
    assert!(
        r.result()["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{}",
        r.text
    );
    // ...but not call: 403, the scope named in the body and the header; nothing sent.
    let r = s.call_tool("fx__echo", r#"{"message":"x"}"#).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.header("x-required-scopes"), Some("mcp.invoke"));
    let e = r.error();
    assert_eq!(e["code"], -31041);
    assert_eq!(e["data"]["category"], "scope");
    assert_eq!(e["data"]["retryable"], false);
    assert_eq!(
        e["data"]["required_scopes"],
        serde_json::json!(["mcp.invoke"])
    );
    assert!(e["data"]["request_id"].is_string());
    // Nor read prompts.
    let r = s.request("prompts/list", None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.header("x-required-scopes"), Some("mcp.prompts.read"));
    let sent = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !sent.contains("\"tools/call\""),
        "a refused call reached the upstream"
    );

    let bearer = format!("Bearer {caller}");
    let s = match gw.try_initialize(&[("authorization", &bearer)]).await {
        Ok(s) => s,
        Err(r) => panic!("{} {}", r.status, r.text),
    };
    let r = s.call_tool("fx__echo", r#"{"message":"ok"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "ok", "{}", r.text);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_reset_with_time() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log))
        .extra("limits: { rate: { per_tool: 3/s } }\n")
        .start()
        .await;
    let s = gw.initialize().await;
    for i in 0..3 {
        let r = s
            .call_tool("fx__echo", &format!(r#"{{"message":"{i}"}}"#))
            .await;
        assert_eq!(r.status, 200, "call {i} of the burst: {}", r.text);
    }
    let r = s.call_tool("fx__echo", r#"{"message":"over"}"#).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.header("retry-after"), Some("1"));
    let e = r.error();
    assert_eq!(e["code"], -31042);
    assert_eq!(e["data"]["category"], "rate_limited");
    assert_eq!(e["data"]["retryable"], true);
    let wait = e["data"]["retry_after_ms"].as_u64().unwrap();
    assert!(wait > 0 && wait <= 334, "{e}");
    // Another tool has its own budget; the refused call never reached the upstream.
    let r = s.call_tool("fx__mirror", r#"{"a":1}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sent = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !sent.contains("\"over\""),
        "a refused call reached the upstream"
    );
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    let r = s.call_tool("fx__echo", r#"{"message":"later"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// A modern (2026-07-28) `tools/call` presenting `key`.
async fn modern_call_as(
    gw: &Gateway,
    key: &str,
    id: u64,
    tool: &str,
    extra: serde_json::Value,
) -> support::Reply {
    let mut params = json!({"name": tool, "arguments": {}});
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let body = support::modern::body(
        id,
        "tools/call",
        params,
        json!({"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}),
    );
    let bearer = format!("Bearer {key}");
    let mut headers = support::modern::headers("tools/call", Some(tool));
    headers.push(("authorization", &bearer));
    gw.post_raw(body, &headers).await
}

#[tokio::test]
async fn sessions_streams_and_request_states_belong_to_the_key_that_made_them() {
    let (a, a_entry) = create_key("alice", "mcp.tools.read,mcp.invoke");
    let (b, b_entry) = create_key("bob", "mcp.tools.read,mcp.invoke");
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  api_keys:\n    {a_entry}\n    {b_entry}\n"
        ))
        .start()
        .await;
    let (bearer_a, bearer_b) = (format!("Bearer {a}"), format!("Bearer {b}"));
    let s = match gw.try_initialize(&[("authorization", &bearer_a)]).await {
        Ok(s) => s,
        Err(r) => panic!("{} {}", r.status, r.text),
    };
    // Bob presenting Alice's session id: every verb answers as for a session that never was.
    let unknown = gw
        .post()
        .header("mcp-session-id", "no-such-session")
        .header("mcp-protocol-version", "2025-06-18")
        .header("authorization", &bearer_b)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    let (unknown_status, unknown_body) = (unknown.status(), unknown.text().await.unwrap());
    let r = gw
        .post()
        .header("mcp-session-id", &s.id)
        .header("mcp-protocol-version", "2025-06-18")
        .header("authorization", &bearer_b)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), unknown_status);
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    let strip = |t: &str| {
        let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
        v["error"]["data"]["request_id"] = json!(null);
        v
    };
    assert_eq!(
        strip(&body),
        strip(&unknown_body),
        "distinguishable from unknown"
    );
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = gw
            .client
            .request(method.clone(), gw.mcp())
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &s.id)
            .header("mcp-protocol-version", "2025-06-18")
            .header("authorization", &bearer_b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method}");
    }
    // Bob's DELETE ended nothing: Alice's session still serves her.
    let r = s.call_tool("fx__echo", r#"{"message":"still"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "still", "{}", r.text);

    // A 2026-07-28 requestState sealed for Alice does not open for Bob.
    let tool = "fx__test_input_required_result_elicitation";
    let r = modern_call_as(&gw, &a, 1, tool, json!({})).await;
    let res = r.result();
    assert_eq!(res["resultType"], "input_required", "{}", r.text);
    let state = res["requestState"].as_str().unwrap().to_owned();
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "A"}}});
    let retry = json!({"inputResponses": answer, "requestState": state});
    let r = modern_call_as(&gw, &b, 2, tool, retry.clone()).await;
    let e = assert_error(&r, 200, -32602, 2);
    assert_eq!(e["data"]["reason"], "invalid", "{e}");
    // ...and Alice's retry still completes the held call.
    let r = modern_call_as(&gw, &a, 3, tool, retry).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.result()["resultType"], "input_required", "{}", r.text);
    // Without any key, a modern call is refused before anything runs.
    let r = modern_call(&gw, 4, tool, json!({}), json!({})).await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn a_keys_file_is_reread_so_keys_are_revoked_and_added_without_a_restart() {
    let (a, a_entry) = create_key("alice", "mcp.tools.read,mcp.invoke");
    // Bob's scopes come only from his role.
    let (b, b_entry) = create_key_with("bob", "", &["--roles", "caller"]);
    assert!(b_entry.contains("roles: [\"caller\"]"), "{b_entry}");
    let (c, c_entry) = create_key("carol", "mcp.tools.read");
    let cfg = Config::new();
    let keys = cfg.path("keys.yaml");
    std::fs::write(&keys, format!("api_keys:\n  {a_entry}\n  {b_entry}\n")).unwrap();
    let gw = cfg
        .upstream(Upstream::fixture("fx"))
        .extra("auth:\n  keys_file: keys.yaml\n  roles:\n    caller: { scopes: [mcp.tools.read, mcp.invoke] }\n")
        .start()
        .await;
    let bearer = |k: &str| format!("Bearer {k}");
    let (ba, bb, bc) = (bearer(&a), bearer(&b), bearer(&c));
    let sa = gw
        .try_initialize(&[("authorization", &ba)])
        .await
        .map_err(|r| r.text)
        .unwrap();
    let sb = gw
        .try_initialize(&[("authorization", &bb)])
        .await
        .map_err(|r| r.text)
        .unwrap();
    let r = sb.call_tool("fx__echo", r#"{"message":"role"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "role", "{}", r.text);
    assert_eq!(
        gw.try_initialize(&[("authorization", &bc)])
            .await
            .err()
            .map(|r| r.status),
        Some(401)
    );

    // Alice is revoked, Carol added: both take effect within a couple of seconds.
    std::fs::write(&keys, format!("api_keys:\n  {b_entry}\n  {c_entry}\n")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = sa.call_tool("fx__echo", r#"{"message":"x"}"#).await;
        if r.status == 401 {
            assert_eq!(r.error()["code"], -31040, "{}", r.text);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked key still works: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sc = gw
        .try_initialize(&[("authorization", &bc)])
        .await
        .map_err(|r| r.text)
        .unwrap();
    assert_eq!(sc.request("tools/list", None).await.status, 200);
    // Bob's session was never interrupted.
    let r = sb.call_tool("fx__echo", r#"{"message":"on"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "on", "{}", r.text);

    // A broken file keeps the keys in force; an emptied one revokes them all.
    std::fs::write(&keys, "api_keys: [ {").unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        sb.call_tool("fx__echo", r#"{"message":"kept"}"#)
            .await
            .status,
        200
    );
    assert!(
        gw.stderr().contains("keys file reload failed"),
        "{}",
        gw.stderr()
    );
    std::fs::write(&keys, "").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sb.call_tool("fx__echo", r#"{"message":"x"}"#).await.status != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "an emptied keys file revoked nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
