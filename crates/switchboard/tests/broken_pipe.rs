//! A reader that goes away (`switchboard probe URL | head`) ends the run quietly: no panic, no
//! error text, exit status 0 (what ripgrep and the classic Unix tools do).

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Runs the binary with `args`, its stdout a pipe whose read end is closed before it prints
/// anything; its exit status and stderr.
fn run_into_closed_pipe(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(gateway_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    drop(child.stdout.take());
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("switchboard {args:?} did not exit after its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().expect("stderr reader"))
}

fn assert_quiet(status: std::process::ExitStatus, err: &str) {
    assert!(!err.contains("panicked"), "stderr:\n{err}");
    assert!(
        !err.contains("Broken pipe"),
        "no error text; stderr:\n{err}"
    );
    assert_ne!(
        status.code(),
        Some(101),
        "a panic's exit status; stderr:\n{err}"
    );
    assert_eq!(status.code(), Some(0), "stderr:\n{err}");
}

#[test]
fn probe_into_a_closed_pipe_exits_quietly() {
    let fixture = fixture_bin().display().to_string();
    let (status, err) = run_into_closed_pipe(&["probe", "--", &fixture]);
    assert_quiet(status, &err);
}

#[test]
fn check_into_a_closed_pipe_exits_quietly() {
    let c = Config::new().upstream(Upstream::fixture("fx"));
    let path = c.write().display().to_string();
    let (status, err) = run_into_closed_pipe(&["check", "--config", &path]);
    assert_quiet(status, &err);
}
