//! The state many clients share on one upstream session: the log level (the most verbose any
//! session asked for) and resource subscriptions (held while any session or listen holds the
//! URI). Both are replayed when the upstream session is re-created.

use std::sync::Arc;

use switchboard_protocol::object;
use switchboard_upstream::Connection;

use super::Upstream;
use crate::Gateway;
use crate::listen;
use switchboard_protocol::lock;

impl Gateway {
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
