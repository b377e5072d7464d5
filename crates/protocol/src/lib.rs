//! The wire layer of switchboard: JSON-RPC 2.0 envelopes and MCP vocabulary, with no I/O.
//!
//! A gateway must be a lossless proxy, so nothing here parses a payload into a typed model. A
//! [`Message`] keeps the exact bytes it was read from and records where its `id`, `method`,
//! `params`, `result` and `error` sit inside them; [`object`] edits single fields of a raw JSON
//! object and copies every other byte through. The gateway owns only the fields listed in
//! `docs/protocol.md`; everything else crosses it untouched.

pub mod base64;
pub mod catalogue;
pub mod error;
pub mod headers;
mod lock;
pub mod message;
pub mod meta;
pub mod object;
pub mod revision;
pub mod sse;

pub use catalogue::{CATALOGUE, ErrorCategory, ErrorKind};
pub use error::{ErrorCode, RpcError};
pub use lock::lock;
pub use message::{Id, Kind, Message, ParseError};
pub use revision::Revision;
