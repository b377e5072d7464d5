//! One stdio MCP server shared by C concurrent clients, multiplexed by request id.
//!
//! A writer task owns the child's stdin and writes whatever requests are queued in one go; a
//! reader task owns its stdout, matches each response to the pending request with its id and
//! answers requests the server sends us with "method not found" (we declare no capabilities).
//! When the child's output ends every pending call fails at once.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};

use crate::jsonrpc::{self, Envelope};

/// Longest line read from the server.
const MAX_LINE: usize = 256 << 20;
/// How long the child gets to exit after its stdin closes.
const EXIT_GRACE: Duration = Duration::from_secs(5);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Bytes>>>>;

/// What the writer task is asked to do.
enum Write {
    Line(Vec<u8>),
    Close,
}

/// A spawned stdio server and its pipes.
pub struct StdioMux {
    tx: mpsc::UnboundedSender<Write>,
    pending: Pending,
    closed: Arc<AtomicBool>,
    next_id: AtomicU64,
    child: tokio::sync::Mutex<Child>,
    pid: u32,
    timeout: Duration,
}

impl StdioMux {
    /// Spawns `command` and initializes an MCP session with it (2026-07-28: no session, the
    /// first request decides the era).
    pub async fn spawn(
        command: &[String],
        timeout: Duration,
        modern: bool,
    ) -> Result<Arc<StdioMux>, String> {
        let (program, args) = command.split_first().ok_or("no command")?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn {program}: {e}"))?;
        let pid = child.id().ok_or("child exited at once")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        tokio::spawn(write_loop(stdin, rx));
        tokio::spawn(read_loop(
            stdout,
            pending.clone(),
            closed.clone(),
            tx.clone(),
        ));
        let mux = Arc::new(StdioMux {
            tx,
            pending,
            closed,
            next_id: AtomicU64::new(0),
            child: tokio::sync::Mutex::new(child),
            pid,
            timeout,
        });
        if !modern {
            let (id, resp) = mux
                .exchange("initialize", Some(&jsonrpc::initialize_params()))
                .await
                .map_err(|e| format!("initialize: {e}"))?;
            crate::load::call::response_result(&resp, id)
                .map_err(|e| format!("initialize: {e}"))?;
            let mut note = jsonrpc::notification("notifications/initialized");
            note.push(b'\n');
            mux.tx
                .send(Write::Line(note))
                .map_err(|_| "server's stdin closed")?;
        }
        let list_params = modern.then(|| format!("{{\"_meta\":{}}}", jsonrpc::modern_meta()));
        // As a real client would, learn the tools first; a gateway answers lists only once its
        // upstreams have had their first connection attempt, so this also waits for those.
        let (id, resp) = mux
            .exchange("tools/list", list_params.as_deref())
            .await
            .map_err(|e| format!("tools/list: {e}"))?;
        crate::load::call::response_result(&resp, id).map_err(|e| format!("tools/list: {e}"))?;
        Ok(mux)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// One request; returns the id used and the response message.
    pub async fn exchange(
        &self,
        method: &str,
        params: Option<&str>,
    ) -> Result<(u64, Bytes), String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = jsonrpc::request(id, method, params);
        line.push(b'\n');
        let (otx, orx) = oneshot::channel();
        lock(&self.pending).insert(id, otx);
        if self.closed.load(Ordering::Acquire) {
            lock(&self.pending).remove(&id);
            return Err("the server closed its output".into());
        }
        if self.tx.send(Write::Line(line)).is_err() {
            lock(&self.pending).remove(&id);
            return Err("the server's stdin is closed".into());
        }
        match tokio::time::timeout(self.timeout, orx).await {
            Ok(Ok(resp)) => Ok((id, resp)),
            Ok(Err(_)) => Err("the server closed its output".into()),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(format!("no answer within {:?}", self.timeout))
            }
        }
    }

    /// Closes the child's stdin and waits for it to exit (killing it after a grace period).
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Write::Close);
        let mut child = self.child.lock().await;
        if tokio::time::timeout(EXIT_GRACE, child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn write_loop(mut stdin: ChildStdin, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut buf = Vec::with_capacity(1 << 16);
    while let Some(w) = rx.recv().await {
        let mut close = false;
        match w {
            Write::Line(l) => buf.extend_from_slice(&l),
            Write::Close => close = true,
        }
        // Everything already queued goes out in the same write.
        while !close {
            match rx.try_recv() {
                Ok(Write::Line(l)) => buf.extend_from_slice(&l),
                Ok(Write::Close) => close = true,
                Err(_) => break,
            }
        }
        if !buf.is_empty() && stdin.write_all(&buf).await.is_err() {
            return;
        }
        buf.clear();
        if close {
            let _ = stdin.shutdown().await;
            return;
        }
    }
}

async fn read_loop(
    stdout: ChildStdout,
    pending: Pending,
    closed: Arc<AtomicBool>,
    tx: mpsc::UnboundedSender<Write>,
) {
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) if line.len() > MAX_LINE => break,
            Ok(_) => {}
        }
        let Ok(msg) = Envelope::parse(&line) else {
            continue;
        };
        if msg.method.is_some() {
            if let Some(id) = msg.id {
                let mut reply =
                    jsonrpc::error(id.get(), -32601, "the load generator handles no requests");
                reply.push(b'\n');
                let _ = tx.send(Write::Line(reply));
            }
            continue;
        }
        let Some(id) = msg.id_u64() else { continue };
        let waiter = lock(&pending).remove(&id);
        if let Some(w) = waiter {
            let resp = std::mem::replace(&mut line, Vec::with_capacity(4096));
            let _ = w.send(Bytes::from(resp));
        }
    }
    closed.store(true, Ordering::Release);
    // Dropping the senders fails every call still waiting.
    lock(&pending).clear();
}
