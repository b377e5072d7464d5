//! Meta-tools for large catalogs (`mode: search`): the endpoint lists only `search_tools` and
//! `call_tool`, so a client with thousands of tools behind it keeps them out of its context until
//! it needs one.
//!
//! Both work on the request's [`View`](crate::view::View), exactly what `tools/list` would show
//! there: a tool the caller may not see is never found, and `call_tool` on it is answered like
//! an unknown tool (it goes through the same `call_named` as any `tools/call`).

use std::borrow::Cow;

use bytes::Bytes;
use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{Message, RpcError};

use crate::catalog::ListKind;
use crate::pipeline::{Cx, Outcome};
use crate::view::View;
use crate::{Gateway, error};

pub(crate) const SEARCH_TOOLS: &str = "search_tools";
pub(crate) const CALL_TOOL: &str = "call_tool";

/// Most tools one search returns, and how many when the caller does not say.
const MAX_LIMIT: u64 = 50;
const DEFAULT_LIMIT: u64 = 10;

/// The `tools/list` result of a search-mode endpoint.
pub(crate) const LIST: &str = concat!(
    r#"{"tools":["#,
    r#"{"name":"search_tools","title":"Search tools","description":"Finds the tools that match a query (words matched against tool names, titles and descriptions; the best matches first) and returns their full definitions, input schemas included. Call a tool found here with call_tool.","#,
    r#""inputSchema":{"type":"object","properties":{"query":{"type":"string","description":"Words to look for, e.g. \"create issue\"."},"limit":{"type":"integer","minimum":1,"maximum":50,"description":"How many tools to return at most (default 10)."}},"required":["query"]},"#,
    r#""annotations":{"readOnlyHint":true,"openWorldHint":false}},"#,
    r#"{"name":"call_tool","title":"Call a tool","description":"Calls a tool found with search_tools, by its name, with its arguments.","#,
    r#""inputSchema":{"type":"object","properties":{"name":{"type":"string","description":"The tool's name, as search_tools returned it."},"arguments":{"type":"object","description":"The tool's arguments, as its inputSchema describes them."}},"required":["name"]}}"#,
    r#"]}"#
);

/// The tool a `tools/call` calls and its arguments: in search mode, a `call_tool`'s inner tool.
pub(crate) fn called_tool<'m>(view: &View, msg: &'m Message) -> (Cow<'m, str>, Option<&'m str>) {
    let name = msg.param_str("name").unwrap_or_default();
    let arguments = msg.param("arguments");
    if view.search_mode()
        && name == CALL_TOOL
        && let Some(inner) = arguments.and_then(|a| object::get_str(a, "name"))
    {
        return (inner, arguments.and_then(|a| object::get(a, "arguments")));
    }
    (name, arguments)
}

/// `search_tools`: the view's tools ranked against the query.
pub(crate) fn search(cx: &Cx<'_>, msg: &Message) -> Result<Outcome, RpcError> {
    let args = msg.param("arguments").unwrap_or("{}");
    let query = object::get_str(args, "query")
        .ok_or_else(|| error::invalid_params("search_tools needs arguments.query, a string"))?;
    let limit = match object::get(args, "limit") {
        None | Some("null") => DEFAULT_LIMIT,
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                error::invalid_params(format!(
                    "search_tools arguments.limit must be a whole number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    let found = rank(cx.view.items(ListKind::Tools), &query, limit as usize);
    let mut tools = String::with_capacity(2 + found.iter().map(|t| t.len() + 1).sum::<usize>());
    tools.push('[');
    for (i, t) in found.iter().enumerate() {
        if i > 0 {
            tools.push(',');
        }
        tools.push_str(t);
    }
    tools.push(']');
    let structured = format!("{{\"tools\":{tools}}}");
    let text = object::json_string(&structured);
    Ok(Outcome::Local(format!(
        "{{\"content\":[{{\"type\":\"text\",\"text\":{text}}}],\"structuredContent\":{structured}}}"
    )))
}

/// `call_tool`: the inner call, served as a `tools/call` of the named tool.
pub(crate) async fn call_tool(
    gw: &Gateway,
    cx: &Cx<'_>,
    msg: &Message,
) -> Result<Outcome, RpcError> {
    let params = msg.params().unwrap_or("{}");
    let args = object::get(params, "arguments")
        .filter(|a| a.starts_with('{'))
        .ok_or_else(|| error::invalid_params("call_tool needs arguments.name, a string"))?;
    let name = object::get(args, "name")
        .filter(|n| object::string_value(n).is_some())
        .ok_or_else(|| error::invalid_params("call_tool needs arguments.name, a string"))?;
    let inner = match object::get(args, "arguments") {
        None | Some("null") => Edit::Remove,
        Some(a) if a.starts_with('{') => Edit::Set(a),
        Some(_) => {
            return Err(error::invalid_params(
                "call_tool arguments.arguments must be an object",
            ));
        }
    };
    let rewritten = object::edit(params, &[("name", Edit::Set(name)), ("arguments", inner)])
        .ok_or_else(|| error::invalid_params("params is not a valid object"))?;
    let id = msg
        .id()
        .ok_or_else(|| error::invalid_params("a call needs an id"))?;
    let body = switchboard_protocol::message::encode::request(id, "tools/call", Some(&rewritten));
    let inner_msg = Message::parse(Bytes::from(body))
        .map_err(|_| error::invalid_params("call_tool arguments are not valid JSON"))?;
    super::call::call_named(gw, cx, ListKind::Tools, &inner_msg).await
}

/// The best `limit` of `items` for `query`, best first (ties in catalog order). Each word of
/// the query scores where it appears: in the name most, then the title, then the description;
/// the whole query as the exact name scores above everything. An empty query lists the first
/// `limit` tools.
fn rank<'a>(items: impl Iterator<Item = &'a str>, query: &str, limit: usize) -> Vec<&'a str> {
    let query = query.to_lowercase();
    let words: Vec<&str> = query
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut scored: Vec<(u32, usize, &str)> = Vec::new();
    for (i, item) in items.enumerate() {
        let score = if words.is_empty() {
            1
        } else {
            score(item, &query, &words)
        };
        if score > 0 {
            scored.push((score, i, item));
        }
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(limit).map(|(_, _, t)| t).collect()
}

fn score(item: &str, query: &str, words: &[&str]) -> u32 {
    let field = |k: &str| {
        object::get_str(item, k)
            .map(|v| v.to_lowercase())
            .unwrap_or_default()
    };
    let (name, title, description) = (field("name"), field("title"), field("description"));
    let mut score = 0;
    if name == query.trim() {
        score += 100;
    }
    for w in words {
        if name.contains(w) {
            score += 10;
            // A whole part of the name (`github__create_issue`: `create`, `issue`) counts more.
            if name
                .split(|c: char| !c.is_alphanumeric())
                .any(|part| part == *w)
            {
                score += 5;
            }
        }
        if title.contains(w) {
            score += 4;
        }
        score += 2 * description.matches(w).count().min(3) as u32;
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_tool_list_is_json() {
        let v: serde_json::Value = serde_json::from_str(LIST).unwrap();
        assert_eq!(v["tools"][0]["name"], SEARCH_TOOLS);
        assert_eq!(v["tools"][1]["name"], CALL_TOOL);
    }

    #[test]
    fn names_outrank_descriptions_and_nothing_matching_is_left_out() {
        let items = [
            r#"{"name":"gh__list_issues","description":"Lists issues"}"#,
            r#"{"name":"gh__create_issue","description":"Creates an issue"}"#,
            r#"{"name":"jira__new_ticket","description":"Creates an issue in Jira"}"#,
            r#"{"name":"time__now","description":"The time"}"#,
        ];
        let got = rank(items.iter().copied(), "create issue", 10);
        assert_eq!(got[0], items[1], "{got:?}");
        assert!(got.contains(&items[2]) && got.contains(&items[0]));
        assert!(!got.contains(&items[3]));
        assert_eq!(rank(items.iter().copied(), "time__now", 1), [items[3]]);
        assert_eq!(rank(items.iter().copied(), "", 2), [items[0], items[1]]);
        assert!(rank(items.iter().copied(), "zebra", 10).is_empty());
    }
}
