//! Limits against abuse: oversized request heads and one principal hoarding sessions.

mod support;

use support::create_key;

use support::{Config, Upstream};

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
    let (a, entry_a) = create_key("a", "mcp.tools.read");
    let (b, entry_b) = create_key("b", "mcp.tools.read");
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
