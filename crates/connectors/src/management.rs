//! `management`: the gateway's own operations as tools, for an operator's agent.
//!
//! Settings: none (`management: {}`). Tools: `list_upstreams` (each with its state),
//! `upstream_details`, `health`, `start`, `stop`, `restart`, `group_members`, `recent_errors`,
//! `metrics_summary`. `start`, `stop` and `restart` are marked destructive; the rest read only.
//!
//! The gateway implements [`Operations`]; this module only shapes its answers into tools. Who
//! may call them is the gateway's decision (the `admin` scope; see the gateway's call path),
//! made before a call reaches this module.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::args::Args;
use crate::settings::Fields;
use crate::{CallError, Connector, failure, result};

/// What the gateway lets its management tools see and do.
pub trait Operations: Send + Sync + 'static {
    /// The `/status` document: `upstreams` (each with `name`, `kind`, `state`, `error`,
    /// `since_seconds`, `restarts`, counts, latency, breaker, and for a group `strategy` and
    /// `members`), `withheld`, `sessions`, ….
    fn status(&self) -> Value;
    /// Whether the gateway is ready to serve, and if not, why.
    fn readiness(&self) -> Result<(), String>;
    /// The exposed names of the tools upstream `name` serves now.
    fn tools_of(&self, name: &str) -> Vec<String>;
    /// Starts a stopped upstream; what happened, or why not.
    fn start<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>>;
    /// Stops an upstream until `start` (calls to it fail at once meanwhile).
    fn stop<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>>;
    /// Stops and starts an upstream afresh (a new process or client).
    fn restart<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>>;
}

/// The `management:` block: it takes no settings.
#[derive(Debug)]
pub struct Settings;

impl Settings {
    pub fn parse(v: &Value) -> Result<Settings, String> {
        Fields::new(v, &[])?;
        Ok(Settings)
    }
}

/// The connector.
pub struct Management {
    ops: Arc<dyn Operations>,
    /// The upstream it is served as: it will not stop or restart itself mid-call.
    own: String,
}

impl Management {
    pub fn new(ops: Arc<dyn Operations>, own: String) -> Management {
        Management { ops, own }
    }

    fn upstreams(&self) -> Vec<Value> {
        self.ops
            .status()
            .get("upstreams")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn find(&self, name: &str) -> Result<Value, Value> {
        self.upstreams()
            .into_iter()
            .find(|u| u.get("name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| {
                let names: Vec<String> = self
                    .upstreams()
                    .iter()
                    .filter_map(|u| u.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                failure(format!(
                    "no upstream `{name}`; the upstreams are: {}",
                    names.join(", ")
                ))
            })
    }

    async fn run(&self, tool: &str, args: Args) -> Result<Value, CallError> {
        Ok(match tool {
            "list_upstreams" => {
                args.only(&[])?;
                let ups: Vec<Value> = self.upstreams().iter().map(summary).collect();
                let mut text = format!("{} upstreams:\n", ups.len());
                for u in &ups {
                    text.push_str(&format!(
                        "{} ({}): {} for {}s, {} tools{}\n",
                        s(u, "name"),
                        s(u, "kind"),
                        s(u, "state"),
                        u["since_seconds"],
                        u["tools"],
                        u["error"]
                            .as_str()
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    ));
                }
                result(text, json!({"upstreams": ups}))
            }
            "upstream_details" => {
                let args = args.only(&["name"])?;
                let name = args.required("name")?;
                match self.find(&name) {
                    Ok(mut u) => {
                        let tools = self.ops.tools_of(&name);
                        u["tool_names"] = json!(tools);
                        let text = format!(
                            "{} ({}, prefix `{}`): {} for {}s, {} restarts, {} calls, {} in flight{}\ntools: {}\n",
                            s(&u, "name"),
                            s(&u, "kind"),
                            s(&u, "prefix"),
                            s(&u, "state"),
                            u["since_seconds"],
                            u["restarts"],
                            u["calls"],
                            u["inflight"],
                            u["error"]
                                .as_str()
                                .map(|e| format!("\nlast error: {e}"))
                                .unwrap_or_default(),
                            if tools.is_empty() {
                                "none".to_owned()
                            } else {
                                tools.join(", ")
                            }
                        );
                        result(text, json!({"upstream": u}))
                    }
                    Err(e) => e,
                }
            }
            "health" => {
                args.only(&[])?;
                let ready = self.ops.readiness();
                let ups = self.upstreams();
                let mut by_state = Map::new();
                for u in &ups {
                    let st = s(u, "state").to_owned();
                    let n = by_state.get(&st).and_then(Value::as_u64).unwrap_or(0) + 1;
                    by_state.insert(st, json!(n));
                }
                let mut text = match &ready {
                    Ok(()) => "ready".to_owned(),
                    Err(why) => format!("not ready: {why}"),
                };
                text.push_str(&format!(
                    "; {} upstreams: {}\n",
                    ups.len(),
                    by_state
                        .iter()
                        .map(|(k, v)| format!("{v} {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                result(
                    text,
                    json!({"ready": ready.is_ok(), "reason": ready.err(), "upstreams": ups.len(), "states": by_state}),
                )
            }
            "start" | "stop" | "restart" => {
                let args = args.only(&["name"])?;
                let name = args.required("name")?;
                if name == self.own && tool != "start" {
                    return Ok(failure(format!(
                        "refused: `{name}` is the upstream serving this call; {tool} it from the config or another management upstream"
                    )));
                }
                if let Err(e) = self.find(&name) {
                    return Ok(e);
                }
                let done = match tool {
                    "start" => self.ops.start(&name).await,
                    "stop" => self.ops.stop(&name).await,
                    _ => self.ops.restart(&name).await,
                };
                match done {
                    Ok(what) => {
                        let state = self
                            .find(&name)
                            .map(|u| s(&u, "state").to_owned())
                            .unwrap_or_default();
                        result(
                            format!("{what}; state now {state}\n"),
                            json!({"upstream": name, "action": tool, "message": what, "state": state}),
                        )
                    }
                    Err(why) => failure(why),
                }
            }
            "group_members" => {
                let args = args.only(&["name"])?;
                let wanted = args.string("name")?;
                let ups = self.upstreams();
                let state_of = |n: &str| {
                    ups.iter()
                        .find(|u| s(u, "name") == n)
                        .map(|u| s(u, "state").to_owned())
                        .unwrap_or_else(|| "unknown".to_owned())
                };
                let groups: Vec<Value> = ups
                    .iter()
                    .filter(|u| u.get("members").is_some())
                    .filter(|u| wanted.as_deref().is_none_or(|w| s(u, "name") == w))
                    .map(|g| {
                        let members: Vec<Value> = g["members"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(|m| json!({"name": m, "state": state_of(m)}))
                            .collect();
                        json!({"name": g["name"], "strategy": g["strategy"], "state": g["state"], "members": members, "disagreeing": g["disagreeing"]})
                    })
                    .collect();
                if let Some(w) = &wanted
                    && groups.is_empty()
                {
                    return Ok(failure(format!("no group `{w}`")));
                }
                let mut text = format!("{} groups:\n", groups.len());
                for g in &groups {
                    text.push_str(&format!(
                        "{} ({}): {}\n",
                        s(g, "name"),
                        s(g, "strategy"),
                        g["members"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|m| format!("{} {}", s(m, "name"), s(m, "state")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                result(text, json!({"groups": groups}))
            }
            "recent_errors" => {
                args.only(&[])?;
                let errors: Vec<Value> = self
                    .upstreams()
                    .iter()
                    .filter(|u| u["error"].is_string())
                    .map(|u| json!({"upstream": u["name"], "state": u["state"], "error": u["error"], "since_seconds": u["since_seconds"], "restarts": u["restarts"], "breaker": u["breaker"]}))
                    .collect();
                let mut text = format!("{} upstreams report an error", errors.len());
                text.push_str(if errors.is_empty() { "\n" } else { ":\n" });
                for e in &errors {
                    text.push_str(&format!(
                        "{} ({} for {}s, {} restarts): {}\n",
                        s(e, "upstream"),
                        s(e, "state"),
                        e["since_seconds"],
                        e["restarts"],
                        s(e, "error")
                    ));
                }
                result(text, json!({"errors": errors}))
            }
            "metrics_summary" => {
                args.only(&[])?;
                let status = self.ops.status();
                let ups: Vec<Value> = status["upstreams"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| json!({"name": u["name"], "calls": u["calls"], "inflight": u["inflight"], "latency": u["latency"], "breaker": u["breaker"], "queued": u["queued"]}))
                    .collect();
                let calls: u64 = ups.iter().filter_map(|u| u["calls"].as_u64()).sum();
                let inflight: u64 = ups.iter().filter_map(|u| u["inflight"].as_u64()).sum();
                let mut text = format!(
                    "{calls} calls to upstreams, {inflight} in flight, {} sessions\n",
                    status["sessions"]
                );
                for u in &ups {
                    text.push_str(&format!(
                        "{}: {} calls, {} in flight, p50 {} ms, p99 {} ms, breaker {}\n",
                        s(u, "name"),
                        u["calls"],
                        u["inflight"],
                        u["latency"]["p50_ms"],
                        u["latency"]["p99_ms"],
                        u["breaker"]["state"].as_str().unwrap_or("-")
                    ));
                }
                result(
                    text,
                    json!({"calls": calls, "inflight": inflight, "sessions": status["sessions"], "upstreams": ups}),
                )
            }
            other => return Err(CallError::UnknownTool(other.to_owned())),
        })
    }
}

/// A string member, or empty.
fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The part of an upstream's status a listing shows.
fn summary(u: &Value) -> Value {
    json!({
        "name": u["name"], "kind": u["kind"], "prefix": u["prefix"], "state": u["state"],
        "since_seconds": u["since_seconds"], "restarts": u["restarts"], "error": u["error"],
        "tools": u["tools"], "calls": u["calls"], "inflight": u["inflight"],
    })
}

impl Connector for Management {
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

fn tools() -> Vec<Value> {
    let ro = json!({"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false});
    let rw = json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": false});
    let none = json!({"type": "object", "properties": {}, "additionalProperties": false});
    let named = |what: &str| json!({"type": "object", "properties": {"name": {"type": "string", "description": what}}, "required": ["name"], "additionalProperties": false});
    let obj = |key: &str| json!({"type": "object", "properties": {key: {}}, "required": [key]});
    let action = json!({"type": "object", "properties": {"upstream": {"type": "string"}, "action": {"type": "string"}, "message": {"type": "string"}, "state": {"type": "string"}}, "required": ["upstream", "action", "state"]});
    vec![
        json!({"name": "list_upstreams", "title": "List upstreams", "description": "Every upstream with its kind, state (ready, starting, degraded, failed, cold), how long in it, restarts, tool count and last error.", "inputSchema": none, "outputSchema": obj("upstreams"), "annotations": ro}),
        json!({"name": "upstream_details", "title": "Upstream details", "description": "One upstream's full status: state, error, restarts, calls, latency, concurrency and breaker, and the tools it serves.", "inputSchema": named("The upstream's configured name"), "outputSchema": obj("upstream"), "annotations": ro}),
        json!({"name": "health", "title": "Gateway health", "description": "Whether the gateway is ready (and why not), and how many upstreams are in each state.", "inputSchema": none, "outputSchema": {"type": "object", "properties": {"ready": {"type": "boolean"}, "reason": {}, "upstreams": {"type": "integer"}, "states": {"type": "object"}}, "required": ["ready", "states"]}, "annotations": ro}),
        json!({"name": "start", "title": "Start an upstream", "description": "Starts an upstream that was stopped.", "inputSchema": named("The upstream to start"), "outputSchema": action, "annotations": rw}),
        json!({"name": "stop", "title": "Stop an upstream", "description": "Stops an upstream: its process or client is closed, its tools leave the catalog, and calls to it fail at once until it is started again.", "inputSchema": named("The upstream to stop"), "outputSchema": action, "annotations": rw}),
        json!({"name": "restart", "title": "Restart an upstream", "description": "Stops an upstream and starts it afresh (a new process or client); calls in flight to it end.", "inputSchema": named("The upstream to restart"), "outputSchema": action, "annotations": rw}),
        json!({"name": "group_members", "title": "Group members", "description": "Groups with their strategy and each member's state (all groups, or one by name).", "inputSchema": {"type": "object", "properties": {"name": {"type": "string", "description": "A group's name; all groups when omitted"}}, "additionalProperties": false}, "outputSchema": obj("groups"), "annotations": ro}),
        json!({"name": "recent_errors", "title": "Recent errors", "description": "Upstreams whose last connection attempt, health check or exit left an error, with their state and breaker.", "inputSchema": none, "outputSchema": obj("errors"), "annotations": ro}),
        json!({"name": "metrics_summary", "title": "Metrics summary", "description": "Calls, calls in flight, recent latency (p50, p99) and breaker state per upstream, and sessions.", "inputSchema": none, "outputSchema": {"type": "object", "properties": {"calls": {"type": "integer"}, "inflight": {"type": "integer"}, "sessions": {}, "upstreams": {"type": "array"}}, "required": ["calls", "upstreams"]}, "annotations": ro}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_settings() {
        for t in tools() {
            let destructive = matches!(t["name"].as_str(), Some("start" | "stop" | "restart"));
            assert_eq!(
                t["annotations"]["destructiveHint"], destructive,
                "{}",
                t["name"]
            );
            assert_eq!(
                t["annotations"]["readOnlyHint"], !destructive,
                "{}",
                t["name"]
            );
        }
        assert!(Settings::parse(&json!({})).is_ok());
        assert!(Settings::parse(&Value::Null).is_ok());
        assert!(
            Settings::parse(&json!({"x": 1}))
                .unwrap_err()
                .contains("unknown field `x`")
        );
    }
}
