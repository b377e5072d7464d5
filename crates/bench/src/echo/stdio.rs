//! The echo server over stdio: newline-delimited JSON-RPC on stdin and stdout.
//!
//! Plain threads, no async runtime: the reader thread answers each line as it comes and writes
//! answers into a buffer flushed whenever no more input is waiting, so a burst of requests costs
//! one write. `slow` answers go to a timer thread that writes them when due, so a sleeping call
//! never holds up the others.

use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Echo, Reply};

/// Longest line read (a larger one is answered with a parse error and skipped).
const MAX_LINE: usize = 64 << 20;

type Out = Arc<Mutex<BufWriter<std::io::Stdout>>>;

/// Serves stdin/stdout until end of input, then lets pending `slow` answers finish.
pub fn serve(echo: &Echo) -> std::io::Result<()> {
    let out: Out = Arc::new(Mutex::new(BufWriter::with_capacity(
        1 << 16,
        std::io::stdout(),
    )));
    let (timer_tx, timer_rx) = mpsc::channel::<Delayed>();
    let timer_out = out.clone();
    let timer = std::thread::Builder::new()
        .name("echo-timer".into())
        .spawn(move || timer_loop(&timer_rx, &timer_out))?;
    let mut input = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    let mut line = Vec::with_capacity(1024);
    let mut pending = Vec::with_capacity(1 << 16);
    loop {
        line.clear();
        let n = Read::take(&mut input, MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let msg = trim(&line);
        if !msg.is_empty() {
            let reply = if line.len() > MAX_LINE {
                // Skip the rest of the oversized line.
                let mut rest = Vec::new();
                input.read_until(b'\n', &mut rest)?;
                echo.handle(b"")
            } else {
                echo.handle(msg)
            };
            match reply {
                Reply::None => {}
                Reply::Now(b) => {
                    pending.extend_from_slice(&b);
                    pending.push(b'\n');
                }
                Reply::After(d, mut b) => {
                    b.push(b'\n');
                    let _ = timer_tx.send(Delayed {
                        due: Instant::now() + d,
                        bytes: b,
                    });
                }
            }
        }
        if input.buffer().is_empty() && !pending.is_empty() {
            write(&out, &pending)?;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        write(&out, &pending)?;
    }
    drop(timer_tx);
    let _ = timer.join();
    Ok(())
}

fn trim(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &line[..end]
}

fn write(out: &Out, bytes: &[u8]) -> std::io::Result<()> {
    let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
    w.write_all(bytes)?;
    w.flush()
}

/// An answer to write at `due`.
struct Delayed {
    due: Instant,
    bytes: Vec<u8>,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    // Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.due.cmp(&self.due)
    }
}

/// Writes delayed answers when due; ends when the reader is gone and nothing is left.
fn timer_loop(rx: &mpsc::Receiver<Delayed>, out: &Out) {
    let mut heap = BinaryHeap::new();
    let mut open = true;
    while open || !heap.is_empty() {
        let now = Instant::now();
        while heap.peek().is_some_and(|d: &Delayed| d.due <= now) {
            if let Some(d) = heap.pop()
                && write(out, &d.bytes).is_err()
            {
                return;
            }
        }
        let wait = heap.peek().map_or(Duration::from_secs(1), |d| {
            d.due.saturating_duration_since(now)
        });
        if !open {
            std::thread::sleep(wait);
            continue;
        }
        match rx.recv_timeout(wait) {
            Ok(d) => heap.push(d),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
    }
}
