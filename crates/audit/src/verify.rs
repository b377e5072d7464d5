//! `switchboard audit verify`: does a set of log files form one unbroken chain?
//!
//! Files are put in chain order by the `seq` of their first record (so `audit.jsonl*` in any
//! order works), then every line is checked: it is a record of a known schema version; its
//! `hash` is the SHA-256 of its canonical text without `hash` (else it was edited); its `seq`
//! is one more than the previous record's (else records are missing, repeated or reordered);
//! its `prev_hash` is the previous record's `hash` (else a record before it was replaced).
//! The first record of a log (`seq` 1) links to 64 zeros; a set that starts later is reported
//! as starting there. With a public key, every checkpoint's signature is checked too, and
//! records after the last checkpoint are reported as not covered (a cut-off tail cannot be
//! ruled out). A last line without its newline at the very end is a write the gateway did not
//! finish (it was killed); it is ignored here and cut off by the writer when it restarts.

use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::canonical::unhex;
use crate::checkpoint::VerifyingKey;
use crate::record::{GENESIS, parse_line};

/// One thing wrong with a log, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the whole set.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// What verification found.
#[derive(Debug, Default)]
pub struct Report {
    /// The files, in the order they were checked.
    pub files: Vec<PathBuf>,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub checkpoints: u64,
    /// Everything wrong, in log order; empty when the log verifies.
    pub problems: Vec<Problem>,
    /// Facts worth saying that are not problems (a torn last line, a log that starts later).
    pub notes: Vec<String>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Prev {
    seq: u64,
    hash: [u8; 32],
    file: PathBuf,
    line: usize,
}

/// Checks `files` as one log; `key` also checks checkpoints.
pub fn verify(files: &[PathBuf], key: Option<&VerifyingKey>) -> io::Result<Report> {
    let mut ordered: Vec<(Option<u64>, PathBuf)> = Vec::new();
    for f in files {
        ordered.push((first_seq(f)?, f.clone()));
    }
    // Files whose first line is unreadable go last; the checks below will say why.
    ordered.sort_by_key(|(seq, _)| seq.unwrap_or(u64::MAX));

    let mut report = Report::default();
    let mut prev: Option<Prev> = None;
    let mut last_checkpoint: Option<u64> = None;
    let mut first_unsigned: Option<(PathBuf, usize, u64)> = None;
    let count = ordered.len();
    for (index, (_, path)) in ordered.into_iter().enumerate() {
        let last_file = index + 1 == count;
        let mut reader = BufReader::new(std::fs::File::open(&path)?);
        let mut raw = Vec::new();
        let mut line_no = 0;
        loop {
            raw.clear();
            if reader.read_until(b'\n', &mut raw)? == 0 {
                break;
            }
            line_no += 1;
            let problem = |message: String| Problem {
                file: path.clone(),
                line: line_no,
                message,
            };
            if raw.last() != Some(&b'\n') {
                if last_file {
                    report.notes.push(format!(
                        "{}:{line_no}: the last line is incomplete (a write cut short when the gateway was killed); ignored, and cut off when the gateway restarts",
                        path.display()
                    ));
                } else {
                    report.problems.push(problem(
                        "incomplete line (no newline) before later files".into(),
                    ));
                }
                break;
            }
            let text = String::from_utf8_lossy(&raw[..raw.len() - 1]);
            let parsed = match parse_line(&text) {
                Ok(p) => p,
                Err(e) => {
                    report.problems.push(problem(e.to_string()));
                    prev = None;
                    continue;
                }
            };
            report.records += 1;
            report.first_seq.get_or_insert(parsed.seq);
            report.last_seq = Some(parsed.seq);
            if !parsed.hash_ok {
                report.problems.push(problem(format!(
                    "record seq {}: its hash does not match its contents (the record was altered)",
                    parsed.seq
                )));
            }
            match &prev {
                None if report.records == 1 => {
                    if parsed.seq == 1 && parsed.prev_hash != GENESIS {
                        report.problems.push(problem(
                            "the first record (seq 1) must have 64 zeros as prev_hash".into(),
                        ));
                    } else if parsed.seq != 1 {
                        report.notes.push(format!(
                            "{}:{line_no}: the log given starts at seq {} (earlier records are in files not given); its link backwards is not checked",
                            path.display(),
                            parsed.seq
                        ));
                    }
                }
                None => {}
                Some(p) => {
                    let at = format!("{}:{}", p.file.display(), p.line);
                    if parsed.seq == p.seq + 1 {
                        if parsed.prev_hash != p.hash {
                            report.problems.push(problem(format!(
                                "record seq {}: prev_hash does not match the hash of seq {} at {at} (a record was replaced)",
                                parsed.seq, p.seq
                            )));
                        }
                    } else if parsed.seq > p.seq + 1 {
                        let (from, to) = (p.seq + 1, parsed.seq - 1);
                        let missing = if from == to {
                            format!("record seq {from} is missing")
                        } else {
                            format!("records seq {from} to {to} are missing")
                        };
                        report
                            .problems
                            .push(problem(format!("{missing} (after seq {} at {at})", p.seq)));
                    } else {
                        report.problems.push(problem(format!(
                            "record seq {} follows seq {} at {at}: records are out of order or repeated",
                            parsed.seq, p.seq
                        )));
                    }
                }
            }
            if parsed.kind == "checkpoint" {
                report.checkpoints += 1;
                if let Some(key) = key {
                    let signature = parsed
                        .value
                        .get("signature")
                        .and_then(|s| s.as_str())
                        .and_then(unhex::<64>);
                    match signature {
                        Some(sig) if key.verify(parsed.seq, &parsed.prev_hash, &sig) => {
                            last_checkpoint = Some(parsed.seq);
                            first_unsigned = None;
                        }
                        _ => report.problems.push(problem(format!(
                            "checkpoint seq {}: its signature does not verify with key {}",
                            parsed.seq,
                            key.id()
                        ))),
                    }
                }
            } else if first_unsigned.is_none() {
                first_unsigned = Some((path.clone(), line_no, parsed.seq));
            }
            prev = Some(Prev {
                seq: parsed.seq,
                hash: parsed.hash,
                file: path.clone(),
                line: line_no,
            });
        }
        report.files.push(path);
    }
    if let Some(key) = key {
        match (last_checkpoint, first_unsigned) {
            (None, _) => report.problems.push(Problem {
                file: report.files.last().cloned().unwrap_or_default(),
                line: 0,
                message: format!("no checkpoint signed by key {} in the log", key.id()),
            }),
            (Some(signed), Some((file, line, seq))) => report.problems.push(Problem {
                file,
                line,
                message: format!(
                    "record seq {seq} and the ones after it follow the last valid checkpoint (seq {signed}) and are not covered by a signature: a cut-off tail cannot be ruled out"
                ),
            }),
            (Some(_), None) => {}
        }
    }
    Ok(report)
}

/// The `seq` of a file's first record, if it has a readable one.
fn first_seq(path: &Path) -> io::Result<Option<u64>> {
    let mut reader = BufReader::new(std::fs::File::open(path)?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    Ok(serde_json::from_str::<serde_json::Value>(first.trim_end())
        .ok()
        .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64)))
}
