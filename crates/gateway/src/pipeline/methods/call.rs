//! `tools/call` and `prompts/get`: route by exposed name through the view, forward under the
//! upstream's own name. A task-augmented call's task gets a gateway id bound to the session.

use std::sync::Arc;

use switchboard_protocol::object;
use switchboard_protocol::{Message, RpcError};

use crate::catalog::ListKind;
use crate::pipeline::{Cx, Outcome};
use crate::resilience::truncate;
use crate::upstreams::Upstream;
use crate::view::View;
use crate::{Gateway, error, set_member, tasks};
use switchboard_telemetry::Outcome as Outcome_;

pub(super) async fn call_named(
    gw: &Gateway,
    cx: &Cx<'_>,
    kind: ListKind,
    msg: &Message,
) -> Result<Outcome, RpcError> {
    let params = msg
        .params()
        .filter(|p| p.starts_with('{'))
        .ok_or_else(|| error::invalid_params("params must be an object"))?;
    // One pass over params for both members this needs.
    let [name, task] = object::get_all(params, ["name", "task"]);
    let tools = kind == ListKind::Tools;
    let Some(name) = name.and_then(object::string_value) else {
        if tools {
            gw.metrics().unknown_tool().count(Outcome_::Error);
        }
        return Err(error::invalid_params("params.name must be a string"));
    };
    // A name under the prefix of an upstream that is restarting: the call waits for the restart
    // (up to the upstream's timeout, or until the caller cancels) and is routed again through
    // the view as it is then. A name the view knows is resolved once.
    let restarted: Arc<crate::view::View>;
    let (view, target) = match cx.view.resolve(kind, &name) {
        Some(t) => (&cx.view, Some(t)),
        None => match down_owner_of(gw, &cx.view, &name) {
            Some(up) => {
                let back = tokio::select! {
                    back = up.await_restart(up.cfg.timeout) => back,
                    () = cx.cancel.cancelled() => return Ok(Outcome::Cancelled),
                };
                if back {
                    restarted = gw.caller_view(cx.req.view, cx.req.principal);
                    (&restarted, restarted.resolve(kind, &name))
                } else {
                    (&cx.view, None)
                }
            }
            None => (&cx.view, None),
        },
    };
    let Some(target) = target else {
        // Counted as `tool="unknown"`: a name the view does not know never becomes a label.
        if tools {
            gw.metrics().unknown_tool().count(Outcome_::Error);
        }
        // A down upstream's items are withdrawn from the catalog; a name under its prefix
        // still deserves an answer that says the upstream is down, not that nothing exists.
        if let Some(up) = down_owner_of(gw, &cx.view, &name) {
            cx.routed_to(&up.id);
            return Err(error::upstream_down(up.name(), up.last_error().as_deref()));
        }
        return Err(match kind {
            ListKind::Tools => error::unknown_tool(&name),
            _ => error::unknown_prompt(&name),
        });
    };
    let up = gw
        .upstreams()
        .get(target.upstream.as_str())
        .ok_or_else(|| error::upstream_down(target.upstream.as_str(), Some("removed")))?;
    // The management tools need the `admin` scope (anonymous only on loopback).
    if tools {
        gw.may_manage(cx.req.principal, &up)?;
    }
    // The (upstream, tool) series, resolved once per catalog entry and kept on it.
    let timer = tools.then(|| {
        view.tool_metrics(&name, || {
            gw.upstreams()
                .get(target.upstream.as_str())
                .map(|u| u.metrics.tool(target.original))
                .unwrap_or_default()
        })
        .start()
    });
    cx.routed_to(target.upstream);
    let forwarded;
    let params = if target.original == &*name {
        params
    } else {
        forwarded = set_member(params, "name", &object::json_string(target.original))
            .ok_or_else(|| error::invalid_params("params is not a valid object"))?;
        &forwarded
    };
    let method = msg.method().unwrap_or_default();
    let timeout = match kind {
        ListKind::Tools => up.tool_timeout(target.original),
        _ => None,
    };
    let out = gw
        .forward(cx, &up, method, Some(params), msg, timeout)
        .await;
    if let Some(t) = timer {
        let counted = crate::pipeline::outcome_of(method, &out);
        let _ = cx.counted.set(counted);
        t.finish(counted);
    }
    let mut out = out?;
    if let (ListKind::Tools, Some(max), Outcome::Upstream(resp)) =
        (kind, up.cfg.max_result_bytes, &out)
        && let Some(cut) = resp
            .result()
            .and_then(|r| truncate::limit_result(r, max, &name))
    {
        tracing::info!(upstream = up.name(), tool = %name, limit = max, "tool result cut to max_result_bytes");
        out = Outcome::Local(cut);
    }
    if kind == ListKind::Tools && task.is_some() {
        return Ok(adopt_task(gw, cx, &up, out).await);
    }
    Ok(out)
}

/// A task-augmented call answered with `CreateTaskResult`: the task gets a gateway id bound to
/// this session, and the client sees only that id.
async fn adopt_task(gw: &Gateway, cx: &Cx<'_>, up: &Arc<Upstream>, out: Outcome) -> Outcome {
    let Outcome::Upstream(resp) = &out else {
        return out;
    };
    let Some(result) = resp.result() else {
        return out;
    };
    let Some(task) = object::get(result, "task") else {
        return out;
    };
    let Some(upstream_id) = object::get_str(task, "taskId") else {
        return out;
    };
    // The connection that made it (the one this call used): task ids are its own.
    let Ok(conn) = gw.connection_for(cx.session(), up).await else {
        return out;
    };
    let id = gw
        .state
        .tasks
        .register(&cx.session().id, &up.id, conn.serial(), &upstream_id);
    match tasks::with_task_id(task, &id).and_then(|t| set_member(result, "task", &t)) {
        Some(r) => Outcome::Local(r),
        None => out,
    }
}

/// The upstream without a live connection whose prefix `name` carries, if any.
fn down_owner_of(gw: &Gateway, view: &View, name: &str) -> Option<Arc<Upstream>> {
    let sep = &gw.config().namespace_separator;
    gw.upstreams()
        .members()
        .iter()
        .find(|u| {
            !u.cfg.prefix.is_empty()
                && u.group().is_none()
                && name
                    .strip_prefix(u.cfg.prefix.as_str())
                    .is_some_and(|rest| rest.starts_with(sep.as_str()))
                && u.connection().is_none()
                // An upstream the caller may not see is not there for it, down or not.
                && view.may_reach(u.name())
        })
        .cloned()
}
