//! Products: virtual servers selecting parts of the catalog, in file order.

use switchboard_config::{ProductConfig, ProductStatus};

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
            },
            ProductConfig {
                id: "internal".to_owned(),
                name: "Internal tools".to_owned(),
                status: ProductStatus::Draft,
                description: Some("For the platform team".to_owned()),
                tools: vec!["*".to_owned()],
                prompts: vec!["everything__*".to_owned()],
                resources: vec!["file:///*".to_owned()],
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
