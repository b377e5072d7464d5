//! Keeping an upstream alive: connect, list, publish, replay shared state, watch, reconnect.
//!
//! A supervisor task per upstream connects, fetches the lists, publishes them to the catalog,
//! then drains the connection's unclaimed messages until it closes; then it records why,
//! withdraws the upstream's items, and reconnects with backoff. One broken upstream never holds
//! up another: each has its own task, and calls to an upstream that is down fail at once with an
//! error naming it. Upstreams can be added, replaced and removed at run time: each supervisor
//! ends with its upstream's own stop token.

use std::sync::Arc;
use std::time::Duration;

use switchboard_config::{StartMode, UpstreamConfig};
use switchboard_protocol::object;
use switchboard_upstream::{Backoff, Connection, Inbound};
use tokio::sync::mpsc;

use super::lists::fetch_lists;
use super::{Health, Upstream};
use crate::Gateway;
use crate::catalog;
use switchboard_protocol::lock;

/// Capabilities a shared upstream session declares: everything a client might have. Whether the
/// client behind a given request really has it is checked per request (see `call::relay`).
const SHARED_CAPABILITIES: &str =
    r#"{"sampling":{},"elicitation":{"form":{},"url":{}},"roots":{"listChanged":true}}"#;

impl Gateway {
    pub(crate) fn spawn_supervisor(&self, up: Arc<Upstream>) {
        if let switchboard_config::Transport::Builtin { kind, settings } = &up.cfg.transport {
            up.builtin.get_or_init(|| {
                let cx = switchboard_connectors::Context {
                    upstream: up.cfg.name.clone(),
                    operations: Some(Arc::new(crate::operations::Ops::new(self))),
                    egress: Some(super::outbound::egress_policy(&self.state.config, &up.cfg)),
                };
                switchboard_connectors::server(kind, settings, &cx)
            });
        }
        if up.group().is_some() {
            // Nothing to connect: it is as ready as its members, worked out with the catalog.
            self.first_attempt_over(&up);
            return;
        }
        super::outbound::warn_at_start(&up.cfg);
        let gw = self.clone();
        tokio::spawn(async move { gw.supervise(up).await });
    }

    /// Adds an upstream at run time, or replaces the one with the same name (whose supervisor,
    /// shared connection and items go, while every other upstream keeps serving untouched).
    pub async fn upsert_upstream(&self, cfg: UpstreamConfig) {
        let metrics = self.state.metrics.upstream(&cfg.name);
        let up = Arc::new(Upstream::new(
            cfg,
            &self.state.config.limits,
            self.state.shutdown.child_token(),
            metrics,
        ));
        if let Some(old) = self.state.upstreams.upsert(up.clone()) {
            self.retire(&old).await;
        }
        self.rebuild_catalog();
        self.spawn_supervisor(up);
    }

    /// Stops upstream `name` until [`Gateway::start_upstream`]: its connection closes, its items
    /// leave the catalog, and calls to it fail at once (its last error says it was stopped).
    pub async fn stop_upstream(&self, name: &str) -> Result<String, String> {
        let old = self.known_upstream(name)?;
        if old.stopped.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(format!("upstream `{name}` was already stopped"));
        }
        let up = Arc::new(Upstream::new(
            old.cfg.clone(),
            &self.state.config.limits,
            self.state.shutdown.child_token(),
            self.state.metrics.upstream(name),
        ));
        up.stopped.store(true, std::sync::atomic::Ordering::Release);
        up.set_health(
            Health::Failed,
            Some("stopped by an operator (management stop); start it again with start".to_owned()),
        );
        up.mark_attempted();
        if let Some(old) = self.state.upstreams.upsert(up) {
            self.retire(&old).await;
        }
        self.rebuild_catalog();
        Ok(format!("upstream `{name}` stopped"))
    }

    /// Starts an upstream that [`Gateway::stop_upstream`] stopped.
    pub async fn start_upstream(&self, name: &str) -> Result<String, String> {
        let old = self.known_upstream(name)?;
        if !old.stopped.load(std::sync::atomic::Ordering::Acquire) {
            return Err(format!(
                "upstream `{name}` is not stopped (it is {}); use restart to start it afresh",
                old.health().as_str()
            ));
        }
        self.upsert_upstream(old.cfg.clone()).await;
        self.wait_attempt(name).await;
        Ok(format!("upstream `{name}` started"))
    }

    /// Replaces upstream `name` with a fresh one of the same config (a new process or client).
    pub async fn restart_upstream(&self, name: &str) -> Result<String, String> {
        let old = self.known_upstream(name)?;
        self.upsert_upstream(old.cfg.clone()).await;
        self.wait_attempt(name).await;
        Ok(format!("upstream `{name}` restarted"))
    }

    fn known_upstream(&self, name: &str) -> Result<Arc<Upstream>, String> {
        let up = self
            .state
            .upstreams
            .get(name)
            .ok_or_else(|| format!("no upstream `{name}`"))?;
        if up.group().is_some() {
            return Err(format!(
                "`{name}` is a group: it has no connection of its own; stop, start or restart its members"
            ));
        }
        Ok(up)
    }

    /// Waits (up to the upstream's timeout) for the first attempt of the upstream now named
    /// `name` to end, so the answer can say how it went.
    async fn wait_attempt(&self, name: &str) {
        let Some(up) = self.state.upstreams.get(name) else {
            return;
        };
        let mut attempts = up.attempts.subscribe();
        if *attempts.borrow_and_update() > 0 {
            return;
        }
        let _ = tokio::time::timeout(up.cfg.timeout, attempts.changed()).await;
    }

    /// Removes an upstream at run time: its supervisor ends, its connection closes, its items
    /// leave the catalog. False when there was none of that name.
    pub async fn remove_upstream(&self, name: &str) -> bool {
        let Some(old) = self.state.upstreams.remove(name) else {
            return false;
        };
        self.retire(&old).await;
        self.state.metrics.forget_upstream(name);
        self.rebuild_catalog();
        self.state.started.send_modify(|n| *n += 1);
        true
    }

    async fn supervise(&self, up: Arc<Upstream>) {
        let mut failures = 0u32;
        // A lazy upstream's first connection only discovers its catalog, then it goes cold.
        let mut discovering = up.cfg.start == StartMode::Lazy;
        let mut cold = false;
        loop {
            if up.stop.is_cancelled() {
                return;
            }
            if cold {
                // Until a call needs it (`Upstream::await_restart` wakes it). A wake-up left
                // over from calls already served finds nobody waiting and is ignored.
                while up.waiting.load(std::sync::atomic::Ordering::Acquire) == 0 {
                    tokio::select! {
                        () = up.wake.notified() => {}
                        () = up.stop.cancelled() => return,
                    }
                }
                cold = false;
                up.metrics.cold_start();
                tracing::info!(upstream = up.name(), "starting on first use");
            }
            up.set_health(Health::Starting, None);
            let (tx, mut rx) = mpsc::channel(1024);
            let Some(opts) = up.connect_options(
                &self.state.config,
                SHARED_CAPABILITIES.to_owned(),
                self.state.reaper.clone(),
                self.replay(&up, None),
            ) else {
                return;
            };
            match Connection::connect(opts, tx).await {
                Ok(conn) => {
                    up.record_era(&conn);
                    // Listing and publishing run beside the reading of the upstream's own messages:
                    // a server may ask something (roots/list) before it answers tools/list.
                    let setup = async {
                        let lists = fetch_lists(&conn, &up.cfg).await;
                        note_param_headers(&conn, &lists);
                        lock(&up.status).revision = Some(conn.revision());
                        *lock(&up.lists) = Some(Arc::new(lists));
                        *lock(&up.conn) = Some(conn.clone());
                        *lock(&up.sent_level) = None;
                        up.set_health(Health::Ready, None);
                        tracing::info!(upstream = up.name(), revision = %conn.revision(), "upstream ready");
                        self.rebuild_catalog();
                        self.first_attempt_over(&up);
                        up.attempts.send_modify(|n| *n += 1);
                        self.replay_shared_state(&up, &conn).await;
                    };
                    tokio::pin!(setup);
                    let mut set_up = false;
                    let pinger = tokio::spawn(keep_alive(up.clone(), conn.clone()));
                    let lifecycle = discovering || up.cfg.idle_timeout.is_some();
                    let mut tick = tokio::time::interval(idle_check_every(&up));
                    let reason = loop {
                        tokio::select! {
                            () = &mut setup, if !set_up => set_up = true,
                            _ = tick.tick(), if set_up && lifecycle => {
                                if let Some(why) = self.may_go_cold(&up, discovering) {
                                    break End::Cold(why);
                                }
                            }
                            m = rx.recv() => match m {
                                Some(Inbound::Message(msg)) => self.on_upstream_message(&up, &conn, msg, None),
                                Some(Inbound::Closed(r)) => break End::Closed(r),
                                None => break End::Closed("connection dropped".to_owned()),
                            },
                            r = conn.closed() => break End::Closed(r),
                            _ = up.stop.cancelled() => {
                                // Removed or replaced: this connection goes too, even if it was
                                // published after the remover looked. (At shutdown,
                                // `Gateway::shutdown` closes every connection itself, at once.)
                                pinger.abort();
                                if !self.is_shutting_down() {
                                    lock(&up.conn).take();
                                    conn.close().await;
                                }
                                return;
                            }
                        }
                    };
                    if set_up {
                        failures = 0;
                    } else {
                        // Closed before it was ready: the first attempt is over all the same.
                        self.first_attempt_over(&up);
                    }
                    pinger.abort();
                    let reason = match reason {
                        End::Closed(r) => r,
                        End::Cold(why) => {
                            // Stopped on purpose: its catalog stays, and nothing is withdrawn.
                            conn.close().await;
                            discovering = false;
                            cold = true;
                            up.set_health(Health::Cold, Some(why));
                            continue;
                        }
                    };
                    conn.close().await;
                    lock(&up.conn).take();
                    lock(&up.lists).take();
                    up.set_health(Health::Failed, Some(reason));
                    self.rebuild_catalog();
                }
                Err(e) => {
                    tracing::warn!(upstream = up.name(), "upstream failed to start: {e}");
                    up.set_health(Health::Failed, Some(e.to_string()));
                    self.first_attempt_over(&up);
                    up.attempts.send_modify(|n| *n += 1);
                }
            }
            failures += 1;
            let delay = backoff(failures);
            *lock(&up.next_attempt) = Some(std::time::Instant::now() + delay);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = up.stop.cancelled() => return,
            }
            lock(&up.next_attempt).take();
        }
    }

    /// Whether a connected upstream should stop now, and why: right after a lazy upstream's
    /// catalog was discovered, or after `idle_timeout` without a client call, while no client
    /// holds a subscription it serves. Its connection is taken from callers before it goes.
    fn may_go_cold(&self, up: &Arc<Upstream>, discovering: bool) -> Option<String> {
        let why = if discovering {
            "catalog discovered; it starts on first use (start: lazy)".to_owned()
        } else {
            let limit = up.cfg.idle_timeout?;
            let idle = up.idle_for();
            if idle < limit {
                return None;
            }
            // A subscription it must keep alive is use, however quiet.
            let held = self.held_uris();
            if held
                .iter()
                .any(|u| self.serving_upstream(u).is_some_and(|o| o.id == up.id))
            {
                return None;
            }
            format!("idle for {}s (idle_timeout)", idle.as_secs())
        };
        let conn = lock(&up.conn).take();
        // A call that took the connection just now keeps it.
        if up.active.load(std::sync::atomic::Ordering::Acquire) > 0 {
            *lock(&up.conn) = conn;
            return None;
        }
        Some(why)
    }

    fn first_attempt_over(&self, up: &Upstream) {
        if up.mark_attempted() {
            self.state.started.send_modify(|n| *n += 1);
        }
    }
}

/// How a connection's life ended.
enum End {
    /// It closed or failed: restart with backoff.
    Closed(String),
    /// Stopped on purpose (discovered, or idle): wait cold for a call.
    Cold(String),
}

/// How often a connected upstream is checked for going cold.
fn idle_check_every(up: &Upstream) -> Duration {
    match up.cfg.idle_timeout {
        Some(t) => (t / 4).clamp(Duration::from_millis(50), Duration::from_secs(5)),
        None => Duration::from_millis(50),
    }
}

impl Gateway {
    /// Ends a removed or replaced upstream: its supervisor stops, its shared connection closes,
    /// and so do the sessions' own connections to it (`session: isolated`); a session that
    /// calls it again opens one to its replacement.
    pub(crate) async fn retire(&self, up: &Upstream) {
        up.stop.cancel();
        let conn = lock(&up.conn).take();
        lock(&up.lists).take();
        if let Some(c) = conn {
            c.close().await;
        }
        if up.cfg.session == switchboard_config::SessionMode::Isolated {
            let mut sessions = Vec::new();
            self.state
                .sessions
                .store()
                .for_each(&mut |s| sessions.push(s.clone()));
            for s in sessions {
                let own = s.isolated.lock().await.remove(&up.id);
                if let Some(c) = own {
                    c.close().await;
                }
            }
        }
    }
}

/// Checks the upstream periodically (`health:`): `ping` for a handshake-era one,
/// `server/discover` for a 2026-07-28 one (which has no ping). One unanswered check makes it
/// `degraded`; `health.failures` in a row close the connection, so its supervisor restarts it
/// instead of every call to a hung upstream waiting out its timeout.
async fn keep_alive(up: Arc<Upstream>, conn: Connection) {
    let health = &up.cfg.health;
    let method = if conn.is_modern() {
        "server/discover"
    } else {
        "ping"
    };
    let mut misses = 0;
    loop {
        tokio::time::sleep(health.interval).await;
        let ctx = switchboard_upstream::RequestCtx::with_timeout(health.timeout);
        match conn.request(method, None, ctx).await {
            Ok(_) => {
                up.metrics
                    .health_check(switchboard_telemetry::HealthCheck::Ok);
                if misses > 0 {
                    up.set_health(Health::Ready, None);
                }
                misses = 0;
            }
            Err(e) => {
                up.metrics.health_check(match e {
                    switchboard_upstream::UpstreamError::Timeout(_) => {
                        switchboard_telemetry::HealthCheck::Timeout
                    }
                    _ => switchboard_telemetry::HealthCheck::Error,
                });
                misses += 1;
                let why = format!("{method} unanswered ({misses} of {}): {e}", health.failures);
                if misses >= health.failures {
                    up.set_health(Health::Degraded, Some(why.clone()));
                    tracing::warn!(
                        upstream = up.name(),
                        "closing an unresponsive upstream: {why}"
                    );
                    conn.close().await;
                    return;
                }
                up.set_health(Health::Degraded, Some(why));
            }
        }
    }
}

/// Tells a modern connection which of its tools mirror arguments into `Mcp-Param-*` headers.
pub(crate) fn note_param_headers(conn: &Connection, lists: &catalog::Lists) {
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

/// How long a supervisor waits before reconnecting: 0.5 s doubling to 30 s.
const RECONNECT: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

/// Delay before reconnect attempt `n` (1-based), jittered so that upstreams that failed together
/// do not all retry together.
fn backoff(n: u32) -> Duration {
    RECONNECT.jittered(n.saturating_sub(1))
}
