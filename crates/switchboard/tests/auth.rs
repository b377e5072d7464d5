//! API keys through the real binary: a key made by `switchboard keys create` admits its holder,
//! anything else gets HTTP 401 with `WWW-Authenticate`, a session belongs to the key that
//! opened it, an anonymous gateway refuses a public listener, and the key never shows up in the
//! gateway's logs.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Config, Upstream, gateway_bin, run_gateway};

/// A new key and its config entry, from the binary itself.
fn create_key(name: &str, scopes: &str) -> (String, String) {
    let out = Command::new(gateway_bin())
        .args(["keys", "create", "--name", name, "--scopes", scopes])
        .output()
        .expect("run switchboard keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let err = String::from_utf8(out.stderr).unwrap();
    let entry = err
        .lines()
        .find(|l| l.trim_start().starts_with("- {"))
        .expect("the entry to paste")
        .trim()
        .to_owned();
    assert!(key.starts_with("sb_"), "{key}");
    assert!(!err.contains(&key), "the key is printed once, on stdout");
    (key, entry)
}

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
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"switchboard\"")
        );
        assert_eq!(r.error()["code"], -31040, "{}", r.text);
        assert_eq!(r.error()["data"]["category"], "unauthenticated");
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
    assert_eq!(e["data"]["category"], "insufficient_scope");
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
