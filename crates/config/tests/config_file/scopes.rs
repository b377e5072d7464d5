//! An upstream's visibility scopes: `scopes` and `tool_scopes`.

use crate::{assert_error_at, ok};

#[test]
fn scopes_and_tool_scopes_are_read_in_file_order() {
    let c = ok(
        "upstreams:\n  fred:\n    stdio: { command: fred }\n    scopes: [fred.read]\n    tool_scopes: { \"delete_*\": fred.write, \"admin_*\": [fred.write, fred.admin] }\n",
    );
    let u = &c.upstreams[0];
    assert_eq!(u.scopes, ["fred.read"]);
    assert_eq!(
        u.tool_scopes,
        vec![
            ("delete_*".to_owned(), vec!["fred.write".to_owned()]),
            (
                "admin_*".to_owned(),
                vec!["fred.write".to_owned(), "fred.admin".to_owned()]
            ),
        ]
    );
}

#[test]
fn a_scope_with_a_space_or_a_quote_is_refused() {
    assert_error_at(
        "upstreams:\n  fred:\n    stdio: { command: fred }\n    scopes: [\"fred read\"]\n",
        4,
        14,
        &["fred read", "printable ASCII"],
    );
}

#[test]
fn more_than_64_visibility_scopes_are_refused() {
    let mut yaml = String::from("upstreams:\n");
    for i in 0..65 {
        yaml += &format!("  u{i}:\n    stdio: {{ command: x }}\n    scopes: [s{i}]\n");
    }
    let e = switchboard_config::parse(&yaml, "test.yaml", &crate::no_env).unwrap_err();
    assert!(e.to_string().contains("more than 64"), "{e}");
}
