//! The `kubernetes:` block of an upstream, read field by field so that every error names the
//! field it is about (a whole-struct serde error would say "expected a boolean" and not where).

use std::time::Duration;

use serde_json::{Map, Value};

/// Where the credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A kubeconfig file; `None` means `$KUBECONFIG`, else `~/.kube/config`.
    Kubeconfig(Option<String>),
    /// The pod's service account.
    InCluster,
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) source: Source,
    pub(super) context: Option<String>,
    /// `None`: every namespace. Never empty.
    pub(super) namespaces: Option<Vec<String>>,
    pub(super) allow_write: bool,
    pub(super) timeout: Duration,
}

const FIELDS: &str = "kubeconfig, in_cluster, context, namespaces, allow_write, timeout";
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Settings {
    pub(super) fn parse(value: &Value) -> Result<Settings, String> {
        let map = match value {
            Value::Object(map) => map,
            // `kubernetes: {}` may reach us as null from a bare `kubernetes:` key.
            Value::Null => &Map::new(),
            other => {
                return Err(format!(
                    "must be a mapping of settings, not {}",
                    kind_of(other)
                ));
            }
        };
        let mut kubeconfig = None;
        let mut in_cluster = false;
        let mut context = None;
        let mut namespaces = None;
        let mut allow_write = false;
        let mut timeout = DEFAULT_TIMEOUT;
        for (key, v) in map {
            match key.as_str() {
                "kubeconfig" => kubeconfig = Some(string(key, v)?),
                "in_cluster" => in_cluster = boolean(key, v)?,
                "context" => context = Some(string(key, v)?),
                "namespaces" => namespaces = Some(namespace_list(v)?),
                "allow_write" => allow_write = boolean(key, v)?,
                "timeout" => timeout = duration(key, v)?,
                other => return Err(format!("unknown field `{other}`; expected one of {FIELDS}")),
            }
        }
        if in_cluster && kubeconfig.is_some() {
            return Err("`kubeconfig` and `in_cluster: true` exclude each other; set one".into());
        }
        if in_cluster && context.is_some() {
            return Err(
                "`context` names a kubeconfig context and means nothing with `in_cluster: true`"
                    .into(),
            );
        }
        if timeout.is_zero() {
            return Err("`timeout` must be greater than 0".into());
        }
        let source = if in_cluster {
            Source::InCluster
        } else {
            Source::Kubeconfig(kubeconfig)
        };
        Ok(Settings {
            source,
            context,
            namespaces,
            allow_write,
            timeout,
        })
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn string(key: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err(format!("`{key}` must not be empty")),
        other => Err(format!("`{key}` must be a string, not {}", kind_of(other))),
    }
}

fn boolean(key: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        // A value typed after `${VAR}` expansion may arrive as text.
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(format!(
            "`{key}` must be true or false, not {}",
            kind_of(other)
        )),
    }
}

fn namespace_list(v: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = v else {
        return Err(format!(
            "`namespaces` must be a list of namespace names, not {}",
            kind_of(v)
        ));
    };
    if items.is_empty() {
        return Err(
            "`namespaces` is empty, which would allow nothing; leave it out to allow every namespace"
                .into(),
        );
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(name) = item else {
            return Err(format!(
                "`namespaces` entries must be strings, not {}",
                kind_of(item)
            ));
        };
        if !is_dns_label(name) {
            return Err(format!(
                "`namespaces`: {name:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"
            ));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

/// A namespace name: an RFC 1123 label.
pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn duration(key: &str, v: &Value) -> Result<Duration, String> {
    match v {
        Value::Number(n) => n.as_u64().map(Duration::from_secs).ok_or_else(|| {
            format!("`{key}` must be a whole number of seconds or a duration like 30s")
        }),
        Value::String(s) => parse_duration(s).map_err(|why| format!("`{key}`: {why}")),
        other => Err(format!(
            "`{key}` must be a duration like 30s, not {}",
            kind_of(other)
        )),
    }
}

/// Durations as the rest of the config writes them: `500ms`, `30s`, `10m`, `1h30m`, or bare seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{text}`; expected forms like 500ms, 30s, 10m, 1h30m");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut millis: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else {
            return Err(bad());
        };
        rest = &rest[len..];
        millis = n
            .checked_mul(unit)
            .and_then(|v| millis.checked_add(v))
            .ok_or_else(bad)?;
    }
    if millis > 24 * 3_600_000 {
        return Err(format!("duration `{text}` is longer than 24h"));
    }
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("30x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("48h").is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let e = Settings::parse(&json!({"allow_write": "yes"})).unwrap_err();
        assert!(e.contains("`allow_write`"), "{e}");
        let e = Settings::parse(&json!({"namespaces": ["Bad_NS"]})).unwrap_err();
        assert!(e.contains("`namespaces`"), "{e}");
        let e = Settings::parse(&json!({"timeout": "soon"})).unwrap_err();
        assert!(e.contains("`timeout`"), "{e}");
    }
}
