//! `subscriptions/listen`: how 2026-07-28 callers hear about changes.
//!
//! A listen is one long-lived request whose response stream carries the notifications its filter
//! asked for, each tagged with the listen's id, and nothing else (no progress, no logs). The
//! gateway keeps a registry of open listens and fans out to it what it already fans out to
//! handshake sessions: its own `list_changed` when a rebuilt catalog differs, and
//! `notifications/resources/updated` for the URIs a listen holds. A held URI counts toward the
//! upstream subscription exactly like a session's `resources/subscribe`: the upstream hears one
//! subscribe per URI however many sessions and listens hold it, and an unsubscribe when the last
//! lets go.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use switchboard_protocol::message::encode;
use switchboard_protocol::meta::SUBSCRIPTION_ID;
use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{Id, Message, RpcError};
use tokio::sync::mpsc;

use crate::view::ViewKey;
use crate::{Gateway, error};
use switchboard_protocol::lock;

/// Notifications a listen may queue before its reader catches up; beyond that they are dropped
/// (a list change is idempotent, and a slow reader must not pin memory).
const QUEUE: usize = 64;

/// What one listen asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub tools: bool,
    pub prompts: bool,
    pub resources: bool,
    pub uris: Vec<String>,
}

impl Filter {
    /// Reads `params.notifications`. Absent means nothing asked for; anything but an object, or
    /// a `resourceSubscriptions` that is not a list of strings, is the caller's error.
    pub fn parse(params: Option<&str>) -> Result<Filter, RpcError> {
        let Some(n) = params.and_then(|p| object::get(p, "notifications")) else {
            return Ok(Filter::default());
        };
        if !n.starts_with('{') {
            return Err(error::invalid_params(
                "params.notifications must be an object",
            ));
        }
        let flag = |k: &str| object::get(n, k) == Some("true");
        let uris = match object::get(n, "resourceSubscriptions") {
            None | Some("null") => Vec::new(),
            Some(raw) => object::array_items(raw)
                .and_then(|items| {
                    items
                        .into_iter()
                        .map(|i| object::string_value(i).map(|s| s.into_owned()))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    error::invalid_params(
                        "params.notifications.resourceSubscriptions must be a list of URIs",
                    )
                })?,
        };
        Ok(Filter {
            tools: flag("toolsListChanged"),
            prompts: flag("promptsListChanged"),
            resources: flag("resourcesListChanged"),
            uris,
        })
    }

    fn wants(&self, notification: &str) -> bool {
        match notification {
            "notifications/tools/list_changed" => self.tools,
            "notifications/prompts/list_changed" => self.prompts,
            "notifications/resources/list_changed" => self.resources,
            _ => false,
        }
    }

    /// The filter as the acknowledgement echoes it (what is honoured).
    fn to_json(&self) -> String {
        let mut parts = Vec::new();
        if self.tools {
            parts.push("\"toolsListChanged\":true".to_owned());
        }
        if self.prompts {
            parts.push("\"promptsListChanged\":true".to_owned());
        }
        if self.resources {
            parts.push("\"resourcesListChanged\":true".to_owned());
        }
        if !self.uris.is_empty() {
            let uris: Vec<String> = self.uris.iter().map(|u| object::json_string(u)).collect();
            parts.push(format!("\"resourceSubscriptions\":[{}]", uris.join(",")));
        }
        format!("{{{}}}", parts.join(","))
    }
}

struct Listener {
    /// The listen request's id, raw: every notification is tagged with it.
    id: Id,
    filter: Filter,
    /// The view the listen was opened from: its `list_changed` follow that view.
    view: ViewKey,
    tx: mpsc::Sender<Bytes>,
}

/// Every open listen.
#[derive(Default)]
pub(crate) struct Listeners {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Listener>>,
}

impl Listeners {
    /// Delivers the gateway's `list_changed` notifications to every listen that asked for them,
    /// as far as its own view changed (`changed_in` names the notifications due for a view).
    pub(crate) fn list_changed(&self, changed_in: &mut dyn FnMut(ViewKey) -> Vec<&'static str>) {
        for l in lock(&self.open).values() {
            for notification in changed_in(l.view) {
                if l.filter.wants(notification) {
                    let p = tagged("{}", &l.id);
                    send(&l.tx, encode::notification(notification, p.as_deref()));
                }
            }
        }
    }

    /// Delivers an upstream's `notifications/resources/updated` to every listen holding its URI.
    pub(crate) fn resource_updated(&self, uri: &str, msg: &Message) {
        let params = msg.params().unwrap_or("{}");
        for l in lock(&self.open).values() {
            if l.filter.uris.iter().any(|u| u == uri) {
                let p = tagged(params, &l.id);
                send(
                    &l.tx,
                    encode::notification("notifications/resources/updated", p.as_deref()),
                );
            }
        }
    }

    /// How many listens hold `uri`.
    pub(crate) fn holders(&self, uri: &str) -> usize {
        lock(&self.open)
            .values()
            .filter(|l| l.filter.uris.iter().any(|u| u == uri))
            .count()
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.open).len()
    }
}

/// An open listen. Dropping it closes the listen and lets go of its URIs.
pub struct Listening {
    /// The acknowledgement, to send first.
    pub ack: Bytes,
    /// The listen's notifications.
    pub rx: mpsc::Receiver<Bytes>,
    /// The graceful final response, for when the gateway ends the listen.
    pub done: Bytes,
    key: u64,
    gw: Gateway,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let gone = lock(&self.gw.state.listeners.open).remove(&self.key);
        let Some(l) = gone else { return };
        if l.filter.uris.is_empty() {
            return;
        }
        let gw = self.gw.clone();
        // The upstream unsubscribe is a request: not something to wait for in a destructor.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for uri in &l.filter.uris {
                    gw.release_subscription(uri).await;
                }
            });
        }
    }
}

impl Gateway {
    /// Opens a listen for a modern caller. The filter's URIs are honoured when the upstream that
    /// serves them can subscribe on a shared session; the acknowledgement names what is honoured.
    pub async fn listen(&self, view: ViewKey, msg: &Message) -> Result<Listening, RpcError> {
        let id = msg
            .id()
            .cloned()
            .ok_or_else(|| error::invalid_params("subscriptions/listen must be a request"))?;
        let mut filter = Filter::parse(msg.params())?;
        let mut honoured = Vec::new();
        for uri in std::mem::take(&mut filter.uris) {
            if honoured.contains(&uri) {
                continue;
            }
            if self.hold_for_listen(view, &uri).await {
                honoured.push(uri);
            }
        }
        filter.uris = honoured;
        let meta = format!(
            "{{{}:{}}}",
            object::json_string(SUBSCRIPTION_ID),
            id.as_raw()
        );
        let ack = format!(
            "{{\"_meta\":{meta},\"notifications\":{}}}",
            filter.to_json()
        );
        let ack = Bytes::from(encode::notification(
            "notifications/subscriptions/acknowledged",
            Some(&ack),
        ));
        let done = Bytes::from(encode::result(
            &id,
            &format!("{{\"resultType\":\"complete\",\"_meta\":{meta}}}"),
        ));
        let (tx, rx) = mpsc::channel(QUEUE);
        let key = self.state.listeners.next.fetch_add(1, Ordering::Relaxed);
        let holds = !filter.uris.is_empty();
        lock(&self.state.listeners.open).insert(
            key,
            Listener {
                id,
                filter,
                view,
                tx,
            },
        );
        if holds {
            for up in self.upstreams().members().iter() {
                self.sync_upstream_listen(up);
            }
        }
        Ok(Listening {
            ack,
            rx,
            done,
            key,
            gw: self.clone(),
        })
    }

    /// Makes sure the upstream serving `uri` is subscribed to it, for a listen about to hold it.
    /// False when no upstream can (unknown URI, no `resources.subscribe`, isolated sessions, or
    /// the upstream refused).
    async fn hold_for_listen(&self, view: ViewKey, uri: &str) -> bool {
        let Some(up) = self.resource_owner(&self.view(view), uri) else {
            return false;
        };
        if up.cfg.session != switchboard_config::SessionMode::Shared {
            return false;
        }
        let Some(conn) = up.connection() else {
            return false;
        };
        if !conn
            .info()
            .is_some_and(|i| i.has_flag("resources", "subscribe"))
        {
            return false;
        }
        // A modern upstream hears of held URIs through its own listen, re-opened once this
        // listen is registered.
        if conn.is_modern() || self.subscription_holders(uri) > 0 {
            return true;
        }
        let p = format!("{{\"uri\":{}}}", object::json_string(uri));
        matches!(
            conn.request("resources/subscribe", Some(&p), Default::default()).await,
            Ok(m) if m.kind() == switchboard_protocol::Kind::Result
        )
    }
}

/// `params` with `_meta.subscriptionId` set to the listen's id (an upstream's own is replaced).
fn tagged(params: &str, id: &Id) -> Option<String> {
    let meta = object::get(params, "_meta").filter(|m| m.starts_with('{'));
    let meta2 = object::edit(
        meta.unwrap_or("{}"),
        &[(SUBSCRIPTION_ID, Edit::Set(id.as_raw()))],
    )?;
    object::edit(params, &[("_meta", Edit::Set(&meta2))])
}

fn send(tx: &mpsc::Sender<Bytes>, msg: String) {
    if tx.try_send(Bytes::from(msg)).is_err() {
        tracing::debug!("listen stream full or gone; notification dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_echo() {
        let f = Filter::parse(Some(
            r#"{"notifications":{"toolsListChanged":true,"promptsListChanged":false,"resourceSubscriptions":["a://1","b://2"]}}"#,
        ))
        .unwrap();
        assert!(f.tools && !f.prompts && !f.resources);
        assert_eq!(f.uris, vec!["a://1", "b://2"]);
        assert_eq!(
            f.to_json(),
            r#"{"toolsListChanged":true,"resourceSubscriptions":["a://1","b://2"]}"#
        );
        assert_eq!(Filter::parse(Some("{}")).unwrap(), Filter::default());
        assert_eq!(Filter::default().to_json(), "{}");
        assert!(Filter::parse(Some(r#"{"notifications":[]}"#)).is_err());
        assert!(Filter::parse(Some(r#"{"notifications":{"resourceSubscriptions":[1]}}"#)).is_err());
        assert!(f.wants("notifications/tools/list_changed"));
        assert!(!f.wants("notifications/prompts/list_changed"));
        assert!(!f.wants("notifications/message"));
    }

    #[test]
    fn tags_replace_an_upstream_subscription_id() {
        let id = Id::string("L1");
        assert_eq!(
            tagged("{}", &id).unwrap(),
            r#"{"_meta":{"io.modelcontextprotocol/subscriptionId":"L1"}}"#
        );
        assert_eq!(
            tagged(
                r#"{"uri":"a://1","_meta":{"io.modelcontextprotocol/subscriptionId":9,"x":1}}"#,
                &Id::number(4)
            )
            .unwrap(),
            r#"{"uri":"a://1","_meta":{"io.modelcontextprotocol/subscriptionId":4,"x":1}}"#
        );
    }
}

/// What one upstream listen asks a modern upstream for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UpstreamListen {
    /// The URIs asked for (sorted).
    pub uris: Vec<String>,
    /// Ends the listen request.
    pub stop: Option<tokio_util::sync::CancellationToken>,
    /// Counts the listens opened, so one that ends can tell whether it was replaced.
    pub generation: u64,
}

impl Gateway {
    /// Keeps a modern upstream's `subscriptions/listen` in step with what the gateway needs from
    /// it: every list change it can announce, and updates of the URIs that sessions and listens
    /// hold on it. When the URI set changes, a new listen opens before the old one is ended
    /// (overlap rather than a gap). Its notifications reach the gateway like any unclaimed
    /// message: list changes refresh the catalog, resource updates go to their holders.
    pub(crate) fn sync_upstream_listen(&self, up: &Arc<crate::upstreams::Upstream>) {
        let Some(conn) = up.connection().filter(|c| c.is_modern()) else {
            return;
        };
        let Some(info) = conn.info() else { return };
        let subscribe = info.has_flag("resources", "subscribe");
        let mut uris: Vec<String> = if subscribe {
            self.held_uris()
                .into_iter()
                .filter(|u| self.serving_upstream(u).is_some_and(|o| o.id == up.id))
                .collect()
        } else {
            Vec::new()
        };
        uris.sort();
        uris.dedup();
        let old = {
            let mut l = lock(&up.listen);
            if l.stop.is_some() && l.uris == uris {
                return;
            }
            let stop = tokio_util::sync::CancellationToken::new();
            let old = l.stop.replace(stop.clone());
            l.generation += 1;
            let generation = l.generation;
            l.uris = uris.clone();
            // What this upstream can tell, in the same shape a caller's listen asks in.
            let wanted = Filter {
                tools: info.has_flag("tools", "listChanged"),
                prompts: info.has_flag("prompts", "listChanged"),
                resources: info.has_flag("resources", "listChanged"),
                uris: uris.clone(),
            };
            let params = format!("{{\"notifications\":{}}}", wanted.to_json());
            let conn = conn.clone();
            let gw = self.clone();
            let up = up.clone();
            tokio::spawn(async move {
                let ctx = switchboard_upstream::RequestCtx {
                    // A listen lasts as long as the connection, or until it is replaced.
                    timeout: Some(std::time::Duration::from_secs(365 * 24 * 3600)),
                    cancel: Some(stop),
                    ..Default::default()
                };
                let ended = conn
                    .request("subscriptions/listen", Some(&params), ctx)
                    .await;
                if matches!(ended, Err(switchboard_upstream::UpstreamError::Cancelled))
                    || conn.is_closed()
                {
                    return;
                }
                // It ended on its own (an error, a dropped stream, a graceful end): open it again
                // after a pause, unless it was replaced meanwhile. Changes in between are missed,
                // so the lists are fetched again too.
                tracing::debug!(upstream = conn.name(), "upstream listen ended: {ended:?}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let mine = {
                    let mut l = lock(&up.listen);
                    let mine = l.generation == generation;
                    if mine {
                        l.stop = None;
                    }
                    mine
                };
                if mine && !conn.is_closed() {
                    gw.sync_upstream_listen(&up);
                    gw.refresh(&up, &conn, &crate::catalog::ListKind::ALL).await;
                }
            });
            old
        };
        if let Some(old) = old {
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                old.cancel();
            });
        }
    }

    /// Every URI a session or a listen holds.
    pub(crate) fn held_uris(&self) -> Vec<String> {
        let mut uris: Vec<String> = Vec::new();
        self.state.sessions.store().for_each(&mut |s| {
            uris.extend(lock(&s.record.subscriptions).iter().cloned());
        });
        uris.extend(
            lock(&self.state.listeners.open)
                .values()
                .flat_map(|l| l.filter.uris.iter().cloned()),
        );
        uris
    }
}
