//! Values that parse but break a rule are errors at the offending scalar.

use crate::{assert_error_at, ok};

#[test]
fn upstream_names() {
    let config = ok("upstreams:\n  A-1_b:\n    sse: { url: http://x }\n");
    assert_eq!(config.upstreams[0].name, "A-1_b");
    assert_error_at(
        "upstreams:\n  my.api:\n    sse: { url: http://x }\n",
        2,
        3,
        &["invalid upstream name `my.api`"],
    );
    assert_error_at(
        "upstreams:\n  _x:\n    sse: { url: http://x }\n",
        2,
        3,
        &["invalid upstream name `_x`"],
    );
    let long = "x".repeat(65);
    assert_error_at(
        &format!("upstreams:\n  {long}:\n    sse: {{ url: http://x }}\n"),
        2,
        3,
        &["invalid upstream name"],
    );
}

#[test]
fn namespace_separator() {
    assert_eq!(ok("namespace_separator: '.'\n").namespace_separator, ".");
    assert_eq!(ok("namespace_separator: -_-\n").namespace_separator, "-_-");
    assert_error_at(
        "namespace_separator: '/'\n",
        1,
        22,
        &["invalid namespace_separator `/`"],
    );
    assert_error_at(
        "namespace_separator: '_____'\n",
        1,
        22,
        &["1 to 4 characters"],
    );
    assert_error_at("namespace_separator: ''\n", 1, 22, &["1 to 4 characters"]);
}

#[test]
fn prefixes() {
    let config = ok("upstreams:\n  a:\n    sse: { url: http://x }\n    prefix: gh.v2\n");
    assert_eq!(config.upstreams[0].prefix, "gh.v2");
    assert_error_at(
        "upstreams:\n  a:\n    sse: { url: http://x }\n    prefix: 'a b'\n",
        4,
        13,
        &["invalid prefix `a b`"],
    );
}

#[test]
fn duplicate_prefix_names_both_upstreams() {
    assert_error_at(
        "upstreams:\n  github:\n    sse: { url: http://x }\n  gh:\n    sse: { url: http://y }\n    prefix: github\n",
        6,
        13,
        &[
            "upstreams `github` (at 2:3) and `gh` (at 4:3) both use the prefix `github`",
            "its own `prefix:`",
        ],
    );
}

#[test]
fn two_empty_prefixes_are_a_duplicate() {
    assert_error_at(
        "upstreams:\n  a:\n    sse: { url: http://x }\n    prefix: ''\n  b:\n    sse: { url: http://y }\n    prefix: \"\"\n",
        7,
        13,
        &["`a` (at 2:3) and `b` (at 5:3) both use the empty prefix"],
    );
}

#[test]
fn a_default_prefix_can_collide_with_an_explicit_one() {
    assert_error_at(
        "upstreams:\n  a:\n    sse: { url: http://x }\n    prefix: b\n  b:\n    sse: { url: http://y }\n",
        5,
        3,
        &["`a` (at 2:3) and `b` (at 5:3) both use the prefix `b`"],
    );
}

#[test]
fn urls() {
    assert_error_at(
        "upstreams:\n  a:\n    http: { url: mcp.example.com/mcp }\n",
        3,
        18,
        &["invalid URL `mcp.example.com/mcp`", "http://"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    sse: { url: 'ftp://x' }\n",
        3,
        17,
        &["invalid URL"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    sse: { url: 'http://host:port/' }\n",
        3,
        17,
        &["the port must be a number"],
    );
}

#[test]
fn header_names_and_values() {
    assert_error_at(
        "upstreams:\n  a:\n    http: { url: http://x, headers: { 'X Bad': v } }\n",
        3,
        39,
        &["invalid header name `X Bad`"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    http:\n      url: http://x\n      headers:\n        Authorization: a\n        authorization: b\n",
        7,
        9,
        &["header `authorization` is given twice", "`Authorization`"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    http: { url: http://x, headers: { A: \"x\\r\\nEvil: y\" } }\n",
        3,
        42,
        &["header `A` contains the control character '\\r'"],
    );
}

#[test]
fn counts_must_be_positive_whole_numbers() {
    assert_error_at(
        "http: { max_body_bytes: 0 }\n",
        1,
        25,
        &["`max_body_bytes` must be greater than 0"],
    );
    assert_error_at(
        "sessions: { max_sessions: 0 }\n",
        1,
        27,
        &["`max_sessions` must be greater than 0"],
    );
    assert_error_at(
        "sessions: { event_buffer: 0 }\n",
        1,
        27,
        &["`event_buffer` must be greater than 0"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    sse: { url: http://x }\n    max_message_bytes: 0\n",
        4,
        24,
        &["`max_message_bytes` must be greater than 0"],
    );
    assert_error_at(
        "sessions: { max_sessions: -1 }\n",
        1,
        27,
        &["must be a whole number greater than 0, got `-1`"],
    );
    assert_error_at("sessions: { max_sessions: 1.5 }\n", 1, 27, &["got `1.5`"]);
    assert_error_at(
        "sessions: { max_sessions: 99999999999999999999999 }\n",
        1,
        27,
        &["too large"],
    );
    assert_eq!(
        ok("http: { max_body_bytes: 4_194_304 }\n")
            .http
            .max_body_bytes,
        4_194_304
    );
}

#[test]
fn booleans() {
    assert_eq!(
        ok("allow_private_upstreams: true\n").allow_private_upstreams,
        Some(true)
    );
    assert_eq!(
        ok("allow_private_upstreams: False\n").allow_private_upstreams,
        Some(false)
    );
    assert_error_at(
        "allow_private_upstreams: yes\n",
        1,
        26,
        &["`allow_private_upstreams` must be `true` or `false`, got `yes`"],
    );
}

#[test]
fn stdio_values() {
    assert_error_at(
        "upstreams:\n  a:\n    stdio: { command: '' }\n",
        3,
        23,
        &["`command` must not be empty"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    stdio: { command: x, env: { '': v } }\n",
        3,
        33,
        &["invalid environment variable name"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    stdio: { command: x, args: [\"a\\0b\"] }\n",
        3,
        33,
        &["an argument contains a NUL character"],
    );
}

#[test]
fn roots_must_be_file_uris() {
    assert_error_at(
        "roots:\n  - uri: /work\n",
        2,
        10,
        &["invalid root uri `/work`", "file://"],
    );
}

#[test]
fn listen_must_be_host_and_port() {
    assert_error_at(
        "listen: 8080\n",
        1,
        9,
        &["invalid listen address `8080`", "HOST:PORT"],
    );
    assert_eq!(ok("listen: '[::1]:9'\n").listen, "[::1]:9");
}

#[test]
fn zero_upstreams_is_valid() {
    assert!(ok("upstreams: {}\n").upstreams.is_empty());
}
