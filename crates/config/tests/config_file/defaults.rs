//! Every setting left out takes its documented default.

use std::time::Duration;

use switchboard_config::{
    BreakerConfig, CacheScope, Config, Era, HealthConfig, HttpConfig, ItemFilter, ModernConfig,
    ProductStatus, SessionMode, SessionsConfig, StartMode, Transport, UpstreamConfig,
};

use crate::ok;

#[test]
fn an_empty_file_is_a_valid_config_with_every_default() {
    let config = ok("");
    assert_eq!(config, Config::default());
    assert_eq!(config.listen, "127.0.0.1:8080");
    assert_eq!(config.namespace_separator, "__");
    assert_eq!(config.allow_private_upstreams, None);
    assert!(config.roots.is_empty());
    assert!(config.upstreams.is_empty());
    assert!(config.products.is_empty());
}

#[test]
fn a_comment_only_file_is_empty() {
    assert_eq!(ok("# nothing yet\n"), Config::default());
}

#[test]
fn http_defaults() {
    let expected = HttpConfig {
        allowed_hosts: vec![],
        allowed_origins: vec![],
        max_body_bytes: 4 * 1024 * 1024,
        max_header_bytes: 64 * 1024,
        header_read_timeout: Duration::from_secs(75),
        body_read_timeout: Duration::from_secs(30),
        public_url: None,
        websocket: switchboard_config::WebSocketConfig::default(),
        legacy_rest: switchboard_config::LegacyRestConfig::default(),
    };
    assert_eq!(ok("").http, expected);
    assert_eq!(ok("http: {}\n").http, expected);
    assert_eq!(ok("http:\n").http, expected);
}

#[test]
fn sessions_defaults() {
    let expected = SessionsConfig {
        idle_ttl: Duration::from_secs(30 * 60),
        max_sessions: 10_000,
        max_per_principal: 1_000,
        event_buffer: 256,
        keepalive: Duration::from_secs(15),
    };
    assert_eq!(ok("").sessions, expected);
    assert_eq!(ok("sessions: {}\n").sessions, expected);
    assert_eq!(
        ok("sessions: { max_sessions: 5 }\n").sessions,
        SessionsConfig {
            max_sessions: 5,
            ..expected
        }
    );
}

#[test]
fn upstream_defaults() {
    let config = ok("upstreams:\n  time:\n    stdio: { command: python3 }\n");
    let expected = UpstreamConfig {
        name: "time".to_owned(),
        prefix: "time".to_owned(),
        transport: Transport::Stdio {
            command: "python3".to_owned(),
            args: vec![],
            env: vec![],
            cwd: None,
            env_clear: false,
            integrity: None,
        },
        session: SessionMode::Shared,
        timeout: Duration::from_secs(30),
        max_message_bytes: 16 * 1024 * 1024,
        era: Era::Auto,
        probe_timeout: Duration::from_secs(2),
        tools: ItemFilter::default(),
        prompts: ItemFilter::default(),
        resources: ItemFilter::default(),
        tool_timeouts: vec![],
        max_concurrency: None,
        max_result_bytes: None,
        max_sessions: None,
        start: StartMode::Eager,
        idle_timeout: None,
        max_timeout: None,
        required: false,
        scopes: Vec::new(),
        tool_scopes: Vec::new(),
        outbound: Default::default(),
        credentials: Default::default(),
        connect_timeout: Duration::from_secs(10),
        read_timeout: None,
        health: HealthConfig {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(15),
            failures: 2,
        },
        breaker: BreakerConfig {
            enabled: true,
            consecutive_failures: 5,
            failure_rate_percent: None,
            window: 20,
            open_for: Duration::from_secs(30),
            half_open_calls: 1,
        },
    };
    assert_eq!(config.upstreams, vec![expected.clone()]);
    assert_eq!(
        UpstreamConfig::new("time", expected.transport.clone()),
        expected
    );
}

#[test]
fn modern_defaults() {
    let expected = ModernConfig {
        state_keys: vec![],
        replica_id: None,
        input_ttl: Duration::from_secs(600),
        max_rounds: 10,
        max_held: 10_000,
        gather: Duration::from_millis(50),
        list_ttl: Duration::ZERO,
        list_scope: CacheScope::Private,
    };
    assert_eq!(ok("").modern, expected);
    assert_eq!(ok("modern: {}\n").modern, expected);
    assert_eq!(ok("modern:\n").modern, expected);
    assert_eq!(ok("modern: { state_keys: [] }\n").modern, expected);
}

#[test]
fn product_defaults() {
    let config = ok("products:\n  support: {}\n");
    let product = &config.products[0];
    assert_eq!(product.id, "support");
    assert_eq!(product.name, "support", "name defaults to the id");
    assert_eq!(product.status, ProductStatus::Draft);
    assert_eq!(product.description, None);
    assert!(product.tools.is_empty() && product.prompts.is_empty() && product.resources.is_empty());
}

#[test]
fn explicit_nulls_mean_default() {
    let config = ok("listen: ~\nupstreams: ~\nproducts:\nroots:\nsessions:\n  idle_ttl: null\n");
    assert_eq!(config, Config::default());
}

#[test]
fn every_setting_can_be_given() {
    let config = ok(r#"
listen: 0.0.0.0:9000
namespace_separator: "."
http: { allowed_hosts: [gw.example.com], allowed_origins: ["https://app.example.com"], max_body_bytes: 1024, header_read_timeout: 5s, body_read_timeout: 1m }
allow_private_upstreams: true
sessions: { idle_ttl: 1h, max_sessions: 7, event_buffer: 8, keepalive: 500ms }
roots: [ { uri: "file:///work", name: work }, { uri: "file:///tmp" } ]
"#);
    assert_eq!(config.listen, "0.0.0.0:9000");
    assert_eq!(config.namespace_separator, ".");
    assert_eq!(config.http.allowed_hosts, ["gw.example.com"]);
    assert_eq!(config.http.allowed_origins, ["https://app.example.com"]);
    assert_eq!(config.http.max_body_bytes, 1024);
    assert_eq!(config.http.header_read_timeout, Duration::from_secs(5));
    assert_eq!(config.http.body_read_timeout, Duration::from_secs(60));
    assert_eq!(config.allow_private_upstreams, Some(true));
    assert_eq!(
        config.sessions,
        SessionsConfig {
            idle_ttl: Duration::from_secs(3600),
            max_sessions: 7,
            max_per_principal: 1_000,
            event_buffer: 8,
            keepalive: Duration::from_millis(500),
        }
    );
    assert_eq!(config.roots.len(), 2);
    assert_eq!(config.roots[0].uri, "file:///work");
    assert_eq!(config.roots[0].name.as_deref(), Some("work"));
    assert_eq!(config.roots[1].name, None);
}
