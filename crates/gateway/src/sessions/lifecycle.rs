//! A session's life: opened by `initialize`, found by id for its own principal, touched by
//! every message, and closed by `DELETE`, stdio EOF, idle expiry or shutdown.

use std::sync::Arc;
use std::time::Duration;

use switchboard_protocol::object;
use switchboard_protocol::{Message, RpcError};
use switchboard_upstream::Connection;

use super::{ClientCaps, Session};
use crate::principal::Principal;
use crate::view::Endpoint;
use crate::{Gateway, capabilities, error};
use switchboard_protocol::lock;

/// Why a new session was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionRefused {
    /// The gateway's `sessions.max_sessions`, or the principal's `sessions.max_per_principal`,
    /// is reached; the message says which.
    #[error("{0}")]
    TooMany(String),
    #[error("{}", .0.message)]
    Invalid(RpcError),
}

impl Gateway {
    /// Handles `initialize` for `principal`: negotiates, creates the session, and returns it with
    /// the raw result.
    pub fn initialize(
        &self,
        principal: &Principal,
        params: Option<&str>,
        endpoint: Endpoint,
    ) -> Result<(Arc<Session>, String), SessionRefused> {
        let params = params.filter(|p| p.starts_with('{')).ok_or_else(|| {
            SessionRefused::Invalid(error::invalid_params("initialize requires params"))
        })?;
        let requested = object::get_str(params, "protocolVersion").ok_or_else(|| {
            SessionRefused::Invalid(error::invalid_params(
                "initialize requires params.protocolVersion",
            ))
        })?;
        // A product's `scopes` hold for opening a session there too.
        if let Some(p) = self.products().at(endpoint) {
            crate::pipeline::check_product_scopes(principal, &p.cfg, "initialize")
                .map_err(SessionRefused::Invalid)?;
        }
        let revision = switchboard_protocol::Revision::negotiate_served(&requested);
        let caps = ClientCaps::parse(object::get(params, "capabilities"));
        let client_info = object::get(params, "clientInfo").unwrap_or("{}");
        let max = self.state.config.sessions.max_sessions;
        let per_principal = self.state.config.sessions.max_per_principal;
        let session = Arc::new(Session::new(
            super::session::new_session_id(),
            self.state.sessions.next_key(),
            revision,
            caps,
            client_info,
            principal.clone(),
            endpoint,
        ));
        match self
            .state
            .sessions
            .store()
            .insert_within(session.clone(), max, per_principal)
        {
            Ok(()) => {}
            Err(super::Full::Gateway) => {
                return Err(SessionRefused::TooMany(format!(
                    "too many sessions (limit {max})"
                )));
            }
            Err(super::Full::Principal) => {
                return Err(SessionRefused::TooMany(format!(
                    "{} has {per_principal} sessions open, its limit (sessions.max_per_principal); end one first",
                    principal.id()
                )));
            }
        }
        tracing::debug!(session = %session.id, %revision, client = %session.record.client_info, "session opened");
        let result = format!(
            "{{\"protocolVersion\":\"{revision}\",\"capabilities\":{},\"serverInfo\":{}}}",
            capabilities::server(revision),
            capabilities::server_info(),
        );
        Ok((session, result))
    }

    /// The session `id` of `principal` at `endpoint` (touching it). Another principal's session
    /// is not found (a session id is no credential), nor is a session opened at another
    /// endpoint.
    pub fn session(
        &self,
        id: &str,
        principal: &Principal,
        endpoint: Endpoint,
    ) -> Option<Arc<Session>> {
        let s = self.state.sessions.store().get(id).filter(|s| {
            s.record.principal.same_as(principal) && s.record.view.endpoint() == endpoint
        })?;
        s.touch();
        Some(s)
    }

    pub fn session_count(&self) -> usize {
        self.state.sessions.store().len()
    }

    /// Ends a session (DELETE, expiry, stdio EOF): cancels its requests, drops its subscriptions and
    /// closes its isolated upstream sessions. False when it did not exist.
    pub async fn close_session(&self, id: &str) -> bool {
        match self.state.sessions.store().remove(id) {
            Some(s) => {
                self.end_session(&s).await;
                true
            }
            None => false,
        }
    }

    pub(crate) async fn end_session(&self, s: &Arc<Session>) {
        s.closed.cancel();
        self.state.tasks.forget_session(&s.id);
        let uris: Vec<String> = lock(&s.record.subscriptions).drain().collect();
        for uri in uris {
            self.release_subscription(&uri).await;
        }
        let isolated: Vec<Connection> = s.isolated.lock().await.drain().map(|(_, c)| c).collect();
        futures::future::join_all(isolated.iter().map(|c| c.close())).await;
        tracing::debug!(session = %s.id, "session closed");
    }

    pub(crate) async fn sweep_sessions(&self) {
        let ttl = self.state.config.sessions.idle_ttl;
        let period = (ttl / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.state.shutdown.cancelled() => return,
            }
            let mut expired: Vec<Arc<str>> = Vec::new();
            self.state.sessions.store().for_each(&mut |s| {
                if s.idle_for() > ttl && s.in_flight() == 0 {
                    expired.push(s.id.clone());
                }
            });
            for id in expired {
                tracing::debug!(session = %id, "session expired");
                self.close_session(&id).await;
            }
        }
    }

    /// Handles a notification from a client.
    pub async fn notification(&self, session: &Arc<Session>, msg: Message) {
        session.touch();
        match msg.method() {
            Some("notifications/cancelled") => {
                if let Some(id) = msg
                    .param("requestId")
                    .and_then(switchboard_protocol::Id::from_raw)
                {
                    session.cancel(&id);
                }
            }
            Some("notifications/roots/list_changed") => {
                let isolated: Vec<Connection> =
                    session.isolated.lock().await.values().cloned().collect();
                for c in isolated {
                    let _ = c.notify("notifications/roots/list_changed", None).await;
                }
            }
            _ => {}
        }
    }

    /// Handles a client's response to a server-to-client request. False when no such request is
    /// waiting (unknown, answered, or timed out).
    pub fn client_response(&self, session: &Arc<Session>, msg: Message) -> bool {
        session.touch();
        session.answer(msg)
    }
}
