//! The `modern:` section (MCP 2026-07-28 clients) and the per-upstream `probe_timeout`.

use std::time::Duration;

use switchboard_config::{CacheScope, StateKey};
use switchboard_protocol::base64;

use crate::{assert_error_at, assert_error_at_with, env_of, err_with, no_env, ok, ok_with};

/// `base64:` + the standard base64 of `bytes`: the form a state key is written in.
fn key_of(bytes: &[u8]) -> String {
    format!("base64:{}", base64::encode(bytes))
}

/// A valid state key: 32 bytes of `byte`.
fn key_text(byte: u8) -> String {
    key_of(&[byte; 32])
}

#[test]
fn every_key_can_be_given() {
    let config = ok(&format!(
        r#"
modern:
  state_keys: ["{}", "{}"]
  replica_id: eu-west-1/pod-7
  input_ttl: 2m
  max_rounds: 3
  gather: 20ms
  list_ttl: 30s
  list_scope: public
"#,
        key_text(2),
        key_text(1)
    ));
    let modern = config.modern;
    assert_eq!(
        modern.state_keys,
        [StateKey::new([2; 32]), StateKey::new([1; 32])],
        "file order: the first seals"
    );
    assert_eq!(modern.replica_id.as_deref(), Some("eu-west-1/pod-7"));
    assert_eq!(modern.input_ttl, Duration::from_secs(120));
    assert_eq!(modern.max_rounds, 3);
    assert_eq!(modern.gather, Duration::from_millis(20));
    assert_eq!(modern.list_ttl, Duration::from_secs(30));
    assert_eq!(modern.list_scope, CacheScope::Public);
}

#[test]
fn list_ttl_may_be_zero_and_other_durations_may_not() {
    assert_eq!(
        ok("modern: { list_ttl: 0 }\n").modern.list_ttl,
        Duration::ZERO
    );
    assert_eq!(
        ok("modern: { list_ttl: 0ms }\n").modern.list_ttl,
        Duration::ZERO
    );
    for key in ["input_ttl", "gather"] {
        assert_error_at(
            &format!("modern:\n  {key}: 0s\n"),
            2,
            5 + key.len(),
            &[&format!("`{key}` must be greater than 0")],
        );
    }
    assert_error_at(
        "modern:\n  list_ttl: -1s\n",
        2,
        13,
        &["`list_ttl`: invalid duration `-1s`"],
    );
    assert_error_at(
        "modern:\n  gather: 1.5ms\n",
        2,
        11,
        &["`gather`: invalid duration"],
    );
}

#[test]
fn state_keys_are_expanded_like_any_scalar() {
    let env = env_of(&[("SWITCHBOARD_STATE_KEY", &key_text(9))]);
    let config = ok_with(
        "modern:\n  state_keys: [\"${SWITCHBOARD_STATE_KEY}\"]\n",
        &env,
    );
    assert_eq!(config.modern.state_keys, [StateKey::new([9; 32])]);
    assert_error_at_with(
        "modern:\n  state_keys:\n    - ${SWITCHBOARD_STATE_KEY}\n",
        &no_env,
        3,
        7,
        &["`SWITCHBOARD_STATE_KEY` is not set"],
    );
}

#[test]
fn bad_state_keys_are_located_and_named() {
    // The bad entry is the second, at line 4, so the path names index 1.
    let after_a_good_key = |entry: &str| {
        format!(
            "modern:\n  state_keys:\n    - \"{}\"\n    - \"{entry}\"\n",
            key_text(1)
        )
    };
    let form =
        "a state key is `base64:` followed by the standard, padded base64 of 32 random bytes";
    let cases = [
        (String::new(), "`modern.state_keys[1]` is empty"),
        (
            "c2VjcmV0".to_owned(),
            "`modern.state_keys[1]` does not start with `base64:`",
        ),
        (
            "base64:!!!!".to_owned(),
            "`modern.state_keys[1]` is not valid base64",
        ),
        (
            "base64:AAAA AAAA".to_owned(),
            "`modern.state_keys[1]` is not valid base64 (it contains whitespace)",
        ),
        (
            key_of(&[1; 31]),
            "`modern.state_keys[1]` decodes to 31 bytes, not 32",
        ),
    ];
    for (entry, why) in cases {
        assert_error_at(&after_a_good_key(&entry), 4, 7, &[why, form]);
    }
    assert_error_at(
        &after_a_good_key(&key_text(1)),
        4,
        7,
        &[
            "`modern.state_keys[1]` is the same key as `modern.state_keys[0]` (at 3:7)",
            "list each key once",
        ],
    );
}

#[test]
fn state_key_errors_never_quote_the_secret() {
    let secret = key_of(b"secret-secret-secret-se");
    let error = err_with(&format!("modern:\n  state_keys: [\"{secret}\"]\n"), &no_env);
    assert!(error.message().contains("decodes to 23 bytes"), "{error}");
    assert!(!error.to_string().contains(&secret[7..]), "{error}");
    assert!(
        !format!(
            "{:?}",
            ok(&format!(
                "modern: {{ state_keys: [\"{}\"] }}\n",
                key_text(5)
            ))
        )
        .contains(&key_text(5)[7..]),
        "Debug redacts keys"
    );
}

#[test]
fn replica_id_rules() {
    assert_eq!(
        ok("modern: { replica_id: a }\n")
            .modern
            .replica_id
            .as_deref(),
        Some("a")
    );
    assert_error_at(
        "modern:\n  replica_id: 'pod 7'\n",
        2,
        15,
        &[
            "invalid replica_id `pod 7`",
            "1 to 64 visible ASCII characters",
        ],
    );
    assert_error_at(
        "modern:\n  replica_id: ''\n",
        2,
        15,
        &["invalid replica_id ``"],
    );
    assert_error_at(
        &format!("modern:\n  replica_id: {}\n", "r".repeat(65)),
        2,
        15,
        &["invalid replica_id"],
    );
    assert_error_at(
        "modern:\n  replica_id: pod-é\n",
        2,
        15,
        &["invalid replica_id `pod-é`"],
    );
}

#[test]
fn max_held_rules() {
    assert_eq!(ok("modern: { max_held: 1 }\n").modern.max_held, 1);
    assert_error_at(
        "modern:\n  max_held: 0\n",
        2,
        13,
        &["`max_held` must be greater than 0"],
    );
}

#[test]
fn max_rounds_rules() {
    assert_eq!(ok("modern: { max_rounds: 1 }\n").modern.max_rounds, 1);
    assert_error_at(
        "modern:\n  max_rounds: 0\n",
        2,
        15,
        &["`max_rounds` must be greater than 0"],
    );
    assert_error_at(
        "modern:\n  max_rounds: many\n",
        2,
        15,
        &["`max_rounds` must be a whole number greater than 0, got `many`"],
    );
    assert_error_at(
        "modern:\n  max_rounds: 4294967296\n",
        2,
        15,
        &["`max_rounds` is too large: `4294967296`"],
    );
}

#[test]
fn list_scope_is_one_of_two_words() {
    assert_eq!(
        ok("modern: { list_scope: private }\n").modern.list_scope,
        CacheScope::Private
    );
    assert_error_at(
        "modern:\n  list_scope: Public\n",
        2,
        15,
        &["unknown list_scope `Public`: expected one of `public`, `private`"],
    );
}

#[test]
fn unknown_keys_are_refused() {
    assert_error_at(
        "modern:\n  state_key: x\n",
        2,
        3,
        &["unknown field `state_key`", "state_keys"],
    );
    assert_error_at(
        "modern:\n  state_keys: base64:x\n",
        2,
        15,
        &["wrong type: expected a list"],
    );
}

#[test]
fn probe_timeout_per_upstream() {
    let yaml = |extra: &str| format!("upstreams:\n  a:\n    sse: {{ url: http://x }}\n{extra}");
    assert_eq!(
        ok(&yaml("")).upstreams[0].probe_timeout,
        Duration::from_secs(2)
    );
    assert_eq!(
        ok(&yaml("    probe_timeout: 500ms\n")).upstreams[0].probe_timeout,
        Duration::from_millis(500)
    );
    assert_error_at(
        &yaml("    probe_timeout: 0\n"),
        4,
        20,
        &["`probe_timeout` must be greater than 0"],
    );
    assert_error_at(
        &yaml("    probe_timeout: soon\n"),
        4,
        20,
        &["`probe_timeout`: invalid duration `soon`"],
    );
}
