//! The tools as MCP `Tool` objects — names, descriptions, input schemas, annotations — and the
//! reading of a call's arguments against them. The write tools exist only with `allow_write`.

use serde_json::{Map, Value, json};

use crate::CallError;

pub(super) const LIST_RESOURCES: &str = "list_resources";
pub(super) const GET_RESOURCE: &str = "get_resource";
pub(super) const POD_LOGS: &str = "pod_logs";
pub(super) const EVENTS: &str = "events";
pub(super) const SCALE: &str = "scale";
pub(super) const ROLLOUT_RESTART: &str = "rollout_restart";

pub(super) const DEFAULT_LIST_LIMIT: u64 = 100;
pub(super) const MAX_LIST_LIMIT: u64 = 1000;
pub(super) const DEFAULT_TAIL_LINES: u64 = 200;
pub(super) const MAX_TAIL_LINES: u64 = 10_000;
pub(super) const DEFAULT_EVENTS: u64 = 50;
pub(super) const MAX_EVENTS: u64 = 500;
/// The most of a log returned (the newest part).
pub(super) const LOG_KEEP_BYTES: usize = 256 << 10;

const KIND: &str = "The kind as kubectl accepts it: Kind, plural, singular or short name, optionally with its group after a dot (Pod, pods, po, deployments.apps, certificates.cert-manager.io). Any kind the cluster serves, custom resources included.";
const API_VERSION: &str =
    "Pins the API group and version (apps/v1, v1) when a kind exists in several; usually left out.";

fn read_only() -> Value {
    json!({"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true})
}

/// Every tool this connector offers; `scale` and `rollout_restart` only when writes are allowed.
pub(super) fn definitions(allow_write: bool, namespaces: Option<&[String]>) -> Vec<Value> {
    let scope = match namespaces {
        Some(list) => format!(" Only these namespaces may be used: {}.", list.join(", ")),
        None => String::new(),
    };
    let mut tools = vec![
        json!({
            "name": LIST_RESOURCES,
            "title": "List Kubernetes resources",
            "description": format!("Lists resources of any kind, like `kubectl get`: name, namespace, a short status (pod phase, readiness and restarts; ready replicas of a workload), age and labels. Selectors narrow the list on the server. Without a namespace, a namespaced kind is listed in every namespace this connector may read. Returns at most `limit` items and a `continue` token when there are more. Secret values are never listed.{scope}"),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "description": KIND},
                    "api_version": {"type": "string", "description": API_VERSION},
                    "namespace": {"type": "string", "description": "Namespace to list in; omit for all allowed namespaces. Ignored for cluster-scoped kinds (nodes, namespaces, ...)."},
                    "label_selector": {"type": "string", "description": "Label selector, e.g. app=web,tier!=cache or 'env in (prod,staging)'."},
                    "field_selector": {"type": "string", "description": "Field selector, e.g. status.phase=Running or spec.nodeName=node-1."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT, "description": format!("Most items returned (default {DEFAULT_LIST_LIMIT}).")},
                    "continue": {"type": "string", "description": "The continue token of a previous call, for the next page (single namespace or whole cluster only)."}
                },
                "required": ["kind"],
                "additionalProperties": false
            },
            "annotations": read_only()
        }),
        json!({
            "name": GET_RESOURCE,
            "title": "Get one Kubernetes resource as YAML",
            "description": format!("Returns one resource as YAML, like `kubectl get -o yaml` (managedFields left out). For a Secret, the values under data and stringData (and the last-applied-configuration annotation) are redacted: the keys are shown, never the values. Without a namespace, the context's default namespace is used.{scope}"),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "description": KIND},
                    "name": {"type": "string", "description": "The resource's name."},
                    "namespace": {"type": "string", "description": "Its namespace (ignored for cluster-scoped kinds)."},
                    "api_version": {"type": "string", "description": API_VERSION}
                },
                "required": ["kind", "name"],
                "additionalProperties": false
            },
            "annotations": read_only()
        }),
        json!({
            "name": POD_LOGS,
            "title": "Read a pod's logs",
            "description": format!("Returns the newest lines of a container's log, like `kubectl logs`. By default the last {DEFAULT_TAIL_LINES} lines; with since_seconds, every line from that window (still capped by tail_lines when given). At most {} KiB, the newest, are returned; the answer says when older lines were left out. A pod with several containers needs `container`.{scope}", LOG_KEEP_BYTES >> 10),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "pod": {"type": "string", "description": "The pod's name."},
                    "namespace": {"type": "string", "description": "Its namespace; default: the context's."},
                    "container": {"type": "string", "description": "Which container (required when the pod has several)."},
                    "tail_lines": {"type": "integer", "minimum": 1, "maximum": MAX_TAIL_LINES, "description": "How many of the newest lines."},
                    "since_seconds": {"type": "integer", "minimum": 1, "description": "Only lines from the last this many seconds."},
                    "previous": {"type": "boolean", "description": "The previous, terminated instance of the container (after a crash or restart)."},
                    "timestamps": {"type": "boolean", "description": "Prefix each line with its RFC 3339 timestamp."}
                },
                "required": ["pod"],
                "additionalProperties": false
            },
            "annotations": read_only()
        }),
        json!({
            "name": EVENTS,
            "title": "List Kubernetes events",
            "description": format!("Lists events, oldest to newest, like `kubectl events`: when, type, reason, object and message. Filter by the involved object (kind and/or name) and by type (Warning shows problems). Without a namespace, events of every allowed namespace.{scope}"),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "namespace": {"type": "string", "description": "Namespace; omit for all allowed namespaces."},
                    "kind": {"type": "string", "description": "The involved object's Kind, e.g. Pod or Deployment (exact Kind, not a plural)."},
                    "name": {"type": "string", "description": "The involved object's name."},
                    "type": {"type": "string", "enum": ["Normal", "Warning"], "description": "Only events of this type."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_EVENTS, "description": format!("Most events returned, the newest (default {DEFAULT_EVENTS}).")}
                },
                "additionalProperties": false
            },
            "annotations": read_only()
        }),
    ];
    if allow_write {
        tools.push(json!({
            "name": SCALE,
            "title": "Scale a Deployment or StatefulSet",
            "description": format!("Sets the replica count of a Deployment or StatefulSet through its scale subresource, like `kubectl scale`, and reports the count before and after. Setting the same count again changes nothing.{scope}"),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["Deployment", "StatefulSet"], "description": "Deployment or StatefulSet."},
                    "name": {"type": "string", "description": "Its name."},
                    "namespace": {"type": "string", "description": "Its namespace; default: the context's."},
                    "replicas": {"type": "integer", "minimum": 0, "maximum": i32::MAX, "description": "The replica count wanted."}
                },
                "required": ["kind", "name", "replicas"],
                "additionalProperties": false
            },
            "annotations": {"readOnlyHint": false, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true}
        }));
        tools.push(json!({
            "name": ROLLOUT_RESTART,
            "title": "Restart a workload's pods",
            "description": format!("Restarts every pod of a Deployment, StatefulSet or DaemonSet, like `kubectl rollout restart`: stamps the pod template's kubectl.kubernetes.io/restartedAt annotation, and the controller replaces the pods following the workload's rollout strategy. Running pods are terminated.{scope}"),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["Deployment", "StatefulSet", "DaemonSet"], "description": "Deployment, StatefulSet or DaemonSet."},
                    "name": {"type": "string", "description": "Its name."},
                    "namespace": {"type": "string", "description": "Its namespace; default: the context's."}
                },
                "required": ["kind", "name"],
                "additionalProperties": false
            },
            "annotations": {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true}
        }));
    }
    tools
}

/// A call's arguments, checked against the names its tool takes.
pub(super) struct Args {
    map: Map<String, Value>,
}

impl Args {
    pub(super) fn new(map: Map<String, Value>, allowed: &[&str]) -> Result<Args, CallError> {
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(CallError::InvalidArguments(format!(
                "unknown argument `{unknown}`; this tool takes {}",
                allowed.join(", ")
            )));
        }
        Ok(Args { map })
    }

    fn present(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn text(&self, key: &str) -> Result<Option<&str>, CallError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(_) => Err(CallError::InvalidArguments(format!(
                "`{key}` must be a string"
            ))),
        }
    }

    pub(super) fn required_text(&self, key: &str) -> Result<&str, CallError> {
        self.text(key)?
            .ok_or_else(|| CallError::InvalidArguments(format!("`{key}` is required")))
    }

    /// A resource or namespace name: never empty, `.` or `..`, and without `/`.
    pub(super) fn name(&self, key: &str) -> Result<Option<&str>, CallError> {
        let Some(name) = self.text(key)? else {
            return Ok(None);
        };
        if name == "." || name == ".." || name.contains('/') || name.len() > 253 {
            return Err(CallError::InvalidArguments(format!(
                "`{key}` {name:?} is not a resource name"
            )));
        }
        Ok(Some(name))
    }

    pub(super) fn required_name(&self, key: &str) -> Result<&str, CallError> {
        self.name(key)?
            .ok_or_else(|| CallError::InvalidArguments(format!("`{key}` is required")))
    }

    pub(super) fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, CallError> {
        let Some(v) = self.present(key) else {
            return Ok(None);
        };
        let n = v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        });
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(CallError::InvalidArguments(format!(
                "`{key}` must be a whole number from {min} to {max}"
            ))),
        }
    }

    pub(super) fn flag(&self, key: &str) -> Result<bool, CallError> {
        match self.present(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(CallError::InvalidArguments(format!(
                "`{key}` must be true or false"
            ))),
        }
    }
}

/// A successful result: the text, and structured content when the tool has some.
pub(super) fn result(text: String, structured: Option<Value>) -> Value {
    let mut r = json!({"content": [{"type": "text", "text": text}], "isError": false});
    if let Some(s) = structured {
        r["structuredContent"] = s;
    }
    r
}

/// A tool failure the caller should read: the API's refusal, a namespace outside the allowlist.
pub(super) fn failure(text: String) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}
