//! The transport-independent core of switchboard.
//!
//! [`Gateway`] owns the upstreams, the merged [`catalog::Catalog`] and the downstream
//! [`session::Session`]s. Transports (HTTP, stdio) hand it parsed messages and a channel for the
//! messages that belong to each request; the gateway answers with bytes. It never sees a socket or a
//! header. The path of one request is [`pipeline`]: validate, route through the catalog, forward
//! (with [`relay`] carrying progress, logs and server-to-client requests back), answer.

pub mod catalog;
pub mod error;
pub mod hints;
pub mod level;
pub mod listen;
pub mod modern;
mod mrtr;
mod pipeline;
mod relay;
mod sealed;
pub mod session;
pub mod tasks;
pub mod token;
pub mod upstream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use switchboard_config::Config;
use switchboard_protocol::message::encode;
use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{ErrorCode, Message, RpcError};
use switchboard_upstream::reaper::Reaper;
use switchboard_upstream::{Connection, Inbound, Replay};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, ListKind, Source};
use crate::level::Level;
use crate::session::{ClientCaps, Session, lock, new_session_id};
use crate::upstream::{Health, Upstream, backoff, fetch_list, fetch_lists, slot};

pub use pipeline::Answer;
pub use relay::Related;
pub use switchboard_upstream::related;

/// Capabilities a shared upstream session declares: everything a client might have. Whether the
/// client behind a given request really has it is checked per request (see [`relay`]).
const SHARED_CAPABILITIES: &str =
    r#"{"sampling":{},"elicitation":{"form":{},"url":{}},"roots":{"listChanged":true}}"#;

/// The gateway. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    state: Arc<State>,
}

struct State {
    config: Config,
    upstreams: Vec<Arc<Upstream>>,
    catalog: ArcSwap<Catalog>,
    /// Serialises catalog rebuilds so list_changed notifications follow the order of changes.
    rebuild: Mutex<()>,
    sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    next_key: AtomicU64,
    reaper: Option<Reaper>,
    /// Number of upstreams that have finished their first connection attempt.
    started: watch::Sender<usize>,
    shutdown: CancellationToken,
    tasks: tasks::Tasks,
    /// Open `subscriptions/listen` requests of modern callers.
    listeners: listen::Listeners,
    /// Calls of modern callers held for their retry (bridge C).
    held: mrtr::HeldCalls,
    /// Seals and opens `requestState`; `None` only if the system's random source failed.
    keys: Option<sealed::Keys>,
    /// This replica's name, sealed into the state of the calls it holds.
    replica: String,
}

/// Why a new session was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionRefused {
    #[error("too many sessions (limit {0})")]
    TooMany(usize),
    #[error("{}", .0.message)]
    Invalid(RpcError),
}

impl Gateway {
    /// Builds the gateway; nothing is started until [`Gateway::start`].
    pub fn new(config: Config, reaper: Option<Reaper>) -> Gateway {
        let configured: Vec<[u8; 32]> = config
            .modern
            .state_keys
            .iter()
            .map(|k| *k.bytes())
            .collect();
        let keys = match sealed::Keys::new(&configured) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(
                    "no key to seal requestState with ({e}); input_required results are unavailable"
                );
                None
            }
        };
        if keys.as_ref().is_some_and(sealed::Keys::is_ephemeral) {
            tracing::warn!(
                "modern.state_keys not set: requestState is sealed with a random per-process key; retries after a restart or on another replica will fail"
            );
        }
        let replica = config
            .modern
            .replica_id
            .clone()
            .unwrap_or_else(|| token::random::<8>("").to_string());
        let upstreams = config
            .upstreams
            .iter()
            .enumerate()
            .map(|(i, u)| Arc::new(Upstream::new(i, u.clone())))
            .collect();
        Gateway {
            state: Arc::new(State {
                config,
                upstreams,
                catalog: ArcSwap::from_pointee(Catalog::default()),
                rebuild: Mutex::new(()),
                sessions: Mutex::new(HashMap::new()),
                next_key: AtomicU64::new(1),
                reaper,
                started: watch::Sender::new(0),
                shutdown: CancellationToken::new(),
                tasks: tasks::Tasks::default(),
                listeners: listen::Listeners::default(),
                held: mrtr::HeldCalls::default(),
                keys,
                replica,
            }),
        }
    }

    /// Starts every upstream's supervisor and the session sweeper. Returns at once: upstreams
    /// come up in the background and never hold back the caller.
    pub fn start(&self) {
        for up in &self.state.upstreams {
            let gw = self.clone();
            let up = up.clone();
            tokio::spawn(async move { gw.supervise(up).await });
        }
        let gw = self.clone();
        tokio::spawn(async move { gw.sweep_sessions().await });
    }

    pub fn config(&self) -> &Config {
        &self.state.config
    }

    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.state.upstreams
    }

    /// The current catalog snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.state.catalog.load_full()
    }

    /// True once every upstream has had its first connection attempt (successful or not).
    pub fn is_ready(&self) -> bool {
        *self.state.started.borrow() >= self.state.upstreams.len()
    }

    /// Waits (up to `limit`) until every upstream has had its first connection attempt.
    pub async fn wait_ready(&self, limit: Duration) {
        let n = self.state.upstreams.len();
        let mut rx = self.state.started.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|&s| s >= n)).await;
    }

    /// Stops taking work: upstreams are closed and sessions ended.
    pub async fn shutdown(&self) {
        self.state.shutdown.cancel();
        let sessions: Vec<_> = lock(&self.state.sessions).drain().map(|(_, s)| s).collect();
        let conns: Vec<_> = self
            .state
            .upstreams
            .iter()
            .filter_map(|u| lock(&u.conn).take())
            .collect();
        // Every upstream stops at once: shutdown takes one grace period, not one per session.
        futures::future::join(
            futures_join(sessions.iter().map(|s| self.end_session(s))),
            futures_join(conns.iter().map(|c| c.close())),
        )
        .await;
    }

    pub fn is_shutting_down(&self) -> bool {
        self.state.shutdown.is_cancelled()
    }

    // ----- sessions -------------------------------------------------------------------------

    /// Handles `initialize`: negotiates, creates the session, and returns it with the raw result.
    pub fn initialize(
        &self,
        params: Option<&str>,
    ) -> Result<(Arc<Session>, String), SessionRefused> {
        let params = params.filter(|p| p.starts_with('{')).ok_or_else(|| {
            SessionRefused::Invalid(error::invalid_params("initialize requires params"))
        })?;
        let requested = object::get_str(params, "protocolVersion").ok_or_else(|| {
            SessionRefused::Invalid(error::invalid_params(
                "initialize requires params.protocolVersion",
            ))
        })?;
        let revision = switchboard_protocol::Revision::negotiate_served(&requested);
        let caps = ClientCaps::parse(object::get(params, "capabilities"));
        let client_info = object::get(params, "clientInfo").unwrap_or("{}");
        let max = self.state.config.sessions.max_sessions;
        let session = {
            let mut sessions = lock(&self.state.sessions);
            if sessions.len() >= max {
                return Err(SessionRefused::TooMany(max));
            }
            let id = new_session_id();
            let key = self.state.next_key.fetch_add(1, Ordering::Relaxed);
            let s = Arc::new(Session::new(id.clone(), key, revision, caps, client_info));
            sessions.insert(id, s.clone());
            s
        };
        tracing::debug!(session = %session.id, %revision, client = %session.client_info, "session opened");
        // Tasks exist from 2025-11-25 on; older clients are not told about them.
        let tasks = if revision.has_tasks() {
            r#","tasks":{"list":{},"cancel":{},"requests":{"tools":{"call":{}}}}"#
        } else {
            ""
        };
        let result = format!(
            "{{\"protocolVersion\":\"{revision}\",\"capabilities\":{{\"tools\":{{\"listChanged\":true}},\"prompts\":{{\"listChanged\":true}},\"resources\":{{\"subscribe\":true,\"listChanged\":true}},\"logging\":{{}},\"completions\":{{}}{tasks}}},\"serverInfo\":{{\"name\":\"switchboard\",\"title\":\"switchboard MCP gateway\",\"version\":\"{}\"}}}}",
            env!("CARGO_PKG_VERSION")
        );
        Ok((session, result))
    }

    /// A session by id (touching it), if it exists.
    pub fn session(&self, id: &str) -> Option<Arc<Session>> {
        let s = lock(&self.state.sessions).get(id).cloned();
        if let Some(s) = &s {
            s.touch();
        }
        s
    }

    pub fn session_count(&self) -> usize {
        lock(&self.state.sessions).len()
    }

    /// Ends a session (DELETE, expiry, stdio EOF): cancels its requests, drops its subscriptions and
    /// closes its isolated upstream sessions. False when it did not exist.
    pub async fn close_session(&self, id: &str) -> bool {
        let s = lock(&self.state.sessions).remove(id);
        match s {
            Some(s) => {
                self.end_session(&s).await;
                true
            }
            None => false,
        }
    }

    async fn end_session(&self, s: &Arc<Session>) {
        s.closed.cancel();
        self.state.tasks.forget_session(&s.id);
        let uris: Vec<String> = lock(&s.subscriptions).drain().collect();
        for uri in uris {
            self.release_subscription(&uri).await;
        }
        let isolated: Vec<Connection> = s.isolated.lock().await.drain().map(|(_, c)| c).collect();
        futures_join(isolated.iter().map(|c| c.close())).await;
        tracing::debug!(session = %s.id, "session closed");
    }

    async fn sweep_sessions(&self) {
        let ttl = self.state.config.sessions.idle_ttl;
        let period = (ttl / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.state.shutdown.cancelled() => return,
            }
            let expired: Vec<Arc<str>> = lock(&self.state.sessions)
                .values()
                .filter(|s| s.idle_for() > ttl && s.in_flight() == 0)
                .map(|s| s.id.clone())
                .collect();
            for id in expired {
                tracing::debug!(session = %id, "session expired");
                self.close_session(&id).await;
            }
        }
    }

    // ----- upstream supervision ---------------------------------------------------------------

    async fn supervise(&self, up: Arc<Upstream>) {
        let mut failures = 0u32;
        let mut first = true;
        loop {
            if self.state.shutdown.is_cancelled() {
                return;
            }
            up.set_health(Health::Starting, None);
            let (tx, mut rx) = mpsc::channel(1024);
            let opts = up.connect_options(
                SHARED_CAPABILITIES.to_owned(),
                self.state.reaper.clone(),
                self.replay(up.idx, None),
            );
            match Connection::connect(opts, tx).await {
                Ok(conn) => {
                    up.record_era(&conn);
                    // Listing and publishing run beside the reading of the upstream's own messages:
                    // a server may ask something (roots/list) before it answers tools/list.
                    let first_start = std::mem::take(&mut first);
                    let setup = async {
                        let lists = fetch_lists(&conn).await;
                        note_param_headers(&conn, &lists);
                        lock(&up.status).revision = Some(conn.revision());
                        *lock(&up.lists) = Some(Arc::new(lists));
                        *lock(&up.conn) = Some(conn.clone());
                        *lock(&up.sent_level) = None;
                        up.set_health(Health::Ready, None);
                        tracing::info!(upstream = up.name(), revision = %conn.revision(), "upstream ready");
                        self.rebuild_catalog();
                        if first_start {
                            self.state.started.send_modify(|n| *n += 1);
                        }
                        self.replay_shared_state(&up, &conn).await;
                    };
                    tokio::pin!(setup);
                    let mut set_up = false;
                    let pinger = tokio::spawn(keep_alive(conn.clone()));
                    let reason = loop {
                        tokio::select! {
                            () = &mut setup, if !set_up => set_up = true,
                            m = rx.recv() => match m {
                                Some(Inbound::Message(msg)) => self.on_upstream_message(&up, &conn, msg, None),
                                Some(Inbound::Closed(r)) => break r,
                                None => break "connection dropped".to_owned(),
                            },
                            r = conn.closed() => break r,
                            _ = self.state.shutdown.cancelled() => {
                                pinger.abort();
                                return;
                            }
                        }
                    };
                    if set_up {
                        failures = 0;
                    } else if first_start {
                        // Closed before it was ready: the first attempt is over all the same.
                        self.state.started.send_modify(|n| *n += 1);
                    }
                    pinger.abort();
                    conn.close().await;
                    lock(&up.conn).take();
                    lock(&up.lists).take();
                    up.set_health(Health::Down, Some(reason));
                    self.rebuild_catalog();
                }
                Err(e) => {
                    tracing::warn!(upstream = up.name(), "upstream failed to start: {e}");
                    up.set_health(Health::Down, Some(e.to_string()));
                    if std::mem::take(&mut first) {
                        self.state.started.send_modify(|n| *n += 1);
                    }
                }
            }
            failures += 1;
            tokio::select! {
                _ = tokio::time::sleep(backoff(failures)) => {}
                _ = self.state.shutdown.cancelled() => return,
            }
        }
    }

    /// After a reconnect, the new upstream session gets the log level and subscriptions clients
    /// still hold.
    async fn replay_shared_state(&self, up: &Arc<Upstream>, conn: &Connection) {
        // A modern upstream keeps no such state: the level rides on each request, and changes
        // and held URIs come through its listen.
        if conn.is_modern() {
            *lock(&up.listen) = listen::UpstreamListen::default();
            self.sync_upstream_listen(up);
            return;
        }
        self.sync_level(up).await;
        // Sessions' and listens' URIs alike: a new upstream session knows none of them.
        let mut uris = self.held_uris();
        uris.sort();
        uris.dedup();
        if up.cfg.session != switchboard_config::SessionMode::Shared {
            return;
        }
        for uri in uris {
            if self.resource_owner(&uri).is_some_and(|o| o.idx == up.idx) {
                let p = format!("{{\"uri\":{}}}", object::json_string(&uri));
                if let Err(e) = conn
                    .request("resources/subscribe", Some(&p), Default::default())
                    .await
                {
                    tracing::warn!(upstream = up.name(), %uri, "re-subscribing after reconnect failed: {e}");
                }
            }
        }
    }

    /// What a connection to upstream `idx` tells a re-created upstream session (an HTTP upstream
    /// that expired it) again: for the shared connection, the level last sent and the URIs held
    /// on it, as `replay_shared_state` sends them after a reconnect; for `session`'s isolated
    /// one, that session's level and subscriptions. Read when the replay happens; it holds the
    /// gateway and the session weakly, as the connection it goes into lives inside both.
    fn replay(&self, idx: usize, session: Option<&Arc<Session>>) -> Replay {
        let gw = Arc::downgrade(&self.state);
        let session = session.map(Arc::downgrade);
        Replay::new(move || {
            let Some(state) = gw.upgrade() else {
                return Vec::new();
            };
            let gw = Gateway { state };
            let Some(up) = gw.state.upstreams.get(idx) else {
                return Vec::new();
            };
            let shared = up.connection();
            if shared.as_ref().is_some_and(Connection::is_modern) {
                return Vec::new();
            }
            let (level, mut uris) = match &session {
                None if up.cfg.session == switchboard_config::SessionMode::Shared => {
                    (*lock(&up.sent_level), gw.held_uris())
                }
                None => (*lock(&up.sent_level), Vec::new()),
                Some(s) => {
                    let Some(s) = s.upgrade() else {
                        return Vec::new();
                    };
                    // A session's level reaches its own connection only if the upstream logs.
                    let logs = shared.and_then(|c| c.info().map(|i| i.has("logging")));
                    let level = s.level().filter(|_| logs == Some(true));
                    (level, lock(&s.subscriptions).iter().cloned().collect())
                }
            };
            let mut plan = Vec::new();
            if let Some(l) = level {
                let p = format!("{{\"level\":\"{}\"}}", l.as_str());
                plan.push(("logging/setLevel".to_owned(), p));
            }
            uris.sort();
            uris.dedup();
            for uri in uris {
                if gw.resource_owner(&uri).is_some_and(|o| o.idx == idx) {
                    let p = format!("{{\"uri\":{}}}", object::json_string(&uri));
                    plan.push(("resources/subscribe".to_owned(), p));
                }
            }
            plan
        })
    }

    /// Rebuilds the catalog from every upstream's current lists and tells every session which
    /// lists changed.
    fn rebuild_catalog(&self) {
        let _serial = lock(&self.state.rebuild);
        let lists: Vec<Option<Arc<catalog::Lists>>> = self
            .state
            .upstreams
            .iter()
            .map(|u| lock(&u.lists).clone())
            .collect();
        let sources: Vec<Source<'_>> = self
            .state
            .upstreams
            .iter()
            .zip(&lists)
            .map(|(u, l)| Source {
                name: u.name(),
                prefix: &u.cfg.prefix,
                lists: l.as_deref(),
            })
            .collect();
        let new = Catalog::build(&sources, &self.state.config.namespace_separator);
        let old = self.state.catalog.swap(Arc::new(new));
        let new = self.state.catalog.load();
        // Reported once, when an item starts being withheld (rebuilds happen often).
        for w in new.withheld.iter().filter(|w| !old.withheld.contains(w)) {
            tracing::warn!(upstream = %w.upstream, item = %w.name, kind = w.kind.key(), "withheld: {}", w.reason);
        }
        let mut sent = Vec::new();
        for kind in ListKind::ALL {
            let n = kind.changed_notification();
            if !sent.contains(&n) && old.differs(&new, kind) {
                sent.push(n);
                self.broadcast(Bytes::from(encode::notification(n, None)));
                self.state.listeners.list_changed(n);
            }
        }
    }

    fn broadcast(&self, msg: Bytes) {
        for s in lock(&self.state.sessions).values() {
            s.push(msg.clone());
        }
    }

    /// A message from an upstream that no request claimed. `owner` is set for an isolated
    /// connection, whose messages concern one session only.
    fn on_upstream_message(
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
                        for s in lock(&self.state.sessions).values() {
                            if s.is_subscribed(&uri) {
                                s.push(bytes.clone());
                            }
                        }
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
                let Some(session) = lock(&self.state.sessions).get(&owner).cloned() else {
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
                let deliver = |s: &Arc<Session>| {
                    if s.level().is_some_and(|l| l.admits(level)) {
                        s.push(out.clone());
                    }
                };
                match owner {
                    Some(s) => deliver(s),
                    None => lock(&self.state.sessions).values().for_each(deliver),
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
        if let Some(up) = self
            .state
            .upstreams
            .iter()
            .find(|u| u.name() == conn.name())
        {
            self.on_upstream_message(up, conn, msg, None);
        }
    }

    async fn refresh(&self, up: &Arc<Upstream>, conn: &Connection, kinds: &[ListKind]) {
        let mut lists = match lock(&up.lists).as_deref() {
            Some(l) => l.clone(),
            None => return,
        };
        for &kind in kinds {
            match fetch_list(conn, kind).await {
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

    /// Sends the shared connection the most verbose level any session asked for, if it changed.
    async fn sync_level(&self, up: &Arc<Upstream>) {
        let Some(conn) = up.connection() else { return };
        if conn.is_modern() || !conn.info().is_some_and(|i| i.has("logging")) {
            return;
        }
        let wanted = lock(&self.state.sessions)
            .values()
            .filter_map(|s| s.level())
            .min();
        let Some(wanted) = wanted else { return };
        {
            let mut sent = lock(&up.sent_level);
            if *sent == Some(wanted) {
                return;
            }
            *sent = Some(wanted);
        }
        let p = format!("{{\"level\":\"{}\"}}", wanted.as_str());
        if let Err(e) = conn
            .request("logging/setLevel", Some(&p), Default::default())
            .await
        {
            tracing::warn!(upstream = up.name(), "logging/setLevel failed: {e}");
        }
    }

    /// How many sessions and listens hold a subscription to `uri`. The upstream side of a shared
    /// subscription follows from this (subscribed while it is above zero); nothing else counts.
    pub(crate) fn subscription_holders(&self, uri: &str) -> usize {
        lock(&self.state.sessions)
            .values()
            .filter(|s| s.is_subscribed(uri))
            .count()
            + self.state.listeners.holders(uri)
    }

    /// After a session let go of `uri` (unsubscribe, or the session ended): the shared upstream
    /// is unsubscribed when nobody holds it any more.
    async fn release_subscription(&self, uri: &str) {
        let Some(up) = self.resource_owner(uri) else {
            return;
        };
        if up.cfg.session != switchboard_config::SessionMode::Shared
            || self.subscription_holders(uri) > 0
        {
            return;
        }
        if up.connection().is_some_and(|c| c.is_modern()) {
            self.sync_upstream_listen(&up);
            return;
        }
        if let Some(conn) = up.connection() {
            let p = format!("{{\"uri\":{}}}", object::json_string(uri));
            let _ = conn
                .request("resources/unsubscribe", Some(&p), Default::default())
                .await;
        }
    }

    /// The connection a session's request to upstream `idx` uses: the shared one, or the session's
    /// own for `session: isolated` upstreams (started on first use).
    async fn connection_for(
        &self,
        session: &Arc<Session>,
        up: &Arc<Upstream>,
    ) -> Result<Connection, RpcError> {
        if up.cfg.session == switchboard_config::SessionMode::Shared {
            return up
                .connection()
                .ok_or_else(|| error::upstream_down(up.name(), up.last_error().as_deref()));
        }
        // Boxed: starting a connection is a large future, and every request future would
        // otherwise carry room for it, shared upstreams' included.
        Box::pin(self.isolated_connection(session, up)).await
    }

    /// A session's own connection to an `isolated` upstream, started on first use.
    async fn isolated_connection(
        &self,
        session: &Arc<Session>,
        up: &Arc<Upstream>,
    ) -> Result<Connection, RpcError> {
        let mut isolated = session.isolated.lock().await;
        if let Some(c) = isolated.get(&up.idx).filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let (tx, mut rx) = mpsc::channel(256);
        let opts = up.connect_options(
            relay::declared_capabilities(session),
            self.state.reaper.clone(),
            self.replay(up.idx, Some(session)),
        );
        let conn = Connection::connect(opts, tx)
            .await
            .map_err(|e| error::upstream(up.name(), &e))?;
        up.record_era(&conn);
        if session.closed.is_cancelled() {
            // The session ended while this one was starting: nobody will close it later.
            conn.close().await;
            return Err(error::upstream_down(
                up.name(),
                Some("the client session ended"),
            ));
        }
        isolated.insert(up.idx, conn.clone());
        let gw = self.clone();
        let s = session.clone();
        let up2 = up.clone();
        let c2 = conn.clone();
        // Ends with the connection or the session, whichever goes first; it must not keep either
        // alive (the connection holds this channel's sender, so the channel alone never closes).
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(Inbound::Message(m)) => gw.on_upstream_message(&up2, &c2, m, Some(&s)),
                        _ => break,
                    },
                    _ = c2.closed() => break,
                    _ = s.closed.cancelled() => break,
                }
            }
        });
        Ok(conn)
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

    /// The `/status` document: every upstream's health and what the catalog withheld.
    pub fn status_json(&self) -> String {
        let catalog = self.catalog();
        let mut s = String::from("{\"upstreams\":[");
        for (i, up) in self.state.upstreams.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let st = lock(&up.status);
            let count = |k: ListKind| match k {
                ListKind::Tools => catalog.tools.iter().filter(|e| e.upstream == i).count(),
                ListKind::Prompts => catalog.prompts.iter().filter(|e| e.upstream == i).count(),
                ListKind::Resources => catalog.resources.iter().filter(|e| e.upstream == i).count(),
                ListKind::Templates => catalog
                    .templates
                    .iter()
                    .filter(|t| t.entry.upstream == i)
                    .count(),
            };
            s.push_str(&format!(
                "{{\"name\":{},\"kind\":\"{}\",\"prefix\":{},\"session\":\"{}\",\"state\":\"{}\",\"since_seconds\":{},\"restarts\":{},\"revision\":{},\"error\":{},\"tools\":{},\"prompts\":{},\"resources\":{},\"resource_templates\":{}}}",
                object::json_string(up.name()),
                up.kind(),
                object::json_string(&up.cfg.prefix),
                if up.cfg.session == switchboard_config::SessionMode::Shared { "shared" } else { "isolated" },
                st.health.as_str(),
                st.since.elapsed().as_secs(),
                st.restarts,
                st.revision.map_or("null".to_owned(), |r| format!("\"{r}\"")),
                st.error.as_deref().map_or("null".to_owned(), object::json_string),
                count(ListKind::Tools),
                count(ListKind::Prompts),
                count(ListKind::Resources),
                count(ListKind::Templates),
            ));
        }
        s.push_str("],\"withheld\":[");
        for (i, w) in catalog.withheld.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!(
                "{{\"kind\":\"{}\",\"upstream\":{},\"name\":{},\"reason\":{}}}",
                w.kind.key(),
                object::json_string(&w.upstream),
                object::json_string(&w.name),
                object::json_string(&w.reason)
            ));
        }
        s.push_str(&format!(
            "],\"sessions\":{},\"listens\":{},\"held_calls\":{}}}",
            self.session_count(),
            self.state.listeners.len(),
            self.held_calls()
        ));
        s
    }
}

/// How often an idle upstream is pinged, and how many missed pings mark it dead.
const PING_EVERY: Duration = Duration::from_secs(15);
const PING_MISSES: u32 = 2;

/// Pings the upstream periodically; a hung upstream (alive but not answering) is closed so its
/// supervisor restarts it, instead of every call to it waiting out its timeout forever.
async fn keep_alive(conn: Connection) {
    // 2026-07-28 has no ping: a modern upstream's health shows in its requests and its process.
    if conn.is_modern() {
        return;
    }
    let mut misses = 0;
    loop {
        tokio::time::sleep(PING_EVERY).await;
        let ctx = switchboard_upstream::RequestCtx::with_timeout(PING_EVERY);
        match conn.request("ping", None, ctx).await {
            Ok(_) => misses = 0,
            Err(e) => {
                misses += 1;
                tracing::warn!(upstream = conn.name(), misses, "ping failed: {e}");
                if misses >= PING_MISSES {
                    conn.close().await;
                    return;
                }
            }
        }
    }
}

/// Tells a modern connection which of its tools mirror arguments into `Mcp-Param-*` headers.
fn note_param_headers(conn: &Connection, lists: &catalog::Lists) {
    if !conn.is_modern() {
        return;
    }
    let map = lists
        .tools
        .iter()
        .filter(|t| t.contains("x-mcp-header"))
        .filter_map(|t| {
            let name = object::get_str(t, "name")?.into_owned();
            let schema = object::get(t, "inputSchema")?;
            let h = switchboard_protocol::headers::param_headers(schema).ok()?;
            (!h.is_empty()).then(|| (name, h.into()))
        })
        .collect();
    conn.set_param_headers(map);
}

/// Runs futures to completion concurrently.
async fn futures_join<F: std::future::Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    futures::future::join_all(futs).await;
}

/// Rewrites a member of a raw params object, for the pipeline's name rewrites.
pub(crate) fn set_member(params: &str, key: &str, raw: &str) -> Option<String> {
    object::edit(params, &[(key, Edit::Set(raw))])
}
