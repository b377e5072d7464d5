//! The file sink: append, rotate by size, fsync by policy, and pick the chain up again after a
//! restart.
//!
//! **Rotation.** When the next record would take the live file (`audit.jsonl`) past
//! `rotate_bytes`, the file is synced, renamed to the next free `audit.jsonl.N` (N counts up
//! from 1, so the oldest file has the smallest N and nothing is ever renamed twice), and a new
//! live file is opened. The chain does not restart: the new file's first record links to the
//! last record of the one before. Old files are never deleted by the gateway.
//!
//! **Restart.** Opening the sink reads the end of the live file (or, when that is empty, of
//! the newest rotated file) to continue `seq` and `prev_hash`. A process killed in the middle
//! of a write (SIGKILL, power loss) can leave a last line without its newline. If that
//! fragment is nevertheless a whole record that links to the one before, it is kept (its
//! newline is added); otherwise it is cut off, and the writer's first record is a `recovered`
//! record stating how many bytes were removed. The chain therefore verifies up to the last
//! complete record and continues after it. A last *complete* line that is not a record at all
//! stops the gateway from starting (`AuditError::Tail`): continuing after something unknown
//! would hide it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use switchboard_config::{AuditFileConfig, Fsync};

use crate::AuditError;
use crate::record::{Chain, parse_line};

/// The live file, and how it is synced and rotated.
pub(crate) struct FileSink {
    path: PathBuf,
    file: File,
    /// Bytes in the live file, including what is still pending.
    size: u64,
    rotate_bytes: u64,
    fsync: Fsync,
    /// The N of the next rotated file.
    next_index: u64,
    /// Lines accepted but not yet written (one write per batch).
    pending: Vec<u8>,
    /// When the oldest write not yet synced happened.
    unsynced_since: Option<Instant>,
}

/// A sink opened on an existing log: where the chain stands, and what was cut off.
pub(crate) struct Opened {
    pub sink: FileSink,
    /// `None` when there was no log yet.
    pub chain: Option<Chain>,
    /// Bytes of a torn last line removed from the live file.
    pub truncated: u64,
}

impl FileSink {
    pub(crate) fn open(cfg: &AuditFileConfig) -> Result<Opened, AuditError> {
        let path = cfg.path.clone();
        let io_err = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let next_index = rotated_files(&path)
            .map_err(io_err)?
            .last()
            .map_or(1, |(n, _)| n + 1);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let (mut chain, mut truncated) = (None, 0);
        if len > 0 {
            let tail = read_tail(&mut file, len, 2).map_err(io_err)?;
            let last = tail.lines.last().map(String::as_str);
            let previous = match last {
                Some(line) => Some(chain_of(&path, line)?),
                None => None,
            };
            if tail.torn.is_empty() {
                chain = previous;
            } else {
                // A whole record that lost only its newline is kept.
                let fragment = String::from_utf8_lossy(&tail.torn);
                let whole = parse_line(&fragment).ok().filter(|p| {
                    p.hash_ok
                        && previous
                            .map_or(p.seq == 1, |c| c.seq + 1 == p.seq && c.hash == p.prev_hash)
                });
                match whole {
                    Some(p) => {
                        file.write_all(b"\n").map_err(io_err)?;
                        chain = Some(Chain {
                            seq: p.seq,
                            hash: p.hash,
                        });
                    }
                    None => {
                        truncated = tail.torn.len() as u64;
                        file.set_len(len - truncated).map_err(io_err)?;
                        file.sync_data().map_err(io_err)?;
                        chain = previous;
                    }
                }
            }
        }
        if chain.is_none() && next_index > 1 {
            let newest = rotated_path(&path, next_index - 1);
            let mut older = File::open(&newest).map_err(|source| AuditError::Io {
                path: newest.clone(),
                source,
            })?;
            let len = older.metadata().map(|m| m.len()).unwrap_or(0);
            let tail = read_tail(&mut older, len, 1).map_err(|source| AuditError::Io {
                path: newest.clone(),
                source,
            })?;
            if let Some(line) = tail.lines.last() {
                chain = Some(chain_of(&newest, line)?);
            }
        }
        let size = file.metadata().map_err(io_err)?.len();
        Ok(Opened {
            sink: FileSink {
                path,
                file,
                size,
                rotate_bytes: cfg.rotate_bytes,
                fsync: cfg.fsync,
                next_index,
                pending: Vec::with_capacity(64 * 1024),
                unsynced_since: None,
            },
            chain,
            truncated,
        })
    }

    /// Accepts one record's line (written by the next [`flush`](Self::flush)), rotating first
    /// when it would take the live file past `rotate_bytes`.
    pub(crate) fn push(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.rotate_bytes {
            self.flush()?;
            self.rotate()?;
        }
        self.pending.extend_from_slice(line);
        self.size += len;
        Ok(())
    }

    /// Writes what is pending; syncs at once under `fsync: always`. On an error the pending
    /// bytes are kept, to be written by the next attempt.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.pending)?;
        self.pending.clear();
        match self.fsync {
            Fsync::Always => self.file.sync_data()?,
            Fsync::Never => {}
            Fsync::Every(_) => {
                self.unsynced_since.get_or_insert_with(Instant::now);
            }
        }
        Ok(())
    }

    /// When the writer must wake to sync (`fsync: <interval>` with unsynced writes).
    pub(crate) fn sync_deadline(&self) -> Option<Instant> {
        match (self.fsync, self.unsynced_since) {
            (Fsync::Every(every), Some(since)) => Some(since + every),
            _ => None,
        }
    }

    /// Syncs if the interval since the oldest unsynced write has passed (or `force`).
    pub(crate) fn sync_if_due(&mut self, now: Instant, force: bool) -> io::Result<()> {
        let due = self.sync_deadline().is_some_and(|d| d <= now);
        if due || (force && self.fsync != Fsync::Never) {
            self.file.sync_data()?;
            self.unsynced_since = None;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.fsync != Fsync::Never {
            self.file.sync_data()?;
        }
        let to = rotated_path(&self.path, self.next_index);
        fs::rename(&self.path, &to)?;
        self.next_index += 1;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)?;
        if self.fsync != Fsync::Never
            && let Some(dir) = self.path.parent()
        {
            // The rename and the new file survive a crash only once their directory is synced.
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            File::open(dir)?.sync_all()?;
        }
        self.size = 0;
        self.unsynced_since = None;
        tracing::info!(rotated = %to.display(), "audit log rotated");
        Ok(())
    }
}

/// The `seq` and `hash` of a complete last line, or why the log cannot be continued.
fn chain_of(path: &Path, line: &str) -> Result<Chain, AuditError> {
    let parsed = parse_line(line).map_err(|e| AuditError::Tail {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(Chain {
        seq: parsed.seq,
        hash: parsed.hash,
    })
}

/// `audit.jsonl` → `audit.jsonl.N`.
pub fn rotated_path(path: &Path, n: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{n}"));
    path.with_file_name(name)
}

/// The rotated files of `path` (`path.N`), by N.
pub fn rotated_files(path: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{base}.");
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((n, entry.path()));
    }
    found.sort();
    Ok(found)
}

/// The end of a file: its last `n` complete lines and what follows the last newline.
pub struct Tail {
    pub lines: Vec<String>,
    /// Bytes after the last newline (a torn write), empty when the file ends with one.
    pub torn: Vec<u8>,
}

/// Reads the last `n` complete lines of `file` (of length `len`) backwards in blocks, so a
/// large log costs only the blocks its tail spans.
pub fn read_tail(file: &mut File, len: u64, n: usize) -> io::Result<Tail> {
    const BLOCK: u64 = 64 * 1024;
    let mut buf: Vec<u8> = Vec::new();
    let mut start = len;
    loop {
        // Newlines in `buf`, not counting a trailing one: each separates two lines.
        let complete = buf.iter().filter(|&&b| b == b'\n').count();
        if start == 0 || complete > n {
            break;
        }
        let from = start.saturating_sub(BLOCK);
        let mut block = vec![0u8; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&buf);
        buf = block;
        start = from;
    }
    let torn_at = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let torn = buf.split_off(torn_at);
    // Whole lines: drop a partial first line when the read did not reach the file's start.
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    Ok(Tail {
        lines: lines[skip..].iter().map(|l| (*l).to_owned()).collect(),
        torn,
    })
}
