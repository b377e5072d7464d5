//! Durations in the file: unit forms, bare seconds, and located errors.

use std::time::Duration;

use crate::{assert_error_at, ok};

fn timeout(text: &str) -> Duration {
    ok(&format!(
        "upstreams:\n  a:\n    sse: {{ url: http://x }}\n    timeout: {text}\n"
    ))
    .upstreams[0]
        .timeout
}

#[test]
fn accepted_forms() {
    assert_eq!(timeout("500ms"), Duration::from_millis(500));
    assert_eq!(timeout("30s"), Duration::from_secs(30));
    assert_eq!(timeout("10m"), Duration::from_secs(600));
    assert_eq!(timeout("24h"), Duration::from_secs(86_400));
    assert_eq!(timeout("1h30m"), Duration::from_secs(5_400));
    assert_eq!(
        timeout("45"),
        Duration::from_secs(45),
        "bare integers are seconds"
    );
    assert_eq!(timeout("'45'"), Duration::from_secs(45));
}

#[test]
fn session_durations() {
    let config = ok("sessions: { idle_ttl: 2h, keepalive: 250ms }\n");
    assert_eq!(config.sessions.idle_ttl, Duration::from_secs(7200));
    assert_eq!(config.sessions.keepalive, Duration::from_millis(250));
}

#[test]
fn bad_forms_are_located() {
    let yaml = |text: &str| {
        format!("upstreams:\n  a:\n    sse: {{ url: http://x }}\n    timeout: {text}\n")
    };
    assert_error_at(
        &yaml("30 seconds"),
        4,
        14,
        &["`timeout`: invalid duration `30 seconds`"],
    );
    assert_error_at(
        &yaml("1.5s"),
        4,
        14,
        &["invalid duration `1.5s`", "unexpected `.`"],
    );
    assert_error_at(&yaml("10x"), 4, 14, &["unknown unit `x`"]);
    assert_error_at(&yaml("30s1m"), 4, 14, &["largest first"]);
    assert_error_at(&yaml("0s"), 4, 14, &["`timeout` must be greater than 0"]);
    assert_error_at(&yaml("''"), 4, 14, &["it is empty"]);
    assert_error_at(
        "sessions:\n  keepalive: 0\n",
        2,
        14,
        &["`keepalive` must be greater than 0"],
    );
    assert_error_at(
        "http:\n  header_read_timeout: 0s\n",
        2,
        24,
        &["`header_read_timeout` must be greater than 0"],
    );
    // Deadlines are computed from these; a value past a year would overflow the clock.
    assert_error_at(
        "http:\n  header_read_timeout: 10000000000000000000\n",
        2,
        24,
        &["`header_read_timeout`", "longer than a year"],
    );
    assert_error_at(
        "http:\n  body_read_timeout: soon\n",
        2,
        22,
        &["`body_read_timeout`"],
    );
    assert_error_at(
        "sessions:\n  idle_ttl: 5d\n",
        2,
        13,
        &["`idle_ttl`", "unknown unit `d`"],
    );
}
