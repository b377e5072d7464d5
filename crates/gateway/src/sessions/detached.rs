//! Sessions that live for one request and are kept nowhere: how a transport without MCP
//! sessions of its own (the legacy REST routes) still drives every request through
//! [`Gateway::request`](crate::Gateway), the one pipeline.
//!
//! A detached session is a handshake-era session ([`Revision::LATEST`]) that declared no client
//! capabilities: the pipeline serves it exactly like a session opened with `initialize`
//! (authorization, view, rate limits, idempotency, audit), the upstream is never asked to
//! reach a client that cannot answer, and it counts against no session limit, since it is not in
//! the store. [`Gateway::end_detached`] ends what it started upstream (isolated sessions).

use std::sync::Arc;

use switchboard_protocol::Revision;

use super::{ClientCaps, Session};
use crate::Gateway;
use crate::principal::Principal;
use crate::view::Endpoint;

impl Gateway {
    /// A session of `principal` at `endpoint` for one request, registered nowhere. `client`
    /// names the transport in logs (raw JSON, e.g. `{"name":"legacy-rest"}`).
    pub fn detached_session(
        &self,
        principal: &Principal,
        endpoint: Endpoint,
        client: &str,
    ) -> Arc<Session> {
        // Never looked up by id, but its own: whatever is keyed by session id (tasks) and
        // forgotten when it ends must not be another detached session's.
        let key = self.state.sessions.next_key();
        Arc::new(Session::new(
            Arc::from(format!("detached-{key}")),
            key,
            Revision::LATEST,
            ClientCaps::default(),
            client,
            principal.clone(),
            endpoint,
        ))
    }

    /// Ends a detached session: cancels what it still has in flight and closes the isolated
    /// upstream sessions it opened.
    pub async fn end_detached(&self, session: &Arc<Session>) {
        self.end_session(session).await;
    }
}
