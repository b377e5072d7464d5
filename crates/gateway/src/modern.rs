//! Callers of the 2026-07-28 ("modern") era.
//!
//! A modern request carries everything a handshake session would have negotiated (version,
//! client capabilities, client info, log level) in its own `_meta`, so the gateway serves it as a
//! *one-request session*: a [`Session`] built from that `_meta`, registered nowhere, ended when the
//! request ends. Everything downstream of that (routing, relaying, cancellation) is the same code
//! that serves handshake sessions; what differs is at the edges and lives here: the methods the
//! era removed or added, the shape of its results (`resultType`, cache hints, the server's
//! identity on `server/discover`), and its error codes and HTTP statuses.

use std::sync::Arc;

use switchboard_protocol::error::remap_for_modern;
use switchboard_protocol::meta::{RequestMeta, SERVER_INFO};
use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{ErrorCode, Revision, RpcError};

use crate::catalog::ListKind;
use crate::hints::{Hint, Scope};
use crate::level::Level;
use crate::principal::Principal;
use crate::sessions::{ClientCaps, Session};
use crate::view::Endpoint;
use crate::{Gateway, capabilities, error};
use switchboard_protocol::lock;

/// Methods 2026-07-28 removed. A modern caller gets "method not found" (HTTP 404) for them, as
/// for any method the era does not have.
/// (Core `tasks/*` are gone too; the pipeline answers them with where tasks went.)
const REMOVED: [&str; 5] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

impl Gateway {
    /// The one-request session that serves a modern request of `principal`, from the `_meta`
    /// the transport read and validated. A `logLevel` that is not a level is the caller's error.
    pub fn modern_caller(
        &self,
        principal: &Principal,
        meta: &RequestMeta<'_>,
        endpoint: Endpoint,
    ) -> Result<Arc<Session>, RpcError> {
        let level = match meta.log_level.as_deref() {
            None => None,
            Some(l) => Some(Level::parse(l).ok_or_else(|| {
                error::invalid_params(format!(
                    "_meta io.modelcontextprotocol/logLevel {l:?} is not a log level (debug, info, notice, warning, error, critical, alert, emergency)"
                ))
            })?),
        };
        let key = self.state.sessions.next_key();
        // One shared name: a one-request caller is never looked up by id (no session registry,
        // no tasks), and minting one per request would cost an allocation each time.
        static ID: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        let session = Session::new(
            ID.get_or_init(|| Arc::from("2026-07-28 caller")).clone(),
            key,
            Revision::V2026_07_28,
            ClientCaps::parse(meta.client_capabilities),
            meta.client_info.unwrap_or("{}"),
            principal.clone(),
            endpoint,
        );
        if let Some(l) = level {
            session.set_level(l);
        }
        Ok(Arc::new(session))
    }

    /// Ends a modern caller: whatever it started upstream for itself alone (isolated upstream
    /// sessions) ends with it.
    pub async fn end_modern(&self, session: &Arc<Session>) {
        // It held no subscriptions and no tasks (the era has neither); only what it started for
        // itself alone (isolated upstream sessions) has to end.
        session.closed.cancel();
        let isolated: Vec<_> = session
            .isolated
            .lock()
            .await
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in isolated {
            c.close().await;
        }
    }

    /// The hint handshake-era upstreams contribute (`modern.list_ttl`, `modern.list_scope`): they
    /// say nothing about caching themselves, so by default nothing of theirs may be cached.
    pub(crate) fn legacy_hint(&self) -> Hint {
        let m = &self.config().modern;
        Hint {
            ttl_ms: u64::try_from(m.list_ttl.as_millis()).unwrap_or(u64::MAX),
            scope: match m.list_scope {
                switchboard_config::CacheScope::Public => Scope::Public,
                switchboard_config::CacheScope::Private => Scope::Private,
            },
        }
    }

    /// The `server/discover` result.
    pub(crate) fn discover_result(&self) -> String {
        let mut s = String::with_capacity(512);
        s.push_str("{\"supportedVersions\":");
        s.push_str(capabilities::supported_versions());
        s.push_str(",\"capabilities\":");
        s.push_str(capabilities::server(Revision::V2026_07_28));
        s.push_str(",\"resultType\":\"complete\",");
        self.discover_hint().write_members(&mut s);
        s.push_str(",\"_meta\":{");
        object::push_json_string(&mut s, SERVER_INFO);
        s.push(':');
        s.push_str(capabilities::server_info());
        s.push_str("}}");
        s
    }

    /// The hint on `server/discover`: what it says changes when upstreams come and go, so it is
    /// as strict as any upstream's.
    fn discover_hint(&self) -> Hint {
        // Every connected upstream contributes the same hint, and merging equal hints changes
        // nothing: it is that hint, or none when nothing is connected.
        if self
            .upstreams()
            .members()
            .iter()
            .any(|u| u.connection().is_some())
        {
            self.legacy_hint()
        } else {
            Hint::EMPTY
        }
    }

    /// The hint on a merged list: the strictest of the upstreams that contribute to it.
    pub(crate) fn list_hint(&self, kind: ListKind) -> Hint {
        let capability = kind.capability();
        Hint::merge_all(
            self.upstreams()
                .members()
                .iter()
                .filter(|u| {
                    u.connection()
                        .and_then(|c| c.info().map(|i| i.has(capability)))
                        .unwrap_or(false)
                })
                .map(|u| {
                    // A 2026-07-28 upstream's own hint for this list; else the configured one.
                    lock(&u.lists)
                        .as_ref()
                        .and_then(|l| l.hints[kind.index()])
                        .unwrap_or_else(|| self.legacy_hint())
                }),
        )
    }
}

/// Whether 2026-07-28 removed `method` (a modern caller gets -32601 for it).
pub(crate) fn removed(method: &str) -> bool {
    REMOVED.contains(&method)
}

/// `params` of a modern caller's request without what only the modern era knows: the reserved
/// `_meta` keys and a retry's `inputResponses` and `requestState`. `None` when nothing changes.
pub(crate) fn strip_for_handshake(params: &str) -> Option<String> {
    let [responses, state] = object::get_all(params, ["inputResponses", "requestState"]);
    let meta = switchboard_protocol::meta::strip_reserved(params);
    if responses.is_none() && state.is_none() {
        return meta;
    }
    let p = meta.as_deref().unwrap_or(params);
    object::edit(
        p,
        &[
            ("inputResponses", Edit::Remove),
            ("requestState", Edit::Remove),
        ],
    )
    .or(meta)
}

/// A result made fit for a modern caller: `resultType` when the producer did not say, and the
/// cache hint when one applies and the producer gave none (never on `input_required`).
pub(crate) fn shape_result(result: &str, hint: Option<Hint>) -> Option<String> {
    // One pass for all three members (this runs on every answer to a modern caller).
    let [result_type, ttl_given, scope_given] =
        object::get_all(result, ["resultType", "ttlMs", "cacheScope"]);
    let has_type = result_type.is_some();
    let complete = result_type.is_none_or(|t| t == "\"complete\"");
    let hint = hint.filter(|_| complete && (ttl_given.is_none() || scope_given.is_none()));
    if has_type && hint.is_none() {
        return None;
    }
    let values = hint.map(Hint::values);
    let mut edits: Vec<(&str, Edit<'_>)> = Vec::with_capacity(3);
    if !has_type {
        edits.push(("resultType", Edit::Set("\"complete\"")));
    }
    if let Some((ttl, scope)) = &values {
        if ttl_given.is_none() {
            edits.push(("ttlMs", Edit::Set(ttl)));
        }
        if scope_given.is_none() {
            edits.push(("cacheScope", Edit::Set(scope)));
        }
    }
    object::edit(result, &edits)
}

/// A raw error object made fit for a modern caller (codes the era renumbered), and the HTTP
/// status it goes with.
pub(crate) fn shape_error(error: &str) -> (Option<String>, u16) {
    let remapped = remap_for_modern(error);
    let code = object::get(remapped.as_deref().unwrap_or(error), "code")
        .and_then(|c| c.trim().parse::<i64>().ok());
    (
        remapped,
        code.map_or(200, |c| error::status_of(ErrorCode(c))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_gain_type_and_hint_once() {
        assert_eq!(
            shape_result(r#"{"content":[]}"#, None).unwrap(),
            r#"{"content":[],"resultType":"complete"}"#
        );
        assert_eq!(
            shape_result(r#"{"content":[],"resultType":"complete"}"#, None),
            None
        );
        let hint = Hint {
            ttl_ms: 0,
            scope: Scope::Private,
        };
        assert_eq!(
            shape_result(r#"{"tools":[]}"#, Some(hint)).unwrap(),
            r#"{"tools":[],"resultType":"complete","ttlMs":0,"cacheScope":"private"}"#
        );
        // A modern producer's own hint wins.
        assert_eq!(
            shape_result(
                r#"{"contents":[],"resultType":"complete","ttlMs":5,"cacheScope":"public"}"#,
                Some(hint)
            ),
            None
        );
    }

    #[test]
    fn errors_get_modern_codes_and_statuses() {
        let (e, status) = shape_error(r#"{"code":-32002,"message":"nope","data":{"uri":"x"}}"#);
        assert_eq!(
            e.unwrap(),
            r#"{"code":-32602,"message":"nope","data":{"uri":"x"}}"#
        );
        assert_eq!(status, 200);
        assert_eq!(shape_error(r#"{"code":-32601,"message":"m"}"#), (None, 404));
        assert_eq!(shape_error(r#"{"code":-32021,"message":"m"}"#), (None, 400));
        assert_eq!(shape_error(r#"{"code":-31001,"message":"m"}"#), (None, 200));
        assert!(removed("ping") && removed("initialize") && !removed("tools/call"));
    }
}
