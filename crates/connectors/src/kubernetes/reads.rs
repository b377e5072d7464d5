//! The read tools: `list_resources`, `get_resource`, `pod_logs`, `events`.

use serde_json::{Map, Value, json};

use super::discovery::segment;
use super::tools::{self, Args, result};
use super::{Failure, Kubernetes, render};
use crate::CallError;

impl Kubernetes {
    pub(super) async fn list_resources(
        &self,
        arguments: Map<String, Value>,
    ) -> Result<Value, Failure> {
        let args = Args::new(
            arguments,
            &[
                "kind",
                "api_version",
                "namespace",
                "label_selector",
                "field_selector",
                "limit",
                "continue",
            ],
        )?;
        let kind = args.required_text("kind")?;
        let namespace = args.name("namespace")?;
        let limit = args
            .integer("limit", 1, tools::MAX_LIST_LIMIT)?
            .unwrap_or(tools::DEFAULT_LIST_LIMIT);
        let label_selector = args.text("label_selector")?;
        let field_selector = args.text("field_selector")?;
        let continue_token = args.text("continue")?;
        let resource = self
            .discovery
            .resolve(&self.api, kind, args.text("api_version")?)
            .await?;
        if !resource.supports("list") {
            return Err(Failure::Tool(format!(
                "{} cannot be listed",
                resource.qualified()
            )));
        }
        let scopes = if resource.namespaced {
            self.list_scopes(namespace)?
        } else {
            vec![None]
        };
        if continue_token.is_some() && scopes.len() > 1 {
            return Err(Failure::Tool(
                "`continue` pages through one namespace or the whole cluster; name the namespace of the first call".into(),
            ));
        }
        let now = render::now();
        let mut rows = Vec::new();
        let mut next = None;
        let mut more = false;
        // Allowed namespaces not listed because the limit was reached first.
        let mut unlisted = Vec::new();
        for scope in &scopes {
            let room = limit as usize - rows.len();
            if room == 0 {
                unlisted.extend(scope.as_deref());
                continue;
            }
            let mut query = vec![("limit", room.to_string())];
            if let Some(s) = label_selector {
                query.push(("labelSelector", s.to_owned()));
            }
            if let Some(s) = field_selector {
                query.push(("fieldSelector", s.to_owned()));
            }
            if let Some(c) = continue_token {
                query.push(("continue", c.to_owned()));
            }
            let list = self
                .api
                .get_json(&resource.collection_path(scope.as_deref()), &query)
                .await?;
            let items = list
                .get("items")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            rows.extend(
                items
                    .iter()
                    .take(room)
                    .map(|item| render::summary(item, now)),
            );
            let token = list
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty());
            if token.is_some() || items.len() > room {
                more = true;
                if scopes.len() == 1 {
                    next = token.map(str::to_owned);
                }
            }
        }

        let place = match (resource.namespaced, scopes.as_slice()) {
            (false, _) => "cluster-wide".to_owned(),
            (true, [Some(ns)]) => format!("in namespace {ns}"),
            (true, [None]) => "in all namespaces".to_owned(),
            (true, many) => format!(
                "in namespaces {}",
                many.iter()
                    .flatten()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut text = if rows.is_empty() {
            format!("No {} found {place}.\n", resource.qualified())
        } else {
            format!("{} {} {place}:\n", rows.len(), resource.qualified())
        };
        if !rows.is_empty() {
            let across = resource.namespaced && !matches!(scopes.as_slice(), [Some(_)]);
            let mut columns = Vec::with_capacity(4);
            if across {
                columns.push(("namespace", "NAMESPACE"));
            }
            columns.extend([("name", "NAME"), ("status", "STATUS"), ("age", "AGE")]);
            text.push_str(&render::table(&rows, &columns));
        }
        match (&next, more) {
            (Some(token), _) => {
                text.push_str(&format!("More items exist: call again with continue: {token:?}.\n"))
            }
            (None, true) => text.push_str(&format!(
                "More items exist beyond the limit of {limit}; narrow the list with selectors or a namespace.\n"
            )),
            (None, false) => {}
        }
        if !unlisted.is_empty() {
            text.push_str(&format!(
                "The limit of {limit} was reached before namespaces {} were listed.\n",
                unlisted.join(", ")
            ));
        }
        let structured = json!({
            "kind": resource.kind,
            "apiVersion": resource.api_version(),
            "items": rows,
            "continue": next,
            "unlisted_namespaces": unlisted,
        });
        Ok(result(text, Some(structured)))
    }

    pub(super) async fn get_resource(
        &self,
        arguments: Map<String, Value>,
    ) -> Result<Value, Failure> {
        let args = Args::new(arguments, &["kind", "name", "namespace", "api_version"])?;
        let kind = args.required_text("kind")?;
        let name = args.required_name("name")?;
        let namespace = args.name("namespace")?;
        let resource = self
            .discovery
            .resolve(&self.api, kind, args.text("api_version")?)
            .await?;
        if !resource.supports("get") {
            return Err(Failure::Tool(format!(
                "{} cannot be read one at a time",
                resource.qualified()
            )));
        }
        let ns = if resource.namespaced {
            Some(self.namespace(namespace)?)
        } else {
            None
        };
        let object = self
            .api
            .get_json(&resource.item_path(ns.as_deref(), name), &[])
            .await?;
        let secret = resource.group.is_empty() && resource.kind == "Secret";
        let yaml = render::object_yaml(object, secret).map_err(Failure::Tool)?;
        Ok(result(yaml, None))
    }

    pub(super) async fn pod_logs(&self, arguments: Map<String, Value>) -> Result<Value, Failure> {
        let args = Args::new(
            arguments,
            &[
                "pod",
                "namespace",
                "container",
                "tail_lines",
                "since_seconds",
                "previous",
                "timestamps",
            ],
        )?;
        let pod = args.required_name("pod")?;
        let ns = self.namespace(args.name("namespace")?)?;
        let container = args.name("container")?;
        let tail_lines = args.integer("tail_lines", 1, tools::MAX_TAIL_LINES)?;
        let since = args.integer("since_seconds", 1, i64::MAX as u64)?;
        let mut query = Vec::new();
        if let Some(c) = container {
            query.push(("container", c.to_owned()));
        }
        match (tail_lines, since) {
            (Some(n), _) => query.push(("tailLines", n.to_string())),
            (None, None) => query.push(("tailLines", tools::DEFAULT_TAIL_LINES.to_string())),
            (None, Some(_)) => {}
        }
        if let Some(s) = since {
            query.push(("sinceSeconds", s.to_string()));
        }
        if args.flag("previous")? {
            query.push(("previous", "true".into()));
        }
        if args.flag("timestamps")? {
            query.push(("timestamps", "true".into()));
        }
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/log",
            segment(&ns),
            segment(pod)
        );
        let tail = self
            .api
            .get_tail(&path, &query, tools::LOG_KEEP_BYTES)
            .await?;
        let mut text = String::with_capacity(tail.text.len() + 160);
        if tail.dropped > 0 {
            text.push_str(&format!(
                "[{} KiB of older output left out: only the newest {} KiB are returned; narrow with tail_lines or since_seconds]\n",
                tail.dropped.div_ceil(1024),
                tools::LOG_KEEP_BYTES >> 10
            ));
        }
        if tail.text.is_empty() {
            text.push_str("(the log is empty for this selection)\n");
        } else {
            text.push_str(&tail.text);
        }
        Ok(result(text, None))
    }

    pub(super) async fn events(&self, arguments: Map<String, Value>) -> Result<Value, Failure> {
        let args = Args::new(arguments, &["namespace", "kind", "name", "type", "limit"])?;
        let scopes = self.list_scopes(args.name("namespace")?)?;
        let limit = args
            .integer("limit", 1, tools::MAX_EVENTS)?
            .unwrap_or(tools::DEFAULT_EVENTS) as usize;
        let mut selector = Vec::new();
        if let Some(kind) = args.text("kind")? {
            if !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(CallError::InvalidArguments(format!(
                    "`kind` {kind:?} is not a Kind, like Pod"
                ))
                .into());
            }
            selector.push(format!("involvedObject.kind={kind}"));
        }
        if let Some(name) = args.name("name")? {
            if name.contains([',', '=', '!', '\\']) {
                return Err(CallError::InvalidArguments(format!(
                    "`name` {name:?} is not a resource name"
                ))
                .into());
            }
            selector.push(format!("involvedObject.name={name}"));
        }
        match args.text("type")? {
            Some(t @ ("Normal" | "Warning")) => selector.push(format!("type={t}")),
            Some(other) => {
                return Err(CallError::InvalidArguments(format!(
                    "`type` {other:?} is not Normal or Warning"
                ))
                .into());
            }
            None => {}
        }
        let mut events = Vec::new();
        let mut capped = false;
        for scope in &scopes {
            let path = match scope {
                Some(ns) => format!("/api/v1/namespaces/{}/events", segment(ns)),
                None => "/api/v1/events".to_owned(),
            };
            // Events come back in name order; fetch a bounded page and sort by time here.
            let mut query = vec![("limit", FETCH_EVENTS.to_string())];
            if !selector.is_empty() {
                query.push(("fieldSelector", selector.join(",")));
            }
            let list = self.api.get_json(&path, &query).await?;
            capped |= list
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty());
            if let Some(items) = list.get("items").and_then(Value::as_array) {
                events.extend(items.iter().cloned());
            }
        }
        let mut timed: Vec<(i64, Value)> = events
            .into_iter()
            .map(|e| (event_time(&e).unwrap_or(0), e))
            .collect();
        timed.sort_by_key(|(t, _)| *t);
        let total = timed.len();
        let shown = &timed[total.saturating_sub(limit)..];
        let now = render::now();
        let across = !matches!(scopes.as_slice(), [Some(_)]);
        let rows: Vec<Value> = shown.iter().map(|(t, e)| event_row(e, *t, now)).collect();
        let mut text = if rows.is_empty() {
            "No events found.\n".to_owned()
        } else if total > rows.len() {
            format!(
                "The newest {} of {total} events, oldest first:\n",
                rows.len()
            )
        } else {
            format!("{} events, oldest first:\n", rows.len())
        };
        if !rows.is_empty() {
            let mut columns = Vec::with_capacity(6);
            if across {
                columns.push(("namespace", "NAMESPACE"));
            }
            columns.extend([
                ("last_seen", "LAST SEEN"),
                ("type", "TYPE"),
                ("reason", "REASON"),
                ("object", "OBJECT"),
                ("message", "MESSAGE"),
            ]);
            text.push_str(&render::table(&rows, &columns));
        }
        if capped {
            text.push_str(&format!(
                "Only the first {FETCH_EVENTS} events of a namespace were read; filter by kind, name or type to see the rest.\n"
            ));
        }
        Ok(result(text, Some(json!({"events": rows}))))
    }
}

/// The most events read per namespace before sorting.
const FETCH_EVENTS: usize = 1000;

/// When an event last happened: a series' last observation, `lastTimestamp`, `eventTime`,
/// `firstTimestamp`, or its creation.
fn event_time(e: &Value) -> Option<i64> {
    [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| {
        e.pointer(p)
            .and_then(Value::as_str)
            .and_then(render::parse_time)
    })
}

fn event_row(e: &Value, t: i64, now: i64) -> Value {
    let s = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let count = e
        .get("count")
        .and_then(Value::as_i64)
        .or_else(|| e.pointer("/series/count").and_then(Value::as_i64));
    let mut last_seen = if t > 0 {
        render::age(now - t)
    } else {
        String::from("?")
    };
    if let Some(n) = count.filter(|n| *n > 1) {
        last_seen = format!("{last_seen} (x{n})");
    }
    json!({
        "namespace": s("/metadata/namespace"),
        "last_seen": last_seen,
        "time": if t > 0 { Value::String(render::format_time(t)) } else { Value::Null },
        "type": s("/type"),
        "reason": s("/reason"),
        "object": format!("{}/{}", s("/involvedObject/kind"), s("/involvedObject/name")),
        "message": s("/message").trim(),
    })
}
