//! The merged catalog: every upstream's tools, prompts, resources and resource templates under
//! stable names, and the tables that route a name or URI back to its upstream.
//!
//! A catalog is an immutable snapshot rebuilt whenever an upstream's lists change or it comes or
//! goes; readers take the current snapshot without locking. Names are `<prefix><separator><name>`
//! (or the bare name for an empty prefix). When two upstreams produce the same final name, the one
//! earlier in the config keeps it and the other's item is withheld and reported: adding an upstream
//! can never rename another's items. Resource URIs are never rewritten; reads route through a
//! URI table, then through templates in config order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use switchboard_protocol::headers::{ParamHeader, param_headers};
use switchboard_protocol::object::{self, Edit};

use crate::upstreams::UpstreamId;

/// Raw list items of one upstream, as fetched (each a JSON object, verbatim).
#[derive(Debug, Default, Clone)]
pub struct Lists {
    pub tools: Vec<Box<str>>,
    pub prompts: Vec<Box<str>>,
    pub resources: Vec<Box<str>>,
    pub templates: Vec<Box<str>>,
    /// The cache hint a 2026-07-28 upstream gave each list (tools, prompts, resources,
    /// templates); `None` from handshake-era upstreams, which give none.
    pub hints: [Option<crate::hints::Hint>; 4],
    /// The upstream declared the `resources` capability.
    pub serves_resources: bool,
}

/// The four kinds of list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl ListKind {
    pub const ALL: [ListKind; 4] = [
        ListKind::Tools,
        ListKind::Prompts,
        ListKind::Resources,
        ListKind::Templates,
    ];

    /// Its place in per-kind arrays (tools, prompts, resources, templates).
    pub fn index(self) -> usize {
        match self {
            ListKind::Tools => 0,
            ListKind::Prompts => 1,
            ListKind::Resources => 2,
            ListKind::Templates => 3,
        }
    }

    /// The list method.
    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Prompts => "prompts/list",
            ListKind::Resources => "resources/list",
            ListKind::Templates => "resources/templates/list",
        }
    }

    /// The member of the list result holding the items.
    pub fn key(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::Templates => "resourceTemplates",
        }
    }

    /// The capability an upstream must declare to have this list.
    pub fn capability(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources | ListKind::Templates => "resources",
        }
    }

    /// The notification that says this list changed.
    pub fn changed_notification(self) -> &'static str {
        match self {
            ListKind::Tools => "notifications/tools/list_changed",
            ListKind::Prompts => "notifications/prompts/list_changed",
            ListKind::Resources | ListKind::Templates => "notifications/resources/list_changed",
        }
    }
}

/// One exposed item.
#[derive(Debug, Clone)]
pub struct Entry {
    pub upstream: UpstreamId,
    /// The upstream's own name (tools, prompts) or URI (resources) / URI template (templates).
    pub original: Box<str>,
    /// The JSON object clients see (name rewritten where namespaced).
    pub raw: Box<str>,
    /// A tool's metric series, resolved on its first call (once per catalog generation).
    pub metrics: std::sync::OnceLock<switchboard_telemetry::ToolMetrics>,
}

/// An item not exposed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    pub kind: ListKind,
    pub upstream: String,
    pub name: String,
    pub reason: String,
}

/// What the catalog builder needs to know about each upstream, in config order.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub id: &'a UpstreamId,
    pub prefix: &'a str,
    /// `None` when the upstream is not connected: it contributes nothing.
    pub lists: Option<&'a Lists>,
}

/// An immutable snapshot of everything exposed.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Counts rebuilds: a view built from an older catalog is stale.
    generation: u64,
    pub tools: Vec<Entry>,
    pub prompts: Vec<Entry>,
    pub resources: Vec<Entry>,
    pub templates: Vec<Template>,
    tool_index: HashMap<Box<str>, usize>,
    prompt_index: HashMap<Box<str>, usize>,
    resource_index: HashMap<Box<str>, usize>,
    pub withheld: Vec<Withheld>,
    /// The `x-mcp-header` annotations of tools that have any (by exposed name).
    param_headers: HashMap<Box<str>, Arc<[ParamHeader]>>,
    /// Tools whose annotations break SEP-2243's rules: 2026-07-28 callers do not see them.
    modern_hidden: HashSet<Box<str>>,
    /// The only upstream serving resources, if exactly one does: reads of URIs no table knows
    /// go there.
    sole_resource_server: Option<UpstreamId>,
    /// Who may see which of these items (compiled from the upstreams' configs it was built
    /// from, so a view's rules always belong to its catalog).
    pub policy: Arc<crate::policy::Policy>,
    /// The products served at `/mcp/v/<id>`, and how `/mcp` offers its tools.
    pub products: Arc<crate::products::Products>,
}

/// A resource template and a matcher for it.
#[derive(Debug, Clone)]
pub struct Template {
    pub entry: Entry,
    pattern: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{var}`: any run without `/`, `?`, `#`; `{+var}` / `{#var}`: anything.
    Var {
        reserved: bool,
    },
}

/// Longest tool name the spec allows.
const MAX_NAME: usize = 128;

impl Catalog {
    /// Builds the catalog (its `generation`-th) from upstreams in config order.
    pub fn build(sources: &[Source<'_>], separator: &str, generation: u64) -> Catalog {
        let mut c = Catalog {
            generation,
            ..Catalog::default()
        };
        let mut resource_servers = sources
            .iter()
            .filter(|s| s.lists.is_some_and(|l| l.serves_resources));
        if let (Some(only), None) = (resource_servers.next(), resource_servers.next()) {
            c.sole_resource_server = Some(only.id.clone());
        }
        for src in sources {
            let Some(lists) = src.lists else { continue };
            let idx = src.id;
            for raw in &lists.tools {
                c.add_named(ListKind::Tools, src, separator, raw);
            }
            for raw in &lists.prompts {
                c.add_named(ListKind::Prompts, src, separator, raw);
            }
            for raw in &lists.resources {
                let Some(uri) = object::get_str(raw, "uri") else {
                    c.withhold(ListKind::Resources, src, "?", "resource without a uri");
                    continue;
                };
                if let Some(&prev) = c.resource_index.get(uri.as_ref()) {
                    let winner = &c.resources[prev].upstream;
                    c.withhold(
                        ListKind::Resources,
                        src,
                        &uri,
                        &format!("uri already served by upstream {winner}"),
                    );
                    continue;
                }
                c.resource_index
                    .insert(uri.as_ref().into(), c.resources.len());
                c.resources.push(Entry {
                    upstream: idx.clone(),
                    original: uri.as_ref().into(),
                    raw: raw.clone(),
                    metrics: Default::default(),
                });
            }
            for raw in &lists.templates {
                let Some(t) = object::get_str(raw, "uriTemplate") else {
                    c.withhold(
                        ListKind::Templates,
                        src,
                        "?",
                        "template without a uriTemplate",
                    );
                    continue;
                };
                if let Some(prev) = c.templates.iter().find(|p| *p.entry.original == *t) {
                    let winner = &prev.entry.upstream;
                    c.withhold(
                        ListKind::Templates,
                        src,
                        &t,
                        &format!("uri template already served by upstream {winner}"),
                    );
                    continue;
                }
                c.templates.push(Template {
                    pattern: parse_template(&t),
                    entry: Entry {
                        upstream: idx.clone(),
                        original: t.as_ref().into(),
                        raw: raw.clone(),
                        metrics: Default::default(),
                    },
                });
            }
        }
        c
    }

    fn add_named(&mut self, kind: ListKind, src: &Source<'_>, sep: &str, raw: &str) {
        let Some(name) = object::get_str(raw, "name") else {
            self.withhold(kind, src, "?", "item without a name");
            return;
        };
        let exposed = if src.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}{}{}", src.prefix, sep, name)
        };
        if kind == ListKind::Tools {
            if exposed.len() > MAX_NAME && name.len() <= MAX_NAME {
                self.withhold(
                    kind,
                    src,
                    &name,
                    &format!("prefixed name is longer than {MAX_NAME} characters"),
                );
                return;
            }
            if !valid_tool_name(&name) {
                tracing::warn!(upstream = %src.id, tool = %name, "tool name breaks the spec's naming rule; passed through unchanged");
            }
        }
        let (index, entries) = match kind {
            ListKind::Tools => (&mut self.tool_index, &mut self.tools),
            _ => (&mut self.prompt_index, &mut self.prompts),
        };
        if let Some(&prev) = index.get(exposed.as_str()) {
            let winner = &entries[prev].upstream;
            let why = format!("name {exposed} already taken by upstream {winner}");
            self.withhold(kind, src, &name, &why);
            return;
        }
        let raw: Box<str> = if src.prefix.is_empty() {
            raw.into()
        } else {
            let quoted = object::json_string(&exposed);
            match object::edit(raw, &[("name", Edit::Set(&quoted))]) {
                Some(r) => r.into_boxed_str(),
                None => return,
            }
        };
        let annotated = (kind == ListKind::Tools && raw.contains("x-mcp-header"))
            .then(|| param_headers(object::get(&raw, "inputSchema").unwrap_or("{}")));
        let exposed: Box<str> = exposed.into_boxed_str();
        index.insert(exposed.clone(), entries.len());
        entries.push(Entry {
            upstream: src.id.clone(),
            original: name.as_ref().into(),
            raw,
            metrics: Default::default(),
        });
        match annotated {
            None => {}
            Some(Ok(h)) if h.is_empty() => {}
            Some(Ok(h)) => {
                self.param_headers.insert(exposed, h.into());
            }
            Some(Err(why)) => {
                self.modern_hidden.insert(exposed);
                self.withhold(
                    kind,
                    src,
                    &name,
                    &format!("{why}; hidden from 2026-07-28 clients only"),
                );
            }
        }
    }

    fn withhold(&mut self, kind: ListKind, src: &Source<'_>, name: &str, reason: &str) {
        self.withheld.push(Withheld {
            kind,
            upstream: src.id.to_string(),
            name: name.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// The `x-mcp-header` annotations of a tool, if it has any.
    pub fn param_headers(&self, tool: &str) -> Option<&Arc<[ParamHeader]>> {
        self.param_headers.get(tool)
    }

    /// Whether a tool is kept from 2026-07-28 callers (its `x-mcp-header` annotations are
    /// invalid, so they could not send its headers right).
    pub fn hidden_from_modern(&self, tool: &str) -> bool {
        self.modern_hidden.contains(tool)
    }

    /// Routes an exposed tool name.
    pub fn tool(&self, name: &str) -> Option<&Entry> {
        self.tool_index.get(name).map(|&i| &self.tools[i])
    }

    /// Routes an exposed prompt name.
    pub fn prompt(&self, name: &str) -> Option<&Entry> {
        self.prompt_index.get(name).map(|&i| &self.prompts[i])
    }

    /// The position of an exposed tool or prompt name, or a listed resource's URI, in its list.
    pub fn position(&self, kind: ListKind, name: &str) -> Option<usize> {
        match kind {
            ListKind::Tools => self.tool_index.get(name).copied(),
            ListKind::Prompts => self.prompt_index.get(name).copied(),
            ListKind::Resources => self.resource_index.get(name).copied(),
            ListKind::Templates => None,
        }
    }

    /// The positions of the templates that match `uri`, in config order.
    pub fn matching_templates<'a>(&'a self, uri: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.templates
            .iter()
            .enumerate()
            .filter(move |(_, t)| matches(&t.pattern, uri))
            .map(|(i, _)| i)
    }

    /// The entry at `pos` of a list.
    pub fn entry(&self, kind: ListKind, pos: usize) -> &Entry {
        match kind {
            ListKind::Tools => &self.tools[pos],
            ListKind::Prompts => &self.prompts[pos],
            ListKind::Resources => &self.resources[pos],
            ListKind::Templates => &self.templates[pos].entry,
        }
    }

    /// The positions of the tools kept from 2026-07-28 callers.
    pub(crate) fn modern_hidden_positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.modern_hidden
            .iter()
            .filter_map(|n| self.tool_index.get(n).copied())
    }

    /// The upstream that serves resources when exactly one does.
    pub fn sole_resource_server(&self) -> Option<&UpstreamId> {
        self.sole_resource_server.as_ref()
    }

    /// This catalog's place in the sequence of rebuilds.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The items of one list, raw.
    pub fn items(&self, kind: ListKind) -> impl Iterator<Item = &str> {
        (0..self.len(kind)).map(move |p| &*self.entry(kind, p).raw)
    }

    /// Number of items of a kind.
    pub fn len(&self, kind: ListKind) -> usize {
        match kind {
            ListKind::Tools => self.tools.len(),
            ListKind::Prompts => self.prompts.len(),
            ListKind::Resources => self.resources.len(),
            ListKind::Templates => self.templates.len(),
        }
    }

    /// Whether a list differs between two snapshots (what clients must be told about).
    pub fn differs(&self, other: &Catalog, kind: ListKind) -> bool {
        !self.items(kind).eq(other.items(kind))
    }
}

/// The spec's tool-name rule (2025-11-25): 1–128 of `[A-Za-z0-9_.-]`.
pub fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn parse_template(t: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Segment::Literal(rest[..open].to_owned()));
        }
        let Some(close) = rest[open..].find('}') else {
            out.push(Segment::Literal(rest[open..].to_owned()));
            return out;
        };
        let expr = &rest[open + 1..open + close];
        out.push(Segment::Var {
            reserved: expr.starts_with('+') || expr.starts_with('#'),
        });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest.to_owned()));
    }
    out
}

/// Matches a URI against a parsed RFC 6570 template (level 1–2 expressions; enough to route).
fn matches(pattern: &[Segment], uri: &str) -> bool {
    match pattern.split_first() {
        None => uri.is_empty(),
        Some((Segment::Literal(l), rest)) => uri
            .strip_prefix(l.as_str())
            .is_some_and(|u| matches(rest, u)),
        Some((Segment::Var { reserved }, rest)) => {
            // Try every split point, shortest first; a variable matches at least one character.
            for (i, c) in uri
                .char_indices()
                .skip(1)
                .map(|(i, c)| (i, Some(c)))
                .chain([(uri.len(), None)])
            {
                let taken = &uri[..i];
                if !reserved && taken.contains(['/', '?', '#']) {
                    return false;
                }
                if matches(rest, &uri[i..]) {
                    return true;
                }
                if c.is_none() {
                    break;
                }
            }
            false
        }
    }
}

/// Shares the current catalog with readers that never block.
pub type Shared = Arc<arc_swap::ArcSwap<Catalog>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(tools: &[&str]) -> Lists {
        Lists {
            tools: tools
                .iter()
                .map(|n| {
                    format!(r#"{{"name":"{n}","inputSchema":{{"type":"object"}},"x-v":1}}"#).into()
                })
                .collect(),
            ..Lists::default()
        }
    }

    #[test]
    fn names_are_prefixed_and_stable() {
        let a = lists(&["echo", "add"]);
        let b = lists(&["echo"]);
        let c = Catalog::build(
            &[
                Source {
                    id: &UpstreamId::new("a"),
                    prefix: "a",
                    lists: Some(&a),
                },
                Source {
                    id: &UpstreamId::new("b"),
                    prefix: "",
                    lists: Some(&b),
                },
            ],
            "__",
            1,
        );
        assert_eq!(c.tool("a__echo").unwrap().original.as_ref(), "echo");
        assert_eq!(c.tool("echo").unwrap().upstream.as_str(), "b");
        assert!(
            c.tool("a__echo")
                .unwrap()
                .raw
                .contains(r#""name":"a__echo""#)
        );
        assert!(c.tool("a__echo").unwrap().raw.contains(r#""x-v":1"#));
        assert!(c.tool("b__echo").is_none());
    }

    #[test]
    fn earlier_upstream_wins_collisions() {
        let a = lists(&["x__y"]);
        let b = lists(&["y"]);
        let c = Catalog::build(
            &[
                Source {
                    id: &UpstreamId::new("a"),
                    prefix: "",
                    lists: Some(&a),
                },
                Source {
                    id: &UpstreamId::new("b"),
                    prefix: "x",
                    lists: Some(&b),
                },
            ],
            "__",
            1,
        );
        assert_eq!(c.tool("x__y").unwrap().upstream.as_str(), "a");
        assert_eq!(c.withheld.len(), 1);
        assert_eq!(c.withheld[0].upstream, "b");
    }

    #[test]
    fn long_prefixed_names_are_withheld() {
        let long = "t".repeat(127);
        let a = lists(&[&long]);
        let c = Catalog::build(
            &[Source {
                id: &UpstreamId::new("a"),
                prefix: "a",
                lists: Some(&a),
            }],
            "__",
            1,
        );
        assert!(c.tools.is_empty());
        assert_eq!(c.withheld.len(), 1);
    }

    #[test]
    fn templates_route_reads() {
        let p = parse_template("test://template/{id}/data");
        assert!(matches(&p, "test://template/42/data"));
        assert!(!matches(&p, "test://template/4/2/data"));
        assert!(!matches(&p, "test://template//data"));
        let p = parse_template("file:///{+path}");
        assert!(matches(&p, "file:///a/b/c"));
    }
}
