//! Structural mistakes — unknown, missing and duplicate keys, wrong types, bad YAML — are
//! reported by serde-saphyr with the exact line and column.

use crate::assert_error_at;

#[test]
fn unknown_top_level_key() {
    assert_error_at(
        "listen: 127.0.0.1:1\nlisen: 127.0.0.1:2\n",
        2,
        1,
        &["unknown field `lisen`", "listen"],
    );
}

#[test]
fn unknown_key_inside_stdio_flow_mapping() {
    assert_error_at(
        "upstreams:\n  time:\n    stdio: { command: python3, argv: [x] }\n",
        3,
        32,
        &["unknown field `argv`", "command, args, env, cwd"],
    );
}

#[test]
fn unknown_key_inside_stdio_block_mapping() {
    assert_error_at(
        "upstreams:\n  time:\n    stdio:\n      command: python3\n      working_dir: /tmp\n",
        5,
        7,
        &["unknown field `working_dir`"],
    );
}

#[test]
fn unknown_key_in_upstream_http_sessions_roots_and_products() {
    assert_error_at(
        "upstreams:\n  a:\n    http: { url: http://x }\n    retries: 3\n",
        4,
        5,
        &["unknown field `retries`"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    http: { url: http://x, header: {} }\n",
        3,
        28,
        &["unknown field `header`", "url, headers"],
    );
    assert_error_at(
        "http:\n  max_body: 5\n",
        2,
        3,
        &["unknown field `max_body`"],
    );
    assert_error_at("sessions:\n  ttl: 5m\n", 2, 3, &["unknown field `ttl`"]);
    assert_error_at(
        "roots:\n  - { uri: 'file:///a', label: x }\n",
        2,
        25,
        &["unknown field `label`"],
    );
    assert_error_at(
        "products:\n  p:\n    tool: [x]\n",
        3,
        5,
        &["unknown field `tool`"],
    );
}

#[test]
fn missing_required_keys() {
    assert_error_at(
        "upstreams:\n  a:\n    stdio: { args: [x] }\n",
        3,
        14,
        &["missing field `command`"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    http:\n      headers: { A: b }\n",
        4,
        7,
        &["missing field `url`"],
    );
    assert_error_at("roots:\n  - name: x\n", 2, 5, &["missing field `uri`"]);
}

#[test]
fn wrong_types() {
    assert_error_at(
        "upstreams:\n  a:\n    stdio: { command: x, args: 5 }\n",
        3,
        32,
        &["wrong type", "a list"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    stdio: [python3]\n",
        3,
        12,
        &["wrong type", "a mapping"],
    );
    assert_error_at("upstreams: [a, b]\n", 1, 12, &["wrong type", "a mapping"]);
    assert_error_at("listen: [a, b]\n", 1, 9, &["wrong type", "a single value"]);
    assert_error_at(
        "http: { allowed_hosts: { a: b } }\n",
        1,
        24,
        &["wrong type", "a list"],
    );
    assert_error_at("- just\n- a list\n", 1, 1, &["wrong type", "a mapping"]);
}

#[test]
fn null_where_a_value_is_required() {
    assert_error_at(
        "upstreams:\n  a:\n    stdio: { command: }\n",
        3,
        21,
        &["null is not allowed here"],
    );
}

#[test]
fn duplicate_upstream_name() {
    assert_error_at(
        "upstreams:\n  time:\n    stdio: { command: a }\n  time:\n    stdio: { command: b }\n",
        4,
        3,
        &["duplicate mapping key", "time"],
    );
}

#[test]
fn duplicate_keys_everywhere_else() {
    assert_error_at(
        "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
        2,
        1,
        &["duplicate mapping key", "listen"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    stdio: { command: a, env: { X: 1, X: 2 } }\n",
        3,
        39,
        &["duplicate mapping key", "X"],
    );
    assert_error_at(
        "products:\n  p: {}\n  p: {}\n",
        3,
        3,
        &["duplicate mapping key", "p"],
    );
}

#[test]
fn invalid_yaml_is_located() {
    assert_error_at(
        "listen: 127.0.0.1:1\n  bad: indent\n",
        2,
        6,
        &["mapping values are not allowed"],
    );
}
