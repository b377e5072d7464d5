//! Products as the gateway serves them: the published selections at `/mcp/v/<id>`, replaced
//! whole at run time (a config reload, `PUT /api/products`), each at an [`Endpoint`] that stays
//! its own for the life of the process.
//!
//! A product's endpoint is a slot handed out the first time its id is seen and never reused for
//! another id, so a session opened at `/mcp/v/support` stays bound to `support` across reloads
//! (and, if `support` is removed or drafted, simply finds no product: 404). Products travel with
//! each catalog ([`crate::catalog::Catalog::products`]): replacing them rebuilds the catalog, so
//! every view is rebuilt from one consistent pair and the sessions whose lists changed are told.
//!
//! What needs the live catalog is checked here ([`Gateway::product_report`]): whether each glob
//! selects anything (a warning) and whether two tools of a product end up under one name (an
//! error, naming both, when the product is loaded or saved).

use std::sync::Arc;

use switchboard_config::{ProductConfig, ProductStatus, ToolMode};
use switchboard_protocol::lock;

use crate::Gateway;
use crate::catalog::{Catalog, ListKind};
use crate::view::Endpoint;

/// Every product, and how `/mcp` offers its tools.
#[derive(Debug, Default)]
pub struct Products {
    /// In config order.
    list: Vec<Arc<Product>>,
    /// `mode:` at the top of the config: how `/mcp` offers its tools.
    pub whole_mode: ToolMode,
}

/// One product and the endpoint it is served at.
#[derive(Debug)]
pub struct Product {
    pub cfg: ProductConfig,
    pub endpoint: Endpoint,
    /// The id, shared (audit records, idempotency keys).
    pub id: Arc<str>,
}

impl Products {
    /// The product served at `endpoint` (`None` for `/mcp`, and for an endpoint whose product
    /// is gone).
    pub fn at(&self, endpoint: Endpoint) -> Option<&Arc<Product>> {
        if endpoint == Endpoint::WHOLE {
            return None;
        }
        self.list.iter().find(|p| p.endpoint == endpoint)
    }

    /// The product `id`, published or not.
    pub fn get(&self, id: &str) -> Option<&Arc<Product>> {
        self.list.iter().find(|p| p.cfg.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Product>> {
        self.list.iter()
    }

    /// Products at endpoints 1, 2, … in order (unit tests of views).
    #[cfg(test)]
    pub(crate) fn numbered(configs: &[ProductConfig]) -> Products {
        Products {
            list: configs
                .iter()
                .enumerate()
                .filter_map(|(i, cfg)| {
                    Some(Arc::new(Product {
                        id: Arc::from(cfg.id.as_str()),
                        cfg: cfg.clone(),
                        endpoint: Endpoint::product(i)?,
                    }))
                })
                .collect(),
            whole_mode: ToolMode::List,
        }
    }
}

/// The slots handed out so far, by id (slot `i + 1` is `ids[i]`).
#[derive(Debug, Default)]
pub(crate) struct Slots {
    ids: std::sync::Mutex<Vec<String>>,
}

impl Slots {
    /// The endpoint of `id`, handed out now if it has none. `None` past 65,535 ids in one
    /// process's life.
    fn endpoint(&self, id: &str) -> Option<Endpoint> {
        let mut ids = lock(&self.ids);
        let i = match ids.iter().position(|x| x == id) {
            Some(i) => i,
            None => {
                ids.push(id.to_owned());
                ids.len() - 1
            }
        };
        Endpoint::product(i)
    }
}

/// What the live catalog says about one product.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProductReport {
    /// Globs that select nothing in the catalog now (`tools: fx__nope*`): served, but empty.
    pub warnings: Vec<String>,
    /// Two tools exposed under one name: the product is refused.
    pub collisions: Vec<String>,
}

impl Gateway {
    /// Builds the products from their configs, keeping each id's endpoint.
    pub(crate) fn compile_products(
        &self,
        configs: &[ProductConfig],
        whole_mode: ToolMode,
    ) -> Products {
        let list = configs
            .iter()
            .filter_map(|cfg| {
                let Some(endpoint) = self.state.product_slots.endpoint(&cfg.id) else {
                    tracing::error!(product = %cfg.id, "too many product ids in this process's life; not served until a restart");
                    return None;
                };
                Some(Arc::new(Product {
                    id: Arc::from(cfg.id.as_str()),
                    cfg: cfg.clone(),
                    endpoint,
                }))
            })
            .collect();
        Products { list, whole_mode }
    }

    /// The current products.
    pub fn products(&self) -> Arc<Products> {
        self.state.products.load_full()
    }

    /// Replaces every product (a reload, or the admin API after its own change) and how `/mcp`
    /// offers its tools. Refused, changing nothing, when a product would expose two tools of
    /// the current catalog under one name; the error names the product and both tools.
    /// Sessions whose lists change are told (`list_changed`); sessions at a product that is gone
    /// or no longer published find nothing (404).
    pub fn set_products(
        &self,
        configs: &[ProductConfig],
        whole_mode: ToolMode,
    ) -> Result<(), String> {
        let catalog = self.catalog();
        for p in configs {
            let report = product_report(&catalog, p);
            if let Some(c) = report.collisions.first() {
                return Err(format!("product `{}`: {c}", p.id));
            }
        }
        let products = self.compile_products(configs, whole_mode);
        self.state.products.store(Arc::new(products));
        self.rebuild_catalog();
        for p in configs {
            for w in product_report(&self.catalog(), p).warnings {
                tracing::warn!(product = %p.id, "{w}");
            }
        }
        Ok(())
    }

    /// Creates or replaces one product (by id), keeping the others: [`Gateway::set_products`].
    pub fn put_product(&self, cfg: ProductConfig) -> Result<(), String> {
        let now = self.products();
        let mut configs: Vec<ProductConfig> = now.iter().map(|p| p.cfg.clone()).collect();
        match configs.iter_mut().find(|p| p.id == cfg.id) {
            Some(slot) => *slot = cfg,
            None => configs.push(cfg),
        }
        self.set_products(&configs, now.whole_mode)
    }

    /// Removes one product; false when there was none.
    pub fn remove_product(&self, id: &str) -> bool {
        let now = self.products();
        if now.get(id).is_none() {
            return false;
        }
        let configs: Vec<ProductConfig> = now
            .iter()
            .filter(|p| p.cfg.id != id)
            .map(|p| p.cfg.clone())
            .collect();
        // Removing cannot create a collision.
        self.set_products(&configs, now.whole_mode).is_ok()
    }

    /// What the current catalog says about `cfg`: globs that select nothing, and collisions.
    pub fn product_report(&self, cfg: &ProductConfig) -> ProductReport {
        product_report(&self.catalog(), cfg)
    }

    /// The endpoint of the published product `id` (`/mcp/v/<id>`); `None` for an unknown id or
    /// a draft, which are answered alike (404).
    pub fn product_endpoint(&self, id: &str) -> Option<Endpoint> {
        let products = self.state.products.load();
        let p = products.get(id)?;
        (p.cfg.status == ProductStatus::Published).then_some(p.endpoint)
    }

    /// The id of the product served at `endpoint` (`None` for `/mcp`), shared.
    pub fn product_id(&self, endpoint: Endpoint) -> Option<Arc<str>> {
        if endpoint == Endpoint::WHOLE {
            return None;
        }
        Some(self.state.products.load().at(endpoint)?.id.clone())
    }
}

/// `cfg` against `catalog`.
pub fn product_report(catalog: &Catalog, cfg: &ProductConfig) -> ProductReport {
    let mut r = ProductReport::default();
    let lists = [
        (ListKind::Tools, "tools", &cfg.tools),
        (ListKind::Prompts, "prompts", &cfg.prompts),
        (ListKind::Resources, "resources", &cfg.resources),
    ];
    for (kind, key, globs) in lists {
        for g in globs {
            let hit = (0..catalog.len(kind)).any(|p| {
                switchboard_config::glob_match(
                    g,
                    &crate::view::exposed_name(kind, catalog.entry(kind, p)),
                )
            }) || (kind == ListKind::Resources
                && (0..catalog.len(ListKind::Templates)).any(|p| {
                    switchboard_config::glob_match(
                        g,
                        &catalog.entry(ListKind::Templates, p).original,
                    )
                }));
            if !hit {
                r.warnings.push(format!(
                    "`{key}` glob `{g}` selects nothing in the catalog now"
                ));
            }
        }
    }
    if cfg.overrides.iter().any(|o| o.name.is_some()) {
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        for p in 0..catalog.len(ListKind::Tools) {
            let name =
                crate::view::exposed_name(ListKind::Tools, catalog.entry(ListKind::Tools, p));
            if !cfg
                .tools
                .iter()
                .any(|g| switchboard_config::glob_match(g, &name))
            {
                continue;
            }
            let exposed = cfg
                .overrides
                .iter()
                .find(|o| o.tool == *name)
                .map_or(&*name, |o| o.exposed())
                .to_owned();
            if let Some(first) = seen.get(&exposed) {
                r.collisions.push(format!(
                    "tools `{first}` and `{name}` would both be exposed as `{exposed}`"
                ));
            } else {
                seen.insert(exposed, name.into_owned());
            }
        }
    }
    r
}
