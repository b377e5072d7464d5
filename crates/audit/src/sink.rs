//! Where records go: every configured sink gets every line, in order.
//!
//! The file sink (`file.rs`) is the default and the only one with history (it is where a
//! restarted writer picks the chain up). The stdout sink writes the same lines to the
//! process's standard output, for a collector reading it (a container runtime's log driver);
//! `switchboard stdio` refuses it, since its stdout carries MCP. The webhook sink
//! (`webhook.rs`) takes each line as it is made and delivers on a thread of its own.

use std::io::{self, Write};
use std::time::Instant;

use crate::file::FileSink;
use crate::webhook::Webhook;

/// The configured sinks.
pub(crate) struct Sinks {
    pub file: Option<FileSink>,
    pub stdout: bool,
    pub webhook: Option<Webhook>,
    /// Lines for stdout not yet written.
    out: Vec<u8>,
}

impl Sinks {
    pub(crate) fn new(file: Option<FileSink>, stdout: bool, webhook: Option<Webhook>) -> Sinks {
        Sinks {
            file,
            stdout,
            webhook,
            out: Vec::new(),
        }
    }

    /// Takes one record's line.
    pub(crate) fn push(&mut self, line: &[u8]) -> io::Result<()> {
        if self.stdout {
            self.out.extend_from_slice(line);
        }
        if let Some(w) = &self.webhook {
            w.push(line);
        }
        match &mut self.file {
            Some(f) => f.push(line),
            None => Ok(()),
        }
    }

    /// Writes what every sink holds. On an error what was not written is kept for the next try.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&self.out)?;
            stdout.flush()?;
            self.out.clear();
        }
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }

    pub(crate) fn sync_deadline(&self) -> Option<Instant> {
        self.file.as_ref().and_then(FileSink::sync_deadline)
    }

    pub(crate) fn sync_if_due(&mut self, now: Instant, force: bool) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.sync_if_due(now, force),
            None => Ok(()),
        }
    }

    /// Stops the webhook's deliverer, keeping what it did not send in its dead-letter file.
    pub(crate) fn close(&mut self) {
        if let Some(w) = &mut self.webhook {
            w.close();
        }
    }
}
