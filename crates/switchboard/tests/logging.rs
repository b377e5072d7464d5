//! What the gateway's logs look like to whoever collects stderr: plain text without colour codes
//! when it is not a terminal, one JSON object per line with `SWITCHBOARD_LOG_FORMAT=json`, and a
//! clear refusal of a format it does not know.

mod support;

use std::process::ExitStatus;
use std::time::Duration;

use serde_json::Value;
use support::*;

const LIMIT: Duration = Duration::from_secs(30);

/// `check --connect` on one fixture upstream, logging at `info` in `format` (unset: the default),
/// with stderr a pipe and no `NO_COLOR` to hide colour codes.
fn check_connect(format: Option<&str>) -> (ExitStatus, String) {
    let c = Config::new().upstream(Upstream::fixture("fx"));
    let path = c.write().display().to_string();
    let mut cmd = gateway_command(&["check", "--config", &path, "--connect"]);
    cmd.env("SWITCHBOARD_LOG", "info").env_remove("NO_COLOR");
    match format {
        Some(f) => cmd.env("SWITCHBOARD_LOG_FORMAT", f),
        None => cmd.env_remove("SWITCHBOARD_LOG_FORMAT"),
    };
    let (status, _, err) = run_to_completion(cmd, LIMIT);
    (status, err)
}

#[test]
fn logs_into_a_pipe_have_no_colour_codes() {
    for format in [None, Some("text")] {
        let (status, err) = check_connect(format);
        assert!(status.success(), "exit {status}; stderr:\n{err}");
        assert!(err.contains("upstream ready"), "{format:?}: stderr:\n{err}");
        assert!(
            !err.contains("\x1b["),
            "{format:?}: no ANSI escape codes; stderr:\n{err}"
        );
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (status, err) = check_connect(Some("json"));
    assert!(status.success(), "exit {status}; stderr:\n{err}");
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\n{err}")))
        .collect();
    assert!(
        lines.iter().all(|l| l["level"].is_string()),
        "each line has a level: {err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "upstream ready" && l["fields"]["upstream"] == "fx"),
        "the ready line with its fields: {err}"
    );
}

#[test]
fn an_unknown_log_format_is_refused_at_startup() {
    let fixture = fixture_bin().display().to_string();
    let mut cmd = gateway_command(&["probe", "--", &fixture]);
    cmd.env("SWITCHBOARD_LOG_FORMAT", "xml");
    let (status, out, err) = run_to_completion(cmd, LIMIT);
    assert_eq!(status.code(), Some(2), "stderr:\n{err}");
    assert_eq!(
        err.trim(),
        r#"switchboard: SWITCHBOARD_LOG_FORMAT must be `text` or `json`, got "xml""#
    );
    assert!(out.is_empty(), "nothing was started: {out}");
}
