//! `prometheus`: PromQL and the Prometheus HTTP API (`/api/v1/…`) as read-only tools.
//!
//! Settings: `url` (the server, e.g. `http://prometheus:9090`), optional `headers`,
//! `basic_auth: {username, password}` or `bearer_token`, and `timeout` (default 30s).
//!
//! Tools: `query` (instant), `query_range` (a step chosen for the range when omitted; refused
//! with an explanation when a series would exceed Prometheus' own 11,000-point limit), `series`,
//! `label_names`, `label_values`, `metadata`, `targets`, `alerts`, `rules`. Each answers readable
//! text plus `structuredContent` described by its `outputSchema`. A PromQL error is an `isError`
//! result carrying Prometheus' own message. Large answers are summarised: the text shows the
//! first series, the structured content holds series up to a sample budget, and both say how
//! many series and points were left out — nothing is cut silently.

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::args::{Args, is_label_name};
use crate::http::{self, Endpoint, Failure};
use crate::listing::{self, Capped};
use crate::settings::Fields;
use crate::{CallError, Connector, failure, result, time};

/// Prometheus refuses a range query whose series would have more points than this.
pub const MAX_POINTS_PER_SERIES: u64 = 11_000;
/// Points a chosen step aims for over the range.
const TARGET_POINTS: f64 = 250.0;
/// Samples (across every series) kept in `structuredContent`; later series are omitted, counted.
const MAX_SAMPLES: usize = 20_000;
/// Series written out in the text.
const MAX_TEXT_SERIES: usize = 50;
/// Items (labels, series, targets, …) kept in a list answer.
const MAX_ITEMS: usize = 2_000;

/// The `prometheus:` block.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoint: Endpoint,
}

impl Settings {
    pub fn parse(v: &Value) -> Result<Settings, String> {
        let f = Fields::new(v, http::FIELDS)?;
        Ok(Settings {
            endpoint: Endpoint::parse(&f)?,
        })
    }
}

/// The connector.
pub struct Prometheus {
    endpoint: Endpoint,
    client: reqwest::Client,
}

impl Prometheus {
    pub fn new(
        settings: Settings,
        egress: Option<&switchboard_upstream::egress::EgressPolicy>,
    ) -> Result<Prometheus, String> {
        let client = http::client(&settings.endpoint, &[], egress)?;
        Ok(Prometheus {
            endpoint: settings.endpoint,
            client,
        })
    }

    /// GETs an API path; the `data` of a success, or the failure as an `isError` result.
    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(Value, Vec<String>), Value> {
        http::get_api(&self.client, &self.endpoint, path, query, "Prometheus")
            .await
            .map_err(|Failure(m)| failure(m))
    }

    async fn run(&self, name: &str, args: Args) -> Result<Value, CallError> {
        let now = time::now();
        Ok(match name {
            "query" => {
                let args = args.only(&["query", "time"])?;
                let q = args.required("query")?;
                let mut params = vec![("query", q.clone())];
                if let Some(t) = args.time("time", now)? {
                    params.push(("time", t.to_string()));
                }
                match self.get("api/v1/query", &params).await {
                    Ok((data, warnings)) => render_query(&q, &data, &warnings),
                    Err(e) => e,
                }
            }
            "query_range" => {
                let args = args.only(&["query", "start", "end", "step"])?;
                let q = args.required("query")?;
                let end = args.time("end", now)?.unwrap_or(now);
                let start = args.time("start", now)?.unwrap_or(end - 3600.0);
                if start >= end {
                    return Err(CallError::InvalidArguments(
                        "`start` must be before `end`".to_owned(),
                    ));
                }
                let range = end - start;
                let step = match args.string("step")? {
                    Some(s) => crate::settings::parse_duration(&s)
                        .map(|d| d.as_secs_f64())
                        .filter(|d| *d > 0.0)
                        .ok_or_else(|| {
                            CallError::InvalidArguments(format!(
                                "`step` must be a positive duration like `30s` or a number of seconds, not `{s}`"
                            ))
                        })?,
                    None => auto_step(range),
                };
                let points = (range / step).floor() as u64 + 1;
                if points > MAX_POINTS_PER_SERIES {
                    let min_step = (range / (MAX_POINTS_PER_SERIES - 1) as f64).ceil();
                    return Ok(failure(format!(
                        "refused: a step of {} over {} gives {points} points per series, more than Prometheus' limit of {MAX_POINTS_PER_SERIES}; use a step of at least {}s, a shorter range, or omit `step` to have one chosen",
                        fmt_secs(step),
                        fmt_secs(range),
                        min_step
                    )));
                }
                let params = [
                    ("query", q.clone()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("step", step.to_string()),
                ];
                match self.get("api/v1/query_range", &params).await {
                    Ok((data, warnings)) => render_range(&q, &data, &warnings, start, end, step),
                    Err(e) => e,
                }
            }
            "series" => {
                let args = args.only(&["match", "start", "end", "limit"])?;
                let matchers = args.strings("match")?;
                if matchers.is_empty() {
                    return Err(CallError::InvalidArguments(
                        "`match` is required: one or more series selectors like `up` or `{job=\"node\"}`".to_owned(),
                    ));
                }
                let limit = args.count("limit", MAX_ITEMS as u64)?.unwrap_or(500) as usize;
                let mut params: Vec<(&str, String)> =
                    matchers.into_iter().map(|m| ("match[]", m)).collect();
                range_params(&args, now, &mut params)?;
                match self.get("api/v1/series", &params).await {
                    Ok((data, warnings)) => {
                        let list = Capped::new(data.as_array().cloned().unwrap_or_default(), limit);
                        let mut text = list.heading("series", "raise `limit` or narrow `match`");
                        for s in &list.kept {
                            text.push_str(&series_name(s));
                            text.push('\n');
                        }
                        push_warnings(&mut text, &warnings);
                        let (total, omitted) = (list.total, list.omitted());
                        result(
                            text,
                            json!({"series": list.kept, "total": total, "omitted": omitted, "warnings": warnings}),
                        )
                    }
                    Err(e) => e,
                }
            }
            "label_names" => {
                let args = args.only(&["match", "start", "end"])?;
                let mut params: Vec<(&str, String)> = args
                    .strings("match")?
                    .into_iter()
                    .map(|m| ("match[]", m))
                    .collect();
                range_params(&args, now, &mut params)?;
                match self.get("api/v1/labels", &params).await {
                    Ok((data, warnings)) => {
                        strings_answer("label names", "names", &data, &warnings)
                    }
                    Err(e) => e,
                }
            }
            "label_values" => {
                let args = args.only(&["label", "match", "start", "end"])?;
                let label = args.required("label")?;
                if !is_label_name(&label) {
                    return Err(CallError::InvalidArguments(format!(
                        "`label` `{label}` is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                    )));
                }
                let mut params: Vec<(&str, String)> = args
                    .strings("match")?
                    .into_iter()
                    .map(|m| ("match[]", m))
                    .collect();
                range_params(&args, now, &mut params)?;
                match self
                    .get(&format!("api/v1/label/{label}/values"), &params)
                    .await
                {
                    Ok((data, warnings)) => {
                        strings_answer(&format!("values of `{label}`"), "values", &data, &warnings)
                    }
                    Err(e) => e,
                }
            }
            "metadata" => {
                let args = args.only(&["metric", "limit"])?;
                let limit = args.count("limit", MAX_ITEMS as u64)?.unwrap_or(200);
                let mut params = vec![("limit", limit.to_string())];
                if let Some(m) = args.string("metric")? {
                    params.push(("metric", m));
                }
                match self.get("api/v1/metadata", &params).await {
                    Ok((data, _)) => {
                        let map = data.as_object().cloned().unwrap_or_default();
                        let mut text = format!("{} metrics:\n", map.len());
                        for (metric, entries) in &map {
                            for e in entries.as_array().into_iter().flatten() {
                                text.push_str(&format!(
                                    "{metric} ({}): {}\n",
                                    e.get("type").and_then(Value::as_str).unwrap_or("unknown"),
                                    e.get("help").and_then(Value::as_str).unwrap_or("")
                                ));
                            }
                        }
                        result(text, json!({"metadata": map}))
                    }
                    Err(e) => e,
                }
            }
            "targets" => {
                let args = args.only(&["state"])?;
                let state = args
                    .choice("state", &["active", "dropped", "any"])?
                    .unwrap_or("active");
                match self
                    .get("api/v1/targets", &[("state", state.to_owned())])
                    .await
                {
                    Ok((data, _)) => render_targets(&data),
                    Err(e) => e,
                }
            }
            "alerts" => {
                args.only(&[])?;
                match self.get("api/v1/alerts", &[]).await {
                    Ok((data, _)) => {
                        let alerts = data
                            .get("alerts")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        let mut text = format!("{} alerts", alerts.len());
                        text.push_str(if alerts.is_empty() { "\n" } else { ":\n" });
                        for a in &alerts {
                            let labels = a.get("labels").cloned().unwrap_or(Value::Null);
                            text.push_str(&format!(
                                "{} {} since {}\n",
                                a.get("state").and_then(Value::as_str).unwrap_or("?"),
                                labels_text(
                                    labels
                                        .get("alertname")
                                        .and_then(Value::as_str)
                                        .unwrap_or(""),
                                    &labels
                                ),
                                a.get("activeAt").and_then(Value::as_str).unwrap_or("?")
                            ));
                        }
                        result(text, json!({"alerts": alerts}))
                    }
                    Err(e) => e,
                }
            }
            "rules" => {
                let args = args.only(&["type"])?;
                let mut params = Vec::new();
                if let Some(t) = args.choice("type", &["alert", "record"])? {
                    params.push(("type", t.to_owned()));
                }
                match self.get("api/v1/rules", &params).await {
                    Ok((data, _)) => render_rules(&data),
                    Err(e) => e,
                }
            }
            other => return Err(CallError::UnknownTool(other.to_owned())),
        })
    }
}

impl Connector for Prometheus {
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

/// `start`/`end` arguments as API parameters.
fn range_params(args: &Args, now: f64, params: &mut Vec<(&str, String)>) -> Result<(), CallError> {
    if let Some(s) = args.time("start", now)? {
        params.push(("start", s.to_string()));
    }
    if let Some(e) = args.time("end", now)? {
        params.push(("end", e.to_string()));
    }
    Ok(())
}

/// A step giving about [`TARGET_POINTS`] points over `range` seconds, rounded up to a step
/// people use.
pub fn auto_step(range: f64) -> f64 {
    const NICE: &[f64] = &[
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10800.0, 21600.0, 43200.0, 86400.0,
    ];
    let raw = range / TARGET_POINTS;
    NICE.iter()
        .copied()
        .find(|n| *n >= raw)
        .unwrap_or_else(|| (raw / 86400.0).ceil() * 86400.0)
}

fn fmt_secs(s: f64) -> String {
    if s >= 86400.0 && s % 86400.0 == 0.0 {
        format!("{}d", s / 86400.0)
    } else if s >= 3600.0 && s % 3600.0 == 0.0 {
        format!("{}h", s / 3600.0)
    } else if s >= 60.0 && s % 60.0 == 0.0 {
        format!("{}m", s / 60.0)
    } else {
        format!("{s}s")
    }
}

/// `name{a="b", c="d"}` for a label set (the `__name__` label, if any, in front).
fn labels_text(name: &str, labels: &Value) -> String {
    let mut s = name.to_owned();
    let pairs: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "__name__" && (name.is_empty() || *k != "alertname"))
        .map(|(k, v)| {
            format!(
                "{k}={}",
                Value::String(v.as_str().unwrap_or_default().to_owned())
            )
        })
        .collect();
    if !pairs.is_empty() || s.is_empty() {
        s.push('{');
        s.push_str(&pairs.join(", "));
        s.push('}');
    }
    s
}

fn series_name(metric: &Value) -> String {
    labels_text(
        metric.get("__name__").and_then(Value::as_str).unwrap_or(""),
        metric,
    )
}

fn push_warnings(text: &mut String, warnings: &[String]) {
    for w in warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
}

/// A sample `[ts, "value"]` as `value @ time`.
fn sample_text(sample: &Value) -> String {
    let ts = sample.get(0).and_then(Value::as_f64).unwrap_or(0.0);
    let v = sample.get(1).and_then(Value::as_str).unwrap_or("?");
    format!("{v} @ {}", time::format(ts))
}

pub(crate) fn render_query(q: &str, data: &Value, warnings: &[String]) -> Value {
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let res = data.get("result").cloned().unwrap_or(Value::Null);
    let mut text = String::new();
    let structured = match kind {
        "vector" | "matrix" => {
            let all = res.as_array().cloned().unwrap_or_default();
            let total_series = all.len();
            let count = |s: &Value| {
                s.get("values")
                    .and_then(Value::as_array)
                    .map_or(1, Vec::len)
                    + s.get("histograms")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
            };
            let total_points: usize = all.iter().map(count).sum();
            let (kept, kept_points) = keep_within_budget(all);
            text.push_str(&format!("{kind} of {total_series} series for `{q}`"));
            text.push_str(if total_series == 0 {
                " (no data)\n"
            } else {
                ":\n"
            });
            for s in kept.iter().take(MAX_TEXT_SERIES) {
                let name = series_name(s.get("metric").unwrap_or(&Value::Null));
                if let Some(v) = s.get("value") {
                    text.push_str(&format!("{name} => {}\n", sample_text(v)));
                } else if let Some(vals) = s.get("values").and_then(Value::as_array) {
                    text.push_str(&format!(
                        "{name}: {} samples, last {}\n",
                        vals.len(),
                        vals.last().map(sample_text).unwrap_or_default()
                    ));
                } else {
                    text.push_str(&format!("{name} => (native histogram)\n"));
                }
            }
            omitted_note(
                &mut text,
                total_series,
                kept.len(),
                total_points,
                kept_points,
            );
            json!({
                "resultType": kind, "result": kept,
                "series_total": total_series, "series_omitted": total_series - kept.len(),
                "points_total": total_points, "points_omitted": total_points - kept_points,
            })
        }
        _ => {
            // scalar and string: one [ts, value] pair.
            text.push_str(&format!("{kind} for `{q}`: {}\n", sample_text(&res)));
            json!({"resultType": kind, "result": res, "series_total": 0, "series_omitted": 0, "points_total": 1, "points_omitted": 0})
        }
    };
    push_warnings(&mut text, warnings);
    let mut structured = structured;
    structured["warnings"] = json!(warnings);
    result(text, structured)
}

/// Keeps whole series while their samples fit [`MAX_SAMPLES`]; the rest are omitted.
fn keep_within_budget(all: Vec<Value>) -> (Vec<Value>, usize) {
    let mut kept = Vec::new();
    let mut used = 0;
    for s in all {
        let n = s
            .get("values")
            .and_then(Value::as_array)
            .map_or(1, Vec::len)
            + s.get("histograms")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
        if used + n > MAX_SAMPLES && !kept.is_empty() {
            break;
        }
        used += n;
        kept.push(s);
    }
    (kept, used)
}

fn omitted_note(text: &mut String, total: usize, kept: usize, points: usize, kept_points: usize) {
    if kept > MAX_TEXT_SERIES {
        text.push_str(&format!(
            "… {} more series in structuredContent, not shown here\n",
            kept - MAX_TEXT_SERIES
        ));
    }
    if total > kept {
        text.push_str(&format!(
            "summarised: {} of {total} series ({} of {points} points) omitted to stay within {MAX_SAMPLES} samples; narrow the query (more label matchers, aggregation such as sum by (…), topk) or use a larger step\n",
            total - kept,
            points - kept_points
        ));
    }
}

pub(crate) fn render_range(
    q: &str,
    data: &Value,
    warnings: &[String],
    start: f64,
    end: f64,
    step: f64,
) -> Value {
    let all = data
        .get("result")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total_series = all.len();
    let total_points: usize = all
        .iter()
        .map(|s| {
            s.get("values")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
                + s.get("histograms")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
        })
        .sum();
    let (kept, kept_points) = keep_within_budget(all);
    let mut text = format!(
        "matrix of {total_series} series for `{q}` from {} to {} every {}",
        time::format(start),
        time::format(end),
        fmt_secs(step)
    );
    text.push_str(if total_series == 0 {
        " (no data)\n"
    } else {
        ":\n"
    });
    for s in kept.iter().take(MAX_TEXT_SERIES) {
        let name = series_name(s.get("metric").unwrap_or(&Value::Null));
        let vals: Vec<f64> = s
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get(1)?.as_str()?.parse::<f64>().ok())
            .collect();
        let last = s
            .get("values")
            .and_then(Value::as_array)
            .and_then(|v| v.last())
            .map(sample_text)
            .unwrap_or_else(|| "-".to_owned());
        let (min, max) = vals
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        if vals.is_empty() {
            text.push_str(&format!("{name}: no float samples\n"));
        } else {
            text.push_str(&format!(
                "{name}: {} samples, min {min}, max {max}, last {last}\n",
                vals.len()
            ));
        }
    }
    omitted_note(
        &mut text,
        total_series,
        kept.len(),
        total_points,
        kept_points,
    );
    push_warnings(&mut text, warnings);
    result(
        text,
        json!({
            "resultType": "matrix", "result": kept,
            "start": start, "end": end, "step": step,
            "series_total": total_series, "series_omitted": total_series - kept.len(),
            "points_total": total_points, "points_omitted": total_points - kept_points,
            "warnings": warnings,
        }),
    )
}

fn strings_answer(what: &str, key: &str, data: &Value, warnings: &[String]) -> Value {
    let list = Capped::new(listing::strings(data), MAX_ITEMS);
    let mut text = list.heading(what, "narrow with `match`");
    text.push_str(&list.kept.join("\n"));
    text.push('\n');
    push_warnings(&mut text, warnings);
    let (total, omitted) = (list.total, list.omitted());
    result(
        text,
        json!({key: list.kept, "total": total, "omitted": omitted, "warnings": warnings}),
    )
}

fn render_targets(data: &Value) -> Value {
    let active = data
        .get("activeTargets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let dropped = data
        .get("droppedTargets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut text = format!("{} active targets", active.len());
    if !dropped.is_empty() {
        text.push_str(&format!(", {} dropped", dropped.len()));
    }
    text.push_str(":\n");
    let targets: Vec<Value> = active
        .iter()
        .take(MAX_ITEMS)
        .map(|t| {
            let v = json!({
                "job": t.pointer("/labels/job").cloned().unwrap_or(Value::Null),
                "instance": t.pointer("/labels/instance").cloned().unwrap_or(Value::Null),
                "scrapeUrl": t.get("scrapeUrl").cloned().unwrap_or(Value::Null),
                "health": t.get("health").cloned().unwrap_or(Value::Null),
                "lastError": t.get("lastError").cloned().unwrap_or(Value::Null),
                "lastScrape": t.get("lastScrape").cloned().unwrap_or(Value::Null),
                "lastScrapeDuration": t.get("lastScrapeDuration").cloned().unwrap_or(Value::Null),
                "labels": t.get("labels").cloned().unwrap_or(Value::Null),
            });
            text.push_str(&format!(
                "{} {} ({}){}\n",
                v["health"].as_str().unwrap_or("unknown"),
                v["scrapeUrl"].as_str().unwrap_or("?"),
                v["job"].as_str().unwrap_or("?"),
                v["lastError"]
                    .as_str()
                    .filter(|e| !e.is_empty())
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
            v
        })
        .collect();
    if active.len() > targets.len() {
        text.push_str(&format!(
            "… {} more omitted\n",
            active.len() - targets.len()
        ));
    }
    result(
        text,
        json!({"active": targets, "active_total": active.len(), "dropped_total": dropped.len()}),
    )
}

fn render_rules(data: &Value) -> Value {
    let groups = data
        .get("groups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut text = format!("{} rule groups", groups.len());
    text.push_str(if groups.is_empty() { "\n" } else { ":\n" });
    for g in &groups {
        text.push_str(&format!(
            "group {} ({}):\n",
            g.get("name").and_then(Value::as_str).unwrap_or("?"),
            g.get("file").and_then(Value::as_str).unwrap_or("?")
        ));
        for r in g
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            text.push_str(&format!(
                "  {} {} [{}{}]: {}\n",
                r.get("type").and_then(Value::as_str).unwrap_or("?"),
                r.get("name").and_then(Value::as_str).unwrap_or("?"),
                r.get("health").and_then(Value::as_str).unwrap_or("?"),
                r.get("state")
                    .and_then(Value::as_str)
                    .map(|s| format!(", {s}"))
                    .unwrap_or_default(),
                r.get("query").and_then(Value::as_str).unwrap_or("")
            ));
        }
    }
    result(text, json!({"groups": groups}))
}

fn tools() -> Vec<Value> {
    let ro = json!({"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true});
    let time_desc =
        "RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, `now`, or an age like `1h` (that long ago)";
    let matrixish = json!({
        "type": "object",
        "properties": {
            "resultType": {"type": "string", "enum": ["vector", "matrix", "scalar", "string"]},
            "result": {"description": "As Prometheus returns it: series with `metric` and `value` (vector) or `values` (matrix); a [time, value] pair for scalar and string."},
            "series_total": {"type": "integer"}, "series_omitted": {"type": "integer"},
            "points_total": {"type": "integer"}, "points_omitted": {"type": "integer"},
            "warnings": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["resultType", "result", "series_total", "series_omitted"]
    });
    let strings = |key: &str| {
        json!({
            "type": "object",
            "properties": {key: {"type": "array", "items": {"type": "string"}}, "total": {"type": "integer"}, "omitted": {"type": "integer"}, "warnings": {"type": "array", "items": {"type": "string"}}},
            "required": [key, "total"]
        })
    };
    let matchers = json!({"type": "array", "items": {"type": "string"}, "description": "Series selectors, e.g. [\"up\", \"{job=\\\"node\\\"}\"]"});
    vec![
        json!({
            "name": "query", "title": "PromQL instant query",
            "description": "Evaluates a PromQL expression at one instant (default now). Answers each series with its value; large answers are summarised and say what was omitted.",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string", "description": "PromQL expression, e.g. rate(http_requests_total[5m])"},
                "time": {"type": "string", "description": format!("Evaluation time: {time_desc}")}
            }, "required": ["query"], "additionalProperties": false},
            "outputSchema": matrixish, "annotations": ro,
        }),
        json!({
            "name": "query_range", "title": "PromQL range query",
            "description": format!("Evaluates a PromQL expression over a time range (default the last hour). The step is chosen for the range (about {TARGET_POINTS} points) when omitted; a step giving more than {MAX_POINTS_PER_SERIES} points per series is refused with the smallest step that fits."),
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string", "description": "PromQL expression"},
                "start": {"type": "string", "description": format!("Range start: {time_desc}; default 1h before end")},
                "end": {"type": "string", "description": format!("Range end: {time_desc}; default now")},
                "step": {"type": "string", "description": "Resolution, e.g. 30s or 5m; chosen for the range when omitted"}
            }, "required": ["query"], "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {
                "resultType": {"type": "string"}, "result": {"type": "array"},
                "start": {"type": "number"}, "end": {"type": "number"}, "step": {"type": "number"},
                "series_total": {"type": "integer"}, "series_omitted": {"type": "integer"},
                "points_total": {"type": "integer"}, "points_omitted": {"type": "integer"},
                "warnings": {"type": "array", "items": {"type": "string"}}
            }, "required": ["resultType", "result", "step", "series_total", "series_omitted"]},
            "annotations": ro,
        }),
        json!({
            "name": "series", "title": "Find series",
            "description": "Lists the series (label sets) that match selectors, optionally within a time range.",
            "inputSchema": {"type": "object", "properties": {
                "match": matchers, "start": {"type": "string", "description": time_desc}, "end": {"type": "string", "description": time_desc},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS, "description": "Series to return (default 500)"}
            }, "required": ["match"], "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"series": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer"}, "omitted": {"type": "integer"}, "warnings": {"type": "array"}}, "required": ["series", "total"]},
            "annotations": ro,
        }),
        json!({
            "name": "label_names", "title": "Label names",
            "description": "Lists label names, optionally only those of series matching selectors.",
            "inputSchema": {"type": "object", "properties": {"match": matchers, "start": {"type": "string", "description": time_desc}, "end": {"type": "string", "description": time_desc}}, "additionalProperties": false},
            "outputSchema": strings("names"), "annotations": ro,
        }),
        json!({
            "name": "label_values", "title": "Label values",
            "description": "Lists the values of one label (e.g. every `job`), optionally only in series matching selectors.",
            "inputSchema": {"type": "object", "properties": {"label": {"type": "string", "description": "Label name, e.g. job"}, "match": matchers, "start": {"type": "string", "description": time_desc}, "end": {"type": "string", "description": time_desc}}, "required": ["label"], "additionalProperties": false},
            "outputSchema": strings("values"), "annotations": ro,
        }),
        json!({
            "name": "metadata", "title": "Metric metadata",
            "description": "Type and help text of metrics (all, or one metric).",
            "inputSchema": {"type": "object", "properties": {"metric": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS, "description": "Metrics to return (default 200)"}}, "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"metadata": {"type": "object"}}, "required": ["metadata"]},
            "annotations": ro,
        }),
        json!({
            "name": "targets", "title": "Scrape targets",
            "description": "Scrape targets and their health, last error and last scrape.",
            "inputSchema": {"type": "object", "properties": {"state": {"type": "string", "enum": ["active", "dropped", "any"]}}, "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"active": {"type": "array"}, "active_total": {"type": "integer"}, "dropped_total": {"type": "integer"}}, "required": ["active", "active_total"]},
            "annotations": ro,
        }),
        json!({
            "name": "alerts", "title": "Active alerts",
            "description": "Alerts that are pending or firing.",
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"alerts": {"type": "array"}}, "required": ["alerts"]},
            "annotations": ro,
        }),
        json!({
            "name": "rules", "title": "Alerting and recording rules",
            "description": "Rule groups with each rule's query, health and state.",
            "inputSchema": {"type": "object", "properties": {"type": {"type": "string", "enum": ["alert", "record"]}}, "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"groups": {"type": "array"}}, "required": ["groups"]},
            "annotations": ro,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_fit_the_range() {
        assert_eq!(auto_step(3600.0), 15.0);
        assert_eq!(auto_step(60.0), 1.0);
        assert_eq!(auto_step(86400.0 * 7.0), 3600.0);
        for range in [1.0, 100.0, 3600.0, 86400.0 * 365.0 * 10.0] {
            assert!(((range / auto_step(range)) as u64) < MAX_POINTS_PER_SERIES);
        }
    }

    #[test]
    fn settings_refuse_unknown_fields() {
        let e = Settings::parse(&json!({"url": "http://p:9090", "tiemout": "1s"})).unwrap_err();
        assert!(e.contains("unknown field `tiemout`"), "{e}");
        assert!(Settings::parse(&json!({"url": "http://p:9090", "timeout": "1s"})).is_ok());
    }

    #[test]
    fn every_tool_is_read_only_with_an_output_schema() {
        let t = tools();
        assert_eq!(t.len(), 9);
        for tool in t {
            assert_eq!(
                tool["annotations"]["readOnlyHint"], true,
                "{}",
                tool["name"]
            );
            assert_eq!(tool["outputSchema"]["type"], "object", "{}", tool["name"]);
        }
    }
}
