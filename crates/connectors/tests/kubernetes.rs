//! The `kubernetes` connector against a stand-in Kubernetes API server.
//!
//! A real API server cannot run here: it needs etcd and a control plane that no package
//! registry reachable from this machine ships, and the network is closed. So this test serves
//! what a real API server (v1.30) answers, in its documented wire formats: the discovery
//! documents (`/api`, `/api/v1`, `/apis`, `/apis/apps/v1`, a CRD group, and an aggregated group
//! whose discovery fails with 503 as a down metrics-server does), lists with `metadata.continue`,
//! objects, `Status` error bodies with their HTTP codes (401, 403, 404, 400, 415), a pod log sent
//! as a chunked stream, the scale subresource, and the merge-patch content-type check. It
//! records every request, so the tests assert on what reached the API (paths, query parameters,
//! verbs, bodies, the `Authorization` header, a TLS client certificate) and on what the tools
//! answered. Kubeconfigs are written by the tests: a token over plain HTTP, and a CA plus client
//! certificate over HTTPS (certificates in tests/fixtures/kubernetes, valid until 2125).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use switchboard_connectors::kubernetes::Kubernetes;
use switchboard_connectors::{CallError, Connector};

const TOKEN: &str = "tok-3f9a1c";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubernetes");

// ---------------------------------------------------------------------------------------------
// The stand-in API server.

/// One request as it reached the stand-in.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
    client_cert: bool,
}

impl Seen {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// Replicas of deployment shop/web, changed by PATCHes of its scale subresource.
    web_replicas: u64,
    web_generation: i64,
}

struct StandIn {
    addr: SocketAddr,
    tls: bool,
    state: Arc<Mutex<State>>,
}

impl StandIn {
    async fn start(tls: bool) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            web_replicas: 3,
            web_generation: 4,
            ..State::default()
        }));
        let acceptor = tls.then(tls_acceptor);
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let client_cert = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .is_some_and(|c| !c.is_empty());
                            serve(TokioIo::new(stream), st, client_cert).await;
                        }
                        None => serve(TokioIo::new(stream), st, false).await,
                    }
                });
            }
        });
        StandIn { addr, tls, state }
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn clear(&self) {
        self.state.lock().unwrap().seen.clear();
    }

    /// Requests other than discovery.
    fn calls(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| !is_discovery(&s.path))
            .collect()
    }
}

/// `/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`.
fn is_discovery(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    matches!(
        segments.as_slice(),
        ["api"] | ["api", _] | ["apis"] | ["apis", _, _]
    )
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertificateDer::pem_file_iter(format!("{FIXTURES}/server.crt"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/server.key")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(format!("{FIXTURES}/ca.crt")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    // Like an API server: a client certificate is checked when offered, and optional.
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

type Body = BoxBody<Bytes, Infallible>;

async fn serve<I>(io: TokioIo<I>, state: Arc<Mutex<State>>, client_cert: bool)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let query = parts.uri.query().map(url_decode_pairs).unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query,
                authorization: header("authorization"),
                content_type: header("content-type"),
                body,
                client_cert,
            };
            state.lock().unwrap().seen.push(seen.clone());
            Ok::<_, Infallible>(route(&state, &seen))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

fn url_decode_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn json_response(code: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap()
}

/// A `Status` error body exactly as the API server writes it.
fn status(code: u16, reason: &str, message: &str, details: Value) -> Response<Body> {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code
    });
    if !details.is_null() {
        body["details"] = details;
    }
    json_response(code, body)
}

fn not_found_path() -> Response<Body> {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Value::Null,
    )
}

fn route(state: &Mutex<State>, seen: &Seen) -> Response<Body> {
    let token_ok = seen.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"));
    if !token_ok && !seen.client_cert {
        return status(401, "Unauthorized", "Unauthorized", Value::Null);
    }
    let segments: Vec<&str> = seen.path.split('/').filter(|s| !s.is_empty()).collect();
    match (seen.method.as_str(), segments.as_slice()) {
        ("GET", ["api"]) => json_response(
            200,
            json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]
            }),
        ),
        ("GET", ["api", "v1"]) => json_response(200, core_v1()),
        ("GET", ["apis"]) => json_response(200, api_groups()),
        ("GET", ["apis", "apps", "v1"]) => json_response(200, apps_v1()),
        ("GET", ["apis", "events.k8s.io", "v1"]) => json_response(
            200,
            json!({
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "events.k8s.io/v1",
                "resources": [{"name": "events", "singularName": "event", "namespaced": true, "kind": "Event",
                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                    "shortNames": ["ev"], "storageVersionHash": "r2yiGXH7wu8="}]
            }),
        ),
        ("GET", ["apis", "stable.example.com", "v1"]) => json_response(
            200,
            json!({
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "stable.example.com/v1",
                "resources": [{"name": "crontabs", "singularName": "crontab", "namespaced": true, "kind": "CronTab",
                    "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                    "shortNames": ["ct"], "storageVersionHash": "9cUFQ3EyBFA="}]
            }),
        ),
        ("GET", ["apis", "metrics.k8s.io", "v1beta1"]) => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "service unavailable"}]}),
        ),
        ("GET", ["api", "v1", "nodes"]) => json_response(
            200,
            json!({
                "kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "9001"},
                "items": [{"metadata": {"name": "node-a", "uid": "n1", "creationTimestamp": "2024-01-01T00:00:00Z",
                    "labels": {"kubernetes.io/hostname": "node-a"}}, "spec": {}, "status": {"phase": ""}}]
            }),
        ),
        ("GET", ["api", "v1", "namespaces", "kube-system", ..]) => status(
            403,
            "Forbidden",
            "pods is forbidden: User \"system:serviceaccount:ops:switchboard\" cannot list resource \"pods\" in API group \"\" in the namespace \"kube-system\"",
            json!({"kind": "pods"}),
        ),
        ("GET", ["api", "v1", "pods"]) => pod_list(None, seen),
        ("GET", ["api", "v1", "namespaces", ns, "pods"]) => pod_list(Some(ns), seen),
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => {
            match pods()
                .into_iter()
                .find(|p| p["metadata"]["namespace"] == *ns && p["metadata"]["name"] == *name)
            {
                Some(mut pod) => {
                    pod["kind"] = json!("Pod");
                    pod["apiVersion"] = json!("v1");
                    json_response(200, pod)
                }
                None => status(
                    404,
                    "NotFound",
                    &format!("pods \"{name}\" not found"),
                    json!({"name": name, "kind": "pods"}),
                ),
            }
        }
        ("GET", ["api", "v1", "namespaces", ns, "pods", name, "log"]) => pod_log(ns, name, seen),
        ("GET", ["api", "v1", "namespaces", "shop", "secrets", "db"]) => json_response(
            200,
            json!({
                "kind": "Secret", "apiVersion": "v1",
                "metadata": {"name": "db", "namespace": "shop", "uid": "s1", "resourceVersion": "77",
                    "creationTimestamp": "2024-03-01T00:00:00Z",
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                        "{\"apiVersion\":\"v1\",\"data\":{\"password\":\"aHVudGVyMg==\"},\"kind\":\"Secret\"}\n"}},
                "type": "Opaque",
                "data": {"password": "aHVudGVyMg==", "username": "YWRtaW4="}
            }),
        ),
        ("GET", ["api", "v1", "namespaces", ns, "events"]) => event_list(Some(ns), seen),
        ("GET", ["api", "v1", "events"]) => event_list(None, seen),
        (
            "GET",
            [
                "apis",
                "stable.example.com",
                "v1",
                "namespaces",
                ns,
                "crontabs",
            ],
        ) => json_response(
            200,
            json!({
                "apiVersion": "stable.example.com/v1", "kind": "CronTabList", "metadata": {"continue": "", "resourceVersion": "501"},
                "items": [{"apiVersion": "stable.example.com/v1", "kind": "CronTab",
                    "metadata": {"name": "nightly", "namespace": ns, "creationTimestamp": "2024-02-02T00:00:00Z"},
                    "spec": {"cronSpec": "0 3 * * *", "image": "backup:1"}}]
            }),
        ),
        (
            "GET",
            [
                "apis",
                "apps",
                "v1",
                "namespaces",
                "shop",
                "deployments",
                "web",
            ],
        ) => json_response(200, deployment(&state.lock().unwrap())),
        (
            "GET",
            [
                "apis",
                "apps",
                "v1",
                "namespaces",
                "shop",
                "deployments",
                "web",
                "scale",
            ],
        ) => json_response(200, scale(state.lock().unwrap().web_replicas)),
        (
            "PATCH",
            [
                "apis",
                "apps",
                "v1",
                "namespaces",
                "shop",
                "deployments",
                "web",
                rest @ ..,
            ],
        ) => {
            if let Some(refusal) = patch_type_refusal(seen) {
                return refusal;
            }
            let Ok(patch) = serde_json::from_slice::<Value>(&seen.body) else {
                return status(
                    400,
                    "BadRequest",
                    "error decoding patch: invalid character",
                    Value::Null,
                );
            };
            let mut st = state.lock().unwrap();
            match rest {
                ["scale"] => {
                    if let Some(n) = patch.pointer("/spec/replicas").and_then(Value::as_u64) {
                        st.web_replicas = n;
                        st.web_generation += 1;
                    }
                    json_response(200, scale(st.web_replicas))
                }
                [] => {
                    st.web_generation += 1;
                    let mut d = deployment(&st);
                    if let Some(a) = patch.pointer("/spec/template/metadata/annotations") {
                        d["spec"]["template"]["metadata"]["annotations"] = a.clone();
                    }
                    json_response(200, d)
                }
                _ => not_found_path(),
            }
        }
        (
            "PATCH",
            [
                "apis",
                "apps",
                "v1",
                "namespaces",
                ns,
                kind @ ("deployments" | "statefulsets" | "daemonsets"),
                name,
                ..,
            ],
        ) => status(
            404,
            "NotFound",
            &format!("{kind}.apps \"{name}\" not found"),
            json!({"name": name, "group": "apps", "kind": kind, "namespace": ns}),
        ),
        (
            "GET",
            [
                "apis",
                "apps",
                "v1",
                "namespaces",
                _,
                "statefulsets",
                name,
                "scale",
            ],
        ) => status(
            404,
            "NotFound",
            &format!("statefulsets.apps \"{name}\" not found"),
            json!({"name": name, "group": "apps", "kind": "statefulsets"}),
        ),
        _ => not_found_path(),
    }
}

/// The API server's answer to a PATCH whose content type is not a patch type.
fn patch_type_refusal(seen: &Seen) -> Option<Response<Body>> {
    let ct = seen.content_type.as_deref().unwrap_or_default();
    let known = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    (!known.contains(&ct)).then(|| {
        status(415, "UnsupportedMediaType",
            &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct:?})"),
            Value::Null)
    })
}

fn core_v1() -> Value {
    let r = |name: &str,
             singular: &str,
             namespaced: bool,
             kind: &str,
             verbs: &[&str],
             short: &[&str]| {
        let mut v = json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind,
            "verbs": verbs, "storageVersionHash": "xPOwRZ+Yhw8="});
        if !short.is_empty() {
            v["shortNames"] = json!(short);
        }
        v
    };
    let all = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            r("bindings", "binding", true, "Binding", &["create"], &[]),
            r("configmaps", "configmap", true, "ConfigMap", &all, &["cm"]),
            r("events", "event", true, "Event", &all, &["ev"]),
            r("namespaces", "namespace", false, "Namespace", &["create", "delete", "get", "list", "patch", "update", "watch"], &["ns"]),
            r("nodes", "node", false, "Node", &all, &["no"]),
            r("pods", "pod", true, "Pod", &all, &["po"]),
            {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
            {"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get", "patch", "update"]},
            r("secrets", "secret", true, "Secret", &all, &[]),
            r("services", "service", true, "Service", &all, &["svc"])
        ]
    })
}

fn apps_v1() -> Value {
    let all = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "apps/v1",
        "resources": [
            {"name": "daemonsets", "singularName": "daemonset", "namespaced": true, "kind": "DaemonSet", "verbs": all, "shortNames": ["ds"], "categories": ["all"]},
            {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment", "verbs": all, "shortNames": ["deploy"], "categories": ["all"]},
            {"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]},
            {"name": "deployments/status", "singularName": "", "namespaced": true, "kind": "Deployment", "verbs": ["get", "patch", "update"]},
            {"name": "statefulsets", "singularName": "statefulset", "namespaced": true, "kind": "StatefulSet", "verbs": all, "shortNames": ["sts"], "categories": ["all"]},
            {"name": "statefulsets/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}
        ]
    })
}

fn api_groups() -> Value {
    let group = |name: &str, version: &str| {
        let gv = format!("{name}/{version}");
        json!({"name": name, "versions": [{"groupVersion": gv, "version": version}],
            "preferredVersion": {"groupVersion": gv, "version": version}})
    };
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            group("apps", "v1"),
            group("events.k8s.io", "v1"),
            group("metrics.k8s.io", "v1beta1"),
            group("stable.example.com", "v1")
        ]
    })
}

fn pods() -> Vec<Value> {
    let pod = |ns: &str, name: &str, app: &str, created: &str, containers: Value| {
        json!({
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "resourceVersion": "100",
                "creationTimestamp": created, "labels": {"app": app},
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]},
            "spec": {"containers": containers.as_array().unwrap().iter().map(|c| json!({"name": c["name"], "image": "nginx:1.27"})).collect::<Vec<_>>(),
                "nodeName": "node-a"},
            "status": {"phase": "Running", "containerStatuses": containers}
        })
    };
    vec![
        pod(
            "shop",
            "web-1",
            "web",
            "2024-05-01T10:00:00Z",
            json!([{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2024-05-01T10:00:05Z"}}}]),
        ),
        pod(
            "shop",
            "web-2",
            "web",
            "2024-05-01T10:00:00Z",
            json!([{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}},
                   {"name": "sidecar", "ready": false, "restartCount": 7, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
        ),
        pod(
            "shop",
            "db-0",
            "db",
            "2024-04-01T00:00:00Z",
            json!([{"name": "postgres", "ready": true, "restartCount": 1, "state": {"running": {}}}]),
        ),
        pod(
            "payments",
            "pay-1",
            "pay",
            "2024-04-01T00:00:00Z",
            json!([{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]),
        ),
    ]
}

/// A PodList as the API server pages it: `limit` items, then an opaque `continue` token.
fn pod_list(ns: Option<&str>, seen: &Seen) -> Response<Body> {
    let mut items: Vec<Value> = pods()
        .into_iter()
        .filter(|p| ns.is_none_or(|ns| p["metadata"]["namespace"] == ns))
        .collect();
    if let Some(selector) = seen.param("labelSelector") {
        for term in selector.split(',') {
            let Some((k, v)) = term.split_once('=') else {
                return status(
                    400,
                    "BadRequest",
                    &format!("unable to parse requirement: {term}"),
                    Value::Null,
                );
            };
            items.retain(|p| p["metadata"]["labels"][k] == v);
        }
    }
    let start = match seen.param("continue") {
        Some(token) => match base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
        {
            Some(n) => n,
            None => {
                return status(
                    400,
                    "BadRequest",
                    "continue key is not valid: illegal base64 data at input byte 0",
                    Value::Null,
                );
            }
        },
        None => 0,
    };
    let limit = seen
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let mut metadata = json!({"resourceVersion": "12345"});
    if start + page.len() < items.len() {
        metadata["continue"] = json!(
            base64::engine::general_purpose::STANDARD.encode((start + page.len()).to_string())
        );
        metadata["remainingItemCount"] = json!(items.len() - start - page.len());
    }
    json_response(
        200,
        json!({"kind": "PodList", "apiVersion": "v1", "metadata": metadata, "items": page}),
    )
}

const LOG_CHUNKS: [&str; 4] = [
    "2024-05-01T10:00:01Z starting web\n",
    "listening on :8080\nGET /healthz 200\n",
    "GET /api/cart 500 upstream timeout\n",
    "GET /healthz 200\n",
];

/// The kubelet's log stream, proxied by the API server: `text/plain`, chunked, sent as the lines
/// come.
fn pod_log(ns: &str, name: &str, seen: &Seen) -> Response<Body> {
    if ns == "shop" && name == "chatty" {
        return chatty_log();
    }
    if ns != "shop" || !matches!(name, "web-1" | "web-2") {
        return status(
            404,
            "NotFound",
            &format!("pods \"{name}\" not found"),
            json!({"name": name, "kind": "pods"}),
        );
    }
    if name == "web-2" && seen.param("container").is_none() {
        return status(
            400,
            "BadRequest",
            "a container name must be specified for pod web-2, choose one of: [app sidecar]",
            Value::Null,
        );
    }
    let stream = futures::stream::iter(LOG_CHUNKS).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(chunk.as_bytes())))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}

/// Lines in a chatty pod's log: about 700 KiB, more than the connector returns.
const CHATTY_LINES: usize = 10_000;

/// A log longer than the connector keeps, in 100-line chunks: `line 00000 ...` to `line 09999 ...`.
fn chatty_log() -> Response<Body> {
    let chunks = (0..CHATTY_LINES / 100).map(|c| {
        let text: String = (c * 100..c * 100 + 100)
            .map(|i| format!("line {i:05} {}\n", "x".repeat(60)))
            .collect();
        Ok::<_, Infallible>(Frame::data(Bytes::from(text)))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(BodyExt::boxed(StreamBody::new(futures::stream::iter(
            chunks,
        ))))
        .unwrap()
}

fn event_list(ns: Option<&str>, seen: &Seen) -> Response<Body> {
    let event = |ns: &str,
                 name: &str,
                 kind: &str,
                 obj: &str,
                 ty: &str,
                 reason: &str,
                 last: &str,
                 count: i64,
                 msg: &str| {
        json!({
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": last},
            "involvedObject": {"kind": kind, "namespace": ns, "name": obj, "apiVersion": "v1"},
            "reason": reason, "message": msg, "source": {"component": "kubelet"},
            "firstTimestamp": "2024-05-01T09:00:00Z", "lastTimestamp": last, "count": count, "type": ty,
            "eventTime": null, "reportingComponent": "kubelet"
        })
    };
    let all = vec![
        // Name order (as the API returns them) differs from time order.
        event(
            "shop",
            "a.17c",
            "Pod",
            "web-2",
            "Warning",
            "BackOff",
            "2024-05-01T12:00:00Z",
            42,
            "Back-off restarting failed container sidecar in pod web-2_shop",
        ),
        event(
            "shop",
            "b.17c",
            "Pod",
            "web-1",
            "Normal",
            "Pulled",
            "2024-05-01T10:00:02Z",
            1,
            "Container image \"nginx:1.27\" already present on machine",
        ),
        event(
            "shop",
            "c.17c",
            "Pod",
            "web-2",
            "Normal",
            "Scheduled",
            "2024-05-01T10:00:00Z",
            1,
            "Successfully assigned shop/web-2 to node-a",
        ),
        event(
            "payments",
            "d.17c",
            "Pod",
            "pay-1",
            "Normal",
            "Started",
            "2024-05-01T11:00:00Z",
            1,
            "Started container app",
        ),
    ];
    let mut items: Vec<Value> = all
        .into_iter()
        .filter(|e| ns.is_none_or(|ns| e["metadata"]["namespace"] == ns))
        .collect();
    if let Some(selector) = seen.param("fieldSelector") {
        for term in selector.split(',') {
            let Some((k, v)) = term.split_once('=') else {
                return status(
                    400,
                    "BadRequest",
                    &format!("invalid field selector: {term}"),
                    Value::Null,
                );
            };
            let pointer = match k {
                "involvedObject.kind" => "/involvedObject/kind",
                "involvedObject.name" => "/involvedObject/name",
                "type" => "/type",
                _ => {
                    return status(
                        400,
                        "BadRequest",
                        &format!("field label not supported: {k}"),
                        Value::Null,
                    );
                }
            };
            items.retain(|e| e.pointer(pointer) == Some(&json!(v)));
        }
    }
    json_response(
        200,
        json!({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "200"}, "items": items}),
    )
}

fn deployment(st: &State) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "d1", "generation": st.web_generation,
            "resourceVersion": "3001", "creationTimestamp": "2024-05-01T09:59:00Z", "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "4"},
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1"}]},
        "spec": {"replicas": st.web_replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "args": ["--port", "8080"]}]}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}},
        "status": {"replicas": st.web_replicas, "readyReplicas": st.web_replicas, "observedGeneration": st.web_generation}
    })
}

fn scale(replicas: u64) -> Value {
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web", "namespace": "shop", "uid": "d1", "resourceVersion": "3001", "creationTimestamp": "2024-05-01T09:59:00Z"},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "selector": "app=web"}
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A kubeconfig with one context, `test`, pointing at `server` in namespace `shop`.
fn kubeconfig(dir: &Path, server: &str, cluster_extra: &str, user: &str) -> String {
    let path = dir.join("config");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: standin\n  cluster:\n    server: {server}\n{cluster_extra}contexts:\n- name: test\n  context:\n    cluster: standin\n    user: agent\n    namespace: shop\n- name: other\n  context:\n    cluster: standin\n    user: agent\nusers:\n- name: agent\n  user:\n{user}preferences: {{}}\n"
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn token_user() -> String {
    format!("    token: {TOKEN}\n")
}

async fn connector(server: &StandIn, extra: Value) -> (Kubernetes, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig(dir.path(), &server.url(), "", &token_user());
    let mut settings = json!({"kubeconfig": path});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    (Kubernetes::from_settings(&settings).unwrap(), dir)
}

fn args(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

async fn call(k: &Kubernetes, tool: &str, a: Value) -> Value {
    k.call(tool, args(a)).await.unwrap()
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap()
}

fn is_error(result: &Value) -> bool {
    result["isError"] == json!(true)
}

fn tool_names(k: &Kubernetes) -> Vec<String> {
    k.tools()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn read_only_by_default_write_tools_are_neither_listed_nor_callable() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    assert_eq!(
        tool_names(&k),
        ["list_resources", "get_resource", "pod_logs", "events"]
    );
    for tool in k.tools() {
        assert_eq!(tool["annotations"]["readOnlyHint"], json!(true), "{tool}");
        assert_eq!(tool["inputSchema"]["type"], json!("object"));
    }
    let e = k
        .call(
            "scale",
            args(json!({"kind": "Deployment", "name": "web", "replicas": 1})),
        )
        .await
        .unwrap_err();
    assert_eq!(e, CallError::UnknownTool("scale".into()));
    let e = k
        .call(
            "rollout_restart",
            args(json!({"kind": "Deployment", "name": "web"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e, CallError::UnknownTool("rollout_restart".into()));
    assert!(
        api.seen().is_empty(),
        "nothing may reach the API: {:?}",
        api.seen()
    );
}

#[tokio::test]
async fn write_tools_carry_their_annotations_when_allowed() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({"allow_write": true})).await;
    let tools = k.tools();
    let find = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap().clone();
    let scale = find("scale");
    assert_eq!(scale["annotations"]["readOnlyHint"], json!(false));
    assert_eq!(scale["annotations"]["destructiveHint"], json!(false));
    assert_eq!(scale["annotations"]["idempotentHint"], json!(true));
    let restart = find("rollout_restart");
    assert_eq!(restart["annotations"]["readOnlyHint"], json!(false));
    assert_eq!(restart["annotations"]["destructiveHint"], json!(true));
    assert!(
        find("get_resource")["description"]
            .as_str()
            .unwrap()
            .contains("redacted")
    );
}

#[tokio::test]
async fn list_resources_sends_selectors_and_token_and_pages() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    let r = call(&k, "list_resources", json!({
        "kind": "po", "namespace": "shop", "label_selector": "app=web", "field_selector": "status.phase=Running", "limit": 1
    }))
    .await;
    assert!(!is_error(&r), "{r}");
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(
        (c.method.as_str(), c.path.as_str()),
        ("GET", "/api/v1/namespaces/shop/pods")
    );
    assert_eq!(c.param("labelSelector"), Some("app=web"));
    assert_eq!(c.param("fieldSelector"), Some("status.phase=Running"));
    assert_eq!(c.param("limit"), Some("1"));
    assert!(
        api.seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer tok-3f9a1c"))
    );
    assert_eq!(r["structuredContent"]["items"][0]["name"], json!("web-1"));
    assert_eq!(r["structuredContent"]["kind"], json!("Pod"));
    let token = r["structuredContent"]["continue"]
        .as_str()
        .expect("a continue token")
        .to_owned();
    assert!(text(&r).contains(&token), "{}", text(&r));

    // The next page: the token goes back as sent; web-2's crash loop shows in its status.
    let r = call(&k, "list_resources", json!({"kind": "pods", "namespace": "shop", "label_selector": "app=web", "continue": token})).await;
    assert_eq!(
        api.calls().last().unwrap().param("continue"),
        Some(token.as_str())
    );
    let t = text(&r);
    assert!(
        t.contains("web-2") && t.contains("CrashLoopBackOff, ready 1/2, restarts 7"),
        "{t}"
    );
    assert!(!t.contains("web-1"), "{t}");
    assert_eq!(r["structuredContent"]["continue"], Value::Null);

    // Discovery ran once for both calls.
    let discovery: Vec<String> = api
        .seen()
        .into_iter()
        .filter(|s| is_discovery(&s.path))
        .map(|s| s.path)
        .collect();
    assert_eq!(
        discovery.iter().filter(|p| *p == "/api/v1").count(),
        1,
        "{discovery:?}"
    );
    assert_eq!(
        discovery.iter().filter(|p| *p == "/apis").count(),
        1,
        "{discovery:?}"
    );
}

#[tokio::test]
async fn any_kind_resolves_through_discovery() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    for (kind, path) in [
        (
            "CronTab",
            "/apis/stable.example.com/v1/namespaces/shop/crontabs",
        ),
        ("ct", "/apis/stable.example.com/v1/namespaces/shop/crontabs"),
        (
            "crontabs.stable.example.com",
            "/apis/stable.example.com/v1/namespaces/shop/crontabs",
        ),
        ("nodes", "/api/v1/nodes"),
        ("Event", "/api/v1/namespaces/shop/events"),
        (
            "events.events.k8s.io",
            "/apis/events.k8s.io/v1/namespaces/shop/events",
        ),
    ] {
        api.clear();
        let r = call(
            &k,
            "list_resources",
            json!({"kind": kind, "namespace": "shop"}),
        )
        .await;
        let calls = api.calls();
        assert_eq!(
            calls.last().map(|c| c.path.as_str()),
            Some(path),
            "{kind}: {calls:?} {r}"
        );
    }
    let r = call(
        &k,
        "list_resources",
        json!({"kind": "ct", "namespace": "shop"}),
    )
    .await;
    assert!(text(&r).contains("nightly"), "{r}");
    let r = call(&k, "list_resources", json!({"kind": "no"})).await;
    assert!(
        text(&r).contains("cluster-wide") && text(&r).contains("node-a"),
        "{r}"
    );

    // An unknown kind is the caller's to fix, and names the group whose discovery failed.
    let r = call(&k, "list_resources", json!({"kind": "Widget"})).await;
    assert!(is_error(&r), "{r}");
    assert!(
        text(&r).contains("\"Widget\"") && text(&r).contains("metrics.k8s.io/v1beta1"),
        "{}",
        text(&r)
    );
}

#[tokio::test]
async fn get_resource_answers_the_object_as_yaml() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    // No namespace: the context's (shop).
    let r = call(&k, "get_resource", json!({"kind": "deploy", "name": "web"})).await;
    assert!(!is_error(&r), "{r}");
    assert_eq!(
        api.calls().last().unwrap().path,
        "/apis/apps/v1/namespaces/shop/deployments/web"
    );
    let back: Value = serde_saphyr::from_str(text(&r)).unwrap();
    let mut expected = deployment(&State {
        web_replicas: 3,
        web_generation: 4,
        ..State::default()
    });
    expected["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    assert_eq!(back, expected, "{}", text(&r));
    assert!(text(&r).contains("kind: Deployment"), "{}", text(&r));
}

#[tokio::test]
async fn secret_values_never_leave_the_connector() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    let r = call(
        &k,
        "get_resource",
        json!({"kind": "Secret", "name": "db", "namespace": "shop"}),
    )
    .await;
    let t = text(&r);
    assert!(
        !t.contains("aHVudGVyMg==") && !t.contains("YWRtaW4="),
        "{t}"
    );
    let back: Value = serde_saphyr::from_str(t).unwrap();
    assert_eq!(
        back["data"],
        json!({"password": "<redacted>", "username": "<redacted>"})
    );
    assert_eq!(
        back["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        json!("<redacted>")
    );
    assert_eq!(back["type"], json!("Opaque"));
}

#[tokio::test]
async fn api_refusals_are_error_results_with_the_api_message() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    let r = call(&k, "get_resource", json!({"kind": "Pod", "name": "ghost"})).await;
    assert!(is_error(&r), "{r}");
    assert!(
        text(&r).contains("pods \"ghost\" not found") && text(&r).contains("404"),
        "{}",
        text(&r)
    );

    let r = call(
        &k,
        "list_resources",
        json!({"kind": "pods", "namespace": "kube-system"}),
    )
    .await;
    assert!(is_error(&r), "{r}");
    assert!(
        text(&r).contains("403") && text(&r).contains("cannot list resource \"pods\""),
        "{}",
        text(&r)
    );

    // Wrong credentials: 401, and the message says whose credentials.
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig(dir.path(), &api.url(), "", "    token: wrong\n");
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    let r = call(&k, "list_resources", json!({"kind": "pods"})).await;
    assert!(
        is_error(&r) && text(&r).contains("401") && text(&r).contains("context \"test\""),
        "{r}"
    );

    // Nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let path = kubeconfig(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        "",
        &token_user(),
    );
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path, "timeout": "2s"})).unwrap();
    let r = call(&k, "get_resource", json!({"kind": "pods", "name": "x"})).await;
    assert!(
        is_error(&r) && text(&r).contains("cannot reach the Kubernetes API"),
        "{r}"
    );
}

#[tokio::test]
async fn pod_logs_read_the_whole_chunked_stream() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    let r = call(&k, "pod_logs", json!({"pod": "web-1"})).await;
    assert!(!is_error(&r), "{r}");
    assert_eq!(text(&r), LOG_CHUNKS.concat());
    let c = api.calls().pop().unwrap();
    assert_eq!(c.path, "/api/v1/namespaces/shop/pods/web-1/log");
    assert_eq!(c.param("tailLines"), Some("200"), "the default tail");

    let r = call(
        &k,
        "pod_logs",
        json!({
            "pod": "web-2", "namespace": "shop", "container": "sidecar", "tail_lines": 50,
            "since_seconds": 600, "previous": true, "timestamps": true
        }),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    let c = api.calls().pop().unwrap();
    assert_eq!(c.param("container"), Some("sidecar"));
    assert_eq!(c.param("tailLines"), Some("50"));
    assert_eq!(c.param("sinceSeconds"), Some("600"));
    assert_eq!(c.param("previous"), Some("true"));
    assert_eq!(c.param("timestamps"), Some("true"));

    // since_seconds alone: no default tail, every line of the window.
    call(&k, "pod_logs", json!({"pod": "web-1", "since_seconds": 60})).await;
    assert_eq!(api.calls().pop().unwrap().param("tailLines"), None);

    // A log longer than what is returned: the newest part, from a whole line, and a notice.
    let r = call(
        &k,
        "pod_logs",
        json!({"pod": "chatty", "since_seconds": 3600}),
    )
    .await;
    let t = text(&r);
    let (notice, lines) = t.split_once('\n').unwrap();
    assert!(notice.contains("older output left out"), "{notice}");
    assert!(
        lines.len() <= 256 * 1024 && lines.len() > 250 * 1024,
        "{}",
        lines.len()
    );
    assert!(
        lines.starts_with("line ")
            && lines.ends_with(&format!(
                "line {:05} {}\n",
                CHATTY_LINES - 1,
                "x".repeat(60)
            ))
    );
    let numbers: Vec<usize> = lines.lines().map(|l| l[5..10].parse().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "the kept lines are contiguous"
    );

    // Several containers and none named: the API's 400 says which exist.
    let r = call(&k, "pod_logs", json!({"pod": "web-2"})).await;
    assert!(
        is_error(&r) && text(&r).contains("choose one of: [app sidecar]"),
        "{r}"
    );
}

#[tokio::test]
async fn events_are_filtered_on_the_server_and_sorted_by_time() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    let r = call(
        &k,
        "events",
        json!({"namespace": "shop", "kind": "Pod", "name": "web-2"}),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    let c = api.calls().pop().unwrap();
    assert_eq!(c.path, "/api/v1/namespaces/shop/events");
    assert_eq!(
        c.param("fieldSelector"),
        Some("involvedObject.kind=Pod,involvedObject.name=web-2")
    );
    let reasons: Vec<&str> = r["structuredContent"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Scheduled", "BackOff"], "oldest first");
    assert!(
        text(&r).contains("(x42)") && text(&r).contains("Pod/web-2"),
        "{}",
        text(&r)
    );

    let r = call(&k, "events", json!({"type": "Warning", "limit": 5})).await;
    let c = api.calls().pop().unwrap();
    assert_eq!(c.path, "/api/v1/events");
    assert_eq!(c.param("fieldSelector"), Some("type=Warning"));
    assert_eq!(
        r["structuredContent"]["events"].as_array().unwrap().len(),
        1
    );
    assert!(text(&r).contains("NAMESPACE"), "{}", text(&r));

    // Newest `limit` of them.
    let r = call(&k, "events", json!({"limit": 2})).await;
    let reasons: Vec<&str> = r["structuredContent"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Started", "BackOff"]);
}

#[tokio::test]
async fn scale_goes_through_the_scale_subresource_as_a_merge_patch() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({"allow_write": true})).await;
    let r = call(
        &k,
        "scale",
        json!({"kind": "Deployment", "name": "web", "replicas": 5}),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    assert!(text(&r).contains("from 3 to 5"), "{}", text(&r));
    let calls = api.calls();
    let methods: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str()))
        .collect();
    let path = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
    assert_eq!(methods, [("GET", path), ("PATCH", path)]);
    let patch = &calls[1];
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&patch.body).unwrap(),
        json!({"spec": {"replicas": 5}})
    );
    assert_eq!(patch.authorization.as_deref(), Some("Bearer tok-3f9a1c"));
    assert_eq!(api.state.lock().unwrap().web_replicas, 5);
    assert_eq!(r["structuredContent"]["replicas_before"], json!(3));

    // The same count again changes nothing and sends no patch.
    api.clear();
    let r = call(
        &k,
        "scale",
        json!({"kind": "deploy", "name": "web", "replicas": 5}),
    )
    .await;
    assert!(text(&r).contains("already has 5"), "{r}");
    assert!(api.calls().iter().all(|c| c.method == "GET"));

    // A workload that does not exist: the API's 404.
    let r = call(
        &k,
        "scale",
        json!({"kind": "StatefulSet", "name": "cache", "replicas": 2}),
    )
    .await;
    assert!(
        is_error(&r) && text(&r).contains("statefulsets.apps \"cache\" not found"),
        "{r}"
    );
    // Kinds without a scale this tool handles, and bad counts, are argument errors.
    let e = k
        .call(
            "scale",
            args(json!({"kind": "DaemonSet", "name": "x", "replicas": 1})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::InvalidArguments(ref m) if m.contains("Deployment, StatefulSet")),
        "{e:?}"
    );
    let e = k
        .call(
            "scale",
            args(json!({"kind": "Deployment", "name": "web", "replicas": -1})),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::InvalidArguments(_)), "{e:?}");
}

#[tokio::test]
async fn rollout_restart_stamps_the_pod_template() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({"allow_write": true})).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let r = call(
        &k,
        "rollout_restart",
        json!({"kind": "Deployment", "name": "web", "namespace": "shop"}),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(
        (c.method.as_str(), c.path.as_str()),
        ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web")
    );
    assert_eq!(
        c.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let body: Value = serde_json::from_slice(&c.body).unwrap();
    let stamp =
        body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(
        body,
        json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}})
    );
    // RFC 3339, UTC, within the call.
    assert_eq!(stamp.len(), 20, "{stamp}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{stamp}"
    );
    let year: u64 = stamp[..4].parse().unwrap();
    assert!(year.abs_diff(1970 + before / 31_556_952) <= 1, "{stamp}");
    assert!(
        text(&r).contains(&stamp) && text(&r).contains("generation 5"),
        "{}",
        text(&r)
    );
}

#[tokio::test]
async fn namespace_allowlist_refuses_before_anything_is_sent() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(
        &api,
        json!({"namespaces": ["shop", "payments"], "allow_write": true}),
    )
    .await;
    for (tool, a) in [
        (
            "get_resource",
            json!({"kind": "Pod", "name": "x", "namespace": "kube-system"}),
        ),
        (
            "list_resources",
            json!({"kind": "pods", "namespace": "kube-system"}),
        ),
        ("pod_logs", json!({"pod": "x", "namespace": "default"})),
        ("events", json!({"namespace": "default"})),
        (
            "scale",
            json!({"kind": "Deployment", "name": "web", "namespace": "default", "replicas": 0}),
        ),
        (
            "rollout_restart",
            json!({"kind": "Deployment", "name": "web", "namespace": "default"}),
        ),
    ] {
        let r = call(&k, tool, a).await;
        assert!(is_error(&r), "{tool}: {r}");
        assert!(
            text(&r).contains("is not allowed") && text(&r).contains("shop, payments"),
            "{tool}: {}",
            text(&r)
        );
    }
    assert!(api.calls().is_empty(), "{:?}", api.calls());

    // A list without a namespace covers exactly the allowed namespaces.
    let r = call(&k, "list_resources", json!({"kind": "pods"})).await;
    let paths: Vec<String> = api.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/shop/pods",
            "/api/v1/namespaces/payments/pods"
        ]
    );
    assert_eq!(
        r["structuredContent"]["items"].as_array().unwrap().len(),
        4,
        "{r}"
    );
    assert!(
        text(&r).contains("in namespaces shop, payments"),
        "{}",
        text(&r)
    );

    // The limit reached in the first namespace: the second is not asked, and the answer says so.
    api.clear();
    let r = call(&k, "list_resources", json!({"kind": "pods", "limit": 3})).await;
    let paths: Vec<String> = api.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(paths, ["/api/v1/namespaces/shop/pods"]);
    assert_eq!(
        r["structuredContent"]["unlisted_namespaces"],
        json!(["payments"])
    );
    assert!(
        text(&r).contains("before namespaces payments were listed"),
        "{}",
        text(&r)
    );

    // Cluster-scoped kinds can be read.
    let r = call(&k, "list_resources", json!({"kind": "nodes"})).await;
    assert!(!is_error(&r) && text(&r).contains("node-a"), "{r}");
    // The allowlist is in the descriptions, so a model knows before it tries.
    assert!(
        k.tools()[0]["description"]
            .as_str()
            .unwrap()
            .contains("shop, payments")
    );
}

#[tokio::test]
async fn arguments_that_do_not_fit_are_invalid_arguments() {
    let api = StandIn::start(false).await;
    let (k, _dir) = connector(&api, json!({})).await;
    for (tool, a, needle) in [
        ("list_resources", json!({}), "`kind` is required"),
        (
            "list_resources",
            json!({"kind": "pods", "labelSelector": "a=b"}),
            "unknown argument `labelSelector`",
        ),
        (
            "list_resources",
            json!({"kind": "pods", "limit": 0}),
            "`limit`",
        ),
        (
            "get_resource",
            json!({"kind": "pods", "name": "../secrets/db"}),
            "not a resource name",
        ),
        (
            "get_resource",
            json!({"kind": "pods", "name": "x", "namespace": "Not_A_Namespace"}),
            "not a namespace name",
        ),
        (
            "pod_logs",
            json!({"pod": "web-1", "tail_lines": "ten"}),
            "`tail_lines`",
        ),
        ("events", json!({"type": "Error"}), "`type`"),
    ] {
        match k.call(tool, args(a)).await {
            Err(CallError::InvalidArguments(m)) => assert!(m.contains(needle), "{tool}: {m}"),
            other => panic!("{tool}: {other:?}"),
        }
    }
    assert!(api.calls().is_empty(), "{:?}", api.calls());
    assert_eq!(
        k.call("exec", Map::new()).await.unwrap_err(),
        CallError::UnknownTool("exec".into())
    );
}

#[tokio::test]
async fn tls_with_the_kubeconfig_ca_and_a_client_certificate() {
    let api = StandIn::start(true).await;
    let dir = tempfile::tempdir().unwrap();
    // The CA by a path relative to the kubeconfig; the client certificate inline as -data.
    std::fs::copy(format!("{FIXTURES}/ca.crt"), dir.path().join("ca.crt")).unwrap();
    let b64 = |f: &str| {
        base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(format!("{FIXTURES}/{f}")).unwrap())
    };
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64("client.crt"),
        b64("client.key")
    );
    let path = kubeconfig(
        dir.path(),
        &api.url(),
        "    certificate-authority: ca.crt\n",
        &user,
    );
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    let r = call(
        &k,
        "get_resource",
        json!({"kind": "Deployment", "name": "web"}),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    let seen = api.seen();
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|s| s.client_cert && s.authorization.is_none()),
        "{seen:?}"
    );

    // A token over TLS, with the CA inline.
    let user = token_user();
    let cluster = format!("    certificate-authority-data: {}\n", b64("ca.crt"));
    let path = kubeconfig(dir.path(), &api.url(), &cluster, &user);
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    api.clear();
    let r = call(
        &k,
        "list_resources",
        json!({"kind": "pods", "namespace": "shop"}),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    assert!(
        api.seen()
            .iter()
            .all(|s| !s.client_cert && s.authorization.as_deref() == Some("Bearer tok-3f9a1c"))
    );

    // A token file beside the kubeconfig (as `kubectl` resolves `tokenFile`).
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let path = kubeconfig(dir.path(), &api.url(), &cluster, "    tokenFile: token\n");
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    api.clear();
    let r = call(&k, "get_resource", json!({"kind": "Pod", "name": "web-1"})).await;
    assert!(!is_error(&r), "{r}");
    assert!(
        api.seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer tok-3f9a1c"))
    );

    // Without the CA the server's certificate is not trusted; with insecure-skip-tls-verify it is
    // not checked.
    let path = kubeconfig(dir.path(), &api.url(), "", &user);
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    let r = call(&k, "list_resources", json!({"kind": "pods"})).await;
    assert!(
        is_error(&r) && text(&r).contains("cannot reach the Kubernetes API"),
        "{r}"
    );
    let path = kubeconfig(
        dir.path(),
        &api.url(),
        "    insecure-skip-tls-verify: true\n",
        &user,
    );
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    let r = call(
        &k,
        "list_resources",
        json!({"kind": "pods", "namespace": "shop"}),
    )
    .await;
    assert!(!is_error(&r), "{r}");
}

/// An exec credential plugin (a real child process, a shell script here) gives the token: run
/// once with its `env` and `KUBERNETES_EXEC_INFO`, its token kept until it expires, asked again
/// after a 401, and its failure reported with its stderr.
#[tokio::test]
async fn exec_credential_plugins_give_the_token() {
    use std::os::unix::fs::PermissionsExt as _;
    let api = StandIn::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plugin.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ndir=$(dirname \"$0\")\necho run >> \"$dir/runs\"\nprintf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$dir/info.json\"\nprintf '%s' \"$PLUGIN_GREETING\" > \"$dir/env.txt\"\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = |token: &str| {
        format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./plugin.sh\n      args: [{token}]\n      env:\n      - name: PLUGIN_GREETING\n        value: hello\n      interactiveMode: Never\n"
        )
    };
    let runs = || {
        std::fs::read_to_string(dir.path().join("runs"))
            .unwrap_or_default()
            .lines()
            .count()
    };

    let path = kubeconfig(dir.path(), &api.url(), "", &user(TOKEN));
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    assert_eq!(runs(), 0, "nothing runs before the first call");
    for _ in 0..2 {
        let r = call(&k, "get_resource", json!({"kind": "Pod", "name": "web-1"})).await;
        assert!(!is_error(&r), "{r}");
    }
    assert_eq!(runs(), 1, "the token is kept until it expires");
    assert!(
        api.seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer tok-3f9a1c"))
    );
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("info.json")).unwrap())
            .unwrap();
    assert_eq!(info["kind"], json!("ExecCredential"));
    assert_eq!(info["apiVersion"], json!("client.authentication.k8s.io/v1"));
    assert_eq!(info["spec"]["interactive"], json!(false));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("env.txt")).unwrap(),
        "hello"
    );

    // A token the API refuses: 401, and the next call asks the plugin again.
    std::fs::remove_file(dir.path().join("runs")).unwrap();
    let path = kubeconfig(dir.path(), &api.url(), "", &user("revoked"));
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    let r = call(
        &k,
        "list_resources",
        json!({"kind": "pods", "namespace": "shop"}),
    )
    .await;
    assert!(is_error(&r) && text(&r).contains("401"), "{r}");
    call(
        &k,
        "list_resources",
        json!({"kind": "pods", "namespace": "shop"}),
    )
    .await;
    assert_eq!(runs(), 2, "a refused token is not reused");

    // A plugin that fails: its stderr is the message.
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'no credentials for profile prod' >&2\nexit 3\n",
    )
    .unwrap();
    let path = kubeconfig(dir.path(), &api.url(), "", &user(TOKEN));
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path})).unwrap();
    let r = call(&k, "list_resources", json!({"kind": "pods"})).await;
    assert!(
        is_error(&r) && text(&r).contains("no credentials for profile prod"),
        "{r}"
    );
}

#[test]
fn bad_settings_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig(dir.path(), "http://127.0.0.1:1", "", &token_user());
    let provider_user = "    auth-provider:\n      name: gcp\n";
    let provider_dir = tempfile::tempdir().unwrap();
    let provider_path = kubeconfig(
        provider_dir.path(),
        "https://example.invalid",
        "",
        provider_user,
    );
    let missing = dir.path().join("nope").to_string_lossy().into_owned();
    for (settings, needle) in [
        (
            json!({"kubeconfig": path, "namespace": "shop"}),
            "unknown field `namespace`",
        ),
        (
            json!({"kubeconfig": path, "in_cluster": true}),
            "exclude each other",
        ),
        (
            json!({"kubeconfig": path, "allow_write": "yes"}),
            "`allow_write`",
        ),
        (
            json!({"kubeconfig": path, "namespaces": []}),
            "`namespaces` is empty",
        ),
        (
            json!({"kubeconfig": path, "namespaces": "shop"}),
            "`namespaces` must be a list",
        ),
        (json!({"kubeconfig": path, "timeout": "fast"}), "`timeout`"),
        (
            json!({"kubeconfig": path, "timeout": 0}),
            "`timeout` must be greater than 0",
        ),
        (json!({"kubeconfig": 7}), "`kubeconfig` must be a string"),
        (json!({"kubeconfig": missing}), "cannot read kubeconfig"),
        (
            json!({"kubeconfig": path, "context": "prod"}),
            "no context \"prod\"",
        ),
        (json!({"kubeconfig": provider_path}), "auth-provider"),
        (json!("in_cluster"), "must be a mapping"),
    ] {
        let e = Kubernetes::from_settings(&settings)
            .err()
            .unwrap_or_else(|| panic!("{settings} was accepted"));
        assert!(
            e.starts_with("kubernetes: ") && e.contains(needle),
            "{settings}: {e}"
        );
    }
    // The other context of the same file has no namespace: calls default to `default`.
    let k = Kubernetes::from_settings(&json!({"kubeconfig": path, "context": "other"})).unwrap();
    assert_eq!(k.server(), "http://127.0.0.1:1/");
}
