//! `loki`: LogQL and the Loki HTTP API (`/loki/api/v1/…`) as read-only tools.
//!
//! Settings: `url`, `tenant` (sent as `X-Scope-OrgID` on every request), and the HTTP settings
//! every connector shares: `headers`, `basic_auth` or `bearer_token`, `timeout`.
//!
//! Tools: `query` (instant; a log query answers lines, a metric query samples), `query_range`
//! (a time range, `limit`, `direction`), `labels`, `label_values`, `series`. Log lines come back
//! newest first, each with its timestamp and stream labels; when `limit` lines came back the
//! answer says there may be more. A LogQL error is an `isError` result with Loki's message.

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::args::{Args, is_label_name};
use crate::http::{self, Endpoint, Failure};
use crate::listing::{self, Capped};
use crate::settings::Fields;
use crate::{CallError, Connector, failure, result, time};

/// Lines a query returns by default, and at most.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 5_000;
/// Items (labels, values, series) kept in a list answer.
const MAX_ITEMS: usize = 2_000;

/// The `loki:` block.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub tenant: Option<String>,
}

impl Settings {
    pub fn parse(v: &Value) -> Result<Settings, String> {
        let mut known = http::FIELDS.to_vec();
        known.push("tenant");
        let f = Fields::new(v, &known)?;
        let tenant = f.string("tenant")?;
        if let Some(t) = &tenant
            && (t.is_empty() || reqwest::header::HeaderValue::from_str(t).is_err())
        {
            return Err("`tenant` must be a non-empty header value".to_owned());
        }
        Ok(Settings {
            endpoint: Endpoint::parse(&f)?,
            tenant,
        })
    }
}

/// The connector.
pub struct Loki {
    endpoint: Endpoint,
    client: reqwest::Client,
}

impl Loki {
    pub fn new(
        settings: Settings,
        egress: Option<&switchboard_upstream::egress::EgressPolicy>,
    ) -> Result<Loki, String> {
        let extra: Vec<(&str, &str)> = settings
            .tenant
            .as_deref()
            .map(|t| ("X-Scope-OrgID", t))
            .into_iter()
            .collect();
        let client = http::client(&settings.endpoint, &extra, egress)?;
        Ok(Loki {
            endpoint: settings.endpoint,
            client,
        })
    }

    /// GETs an API path; the `data` of a success, or the failure as an `isError` result.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Value> {
        http::get_api(&self.client, &self.endpoint, path, query, "Loki")
            .await
            .map(|(data, _warnings)| data)
            .map_err(|Failure(m)| failure(m))
    }

    async fn run(&self, name: &str, args: Args) -> Result<Value, CallError> {
        let now = time::now();
        Ok(match name {
            "query" => {
                let args = args.only(&["query", "time", "limit", "direction"])?;
                let q = args.required("query")?;
                let limit = args.count("limit", MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
                let direction = args
                    .choice("direction", &["backward", "forward"])?
                    .unwrap_or("backward");
                let mut params = vec![
                    ("query", q.clone()),
                    ("limit", limit.to_string()),
                    ("direction", direction.to_owned()),
                ];
                if let Some(t) = args.time("time", now)? {
                    params.push(("time", nanos(t)));
                }
                match self.get("loki/api/v1/query", &params).await {
                    Ok(data) => render(&q, &data, limit, direction, None),
                    Err(e) => e,
                }
            }
            "query_range" => {
                let args = args.only(&["query", "start", "end", "limit", "direction", "step"])?;
                let q = args.required("query")?;
                let end = args.time("end", now)?.unwrap_or(now);
                let start = args.time("start", now)?.unwrap_or(end - 3600.0);
                if start >= end {
                    return Err(CallError::InvalidArguments(
                        "`start` must be before `end`".to_owned(),
                    ));
                }
                let limit = args.count("limit", MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
                let direction = args
                    .choice("direction", &["backward", "forward"])?
                    .unwrap_or("backward");
                let mut params = vec![
                    ("query", q.clone()),
                    ("start", nanos(start)),
                    ("end", nanos(end)),
                    ("limit", limit.to_string()),
                    ("direction", direction.to_owned()),
                ];
                if let Some(s) = args.string("step")? {
                    let step = crate::settings::parse_duration(&s)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| {
                            CallError::InvalidArguments(format!(
                                "`step` must be a positive duration like `30s`, not `{s}`"
                            ))
                        })?;
                    params.push(("step", step.as_secs_f64().to_string()));
                }
                match self.get("loki/api/v1/query_range", &params).await {
                    Ok(data) => render(&q, &data, limit, direction, Some((start, end))),
                    Err(e) => e,
                }
            }
            "labels" => {
                let args = args.only(&["start", "end"])?;
                let params = range(&args, now)?;
                match self.get("loki/api/v1/labels", &params).await {
                    Ok(data) => strings("labels", "labels", &data),
                    Err(e) => e,
                }
            }
            "label_values" => {
                let args = args.only(&["label", "start", "end", "query"])?;
                let label = args.required("label")?;
                if !is_label_name(&label) {
                    return Err(CallError::InvalidArguments(format!(
                        "`label` `{label}` is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                    )));
                }
                let mut params = range(&args, now)?;
                if let Some(q) = args.string("query")? {
                    params.push(("query", q));
                }
                match self
                    .get(&format!("loki/api/v1/label/{label}/values"), &params)
                    .await
                {
                    Ok(data) => strings(&format!("values of `{label}`"), "values", &data),
                    Err(e) => e,
                }
            }
            "series" => {
                let args = args.only(&["match", "start", "end"])?;
                let matchers = args.strings("match")?;
                if matchers.is_empty() {
                    return Err(CallError::InvalidArguments(
                        "`match` is required: one or more stream selectors like `{app=\"api\"}`"
                            .to_owned(),
                    ));
                }
                let mut params: Vec<(&str, String)> =
                    matchers.into_iter().map(|m| ("match[]", m)).collect();
                params.extend(range(&args, now)?);
                match self.get("loki/api/v1/series", &params).await {
                    Ok(data) => {
                        let list =
                            Capped::new(data.as_array().cloned().unwrap_or_default(), MAX_ITEMS);
                        let mut text = list.heading("streams", "narrow `match`");
                        for s in &list.kept {
                            text.push_str(&labels_text(s));
                            text.push('\n');
                        }
                        let (total, omitted) = (list.total, list.omitted());
                        result(
                            text,
                            json!({"series": list.kept, "total": total, "omitted": omitted}),
                        )
                    }
                    Err(e) => e,
                }
            }
            other => return Err(CallError::UnknownTool(other.to_owned())),
        })
    }
}

impl Connector for Loki {
    fn tools(&self) -> Vec<Value> {
        tools()
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        self.run(name, Args(arguments)).boxed()
    }
}

/// Unix seconds as Loki's nanosecond timestamps.
fn nanos(t: f64) -> String {
    format!("{}", (t * 1e9).round() as i128)
}

fn range(args: &Args, now: f64) -> Result<Vec<(&'static str, String)>, CallError> {
    let mut p = Vec::new();
    if let Some(s) = args.time("start", now)? {
        p.push(("start", nanos(s)));
    }
    if let Some(e) = args.time("end", now)? {
        p.push(("end", nanos(e)));
    }
    Ok(p)
}

fn labels_text(labels: &Value) -> String {
    let pairs: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                Value::String(v.as_str().unwrap_or_default().to_owned())
            )
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

fn strings(what: &str, key: &str, data: &Value) -> Value {
    let list = Capped::new(listing::strings(data), MAX_ITEMS);
    let mut text = list.heading(what, "");
    text.push_str(&list.kept.join("\n"));
    text.push('\n');
    let (total, omitted) = (list.total, list.omitted());
    result(
        text,
        json!({key: list.kept, "total": total, "omitted": omitted}),
    )
}

fn render(q: &str, data: &Value, limit: u64, direction: &str, range: Option<(f64, f64)>) -> Value {
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    if kind != "streams" {
        // A metric query: the same shapes as Prometheus'.
        return match (kind, range) {
            ("matrix", Some((start, end))) => crate::prometheus::render_range(
                q,
                data,
                &[],
                start,
                end,
                data.pointer("/stats/step")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
            ),
            _ => crate::prometheus::render_query(q, data, &[]),
        };
    }
    let mut lines: Vec<(i128, String, &Value, &str)> = Vec::new();
    for s in data
        .get("result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let labels = s.get("stream").unwrap_or(&Value::Null);
        for v in s
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ts: i128 = v
                .get(0)
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let line = v.get(1).and_then(Value::as_str).unwrap_or("");
            lines.push((
                ts,
                v.get(0).and_then(Value::as_str).unwrap_or("0").to_owned(),
                labels,
                line,
            ));
        }
    }
    // Newest first, whichever way Loki read them.
    lines.sort_by_key(|l| std::cmp::Reverse(l.0));
    let total = lines.len();
    let streams = data
        .get("result")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut text = format!("{total} log lines from {streams} streams for `{q}`");
    if let Some((s, e)) = range {
        text.push_str(&format!(
            " between {} and {}",
            time::format(s),
            time::format(e)
        ));
    }
    text.push_str(", newest first");
    let limited = total as u64 >= limit;
    if limited {
        text.push_str(&format!(
            " (the limit of {limit} was reached reading {direction}: there may be more; narrow the range or raise `limit`)"
        ));
    }
    text.push_str(if total == 0 { "\n" } else { ":\n" });
    let mut out = Vec::with_capacity(total);
    for (ts, raw, labels, line) in &lines {
        let when = time::format(*ts as f64 / 1e9);
        text.push_str(&format!("{when} {} {line}\n", labels_text(labels)));
        out.push(json!({"timestamp": when, "timestamp_ns": raw, "labels": labels, "line": line}));
    }
    result(
        text,
        json!({"resultType": "streams", "lines": out, "total": total, "limit": limit, "limit_reached": limited, "direction": direction}),
    )
}

fn tools() -> Vec<Value> {
    let ro = json!({"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true});
    let time_desc =
        "RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, `now`, or an age like `1h` (that long ago)";
    let answer = json!({
        "type": "object",
        "properties": {
            "resultType": {"type": "string", "enum": ["streams", "vector", "matrix", "scalar"]},
            "lines": {"type": "array", "description": "Log lines newest first (streams)", "items": {"type": "object", "properties": {
                "timestamp": {"type": "string"}, "timestamp_ns": {"type": "string"}, "labels": {"type": "object"}, "line": {"type": "string"}
            }}},
            "total": {"type": "integer"}, "limit": {"type": "integer"}, "limit_reached": {"type": "boolean"},
            "result": {"description": "Samples of a metric query, as Prometheus shapes them"}
        },
        "required": ["resultType"]
    });
    let strings = |key: &str| json!({"type": "object", "properties": {key: {"type": "array", "items": {"type": "string"}}, "total": {"type": "integer"}, "omitted": {"type": "integer"}}, "required": [key, "total"]});
    let limit = json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": format!("Most lines to return (default {DEFAULT_LIMIT})")});
    let direction = json!({"type": "string", "enum": ["backward", "forward"], "description": "Read from the end of the range (backward, default) or its start; lines are shown newest first either way"});
    vec![
        json!({
            "name": "query", "title": "LogQL instant query",
            "description": "Runs a LogQL query at one instant: a metric query (e.g. sum(rate({app=\"api\"}[5m]))) answers samples; a log query answers lines, newest first.",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string"}, "time": {"type": "string", "description": time_desc}, "limit": limit, "direction": direction
            }, "required": ["query"], "additionalProperties": false},
            "outputSchema": answer, "annotations": ro,
        }),
        json!({
            "name": "query_range", "title": "LogQL range query",
            "description": "Runs a LogQL query over a time range (default the last hour): log lines newest first with timestamps and stream labels, or samples for a metric query.",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string", "description": "LogQL, e.g. {app=\"api\"} |= \"error\""},
                "start": {"type": "string", "description": time_desc}, "end": {"type": "string", "description": time_desc},
                "limit": limit, "direction": direction,
                "step": {"type": "string", "description": "Resolution of a metric query, e.g. 1m"}
            }, "required": ["query"], "additionalProperties": false},
            "outputSchema": answer, "annotations": ro,
        }),
        json!({
            "name": "labels", "title": "Label names",
            "description": "Lists the label names of log streams.",
            "inputSchema": {"type": "object", "properties": {"start": {"type": "string", "description": time_desc}, "end": {"type": "string", "description": time_desc}}, "additionalProperties": false},
            "outputSchema": strings("labels"), "annotations": ro,
        }),
        json!({
            "name": "label_values", "title": "Label values",
            "description": "Lists the values of one label, optionally within streams a selector matches.",
            "inputSchema": {"type": "object", "properties": {"label": {"type": "string"}, "query": {"type": "string", "description": "Stream selector to narrow by, e.g. {namespace=\"prod\"}"}, "start": {"type": "string", "description": time_desc}, "end": {"type": "string", "description": time_desc}}, "required": ["label"], "additionalProperties": false},
            "outputSchema": strings("values"), "annotations": ro,
        }),
        json!({
            "name": "series", "title": "Streams",
            "description": "Lists the log streams (label sets) that match selectors.",
            "inputSchema": {"type": "object", "properties": {"match": {"type": "array", "items": {"type": "string"}}, "start": {"type": "string", "description": time_desc}, "end": {"type": "string", "description": time_desc}}, "required": ["match"], "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"series": {"type": "array"}, "total": {"type": "integer"}, "omitted": {"type": "integer"}}, "required": ["series", "total"]},
            "annotations": ro,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_newest_first_and_a_full_limit_says_so() {
        let data = json!({"resultType": "streams", "result": [
            {"stream": {"app": "a"}, "values": [["1700000000000000000", "one"], ["1700000002000000000", "three"]]},
            {"stream": {"app": "b"}, "values": [["1700000001000000000", "two"]]}
        ]});
        let r = render("{app=~\".+\"}", &data, 3, "backward", None);
        let lines = r["structuredContent"]["lines"].as_array().unwrap();
        let order: Vec<&str> = lines.iter().map(|l| l["line"].as_str().unwrap()).collect();
        assert_eq!(order, ["three", "two", "one"]);
        assert_eq!(lines[0]["timestamp"], "2023-11-14T22:13:22Z");
        assert_eq!(r["structuredContent"]["limit_reached"], true);
        assert!(
            r["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("there may be more")
        );
    }

    #[test]
    fn tenant_must_be_a_header_value() {
        assert!(Settings::parse(&json!({"url": "http://l:3100", "tenant": "a\nb"})).is_err());
        assert!(Settings::parse(&json!({"url": "http://l:3100", "tenant": "team-a"})).is_ok());
        assert!(
            Settings::parse(&json!({"url": "http://l:3100", "org": "x"}))
                .unwrap_err()
                .contains("`org`")
        );
    }
}
