//! `switchboard-echo`: an MCP server that answers as fast as it can, so the gateway, not the
//! upstream, is what a benchmark measures.
//!
//! Tools: `echo` (returns `arguments.message`), `big` (a text block of `arguments.bytes` bytes),
//! `slow` (sleeps `arguments.ms`), and `t0..tN-1` for a large catalog. Requests are read with
//! borrowed raw members ([`crate::jsonrpc::Envelope`]) and answers are spliced together from raw
//! parts, so no JSON tree is built per call. [`catalog`] holds the precomputed `tools/list`
//! pages, [`dispatch`] answers one message, [`http`] and [`stdio`] are the two transports.

pub mod catalog;
pub mod dispatch;
pub mod http;
pub mod stdio;

pub use catalog::Catalog;
pub use dispatch::{Echo, Reply};
