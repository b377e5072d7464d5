//! The load generator against the echo server, both real binaries over real pipes and sockets:
//! every mode the benchmark suite relies on works and validates what it gets.

mod common;

use std::process::Command;

use common::{ECHO, Server, load};
use serde_json::Value;

fn assert_clean(r: &Value, calls: u64) {
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["calls"], calls, "{r}");
    assert!(r["throughput_per_s"].as_f64().unwrap() > 0.0, "{r}");
    let lat = &r["latency_ms"];
    assert!(
        lat["p50"].as_f64().unwrap() <= lat["p99"].as_f64().unwrap(),
        "{r}"
    );
    assert!(
        lat["p99"].as_f64().unwrap() <= lat["max"].as_f64().unwrap(),
        "{r}"
    );
}

#[test]
fn http_echo_calls_over_shared_sessions() {
    let echo = Server::echo(&[]);
    let pid = echo.child.id().to_string();
    let (ok, r) = load(&[
        "--http",
        &echo.url,
        "-c",
        "8",
        "--sessions",
        "3",
        "-n",
        "400",
        "--warmup",
        "50",
        "--watch-pid",
        &pid,
    ]);
    assert!(ok, "{r}");
    assert_clean(&r, 400);
    assert_eq!(r["mode"], "http");
    assert_eq!(r["sessions"], 3);
    assert!(
        r["server"]["cpu_us_per_call"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    assert!(r["server"]["rss_kib_max"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn stdio_multiplexes_concurrent_calls() {
    let (ok, r) = load(&[
        "--stdio", "-c", "16", "-n", "500", "--warmup", "20", "--", ECHO, "--stdio",
    ]);
    assert!(ok, "{r}");
    assert_clean(&r, 500);
    assert_eq!(r["mode"], "stdio");
    // The spawned server is watched by default.
    assert!(r["server"]["pid"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn paged_catalog_and_big_results_are_validated() {
    let echo = Server::echo(&["--extra-tools", "250", "--page-size", "100"]);
    let (ok, r) = load(&[
        "--http",
        &echo.url,
        "--method",
        "tools/list",
        "--expect-tools",
        "253",
        "-n",
        "5",
        "--warmup",
        "1",
    ]);
    assert!(ok, "{r}");
    assert_clean(&r, 5);
    let (_, r) = load(&[
        "--http",
        &echo.url,
        "--method",
        "tools/list",
        "--expect-tools",
        "300",
        "-n",
        "5",
        "--warmup",
        "0",
    ]);
    assert_eq!(r["errors"], 5, "a wrong tool count must fail: {r}");

    let (ok, r) = load(&[
        "--http",
        &echo.url,
        "--tool",
        "big",
        "--args",
        r#"{"bytes":1048576}"#,
        "--expect-bytes",
        "1048576",
        "-n",
        "5",
        "--warmup",
        "1",
    ]);
    assert!(ok, "{r}");
    assert_clean(&r, 5);
    let (_, r) = load(&[
        "--http",
        &echo.url,
        "--tool",
        "big",
        "--args",
        r#"{"bytes":10}"#,
        "--expect-bytes",
        "11",
        "-n",
        "3",
        "--warmup",
        "0",
    ]);
    assert_eq!(r["errors"], 3, "a short result must fail: {r}");
}

#[test]
fn wrong_answers_are_errors() {
    let echo = Server::echo(&[]);
    // The echo tool answers with the message, not with what we claim to expect.
    let (_, r) = load(&[
        "--http",
        &echo.url,
        "--expect-text",
        "something else",
        "-n",
        "10",
        "--warmup",
        "0",
    ]);
    assert_eq!(r["errors"], 10, "{r}");
    assert!(
        r["first_error"].as_str().unwrap().contains("expected text"),
        "{r}"
    );
    let (_, r) = load(&[
        "--http", &echo.url, "--tool", "nope", "-n", "10", "--warmup", "0",
    ]);
    assert_eq!(r["errors"], 10, "{r}");
}

#[test]
fn slow_calls_do_not_block_fast_ones_on_stdio() {
    // Eight 300 ms calls at once finish together, not one after another.
    let (ok, r) = load(&[
        "--stdio",
        "--tool",
        "slow",
        "--args",
        r#"{"ms":300}"#,
        "-c",
        "8",
        "-n",
        "8",
        "--warmup",
        "0",
        "--",
        ECHO,
        "--stdio",
    ]);
    assert!(ok, "{r}");
    assert_clean(&r, 8);
    assert!(r["duration_s"].as_f64().unwrap() < 1.5, "{r}");
}

#[test]
fn min_duration_keeps_measuring_past_the_call_count() {
    // 50 calls take a few milliseconds; the phase goes on until 300 ms have passed.
    let (ok, r) = load(&[
        "--stdio",
        "-c",
        "4",
        "-n",
        "50",
        "--warmup",
        "0",
        "--min-duration",
        "300ms",
        "--",
        ECHO,
        "--stdio",
    ]);
    assert!(ok, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert!(r["calls"].as_u64().unwrap() > 50, "{r}");
    assert!(r["duration_s"].as_f64().unwrap() >= 0.3, "{r}");
    // --duration still caps it.
    let (ok, r) = load(&[
        "--stdio",
        "-n",
        "50",
        "--warmup",
        "0",
        "--min-duration",
        "5s",
        "--duration",
        "200ms",
        "--",
        ECHO,
        "--stdio",
    ]);
    assert!(ok, "{r}");
    assert!(r["duration_s"].as_f64().unwrap() < 2.0, "{r}");
}

#[test]
fn refuses_non_loopback_targets() {
    let (ok, _) = load(&["--http", "http://192.0.2.1:80/mcp", "-n", "1"]);
    assert!(!ok);
    let out = Command::new(ECHO)
        .args(["--http", "0.0.0.0:0"])
        .output()
        .expect("run echo");
    assert!(!out.status.success());
}
