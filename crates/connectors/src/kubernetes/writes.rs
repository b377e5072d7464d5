//! The write tools, offered only with `allow_write: true`: `scale` (the scale subresource) and
//! `rollout_restart` (the pod template annotation `kubectl rollout restart` sets). Both send a
//! JSON merge patch, so nothing else of the object is touched and no read-modify-write race
//! can undo another writer's change.

use serde_json::{Map, Value, json};

use super::discovery::segment;
use super::tools::{Args, result};
use super::{Failure, Kubernetes, render};
use crate::CallError;

const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// An apps/v1 workload kind: its plural and the name used in messages.
fn workload(
    kind: &str,
    allowed: &[&'static str],
) -> Result<(&'static str, &'static str), CallError> {
    let found = match kind.to_ascii_lowercase().as_str() {
        "deployment" | "deployments" | "deploy" => Some(("deployments", "Deployment")),
        "statefulset" | "statefulsets" | "sts" => Some(("statefulsets", "StatefulSet")),
        "daemonset" | "daemonsets" | "ds" => Some(("daemonsets", "DaemonSet")),
        _ => None,
    };
    match found {
        Some((plural, name)) if allowed.contains(&name) => Ok((plural, name)),
        _ => Err(CallError::InvalidArguments(format!(
            "`kind` must be one of {}",
            allowed.join(", ")
        ))),
    }
}

impl Kubernetes {
    pub(super) async fn scale(&self, arguments: Map<String, Value>) -> Result<Value, Failure> {
        let args = Args::new(arguments, &["kind", "name", "namespace", "replicas"])?;
        let (plural, kind) = workload(args.required_text("kind")?, &["Deployment", "StatefulSet"])?;
        let name = args.required_name("name")?;
        let replicas = args
            .integer("replicas", 0, i32::MAX as u64)?
            .ok_or_else(|| CallError::InvalidArguments("`replicas` is required".into()))?;
        let ns = self.namespace(args.name("namespace")?)?;
        let path = format!(
            "/apis/apps/v1/namespaces/{}/{plural}/{}/scale",
            segment(&ns),
            segment(name)
        );
        let current = self.api.get_json(&path, &[]).await?;
        let before = current
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let structured = |after: u64| json!({"kind": kind, "name": name, "namespace": ns, "replicas_before": before, "replicas": after});
        if before == replicas {
            let text =
                format!("{kind} {ns}/{name} already has {replicas} replicas; nothing changed.\n");
            return Ok(result(text, Some(structured(before))));
        }
        let scaled = self
            .api
            .patch_merge(&path, &json!({"spec": {"replicas": replicas}}))
            .await?;
        let after = scaled
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(replicas);
        let text = format!("{kind} {ns}/{name} scaled from {before} to {after} replicas.\n");
        Ok(result(text, Some(structured(after))))
    }

    pub(super) async fn rollout_restart(
        &self,
        arguments: Map<String, Value>,
    ) -> Result<Value, Failure> {
        let args = Args::new(arguments, &["kind", "name", "namespace"])?;
        let (plural, kind) = workload(
            args.required_text("kind")?,
            &["Deployment", "StatefulSet", "DaemonSet"],
        )?;
        let name = args.required_name("name")?;
        let ns = self.namespace(args.name("namespace")?)?;
        let path = format!(
            "/apis/apps/v1/namespaces/{}/{plural}/{}",
            segment(&ns),
            segment(name)
        );
        let at = render::format_time(render::now());
        let patch =
            json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}});
        let updated = self.api.patch_merge(&path, &patch).await?;
        let generation = updated
            .pointer("/metadata/generation")
            .and_then(Value::as_i64);
        let mut text = format!(
            "{kind} {ns}/{name} restarted at {at}: its pods are being replaced following its update strategy"
        );
        if let Some(g) = generation {
            text.push_str(&format!(" (generation {g})"));
        }
        text.push_str(".\n");
        let structured = json!({"kind": kind, "name": name, "namespace": ns, "restartedAt": at, "generation": generation});
        Ok(result(text, Some(structured)))
    }
}
