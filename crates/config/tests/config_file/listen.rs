//! `--listen` beats `SWITCHBOARD_LISTEN` beats `listen:`; loopback detection.

use switchboard_config::Config;

use crate::{env_of, no_env, ok};

fn from_file() -> Config {
    ok("listen: 127.0.0.1:7000\n")
}

#[test]
fn the_file_value_stands_without_overrides() {
    let mut config = from_file();
    config.apply_listen_override(None, &no_env);
    assert_eq!(config.listen, "127.0.0.1:7000");
}

#[test]
fn env_overrides_the_file() {
    let mut config = from_file();
    config.apply_listen_override(None, &env_of(&[("SWITCHBOARD_LISTEN", "0.0.0.0:7001")]));
    assert_eq!(config.listen, "0.0.0.0:7001");
}

#[test]
fn an_empty_env_value_is_ignored() {
    let mut config = from_file();
    config.apply_listen_override(None, &env_of(&[("SWITCHBOARD_LISTEN", "")]));
    assert_eq!(config.listen, "127.0.0.1:7000");
}

#[test]
fn the_flag_overrides_env_and_file() {
    let mut config = from_file();
    config.apply_listen_override(
        Some("[::1]:7002"),
        &env_of(&[("SWITCHBOARD_LISTEN", "0.0.0.0:7001")]),
    );
    assert_eq!(config.listen, "[::1]:7002");
}

#[test]
fn the_default_is_loopback() {
    assert!(ok("").listen_is_loopback());
}

#[test]
fn loopback_detection() {
    let mut config = ok("");
    for (listen, loopback) in [
        ("127.0.0.1:8080", true),
        ("127.9.9.9:1", true),
        ("[::1]:8080", true),
        ("localhost:8080", true),
        ("0.0.0.0:8080", false),
        ("[::]:8080", false),
        ("192.168.1.10:8080", false),
        ("gw.example.com:443", false),
    ] {
        config.listen = listen.to_owned();
        assert_eq!(config.listen_is_loopback(), loopback, "{listen}");
    }
}
