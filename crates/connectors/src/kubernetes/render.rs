//! How API objects are shown to a model: one object as YAML (what `kubectl get -o yaml` shows,
//! without `managedFields`, with a Secret's values redacted), a list as an aligned table like
//! `kubectl get`, events as `kubectl events` lines; and the few timestamp sums these need.

use serde_json::{Map, Value, json};

pub(super) const REDACTED: &str = "<redacted>";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The object as YAML. `managedFields` (server-side apply bookkeeping, often longer than the
/// object) is left out, as `kubectl` does by default. For a Secret, every value under `data` and
/// `stringData` and the last-applied annotation (which holds them too) are replaced by
/// `<redacted>`; the keys stay, so a caller can still see which keys a Secret has.
pub(super) fn object_yaml(mut object: Value, secret: bool) -> Result<String, String> {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    if secret {
        redact_secret(&mut object);
    }
    serde_saphyr::to_string(&object).map_err(|e| format!("cannot write the object as YAML: {e}"))
}

pub(super) fn redact_secret(object: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(values) = object.get_mut(field).and_then(Value::as_object_mut) {
            for v in values.values_mut() {
                *v = Value::String(REDACTED.into());
            }
        }
    }
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        && let Some(v) = annotations.get_mut(LAST_APPLIED)
    {
        *v = Value::String(REDACTED.into());
    }
}

/// One row of a listed object: what `kubectl get` shows without asking for a table.
pub(super) fn summary(item: &Value, now: i64) -> Value {
    let meta = item.get("metadata");
    let field = |name: &str| meta.and_then(|m| m.get(name)).and_then(Value::as_str);
    let created = field("creationTimestamp");
    let mut row = Map::new();
    row.insert("name".into(), json!(field("name").unwrap_or_default()));
    if let Some(ns) = field("namespace") {
        row.insert("namespace".into(), json!(ns));
    }
    let status = status_of(item);
    if !status.is_empty() {
        row.insert("status".into(), json!(status));
    }
    if let Some(created) = created {
        row.insert("created".into(), json!(created));
        if let Some(t) = parse_time(created) {
            row.insert("age".into(), json!(age(now - t)));
        }
    }
    if let Some(labels) = meta
        .and_then(|m| m.get("labels"))
        .filter(|l| l.as_object().is_some_and(|o| !o.is_empty()))
    {
        row.insert("labels".into(), labels.clone());
    }
    Value::Object(row)
}

/// A short status: a pod's phase, readiness and restarts; a workload's ready replicas; else the
/// object's `status.phase`.
fn status_of(item: &Value) -> String {
    let status = item.get("status");
    let phase = status.and_then(|s| s.get("phase")).and_then(Value::as_str);
    if let Some(containers) = status
        .and_then(|s| s.get("containerStatuses"))
        .and_then(Value::as_array)
    {
        let ready = containers
            .iter()
            .filter(|c| c.get("ready") == Some(&Value::Bool(true)))
            .count();
        let restarts: i64 = containers
            .iter()
            .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
            .sum();
        // A waiting container's reason (CrashLoopBackOff, ImagePullBackOff) says more than the phase.
        let waiting = containers
            .iter()
            .find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str));
        let shown = waiting.or(phase).unwrap_or("Unknown");
        return format!(
            "{shown}, ready {ready}/{}, restarts {restarts}",
            containers.len()
        );
    }
    if let Some(replicas) = item.pointer("/spec/replicas").and_then(Value::as_i64) {
        let ready = status
            .and_then(|s| s.get("readyReplicas"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        return format!("ready {ready}/{replicas}");
    }
    phase.unwrap_or_default().to_owned()
}

/// Rows as an aligned text table, `columns` naming the row fields shown, in order.
pub(super) fn table(rows: &[Value], columns: &[(&str, &str)]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|(key, _)| match r.get(*key) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|(_, h)| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |parts: Vec<&str>| {
        let last = parts.len().saturating_sub(1);
        for (i, (part, w)) in parts.iter().zip(&widths).enumerate() {
            out.push_str(part);
            if i < last {
                for _ in part.chars().count()..*w + 2 {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    };
    line(columns.iter().map(|(_, h)| *h).collect());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// Seconds since the epoch now.
pub(super) fn now() -> i64 {
    crate::time::now() as i64
}

/// An API object's time (`2024-05-01T10:00:00Z`; fractions allowed, as in an event's
/// `eventTime`) to whole epoch seconds.
pub(super) fn parse_time(text: &str) -> Option<i64> {
    crate::time::parse_rfc3339(text).map(|t| t.floor() as i64)
}

/// Epoch seconds as `2024-05-01T10:00:00Z`.
pub(super) fn format_time(t: i64) -> String {
    crate::time::format(t as f64)
}

/// An age as `kubectl` prints it: `45s`, `12m`, `5h`, `3d`.
pub(super) fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..10_800 => format!("{}m", s / 60),
        10_800..172_800 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for t in [0, 951_782_400, 1_714_557_600, 4_102_444_800, 1_709_164_800] {
            assert_eq!(parse_time(&format_time(t)), Some(t), "{}", format_time(t));
        }
        assert_eq!(format_time(1_714_557_600), "2024-05-01T10:00:00Z");
        assert_eq!(
            parse_time("2024-05-01T10:00:00.123456Z"),
            Some(1_714_557_600)
        );
        assert_eq!(parse_time("2024-05-01T12:00:00+02:00"), Some(1_714_557_600));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(age(59), "59s");
        assert_eq!(age(3 * 3_600 + 5), "3h");
        assert_eq!(age(4 * 86_400), "4d");
    }

    /// What `get_resource` writes must read back as the same object: the YAML is the object,
    /// not a rendering of it. Strings that look like other YAML types, multi-line text, keys
    /// with slashes and dots, and empty collections are the hard cases.
    #[test]
    fn yaml_is_faithful() {
        let object = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "cfg",
                "annotations": {"example.com/flag": "true", "a.b/c": "0x1F", "empty": ""},
                "labels": {},
                "managedFields": [{"manager": "kubectl"}]
            },
            "data": {
                "yes": "yes", "no": "NO", "null": "null", "tilde": "~", "num": "1.50",
                "oct": "0o17", "date": "2024-01-01", "colon": "a: b", "hash": "x #y",
                "lead": " padded ", "multi": "line one\nline two\n", "trailing": "no newline\nend",
                "quote": "it's \"quoted\"", "star": "*alias", "amp": "&anchor", "dash": "- item",
                "unicode": "héllo ✓", "tab": "a\tb", "blank": "\n\n", "brace": "{x}", "percent": "%x",
                "long": "word ".repeat(80), "longjson": format!("{{\"spec\":{{\"args\":[{}]}}}}", "\"--flag=value\", ".repeat(30)),
                "unbroken": "x".repeat(300), "crlf": "a\r\nb\r\n", "spaces": "  a  \n  b  \n", "indented": "  starts indented\nthen not\n",
                "trail": "ends with spaces   ", "only": "   "
            },
            "binaryData": {},
            "list": [1, -2.5, true, null, [], {}, {"k": [ "v" ]}],
            "big": 9_007_199_254_740_993u64
        });
        let text = object_yaml(object.clone(), false).unwrap();
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        let mut expected = object;
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(back, expected, "YAML was:\n{text}");
    }

    #[test]
    fn secrets_keep_their_keys_and_lose_their_values() {
        let secret = json!({
            "kind": "Secret",
            "metadata": {"name": "db", "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="},
            "stringData": {"token": "plain"}
        });
        let text = object_yaml(secret, true).unwrap();
        assert!(!text.contains("aHVudGVyMg=="), "{text}");
        assert!(!text.contains("plain"), "{text}");
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            back["data"],
            json!({"password": REDACTED, "user": REDACTED})
        );
        assert_eq!(back["stringData"], json!({"token": REDACTED}));
    }
}
