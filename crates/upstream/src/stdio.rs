//! Upstreams that are local child processes speaking newline-delimited JSON-RPC on stdio.
//!
//! Each child runs in a process group of its own, so that shutting it down also ends whatever it
//! spawned (`npx` starts `node`, `uvx` starts `python`). Shutdown is polite first: close stdin, wait,
//! SIGTERM the group, wait, SIGKILL the group. The group is registered with the [`Reaper`], a
//! separate process that kills it if the gateway itself is killed without a chance to clean up.
//!
//! stdout must carry only MCP messages: a line that is not JSON-RPC is logged and skipped, and a line
//! longer than `max_message_bytes` kills the child (a server that floods stdout is broken, and
//! buffering it without bound would let one upstream exhaust the gateway's memory). stderr is free
//! text and goes to the gateway's log tagged with the upstream's name.
//!
//! [`Reaper`]: crate::reaper::Reaper

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::Message;
use switchboard_protocol::message::{LINE_BATCH_BYTES, batch_lines, line_end};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::UpstreamError;
use crate::reaper::Reaper;
use crate::transport::{Link, Outbound, SendError, Transport};
use switchboard_protocol::lock;

/// How to start a stdio upstream.
#[derive(Debug, Clone)]
pub struct StdioSpec {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Start with `env` only, inheriting nothing from the gateway's environment.
    pub env_clear: bool,
    /// Checked right before every spawn: the process is not started unless this file hashes to
    /// the expected SHA-256 (a file swapped since it was vetted is refused, and the upstream
    /// fails with the reason).
    pub integrity: Option<Integrity>,
}

/// A file and the SHA-256 it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integrity {
    pub path: PathBuf,
    pub sha256: [u8; 32],
}

impl Integrity {
    /// `Err` with the reason unless the file is a regular file (not a link) with the expected
    /// hash. Reads the file in 64 KiB pieces.
    pub fn check(&self) -> Result<(), String> {
        use std::io::Read;
        let path = self.path.display();
        let meta = std::fs::symlink_metadata(&self.path)
            .map_err(|e| format!("integrity check: cannot read {path}: {e}"))?;
        if !meta.file_type().is_file() {
            return Err(format!(
                "integrity check: {path} is not a regular file; refusing to start"
            ));
        }
        let mut file = std::fs::File::open(&self.path)
            .map_err(|e| format!("integrity check: cannot read {path}: {e}"))?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| format!("integrity check: cannot read {path}: {e}"))?;
            if n == 0 {
                break;
            }
            ctx.update(&buf[..n]);
        }
        if ctx.finish().as_ref() == self.sha256 {
            Ok(())
        } else {
            Err(format!(
                "integrity check failed: {path} changed since it was verified (its SHA-256 no longer matches); refusing to start it"
            ))
        }
    }
}

/// How long each polite shutdown step waits before the next, firmer one.
const GRACE: Duration = Duration::from_millis(1500);

/// A child upstream: the pipe to its stdin, and the process to stop when the connection closes.
pub(crate) struct StdioTransport {
    stdin: mpsc::Sender<Bytes>,
    /// Taken by the one `close`; dropped with the transport otherwise, which kills the group.
    child: Mutex<Option<Box<Child>>>,
}

impl Transport for StdioTransport {
    async fn send_request(&self, _id: u64, body: Bytes, _: Outbound<'_>) -> Result<(), SendError> {
        self.send(body).await
    }

    async fn send(&self, body: Bytes) -> Result<(), SendError> {
        self.stdin.send(body).await.map_err(|_| SendError::Closed)
    }

    fn shared_pipe(&self) -> bool {
        true
    }

    async fn close(&self) {
        let child = lock(&self.child).take();
        if let Some(child) = child {
            (*child).shutdown().await;
        }
    }
}

/// A running child process and its process group.
pub(crate) struct Child {
    child: tokio::process::Child,
    pgid: Option<i32>,
    /// Ends the writer task, closing the child's stdin (the wire's senders may outlive us).
    close_stdin: CancellationToken,
    reaper: Option<Reaper>,
    name: Arc<str>,
}

pub(crate) fn start(spec: &StdioSpec, link: Link) -> Result<StdioTransport, UpstreamError> {
    let name = link.name.clone();
    if let Some(integrity) = &spec.integrity {
        integrity.check().map_err(UpstreamError::Unavailable)?;
    }
    let mut cmd = Command::new(&spec.command);
    if spec.env_clear {
        cmd.env_clear();
    }
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    // Credentials meant for HTTP upstreams are not every child's business.
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_UPSTREAM_TOKEN_") && !spec.env.iter().any(|(e, _)| *e == k) {
            cmd.env_remove(&k);
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| UpstreamError::Unavailable(format!("cannot start `{}`: {e}", spec.command)))?;
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    let reaper = link.reaper.clone();
    if let (Some(r), Some(pg)) = (&reaper, pgid) {
        r.register(pg);
    }
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(UpstreamError::Unavailable(
            "child stdio was not piped".into(),
        ));
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let close_stdin = CancellationToken::new();
    tokio::spawn(write_loop(stdin, rx, close_stdin.clone(), name.clone()));
    let max = link.max_message_bytes;
    tokio::spawn(read_loop(stdout, link, max, pgid));
    let stderr_name = name.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(target: "upstream", upstream = %stderr_name, "stderr: {line}");
        }
    });
    let guard = Child {
        child,
        pgid,
        close_stdin,
        reaper,
        name,
    };
    Ok(StdioTransport {
        stdin: tx,
        child: Mutex::new(Some(Box::new(guard))),
    })
}

async fn write_loop(
    mut stdin: ChildStdin,
    mut rx: mpsc::Receiver<Bytes>,
    stop: CancellationToken,
    name: Arc<str>,
) {
    let mut batch = Vec::new();
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
            _ = stop.cancelled() => break,
        };
        // Whatever else is queued goes out in the same write: the pipe is unbuffered, and under
        // load many calls wait here at once, so one syscall carries a burst of them.
        batch_lines(&mut batch, &first, || rx.try_recv().ok());
        if let Err(e) = stdin.write_all(&batch).await {
            tracing::debug!(upstream = %name, "stdin write failed: {e}");
            return;
        }
        if batch.capacity() > 4 * LINE_BATCH_BYTES {
            // One huge message should not pin its buffer for the child's lifetime.
            batch = Vec::new();
        }
    }
    // Dropping stdin closes it: end of input asks the child to exit.
}

async fn read_loop(stdout: ChildStdout, link: Link, max: usize, pgid: Option<i32>) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::with_capacity(8 * 1024);
    let reason = loop {
        line.clear();
        match read_line_limited(&mut reader, &mut line, max).await {
            Ok(true) => {}
            Ok(false) => break "process closed its stdout (exited)".to_owned(),
            Err(LineError::TooLong) => {
                if let Some(pg) = pgid {
                    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
                    unsafe { libc::kill(-pg, libc::SIGKILL) };
                }
                break format!("sent a message over max_message_bytes ({max}); killed");
            }
            Err(LineError::Io(e)) => break format!("stdout read failed: {e}"),
        }
        let Some(sink) = link.sink() else { return };
        let text = trim_line(&line);
        if text.is_empty() {
            continue;
        }
        // Copied out, so the buffer keeps the capacity it grew to for the next line. (Handing a
        // large line on in its own buffer instead saved the copy but made the next large line
        // grow a fresh buffer again: no difference measured on 1 MiB results.)
        match Message::parse_slice(text) {
            Ok(msg) => sink.deliver(msg, None),
            Err(e) => {
                let shown = String::from_utf8_lossy(&text[..text.len().min(200)]);
                tracing::warn!(upstream = %link.name, "skipped a stdout line that is not JSON-RPC ({e}): {shown}");
            }
        }
    };
    if let Some(sink) = link.sink() {
        sink.transport_closed(reason);
    }
}

/// The line without surrounding blanks and its line ending.
fn trim_line(line: &[u8]) -> &[u8] {
    let mut s = line;
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = s {
        s = rest;
    }
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

enum LineError {
    TooLong,
    Io(std::io::Error),
}

/// Reads one `\n`-terminated line into `buf`, refusing to hold more than `max` bytes.
/// Ok(false) at end of stream with nothing read.
async fn read_line_limited<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<bool, LineError> {
    loop {
        let chunk = r.fill_buf().await.map_err(LineError::Io)?;
        if chunk.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (take, done) = match line_end(chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if buf.len() + take > max.saturating_add(2) {
            return Err(LineError::TooLong);
        }
        buf.extend_from_slice(&chunk[..take]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

impl Child {
    /// Close stdin, then SIGTERM the group, then SIGKILL it, waiting a grace period between steps.
    async fn shutdown(mut self) {
        self.close_stdin.cancel();
        let exited = tokio::time::timeout(GRACE, self.child.wait()).await.is_ok();
        if !exited {
            self.signal(libc::SIGTERM);
            if tokio::time::timeout(GRACE, self.child.wait())
                .await
                .is_err()
            {
                self.signal(libc::SIGKILL);
                let _ = self.child.wait().await;
            }
        }
        // Descendants may outlive the leader; the group goes regardless.
        self.signal(libc::SIGKILL);
        if let (Some(r), Some(pg)) = (&self.reaper, self.pgid) {
            r.unregister(pg);
        }
        self.pgid = None;
        tracing::debug!(upstream = %self.name, "child stopped");
    }

    fn signal(&self, sig: i32) {
        if let Some(pg) = self.pgid {
            // SAFETY: kill(2) on a process group id we created; no memory is involved.
            unsafe { libc::kill(-pg, sig) };
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Not shut down politely (the connection was dropped): end the whole group now.
        if let Some(pg) = self.pgid.take() {
            // SAFETY: as in `signal`.
            unsafe { libc::kill(-pg, libc::SIGKILL) };
            if let Some(r) = &self.reaper {
                r.unregister(pg);
            }
        }
    }
}

/// Used by tests and `check`: whether a process group still has members.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence/permission.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_refuses_a_changed_file_and_a_link() {
        let dir = std::env::temp_dir().join(format!("sb-integrity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("server");
        std::fs::write(&file, b"#!/bin/sh\n").unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, b"#!/bin/sh\n");
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(digest.as_ref());
        let check = Integrity {
            path: file.clone(),
            sha256,
        };
        assert_eq!(check.check(), Ok(()));
        std::fs::write(&file, b"#!/bin/sh\nevil\n").unwrap();
        let e = check.check().unwrap_err();
        assert!(e.contains("integrity check failed"), "{e}");
        // A link to a file with the right bytes is still refused: it is not the vetted file.
        let real = dir.join("real");
        std::fs::write(&real, b"#!/bin/sh\n").unwrap();
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&real, &file).unwrap();
        let e = check.check().unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::remove_file(&file).unwrap();
        let e = check.check().unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn trim_line_drops_surrounding_blanks_and_the_line_ending() {
        fn t(s: &str) -> &[u8] {
            trim_line(s.as_bytes())
        }
        assert_eq!(t("{\"a\":1}\n"), b"{\"a\":1}");
        assert_eq!(t(" \t{\"a\": 1 }\r\n"), b"{\"a\": 1 }");
        assert_eq!(t("{}"), b"{}");
        assert_eq!(t("\r\n"), b"");
        assert_eq!(t("  \t "), b"");
        assert_eq!(t(""), b"");
    }
}
