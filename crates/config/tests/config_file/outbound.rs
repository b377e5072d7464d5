//! SSRF strict mode's switch and its environment variable, `outbound:` (allowed networks,
//! proxies, TLS) and `credentials:`, whose values must never show in errors or `Debug`.

use switchboard_config::{Credentials, ProxySetting};

use super::*;

#[test]
fn allow_private_upstreams_is_unset_by_default_and_the_environment_overrides_the_file() {
    assert_eq!(ok("{}\n").allow_private_upstreams, None);
    let env = env_of(&[("SWITCHBOARD_ALLOW_PRIVATE_UPSTREAMS", "true")]);
    assert_eq!(
        ok_with("allow_private_upstreams: false\n", &env).allow_private_upstreams,
        Some(true)
    );
    let env = env_of(&[("SWITCHBOARD_ALLOW_PRIVATE_UPSTREAMS", "false")]);
    assert_eq!(ok_with("{}\n", &env).allow_private_upstreams, Some(false));
    let env = env_of(&[("SWITCHBOARD_ALLOW_PRIVATE_UPSTREAMS", "maybe")]);
    let e = err_with("{}\n", &env).to_string();
    assert!(
        e.contains("SWITCHBOARD_ALLOW_PRIVATE_UPSTREAMS must be `true` or `false`"),
        "{e}"
    );
}

#[test]
fn loopback_upstreams_follow_the_listener_unless_configured() {
    let mut c = ok("{}\n");
    assert!(c.loopback_upstreams_allowed(), "quick start on 127.0.0.1");
    c.listen = "0.0.0.0:8080".to_owned();
    assert!(!c.loopback_upstreams_allowed());
    let mut c = ok("allow_private_upstreams: false\n");
    assert!(!c.loopback_upstreams_allowed());
    c.allow_private_upstreams = Some(true);
    c.listen = "0.0.0.0:8080".to_owned();
    assert!(c.loopback_upstreams_allowed());
}

#[test]
fn outbound_blocks() {
    let c = ok(
        "outbound: { proxy: env }\nupstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    outbound:\n      allow: [10.1.0.0/16, 'fd00::/8', 192.168.1.7]\n      proxy: 'http://proxy.internal:3128'\n      tls: { ca: ca.pem, client_cert: /etc/c.pem, client_key: /etc/k.pem, insecure_skip_verify: true }\n",
    );
    assert_eq!(c.outbound_proxy, ProxySetting::Env);
    let o = &c.upstreams[0].outbound;
    assert_eq!(o.allow.len(), 3);
    assert_eq!(o.allow[0].prefix, 16);
    assert_eq!(o.allow[2].prefix, 32);
    assert_eq!(
        o.proxy,
        Some(ProxySetting::Url("http://proxy.internal:3128".to_owned()))
    );
    assert!(o.tls.insecure_skip_verify);
    assert_eq!(o.tls.ca.as_deref(), Some(std::path::Path::new("ca.pem")));
    assert_eq!(ok("{}\n").outbound_proxy, ProxySetting::Direct);
}

#[test]
fn outbound_mistakes_are_located() {
    assert_error_at(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    outbound: { allow: [10.0.0.0/33] }\n",
        4,
        25,
        &["`10.0.0.0/33` is not a network"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    stdio: { command: x }\n    outbound: { allow: [10.0.0.0/8] }\n",
        2,
        3,
        &["apply to `http` and `sse` upstreams only"],
    );
    assert_error_at(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    outbound: { tls: { client_cert: c.pem } }\n",
        4,
        37,
        &["`client_cert` and `client_key` go together"],
    );
    assert_error_at(
        "outbound: { proxy: 'ftp://x' }\n",
        1,
        20,
        &["`proxy` must be `none`, `env` or an http(s) URL"],
    );
    assert_error_at(
        "outbound: { allow: [10.0.0.0/8] }\n",
        1,
        21,
        &["`outbound.allow` is per upstream"],
    );
}

#[test]
fn credentials_resolve_from_the_environment_and_never_show() {
    let env = env_of(&[("TOK", "s3cr3t-token"), ("PW", "hunter2")]);
    let c = ok_with(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    credentials: { bearer: '${TOK}' }\n  b:\n    sse: { url: 'https://b.example/sse' }\n    credentials: { basic: { username: bot, password: '${PW}' } }\n",
        &env,
    );
    match &c.upstreams[0].credentials {
        Credentials::Bearer(t) => assert_eq!(t.expose(), "s3cr3t-token"),
        other => panic!("{other:?}"),
    }
    match &c.upstreams[1].credentials {
        Credentials::Basic { username, password } => {
            assert_eq!(username, "bot");
            assert_eq!(password.expose(), "hunter2");
        }
        other => panic!("{other:?}"),
    }
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("s3cr3t-token") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn credentials_mistakes() {
    assert_error_at(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp', headers: { authorization: x } }\n    credentials: { bearer: t }\n",
        2,
        3,
        &["both `credentials` and an `Authorization` header"],
    );
    // An unset variable is an error that names the key, not the (empty) value.
    let e = err_with(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    credentials: { bearer: '${NOPE:-}' }\n",
        &no_env,
    )
    .to_string();
    assert!(e.contains("`bearer` is empty"), "{e}");
    let env = env_of(&[("TOK", "line1\nline2-secret")]);
    let e = err_with(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    credentials: { bearer: '${TOK}' }\n",
        &env,
    )
    .to_string();
    assert!(
        e.contains("control character") && !e.contains("secret"),
        "{e}"
    );
}

#[test]
fn client_credentials() {
    let env = env_of(&[("CS", "cc-secret-value")]);
    let c = ok_with(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    credentials:\n      client_credentials: { token_url: 'https://idp.example/token', client_id: gw, client_secret: '${CS}', scopes: [a.read, a.write], audience: a }\n",
        &env,
    );
    match &c.upstreams[0].credentials {
        Credentials::ClientCredentials(cc) => {
            assert_eq!(cc.token_url, "https://idp.example/token");
            assert_eq!(cc.client_id, "gw");
            assert_eq!(cc.client_secret.expose(), "cc-secret-value");
            assert_eq!(cc.scopes, ["a.read", "a.write"]);
            assert_eq!(cc.audience.as_deref(), Some("a"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{c:?}").contains("cc-secret-value"));
    let e = err_with(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    credentials: { bearer: t, client_credentials: { token_url: 'https://i/t', client_id: x, client_secret: y } }\n",
        &no_env,
    )
    .to_string();
    assert!(e.contains("takes one of"), "{e}");
}

#[test]
fn token_exchange_and_passthrough() {
    let env = env_of(&[("TXS", "tx-secret-value")]);
    let c = ok_with(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    credentials:\n      token_exchange: { token_url: 'https://idp.example/token', client_id: gw, client_secret: '${TXS}', audience: a-api, resource: 'https://a.example/', scopes: [a.read] }\n  b:\n    http: { url: 'https://b.example/mcp' }\n    credentials: { passthrough: true }\n  c:\n    http: { url: 'https://c.example/mcp' }\n",
        &env,
    );
    match &c.upstreams[0].credentials {
        Credentials::TokenExchange(tx) => {
            assert_eq!(tx.token_url, "https://idp.example/token");
            assert_eq!(tx.client_id.as_deref(), Some("gw"));
            assert_eq!(
                tx.client_secret.as_ref().map(|s| s.expose()),
                Some("tx-secret-value")
            );
            assert_eq!(tx.audience.as_deref(), Some("a-api"));
            assert_eq!(tx.resource.as_deref(), Some("https://a.example/"));
            assert_eq!(tx.scopes, ["a.read"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.upstreams[1].credentials, Credentials::Passthrough);
    assert!(c.upstreams[0].credentials.uses_caller_token());
    assert!(c.upstreams[1].credentials.uses_caller_token());
    assert!(!c.upstreams[2].credentials.uses_caller_token());
    assert!(!format!("{c:?}").contains("tx-secret-value"));
    for (yaml, says) in [
        (
            "    http: { url: 'https://a.example/mcp' }\n    credentials: { passthrough: true, bearer: t }\n",
            "takes one of",
        ),
        (
            "    sse: { url: 'https://a.example/sse' }\n    credentials: { passthrough: true }\n",
            "`http` upstreams only",
        ),
        (
            "    http: { url: 'https://a.example/mcp' }\n    credentials: { token_exchange: { token_url: 'ftp://x/t' } }\n",
            "http",
        ),
        (
            "    http: { url: 'https://a.example/mcp' }\n    credentials: { token_exchange: { token_url: 'https://x/t', client_secret: s } }\n",
            "needs `client_id`",
        ),
    ] {
        let e = err_with(&format!("upstreams:\n  a:\n{yaml}"), &no_env).to_string();
        assert!(e.contains(says), "{yaml}: {e}");
    }
}

#[test]
fn connect_and_read_timeouts() {
    let c = ok(
        "upstreams:\n  a:\n    http: { url: 'https://a.example/mcp' }\n    connect_timeout: 2s\n    read_timeout: 500ms\n  b:\n    http: { url: 'https://b.example/mcp' }\n",
    );
    assert_eq!(
        c.upstreams[0].connect_timeout,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(
        c.upstreams[0].read_timeout,
        Some(std::time::Duration::from_millis(500))
    );
    assert_eq!(
        c.upstreams[1].connect_timeout,
        switchboard_config::DEFAULT_CONNECT_TIMEOUT
    );
    assert_eq!(c.upstreams[1].read_timeout, None);
    for (yaml, says) in [
        (
            "    stdio: { command: x }\n    read_timeout: 1s\n",
            "`http` and `sse` upstreams only",
        ),
        (
            "    http: { url: 'https://a.example/mcp' }\n    read_timeout: 0s\n",
            "greater than 0",
        ),
    ] {
        let e = err_with(&format!("upstreams:\n  a:\n{yaml}"), &no_env).to_string();
        assert!(e.contains(says), "{yaml}: {e}");
    }
}

#[test]
fn debug_output_shows_no_header_values_or_url_credentials() {
    let env = env_of(&[("TOK", "hdr-secret-1")]);
    let c = ok_with(
        "upstreams:\n  a:\n    http: { url: 'https://user:pw-secret@a.example/mcp?key=q-secret', headers: { Authorization: 'Bearer ${TOK}' } }\n  b:\n    stdio: { command: x, env: { API_KEY: env-secret } }\n",
        &env,
    );
    let shown = format!("{c:?}");
    for secret in ["hdr-secret-1", "pw-secret", "q-secret", "env-secret"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("https://a.example/mcp") && shown.contains("Authorization"),
        "{shown}"
    );
}
