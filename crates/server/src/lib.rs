//! The downstream side of switchboard: how clients reach the gateway.
//!
//! [`http`] serves MCP Streamable HTTP (plus health, status and discovery endpoints) and [`stdio`]
//! serves the same catalog over stdin/stdout for desktop clients. Both only move messages between
//! their transport and [`switchboard_gateway::Gateway`]; neither knows how an upstream is reached.

pub mod http;
pub mod request_id;
pub mod stdio;
