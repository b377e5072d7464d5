//! Products (`products:`): a product's shape as written, and how it is checked and typed.
//!
//! The same [`ProductDoc`] is read from the config file (YAML, every scalar located) and from
//! the JSON body of `PUT /api/products/<id>` ([`parse_product_json`]); both refuse unknown
//! fields and go through the one [`Resolver::product`], so a product is valid in one exactly
//! when it is valid in the other. What can be checked without the catalog is checked here: the
//! id, status, globs, scopes, the idempotency policy and mode, and the overrides — each names a
//! tool the product's `tools` globs select, renames only to a valid tool name, and no two tools
//! end up exposed under one name (the error names both). Whether a glob selects anything, and
//! collisions with tools only the live catalog knows, are the gateway's to report.

use std::path::Path;

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::glob::glob_match;
use crate::model::{IdempotencyPolicy, ProductConfig, ProductStatus, ToolMode, ToolOverride};
use crate::ordered_map::OrderedMap;
use crate::resolve::Resolver;
use crate::validate;

/// One product as written: a value under `products:`, or the JSON of `PUT /api/products/<id>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductDoc {
    /// Optional; when given it must equal the key (or the id in the URL).
    pub(crate) id: Option<Scalar>,
    pub(crate) name: Option<Scalar>,
    pub(crate) status: Option<Scalar>,
    pub(crate) description: Option<Scalar>,
    #[serde(default)]
    pub(crate) tools: Vec<Scalar>,
    #[serde(default)]
    pub(crate) prompts: Vec<Scalar>,
    #[serde(default)]
    pub(crate) resources: Vec<Scalar>,
    /// By the catalog's tool name.
    pub(crate) overrides: Option<OrderedMap<Scalar, OverrideDoc>>,
    #[serde(default)]
    pub(crate) scopes: Vec<Scalar>,
    pub(crate) idempotency: Option<Scalar>,
    pub(crate) mode: Option<Scalar>,
}

/// What a product changes about one tool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverrideDoc {
    pub name: Option<Scalar>,
    pub title: Option<Scalar>,
    pub description: Option<Scalar>,
    /// Kept as written (booleans stay booleans in YAML and JSON alike), checked below.
    pub annotations: Option<serde_json::Value>,
}

/// The tool names `search` mode exposes; a product in that mode cannot rename a tool to them.
const META_TOOLS: [&str; 2] = ["search_tools", "call_tool"];

/// The boolean hints of MCP tool annotations.
const HINTS: [&str; 4] = [
    "readOnlyHint",
    "destructiveHint",
    "idempotentHint",
    "openWorldHint",
];

/// Reads one product from JSON (the body of `PUT /api/products/<id>`), checked exactly like a
/// product in the config file. `id` is the product's id (from the URL); a body `id` must match
/// it. `${VAR}` is not expanded: text from a client never reads the gateway's environment.
/// Errors name the field; `source` names the input in them (e.g. `PUT /api/products/test`).
pub fn parse_product_json(
    id: &str,
    json: &[u8],
    source: &str,
) -> Result<ProductConfig, ConfigError> {
    let doc: ProductDoc = serde_json::from_slice(json)
        .map_err(|e| ConfigError::whole(source, format!("invalid product JSON: {e}")))?;
    let no_env = |_: &str| None;
    let resolver = Resolver {
        file: source,
        env: &no_env,
        base_dir: Path::new(""),
        builtins: &|_, _| Ok(()),
        expand: false,
    };
    let key = Scalar::new(
        id.to_owned(),
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    );
    resolver.product(&key, doc)
}

impl Resolver<'_> {
    pub(crate) fn product(
        &self,
        key: &Scalar,
        doc: ProductDoc,
    ) -> Result<ProductConfig, ConfigError> {
        let id = key.value.clone();
        validate::check_name("product id", &id).map_err(|m| self.error(key, m))?;
        if let Some(given) = &doc.id {
            let given_id = self.text(given)?;
            if given_id != id {
                return Err(self.error(
                    given,
                    format!(
                        "`id` is `{}` but the product is `{id}`",
                        given_id.escape_debug()
                    ),
                ));
            }
        }
        let name = match &doc.name {
            Some(s) => self.checked(s, |name| {
                if name.is_empty() {
                    Err("a product `name` must not be empty".to_owned())
                } else {
                    Ok(())
                }
            })?,
            None => id.clone(),
        };
        let status = match &doc.status {
            Some(s) => self.word(
                "status",
                s,
                &[
                    ("published", ProductStatus::Published),
                    ("draft", ProductStatus::Draft),
                ],
            )?,
            None => ProductStatus::default(),
        };
        let idempotency = match &doc.idempotency {
            Some(s) => self.word(
                "idempotency",
                s,
                &[
                    ("required", IdempotencyPolicy::Required),
                    ("optional", IdempotencyPolicy::Optional),
                    ("off", IdempotencyPolicy::Off),
                ],
            )?,
            None => IdempotencyPolicy::default(),
        };
        let mode = match &doc.mode {
            Some(s) => self.tool_mode(s)?,
            None => ToolMode::default(),
        };
        let tools = self.plain_list("tool glob", &doc.tools)?;
        let mut overrides: Vec<(ToolOverride, &Scalar)> = Vec::new();
        for (tool_key, o) in doc.overrides.as_ref().map_or(&[][..], |m| &m.0[..]) {
            let tool = self.checked(tool_key, |t| {
                validate::check_plain("an overridden tool", t)?;
                if t.contains(['*', '?']) {
                    return Err(format!(
                        "override `{}` must name one tool, not a glob",
                        t.escape_debug()
                    ));
                }
                Ok(())
            })?;
            if !tools.iter().any(|g| glob_match(g, &tool)) {
                return Err(self.error(
                    tool_key,
                    format!(
                        "override `{tool}` names a tool none of the product's `tools` globs select"
                    ),
                ));
            }
            let renamed = match &o.name {
                Some(s) => Some(self.checked(s, |n| {
                    if !valid_tool_name(n) {
                        return Err(format!(
                            "override name `{}` is not a valid tool name: use 1 to 128 letters, digits, `_`, `-` or `.`",
                            n.escape_debug()
                        ));
                    }
                    if mode == ToolMode::Search && META_TOOLS.contains(&n) {
                        return Err(format!("`{n}` is one of the search meta-tools of this product"));
                    }
                    Ok(())
                })?),
                None => None,
            };
            let annotations = match &o.annotations {
                None => None,
                Some(v) => Some(
                    check_annotations(v)
                        .map_err(|m| self.error(tool_key, format!("override `{tool}`: {m}")))?,
                ),
            };
            overrides.push((
                ToolOverride {
                    tool,
                    name: renamed,
                    title: o.title.as_ref().map(|s| self.text(s)).transpose()?,
                    description: o.description.as_ref().map(|s| self.text(s)).transpose()?,
                    annotations,
                },
                tool_key,
            ));
        }
        // Two tools under one name: two renames to it, or a rename to a tool the product keeps
        // under its own name. (Tools only the live catalog knows are the gateway's to check.)
        for (i, (o, at)) in overrides.iter().enumerate() {
            let exposed = o.exposed();
            for (other, _) in overrides.iter().take(i) {
                if other.exposed() == exposed {
                    return Err(self.error(
                        at,
                        format!(
                            "tools `{}` and `{}` would both be exposed as `{exposed}` in product `{id}`",
                            other.tool, o.tool
                        ),
                    ));
                }
            }
            if o.name.is_some()
                && let Some((kept, _)) = overrides
                    .iter()
                    .find(|(k, _)| k.tool == exposed && k.name.is_none())
            {
                return Err(self.error(
                    at,
                    format!(
                        "tools `{}` and `{}` would both be exposed as `{exposed}` in product `{id}`",
                        kept.tool, o.tool
                    ),
                ));
            }
        }
        Ok(ProductConfig {
            name,
            status,
            description: doc.description.as_ref().map(|s| self.text(s)).transpose()?,
            tools,
            prompts: self.plain_list("prompt glob", &doc.prompts)?,
            resources: self.plain_list("resource glob", &doc.resources)?,
            overrides: overrides.into_iter().map(|(o, _)| o).collect(),
            scopes: self.plain_list("scope", &doc.scopes)?,
            idempotency,
            mode,
            id,
        })
    }

    /// `mode:` of a product or of `/mcp`.
    pub(crate) fn tool_mode(&self, scalar: &Scalar) -> Result<ToolMode, ConfigError> {
        self.word(
            "mode",
            scalar,
            &[("list", ToolMode::List), ("search", ToolMode::Search)],
        )
    }
}

/// An override's `annotations`: an object; the hints booleans, `title` a string.
fn check_annotations(
    v: &serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let serde_json::Value::Object(map) = v else {
        return Err("`annotations` must be a mapping".to_owned());
    };
    for (k, v) in map {
        if HINTS.contains(&k.as_str()) && !v.is_boolean() {
            return Err(format!("annotation `{k}` must be `true` or `false`"));
        }
        if k == "title" && !v.is_string() {
            return Err("annotation `title` must be a string".to_owned());
        }
    }
    Ok(map.clone())
}

/// The spec's tool-name rule (2025-11-25): 1–128 of `[A-Za-z0-9_.-]`.
fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> Result<ProductConfig, ConfigError> {
        parse_product_json("test", body.as_bytes(), "PUT /api/products/test")
    }

    #[test]
    fn the_seed_body_parses() {
        let p =
            json(r#"{"id":"test","name":"Test","status":"published","tools":["list_services"]}"#)
                .unwrap();
        assert_eq!(p.id, "test");
        assert_eq!(p.name, "Test");
        assert_eq!(p.status, ProductStatus::Published);
        assert_eq!(p.tools, ["list_services"]);
        assert_eq!(p.idempotency, IdempotencyPolicy::Optional);
    }

    #[test]
    fn overrides_scopes_and_policy_from_json() {
        let p = json(
            r#"{"tools":["fx__*"],"scopes":["support.use"],"idempotency":"required","mode":"search",
                "overrides":{"fx__echo":{"name":"say","title":"Say","description":"Says it",
                "annotations":{"readOnlyHint":true}}}}"#,
        )
        .unwrap();
        assert_eq!(p.scopes, ["support.use"]);
        assert_eq!(p.idempotency, IdempotencyPolicy::Required);
        assert_eq!(p.mode, ToolMode::Search);
        let o = &p.overrides[0];
        assert_eq!((o.tool.as_str(), o.exposed()), ("fx__echo", "say"));
        assert_eq!(o.annotations.as_ref().unwrap()["readOnlyHint"], true);
    }

    #[test]
    fn bad_json_is_refused_with_the_field() {
        let e = json(r#"{"tools":["a"],"colour":"red"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
        let e = json(r#"{"id":"other"}"#).unwrap_err();
        assert!(e.to_string().contains("`id` is `other`"), "{e}");
        let e = json(r#"{"status":"live"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown status `live`"), "{e}");
        let e = json(r#"{"tools":"a"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid product JSON"), "{e}");
        let e =
            json(r#"{"tools":["a*"],"overrides":{"a1":{"annotations":{"readOnlyHint":"yes"}}}}"#)
                .unwrap_err();
        assert!(
            e.to_string()
                .contains("`readOnlyHint` must be `true` or `false`"),
            "{e}"
        );
        let e = json(r#"{"tools":["a*"],"overrides":{"b":{"title":"x"}}}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("none of the product's `tools` globs"),
            "{e}"
        );
        let e = json(r#"{"tools":["a*"],"overrides":{"a1":{"name":"has space"}}}"#).unwrap_err();
        assert!(e.to_string().contains("not a valid tool name"), "{e}");
        // Client text never reads the environment.
        let p = json(r#"{"name":"${HOME:-x}"}"#).unwrap();
        assert_eq!(p.name, "${HOME:-x}");
    }

    #[test]
    fn two_tools_under_one_name_are_refused_naming_both() {
        let e = json(r#"{"tools":["a*"],"overrides":{"a1":{"name":"x"},"a2":{"name":"x"}}}"#)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("tools `a1` and `a2` would both be exposed as `x` in product `test`"),
            "{e}"
        );
        let e = json(r#"{"tools":["a*"],"overrides":{"a2":{"title":"t"},"a1":{"name":"a2"}}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("tools `a2` and `a1`"), "{e}");
        // A swap is fine: each name is taken once.
        json(r#"{"tools":["a*"],"overrides":{"a1":{"name":"a2"},"a2":{"name":"a1"}}}"#).unwrap();
    }
}
