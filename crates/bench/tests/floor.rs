//! The floor between the load generator and the echo server, all real binaries over real sockets
//! and pipes: a bare forwarder carries MCP calls unchanged over HTTP, TCP and stdio, and says 502
//! (HTTP) or closes the connection (TCP) when there is nothing to forward to.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ECHO, FLOOR, Server, load_ok as load};

/// Calls the echo server through the floor in `mode` (`--http` or `--tcp`): every call comes back
/// whole, and the floor's CPU is measured.
fn floor_carries_calls(mode: &str) {
    let echo = Server::echo(&[]);
    let floor = Server::start(FLOOR, &[mode, "127.0.0.1:0", "--to", &echo.url]);
    assert!(floor.url.ends_with("/mcp"), "{}", floor.url);
    let pid = floor.child.id().to_string();
    let r = load(&[
        "--http",
        &floor.url,
        "--tool",
        "echo",
        "-c",
        "4",
        "-n",
        "200",
        "--warmup",
        "20",
        "--watch-pid",
        &pid,
    ]);
    // The echo server answers a call only with a session id it minted (400 without, 404
    // unknown): no errors means its Mcp-Session-Id came back through the floor and went forward
    // again on every call.
    assert_eq!(r["errors"], 0, "{mode}: {r}");
    assert_eq!(r["calls"], 200, "{mode}: {r}");
    assert!(
        r["server"]["cpu_us_per_call"].as_f64().unwrap() > 0.0,
        "{mode}: {r}"
    );
}

#[test]
fn http_floor_forwards_calls_to_the_echo_server() {
    floor_carries_calls("--http");
}

#[test]
fn tcp_floor_splices_calls_to_the_echo_server() {
    floor_carries_calls("--tcp");
}

/// A floor in `mode` whose upstream has gone away, and a connection to it (reads time out after
/// 10 s) with the floor's address.
fn floor_without_upstream(mode: &str) -> (Server, TcpStream, String) {
    let echo = Server::echo(&[]);
    let floor = Server::start(FLOOR, &[mode, "127.0.0.1:0", "--to", &echo.url]);
    drop(echo);
    let addr = floor
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let s = TcpStream::connect(&addr).expect("connect to floor");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (floor, s, addr)
}

#[test]
fn tcp_floor_closes_the_connection_when_the_upstream_is_gone() {
    let (_floor, mut s, _) = floor_without_upstream("--tcp");
    // Whether or not the write lands before the floor gives up, nothing comes back.
    let _ = s.write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer)),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn stdio_floor_relays_calls_to_the_echo_server() {
    let r = load(&[
        "--stdio", "-c", "4", "-n", "200", "--warmup", "20", "--", FLOOR, "--stdio", "--", ECHO,
        "--stdio",
    ]);
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["calls"], 200, "{r}");
    assert_eq!(r["mode"], "stdio");
}

#[test]
fn stdio_floor_exits_with_the_childs_status_at_the_end_of_input() {
    let mut child = Command::new(FLOOR)
        .args(["--stdio", "--", "sh", "-c", "cat; exit 7"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn floor");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"one line\nand half a").expect("write");
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    assert_eq!(out, "one line\nand half a");
    assert_eq!(child.wait().expect("wait").code(), Some(7));
}

#[test]
fn http_floor_answers_502_when_the_upstream_is_gone() {
    let (_floor, mut s, addr) = floor_without_upstream("--http");
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 502 "), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    assert!(
        body.starts_with("switchboard-floor: connect to "),
        "{body:?}"
    );
    assert_eq!(body.lines().count(), 1, "{body:?}");
}

#[test]
fn http_floor_refuses_non_loopback_addresses() {
    for args in [
        ["--http", "127.0.0.1:0", "--to", "http://192.0.2.1:80/mcp"],
        ["--http", "0.0.0.0:0", "--to", "http://127.0.0.1:9/mcp"],
    ] {
        let out = Command::new(FLOOR).args(args).output().expect("run floor");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a loopback address"), "{err}");
    }
}
