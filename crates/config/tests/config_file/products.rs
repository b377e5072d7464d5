//! Products: virtual servers selecting parts of the catalog, in file order.

use switchboard_config::{IdempotencyPolicy, ProductConfig, ProductStatus, ToolMode, ToolOverride};

use crate::{assert_error_at, ok};

#[test]
fn products_parse_in_file_order() {
    let config = ok(r#"
products:
  support: { name: Support, status: published, tools: ["time__*", "remote__search_*"] }
  internal:
    name: Internal tools
    description: For the platform team
    status: draft
    tools: ["*"]
    prompts: ["everything__*"]
    resources: ["file:///*"]
"#);
    assert_eq!(
        config.products,
        vec![
            ProductConfig {
                id: "support".to_owned(),
                name: "Support".to_owned(),
                status: ProductStatus::Published,
                description: None,
                tools: vec!["time__*".to_owned(), "remote__search_*".to_owned()],
                prompts: vec![],
                resources: vec![],
                ..ProductConfig::default()
            },
            ProductConfig {
                id: "internal".to_owned(),
                name: "Internal tools".to_owned(),
                status: ProductStatus::Draft,
                description: Some("For the platform team".to_owned()),
                tools: vec!["*".to_owned()],
                prompts: vec!["everything__*".to_owned()],
                resources: vec!["file:///*".to_owned()],
                ..ProductConfig::default()
            },
        ]
    );
}

#[test]
fn product_errors_are_located() {
    assert_error_at(
        "products:\n  bad.id: {}\n",
        2,
        3,
        &["invalid product id `bad.id`"],
    );
    assert_error_at(
        "products:\n  p: { status: live }\n",
        2,
        16,
        &["unknown status `live`", "`published`, `draft`"],
    );
    assert_error_at(
        "products:\n  p: { tools: [ok, ''] }\n",
        2,
        20,
        &["tool glob must not be empty"],
    );
    assert_error_at(
        "products:\n  p: { name: '' }\n",
        2,
        14,
        &["`name` must not be empty"],
    );
    assert_error_at(
        "products:\n  p: { tools: x }\n",
        2,
        15,
        &["wrong type", "a list"],
    );
}

#[test]
fn overrides_scopes_idempotency_and_mode() {
    let config = ok(r#"
mode: search
products:
  support:
    status: published
    tools: ["fx__*"]
    scopes: [support.use]
    idempotency: required
    mode: search
    overrides:
      fx__echo: { name: say, title: Say, description: "Says it back", annotations: { readOnlyHint: true } }
      fx__add: { description: Adds }
"#);
    assert_eq!(config.mode, ToolMode::Search);
    let p = &config.products[0];
    assert_eq!(p.scopes, ["support.use"]);
    assert_eq!(p.idempotency, IdempotencyPolicy::Required);
    assert_eq!(p.mode, ToolMode::Search);
    assert_eq!(
        p.overrides[1],
        ToolOverride {
            tool: "fx__add".into(),
            description: Some("Adds".into()),
            ..ToolOverride::default()
        }
    );
    assert_eq!(p.overrides[0].exposed(), "say");
    assert_eq!(
        p.overrides[0].annotations.as_ref().unwrap()["readOnlyHint"],
        true
    );
}

#[test]
fn override_errors_are_located_and_name_both_tools() {
    assert_error_at(
        "products:\n  p:\n    tools: ['a*']\n    overrides:\n      a1: { name: x }\n      a2: { name: x }\n",
        6,
        7,
        &["tools `a1` and `a2` would both be exposed as `x` in product `p`"],
    );
    assert_error_at(
        "products:\n  p:\n    tools: ['a*']\n    overrides:\n      b1: { title: x }\n",
        5,
        7,
        &["override `b1` names a tool none of the product's `tools` globs select"],
    );
    assert_error_at(
        "products:\n  p: { idempotency: always }\n",
        2,
        21,
        &[
            "unknown idempotency `always`",
            "`required`, `optional`, `off`",
        ],
    );
    assert_error_at(
        "products:\n  p: { tools: ['a*'], overrides: { a1: { colour: red } } }\n",
        2,
        42,
        &["unknown field `colour`"],
    );
}
