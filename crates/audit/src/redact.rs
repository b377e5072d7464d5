//! Redaction of argument fields by name, for logs configured with `include_arguments: true`.
//!
//! Any object member whose key is listed (compared exactly) has its value replaced by the
//! string `"[redacted]"`, at any depth, inside arrays too. The replacement keeps the key, so a
//! reader can see that the field was sent. The argument hash (`args_sha256`) is always taken
//! over the arguments as received, before redaction.

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Replaces, recursively, the value of every member named in `fields`.
pub fn redact(value: &mut Value, fields: &[String]) {
    if fields.is_empty() {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if fields.iter().any(|f| f == key) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact(v, fields);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                redact(item, fields);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_fields_are_redacted_at_any_depth() {
        let mut v = json!({
            "password": "hunter2",
            "user": "ada",
            "nested": {"token": {"deep": "x"}, "keep": 1},
            "list": [{"password": "p2"}, "password"],
        });
        redact(&mut v, &["password".to_owned(), "token".to_owned()]);
        assert_eq!(
            v,
            json!({
                "password": "[redacted]",
                "user": "ada",
                "nested": {"token": "[redacted]", "keep": 1},
                "list": [{"password": "[redacted]"}, "password"],
            })
        );
    }

    #[test]
    fn nothing_listed_changes_nothing() {
        let mut v = json!({"password": "x"});
        redact(&mut v, &[]);
        assert_eq!(v, json!({"password": "x"}));
    }
}
