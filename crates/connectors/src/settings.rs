//! Reading a connector's settings block: the YAML under its kind, as JSON with strings already
//! `${VAR}`-expanded. Every scalar may arrive as text (`timeout: ${T:-10s}`, `allow_write:
//! "true"`), so each reader accepts the typed form and its text alike. Every error names the
//! field (`basic_auth.username`), so `switchboard check` can say exactly what to fix.

use std::time::Duration;

use serde_json::{Map, Value};

/// A settings mapping whose keys were checked against what the connector knows.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// `basic_auth.` for nested blocks, empty at the top.
    path: String,
}

impl<'a> Fields<'a> {
    /// `value` must be a mapping (or null: no settings) whose keys are all in `known`.
    pub fn new(value: &'a Value, known: &[&str]) -> Result<Fields<'a>, String> {
        Fields::nested(value, known, "")
    }

    fn nested(value: &'a Value, known: &[&str], path: &str) -> Result<Fields<'a>, String> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let map = match value {
            Value::Object(m) => m,
            Value::Null => EMPTY.get_or_init(Map::new),
            _ => {
                return Err(if path.is_empty() {
                    "settings must be a mapping".to_owned()
                } else {
                    format!("`{}` must be a mapping", path.trim_end_matches('.'))
                });
            }
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                return Err(format!(
                    "unknown field `{path}{key}`; expected one of {}",
                    known
                        .iter()
                        .map(|k| format!("`{path}{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(Fields {
            map,
            path: path.to_owned(),
        })
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }

    /// A nested mapping, if present.
    pub fn block(&self, key: &str, known: &[&str]) -> Result<Option<Fields<'a>>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Fields::nested(v, known, &format!("{}.", self.name(key))).map(Some),
        }
    }

    /// A string (numbers and booleans are taken as their text).
    pub fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(format!("`{}` must be a string", self.name(key))),
        }
    }

    /// A string that must be there and not be empty.
    pub fn required(&self, key: &str) -> Result<String, String> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(format!("`{}` must not be empty", self.name(key))),
            None => Err(format!("missing field `{}`", self.name(key))),
        }
    }

    /// `true`/`false`, also as text.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(format!("`{}` must be true or false", self.name(key))),
        }
    }

    /// A duration: `500ms`, `10s`, `2m`, `1h`, or a number of seconds.
    pub fn duration(&self, key: &str) -> Result<Option<Duration>, String> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        parse_duration(&text)
            .filter(|d| !d.is_zero())
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "`{}` must be a positive duration like `10s` or `500ms`, not `{text}`",
                    self.name(key)
                )
            })
    }

    /// A positive whole number, also as text.
    pub fn count(&self, key: &str) -> Result<Option<u64>, String> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!(
                "`{}` must be a positive whole number, not `{text}`",
                self.name(key)
            )),
        }
    }

    /// A list of strings.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(format!("`{}` must be a list of strings", self.name(key))),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(format!("`{}` must be a list of strings", self.name(key))),
        }
    }

    /// A mapping of strings to strings, in the order written.
    pub fn string_map(&self, key: &str) -> Result<Vec<(String, String)>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    _ => Err(format!("`{}.{k}` must be a string", self.name(key))),
                })
                .collect(),
            Some(_) => Err(format!("`{}` must be a mapping", self.name(key))),
        }
    }
}

/// `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let v = json!({"url": "http://x", "urll": 1});
        let e = Fields::new(&v, &["url"]).err().unwrap();
        assert!(e.contains("unknown field `urll`"), "{e}");
        let v = json!({"basic_auth": {"username": "a", "pass": "b"}});
        let f = Fields::new(&v, &["basic_auth"]).unwrap();
        let e = f
            .block("basic_auth", &["username", "password"])
            .err()
            .unwrap();
        assert!(e.contains("`basic_auth.pass`"), "{e}");
        let v = json!({"timeout": "soon", "flag": "yes"});
        let f = Fields::new(&v, &["timeout", "flag"]).unwrap();
        assert!(f.duration("timeout").unwrap_err().contains("`timeout`"));
        assert!(f.boolean("flag").unwrap_err().contains("`flag`"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("-1s"), None);
    }
}
