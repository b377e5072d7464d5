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

use switchboard_config::UpstreamConfig;
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

/// How often an idle upstream is pinged, and how many missed pings mark it dead.
const PING_EVERY: Duration = Duration::from_secs(15);
const PING_MISSES: u32 = 2;

impl Gateway {
    pub(crate) fn spawn_supervisor(&self, up: Arc<Upstream>) {
        let gw = self.clone();
        tokio::spawn(async move { gw.supervise(up).await });
    }

    /// Adds an upstream at run time, or replaces the one with the same name (whose supervisor,
    /// shared connection and items go, while every other upstream keeps serving untouched).
    pub async fn upsert_upstream(&self, cfg: UpstreamConfig) {
        let metrics = self.state.metrics.upstream(&cfg.name);
        let up = Arc::new(Upstream::new(
            cfg,
            self.state.shutdown.child_token(),
            metrics,
        ));
        if let Some(old) = self.state.upstreams.upsert(up.clone()) {
            retire(&old).await;
        }
        self.rebuild_catalog();
        self.spawn_supervisor(up);
    }

    /// Removes an upstream at run time: its supervisor ends, its connection closes, its items
    /// leave the catalog. False when there was none of that name.
    pub async fn remove_upstream(&self, name: &str) -> bool {
        let Some(old) = self.state.upstreams.remove(name) else {
            return false;
        };
        retire(&old).await;
        self.state.metrics.forget_upstream(name);
        self.rebuild_catalog();
        self.state.started.send_modify(|n| *n += 1);
        true
    }

    async fn supervise(&self, up: Arc<Upstream>) {
        let mut failures = 0u32;
        up.metrics.cold_start();
        loop {
            if up.stop.is_cancelled() {
                return;
            }
            up.set_health(Health::Starting, None);
            let (tx, mut rx) = mpsc::channel(1024);
            let opts = up.connect_options(
                SHARED_CAPABILITIES.to_owned(),
                self.state.reaper.clone(),
                self.replay(&up, None),
            );
            match Connection::connect(opts, tx).await {
                Ok(conn) => {
                    up.record_era(&conn);
                    // Listing and publishing run beside the reading of the upstream's own messages:
                    // a server may ask something (roots/list) before it answers tools/list.
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
                        self.first_attempt_over(&up);
                        self.replay_shared_state(&up, &conn).await;
                    };
                    tokio::pin!(setup);
                    let mut set_up = false;
                    let pinger = tokio::spawn(keep_alive(conn.clone(), up.metrics.clone()));
                    let reason = loop {
                        tokio::select! {
                            () = &mut setup, if !set_up => set_up = true,
                            m = rx.recv() => match m {
                                Some(Inbound::Message(msg)) => self.on_upstream_message(&up, &conn, msg, None),
                                Some(Inbound::Closed(r)) => break r,
                                None => break "connection dropped".to_owned(),
                            },
                            r = conn.closed() => break r,
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
                    conn.close().await;
                    lock(&up.conn).take();
                    lock(&up.lists).take();
                    up.set_health(Health::Down, Some(reason));
                    self.rebuild_catalog();
                }
                Err(e) => {
                    tracing::warn!(upstream = up.name(), "upstream failed to start: {e}");
                    up.set_health(Health::Down, Some(e.to_string()));
                    self.first_attempt_over(&up);
                }
            }
            failures += 1;
            tokio::select! {
                _ = tokio::time::sleep(backoff(failures)) => {}
                _ = up.stop.cancelled() => return,
            }
        }
    }

    fn first_attempt_over(&self, up: &Upstream) {
        if up.mark_attempted() {
            self.state.started.send_modify(|n| *n += 1);
        }
    }
}

/// Ends a removed or replaced upstream: its supervisor stops, its shared connection closes.
async fn retire(up: &Upstream) {
    up.stop.cancel();
    let conn = lock(&up.conn).take();
    lock(&up.lists).take();
    if let Some(c) = conn {
        c.close().await;
    }
}

/// Pings the upstream periodically; a hung upstream (alive but not answering) is closed so its
/// supervisor restarts it, instead of every call to it waiting out its timeout forever.
async fn keep_alive(conn: Connection, metrics: switchboard_telemetry::UpstreamMetrics) {
    // 2026-07-28 has no ping: a modern upstream's health shows in its requests and its process.
    if conn.is_modern() {
        return;
    }
    let mut misses = 0;
    loop {
        tokio::time::sleep(PING_EVERY).await;
        let ctx = switchboard_upstream::RequestCtx::with_timeout(PING_EVERY);
        match conn.request("ping", None, ctx).await {
            Ok(_) => {
                metrics.health_check(switchboard_telemetry::HealthCheck::Ok);
                misses = 0;
            }
            Err(e) => {
                metrics.health_check(match e {
                    switchboard_upstream::UpstreamError::Timeout(_) => {
                        switchboard_telemetry::HealthCheck::Timeout
                    }
                    _ => switchboard_telemetry::HealthCheck::Error,
                });
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
