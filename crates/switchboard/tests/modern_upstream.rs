//! 2026-07-28 upstreams: the era probe (`era: auto`) and its overrides, what a modern upstream
//! is sent, and both directions of traffic through it. The fixture plays every kind of server:
//! `FIXTURE_ERA=auto` (dual-era: the first request decides), `modern` (2026-07-28 only),
//! `legacy` (answers requests before `initialize` with -32601), `legacy-silent` (ignores them)
//! and `legacy-exit` (exits on them).

mod support;

use serde_json::{Value, json};
use support::modern::{assert_error, call_tool};
use support::{Config, Gateway, Upstream};

async fn gateway(fixture_era: &str, settings: &[&str]) -> (Gateway, std::path::PathBuf) {
    let c = Config::new();
    let log = c.path("fx.log");
    let mut up = Upstream::fixture("fx")
        .log(&log)
        .env("FIXTURE_ERA", fixture_era);
    for s in settings {
        up = up.setting(s);
    }
    let gw = c.upstream(up).start().await;
    (gw, log)
}

async fn ready(gw: &Gateway) -> Value {
    gw.wait_status("fx to be ready", |st| {
        st["upstreams"][0]["state"] == "ready"
    })
    .await["upstreams"][0]
        .clone()
}

/// The methods of the requests the fixture received, in order (its wire log).
fn methods(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m.get("id").is_some())
        .filter_map(|m| m["method"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_dual_era_server_is_spoken_to_in_2026_07_28() {
    let (gw, log) = gateway("auto", &[]).await;
    let up = ready(&gw).await;
    assert_eq!(up["revision"], "2026-07-28", "{up}");
    let m = methods(&log);
    assert_eq!(m[0], "server/discover", "{m:?}");
    assert!(!m.iter().any(|x| x == "initialize"), "{m:?}");
    // Every request to it carries the era's _meta, on behalf of the gateway for its own lists.
    let wire = std::fs::read_to_string(&log).unwrap();
    let list = wire.lines().find(|l| l.contains("\"tools/list\"")).unwrap();
    assert!(
        list.contains("io.modelcontextprotocol/protocolVersion"),
        "{list}"
    );
    assert!(!wire.contains("\"ping\""), "no ping in 2026-07-28");
}

#[tokio::test]
async fn a_handshake_server_gets_initialize_first_on_a_fresh_process() {
    for era in ["legacy", "legacy-exit"] {
        let (gw, log) = gateway(era, &[]).await;
        let up = ready(&gw).await;
        assert_eq!(up["revision"], "2025-11-25", "{era}: {up}");
        let m = methods(&log);
        // The probe's process saw server/discover and nothing else; the serving one began with
        // initialize.
        assert_eq!(m[0], "server/discover", "{era}: {m:?}");
        assert_eq!(m[1], "initialize", "{era}: {m:?}");
        let s = gw.initialize().await;
        let r = s.call_tool("fx__echo", r#"{"message":"hi"}"#).await;
        assert_eq!(r.result()["content"][0]["text"], "hi", "{era}: {}", r.text);
    }
    // Silence counts as a "no" once probe_timeout has passed.
    let t0 = std::time::Instant::now();
    let (gw, log) = gateway("legacy-silent", &["probe_timeout: 300ms"]).await;
    let up = ready(&gw).await;
    assert_eq!(up["revision"], "2025-11-25", "{up}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(methods(&log)[..2], ["server/discover", "initialize"]);
}

#[tokio::test]
async fn the_era_can_be_forced() {
    // era: legacy never probes.
    let (gw, log) = gateway("auto", &["era: legacy"]).await;
    assert_eq!(ready(&gw).await["revision"], "2025-11-25");
    assert_eq!(methods(&log)[0], "initialize");
    // era: modern against a handshake-only server fails, and says why.
    let (gw, _log) = gateway("legacy", &["era: modern"]).await;
    let st = gw
        .wait_status("fx to fail", |st| {
            st["upstreams"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("not a 2026-07-28 server"))
        })
        .await;
    assert_ne!(st["upstreams"][0]["state"], "ready", "{st}");
}

#[tokio::test]
async fn modern_callers_get_the_upstreams_state_sealed() {
    let (gw, log) = gateway("modern", &[]).await;
    ready(&gw).await;
    let tool = "fx__test_input_required_result_elicitation";
    let caps = json!({"elicitation": {}});
    let r = call_tool(&gw, 1, tool, caps.clone(), json!({})).await;
    let res = r.result();
    assert_eq!(res["resultType"], "input_required", "{}", r.text);
    let state = res["requestState"].as_str().unwrap().to_owned();
    assert!(
        state.starts_with("sb1."),
        "the upstream's own state leaked: {state}"
    );
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "Mo"}}});
    let r = call_tool(
        &gw,
        2,
        tool,
        caps.clone(),
        json!({"inputResponses": answer, "requestState": format!("{state}x")}),
    )
    .await;
    assert_error(&r, 200, -32602, 2);
    let r = call_tool(
        &gw,
        3,
        tool,
        caps,
        json!({"inputResponses": answer, "requestState": state}),
    )
    .await;
    assert!(r.text.contains("Hello, Mo!"), "{}", r.text);
    // The upstream got its own state back, unwrapped; the tampered retry never reached it.
    let wire = std::fs::read_to_string(&log).unwrap();
    let retries: Vec<Value> = wire
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["params"]["requestState"].is_string())
        .collect();
    assert_eq!(retries.len(), 1, "{wire}");
    let inner = retries[0]["params"]["requestState"].as_str().unwrap();
    assert!(!inner.starts_with("sb1.") && inner != state, "{inner}");
    // The caller's own capabilities reached the upstream, not the gateway's.
    let call = wire
        .lines()
        .find(|l| l.contains("test_input_required_result_elicitation"))
        .unwrap();
    assert!(
        call.contains(r#""io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}"#),
        "{call}"
    );
}

#[tokio::test]
async fn handshake_sessions_reach_a_modern_upstream() {
    let (gw, log) = gateway("modern", &[]).await;
    ready(&gw).await;
    let s = gw.initialize().await;
    // Level and subscriptions are the gateway's to keep: the era has neither method.
    let r = s
        .request("logging/setLevel", Some(r#"{"level":"debug"}"#))
        .await;
    assert!(r.result().is_object(), "{}", r.text);
    let r = s
        .request(
            "resources/subscribe",
            Some(r#"{"uri":"test://static-text"}"#),
        )
        .await;
    assert!(r.result().is_object(), "{}", r.text);
    let r = s.call_tool("fx__test_logging_tool", "{}").await;
    assert!(
        r.raw_messages()
            .iter()
            .any(|m| m.contains("notifications/message")),
        "the session's level rides on its requests: {}",
        r.text
    );
    // The era's own codes are translated: a missing resource is -32002 again.
    let r = s
        .request("resources/read", Some(r#"{"uri":"test://nowhere"}"#))
        .await;
    assert_eq!(r.error_code(), -32002, "{}", r.text);
    assert_eq!(r.error()["data"]["uri"], "test://nowhere", "{}", r.text);
    let wire = std::fs::read_to_string(&log).unwrap();
    assert!(!wire.contains("logging/setLevel") && !wire.contains("resources/subscribe"));
    assert!(
        wire.contains(r#""io.modelcontextprotocol/logLevel":"debug""#),
        "{wire}"
    );
    // The held URI is asked for on the upstream's listen.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains(r#""resourceSubscriptions":["test://static-text"]"#)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no listen for the URI"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A fixture forced to 2026-07-28 whose lists say `ttlMs: ttl, cacheScope: public`.
fn modern_with_ttl(name: &str, ttl: &str) -> Upstream {
    Upstream::fixture(name)
        .env("FIXTURE_ERA", "modern")
        .env("FIXTURE_TTL_MS", ttl)
        .env("FIXTURE_CACHE_SCOPE", "public")
}

/// The hint on `tools/list` from a gateway in front of `upstreams`, once all are ready.
async fn list_hint(upstreams: Vec<Upstream>) -> (Value, Value) {
    let gw = upstreams
        .into_iter()
        .fold(Config::new(), Config::upstream)
        .start()
        .await;
    gw.wait_status("all up", |st| {
        st["upstreams"]
            .as_array()
            .is_some_and(|u| u.iter().all(|u| u["state"] == "ready"))
    })
    .await;
    let r = support::modern::call(&gw, 1, "tools/list", json!({}), None).await;
    let res = r.result();
    (res["ttlMs"].clone(), res["cacheScope"].clone())
}

#[tokio::test]
async fn merged_lists_are_as_cacheable_as_their_least_cacheable_upstream() {
    let both = vec![
        modern_with_ttl("a", "300000"),
        modern_with_ttl("b", "60000"),
    ];
    assert_eq!(list_hint(both).await, (json!(60000), json!("public")));
    // A handshake-era upstream beside it says nothing, so the configured default applies to it:
    // private, not to be cached (0).
    let mixed = vec![
        modern_with_ttl("a", "300000"),
        Upstream::fixture("old").env("FIXTURE_ERA", "legacy"),
    ];
    assert_eq!(list_hint(mixed).await, (json!(0), json!("private")));
}
