//! What the gateway's logs look like to whoever collects stderr: plain text without colour codes
//! when it is not a terminal, one JSON object per line with `SWITCHBOARD_LOG_FORMAT=json`, a
//! clear refusal of a format it does not know, and the `modern.state_keys` warning only where it
//! means something (`serve`, not a `stdio` process).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

const NO_STATE_KEYS: &str = "modern.state_keys not set";

#[tokio::test]
async fn serve_without_state_keys_warns() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    assert!(
        gw.stderr().contains(NO_STATE_KEYS),
        "stderr:\n{}",
        gw.stderr()
    );
}

#[test]
fn stdio_without_state_keys_does_not_warn() {
    let c = Config::new().upstream(Upstream::fixture("fx"));
    let path = c.write().display().to_string();
    let mut child = gateway_command(&["stdio", "--config", &path])
        .env("SWITCHBOARD_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard stdio");
    let logged = Arc::new(Mutex::new(String::new()));
    let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let reader = std::thread::spawn({
        let logged = logged.clone();
        move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut l = logged.lock().expect("log buffer");
                l.push_str(&line);
                l.push('\n');
            }
        }
    });
    let mut stdin = child.stdin.take().expect("piped stdin");
    writeln!(stdin, "{}", initialize_body(1)).expect("write initialize");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the answer");
    let answer: Value = serde_json::from_str(&line).expect("one JSON message per line");
    assert_eq!(answer["id"], 1, "{line}");
    assert!(answer["result"]["serverInfo"].is_object(), "{line}");
    // Start-up is over once the upstream is ready (the warning came before that, from
    // `Gateway::new`); end of input then ends the process.
    let deadline = Instant::now() + LIMIT;
    while !logged
        .lock()
        .expect("log buffer")
        .contains("upstream ready")
    {
        assert!(
            Instant::now() < deadline,
            "the upstream never became ready; stderr:\n{}",
            logged.lock().expect("log buffer")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("switchboard stdio did not exit at end of input");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().expect("stderr reader");
    let err = logged.lock().expect("log buffer").clone();
    assert!(!err.contains(NO_STATE_KEYS), "stderr:\n{err}");
}
