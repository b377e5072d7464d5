//! `${VAR}`, `${VAR:-default}` and `$$` expand inside every scalar value, after YAML parsing.

use std::time::Duration;

use switchboard_config::{ProductStatus, SessionMode, Transport};

use crate::{assert_error_at, assert_error_at_with, env_of, ok, ok_with};

const EVERYWHERE: &str = r#"
listen: "${HOST}:${PORT:-8080}"
upstreams:
  remote:
    http:
      url: "https://${DOMAIN}/mcp"
      headers: { Authorization: "Bearer ${REMOTE_TOKEN}" }
  local:
    stdio:
      command: ${PYTHON:-python3}
      args: ["--root", "${HOME}/data", "--price", "5$", "$$HOME"]
      env: { TOKEN: "${REMOTE_TOKEN}", LITERAL: "$${NOT_EXPANDED}" }
products:
  p: { name: "${PRODUCT_NAME:-Support}", tools: ["${TOOLS_GLOB}"] }
"#;

#[test]
fn expands_in_every_string_value() {
    let env = env_of(&[
        ("HOST", "127.0.0.1"),
        ("DOMAIN", "mcp.example.com"),
        ("REMOTE_TOKEN", "t0k$n"),
        ("HOME", "/home/me"),
        ("TOOLS_GLOB", "remote__*"),
    ]);
    let config = ok_with(EVERYWHERE, &env);
    assert_eq!(config.listen, "127.0.0.1:8080");
    assert_eq!(
        config.upstreams[0].transport,
        Transport::Http {
            url: "https://mcp.example.com/mcp".to_owned(),
            headers: vec![("Authorization".to_owned(), "Bearer t0k$n".to_owned())],
        }
    );
    assert_eq!(
        config.upstreams[1].transport,
        Transport::Stdio {
            command: "python3".to_owned(),
            args: ["--root", "/home/me/data", "--price", "5$", "$HOME"]
                .map(str::to_owned)
                .to_vec(),
            env: vec![
                ("TOKEN".to_owned(), "t0k$n".to_owned()),
                ("LITERAL".to_owned(), "${NOT_EXPANDED}".to_owned()),
            ],
            cwd: None,
            env_clear: false,
            integrity: None,
        }
    );
    assert_eq!(config.products[0].name, "Support");
    assert_eq!(config.products[0].tools, ["remote__*"]);
}

#[test]
fn defaults_apply_when_unset_or_empty() {
    let config = ok_with(
        "listen: ${LISTEN:-127.0.0.1:9999}\nnamespace_separator: ${SEP:-.}\n",
        &env_of(&[("SEP", "")]),
    );
    assert_eq!(config.listen, "127.0.0.1:9999");
    assert_eq!(config.namespace_separator, ".");
}

#[test]
fn missing_variable_is_located_at_its_scalar_and_named() {
    assert_error_at(
        "upstreams:\n  remote:\n    http:\n      url: https://mcp.example.com/mcp\n      headers: { Authorization: \"Bearer ${REMOTE_TOKEN}\" }\n",
        5,
        33,
        &[
            "environment variable `REMOTE_TOKEN` is not set",
            "${REMOTE_TOKEN:-default}",
        ],
    );
    assert_error_at(
        "upstreams:\n  a:\n    stdio:\n      command: x\n      args:\n        - ok\n        - ${MISSING}\n",
        7,
        11,
        &["`MISSING` is not set"],
    );
}

#[test]
fn malformed_references_are_located() {
    assert_error_at("listen: \"${HOST\"\n", 1, 9, &["unterminated `${HOST`"]);
    assert_error_at("listen: \"${}:80\"\n", 1, 9, &["empty variable name"]);
    assert_error_at("listen: \"${A B}:80\"\n", 1, 9, &["invalid character ` `"]);
}

#[test]
fn a_value_cannot_inject_yaml_structure() {
    let env = env_of(&[("EVIL", "x\n  evil: x"), ("EVIL_FLOW", "a, b: c } ]")]);
    let config = ok_with(
        "upstreams:\n  a:\n    stdio: { command: \"${EVIL}\", args: [\"${EVIL_FLOW}\"], env: { V: \"${EVIL}\" } }\n",
        &env,
    );
    assert_eq!(config.upstreams.len(), 1);
    let Transport::Stdio {
        command, args, env, ..
    } = &config.upstreams[0].transport
    else {
        panic!("not stdio");
    };
    assert_eq!(command, "x\n  evil: x");
    assert_eq!(args, &["a, b: c } ]"]);
    assert_eq!(env, &[("V".to_owned(), "x\n  evil: x".to_owned())]);
}

#[test]
fn a_value_cannot_inject_a_header() {
    assert_error_at_with(
        "upstreams:\n  a:\n    http: { url: http://x, headers: { Authorization: \"Bearer ${T}\" } }\n",
        &env_of(&[("T", "x\r\nX-Evil: 1")]),
        3,
        54,
        &["contains the control character"],
    );
}

#[test]
fn typed_values_expand_before_parsing() {
    let env = env_of(&[
        ("TIMEOUT", "90s"),
        ("BODY", "2048"),
        ("PRIVATE", "true"),
        ("MODE", "isolated"),
        ("STATUS", "published"),
    ]);
    let config = ok_with(
        "allow_private_upstreams: ${PRIVATE}\nhttp: { max_body_bytes: \"${BODY}\" }\nsessions: { idle_ttl: \"${TTL:-1h30m}\" }\nupstreams:\n  a:\n    sse: { url: http://x }\n    timeout: ${TIMEOUT}\n    session: ${MODE}\nproducts:\n  p: { status: '${STATUS}' }\n",
        &env,
    );
    assert_eq!(config.allow_private_upstreams, Some(true));
    assert_eq!(config.http.max_body_bytes, 2048);
    assert_eq!(config.sessions.idle_ttl, Duration::from_secs(5400));
    assert_eq!(config.upstreams[0].timeout, Duration::from_secs(90));
    assert_eq!(config.upstreams[0].session, SessionMode::Isolated);
    assert_eq!(config.products[0].status, ProductStatus::Published);
}

#[test]
fn a_bad_expanded_value_is_located_at_the_reference() {
    assert_error_at_with(
        "upstreams:\n  a:\n    sse: { url: http://x }\n    timeout: ${TIMEOUT}\n",
        &env_of(&[("TIMEOUT", "soon")]),
        4,
        14,
        &["`timeout`: invalid duration `soon`"],
    );
}

#[test]
fn keys_are_not_expanded() {
    let config = ok("upstreams:\n  a:\n    stdio: { command: x, env: { $$X: '1' } }\n");
    let Transport::Stdio { env, .. } = &config.upstreams[0].transport else {
        panic!("not stdio");
    };
    assert_eq!(env, &[("$$X".to_owned(), "1".to_owned())]);
}
