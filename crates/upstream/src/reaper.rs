//! A watchdog process that ends upstream process groups when the gateway dies without cleaning up.
//!
//! `kill -9` gives the gateway no chance to stop its stdio children, and children in their own
//! process groups would otherwise live on. The reaper is a second, tiny process (the gateway binary
//! re-executed in reaper mode) in a process group of its own, so a terminal's Ctrl-C or a signal to
//! the gateway's group does not reach it. The gateway tells it over a pipe which groups exist
//! (`+PGID` / `-PGID` lines). When the pipe reaches end-of-file — which the kernel guarantees the
//! moment the gateway dies, however it dies — the reaper sends SIGTERM to every group still
//! registered, waits briefly, sends SIGKILL, and exits.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lock;

/// The gateway's handle on its reaper. Cheap to clone.
#[derive(Clone)]
pub struct Reaper {
    pipe: Arc<Mutex<std::process::ChildStdin>>,
}

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reaper")
    }
}

impl Reaper {
    /// Starts `exe args…` as the reaper. The child must call [`run`] (reading stdin).
    pub fn spawn(exe: &Path, args: &[&str]) -> std::io::Result<Reaper> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("reaper stdin not piped"))?;
        // The reaper outlives us by design; nobody waits for it.
        std::mem::forget(child);
        Ok(Reaper {
            pipe: Arc::new(Mutex::new(pipe)),
        })
    }

    pub fn register(&self, pgid: i32) {
        self.send(&format!("+{pgid}\n"));
    }

    pub fn unregister(&self, pgid: i32) {
        self.send(&format!("-{pgid}\n"));
    }

    fn send(&self, line: &str) {
        let mut pipe = lock(&self.pipe);
        if let Err(e) = pipe.write_all(line.as_bytes()).and_then(|()| pipe.flush()) {
            tracing::warn!("reaper pipe write failed: {e}");
        }
    }
}

/// The reaper's main loop: track groups from stdin, and on end-of-file end them all.
pub fn run() -> ! {
    // SAFETY: ignoring signals with SIG_IGN touches no memory; the reaper must survive the signals
    // aimed at the gateway (Ctrl-C, SIGTERM to its group, SIGHUP on terminal close).
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let mut groups = BTreeSet::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let (op, pg) = line.split_at(line.len().min(1));
        match (op, pg.trim().parse::<i32>()) {
            ("+", Ok(pg)) if pg > 1 => {
                groups.insert(pg);
            }
            ("-", Ok(pg)) => {
                groups.remove(&pg);
            }
            _ => {}
        }
    }
    for &pg in &groups {
        // SAFETY: kill(2) on process groups the gateway registered.
        unsafe { libc::kill(-pg, libc::SIGTERM) };
    }
    if !groups.is_empty() {
        std::thread::sleep(Duration::from_millis(1000));
    }
    for &pg in &groups {
        // SAFETY: as above.
        unsafe { libc::kill(-pg, libc::SIGKILL) };
    }
    std::process::exit(0)
}
