//! The state many clients share on one upstream session: the log level (the most verbose any
//! session asked for) and resource subscriptions (held while any session or listen holds the
//! URI). Both are replayed when the upstream session is re-created.

use std::sync::Arc;

use switchboard_protocol::lock;
use switchboard_protocol::object;
use switchboard_upstream::{Connection, Replay};

use super::Upstream;
use crate::Gateway;
use crate::listen;
use crate::sessions::Session;

impl Gateway {
    /// What a connection to `up` tells a re-created upstream session (an HTTP upstream that
    /// expired it) again before the request that found it gone is retried: for the shared
    /// connection, the level last sent and the URIs sessions and listens hold on it, as
    /// [`Gateway::replay_shared_state`] sends them after a reconnect; for `session`'s isolated
    /// one, that session's level and subscriptions. Read when the replay happens. It holds the
    /// gateway, the upstream and the session weakly: the connection it goes into lives inside
    /// them.
    pub(crate) fn replay(&self, up: &Arc<Upstream>, session: Option<&Arc<Session>>) -> Replay {
        let gw = Arc::downgrade(&self.state);
        let weak_up = Arc::downgrade(up);
        let session = session.map(Arc::downgrade);
        Replay::new(move || {
            let (Some(state), Some(up)) = (gw.upgrade(), weak_up.upgrade()) else {
                return Vec::new();
            };
            replay_plan(&Gateway { state }, &up, session.as_ref())
        })
    }

    /// After a reconnect, the new upstream session gets the log level and subscriptions clients
    /// still hold.
    pub(crate) async fn replay_shared_state(&self, up: &Arc<Upstream>, conn: &Connection) {
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
            if self.serving_upstream(&uri).is_some_and(|o| o.id == up.id) {
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

    /// Sends the shared connection the most verbose level any session asked for, if it changed.
    pub(crate) async fn sync_level(&self, up: &Arc<Upstream>) {
        let Some(conn) = up.connection() else { return };
        if conn.is_modern() || !conn.info().is_some_and(|i| i.has("logging")) {
            return;
        }
        let mut wanted: Option<crate::level::Level> = None;
        self.state.sessions.store().for_each(&mut |s| {
            if let Some(l) = s.level() {
                wanted = Some(wanted.map_or(l, |w| w.min(l)));
            }
        });
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
        let mut held = 0;
        self.state.sessions.store().for_each(&mut |s| {
            held += usize::from(s.is_subscribed(uri));
        });
        held + self.state.listeners.holders(uri)
    }

    /// After a session let go of `uri` (unsubscribe, or the session ended): the shared upstream
    /// is unsubscribed when nobody holds it any more.
    pub(crate) async fn release_subscription(&self, uri: &str) {
        let Some(up) = self.serving_upstream(uri) else {
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
}

/// The requests [`Gateway::replay`] sends, as (method, params).
fn replay_plan(
    gw: &Gateway,
    up: &Arc<Upstream>,
    session: Option<&std::sync::Weak<Session>>,
) -> Vec<(String, String)> {
    let shared = up.connection();
    // A modern upstream keeps no session state to replay.
    if shared.as_ref().is_some_and(Connection::is_modern) {
        return Vec::new();
    }
    let (level, mut uris) = match session {
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
            (
                level,
                lock(&s.record.subscriptions).iter().cloned().collect(),
            )
        }
    };
    let mut plan = Vec::new();
    if let Some(l) = level {
        plan.push((
            "logging/setLevel".to_owned(),
            format!("{{\"level\":\"{}\"}}", l.as_str()),
        ));
    }
    uris.sort();
    uris.dedup();
    for uri in uris {
        if gw.serving_upstream(&uri).is_some_and(|o| o.id == up.id) {
            let p = format!("{{\"uri\":{}}}", object::json_string(&uri));
            plan.push(("resources/subscribe".to_owned(), p));
        }
    }
    plan
}
