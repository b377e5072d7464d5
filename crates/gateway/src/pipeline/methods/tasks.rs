//! `tasks/get`, `tasks/result`, `tasks/cancel` and `tasks/list` (2025-11-25): a gateway task
//! id resolves for its owner only, the upstream is asked under its own id, and ids in the answer
//! are mapped back.

use std::time::Duration;

use switchboard_protocol::object;
use switchboard_protocol::{Message, RpcError};

use crate::pipeline::{Cx, Outcome};
use crate::{Gateway, error, set_member, tasks};

/// How long `tasks/result` may block waiting for a task to finish.
const TASK_RESULT_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Most pages of an upstream's `tasks/list` followed.
const MAX_TASK_PAGES: usize = 20;

pub(super) async fn task_call(
    gw: &Gateway,
    cx: &Cx<'_>,
    msg: &Message,
) -> Result<Outcome, RpcError> {
    let method = msg.method().unwrap_or_default();
    let params = msg
        .params()
        .filter(|p| p.starts_with('{'))
        .ok_or_else(|| error::invalid_params("params must be an object"))?;
    let id = object::get_str(params, "taskId")
        .ok_or_else(|| error::invalid_params("params.taskId must be a string"))?;
    let (upstream, serial, upstream_id) = gw
        .state
        .tasks
        .resolve(&id, &cx.session().id)
        .ok_or_else(|| error::unknown_task(&id))?;
    let up = gw
        .upstreams()
        .get(upstream.as_str())
        .ok_or_else(|| error::unknown_task(&id))?;
    // A task lives in the upstream session that created it; if that ended, so did the task.
    if gw.connection_for(cx.session(), &up).await?.serial() != serial {
        return Err(error::unknown_task(&id));
    }
    let p2 = set_member(params, "taskId", &object::json_string(&upstream_id))
        .ok_or_else(|| error::invalid_params("params is not an object"))?;
    // tasks/result blocks until the task ends: that is not a stalled upstream.
    let timeout = (method == "tasks/result").then_some(TASK_RESULT_WAIT);
    let out = gw.forward(cx, &up, method, Some(&p2), msg, timeout).await?;
    let Outcome::Upstream(resp) = &out else {
        return Ok(out);
    };
    let Some(result) = resp.result() else {
        return Ok(out);
    };
    let mapped = if method == "tasks/result" {
        tasks::map_related_task(result, |_| Some(id.to_string()))
    } else {
        tasks::with_task_id(result, &id)
    };
    Ok(mapped.map_or(out, Outcome::Local))
}

/// `tasks/list`: this session's tasks only, gathered from every upstream that holds one.
pub(super) async fn task_list(gw: &Gateway, cx: &Cx<'_>) -> Result<Outcome, RpcError> {
    let mut items = Vec::new();
    for upstream in gw.state.tasks.upstreams_of(&cx.session().id) {
        let Some(up) = gw.upstreams().get(upstream.as_str()) else {
            continue;
        };
        let Ok(conn) = gw.connection_for(cx.session(), &up).await else {
            continue;
        };
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TASK_PAGES {
            let params = cursor.as_ref().map(|c| format!("{{\"cursor\":{c}}}"));
            let Ok(resp) = conn
                .request("tasks/list", params.as_deref(), Default::default())
                .await
            else {
                break;
            };
            let Some(result) = resp.result() else { break };
            for t in object::get(result, "tasks")
                .and_then(object::array_items)
                .unwrap_or_default()
            {
                let Some(uid) = object::get_str(t, "taskId") else {
                    continue;
                };
                if let Some((id, owner)) = gw.state.tasks.owner(conn.serial(), &uid)
                    && owner == cx.session().id
                    && let Some(t2) = tasks::with_task_id(t, &id)
                {
                    items.push(t2);
                }
            }
            match object::get(result, "nextCursor") {
                Some(c) if c.starts_with('"') => cursor = Some(c.to_owned()),
                _ => break,
            }
        }
    }
    Ok(Outcome::Local(format!(
        "{{\"tasks\":[{}]}}",
        items.join(",")
    )))
}
