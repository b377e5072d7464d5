//! The `kubernetes` connector: a cluster's resources, logs and events as MCP tools, read-only
//! unless `allow_write: true` adds `scale` and `rollout_restart`.
//!
//! ```yaml
//! upstreams:
//!   k8s:
//!     kubernetes:
//!       kubeconfig: ~/.kube/config   # or in_cluster: true; default $KUBECONFIG, else ~/.kube/config
//!       context: prod                # default: the kubeconfig's current-context
//!       namespaces: [shop, payments] # default: every namespace
//!       allow_write: false
//!       timeout: 30s
//! ```
//!
//! **Client.** This is a small REST client over the workspace's reqwest (`client.rs`), not the
//! `kube` crate. Measured on this 2-core build machine (shared with other builds): `kube` 5.0
//! (`client`, `rustls-tls`) with `k8s-openapi` 0.29 added about 3 min 40 s of wall time
//! (3 min 17 s CPU) and 47 crates to a build that already had reqwest, tokio and rustls — twice
//! that whole stack's own 1 min 45 s — with a 46 MB `k8s-openapi` rlib, a second HTTP stack
//! (hyper-rustls, tower, tower-http) beside reqwest, and typed structs these tools would not use:
//! every tool here works on any kind, so objects stay `serde_json::Value` and kinds are found
//! through API discovery (`discovery.rs`), as `kube`'s dynamic API would. Exec credential
//! plugins are run as client-go runs them (`exec.rs`). What `kube` has and this lacks: the
//! long-removed auth-providers (refused with a clear error), and watches (no tool needs one).
//!
//! **Namespaces.** With an allowlist, a call naming another namespace is an `isError` result
//! saying so, before anything is sent; a list without a namespace covers the allowed ones.
//! Cluster-scoped kinds (nodes, namespaces, persistent volumes, CRDs) can be read; the write
//! tools only touch namespaced workloads, so they always pass the allowlist.
//!
//! **Results.** API refusals (404, 403 and every other `Status`) are `isError` results carrying
//! the API server's message; only an unknown tool or arguments that do not fit a tool's schema
//! are JSON-RPC errors. Secret values never leave the connector (`render.rs`).
//!
//! Nothing is fetched at start-up: discovery happens on the first call that needs it.

mod client;
mod discovery;
mod exec;
mod kubeconfig;
mod reads;
mod render;
mod settings;
mod tools;
mod writes;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::{CallError, Connector};
use client::{ApiClient, ApiError};
use discovery::{Discovery, ResolveError};
use settings::Settings;

/// A Kubernetes cluster as an in-process MCP server.
pub struct Kubernetes {
    api: ApiClient,
    discovery: Discovery,
    /// `None`: every namespace.
    namespaces: Option<Vec<String>>,
    /// The namespace of calls that name none: the context's, or the pod's.
    default_namespace: String,
    allow_write: bool,
}

impl Kubernetes {
    /// Checks the `kubernetes:` block's settings (fields and values) without reading any file:
    /// what the config loader runs.
    pub fn check_settings(settings: &Value) -> Result<(), String> {
        Settings::parse(settings).map(drop)
    }

    /// Reads the `kubernetes:` block and the kubeconfig or service account it names. Local files
    /// only; the cluster is first contacted by the first tool call.
    pub fn from_settings(settings: &Value) -> Result<Kubernetes, String> {
        Kubernetes::with_egress(settings, None)
    }

    /// [`Kubernetes::from_settings`], reaching the API server under `egress` (the gateway's
    /// outbound rules: SSRF strict mode, proxy).
    pub fn with_egress(
        settings: &Value,
        egress: Option<&switchboard_upstream::egress::EgressPolicy>,
    ) -> Result<Kubernetes, String> {
        let settings = Settings::parse(settings).map_err(|e| format!("kubernetes: {e}"))?;
        let endpoint = kubeconfig::load(&settings.source, settings.context.as_deref())
            .map_err(|e| format!("kubernetes: {e}"))?;
        let api = ApiClient::new(&endpoint, settings.timeout, egress)
            .map_err(|e| format!("kubernetes: {e}"))?;
        Ok(Kubernetes {
            api,
            discovery: Discovery::default(),
            namespaces: settings.namespaces,
            default_namespace: endpoint.namespace,
            allow_write: settings.allow_write,
        })
    }

    /// The API server's URL, for `/status` and logs.
    pub fn server(&self) -> &str {
        self.api.server()
    }

    /// The namespace a call works in: the one named, else the default; refused outside the
    /// allowlist.
    fn namespace(&self, named: Option<&str>) -> Result<String, Failure> {
        let ns = named.unwrap_or(&self.default_namespace);
        if !settings::is_dns_label(ns) {
            return Err(Failure::Call(CallError::InvalidArguments(format!(
                "`namespace` {ns:?} is not a namespace name"
            ))));
        }
        self.allowed(ns)?;
        Ok(ns.to_owned())
    }

    fn allowed(&self, ns: &str) -> Result<(), Failure> {
        match &self.namespaces {
            Some(list) if !list.iter().any(|n| n == ns) => Err(Failure::Tool(format!(
                "namespace {ns:?} is not allowed by this connector (allowed: {})",
                list.join(", ")
            ))),
            _ => Ok(()),
        }
    }

    /// Where a list without a namespace looks: each allowed namespace, or the whole cluster.
    fn list_scopes(&self, named: Option<&str>) -> Result<Vec<Option<String>>, Failure> {
        match (named, &self.namespaces) {
            (Some(ns), _) => Ok(vec![Some(self.namespace(Some(ns))?)]),
            (None, Some(list)) => Ok(list.iter().cloned().map(Some).collect()),
            (None, None) => Ok(vec![None]),
        }
    }
}

/// Why a call did not succeed: a JSON-RPC error (bad call) or an `isError` result (the tool ran
/// and failed, or was refused).
enum Failure {
    Call(CallError),
    Tool(String),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Failure {
        Failure::Call(e)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Tool(e.to_string())
    }
}

impl From<ResolveError> for Failure {
    fn from(e: ResolveError) -> Failure {
        match e {
            ResolveError::Api(e) => e.into(),
            ResolveError::Unknown(why) => Failure::Tool(why),
        }
    }
}

impl Connector for Kubernetes {
    fn tools(&self) -> Vec<Value> {
        tools::definitions(self.allow_write, self.namespaces.as_deref())
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            let outcome = match name {
                tools::LIST_RESOURCES => self.list_resources(arguments).await,
                tools::GET_RESOURCE => self.get_resource(arguments).await,
                tools::POD_LOGS => self.pod_logs(arguments).await,
                tools::EVENTS => self.events(arguments).await,
                tools::SCALE if self.allow_write => self.scale(arguments).await,
                tools::ROLLOUT_RESTART if self.allow_write => self.rollout_restart(arguments).await,
                _ => return Err(CallError::UnknownTool(name.to_owned())),
            };
            match outcome {
                Ok(result) => Ok(result),
                Err(Failure::Tool(text)) => Ok(tools::failure(text)),
                Err(Failure::Call(e)) => Err(e),
            }
        })
    }
}
