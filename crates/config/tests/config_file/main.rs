//! End-to-end tests of `switchboard_config::{parse, load}`: real YAML text in, a `Config` or a
//! located `ConfigError` out. One module per concern; the shared vocabulary lives here.

mod audit;
mod defaults;
mod durations;
mod expansion;
mod federation;
mod files;
mod idempotency;
mod listen;
mod modern;
mod outbound;
mod plugins;
mod products;
mod scopes;
mod shape_errors;
mod telemetry;
mod transports;
mod validation;

use std::collections::HashMap;

use switchboard_config::{Config, ConfigError, parse};

/// An environment with nothing set.
fn no_env(_: &str) -> Option<String> {
    None
}

/// An environment holding exactly `pairs`.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// Parses `yaml` as `test.yaml` with no environment, failing the test on error.
fn ok(yaml: &str) -> Config {
    ok_with(yaml, &no_env)
}

fn ok_with(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Config {
    match parse(yaml, "test.yaml", env) {
        Ok(config) => config,
        Err(e) => panic!("expected the config to load, got: {e}"),
    }
}

/// Parses `yaml`, expecting an error.
fn err_with(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> ConfigError {
    match parse(yaml, "test.yaml", env) {
        Ok(config) => panic!("expected an error, got {config:#?}"),
        Err(e) => e,
    }
}

/// Asserts `yaml` fails at `line:column` with a message containing every one of `needles`.
#[track_caller]
fn assert_error_at(yaml: &str, line: usize, column: usize, needles: &[&str]) {
    assert_error_at_with(yaml, &no_env, line, column, needles);
}

#[track_caller]
fn assert_error_at_with(
    yaml: &str,
    env: &dyn Fn(&str) -> Option<String>,
    line: usize,
    column: usize,
    needles: &[&str],
) {
    let error = err_with(yaml, env);
    assert_eq!(
        error.location(),
        Some((line, column)),
        "wrong location for: {error}"
    );
    let rendered = error.to_string();
    assert!(
        rendered.starts_with(&format!("test.yaml:{line}:{column}: ")),
        "{rendered}"
    );
    for needle in needles {
        assert!(
            error.message().contains(needle),
            "message lacks {needle:?}: {rendered}"
        );
    }
}
