//! The handle the gateway records through, and the writer thread behind it.
//!
//! **On the request path** a record costs one `try_send` of an [`Event`] into a bounded queue
//! (`audit.queue` entries). Nothing is hashed, serialised or written there.
//!
//! **When the queue is full** `audit.on_full` decides:
//! - `block` (the default) — the request waits for room. The log is the product's evidence of
//!   every decision, so completeness wins over latency: a queue of 8192 fills only when the disk
//!   has stalled, and then the gateway slows to the disk's pace instead of acting unrecorded.
//! - `drop_and_count` — the record is dropped and counted; the writer writes the count as a
//!   `dropped` record as soon as it catches up, so a gap is never silent.
//! - `refuse_calls` — new audited calls are refused (`-32003`-style error from the admission
//!   stage, itself counted, not queued) while the queue is full; records of calls already made
//!   wait for room, as under `block`.
//!
//! **The writer** is a thread of its own (file writes and `fsync` never stall a runtime worker)
//! running a small single-threaded runtime: it takes what is queued (up to a batch, letting records
//! gather for 2 ms after a batch that did not fill, so one wake-up serves many), renders and
//! chains each record, writes the batch to every sink with one write each, syncs by policy,
//! rotates by size, and signs checkpoints. A failed write is retried every second with the same
//! bytes, so the chain never skips; meanwhile the queue fills and `on_full` applies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use switchboard_config::{AuditConfig, OnFull};
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;

use crate::AuditError;
use crate::checkpoint::SigningKey;
use crate::event::{AdminEvent, Event, Verdict};
use crate::file::FileSink;
use crate::record::{
    Chain, Render, render_admin, render_call, render_checkpoint, render_dropped, render_recovered,
};
use crate::sink::Sinks;
use crate::time::micros;
use crate::webhook::{Webhook, WebhookCounters, WebhookStats};

/// Events the writer takes off the queue at once.
const BATCH: usize = 256;
/// Pause before retrying a failed write.
const RETRY: Duration = Duration::from_secs(1);
/// How long the writer lets records gather after a batch that did not fill (group commit).
/// While it waits no waker is registered on the queue, so a request's `try_send` wakes no
/// thread: under load the writer takes hundreds of records per wake-up, and a record waits at
/// most this long before it is written.
const LINGER: Duration = Duration::from_millis(2);

// Events travel inline, not boxed: a box would be one more allocation per audited call, and
// the queue's slots are allocated once per 32 anyway.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Record(Event),
    Admin(AdminEvent),
    /// Write everything, sync, sign a last checkpoint, answer, stop.
    Close(oneshot::Sender<()>),
}

/// The audit log's handle. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    on_full: OnFull,
    /// Records not queued, not yet accounted for by a `dropped` record.
    dropped: Arc<AtomicU64>,
    webhook: Option<WebhookCounters>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("on_full", &self.inner.on_full)
            .finish_non_exhaustive()
    }
}

impl Audit {
    /// Opens the sinks (continuing an existing log's chain) and starts the writer thread.
    /// Errors (an unreadable file, a log that cannot be continued, a bad key) are reported
    /// here, before the gateway takes any request.
    pub fn start(cfg: &AuditConfig) -> Result<Audit, AuditError> {
        let (file, chain, truncated) = match &cfg.file {
            Some(f) => {
                let opened = FileSink::open(f)?;
                (Some(opened.sink), opened.chain, opened.truncated)
            }
            None => (None, None, 0),
        };
        if truncated > 0 {
            tracing::warn!(
                bytes = truncated,
                "audit log ended in a torn write (the gateway was killed mid-record); cut it off and recorded that"
            );
        }
        let checkpoint = match &cfg.checkpoint {
            Some(c) => Some((SigningKey::load(&c.key)?, c.every)),
            None => None,
        };
        let webhook = cfg.webhook.as_ref().map(Webhook::start).transpose()?;
        let webhook_counters = webhook.as_ref().map(Webhook::counters);
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            rx,
            sinks: Sinks::new(file, cfg.stdout, webhook),
            chain: chain.unwrap_or_default(),
            render: Render {
                include_arguments: cfg.include_arguments,
                redact: cfg.redact.clone(),
            },
            dropped: dropped.clone(),
            truncated,
            checkpoint,
            signed_seq: 0,
            line: Vec::with_capacity(1024),
        };
        std::thread::Builder::new()
            .name("switchboard-audit".into())
            .spawn(move || writer.run())
            .map_err(AuditError::Start)?;
        Ok(Audit {
            inner: Arc::new(Inner {
                tx,
                on_full: cfg.on_full,
                dropped,
                webhook: webhook_counters,
            }),
        })
    }

    /// Records `event`: one `try_send`. Waits for room only when the queue is full and the
    /// policy says so (`block`, or an allowed call under `refuse_calls`).
    pub async fn record(&self, event: Event) {
        if let Err(event) = self.offer(event) {
            self.wait_to_send(event).await;
        }
    }

    /// Queues `event` if there is room; otherwise applies `on_full`, handing the event back
    /// when it must wait for room.
    // The event comes back whole (not boxed) for the same reason it travels inline.
    #[allow(clippy::result_large_err)]
    pub fn offer(&self, event: Event) -> Result<(), Event> {
        match self.inner.tx.try_send(Msg::Record(event)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Msg::Record(event))) => {
                match (self.inner.on_full, event.verdict) {
                    (OnFull::Block, _) | (OnFull::RefuseCalls, Verdict::Allow) => Err(event),
                    (OnFull::DropAndCount, _) | (OnFull::RefuseCalls, Verdict::Deny) => {
                        self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                }
            }
            Err(_) => {
                self.writer_gone();
                Ok(())
            }
        }
    }

    async fn wait_to_send(&self, event: Event) {
        if self.inner.tx.send(Msg::Record(event)).await.is_err() {
            self.writer_gone();
        }
    }

    fn writer_gone(&self) {
        // Only after `close`: the writer never stops by itself.
        self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::error!("audit record after the audit log was closed");
    }

    /// Records an operator's change (rare: waits for room, whatever `on_full` says).
    pub async fn admin(&self, event: AdminEvent) {
        if self.inner.tx.send(Msg::Admin(event)).await.is_err() {
            self.writer_gone();
        }
    }

    /// Whether new audited calls are refused now (`on_full: refuse_calls` with a full queue).
    pub fn refuses_calls(&self) -> bool {
        self.inner.on_full == OnFull::RefuseCalls && self.inner.tx.capacity() == 0
    }

    /// The webhook sink's counters, when it is configured.
    pub fn webhook_stats(&self) -> Option<WebhookStats> {
        self.inner.webhook.as_ref().map(WebhookCounters::stats)
    }

    /// Records dropped and not yet written as a `dropped` record.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything queued, a last checkpoint (when configured), syncs, and stops the
    /// writer. Records sent afterwards are counted as dropped and logged as errors.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Msg::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

struct Writer {
    rx: mpsc::Receiver<Msg>,
    sinks: Sinks,
    chain: Chain,
    render: Render,
    dropped: Arc<AtomicU64>,
    /// A torn tail cut off at open, to be recorded first.
    truncated: u64,
    checkpoint: Option<(SigningKey, Duration)>,
    /// `seq` the last checkpoint of this process covered (0 at start, so the first checkpoint
    /// also covers what an earlier process left unsigned).
    signed_seq: u64,
    line: Vec<u8>,
}

impl Writer {
    fn run(mut self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "the audit writer cannot start its runtime; audit records are lost");
                return;
            }
        };
        runtime.block_on(self.serve());
    }

    async fn serve(&mut self) {
        if self.truncated > 0 {
            render_recovered(self.truncated, now(), &mut self.chain, &mut self.line);
            self.push_line();
        }
        let mut next_checkpoint = self
            .checkpoint
            .as_ref()
            .map(|(_, every)| Instant::now() + *every);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            self.write_out().await;
            let sync_at = self.sinks.sync_deadline();
            tokio::select! {
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        // Every handle is gone without a close: write and sync what there is.
                        self.finish().await;
                        return;
                    }
                }
                () = wait(sync_at) => {}
                () = wait(next_checkpoint) => {}
            }
            let taken = batch.len();
            let mut close = None;
            for msg in batch.drain(..) {
                match msg {
                    Msg::Record(event) => {
                        render_call(&event, &self.render, &mut self.chain, &mut self.line);
                        self.push_line();
                    }
                    Msg::Admin(event) => {
                        render_admin(&event, &mut self.chain, &mut self.line);
                        self.push_line();
                    }
                    Msg::Close(done) => close = Some(done),
                }
            }
            // Records the queue had no room for are accounted for once it has drained.
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                render_dropped(dropped, now(), &mut self.chain, &mut self.line);
                self.push_line();
            }
            if let Some(at) = next_checkpoint
                && Instant::now() >= at
            {
                self.sign();
                next_checkpoint = self
                    .checkpoint
                    .as_ref()
                    .map(|(_, every)| Instant::now() + *every);
            }
            if let Some(done) = close {
                self.finish().await;
                let _ = done.send(());
                return;
            }
            if taken < BATCH {
                self.write_out().await;
                tokio::time::sleep(LINGER).await;
            }
        }
    }

    /// The last writes: a checkpoint, everything written, synced.
    async fn finish(&mut self) {
        self.sign();
        self.write_out().await;
        if let Err(e) = self.sinks.sync_if_due(Instant::now(), true) {
            tracing::error!(error = %e, "audit log: final sync failed");
        }
        self.sinks.close();
    }

    /// Appends a checkpoint if any record came since the last one.
    fn sign(&mut self) {
        let Some((key, _)) = &self.checkpoint else {
            return;
        };
        if self.chain.seq == self.signed_seq {
            return;
        }
        let signature = key.sign(self.chain.seq + 1, &self.chain.hash);
        render_checkpoint(key.id(), &signature, now(), &mut self.chain, &mut self.line);
        self.signed_seq = self.chain.seq;
        self.push_line();
    }

    fn push_line(&mut self) {
        // A rotation failure is logged; the record stays pending in the live file.
        if let Err(e) = self.sinks.push(&self.line) {
            tracing::error!(error = %e, "audit log: rotation failed; writing on to the live file");
        }
        self.line.clear();
    }

    /// Writes what is pending until it succeeds, then syncs if due.
    async fn write_out(&mut self) {
        while let Err(e) = self.sinks.flush() {
            tracing::error!(error = %e, "audit log write failed; retrying in 1s (records wait in the queue)");
            tokio::time::sleep(RETRY).await;
        }
        if let Err(e) = self.sinks.sync_if_due(Instant::now(), false) {
            tracing::error!(error = %e, "audit log: fsync failed");
        }
    }
}

async fn wait(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn now() -> i64 {
    micros(SystemTime::now())
}
