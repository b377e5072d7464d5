//! Every way a client's call reaches an upstream goes through the gateway's one call path
//! (`call::send`, where limits, breakers, metrics and audit will wrap every call), for each of
//! the four joins of caller and upstream era. `/status` counts, per upstream, the calls that went
//! through it: each case below must move exactly its upstream's count by what reached that
//! upstream's wire.

mod support;

use serde_json::{Value, json};
use support::modern::call_tool;
use support::{Config, Gateway, Upstream};

const KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Sent-call counts of the upstreams `old` (handshake era) and `new` (2026-07-28).
async fn counts(gw: &Gateway) -> (u64, u64) {
    let st = gw.status().await;
    let of = |name: &str| {
        st["upstreams"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["name"] == name))
            .and_then(|u| u["calls"].as_u64())
            .unwrap_or_else(|| panic!("no call count for {name}: {st}"))
    };
    (of("old"), of("new"))
}

/// The tools/call requests on a fixture's wire log.
fn calls_on_wire(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == "tools/call" && m.get("id").is_some())
        .count()
}

#[tokio::test]
async fn every_join_reaches_the_upstream_through_the_one_call_path() {
    let c = Config::new();
    let (old_log, new_log) = (c.path("old.log"), c.path("new.log"));
    let gw = c
        .upstream(
            Upstream::fixture("old")
                .env("FIXTURE_ERA", "legacy")
                .log(&old_log),
        )
        .upstream(
            Upstream::fixture("new")
                .env("FIXTURE_ERA", "modern")
                .log(&new_log),
        )
        .extra(&format!("modern:\n  state_keys: [\"{KEY}\"]\n"))
        .start()
        .await;
    gw.wait_status("both upstreams to be ready", |st| {
        st["upstreams"]
            .as_array()
            .is_some_and(|u| u.len() == 2 && u.iter().all(|u| u["state"] == "ready"))
    })
    .await;
    assert_eq!(
        counts(&gw).await,
        (0, 0),
        "the gateway's own lists are not calls"
    );

    // A handshake session on a handshake upstream: the plain relay.
    let s = gw.initialize().await;
    let r = s.call_tool("old__echo", r#"{"message":"plain"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "plain", "{}", r.text);
    assert_eq!(counts(&gw).await, (1, 0));

    // A handshake session on a 2026-07-28 upstream: bridge B.
    let r = s.call_tool("new__echo", r#"{"message":"bridge b"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "bridge b", "{}", r.text);
    assert_eq!(counts(&gw).await, (1, 1));

    // A 2026-07-28 caller on a handshake upstream that asks for input: bridge C, whose two
    // rounds are one upstream call, held between them.
    let tool = "old__test_input_required_result_elicitation";
    let caps = json!({"elicitation": {}});
    let r = call_tool(&gw, 10, tool, caps.clone(), json!({})).await;
    let state = r.result()["requestState"]
        .as_str()
        .expect("state")
        .to_owned();
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "Ann"}}});
    let r = call_tool(
        &gw,
        11,
        tool,
        caps.clone(),
        json!({"inputResponses": answer, "requestState": state}),
    )
    .await;
    assert!(r.text.contains("Hello, Ann!"), "{}", r.text);
    assert_eq!(counts(&gw).await, (2, 1));

    // A 2026-07-28 caller on a 2026-07-28 upstream: pass-through, one upstream call per round.
    let tool = "new__test_input_required_result_elicitation";
    let r = call_tool(&gw, 20, tool, caps.clone(), json!({})).await;
    let state = r.result()["requestState"]
        .as_str()
        .expect("state")
        .to_owned();
    let r = call_tool(
        &gw,
        21,
        tool,
        caps,
        json!({"inputResponses": answer, "requestState": state}),
    )
    .await;
    assert!(r.text.contains("Hello, Ann!"), "{}", r.text);
    assert_eq!(counts(&gw).await, (2, 3));

    // What was counted is what reached each upstream's wire.
    assert_eq!(calls_on_wire(&old_log), 2);
    assert_eq!(calls_on_wire(&new_log), 3);
}
