//! `resources/read`, `resources/subscribe` and `resources/unsubscribe`: a URI routes through the
//! view's tables (never rewritten); subscriptions are reference-counted on shared upstream
//! sessions, so the upstream hears one subscribe per URI however many clients hold it.

use std::sync::Arc;

use switchboard_protocol::{ErrorCode, Kind, Message, RpcError};

use crate::catalog::ListKind;
use crate::pipeline::{Cx, Outcome};
use crate::upstreams::Upstream;
use crate::view::{View, ViewKey};
use crate::{Gateway, error};
use switchboard_protocol::lock;

pub(super) async fn read(gw: &Gateway, cx: &Cx<'_>, msg: &Message) -> Result<Outcome, RpcError> {
    let uri = msg
        .param_str("uri")
        .ok_or_else(|| error::invalid_params("params.uri must be a string"))?;
    let up = gw
        .resource_owner(&cx.view, &uri)
        .ok_or_else(|| error::resource_not_found(&uri))?;
    cx.routed_to(&up.id);
    gw.forward(cx, &up, "resources/read", msg.params(), msg, None)
        .await
}

impl Gateway {
    /// The upstream serving `uri` in `view`. A URI its `resources` filter refuses has none,
    /// even where the view would route any URI to the one upstream that serves resources.
    pub(crate) fn resource_owner(&self, view: &View, uri: &str) -> Option<Arc<Upstream>> {
        let target = view.resolve(ListKind::Resources, uri)?;
        self.upstreams()
            .get(target.upstream.as_str())
            .filter(|up| up.cfg.resources.is_open() || up.cfg.resources.permits(uri))
    }

    /// The upstream serving `uri` for everyone: what upstream-side subscriptions follow, which
    /// sessions and listens of every view share.
    pub(crate) fn serving_upstream(&self, uri: &str) -> Option<Arc<Upstream>> {
        self.resource_owner(&self.view(ViewKey::whole(false)), uri)
    }
}

/// Subscriptions are reference-counted on shared upstream sessions: the upstream hears one
/// subscribe per URI however many clients hold it.
pub(super) async fn subscribe(
    gw: &Gateway,
    cx: &Cx<'_>,
    msg: &Message,
    on: bool,
) -> Result<Outcome, RpcError> {
    let uri = msg
        .param_str("uri")
        .ok_or_else(|| error::invalid_params("params.uri must be a string"))?
        .into_owned();
    let up = gw
        .resource_owner(&cx.view, &uri)
        .ok_or_else(|| error::resource_not_found(&uri))?;
    let conn = gw.connection_for(cx.session(), &up).await?;
    if !conn
        .info()
        .is_some_and(|i| i.has_flag("resources", "subscribe"))
    {
        return Err(RpcError::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!(
                "upstream {} does not support resource subscriptions",
                up.name()
            ),
        )
        .with_str("upstream", up.name()));
    }
    let method = if on {
        "resources/subscribe"
    } else {
        "resources/unsubscribe"
    };
    if up.cfg.session == switchboard_config::SessionMode::Isolated {
        let out = gw.forward(cx, &up, method, msg.params(), msg, None).await?;
        let mut subs = lock(&cx.session().record.subscriptions);
        if on {
            subs.insert(uri)
        } else {
            subs.remove(&uri)
        };
        return Ok(out);
    }
    let held = lock(&cx.session().record.subscriptions).contains(&uri);
    if on == held {
        return Ok(Outcome::Local("{}".into()));
    }
    if conn.is_modern() {
        // 2026-07-28 has no resources/subscribe: the upstream's listen carries the URI.
        if on {
            lock(&cx.session().record.subscriptions).insert(uri);
            gw.sync_upstream_listen(&up);
        } else {
            lock(&cx.session().record.subscriptions).remove(&uri);
            gw.release_subscription(&uri).await;
        }
        return Ok(Outcome::Local("{}".into()));
    }
    if !on {
        lock(&cx.session().record.subscriptions).remove(&uri);
        gw.release_subscription(&uri).await;
        return Ok(Outcome::Local("{}".into()));
    }
    if gw.subscription_holders(&uri) == 0 {
        let out = gw.forward(cx, &up, method, msg.params(), msg, None).await?;
        let subscribed = matches!(&out, Outcome::Upstream(m) if m.kind() == Kind::Result);
        if !subscribed {
            return Ok(out);
        }
    }
    lock(&cx.session().record.subscriptions).insert(uri);
    Ok(Outcome::Local("{}".into()))
}
