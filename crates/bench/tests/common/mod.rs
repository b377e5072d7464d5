//! What the benchmark crate's integration tests share: its binaries, servers started from them,
//! and runs of the load generator.

#![allow(dead_code)] // Each test file uses part of this.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const ECHO: &str = env!("CARGO_BIN_EXE_switchboard-echo");
pub const FLOOR: &str = env!("CARGO_BIN_EXE_switchboard-floor");
pub const LOAD: &str = env!("CARGO_BIN_EXE_switchboard-load");

/// A server that printed the URL it listens on, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Starts `program` with `args` (and a bounded lifetime) and waits for its URL line.
    pub fn start(program: &str, args: &[&str]) -> Server {
        let mut child = Command::new(program)
            .args(args)
            .args(["--lifetime", "120"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("server URL");
        assert!(line.starts_with("http://127.0.0.1:"), "{program}: {line:?}");
        Server {
            child,
            url: line.trim().to_owned(),
        }
    }

    /// An HTTP echo server on any free port, with `extra` flags.
    pub fn echo(extra: &[&str]) -> Server {
        let args: Vec<&str> = ["--http", "127.0.0.1:0"]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        Server::start(ECHO, &args)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the load generator: whether it succeeded, and its report (`null` if it printed none).
pub fn load(args: &[&str]) -> (bool, Value) {
    let out = Command::new(LOAD).args(args).output().expect("run load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.success(), report)
}

/// Runs the load generator, which must succeed, and returns its report.
pub fn load_ok(args: &[&str]) -> Value {
    let (ok, r) = load(args);
    assert!(ok, "switchboard-load failed: {r}");
    r
}
