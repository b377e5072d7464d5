//! `switchboard audit query`: which records match an operator's filter.

use serde_json::Value;

use crate::time::parse_rfc3339;

/// A record filter; every given condition must hold.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub principal: Option<String>,
    /// The tool, prompt or resource name as called; a trailing `*` matches any ending.
    pub tool: Option<String>,
    /// `allow` or `deny`.
    pub verdict: Option<String>,
    /// Microseconds since the epoch, inclusive.
    pub since: Option<i64>,
    /// Microseconds since the epoch, exclusive.
    pub until: Option<i64>,
}

/// Whether `record` matches `filter`. Records without a field a condition names (a
/// checkpoint has no principal) do not match that condition.
pub fn matches(record: &Value, filter: &Filter) -> bool {
    let field = |key: &str| record.get(key).and_then(Value::as_str);
    if let Some(p) = &filter.principal
        && field("principal") != Some(p.as_str())
    {
        return false;
    }
    if let Some(t) = &filter.tool {
        let Some(name) = field("name") else {
            return false;
        };
        let hit = match t.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == t,
        };
        if !hit {
            return false;
        }
    }
    if let Some(v) = &filter.verdict
        && field("verdict") != Some(v.as_str())
    {
        return false;
    }
    if filter.since.is_some() || filter.until.is_some() {
        let Some(t) = field("time").and_then(parse_rfc3339) else {
            return false;
        };
        if filter.since.is_some_and(|s| t < s) || filter.until.is_some_and(|u| t >= u) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_condition_must_hold() {
        let r = json!({"principal": "ci", "name": "gh__create_issue", "verdict": "deny",
                       "time": "2026-12-05T14:00:00.000000Z"});
        let t = |s: &str| parse_rfc3339(s);
        assert!(matches(&r, &Filter::default()));
        assert!(matches(
            &r,
            &Filter {
                principal: Some("ci".into()),
                tool: Some("gh__*".into()),
                ..Default::default()
            }
        ));
        assert!(!matches(
            &r,
            &Filter {
                tool: Some("gh__".into()),
                ..Default::default()
            }
        ));
        assert!(!matches(
            &r,
            &Filter {
                verdict: Some("allow".into()),
                ..Default::default()
            }
        ));
        assert!(matches(
            &r,
            &Filter {
                since: t("2026-12-05T14:00:00Z"),
                until: t("2026-12-05T14:00:01Z"),
                ..Default::default()
            }
        ));
        assert!(!matches(
            &r,
            &Filter {
                until: t("2026-12-05T14:00:00Z"),
                ..Default::default()
            }
        ));
        assert!(!matches(
            &json!({"kind": "checkpoint"}),
            &Filter {
                principal: Some("ci".into()),
                ..Default::default()
            }
        ));
    }
}
