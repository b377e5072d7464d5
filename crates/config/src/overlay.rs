//! The admin API's changes to `upstreams:` and `products:`, laid over the config file.
//!
//! An [`Overlay`] holds, per upstream name and product id, the item as the API was given it
//! (JSON, without its `id`) or `None` for one the API deleted. [`apply`] resolves every entry
//! with the very code the file goes through — the same document types (unknown fields
//! refused), the same `${VAR}` expansion, parsing and checks — then replaces, adds or removes
//! it in the file's config and checks what spans items (prefixes, groups, scope count) again.
//!
//! The JSON is written out as block YAML, one field to a line, and parsed by serde-saphyr like
//! the file; each line's field path is kept, so any error points at the field
//! (`products.test.status: ...`), never at a line of text nobody wrote.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::{Scalar, UpstreamDoc};
use crate::error::ConfigError;
use crate::model::{Config, Transport};
use crate::ordered_map::OrderedMap;
use crate::product::ProductDoc;
use crate::resolve::{BuiltinCheck, Resolver, check_groups};

/// The two collections the admin API writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Upstream,
    Product,
}

impl Kind {
    /// The config file's key for the collection (and the API's path segment).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Upstream => "upstreams",
            Kind::Product => "products",
        }
    }
}

/// What the admin API changed, as persisted in the state file: each entry an item that
/// replaces or adds to the file's (`Some`), or a deletion (`None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    #[serde(default)]
    pub upstreams: BTreeMap<String, Option<Value>>,
    #[serde(default)]
    pub products: BTreeMap<String, Option<Value>>,
}

impl Overlay {
    pub fn entries(&self, kind: Kind) -> &BTreeMap<String, Option<Value>> {
        match kind {
            Kind::Upstream => &self.upstreams,
            Kind::Product => &self.products,
        }
    }

    pub fn entries_mut(&mut self, kind: Kind) -> &mut BTreeMap<String, Option<Value>> {
        match kind {
            Kind::Upstream => &mut self.upstreams,
            Kind::Product => &mut self.products,
        }
    }
}

/// A refused overlay: the field it is about (`upstreams.x.http.url`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

/// The overlay's shape: the two collections only, each item a document type of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverlayDoc {
    upstreams: Option<OrderedMap<Scalar, UpstreamDoc>>,
    products: Option<OrderedMap<Scalar, ProductDoc>>,
}

/// `base` (the file's config) with `overlay` applied. `base_dir` is what relative paths in
/// the overlay resolve against (the config file's directory); `env` and `builtins` as for
/// [`crate::load_with`].
pub fn apply(
    base: &Config,
    overlay: &Overlay,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    builtins: BuiltinCheck<'_>,
) -> Result<Config, FieldError> {
    let (text, paths) = yaml(overlay);
    let whole = |message: String| FieldError {
        path: "(state)".to_owned(),
        message,
    };
    let located = |e: ConfigError| {
        let path = e
            .location()
            .and_then(|(line, _)| paths.get(line.wrapping_sub(1)))
            .cloned()
            .unwrap_or_else(|| "(state)".to_owned());
        FieldError {
            path,
            message: e.message().to_owned(),
        }
    };
    const SOURCE: &str = "admin";
    let doc: OverlayDoc =
        serde_saphyr::from_str(&text).map_err(|e| located(ConfigError::from_yaml(SOURCE, &e)))?;
    // Upstreams may name secrets as `${VAR}` (the gateway's environment, as in the file);
    // products never expand: their text reaches every client, so `${VAR}` stays literal.
    let resolver = Resolver {
        file: SOURCE,
        env,
        base_dir,
        builtins,
        expand: true,
    };
    let literal = Resolver {
        expand: false,
        ..resolver
    };
    let mut config = base.clone();
    for (key, item) in doc.upstreams.unwrap_or_default().0 {
        let (upstream, _) = resolver.upstream(&key, item).map_err(located)?;
        match config
            .upstreams
            .iter_mut()
            .find(|u| u.name == upstream.name)
        {
            Some(slot) => *slot = upstream,
            None => config.upstreams.push(upstream),
        }
    }
    for (key, item) in doc.products.unwrap_or_default().0 {
        let product = literal.product(&key, item).map_err(located)?;
        match config.products.iter_mut().find(|p| p.id == product.id) {
            Some(slot) => *slot = product,
            None => config.products.push(product),
        }
    }
    for (name, item) in &overlay.upstreams {
        if item.is_none() {
            config.upstreams.retain(|u| &u.name != name);
        }
    }
    for (id, item) in &overlay.products {
        if item.is_none() {
            config.products.retain(|p| &p.id != id);
        }
    }
    // What spans items, checked over the result as the file's load checks it.
    for (i, u) in config.upstreams.iter().enumerate() {
        if let Some(other) = config.upstreams[..i].iter().find(|o| o.prefix == u.prefix) {
            return Err(FieldError {
                path: format!("upstreams.{}.prefix", u.name),
                message: format!(
                    "upstreams `{}` and `{}` both use the prefix `{}`; give each upstream its own `prefix`",
                    other.name, u.name, u.prefix
                ),
            });
        }
    }
    check_groups(SOURCE, &config.upstreams).map_err(|e| whole(e.message().to_owned()))?;
    let mut scopes: Vec<&str> = Vec::new();
    for u in &config.upstreams {
        for s in u
            .scopes
            .iter()
            .chain(u.tool_scopes.iter().flat_map(|(_, s)| s))
        {
            if !scopes.contains(&s.as_str()) {
                scopes.push(s);
            }
        }
    }
    if scopes.len() > crate::policy::MAX_VISIBILITY_SCOPES {
        return Err(whole(format!(
            "upstreams name more than {} distinct `scopes` and `tool_scopes` together",
            crate::policy::MAX_VISIBILITY_SCOPES
        )));
    }
    Ok(config)
}

/// The URL of an upstream reached over HTTP (`http:` or `sse:`), for the egress check.
pub fn remote_url(config: &Config, name: &str) -> Option<String> {
    config
        .upstreams
        .iter()
        .find(|u| u.name == name)
        .and_then(|u| match &u.transport {
            Transport::Http { url, .. } | Transport::Sse { url, .. } => Some(url.clone()),
            _ => None,
        })
}

/// The items of the file's `upstreams:` and `products:` as written (unexpanded), for the
/// admin API to show. Everything else in the file is skipped here (`load` checks it).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Written {
    #[serde(default, deserialize_with = "pairs")]
    pub upstreams: Vec<(String, Value)>,
    #[serde(default, deserialize_with = "pairs")]
    pub products: Vec<(String, Value)>,
}

fn pairs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, Value)>, D::Error> {
    let m: Option<OrderedMap<String, Value>> = Option::deserialize(d)?;
    Ok(m.map(|m| m.0).unwrap_or_default())
}

impl Written {
    /// Reads the file's items; a file that does not parse has none (its load fails anyway).
    pub fn read(path: &Path) -> Written {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_saphyr::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn entries(&self, kind: Kind) -> &[(String, Value)] {
        match kind {
            Kind::Upstream => &self.upstreams,
            Kind::Product => &self.products,
        }
    }
}

/// The overlay's items as block YAML, and the field path of each line.
fn yaml(overlay: &Overlay) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut paths = Vec::new();
    for kind in [Kind::Upstream, Kind::Product] {
        let items: Vec<_> = overlay
            .entries(kind)
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
        if items.is_empty() {
            continue;
        }
        out.push_str(kind.key());
        out.push_str(":\n");
        paths.push(kind.key().to_owned());
        for (id, item) in items {
            let path = format!("{}.{id}", kind.key());
            field(&mut out, &mut paths, &path, 1, id, item);
        }
    }
    (out, paths)
}

/// One `key: value` at `depth`: objects in block style (a line per field), everything else in
/// JSON's flow style on the key's line (JSON is YAML).
fn field(
    out: &mut String,
    paths: &mut Vec<String>,
    path: &str,
    depth: usize,
    key: &str,
    v: &Value,
) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    out.push_str(&Value::String(key.to_owned()).to_string());
    out.push(':');
    paths.push(path.to_owned());
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            for (k, v) in m {
                field(out, paths, &format!("{path}.{k}"), depth + 1, k, v);
            }
        }
        other => {
            out.push(' ');
            out.push_str(&other.to_string());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(_: &str) -> Option<String> {
        None
    }

    fn with(kind: Kind, id: &str, v: Value) -> Overlay {
        let mut o = Overlay::default();
        o.entries_mut(kind).insert(id.to_owned(), Some(v));
        o
    }

    fn apply_to(base: &Config, o: &Overlay) -> Result<Config, FieldError> {
        apply(base, o, Path::new("/"), &env, &|_, _| Ok(()))
    }

    #[test]
    fn a_product_is_added_and_a_bad_value_names_its_field() {
        let base = Config::default();
        let c = apply_to(
            &base,
            &with(
                Kind::Product,
                "test",
                json!({"name": "Test", "status": "published", "tools": ["a__*"]}),
            ),
        )
        .unwrap();
        assert_eq!(c.products.len(), 1);
        assert_eq!(c.products[0].tools, vec!["a__*".to_owned()]);
        let e = apply_to(
            &base,
            &with(
                Kind::Product,
                "test",
                json!({"name": "Test", "status": "live"}),
            ),
        )
        .unwrap_err();
        assert_eq!(e.path, "products.test.status");
        assert!(e.message.contains("published"), "{e}");
    }

    #[test]
    fn an_unknown_field_is_refused_at_its_path() {
        let e = apply_to(
            &Config::default(),
            &with(
                Kind::Upstream,
                "x",
                json!({"http": {"url": "https://example.com/mcp", "verb": "GET"}}),
            ),
        )
        .unwrap_err();
        assert_eq!(e.path, "upstreams.x.http.verb", "{e}");
        assert!(e.message.contains("verb"), "{e}");
    }

    #[test]
    fn state_dir_is_absolute_or_beside_the_config_file() {
        let c = crate::parse("state_dir: /var/lib/sb\n", "t.yaml", &env).unwrap();
        assert_eq!(c.state_dir_in(Path::new("/etc")), Path::new("/var/lib/sb"));
        let c = crate::parse("", "t.yaml", &env).unwrap();
        assert_eq!(
            c.state_dir_in(Path::new("/etc/sb")),
            Path::new("/etc/sb/switchboard-state")
        );
        let e = crate::parse("state_dir: \"\"\n", "t.yaml", &env).unwrap_err();
        assert!(e.message().contains("state_dir"), "{e}");
    }

    #[test]
    fn replaced_deleted_and_colliding_upstreams() {
        let base = Config::default();
        let mut o = with(
            Kind::Upstream,
            "a",
            json!({"http": {"url": "https://a.example.com/mcp"}}),
        );
        let c = apply_to(&base, &o).unwrap();
        assert_eq!(c.upstreams.len(), 1);
        o.upstreams.insert(
            "b".into(),
            Some(json!({"http": {"url": "https://b.example.com/mcp"}, "prefix": "a"})),
        );
        let e = apply_to(&base, &o).unwrap_err();
        assert_eq!(e.path, "upstreams.b.prefix");
        o.upstreams.insert("b".into(), None);
        o.upstreams.insert("a".into(), None);
        assert!(apply_to(&c, &o).unwrap().upstreams.is_empty());
    }
}
