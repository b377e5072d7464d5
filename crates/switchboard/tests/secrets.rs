//! Configured secrets never leak: a gateway holding every kind of secret it can be given (API
//! keys, an upstream's bearer token and environment, the audit webhook's token) runs with debug
//! logging through logins good and bad, calls that succeed and fail, a reload, `/status`,
//! `/metrics` and the audit log; then none of those secrets appears in any log line, audit
//! record, answer, `/status` or metric the gateway produced.

mod support;

use support::create_key;

use std::time::Duration;

use support::{Config, Upstream};

const UPSTREAM_TOKEN: &str = "upstream-tok-R4nd0mXq";
const ENV_SECRET: &str = "env-secret-Zp91Lk";
const WEBHOOK_TOKEN: &str = "webhook-tok-Hy62Qa";

#[tokio::test]
async fn no_configured_secret_appears_in_logs_audit_answers_status_or_metrics() {
    let (key, entry) = create_key("ci", "mcp.tools.read,mcp.invoke");
    let (reader, reader_entry) = create_key("reader", "mcp.tools.read");
    let c = Config::new();
    let audit = c.path("audit.jsonl");
    let gw = c
        .upstream(Upstream::fixture("fx").env("FX_SECRET", ENV_SECRET))
        // Nothing listens on port 1: calls to it fail, with its token in hand.
        .upstream(
            Upstream::http("remote", "http://127.0.0.1:1/mcp")
                .header("Authorization", &format!("Bearer {UPSTREAM_TOKEN}")),
        )
        .extra(&format!(
            "auth:\n  api_keys:\n    {entry}\n    {reader_entry}\n\
             audit:\n  file: {{ path: {} }}\n  webhook: {{ url: \"http://127.0.0.1:1/ingest\", token: {WEBHOOK_TOKEN}, retries: 1 }}\n",
            support::q(&audit.display().to_string())
        ))
        .gateway_env("SWITCHBOARD_LOG", "debug")
        .start()
        .await;

    let mut seen = String::new();
    let bearer = format!("Bearer {key}");
    let s = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    for (tool, args) in [
        ("fx__echo", r#"{"message":"hello"}"#),
        ("fx__mirror", r#"{"isError":true,"content":[]}"#),
        ("remote__search", r#"{"q":"x"}"#),
        ("nope__nothing", "{}"),
    ] {
        seen += &s.call_tool(tool, args).await.text;
    }
    seen += &s.request("tools/list", None).await.text;
    // Bad credentials of every shape, including a key one character off.
    let mut wrong = key.clone();
    wrong.replace_range(key.len() - 1.., "A");
    for auth in [
        format!("Bearer {wrong}"),
        format!("Basic {key}"),
        format!("Bearer {key}{key}"),
    ] {
        let r = gw
            .try_initialize(&[("authorization", &auth)])
            .await
            .err()
            .unwrap();
        seen += &r.text;
    }
    let r = gw
        .try_initialize(&[("authorization", &format!("Bearer {reader}"))])
        .await
        .ok()
        .unwrap();
    seen += &r.call_tool("fx__echo", r#"{"message":"x"}"#).await.text;
    // A reload, status and metrics.
    gw.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    seen += &gw.status().await.to_string();
    seen += &gw
        .client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Give the audit writer and the webhook's failing deliveries time to log.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let logs = gw.stderr();
    assert!(logs.contains("DEBUG"), "debug logging was on");
    let audit_text = std::fs::read_to_string(&audit).unwrap();
    assert!(
        audit_text.lines().count() >= 5,
        "the audit log recorded the calls"
    );
    for (what, text) in [
        ("the gateway's log", &logs),
        ("the audit log", &audit_text),
        ("answers, /status or /metrics", &seen),
    ] {
        for secret in [
            key.as_str(),
            &key[3..],
            reader.as_str(),
            UPSTREAM_TOKEN,
            ENV_SECRET,
            WEBHOOK_TOKEN,
        ] {
            assert!(!text.contains(secret), "a secret ({secret}) is in {what}");
        }
    }
}
