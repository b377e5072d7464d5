//! Limits against abuse: oversized request heads and one principal hoarding sessions.

mod support;

use std::process::Command;

use support::{Config, Upstream, gateway_bin};

fn create_key(name: &str) -> (String, String) {
    let out = Command::new(gateway_bin())
        .args([
            "keys",
            "create",
            "--name",
            name,
            "--scopes",
            "mcp.tools.read",
        ])
        .output()
        .expect("run switchboard keys create");
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let entry = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .find(|l| l.trim_start().starts_with("- {"))
        .expect("the entry to paste")
        .trim()
        .to_owned();
    (key, entry)
}

#[tokio::test]
async fn a_request_head_over_max_header_bytes_is_refused_with_431() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra("http: { max_header_bytes: 16384 }\n")
        .start()
        .await;
    let small = gw
        .post()
        .header("x-padding", "a".repeat(8_000))
        .body(support::initialize_body(1))
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200, "a head under the limit is served");
    let big = gw
        .post()
        .header("x-padding", "a".repeat(20_000))
        .body(support::initialize_body(1))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 431);
    // The gateway is fine afterwards.
    gw.initialize().await;
}

#[tokio::test]
async fn one_principal_cannot_hold_more_than_max_per_principal_sessions() {
    let (a, entry_a) = create_key("a");
    let (b, entry_b) = create_key("b");
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  api_keys:\n    {entry_a}\n    {entry_b}\nsessions: {{ max_per_principal: 2 }}\n"
        ))
        .start()
        .await;
    let (bearer_a, bearer_b) = (format!("Bearer {a}"), format!("Bearer {b}"));
    let first = gw
        .try_initialize(&[("authorization", &bearer_a)])
        .await
        .ok()
        .unwrap();
    let _second = gw
        .try_initialize(&[("authorization", &bearer_a)])
        .await
        .ok()
        .unwrap();
    let refused = gw
        .try_initialize(&[("authorization", &bearer_a)])
        .await
        .err()
        .expect("a third session is refused");
    assert_eq!(refused.status, 503, "{}", refused.text);
    let message = refused.error()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("key:a") && message.contains("max_per_principal"),
        "{message}"
    );
    // Another principal is not held back by a's sessions.
    gw.try_initialize(&[("authorization", &bearer_b)])
        .await
        .ok()
        .unwrap();
    // Ending one frees a place.
    assert_eq!(first.delete().await.status(), 200);
    gw.try_initialize(&[("authorization", &bearer_a)])
        .await
        .ok()
        .unwrap();
}
