//! What one caller sees of the catalog, and the one place names are resolved.
//!
//! A [`View`] is the catalog narrowed by everything that decides visibility: the tools a
//! 2026-07-28 caller cannot call right (invalid `x-mcp-header` annotations) and the caller's
//! visibility scopes ([`crate::policy`]); and at `/mcp/v/<id>`, the product's selection, with its
//! per-tool overrides (a renamed tool resolves by its new name only). Every list, call, read,
//! completion, subscription, listen fan-out and 2026-07-28 header check asks the view, through
//! [`View::items`] and [`View::resolve`], so a hidden item and an unknown one are the same thing
//! by construction: there is no second lookup that could tell them apart.
//!
//! Views are built once per (catalog generation, [`ViewKey`]) and cached in [`Views`]; a request
//! takes its view with a lock-free load and a map lookup, never rebuilding it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use switchboard_protocol::headers::ParamHeader;

use crate::catalog::{Catalog, Entry, ListKind};
use crate::policy;
use crate::products::Product;
use crate::upstreams::UpstreamId;
use switchboard_config::{ToolMode, ToolOverride};
use switchboard_protocol::lock;
use switchboard_protocol::object::{self, Edit};

/// Which view: everything that decides what a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewKey {
    /// A 2026-07-28 caller (some tools are hidden from it).
    modern: bool,
    /// The visibility scopes the caller holds ([`crate::policy::Policy::held`]).
    held: u64,
    /// The endpoint: `/mcp`, or a product's `/mcp/v/<id>`.
    endpoint: Endpoint,
}

/// Where a caller came in: the whole catalog at `/mcp`, or one product at `/mcp/v/<id>`. A
/// session belongs to its endpoint as it belongs to its principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Endpoint(u16);

impl Endpoint {
    /// `/mcp`.
    pub const WHOLE: Endpoint = Endpoint(0);

    /// The product given slot `index` (see `crate::products`).
    pub(crate) fn product(index: usize) -> Option<Endpoint> {
        u16::try_from(index + 1).ok().map(Endpoint)
    }
}

impl ViewKey {
    /// The whole catalog, as callers of one era see it (served at `/mcp`).
    pub fn whole(modern: bool) -> ViewKey {
        ViewKey {
            modern,
            held: policy::ALL,
            endpoint: Endpoint::WHOLE,
        }
    }

    /// What callers of one era see at `endpoint`.
    pub fn at(endpoint: Endpoint, modern: bool) -> ViewKey {
        ViewKey {
            modern,
            held: policy::ALL,
            endpoint,
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// This key for a caller holding the visibility scopes `held` (bits of one catalog's
    /// policy: see [`crate::Gateway::caller_view`]).
    pub fn with_held(self, held: u64) -> ViewKey {
        ViewKey { held, ..self }
    }
}

/// Where a name resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub upstream: &'a UpstreamId,
    /// The upstream's own name (tools, prompts) or the URI as the caller gave it (resources).
    pub original: &'a str,
}

/// The catalog as one kind of caller sees it.
#[derive(Debug)]
pub struct View {
    key: ViewKey,
    catalog: Arc<Catalog>,
    /// Per kind, the catalog positions shown, in catalog order.
    shown: [Vec<u32>; 4],
    /// Per kind, whether each catalog position is shown; `None` when all are.
    visible: [Option<Vec<bool>>; 4],
    /// The product served at this endpoint (`None` at `/mcp`).
    product: Option<Arc<Product>>,
    /// Tools are offered through `search_tools` and `call_tool` (`mode: search`).
    search: bool,
    /// With a product's overrides: every shown tool by the name the product exposes it under
    /// (catalog position); a renamed tool's catalog name is not in it.
    names: Option<HashMap<Box<str>, u32>>,
    /// Tool items the product's overrides rewrote, by catalog position.
    rewritten: HashMap<u32, Box<str>>,
}

impl View {
    /// Builds the view `key` of `catalog`.
    pub fn build(catalog: Arc<Catalog>, key: ViewKey) -> View {
        let policy = &catalog.policy;
        let mut shown: [Vec<u32>; 4] = Default::default();
        let mut visible: [Option<Vec<bool>>; 4] = Default::default();
        let product = catalog.products.at(key.endpoint).cloned();
        // An endpoint whose product is gone shows nothing (its sessions find no route anyway).
        let gone = key.endpoint != Endpoint::WHOLE && product.is_none();
        let search = match &product {
            Some(p) => p.cfg.mode == ToolMode::Search,
            None => catalog.products.whole_mode == ToolMode::Search,
        };
        let mut names = None;
        let mut rewritten = HashMap::new();
        for kind in ListKind::ALL {
            let n = catalog.len(kind);
            let mut flags = vec![!gone; n];
            if key.modern && kind == ListKind::Tools {
                for p in catalog.modern_hidden_positions() {
                    flags[p] = false;
                }
            }
            if let Some(product) = &product {
                let globs = match kind {
                    ListKind::Tools => &product.cfg.tools,
                    ListKind::Prompts => &product.cfg.prompts,
                    ListKind::Resources | ListKind::Templates => &product.cfg.resources,
                };
                for (p, flag) in flags.iter_mut().enumerate() {
                    let e = catalog.entry(kind, p);
                    let name = exposed_name(kind, e);
                    if *flag
                        && !globs
                            .iter()
                            .any(|g| switchboard_config::glob_match(g, &name))
                    {
                        *flag = false;
                    }
                }
            }
            if key.held != policy::ALL {
                for (p, flag) in flags.iter_mut().enumerate() {
                    let e = catalog.entry(kind, p);
                    if *flag
                        && (!policy.permits(e.upstream.as_str(), kind, &e.original, key.held)
                            || (policy.narrows()
                                && !policy.admits(&exposed_name(kind, e), key.held)))
                    {
                        *flag = false;
                    }
                }
            }
            if kind == ListKind::Tools
                && let Some(p) = product.as_ref().filter(|p| !p.cfg.overrides.is_empty())
            {
                let (table, items) = apply_overrides(&catalog, &p.cfg.overrides, &mut flags);
                names = Some(table);
                rewritten = items;
            }
            shown[kind.index()] = (0..n)
                .filter(|&p| flags[p])
                .filter_map(|p| u32::try_from(p).ok())
                .collect();
            if flags.iter().any(|&f| !f) {
                visible[kind.index()] = Some(flags);
            }
        }
        View {
            key,
            catalog,
            shown,
            visible,
            product,
            search,
            names,
            rewritten,
        }
    }

    /// The product served at this endpoint (`None` at `/mcp`).
    pub fn product(&self) -> Option<&Arc<Product>> {
        self.product.as_ref()
    }

    /// Whether tools are offered through the search meta-tools (`mode: search`).
    pub fn search_mode(&self) -> bool {
        self.search
    }

    /// The item at catalog position `pos` as this view shows it.
    fn item(&self, kind: ListKind, pos: usize) -> &str {
        // Without overrides (every view but a product's with some) this is one branch: no hash.
        if kind == ListKind::Tools
            && !self.rewritten.is_empty()
            && let Some(r) = u32::try_from(pos).ok().and_then(|p| self.rewritten.get(&p))
        {
            return r;
        }
        &self.catalog.entry(kind, pos).raw
    }

    /// The catalog position of a tool this view shows under `name`.
    fn tool_position(&self, name: &str) -> Option<usize> {
        match &self.names {
            Some(names) => names.get(name).map(|&p| p as usize),
            None => self
                .catalog
                .position(ListKind::Tools, name)
                .filter(|&p| self.is_shown(ListKind::Tools, p)),
        }
    }

    /// A tool this view shows, as it shows it (overrides applied).
    pub fn tool_item(&self, name: &str) -> Option<&str> {
        self.tool_position(name)
            .map(|p| self.item(ListKind::Tools, p))
    }

    pub fn key(&self) -> ViewKey {
        self.key
    }

    /// The generation of the catalog this view was built from.
    pub fn generation(&self) -> u64 {
        self.catalog.generation()
    }

    /// The catalog under the view (for what is not about visibility: `/status`, hints).
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    fn is_shown(&self, kind: ListKind, pos: usize) -> bool {
        self.visible[kind.index()]
            .as_ref()
            .is_none_or(|v| v.get(pos).copied().unwrap_or(false))
    }

    /// How many items of a kind the view shows.
    pub fn len(&self, kind: ListKind) -> usize {
        self.shown[kind.index()].len()
    }

    /// The items of one list (raw JSON objects as clients see them), in catalog order.
    pub fn items(&self, kind: ListKind) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.shown[kind.index()]
            .iter()
            .map(move |&p| self.item(kind, p as usize))
    }

    /// Resolves an exposed tool or prompt name, or a resource URI (`ListKind::Resources`: a
    /// listed resource, else the first shown template that matches, else the only upstream that
    /// serves resources at all). `None` for an unknown name and a hidden one alike.
    pub fn resolve<'a>(&'a self, kind: ListKind, name: &'a str) -> Option<Target<'a>> {
        match kind {
            ListKind::Tools => self
                .tool_position(name)
                .map(|pos| to_target(self.catalog.entry(kind, pos), None)),
            ListKind::Prompts => {
                let pos = self.catalog.position(kind, name)?;
                self.is_shown(kind, pos)
                    .then(|| to_target(self.catalog.entry(kind, pos), None))
            }
            ListKind::Resources | ListKind::Templates => {
                if let Some(pos) = self.catalog.position(ListKind::Resources, name) {
                    return self
                        .is_shown(ListKind::Resources, pos)
                        .then(|| to_target(self.catalog.entry(ListKind::Resources, pos), None));
                }
                if let Some(pos) = self
                    .catalog
                    .matching_templates(name)
                    .find(|&p| self.is_shown(ListKind::Templates, p))
                {
                    let e = self.catalog.entry(ListKind::Templates, pos);
                    return Some(to_target(e, Some(name)));
                }
                self.catalog
                    .sole_resource_server()
                    .filter(|u| {
                        let policy = &self.catalog.policy;
                        policy.permits_upstream(u.as_str(), self.key.held)
                            && policy.admits(name, self.key.held)
                    })
                    .map(|upstream| Target {
                        upstream,
                        original: name,
                    })
            }
        }
    }

    /// Whether the caller may reach `upstream` at all (its upstream-wide scopes).
    pub fn may_reach(&self, upstream: &str) -> bool {
        self.catalog
            .policy
            .permits_upstream(upstream, self.key.held)
    }

    /// The metric series of a tool (by exposed name), resolved with `resolve` on its catalog
    /// entry's first call and kept there: later calls take no lock and allocate nothing.
    pub fn tool_metrics(
        &self,
        name: &str,
        resolve: impl FnOnce() -> switchboard_telemetry::ToolMetrics,
    ) -> switchboard_telemetry::ToolMetrics {
        match self.tool_position(name) {
            Some(p) => self
                .catalog
                .entry(ListKind::Tools, p)
                .metrics
                .get_or_init(resolve)
                .clone(),
            None => switchboard_telemetry::ToolMetrics::default(),
        }
    }

    /// The `x-mcp-header` annotations of a tool this view shows, if it has any.
    pub fn param_headers(&self, tool: &str) -> Option<&Arc<[ParamHeader]>> {
        let pos = self.tool_position(tool)?;
        if self.names.is_none() {
            return self.catalog.param_headers(tool);
        }
        let own = exposed_name(ListKind::Tools, self.catalog.entry(ListKind::Tools, pos));
        self.catalog.param_headers(&own)
    }

    /// Whether a list differs between two views (what their clients must be told about). A
    /// search-mode tool list is the two meta-tools whatever the catalog holds.
    pub fn differs(&self, other: &View, kind: ListKind) -> bool {
        if kind == ListKind::Tools && self.search && other.search {
            return false;
        }
        self.search != other.search || !self.items(kind).eq(other.items(kind))
    }
}

/// The name a product's globs match: the exposed (namespaced) name of a tool or prompt, the
/// URI of a resource, the URI template of a template.
pub(crate) fn exposed_name(kind: ListKind, e: &Entry) -> std::borrow::Cow<'_, str> {
    match kind {
        ListKind::Tools | ListKind::Prompts => {
            switchboard_protocol::object::get_str(&e.raw, "name")
                .unwrap_or(std::borrow::Cow::Borrowed(&e.original))
        }
        ListKind::Resources | ListKind::Templates => std::borrow::Cow::Borrowed(&e.original),
    }
}

/// A product's overrides over the shown tools (`flags`): the table of exposed names and the
/// rewritten items. Two shown tools under one name (possible only when the catalog changed
/// after the product was saved): the earlier in catalog order keeps it, the other is hidden
/// from the product (and `product_report` says so).
fn apply_overrides(
    catalog: &Catalog,
    overrides: &[ToolOverride],
    flags: &mut [bool],
) -> (HashMap<Box<str>, u32>, HashMap<u32, Box<str>>) {
    let mut names: HashMap<Box<str>, u32> = HashMap::with_capacity(flags.len());
    let mut rewritten = HashMap::new();
    for (p, flag) in flags.iter_mut().enumerate() {
        let Ok(pos) = u32::try_from(p) else { break };
        if !*flag {
            continue;
        }
        let e = catalog.entry(ListKind::Tools, p);
        let own = exposed_name(ListKind::Tools, e);
        let o = overrides.iter().find(|o| o.tool == *own);
        let exposed = o.map_or(&*own, |o| o.exposed());
        if names.contains_key(exposed) {
            *flag = false;
            continue;
        }
        names.insert(exposed.into(), pos);
        if let Some(raw) = o.and_then(|o| rewrite(&e.raw, o)) {
            rewritten.insert(pos, raw);
        }
    }
    (names, rewritten)
}

/// A tool item with an override applied: name, title and description replaced, annotations
/// merged over the tool's own. Every other byte is kept.
fn rewrite(raw: &str, o: &ToolOverride) -> Option<Box<str>> {
    let name = o.name.as_deref().map(object::json_string);
    let title = o.title.as_deref().map(object::json_string);
    let description = o.description.as_deref().map(object::json_string);
    let annotations = o.annotations.as_ref().map(|add| {
        let mut own = object::get(raw, "annotations")
            .and_then(|a| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(a).ok()
            })
            .unwrap_or_default();
        for (k, v) in add {
            own.insert(k.clone(), v.clone());
        }
        serde_json::Value::Object(own).to_string()
    });
    let mut edits: Vec<(&str, Edit<'_>)> = Vec::with_capacity(4);
    for (key, value) in [
        ("name", &name),
        ("title", &title),
        ("description", &description),
        ("annotations", &annotations),
    ] {
        if let Some(v) = value {
            edits.push((key, Edit::Set(v)));
        }
    }
    if edits.is_empty() {
        return None;
    }
    object::edit(raw, &edits).map(String::into_boxed_str)
}

fn to_target<'a>(e: &'a Entry, uri: Option<&'a str>) -> Target<'a> {
    Target {
        upstream: &e.upstream,
        original: uri.unwrap_or(&e.original),
    }
}

/// The views built so far, by key; each is rebuilt when the catalog has moved on.
///
/// Every request reads it, so reading takes no lock: the map is a copy-on-write snapshot, and
/// only building a view that is missing (once per key and catalog generation) takes the lock.
#[derive(Default)]
pub struct Views {
    cache: ArcSwap<HashMap<ViewKey, Arc<View>>>,
    fill: Mutex<()>,
}

impl Views {
    /// The view `key` of `catalog`, from the cache when it was built from this catalog.
    pub fn get(&self, catalog: &Arc<Catalog>, key: ViewKey) -> Arc<View> {
        let generation = catalog.generation();
        let current = |map: &HashMap<ViewKey, Arc<View>>| {
            map.get(&key)
                .filter(|v| v.generation() == generation)
                .cloned()
        };
        if let Some(v) = current(&self.cache.load()) {
            return v;
        }
        let _fill = lock(&self.fill);
        let now = self.cache.load_full();
        if let Some(v) = current(&now) {
            return v;
        }
        let view = Arc::new(View::build(catalog.clone(), key));
        // A request still holding an older catalog gets its view, but never evicts a newer one.
        if now.values().all(|v| v.generation() <= generation) {
            let mut next: HashMap<ViewKey, Arc<View>> = now
                .iter()
                .filter(|(_, v)| v.generation() == generation)
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            next.insert(key, view.clone());
            self.cache.store(Arc::new(next));
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Lists, Source};

    fn lists(tools: &[&str]) -> Lists {
        Lists {
            tools: tools.iter().map(|t| Box::from(*t)).collect(),
            ..Lists::default()
        }
    }

    fn catalog(generation: u64) -> Arc<Catalog> {
        let a = UpstreamId::new("a");
        let b = UpstreamId::new("b");
        let la = lists(&[
            r#"{"name":"echo","inputSchema":{"type":"object"}}"#,
            // An annotation SEP-2243 forbids (a header on a non-primitive): hidden from
            // 2026-07-28 callers only.
            r#"{"name":"bad","inputSchema":{"type":"object","properties":{"o":{"type":"object","x-mcp-header":"O"}}}}"#,
        ]);
        let lb = lists(&[r#"{"name":"echo","inputSchema":{"type":"object"}}"#]);
        let sources = [
            Source {
                id: &a,
                prefix: "a",
                lists: Some(&la),
            },
            Source {
                id: &b,
                prefix: "b",
                lists: Some(&lb),
            },
        ];
        Arc::new(Catalog::build(&sources, "__", generation))
    }

    #[test]
    fn hidden_and_unknown_resolve_alike() {
        let c = catalog(1);
        assert!(c.hidden_from_modern("a__bad"), "fixture must hide a__bad");
        let handshake = View::build(c.clone(), ViewKey::whole(false));
        let modern = View::build(c, ViewKey::whole(true));
        let t = handshake.resolve(ListKind::Tools, "a__bad").unwrap();
        assert_eq!((t.upstream.as_str(), t.original), ("a", "bad"));
        assert_eq!(modern.resolve(ListKind::Tools, "a__bad"), None);
        assert_eq!(
            modern.resolve(ListKind::Tools, "a__bad"),
            modern.resolve(ListKind::Tools, "a__nothing")
        );
        assert_eq!(modern.param_headers("a__bad"), None);
        assert_eq!(handshake.len(ListKind::Tools), 3);
        assert_eq!(modern.len(ListKind::Tools), 2);
        assert!(!modern.items(ListKind::Tools).any(|i| i.contains("a__bad")));
        let b = modern.resolve(ListKind::Tools, "b__echo").unwrap();
        assert_eq!((b.upstream.as_str(), b.original), ("b", "echo"));
    }

    #[test]
    fn a_products_overrides_rename_rewrite_and_hide_the_old_name() {
        let mut c = Arc::try_unwrap(catalog(1)).unwrap();
        let product = switchboard_config::ProductConfig {
            id: "p".into(),
            tools: vec!["a__*".into(), "b__echo".into()],
            overrides: vec![
                ToolOverride {
                    tool: "a__echo".into(),
                    name: Some("say".into()),
                    title: Some("Say".into()),
                    annotations: Some(serde_json::from_str(r#"{"readOnlyHint":true}"#).unwrap()),
                    ..ToolOverride::default()
                },
                // Collides with `say` only in the live catalog: the later tool is hidden.
                ToolOverride {
                    tool: "b__echo".into(),
                    name: Some("say".into()),
                    ..ToolOverride::default()
                },
            ],
            ..Default::default()
        };
        c.products = Arc::new(crate::products::Products::numbered(&[product]));
        let endpoint = Endpoint::product(0).unwrap();
        let v = View::build(Arc::new(c), ViewKey::at(endpoint, false));
        let items: Vec<&str> = v.items(ListKind::Tools).collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(items[0].contains(r#""name":"say""#) && items[0].contains(r#""title":"Say""#));
        assert!(
            items[0].contains(r#""annotations":{"readOnlyHint":true}"#),
            "{}",
            items[0]
        );
        assert!(items[0].contains(r#""inputSchema":{"type":"object"}"#));
        let t = v.resolve(ListKind::Tools, "say").unwrap();
        assert_eq!((t.upstream.as_str(), t.original), ("a", "echo"));
        assert_eq!(v.resolve(ListKind::Tools, "a__echo"), None);
        assert_eq!(v.resolve(ListKind::Tools, "b__echo"), None);
        assert!(v.resolve(ListKind::Tools, "a__bad").is_some());
        assert_eq!(v.tool_item("say"), Some(items[0]));
        // A product that is gone shows nothing.
        let gone = View::build(catalog(2), ViewKey::at(endpoint, false));
        assert_eq!(gone.len(ListKind::Tools), 0);
        assert_eq!(gone.resolve(ListKind::Tools, "a__echo"), None);
    }

    #[test]
    fn views_are_cached_per_generation() {
        let views = Views::default();
        let c1 = catalog(1);
        let v1 = views.get(&c1, ViewKey::whole(true));
        assert!(Arc::ptr_eq(&v1, &views.get(&c1, ViewKey::whole(true))));
        assert!(!Arc::ptr_eq(&v1, &views.get(&c1, ViewKey::whole(false))));
        let c2 = catalog(2);
        let v2 = views.get(&c2, ViewKey::whole(true));
        assert!(
            !Arc::ptr_eq(&v1, &v2),
            "a new catalog must rebuild the view"
        );
        assert_eq!(v2.generation(), 2);
    }
}
