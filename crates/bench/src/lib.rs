//! switchboard's performance tooling, as a library shared by four binaries.
//!
//! - `switchboard-load` ([`load`]): an MCP client that drives C concurrent calls over Streamable
//!   HTTP or stdio, validates every response and prints latency percentiles as JSON.
//! - `switchboard-echo` ([`echo`]): an upstream fast enough not to be the bottleneck (`echo`,
//!   `big`, `slow` and a synthetic catalog), over Streamable HTTP or stdio.
//! - `switchboard-floor` ([`floor`]): the least a proxy hop can cost — an HTTP forwarder or a
//!   stdio relay that moves bytes and does nothing else, measured beside the gateway for
//!   comparison only (never a gateway).
//! - `switchboard-bench` ([`suite`]): the one benchmark command. It starts upstreams and gateways,
//!   runs the load generator against each directly and through switchboard, reads the gateway's
//!   CPU and memory from `/proc`, and writes `docs/performance.md` and its raw JSON.
//!
//! Everything here talks to 127.0.0.1 only, and every loop is bounded in count and time.

pub mod echo;
pub mod floor;
pub mod http1;
pub mod jsonrpc;
pub mod latency;
pub mod load;
pub mod loopback;
pub mod procfs;
pub mod rlimit;
pub mod runtime;
pub mod suite;
