//! Messages from an upstream that no request claimed, and what becomes of them.
//!
//! List changes refresh that upstream's lists (and so the catalog); resource updates go to the
//! sessions and listens holding the URI; task status goes to the task's owner only, under the
//! gateway's id for it; log lines go to every session whose level admits them (or to the one
//! session an isolated connection belongs to); a server-to-client request is relayed to the one
//! session it concerns, or answered here (`roots/list` with the configured roots), or refused.

use std::sync::Arc;

use bytes::Bytes;
use switchboard_protocol::message::encode;
use switchboard_protocol::object;
use switchboard_protocol::{ErrorCode, Message, RpcError};
use switchboard_upstream::Connection;

use super::Upstream;
use super::lists::{fetch_list, slot};
use super::supervisor::note_param_headers;
use crate::call::relay;
use crate::catalog::ListKind;
use crate::level::Level;
use crate::sessions::Session;
use crate::{Gateway, tasks};
use switchboard_protocol::lock;

impl Gateway {
    /// A message from an upstream that no request claimed. `owner` is set for an isolated
    /// connection, whose messages concern one session only.
    pub(crate) fn on_upstream_message(
        &self,
        up: &Arc<Upstream>,
        conn: &Connection,
        msg: Message,
        owner: Option<&Arc<Session>>,
    ) {
        let method = msg.method().unwrap_or_default();
        match (msg.kind(), method) {
            (switchboard_protocol::Kind::Notification, m) if m.ends_with("/list_changed") => {
                if owner.is_some() || m == "notifications/roots/list_changed" {
                    return;
                }
                let kinds: &[ListKind] = match m {
                    "notifications/tools/list_changed" => &[ListKind::Tools],
                    "notifications/prompts/list_changed" => &[ListKind::Prompts],
                    "notifications/resources/list_changed" => {
                        &[ListKind::Resources, ListKind::Templates]
                    }
                    _ => &[],
                };
                let gw = self.clone();
                let up = up.clone();
                let conn = conn.clone();
                tokio::spawn(async move { gw.refresh(&up, &conn, kinds).await });
            }
            (switchboard_protocol::Kind::Notification, "notifications/resources/updated") => {
                let Some(uri) = msg.param_str("uri") else {
                    return;
                };
                match owner {
                    Some(s) => {
                        if s.is_subscribed(&uri) {
                            s.push(msg.bytes().clone());
                        }
                    }
                    None => {
                        // A modern upstream tags it with its listen's id: not the session's.
                        let untagged = msg.params().and_then(|p| {
                            switchboard_protocol::meta::without(p, |k| {
                                k == switchboard_protocol::meta::SUBSCRIPTION_ID
                            })
                        });
                        let bytes = match untagged {
                            Some(p) => Bytes::from(encode::notification(
                                "notifications/resources/updated",
                                Some(&p),
                            )),
                            None => msg.bytes().clone(),
                        };
                        self.state.sessions.store().for_each(&mut |s| {
                            if s.is_subscribed(&uri) {
                                s.push(bytes.clone());
                            }
                        });
                        self.state.listeners.resource_updated(&uri, &msg);
                    }
                }
            }
            (switchboard_protocol::Kind::Notification, "notifications/tasks/status") => {
                // Only the task's owner hears about it, under the gateway's id for it.
                let Some(upstream_id) = msg.param_str("taskId") else {
                    return;
                };
                let Some((id, owner)) = self.state.tasks.owner(conn.serial(), &upstream_id) else {
                    return;
                };
                let Some(session) = self.state.sessions.store().get(&owner) else {
                    return;
                };
                if let Some(p) = msg.params().and_then(|p| tasks::with_task_id(p, &id)) {
                    session.push(Bytes::from(encode::notification(
                        "notifications/tasks/status",
                        Some(&p),
                    )));
                }
            }
            (switchboard_protocol::Kind::Notification, "notifications/message") => {
                let Some(out) = relay::log_message(up.name(), &msg) else {
                    return;
                };
                let level = msg
                    .param_str("level")
                    .and_then(|l| Level::parse(&l))
                    .unwrap_or(Level::Info);
                let mut deliver = |s: &Arc<Session>| {
                    if s.level().is_some_and(|l| l.admits(level)) {
                        s.push(out.clone());
                    }
                };
                match owner {
                    Some(s) => deliver(s),
                    None => self.state.sessions.store().for_each(&mut deliver),
                }
            }
            (switchboard_protocol::Kind::Request, m) => {
                let Some(id) = msg.id().cloned() else { return };
                match (owner, m) {
                    (Some(s), _) => {
                        let gw = self.clone();
                        let s = s.clone();
                        let conn = conn.clone();
                        tokio::spawn(async move {
                            relay::client_request(&gw, &s, &conn, msg, None).await
                        });
                    }
                    (None, "roots/list") => {
                        let roots = self.configured_roots();
                        let conn = conn.clone();
                        tokio::spawn(async move { conn.respond(&id, &roots).await });
                    }
                    (None, _) => {
                        let err = RpcError::new(
                            ErrorCode::NO_CLIENT_FOR_REQUEST,
                            format!("{m} could not be tied to one client of the gateway"),
                        );
                        let conn = conn.clone();
                        tokio::spawn(async move { conn.respond_error(&id, &err).await });
                    }
                }
            }
            _ => tracing::debug!(
                upstream = up.name(),
                method,
                "unclaimed upstream message dropped"
            ),
        }
    }

    /// The gateway id of an upstream's task, given the connection it came from.
    pub(crate) fn task_id_for(&self, conn: &Connection, upstream_id: &str) -> Option<String> {
        self.state
            .tasks
            .owner(conn.serial(), upstream_id)
            .map(|(id, _)| id.to_string())
    }

    /// A message about no particular request that arrived on a request's stream.
    pub(crate) fn on_upstream_message_shared(&self, conn: &Connection, msg: Message) {
        if let Some(up) = self.state.upstreams.get(conn.name()) {
            self.on_upstream_message(&up, conn, msg, None);
        }
    }

    pub(crate) async fn refresh(&self, up: &Arc<Upstream>, conn: &Connection, kinds: &[ListKind]) {
        let mut lists = match lock(&up.lists).as_deref() {
            Some(l) => l.clone(),
            None => return,
        };
        for &kind in kinds {
            match fetch_list(conn, &up.cfg, kind).await {
                Ok((items, hint)) => {
                    *slot(&mut lists, kind) = items;
                    lists.hints[kind.index()] = hint;
                }
                Err(e) => tracing::warn!(
                    upstream = up.name(),
                    list = kind.method(),
                    "refresh failed: {e}"
                ),
            }
        }
        if conn.is_closed() {
            return;
        }
        note_param_headers(conn, &lists);
        *lock(&up.lists) = Some(Arc::new(lists));
        self.rebuild_catalog();
    }

    /// `roots/list` result for requests no client can answer: the configured roots.
    fn configured_roots(&self) -> String {
        let mut s = String::from("{\"roots\":[");
        for (i, r) in self.state.config.roots.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"uri\":");
            s.push_str(&object::json_string(&r.uri));
            if let Some(n) = &r.name {
                s.push_str(",\"name\":");
                s.push_str(&object::json_string(n));
            }
            s.push('}');
        }
        s.push_str("]}");
        s
    }
}
