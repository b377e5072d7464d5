//! One downstream client session: its durable record and its live state.
//!
//! The record is what the client negotiated (revision, capabilities, client info), who it is
//! (principal) and what it asked for (log level, resource subscriptions). The live state is what
//! only this process can hold: the requests in flight (so `notifications/cancelled` can find
//! them), the server-to-client requests waiting on the client's answer, its isolated upstream
//! connections, the outbox of messages that belong to no request (drained by the transport into
//! the GET stream or stdout), and the transport's own attachment (an HTTP event store).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_protocol::object;
use switchboard_protocol::{Id, Message, Revision};
use switchboard_upstream::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::level::Level;
use crate::principal::Principal;
use crate::upstreams::UpstreamId;
use crate::view::{Endpoint, ViewKey};
use switchboard_protocol::lock;

/// What the client declared it can do, reduced to the flags routing needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    pub sampling: bool,
    pub sampling_tools: bool,
    pub elicitation_form: bool,
    pub elicitation_url: bool,
    pub roots: bool,
}

impl ClientCaps {
    /// Reads the flags from raw `capabilities` JSON.
    pub fn parse(raw: Option<&str>) -> ClientCaps {
        let Some(raw) = raw else {
            return ClientCaps::default();
        };
        let has = |k: &str| object::get(raw, k).filter(|v| *v != "null");
        let sampling = has("sampling");
        let elicitation = has("elicitation");
        // `elicitation: {}` means form mode only (2025-11-25 keeps 06-18's meaning).
        let (form, url) = match elicitation {
            None => (false, false),
            Some(e) => {
                let form = object::get(e, "form").is_some();
                let url = object::get(e, "url").is_some();
                (form || !url, url)
            }
        };
        ClientCaps {
            sampling: sampling.is_some(),
            sampling_tools: sampling.and_then(|s| object::get(s, "tools")).is_some(),
            elicitation_form: form,
            elicitation_url: url,
            roots: has("roots").is_some(),
        }
    }
}

/// What a session is, apart from this process: enough to serve it anywhere.
pub struct SessionRecord {
    pub revision: Revision,
    pub caps: ClientCaps,
    /// Raw `clientInfo`, for logs.
    pub client_info: Box<str>,
    /// Who opened it: only the same principal may use it.
    pub principal: Principal,
    /// The view of the catalog it is served from (its list changes are that view's).
    pub view: ViewKey,
    level: Mutex<Option<Level>>,
    pub(crate) subscriptions: Mutex<HashSet<String>>,
}

/// A downstream client session.
pub struct Session {
    /// The `MCP-Session-Id` (random, unguessable).
    pub id: Arc<str>,
    /// A small number used as the owner key toward upstreams.
    pub key: u64,
    pub record: SessionRecord,
    in_flight: Mutex<HashMap<Id, CancellationToken>>,
    client_requests: Mutex<HashMap<Id, oneshot::Sender<Message>>>,
    next_client_request: AtomicU64,
    pub(crate) isolated: tokio::sync::Mutex<HashMap<UpstreamId, Connection>>,
    /// `None` for a one-request (2026-07-28) caller: nothing can reach it outside its request.
    outbox: Option<mpsc::Sender<Bytes>>,
    outbox_rx: Mutex<Option<mpsc::Receiver<Bytes>>>,
    /// Milliseconds since [`epoch`] at the last request: an atomic, as every request touches it.
    last_seen: AtomicU64,
    pub(crate) closed: CancellationToken,
    /// What the transport keeps with the session (the HTTP server's event store), so it needs no
    /// registry of its own to keep in step with this one.
    attachment: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("revision", &self.record.revision)
            .finish()
    }
}

/// Messages waiting for a client that has no GET stream open are kept up to this many.
const OUTBOX: usize = 1024;

impl Session {
    pub(crate) fn new(
        id: Arc<str>,
        key: u64,
        revision: Revision,
        caps: ClientCaps,
        client_info: &str,
        principal: Principal,
        endpoint: Endpoint,
    ) -> Session {
        let (outbox, rx) = if revision.is_modern() {
            (None, None)
        } else {
            let (tx, rx) = mpsc::channel(OUTBOX);
            (Some(tx), Some(rx))
        };
        Session {
            id,
            key,
            record: SessionRecord {
                revision,
                caps,
                client_info: client_info.into(),
                principal,
                view: ViewKey::at(endpoint, revision.is_modern()),
                level: Mutex::new(None),
                subscriptions: Mutex::new(HashSet::new()),
            },
            in_flight: Mutex::new(HashMap::new()),
            client_requests: Mutex::new(HashMap::new()),
            next_client_request: AtomicU64::new(1),
            isolated: tokio::sync::Mutex::new(HashMap::new()),
            outbox,
            outbox_rx: Mutex::new(rx),
            last_seen: AtomicU64::new(now_ms()),
            closed: CancellationToken::new(),
            attachment: OnceLock::new(),
        }
    }

    /// Keeps the transport's attachment with the session (the first one set stays).
    pub fn attach(&self, value: Arc<dyn Any + Send + Sync>) {
        let _ = self.attachment.set(value);
    }

    /// The transport's attachment, if it is a `T`.
    pub fn attachment<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.attachment.get()?.clone().downcast::<T>().ok()
    }

    /// The receiving end of the outbox; the transport takes it once.
    pub fn take_outbox(&self) -> Option<mpsc::Receiver<Bytes>> {
        lock(&self.outbox_rx).take()
    }

    /// Queues a message that belongs to no request. A full outbox drops it: the client is not
    /// reading, and holding more would let it pin the gateway's memory.
    pub fn push(&self, msg: Bytes) {
        if self
            .outbox
            .as_ref()
            .is_none_or(|o| o.try_send(msg).is_err())
        {
            tracing::debug!(session = %self.id, "outbox full or closed; message dropped");
        }
    }

    /// The token that ends the session; firing it cancels everything the session has in flight.
    pub fn closer(&self) -> CancellationToken {
        self.closed.clone()
    }

    pub fn touch(&self) {
        self.last_seen.store(now_ms(), Ordering::Relaxed);
    }

    pub fn idle_for(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.last_seen.load(Ordering::Relaxed)))
    }

    pub fn level(&self) -> Option<Level> {
        *lock(&self.record.level)
    }

    pub(crate) fn set_level(&self, l: Level) {
        *lock(&self.record.level) = Some(l);
    }

    /// Registers a request in flight; the token fires on `notifications/cancelled`.
    pub(crate) fn begin(&self, id: &Id) -> CancellationToken {
        let t = self.closed.child_token();
        lock(&self.in_flight).insert(id.clone(), t.clone());
        t
    }

    pub(crate) fn end(&self, id: &Id) {
        lock(&self.in_flight).remove(id);
    }

    pub(crate) fn cancel(&self, id: &Id) -> bool {
        match lock(&self.in_flight).get(id) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }

    /// A fresh id for a server-to-client request to this client, with the receiver of its answer.
    pub(crate) fn client_request(&self) -> (Id, oneshot::Receiver<Message>) {
        let n = self.next_client_request.fetch_add(1, Ordering::Relaxed);
        let id = Id::string(&format!("sb-{n}"));
        let (tx, rx) = oneshot::channel();
        lock(&self.client_requests).insert(id.clone(), tx);
        (id, rx)
    }

    pub(crate) fn forget_client_request(&self, id: &Id) {
        lock(&self.client_requests).remove(id);
    }

    /// Delivers a client's answer to a server-to-client request; false when nobody asked.
    pub(crate) fn answer(&self, msg: Message) -> bool {
        let Some(id) = msg.id() else { return false };
        match lock(&self.client_requests).remove(id) {
            Some(tx) => tx.send(msg).is_ok(),
            None => false,
        }
    }

    pub fn is_subscribed(&self, uri: &str) -> bool {
        lock(&self.record.subscriptions).contains(uri)
    }
}

/// A process-wide monotonic origin for cheap timestamps.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A new session id: 128 random bits, as hex (visible ASCII only, as `MCP-Session-Id` requires).
pub(crate) fn new_session_id() -> Arc<str> {
    crate::token::random::<16>("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_capabilities() {
        let c = ClientCaps::parse(Some(
            r#"{"sampling":{"tools":{}},"elicitation":{},"roots":{"listChanged":true}}"#,
        ));
        assert!(
            c.sampling && c.sampling_tools && c.elicitation_form && !c.elicitation_url && c.roots
        );
        let c = ClientCaps::parse(Some(r#"{"elicitation":{"url":{}}}"#));
        assert!(!c.elicitation_form && c.elicitation_url);
        assert_eq!(ClientCaps::parse(Some("{}")), ClientCaps::default());
        assert_ne!(new_session_id(), new_session_id());
        assert_eq!(new_session_id().len(), 32);
    }
}
