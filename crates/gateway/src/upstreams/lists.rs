//! Fetching an upstream's lists: every page of `tools/list`, `prompts/list`, `resources/list` and
//! `resources/templates/list` it declared, up to a cap, with the cache hint a 2026-07-28 upstream
//! gives each.

use switchboard_config::{ItemFilter, UpstreamConfig};
use switchboard_protocol::Kind;
use switchboard_protocol::object;
use switchboard_upstream::{Connection, RequestCtx, UpstreamError};

use crate::catalog::{ListKind, Lists};
use crate::hints::Hint;

/// Most pages followed per list before the rest is ignored (and logged).
const MAX_PAGES: usize = 100;

/// Fetches every list the upstream declared, following cursors, keeping only the items its
/// config serves.
pub(crate) async fn fetch_lists(conn: &Connection, cfg: &UpstreamConfig) -> Lists {
    let mut lists = Lists {
        serves_resources: conn.info().is_some_and(|i| i.has("resources")),
        ..Lists::default()
    };
    for kind in ListKind::ALL {
        match fetch_list(conn, cfg, kind).await {
            Ok((items, hint)) => {
                *slot(&mut lists, kind) = items;
                lists.hints[kind.index()] = hint;
            }
            Err(e) => tracing::warn!(
                upstream = conn.name(),
                list = kind.method(),
                "list failed: {e}"
            ),
        }
    }
    lists
}

pub(crate) fn slot(lists: &mut Lists, kind: ListKind) -> &mut Vec<Box<str>> {
    match kind {
        ListKind::Tools => &mut lists.tools,
        ListKind::Prompts => &mut lists.prompts,
        ListKind::Resources => &mut lists.resources,
        ListKind::Templates => &mut lists.templates,
    }
}

/// The filter the config sets on `kind` (templates share the resources filter).
pub(crate) fn filter_of(cfg: &UpstreamConfig, kind: ListKind) -> &ItemFilter {
    match kind {
        ListKind::Tools => &cfg.tools,
        ListKind::Prompts => &cfg.prompts,
        ListKind::Resources | ListKind::Templates => &cfg.resources,
    }
}

/// What an item of `kind` is filtered by: a tool's or prompt's name, a resource's URI, a
/// template's URI template.
fn filtered_name(kind: ListKind, raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    let key = match kind {
        ListKind::Tools | ListKind::Prompts => "name",
        ListKind::Resources => "uri",
        ListKind::Templates => "uriTemplate",
    };
    object::get_str(raw, key)
}

/// Fetches one list; an upstream without the capability has an empty list. Items the config
/// filters out are dropped here, so nothing downstream (catalog, views, routing) ever sees them:
/// a filtered item is absent from every list and unknown to every call.
pub(crate) async fn fetch_list(
    conn: &Connection,
    cfg: &UpstreamConfig,
    kind: ListKind,
) -> Result<(Vec<Box<str>>, Option<Hint>), UpstreamError> {
    if !conn.info().is_some_and(|i| i.has(kind.capability())) {
        return Ok((Vec::new(), None));
    }
    let mut items = Vec::new();
    let mut hint: Option<Hint> = None;
    let mut cursor: Option<String> = None;
    for page in 0.. {
        if page == MAX_PAGES {
            tracing::warn!(
                upstream = conn.name(),
                list = kind.method(),
                "more than {MAX_PAGES} pages; the rest is ignored"
            );
            break;
        }
        let params = cursor.as_ref().map(|c| format!("{{\"cursor\":{c}}}"));
        let resp = conn
            .request(kind.method(), params.as_deref(), RequestCtx::default())
            .await?;
        if resp.kind() != Kind::Result {
            // Resources without templates (or the reverse) answer "method not found": an empty list.
            if kind == ListKind::Templates {
                return Ok((items, hint));
            }
            return Err(UpstreamError::Protocol(format!(
                "{} failed: {}",
                kind.method(),
                resp.error().unwrap_or("")
            )));
        }
        let result = resp.result().unwrap_or("{}");
        // Each page carries a hint (2026-07-28); the list is as cacheable as its least page.
        if conn.is_modern() {
            let page_hint = Hint::from_result(result);
            hint = Some(hint.map_or(page_hint, |h| h.merge(page_hint)));
        }
        let Some(array) = object::get(result, kind.key()) else {
            return Err(UpstreamError::Protocol(format!(
                "{} result lacks {}",
                kind.method(),
                kind.key()
            )));
        };
        let Some(page_items) = object::array_items(array) else {
            return Err(UpstreamError::Protocol(format!(
                "{}.{} is not an array",
                kind.method(),
                kind.key()
            )));
        };
        let filter = filter_of(cfg, kind);
        items.extend(
            page_items
                .into_iter()
                .filter(|i| i.starts_with('{'))
                // An item without a name is kept: the catalog withholds it, and says why.
                .filter(|i| {
                    filter.is_open() || filtered_name(kind, i).is_none_or(|n| filter.permits(&n))
                })
                .map(Box::from),
        );
        match object::get(result, "nextCursor") {
            Some(c) if c.starts_with('"') && Some(c) != cursor.as_deref() => {
                cursor = Some(c.to_owned())
            }
            _ => break,
        }
    }
    Ok((items, hint))
}
