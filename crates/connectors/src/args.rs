//! Reading a tool's arguments: each error is a [`CallError::InvalidArguments`] naming the
//! argument, as MCP servers answer arguments that do not fit the input schema.

use serde_json::{Map, Value};

use crate::CallError;

pub(crate) struct Args(pub Map<String, Value>);

fn invalid(m: String) -> CallError {
    CallError::InvalidArguments(m)
}

impl Args {
    /// Refuses arguments the tool does not take (a misspelt one would be silently ignored).
    pub fn only(self, known: &[&str]) -> Result<Args, CallError> {
        if let Some(k) = self.0.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(invalid(if known.is_empty() {
                format!("unknown argument `{k}`: this tool takes none")
            } else {
                format!(
                    "unknown argument `{k}`; expected one of `{}`",
                    known.join("`, `")
                )
            }));
        }
        Ok(self)
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, CallError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(invalid(format!("`{key}` must be a string"))),
        }
    }

    pub fn required(&self, key: &str) -> Result<String, CallError> {
        match self.string(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(invalid(format!("`{key}` is required (a non-empty string)"))),
        }
    }

    /// A string or a list of strings, as a list.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, CallError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(format!("`{key}` must be a list of strings")))
                })
                .collect(),
            Some(_) => Err(invalid(format!(
                "`{key}` must be a string or a list of strings"
            ))),
        }
    }

    /// A positive whole number no larger than `max`.
    pub fn count(&self, key: &str, max: u64) -> Result<Option<u64>, CallError> {
        let n = match self.0.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            Some(_) => None,
        };
        match n {
            Some(n) if n > 0 && n <= max => Ok(Some(n)),
            _ => Err(invalid(format!(
                "`{key}` must be a whole number from 1 to {max}"
            ))),
        }
    }

    /// A time (see [`crate::time::parse_time`]), as Unix seconds.
    pub fn time(&self, key: &str, now: f64) -> Result<Option<f64>, CallError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        crate::time::parse_time(&text, now).map(Some).ok_or_else(|| {
            invalid(format!(
                "`{key}` must be a time: RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, `now`, or an age like `1h` (that long ago); not `{text}`"
            ))
        })
    }

    /// One of `choices`.
    pub fn choice<'c>(&self, key: &str, choices: &[&'c str]) -> Result<Option<&'c str>, CallError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        choices
            .iter()
            .find(|c| **c == text)
            .copied()
            .map(Some)
            .ok_or_else(|| invalid(format!("`{key}` must be one of `{}`", choices.join("`, `"))))
    }
}

/// Whether `name` is a valid Prometheus/Loki label name.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
