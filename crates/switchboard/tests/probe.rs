//! `switchboard probe` as the README writes it: `probe -- COMMAND ARGS…` starts a stdio server
//! (everything after `--` reaches it untouched, flags included), `probe URL` talks Streamable HTTP,
//! and `--call NAME --args JSON` calls one tool after listing.

mod support;

use std::time::Duration;

use support::*;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn probe_a_stdio_server_after_double_dash() {
    let fixture = fixture_bin().display().to_string();
    let (status, out, err) = run_gateway(&["probe", "--", &fixture], LIMIT);
    assert!(status.success(), "exit {status}; stderr:\n{err}");
    assert!(
        out.contains(r#"server: {"name":"switchboard-fixture""#),
        "stdout:\n{out}"
    );
    assert!(out.contains("tools ("), "stdout:\n{out}");
    assert!(
        out.lines().any(|l| l.trim() == "echo"),
        "the fixture's tools are listed; stdout:\n{out}"
    );
}

#[test]
fn flags_after_double_dash_reach_the_server_and_call_works() {
    let fixture = fixture_bin().display().to_string();
    let (status, out, err) = run_gateway(
        &[
            "probe",
            "--call",
            "echo",
            "--args",
            r#"{"message":"hello"}"#,
            "--",
            &fixture,
            "--name",
            "probed",
        ],
        LIMIT,
    );
    assert!(status.success(), "exit {status}; stderr:\n{err}");
    // `--name probed` is the fixture's flag, not ours: the server calls itself what it was told.
    assert!(
        out.contains(r#"server: {"name":"probed""#),
        "stdout:\n{out}"
    );
    assert!(out.contains(r#"result: {"content":[{"#), "stdout:\n{out}");
    assert!(out.contains("hello"), "stdout:\n{out}");
}

#[test]
fn a_command_without_double_dash_is_refused_with_the_usage() {
    let fixture = fixture_bin().display().to_string();
    let (status, _, err) = run_gateway(&["probe", &fixture], LIMIT);
    assert_eq!(status.code(), Some(1), "stderr:\n{err}");
    assert!(err.contains("`-- COMMAND ARGS…`"), "stderr:\n{err}");
}

#[tokio::test]
async fn probe_a_url() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let url = gw.mcp();
    let (status, out, err) = tokio::task::spawn_blocking(move || {
        run_gateway(
            &[
                "probe",
                "--call",
                "fx__echo",
                "--args",
                r#"{"message":"over http"}"#,
                &url,
            ],
            LIMIT,
        )
    })
    .await
    .expect("probe thread");
    assert!(status.success(), "exit {status}; stderr:\n{err}");
    assert!(out.contains("tools ("), "stdout:\n{out}");
    assert!(
        out.lines().any(|l| l.trim() == "fx__echo"),
        "the gateway's catalog is listed; stdout:\n{out}"
    );
    assert!(out.contains("over http"), "stdout:\n{out}");
}
