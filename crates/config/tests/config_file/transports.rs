//! Each transport parses into its `Transport` variant; exactly one per upstream.

use std::path::PathBuf;
use std::time::Duration;

use switchboard_config::{Era, SessionMode, Transport};

use crate::{assert_error_at, ok};

/// The example from the product brief, in full.
const BRIEF_EXAMPLE: &str = r#"listen: 127.0.0.1:8080
namespace_separator: "__"
upstreams:
  time:
    stdio: { command: python3, args: ["-m", "mcp_server_time"], env: { TZ: UTC, LANG: C }, cwd: /srv/time }
  everything:
    stdio: { command: npx, args: ["-y", "@modelcontextprotocol/server-everything"] }
    prefix: ""
    session: isolated
    timeout: 45s
    max_message_bytes: 1048576
    era: legacy
  remote:
    http: { url: "https://mcp.example.com/mcp", headers: { Authorization: "Bearer abc", X-Team: core } }
  old:
    sse: { url: "https://legacy.example.com/sse" }
products:
  support: { name: Support, status: published, tools: ["time__*", "remote__search_*"] }
"#;

#[test]
fn the_brief_example_loads_in_file_order() {
    let config = ok(BRIEF_EXAMPLE);
    let names: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["time", "everything", "remote", "old"]);
}

#[test]
fn stdio_transport() {
    let config = ok(BRIEF_EXAMPLE);
    assert_eq!(
        config.upstreams[0].transport,
        Transport::Stdio {
            command: "python3".to_owned(),
            args: vec!["-m".to_owned(), "mcp_server_time".to_owned()],
            env: vec![
                ("TZ".to_owned(), "UTC".to_owned()),
                ("LANG".to_owned(), "C".to_owned())
            ],
            cwd: Some(PathBuf::from("/srv/time")),
            env_clear: false,
            integrity: None,
        }
    );
}

#[test]
fn stdio_options() {
    let everything = &ok(BRIEF_EXAMPLE).upstreams[1];
    assert_eq!(everything.prefix, "");
    assert_eq!(everything.session, SessionMode::Isolated);
    assert_eq!(everything.timeout, Duration::from_secs(45));
    assert_eq!(everything.max_message_bytes, 1_048_576);
    assert_eq!(everything.era, Era::Legacy);
}

#[test]
fn http_transport_keeps_header_order() {
    let config = ok(BRIEF_EXAMPLE);
    assert_eq!(
        config.upstreams[2].transport,
        Transport::Http {
            url: "https://mcp.example.com/mcp".to_owned(),
            headers: vec![
                ("Authorization".to_owned(), "Bearer abc".to_owned()),
                ("X-Team".to_owned(), "core".to_owned())
            ],
        }
    );
}

#[test]
fn sse_transport() {
    let config = ok(BRIEF_EXAMPLE);
    assert_eq!(
        config.upstreams[3].transport,
        Transport::Sse {
            url: "https://legacy.example.com/sse".to_owned(),
            headers: vec![],
        }
    );
}

#[test]
fn block_style_equals_flow_style() {
    let block = ok(
        "upstreams:\n  time:\n    stdio:\n      command: python3\n      args:\n        - -m\n        - mcp_server_time\n      env:\n        TZ: UTC\n",
    );
    let flow = ok(
        "upstreams: { time: { stdio: { command: python3, args: [-m, mcp_server_time], env: { TZ: UTC } } } }\n",
    );
    assert_eq!(block, flow);
}

#[test]
fn scalars_that_look_typed_stay_text_in_string_fields() {
    let config = ok(
        "upstreams:\n  a:\n    stdio: { command: x, args: [1, true, 0x1F, 1.50, ~x, ''], env: { N: 5 } }\n",
    );
    let Transport::Stdio { args, env, .. } = &config.upstreams[0].transport else {
        panic!("not stdio");
    };
    assert_eq!(args, &["1", "true", "0x1F", "1.50", "~x", ""]);
    assert_eq!(env, &[("N".to_owned(), "5".to_owned())]);
}

#[test]
fn era_and_session_words() {
    for (word, era) in [
        ("auto", Era::Auto),
        ("modern", Era::Modern),
        ("legacy", Era::Legacy),
    ] {
        let config = ok(&format!(
            "upstreams:\n  a:\n    sse: {{ url: http://x }}\n    era: {word}\n"
        ));
        assert_eq!(config.upstreams[0].era, era);
    }
    let config = ok("upstreams:\n  a:\n    sse: { url: http://x }\n    session: shared\n");
    assert_eq!(config.upstreams[0].session, SessionMode::Shared);
    assert_error_at(
        "upstreams:\n  a:\n    sse: { url: http://x }\n    era: future\n",
        4,
        10,
        &["unknown era `future`", "`auto`, `modern`, `legacy`"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    sse: { url: http://x }\n    session: Shared\n",
        4,
        14,
        &["unknown session `Shared`", "`shared`, `isolated`"],
    );
}

#[test]
fn no_transport_is_an_error_at_the_upstream() {
    assert_error_at(
        "upstreams:\n  lonely:\n    timeout: 5s\n",
        2,
        3,
        &[
            "upstream `lonely` has no transport",
            "`stdio`, `http`, `sse`, `prometheus`, `loki`, `kubernetes` or `management`",
        ],
    );
    assert_error_at(
        "upstreams:\n  lonely:\n",
        2,
        3,
        &["upstream `lonely` has no transport"],
    );
}

#[test]
fn two_transports_is_an_error_at_the_upstream() {
    assert_error_at(
        "upstreams:\n  ok:\n    sse: { url: http://x }\n  both:\n    stdio: { command: x }\n    http: { url: http://y }\n",
        4,
        3,
        &["upstream `both` has more than one transport (`stdio` and `http`)"],
    );
    assert_error_at(
        "upstreams:\n  all:\n    stdio: { command: x }\n    http: { url: http://y }\n    sse: { url: http://z }\n",
        2,
        3,
        &["(`stdio` and `http` and `sse`)"],
    );
}

#[test]
fn built_in_connectors_carry_their_settings_expanded_and_checked() {
    let yaml = "upstreams:\n  prom:\n    prometheus: { url: \"${PROM:-http://p:9090}\", timeout: 5s, headers: { X-A: \"${A}\" } }\n    tool_timeouts: { query_range: 1m }\n  ops:\n    management:\n";
    let env = crate::env_of(&[("A", "b")]);
    let seen = std::cell::RefCell::new(Vec::new());
    let check = |kind: &str, settings: &serde_json::Value| {
        seen.borrow_mut().push((kind.to_owned(), settings.clone()));
        Ok(())
    };
    let c = switchboard_config::parse_with(yaml, "test.yaml", &env, &check).unwrap();
    let Transport::Builtin { kind, settings } = &c.upstreams[0].transport else {
        panic!("{:?}", c.upstreams[0].transport)
    };
    assert_eq!(kind, "prometheus");
    assert_eq!(
        settings,
        &serde_json::json!({"url": "http://p:9090", "timeout": "5s", "headers": {"X-A": "b"}})
    );
    assert_eq!(
        c.upstreams[0].tool_timeouts,
        [("query_range".to_owned(), Duration::from_secs(60))]
    );
    // `management:` with nothing after it is an empty block.
    assert_eq!(
        c.upstreams[1].transport,
        Transport::Builtin {
            kind: "management".into(),
            settings: serde_json::json!({})
        }
    );
    assert_eq!(seen.borrow().len(), 2);

    // The check's refusal is reported at the upstream, naming it and the kind.
    let refuse = |_: &str, _: &serde_json::Value| Err("unknown field `urll`".to_owned());
    let e = switchboard_config::parse_with(yaml, "test.yaml", &env, &refuse).unwrap_err();
    assert_eq!(e.location(), Some((2, 3)));
    assert_eq!(
        e.message(),
        "upstream `prom`: prometheus: unknown field `urll`"
    );

    // Two transports, a built-in and a group, or a missing variable: errors at the upstream.
    assert_error_at(
        "upstreams:\n  a:\n    loki: { url: http://l }\n    http: { url: http://x }\n",
        2,
        3,
        &["more than one transport (`http` and `loki`)"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    management: {}\n    group: { members: [b] }\n  b:\n    management: {}\n",
        2,
        3,
        &["is a `group` and has a transport too"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    loki: { url: \"${NOPE}\" }\n",
        2,
        3,
        &["upstream `a`: loki: environment variable `NOPE` is not set"],
    );
}
