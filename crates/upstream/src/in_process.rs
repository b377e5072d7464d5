//! Upstreams that live inside the gateway: built-in connectors, reached without a process or a
//! socket.
//!
//! An [`InProcessServer`] answers one JSON-RPC request at a time, given its method and raw
//! params; the transport here wraps that answer in a response envelope under the connection's
//! id and delivers it into the sink like any transport delivers what it reads. The request is
//! answered inside the caller's own future (as a Streamable HTTP POST is), so the connection's
//! timeout and cancellation apply unchanged: dropping the call drops the server's work.
//!
//! This crate defines only the seam; what a server says (`initialize`, `tools/list`, …) is the
//! implementor's business (see the connectors crate).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use switchboard_protocol::Message;
use switchboard_protocol::message::encode;

use crate::transport::{Link, Outbound, SendError, Transport};

/// A JSON-RPC error an in-process server answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProcessError {
    pub code: i64,
    pub message: String,
}

impl InProcessError {
    pub fn new(code: i64, message: impl Into<String>) -> InProcessError {
        InProcessError {
            code,
            message: message.into(),
        }
    }
}

/// An MCP server that runs in the gateway's process.
pub trait InProcessServer: Send + Sync + 'static {
    /// Answers request `method` with `params` (raw JSON, `None` when absent): the raw JSON of the
    /// result, or an error.
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, InProcessError>>;

    /// A notification from the gateway (`notifications/initialized`, `notifications/cancelled`);
    /// ignored unless the server cares.
    fn notify(&self, _method: &str, _params: Option<&str>) {}
}

/// The transport over an [`InProcessServer`].
pub(crate) struct InProcessTransport {
    server: Arc<dyn InProcessServer>,
    link: Link,
    closed: AtomicBool,
}

pub(crate) fn start(server: &Arc<dyn InProcessServer>, link: Link) -> InProcessTransport {
    InProcessTransport {
        server: server.clone(),
        link,
        closed: AtomicBool::new(false),
    }
}

impl Transport for InProcessTransport {
    async fn send_request(&self, id: u64, body: Bytes, _: Outbound<'_>) -> Result<(), SendError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        // The connection encoded it; reading it back is cheaper than a second seam for the parts.
        let Ok(msg) = Message::parse(body) else {
            return Err(SendError::Closed);
        };
        let method = msg.method().unwrap_or_default();
        let answer = self.server.request(method, msg.params()).await;
        let id = switchboard_protocol::message::Id::number(id);
        let text = match answer {
            Ok(result) => encode::result(&id, &result),
            Err(e) => encode::error(
                Some(&id),
                &format!(
                    "{{\"code\":{},\"message\":{}}}",
                    e.code,
                    switchboard_protocol::object::json_string(&e.message)
                ),
            ),
        };
        let response = match Message::parse(Bytes::from(text)) {
            Ok(m) => m,
            Err(e) => {
                // A server that answers something that is not JSON is a bug; say so as an error.
                let text = encode::error(
                    Some(&id),
                    &format!(
                        "{{\"code\":-32603,\"message\":{}}}",
                        switchboard_protocol::object::json_string(&format!(
                            "in-process server `{}` answered invalid JSON: {e}",
                            self.link.name
                        ))
                    ),
                );
                Message::parse(Bytes::from(text)).map_err(|_| SendError::Closed)?
            }
        };
        if let Some(sink) = self.link.sink() {
            sink.deliver(response, id.as_u64());
        }
        Ok(())
    }

    async fn send(&self, body: Bytes) -> Result<(), SendError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        if let Ok(msg) = Message::parse(body)
            && let Some(method) = msg.method()
            && msg.is_notification()
        {
            self.server.notify(method, msg.params());
        }
        Ok(())
    }

    fn shared_pipe(&self) -> bool {
        false
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}
