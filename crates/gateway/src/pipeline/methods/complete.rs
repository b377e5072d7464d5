//! `completion/complete`: the `ref` names a prompt (namespaced, renamed for the upstream) or a
//! resource (by URI, routed through the view).

use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{Message, RpcError};

use crate::catalog::ListKind;
use crate::pipeline::{Cx, Outcome};
use crate::{Gateway, error, set_member};

/// `completion/complete`: the `ref` names a prompt (namespaced) or a resource (by URI).
pub(super) async fn complete(
    gw: &Gateway,
    cx: &Cx<'_>,
    msg: &Message,
) -> Result<Outcome, RpcError> {
    let params = msg
        .params()
        .filter(|p| p.starts_with('{'))
        .ok_or_else(|| error::invalid_params("params must be an object"))?;
    let reference = object::get(params, "ref")
        .ok_or_else(|| error::invalid_params("params.ref is required"))?;
    let ty = object::get_str(reference, "type").unwrap_or_default();
    match ty.as_ref() {
        "ref/prompt" => {
            let name = object::get_str(reference, "name")
                .ok_or_else(|| error::invalid_params("ref.name is required"))?;
            let target = cx
                .view
                .resolve(ListKind::Prompts, &name)
                .ok_or_else(|| error::unknown_prompt(&name))?;
            let up = gw
                .upstreams()
                .get(target.upstream.as_str())
                .ok_or_else(|| error::unknown_prompt(&name))?;
            let r2 = object::edit(
                reference,
                &[("name", Edit::Set(&object::json_string(target.original)))],
            )
            .ok_or_else(|| error::invalid_params("ref is not an object"))?;
            let p2 = set_member(params, "ref", &r2)
                .ok_or_else(|| error::invalid_params("params is not an object"))?;
            gw.forward(cx, &up, "completion/complete", Some(&p2), msg, None)
                .await
        }
        "ref/resource" => {
            let uri = object::get_str(reference, "uri")
                .ok_or_else(|| error::invalid_params("ref.uri is required"))?;
            let up = gw
                .resource_owner(&cx.view, &uri)
                .ok_or_else(|| error::resource_not_found(&uri))?;
            gw.forward(cx, &up, "completion/complete", Some(params), msg, None)
                .await
        }
        other => Err(error::invalid_params(format!("unknown ref.type {other:?}"))),
    }
}
