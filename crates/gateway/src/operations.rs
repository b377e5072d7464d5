//! The gateway's side of the `management` connector: [`Ops`] implements the connectors crate's
//! `Operations` over a weak handle on the gateway (the connector lives inside one of the
//! gateway's upstreams, so a strong one would keep the gateway alive forever).
//!
//! Who may call these is decided before the call reaches the connector:
//! [`Gateway::may_manage`], on the one `tools/call` path.

use std::sync::{Arc, Weak};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use switchboard_connectors::Operations;
use switchboard_protocol::{RpcError, object};

use crate::catalog::ListKind;
use crate::principal::Principal;
use crate::upstreams::Upstream;
use crate::{Gateway, State, error};

/// The scope a principal needs to call the management tools.
pub const ADMIN_SCOPE: &str = "admin";

pub(crate) struct Ops(Weak<State>);

impl Ops {
    pub(crate) fn new(gw: &Gateway) -> Ops {
        Ops(Arc::downgrade(&gw.state))
    }

    fn gateway(&self) -> Option<Gateway> {
        self.0.upgrade().map(|state| Gateway { state })
    }
}

const GONE: &str = "the gateway is shutting down";

impl Operations for Ops {
    fn status(&self) -> Value {
        self.gateway()
            .and_then(|gw| serde_json::from_str(&gw.status_json()).ok())
            .unwrap_or(Value::Null)
    }

    fn readiness(&self) -> Result<(), String> {
        self.gateway().ok_or(GONE.to_owned())?.readiness()
    }

    fn tools_of(&self, name: &str) -> Vec<String> {
        let Some(gw) = self.gateway() else {
            return Vec::new();
        };
        let catalog = gw.catalog();
        (0..catalog.len(ListKind::Tools))
            .map(|p| catalog.entry(ListKind::Tools, p))
            .filter(|e| e.upstream.as_str() == name)
            .filter_map(|e| object::get_str(&e.raw, "name").map(|n| n.into_owned()))
            .collect()
    }

    fn start<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        async move {
            self.gateway()
                .ok_or(GONE.to_owned())?
                .start_upstream(name)
                .await
        }
        .boxed()
    }

    fn stop<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        async move {
            self.gateway()
                .ok_or(GONE.to_owned())?
                .stop_upstream(name)
                .await
        }
        .boxed()
    }

    fn restart<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        async move {
            self.gateway()
                .ok_or(GONE.to_owned())?
                .restart_upstream(name)
                .await
        }
        .boxed()
    }
}

impl Gateway {
    /// Whether `principal` may call a tool of `up`: anyone may, unless `up` is the `management`
    /// connector (or a group with one among its members). Then it needs the `admin` scope; the
    /// anonymous caller is let through only while the gateway listens on loopback (no
    /// authentication configured, the quick start). A refusal is -31041 (HTTP 403).
    pub(crate) fn may_manage(&self, principal: &Principal, up: &Upstream) -> Result<(), RpcError> {
        let management = up.is_management()
            || up.group().is_some_and(|(members, _)| {
                members.iter().any(|m| {
                    self.state
                        .upstreams
                        .get(m)
                        .is_some_and(|u| u.is_management())
                })
            });
        if !management {
            return Ok(());
        }
        let allowed = if principal.is_anonymous() {
            self.state.config.listen_is_loopback()
        } else {
            principal.scopes().iter().any(|s| s == ADMIN_SCOPE)
        };
        if allowed {
            Ok(())
        } else {
            Err(error::insufficient_scope(
                "tools/call of a management tool",
                &[ADMIN_SCOPE],
            ))
        }
    }
}
