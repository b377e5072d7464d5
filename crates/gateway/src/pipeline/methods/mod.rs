//! One file per method family, like mini-redis's `cmd/`: each handler routes through the
//! request's view and reaches upstreams only through [`crate::call`].

mod call;
mod complete;
mod lists;
mod logging;
mod resources;
mod search;
mod tasks;

pub(crate) use search::{CALL_TOOL, called_tool};

use switchboard_protocol::{ErrorCode, Message, RpcError};

use super::{Cx, Outcome};
use crate::catalog::ListKind;
use crate::{Gateway, error, modern};

/// Routes a request to its method's handler.
pub(crate) async fn dispatch(
    gw: &Gateway,
    cx: &Cx<'_>,
    msg: &Message,
    method: &str,
) -> Result<Outcome, RpcError> {
    let modern = cx.is_modern();
    let has_tasks = cx.session().record.revision.has_tasks();
    match method {
        m if modern && modern::removed(m) => Err(error::method_not_found(m)),
        // Core tasks are gone from 2026-07-28; its tasks extension is not offered here.
        m if modern && m.starts_with("tasks/") => Err(RpcError::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!(
                "Method not found: {m} (2026-07-28 moved tasks to the io.modelcontextprotocol/tasks extension, which this gateway does not offer yet)"
            ),
        )),
        "server/discover" if modern => Ok(Outcome::Local(gw.discover_result())),
        "ping" => Ok(Outcome::Local("{}".into())),
        "initialize" => Err(RpcError::new(
            ErrorCode::INVALID_REQUEST,
            "the session is already initialized",
        )),
        "tools/list" if cx.view.search_mode() => Ok(Outcome::Local(search::LIST.to_owned())),
        "tools/list" => lists::list(cx, ListKind::Tools, msg),
        "prompts/list" => lists::list(cx, ListKind::Prompts, msg),
        "resources/list" => lists::list(cx, ListKind::Resources, msg),
        "resources/templates/list" => lists::list(cx, ListKind::Templates, msg),
        // `mode: search`: only the two meta-tools are there to call.
        "tools/call" if cx.view.search_mode() => match msg.param_str("name").as_deref() {
            Some(search::SEARCH_TOOLS) => search::search(cx, msg),
            Some(search::CALL_TOOL) => search::call_tool(gw, cx, msg).await,
            Some(other) => Err(error::unknown_tool(other)),
            None => Err(error::invalid_params("params.name must be a string")),
        },
        "tools/call" => call::call_named(gw, cx, ListKind::Tools, msg).await,
        "prompts/get" => call::call_named(gw, cx, ListKind::Prompts, msg).await,
        "resources/read" => resources::read(gw, cx, msg).await,
        "resources/subscribe" => resources::subscribe(gw, cx, msg, true).await,
        "resources/unsubscribe" => resources::subscribe(gw, cx, msg, false).await,
        "completion/complete" => complete::complete(gw, cx, msg).await,
        "logging/setLevel" => logging::set_level(gw, cx, msg).await,
        "tasks/get" | "tasks/cancel" | "tasks/result" if has_tasks => {
            tasks::task_call(gw, cx, msg).await
        }
        "tasks/list" if has_tasks => tasks::task_list(gw, cx).await,
        other => Err(error::method_not_found(other)),
    }
}
