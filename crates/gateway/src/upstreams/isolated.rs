//! The connection a session's request uses: the upstream's shared one, or, for
//! `session: isolated` upstreams, the session's own (started on first use, ended with the
//! session), whose unclaimed messages concern that session alone.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use switchboard_protocol::RpcError;
use switchboard_upstream::{Connection, Inbound};
use tokio::sync::mpsc;

use super::Upstream;
use crate::call::relay;
use crate::sessions::Session;
use crate::{Gateway, error};

impl Gateway {
    /// The connection a session's request to `up` uses: the shared one, or the session's
    /// own for `session: isolated` upstreams (started on first use).
    pub(crate) async fn connection_for(
        &self,
        session: &Arc<Session>,
        up: &Arc<Upstream>,
    ) -> Result<Connection, RpcError> {
        if up.cfg.session == switchboard_config::SessionMode::Shared {
            if let Some(c) = up.connection() {
                return Ok(c);
            }
            // Cold (lazy or idle-stopped) or restarting: wait for it, up to its timeout.
            if up.await_restart(up.cfg.timeout).await
                && let Some(c) = up.connection()
            {
                return Ok(c);
            }
            return Err(error::upstream_down(up.name(), up.last_error().as_deref()));
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
        if let Some(c) = isolated.get(&up.id).filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        // A place under `max_sessions`, taken before connecting so concurrent first calls of
        // many sessions cannot overshoot it; given back when the connection's task ends.
        let slot = IsolatedSlot::take(up)?;
        let (tx, mut rx) = mpsc::channel(256);
        let opts = up
            .connect_options(
                &self.state.config,
                relay::declared_capabilities(session),
                self.state.reaper.clone(),
                self.replay(up, Some(session)),
            )
            .ok_or_else(|| {
                error::upstream_down(up.name(), Some("a group is reached through its members"))
            })?;
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
        isolated.insert(up.id.clone(), conn.clone());
        let gw = self.clone();
        let s = session.clone();
        let up2 = up.clone();
        let c2 = conn.clone();
        // Ends with the connection or the session, whichever goes first; it must not keep either
        // alive (the connection holds this channel's sender, so the channel alone never closes).
        tokio::spawn(async move {
            let _slot = slot;
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
}

/// One of an upstream's `max_sessions` places, held while a session's connection lives.
struct IsolatedSlot(Arc<Upstream>);

impl IsolatedSlot {
    fn take(up: &Arc<Upstream>) -> Result<IsolatedSlot, RpcError> {
        let open = up.isolated.fetch_add(1, Ordering::AcqRel);
        let slot = IsolatedSlot(up.clone());
        match up.cfg.max_sessions {
            Some(max) if open >= max => Err(error::overloaded(
                up.name(),
                &format!("it has its max_sessions of {max} isolated sessions open"),
                std::time::Duration::from_secs(1),
            )),
            _ => Ok(slot),
        }
    }
}

impl Drop for IsolatedSlot {
    fn drop(&mut self) {
        self.0.isolated.fetch_sub(1, Ordering::AcqRel);
    }
}
