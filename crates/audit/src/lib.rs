//! switchboard's audit log: one tamper-evident JSON line per audited decision.
//!
//! The gateway builds an [`Event`] for every `tools/call`, `resources/read` and `prompts/get`
//! and for every request a pipeline stage refuses, and hands it to [`Audit::record`]: one
//! bounded-channel send. A writer thread of its own takes events off the queue, renders each as
//! a record (`record.rs`: canonical JSON, the argument hash, `prev_hash`/`hash` chaining),
//! writes them to the configured sinks (`sink.rs`; the file sink with rotation, fsync policy and
//! restart recovery in `file.rs`) and, when configured, signs periodic checkpoints
//! (`checkpoint.rs`). `verify.rs` checks a log, `query.rs` filters one. The schema and the
//! guarantees are documented in `docs/audit.md`.
//!
//! Code map: `event` (what the request path hands over), `record` (fields, chain), `canonical`
//! (canonical JSON, SHA-256, hex), `redact`, `time` (RFC 3339), `writer` (the handle and the
//! writer thread), `sink` (the set of sinks, stdout), `file`, `checkpoint`, `verify`, `query`.

mod canonical;
mod checkpoint;
mod event;
mod file;
mod query;
mod record;
mod redact;
mod sink;
mod time;
mod verify;
mod webhook;
mod writer;

use std::path::PathBuf;

pub use canonical::{hex, sha256, to_string as canonical_json};
pub use checkpoint::{SigningKey, VerifyingKey, generate_key};
pub use event::{AdminEvent, Event, Verdict, method_name, trace_id};
pub use file::{Tail, read_tail, rotated_files, rotated_path};
pub use query::{Filter, matches};
pub use record::{GENESIS, LineError, Parsed, SCHEMA_VERSION, parse_line};
pub use redact::{REDACTED, redact};
pub use time::{parse_rfc3339, rfc3339};
pub use verify::{Problem, Report, verify};
pub use webhook::WebhookStats;
pub use writer::Audit;

/// Why the audit log could not be opened or continued.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "audit log {}: its last line is not an audit record ({message}); move the file aside (verify it with `switchboard audit verify`) and start again",
        path.display()
    )]
    Tail { path: PathBuf, message: String },
    #[error("audit checkpoint key {}: {message}", path.display())]
    Key { path: PathBuf, message: String },
    #[error("audit writer: {0}")]
    Start(std::io::Error),
    #[error("audit webhook: {0}")]
    Webhook(String),
}
