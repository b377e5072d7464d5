//! The webhook sink: every record, in order, POSTed to a collector (a SIEM) in batches.
//!
//! **Never on the request path.** The writer thread hands each finished line to
//! [`Webhook::push`] (a short lock and a `VecDeque` push); a thread of its own delivers.
//!
//! **One ordered spool, in two places.** Records not yet delivered are numbered in the order
//! the chain gave them. The oldest sit in the dead-letter file, the newest in memory, and every
//! record in the file is older than every record in memory (the file's end is always where
//! memory begins). Delivery always takes the oldest undelivered records, from the file while it
//! holds any, then from memory; a batch is removed only after the receiver answered 2xx. So a
//! record is delivered once (a receiver that answers an error gets the same batch again; one
//! that stores a batch and then fails to answer gets it twice, and can drop the repeat by the
//! records' `seq`), and in order.
//!
//! **Nothing dropped silently.** When memory is full (`queue` records), or a batch has failed
//! `retries` times (the receiver is down), everything in memory moves to the end of the
//! dead-letter file; delivery goes on from the file, with exponential backoff and jitter, and
//! the file is emptied once the receiver has taken all of it. The file survives restarts: a
//! gateway started with records in it sends them first. A record is lost only if the
//! dead-letter file cannot be written (a full disk); it is counted as `dropped` and logged.
//! On shutdown whatever is still in memory is written to the file.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use switchboard_config::WebhookConfig;
use tokio::sync::Notify;

use crate::AuditError;

/// The first pause after a failed POST; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest shutdown waits for the deliverer to finish what it is sending.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The webhook's counters (`/metrics`: `switchboard_audit_webhook_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Records waiting, in memory and in the dead-letter file.
    pub queued: u64,
    /// Records the receiver took.
    pub sent: u64,
    /// POSTs that failed and will be tried again.
    pub retried: u64,
    /// Records moved to the dead-letter file.
    pub dead_lettered: u64,
    /// Records lost because the dead-letter file could not be written.
    pub dropped: u64,
}

/// The writer's handle on the webhook sink.
pub(crate) struct Webhook {
    shared: Arc<Shared>,
    deliverer: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    spool: Mutex<Spool>,
    /// Wakes the deliverer: a record came, or shutdown began.
    wake: Notify,
    closing: AtomicBool,
    /// Wakes every wait that only shutdown ends (a retry's backoff).
    closed: Notify,
    sent: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    dropped: AtomicU64,
    queue: usize,
}

/// The undelivered records: `[file.first, file.end)` in the dead-letter file, then
/// `[file.end, file.end + memory.len())` in memory.
struct Spool {
    memory: VecDeque<Vec<u8>>,
    file: DeadLetter,
}

struct DeadLetter {
    path: PathBuf,
    /// Appends (`None` until the first spill, or after a failure to open).
    out: Option<File>,
    /// Undelivered lines in the file.
    pending: u64,
    /// Byte offset of the first undelivered line.
    read_at: u64,
}

impl Webhook {
    /// Opens the dead-letter file (sending what an earlier run left in it first) and starts
    /// the deliverer thread.
    pub(crate) fn start(cfg: &WebhookConfig) -> Result<Webhook, AuditError> {
        let file = DeadLetter::open(&cfg.dead_letter).map_err(|e| AuditError::Io {
            path: cfg.dead_letter.clone(),
            source: e,
        })?;
        if file.pending > 0 {
            tracing::info!(
                records = file.pending,
                path = %cfg.dead_letter.display(),
                "audit webhook: re-sending records left in the dead-letter file"
            );
        }
        let shared = Arc::new(Shared {
            spool: Mutex::new(Spool {
                memory: VecDeque::new(),
                file,
            }),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            closed: Notify::new(),
            sent: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            queue: cfg.queue.max(1),
        });
        let client = client(cfg)?;
        let deliverer = Deliverer {
            shared: shared.clone(),
            client,
            url: cfg.url.clone(),
            token: cfg.token.clone(),
            batch: cfg.batch.max(1),
            flush: cfg.flush,
            retries: cfg.retries.max(1),
        };
        let handle = std::thread::Builder::new()
            .name("switchboard-audit-webhook".into())
            .spawn(move || deliverer.run())
            .map_err(AuditError::Start)?;
        Ok(Webhook {
            shared,
            deliverer: Some(handle),
        })
    }

    /// Takes one record's line (with its newline). Never waits for the network.
    pub(crate) fn push(&self, line: &[u8]) {
        let mut spool = self.shared.lock();
        if spool.memory.len() >= self.shared.queue {
            self.shared.spill(&mut spool, "its memory queue is full");
        }
        spool.memory.push_back(line.to_vec());
        drop(spool);
        self.shared.wake.notify_one();
    }

    /// Sends what it can within a short grace, then writes the rest to the dead-letter file.
    pub(crate) fn close(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        self.shared.closed.notify_waiters();
        if let Some(handle) = self.deliverer.take() {
            let deadline = std::time::Instant::now() + CLOSE_GRACE;
            while !handle.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let mut spool = self.shared.lock();
        if !spool.memory.is_empty() {
            self.shared.spill(&mut spool, "the gateway is stopping");
        }
    }
}

/// A handle the gateway keeps for `/metrics`.
#[derive(Clone)]
pub struct WebhookCounters(Arc<Shared>);

impl WebhookCounters {
    pub fn stats(&self) -> WebhookStats {
        self.0.stats()
    }
}

impl Webhook {
    pub(crate) fn counters(&self) -> WebhookCounters {
        WebhookCounters(self.shared.clone())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> WebhookStats {
        let queued = {
            let s = self.lock();
            s.memory.len() as u64 + s.file.pending
        };
        WebhookStats {
            queued,
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Moves everything in memory to the end of the dead-letter file (keeping the order: the
    /// file's records are all older).
    fn spill(&self, spool: &mut Spool, why: &str) {
        let n = spool.memory.len() as u64;
        if n == 0 {
            return;
        }
        let mut bytes = Vec::with_capacity(spool.memory.iter().map(Vec::len).sum());
        for line in spool.memory.drain(..) {
            bytes.extend_from_slice(&line);
        }
        match spool.file.append(&bytes, n) {
            Ok(()) => {
                self.dead_lettered.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(
                    records = n,
                    path = %spool.file.path.display(),
                    "audit webhook: {why}; records moved to the dead-letter file, to be re-sent in order"
                );
            }
            Err(e) => {
                self.dropped.fetch_add(n, Ordering::Relaxed);
                tracing::error!(
                    records = n,
                    path = %spool.file.path.display(),
                    error = %e,
                    "audit webhook: cannot write the dead-letter file; records lost to the webhook (the audit file still has them)"
                );
            }
        }
    }
}

impl DeadLetter {
    /// Opens (or creates) the file and counts its complete lines; a torn last line (a crash
    /// mid-append) is cut off.
    fn open(path: &Path) -> io::Result<DeadLetter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!(
                bytes = text.len() - complete,
                path = %path.display(),
                "audit webhook: the dead-letter file ends in a torn line; cut it off"
            );
            file.set_len(complete as u64)?;
        }
        let pending = text[..complete].iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(DeadLetter {
            path: path.to_owned(),
            out: Some(file),
            pending,
            read_at: 0,
        })
    }

    fn append(&mut self, bytes: &[u8], lines: u64) -> io::Result<()> {
        let mut out = match self.out.take() {
            Some(f) => f,
            None => OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)?,
        };
        let before = out.metadata()?.len();
        match out.write_all(bytes).and_then(|()| out.sync_data()) {
            Ok(()) => {
                self.out = Some(out);
                self.pending += lines;
                Ok(())
            }
            Err(e) => {
                // Whatever part was written is cut off again: the file holds whole lines only.
                let _ = out.set_len(before);
                Err(e)
            }
        }
    }

    /// Reads up to `max` undelivered lines: (the bytes, how many lines).
    fn read(&self, max: usize) -> io::Result<(Vec<u8>, u64)> {
        let mut r = BufReader::new(File::open(&self.path)?);
        r.seek(SeekFrom::Start(self.read_at))?;
        let mut body = Vec::new();
        let mut n = 0;
        while n < max as u64 && n < self.pending {
            let before = body.len();
            if r.read_until(b'\n', &mut body)? == 0 || body.last() != Some(&b'\n') {
                body.truncate(before);
                break;
            }
            n += 1;
        }
        Ok((body, n))
    }

    /// `lines` lines (`bytes` long) at the front were delivered; an emptied file is truncated.
    fn delivered(&mut self, lines: u64, bytes: u64) {
        self.pending -= lines;
        self.read_at += bytes;
        if self.pending == 0 {
            self.read_at = 0;
            let truncated = self
                .out
                .as_ref()
                .map(|f| f.set_len(0))
                .unwrap_or_else(|| OpenOptions::new().write(true).open(&self.path)?.set_len(0));
            if let Err(e) = truncated {
                tracing::error!(error = %e, path = %self.path.display(), "audit webhook: cannot empty the dead-letter file");
            }
        }
    }
}

fn client(cfg: &WebhookConfig) -> Result<reqwest::Client, AuditError> {
    switchboard_upstream::http::ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(cfg.timeout)
        // A collector that redirects is misconfigured; records are not sent elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AuditError::Webhook(e.to_string()))
}

/// Where a batch came from.
#[derive(Clone, Copy)]
enum Source {
    File { bytes: u64 },
    Memory,
}

struct Deliverer {
    shared: Arc<Shared>,
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    batch: usize,
    flush: Duration,
    retries: u32,
}

impl Deliverer {
    fn run(self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "audit webhook: cannot start its runtime; records stay in the dead-letter file");
                return;
            }
        };
        runtime.block_on(self.serve());
    }

    async fn serve(&self) {
        let mut failures: u32 = 0;
        loop {
            let closing = self.shared.closing.load(Ordering::Acquire);
            let Some((body, n, from)) = self.take(closing).await else {
                if closing {
                    return;
                }
                continue;
            };
            match self.post(body).await {
                Ok(()) => {
                    failures = 0;
                    self.acknowledge(n, from);
                }
                Err(why) => {
                    failures += 1;
                    self.shared.retried.fetch_add(1, Ordering::Relaxed);
                    if closing {
                        // The writer moves what is in memory to the file once this returns.
                        return;
                    }
                    if failures >= self.retries {
                        let mut spool = self.shared.lock();
                        let why = format!("delivery failed {failures} times ({why})");
                        self.shared.spill(&mut spool, &why);
                    } else {
                        tracing::warn!(attempt = failures, error = %why, "audit webhook: delivery failed; retrying");
                    }
                    let pause = backoff(failures);
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = self.closed() => {}
                    }
                }
            }
        }
    }

    /// The oldest undelivered records, once there is a batch to send: a full one, one that
    /// waited `flush`, or anything at all while closing or while the file holds records.
    async fn take(&self, closing: bool) -> Option<(Vec<u8>, u64, Source)> {
        let mut waited = false;
        loop {
            let closing = closing || self.shared.closing.load(Ordering::Acquire);
            {
                let spool = self.shared.lock();
                if spool.file.pending > 0 {
                    return match spool.file.read(self.batch) {
                        Ok((body, n)) if n > 0 => {
                            let bytes = body.len() as u64;
                            Some((body, n, Source::File { bytes }))
                        }
                        Ok(_) => None,
                        Err(e) => {
                            tracing::error!(error = %e, "audit webhook: cannot read the dead-letter file");
                            None
                        }
                    };
                }
                let ready = spool.memory.len() >= self.batch || closing || waited;
                if ready && !spool.memory.is_empty() {
                    let n = spool.memory.len().min(self.batch);
                    let mut body =
                        Vec::with_capacity(spool.memory.iter().take(n).map(Vec::len).sum());
                    for line in spool.memory.iter().take(n) {
                        body.extend_from_slice(line);
                    }
                    return Some((body, n as u64, Source::Memory));
                }
                if closing {
                    return None;
                }
            }
            // Created before the state is looked at again, so no wake-up is lost.
            let notified = self.shared.wake.notified();
            if self.shared.closing.load(Ordering::Acquire) {
                return None;
            }
            let partial = !self.shared.lock().memory.is_empty();
            tokio::select! {
                () = notified => {}
                // A partial batch gets `flush` to fill.
                () = tokio::time::sleep(self.flush), if partial => waited = true,
            }
            if self.shared.closing.load(Ordering::Acquire) {
                return self.take_now().await;
            }
        }
    }

    /// What there is, at once (shutdown).
    async fn take_now(&self) -> Option<(Vec<u8>, u64, Source)> {
        Box::pin(self.take(true)).await
    }

    async fn closed(&self) {
        // A `Notified` hears `notify_waiters` from its creation on, so creating it before the
        // flag is read loses no wake-up.
        let closed = self.shared.closed.notified();
        if !self.shared.closing.load(Ordering::Acquire) {
            closed.await;
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/x-ndjson")
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
            // The URL is configuration, not a secret; the token is never part of the error.
            Err(e) => Err(error_chain(&e)),
        }
    }

    /// The `n` oldest records were delivered: they leave the spool, wherever they are now (a
    /// batch taken from memory may have moved to the file meanwhile; it is then the file's
    /// first `n` lines, as every line in the file is older than any in memory).
    fn acknowledge(&self, n: u64, from: Source) {
        self.shared.sent.fetch_add(n, Ordering::Relaxed);
        let mut spool = self.shared.lock();
        match from {
            Source::File { bytes } => spool.file.delivered(n, bytes),
            Source::Memory if spool.memory.len() as u64 >= n && spool.file.pending == 0 => {
                spool.memory.drain(..n as usize);
            }
            Source::Memory => {
                // Spilled while in flight: the batch is now at the front of the file.
                let bytes = match spool.file.read(n as usize) {
                    Ok((body, _)) => body.len() as u64,
                    Err(_) => 0,
                };
                spool.file.delivered(n, bytes);
            }
        }
    }
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// Exponential backoff with full jitter: a random pause up to 200 ms × 2^(failures−1), capped.
fn backoff(failures: u32) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let ms = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::random_range(ms / 2..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(200));
        assert!(backoff(3) <= Duration::from_millis(800));
        assert!(backoff(3) >= Duration::from_millis(400));
        for f in 10..40 {
            assert!(backoff(f) <= MAX_BACKOFF);
        }
    }

    #[test]
    fn the_dead_letter_file_keeps_whole_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl.jsonl");
        std::fs::write(&path, b"{\"seq\":1}\n{\"seq\":2}\n{\"se").unwrap();
        let mut dl = DeadLetter::open(&path).unwrap();
        assert_eq!(dl.pending, 2, "the torn line is not counted");
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"seq\":1}\n{\"seq\":2}\n");
        dl.append(b"{\"seq\":3}\n", 1).unwrap();
        let (body, n) = dl.read(2).unwrap();
        assert_eq!(
            (body.as_slice(), n),
            (&b"{\"seq\":1}\n{\"seq\":2}\n"[..], 2)
        );
        dl.delivered(n, body.len() as u64);
        let (body, n) = dl.read(10).unwrap();
        assert_eq!((body.as_slice(), n), (&b"{\"seq\":3}\n"[..], 1));
        dl.delivered(n, body.len() as u64);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "emptied once delivered"
        );
        assert_eq!(DeadLetter::open(&path).unwrap().pending, 0);
    }
}
