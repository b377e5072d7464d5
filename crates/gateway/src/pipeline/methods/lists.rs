//! `tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`: a page of the
//! view's items, with an opaque cursor for the next.

use switchboard_protocol::object;
use switchboard_protocol::{Message, RpcError};

use crate::catalog::ListKind;
use crate::error;
use crate::pipeline::{Cx, Outcome};

/// Items per page of a list served to clients.
const PAGE_SIZE: usize = 1000;

pub(super) fn list(cx: &Cx<'_>, kind: ListKind, msg: &Message) -> Result<Outcome, RpcError> {
    let offset = match msg.param("cursor") {
        None | Some("null") => 0,
        Some(raw) => object::string_value(raw)
            .as_deref()
            .and_then(decode_cursor)
            .ok_or_else(|| error::invalid_params("Invalid cursor"))?,
    };
    let total = cx.view.len(kind);
    if offset > total {
        return Err(error::invalid_params("Invalid cursor"));
    }
    let end = (offset + PAGE_SIZE).min(total);
    let page = || cx.view.items(kind).skip(offset).take(end - offset);
    let mut s = String::with_capacity(64 + page().map(|i| i.len() + 1).sum::<usize>());
    s.push_str("{\"");
    s.push_str(kind.key());
    s.push_str("\":[");
    for (i, item) in page().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(item);
    }
    s.push(']');
    if end < total {
        s.push_str(",\"nextCursor\":\"");
        s.push_str(&encode_cursor(end));
        s.push('"');
    }
    s.push('}');
    Ok(Outcome::Local(s))
}

fn encode_cursor(offset: usize) -> String {
    format!("sb1.{offset:x}")
}

fn decode_cursor(c: &str) -> Option<usize> {
    usize::from_str_radix(c.strip_prefix("sb1.")?, 16).ok()
}
