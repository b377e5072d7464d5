//! `SWITCHBOARD_UPSTREAMS=name=url,…` appends `http` upstreams after the file's.

use switchboard_config::{Transport, UpstreamConfig, token_env_name};

use crate::{assert_error_at_with, env_of, err_with, ok_with};

const FILE: &str = "upstreams:\n  time:\n    stdio: { command: python3 }\n";

fn http(name: &str, url: &str, headers: &[(&str, &str)]) -> UpstreamConfig {
    UpstreamConfig::new(
        name,
        Transport::Http {
            url: url.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        },
    )
}

#[test]
fn appends_http_upstreams_after_the_file_in_env_order() {
    let env = env_of(&[(
        "SWITCHBOARD_UPSTREAMS",
        "zeta=https://z.example.com/mcp, alpha=http://127.0.0.1:9000/mcp?x=1",
    )]);
    let config = ok_with(FILE, &env);
    let names: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["time", "zeta", "alpha"]);
    assert_eq!(
        config.upstreams[1],
        http("zeta", "https://z.example.com/mcp", &[])
    );
    assert_eq!(
        config.upstreams[2],
        http("alpha", "http://127.0.0.1:9000/mcp?x=1", &[])
    );
    assert_eq!(config.upstreams[2].prefix, "alpha");
}

#[test]
fn tokens_become_bearer_headers() {
    let env = env_of(&[
        (
            "SWITCHBOARD_UPSTREAMS",
            "my-api=https://a.example.com/mcp,fred=https://f.example.com/mcp,",
        ),
        ("SWITCHBOARD_UPSTREAM_TOKEN_MY_API", "s3cret"),
        ("SWITCHBOARD_UPSTREAM_TOKEN_FRED", ""),
    ]);
    let config = ok_with("", &env);
    assert_eq!(
        config.upstreams,
        vec![
            http(
                "my-api",
                "https://a.example.com/mcp",
                &[("Authorization", "Bearer s3cret")]
            ),
            http("fred", "https://f.example.com/mcp", &[]),
        ]
    );
    assert_eq!(
        token_env_name("my-api"),
        "SWITCHBOARD_UPSTREAM_TOKEN_MY_API"
    );
}

#[test]
fn the_variable_unset_or_empty_adds_nothing() {
    assert_eq!(ok_with(FILE, &env_of(&[])).upstreams.len(), 1);
    assert_eq!(
        ok_with(FILE, &env_of(&[("SWITCHBOARD_UPSTREAMS", "")]))
            .upstreams
            .len(),
        1
    );
}

#[test]
fn a_name_in_both_the_file_and_the_env_is_an_error_at_the_file_entry() {
    assert_error_at_with(
        FILE,
        &env_of(&[("SWITCHBOARD_UPSTREAMS", "time=https://t.example.com/mcp")]),
        2,
        3,
        &["upstream `time` is defined both here and in SWITCHBOARD_UPSTREAMS"],
    );
}

#[test]
fn a_prefix_taken_in_the_file_is_an_error() {
    assert_error_at_with(
        "upstreams:\n  time:\n    stdio: { command: python3 }\n    prefix: remote\n",
        &env_of(&[("SWITCHBOARD_UPSTREAMS", "remote=https://r.example.com/mcp")]),
        4,
        13,
        &["`time` (at 2:3) and `remote` (from SWITCHBOARD_UPSTREAMS) both use the prefix `remote`"],
    );
}

#[test]
fn malformed_entries_name_the_variable() {
    let cases = [
        ("a=https://a.example.com,oops", "entry `oops` has no `=`"),
        ("=https://a.example.com", "has an empty name"),
        (
            "a=mcp.example.com",
            "upstream `a`: invalid URL `mcp.example.com`",
        ),
        ("a=", "upstream `a`: invalid URL ``"),
        (
            "my.api=https://a.example.com",
            "invalid upstream name `my.api`",
        ),
        ("a=http://x,a=http://y", "names upstream `a` twice"),
    ];
    for (value, needle) in cases {
        let error = err_with("", &env_of(&[("SWITCHBOARD_UPSTREAMS", value)]));
        assert_eq!(error.location(), None, "{error}");
        let rendered = error.to_string();
        assert!(
            rendered.starts_with("test.yaml: SWITCHBOARD_UPSTREAMS: "),
            "{rendered}"
        );
        assert!(rendered.contains(needle), "{value:?}: {rendered}");
    }
}

#[test]
fn a_token_with_a_newline_is_rejected() {
    let error = err_with(
        "",
        &env_of(&[
            ("SWITCHBOARD_UPSTREAMS", "a=https://a.example.com"),
            ("SWITCHBOARD_UPSTREAM_TOKEN_A", "x\nEvil: 1"),
        ]),
    );
    assert!(
        error
            .to_string()
            .starts_with("test.yaml: SWITCHBOARD_UPSTREAM_TOKEN_A: "),
        "{error}"
    );
}
