//! The little of the Kubernetes REST API this connector needs — GET a JSON document, read a log
//! stream, send a merge patch — over one reqwest client (rustls with ring, like every other
//! outbound HTTPS client of the gateway), with the endpoint's CA, client certificate and token.
//!
//! Every answer that is not 2xx becomes an [`ApiError`] carrying the API server's own `Status`
//! message, which the tools hand to the caller as an `isError` result.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::exec::Plugin;
use super::kubeconfig::{Credential, Endpoint};

/// The most a JSON answer may hold; a bigger list needs `limit` or selectors.
const MAX_JSON_BYTES: usize = 32 << 20;
/// The most of an error body kept.
const MAX_ERROR_BYTES: usize = 64 << 10;
/// How long a token file's contents are trusted before it is read again (client-go does the same).
const TOKEN_FILE_TTL: Duration = Duration::from_secs(60);

pub(super) const MERGE_PATCH: &str = "application/merge-patch+json";

pub(super) struct ApiClient {
    http: reqwest::Client,
    base: reqwest::Url,
    auth: Auth,
    /// Which kubeconfig context or service account, for messages.
    origin: String,
}

enum Auth {
    None,
    Header(HeaderValue),
    TokenFile {
        path: PathBuf,
        cached: Mutex<Option<(Instant, HeaderValue)>>,
    },
    Exec(Plugin),
}

/// Why a request to the API server did not give what was asked.
#[derive(Debug)]
pub(super) enum ApiError {
    /// The API server answered an error status; `message` is its `Status.message` when the body
    /// was a `Status` object, else the start of the body.
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    /// No answer: connection, TLS or timeout.
    Unreachable(String),
    /// An answer this connector cannot read.
    Invalid(String),
    /// No credentials to send: the token file or the exec plugin failed.
    Credentials(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status {
                code,
                reason,
                message,
            } if reason.is_empty() => {
                write!(f, "Kubernetes API error (HTTP {code}): {message}")
            }
            ApiError::Status {
                code,
                reason,
                message,
            } => {
                write!(f, "Kubernetes API error (HTTP {code} {reason}): {message}")
            }
            ApiError::Unreachable(why) => write!(f, "cannot reach the Kubernetes API: {why}"),
            ApiError::Invalid(why) => write!(f, "unexpected answer from the Kubernetes API: {why}"),
            ApiError::Credentials(why) => write!(f, "no credentials for the Kubernetes API: {why}"),
        }
    }
}

/// Installs the process-wide rustls provider (ring) once; the gateway's HTTP client does the
/// same, and whichever runs first wins with the same provider.
fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl ApiClient {
    pub(super) fn new(
        endpoint: &Endpoint,
        timeout: Duration,
        egress: Option<&switchboard_upstream::egress::EgressPolicy>,
    ) -> Result<ApiClient, String> {
        ensure_crypto_provider();
        // Inside the gateway the API server is reached under the same outbound rules as every
        // upstream (an in-cluster API server at a private address needs the opt-in).
        let base = match egress {
            Some(policy) => {
                policy
                    .check_url(&endpoint.server)
                    .map_err(|e| format!("{}: {e}", endpoint.origin))?;
                policy
                    .client_builder()
                    .map_err(|e| format!("{}: {e}", endpoint.origin))?
            }
            None => reqwest::Client::builder(),
        };
        let mut builder = base
            .user_agent(concat!(
                "switchboard/",
                env!("CARGO_PKG_VERSION"),
                " (kubernetes connector)"
            ))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true);
        if let Some(pem) = &endpoint.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                format!("{}: certificate authority is not PEM: {e}", endpoint.origin)
            })?;
            if certs.is_empty() {
                return Err(format!(
                    "{}: certificate authority holds no certificate",
                    endpoint.origin
                ));
            }
            builder = builder.tls_certs_only(certs);
        }
        if let Some(pem) = &endpoint.identity_pem {
            let identity = reqwest::Identity::from_pem(pem).map_err(|e| {
                format!(
                    "{}: client certificate and key are not usable PEM: {e}",
                    endpoint.origin
                )
            })?;
            builder = builder.identity(identity);
        }
        if endpoint.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(proxy) = &endpoint.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str())
                .map_err(|e| format!("{}: proxy-url {proxy:?}: {e}", endpoint.origin))?;
            builder = builder.proxy(proxy);
        }
        let http = builder.build().map_err(|e| {
            format!(
                "{}: cannot build the HTTP client: {}",
                endpoint.origin,
                chain(&e)
            )
        })?;
        let auth = match &endpoint.credential {
            Credential::None => Auth::None,
            Credential::Token(token) => Auth::Header(bearer(token)?),
            Credential::Basic { username, password } => {
                use base64::Engine as _;
                let pair = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                Auth::Header(sensitive(&format!("Basic {pair}"))?)
            }
            Credential::Exec(spec) => Auth::Exec(
                Plugin::new(spec.clone()).map_err(|e| format!("{}: {e}", endpoint.origin))?,
            ),
            Credential::TokenFile(path) => {
                // Read now so that a missing or unreadable file fails the start, not the first call.
                let header = read_token_file(path)?;
                Auth::TokenFile {
                    path: path.clone(),
                    cached: Mutex::new(Some((Instant::now(), header))),
                }
            }
        };
        Ok(ApiClient {
            http,
            base: endpoint.server.clone(),
            auth,
            origin: endpoint.origin.clone(),
        })
    }

    /// The server, for messages.
    pub(super) fn server(&self) -> &str {
        self.base.as_str()
    }

    pub(super) async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ApiError> {
        let response = self.send(Method::GET, path, query, None).await?;
        let body = read_capped(response, MAX_JSON_BYTES).await?;
        if body.truncated {
            return Err(ApiError::Invalid(format!(
                "the answer to {path} is larger than {} MiB; narrow it with a limit or selectors",
                MAX_JSON_BYTES >> 20
            )));
        }
        serde_json::from_slice(&body.bytes)
            .map_err(|e| ApiError::Invalid(format!("{path} did not answer JSON: {e}")))
    }

    /// Reads a text stream (a pod's log, chunked as the kubelet sends it) to its end, keeping
    /// only the newest `keep` bytes, cut to whole lines when anything was left out.
    pub(super) async fn get_tail(
        &self,
        path: &str,
        query: &[(&str, String)],
        keep: usize,
    ) -> Result<Tail, ApiError> {
        let mut response = self.send(Method::GET, path, query, None).await?;
        let mut buf: Vec<u8> = Vec::new();
        let mut dropped = 0;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    buf.extend_from_slice(&chunk);
                    // Drop the front in large steps rather than on every chunk.
                    if buf.len() > keep.saturating_mul(2) {
                        let cut = buf.len() - keep;
                        buf.drain(..cut);
                        dropped += cut;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let what = if e.is_timeout() {
                        "timed out"
                    } else {
                        "broke off"
                    };
                    return Err(ApiError::Unreachable(format!(
                        "the log stream {what}: {}",
                        chain(&e)
                    )));
                }
            }
        }
        if buf.len() > keep {
            let cut = buf.len() - keep;
            buf.drain(..cut);
            dropped += cut;
        }
        if dropped > 0
            && let Some(nl) = buf.iter().position(|b| *b == b'\n')
        {
            buf.drain(..=nl);
            dropped += nl + 1;
        }
        Ok(Tail {
            text: String::from_utf8_lossy(&buf).into_owned(),
            dropped,
        })
    }

    pub(super) async fn patch_merge(&self, path: &str, patch: &Value) -> Result<Value, ApiError> {
        let bytes = serde_json::to_vec(patch).map_err(|e| ApiError::Invalid(e.to_string()))?;
        let response = self
            .send(Method::PATCH, path, &[], Some((MERGE_PATCH, bytes)))
            .await?;
        let body = read_capped(response, MAX_JSON_BYTES).await?;
        serde_json::from_slice(&body.bytes)
            .map_err(|e| ApiError::Invalid(format!("{path} did not answer JSON: {e}")))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<reqwest::Response, ApiError> {
        let mut url = self.base.clone();
        // A server URL may carry a path prefix (a proxy in front of the API server).
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{path}"));
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let mut request = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json, */*");
        if let Some(header) = self.authorization().await.map_err(ApiError::Credentials)? {
            request = request.header(AUTHORIZATION, header);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let response = request.send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            ApiError::Unreachable(format!("{} {what}: {}", self.base, chain(&e)))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED
            && let Auth::Exec(plugin) = &self.auth
        {
            // A plugin's token was revoked or expired early: the next call asks the plugin again.
            plugin.forget().await;
        }
        Err(self.error_of(status, response).await)
    }

    async fn error_of(&self, status: StatusCode, response: reqwest::Response) -> ApiError {
        let code = status.as_u16();
        let body = match read_capped(response, MAX_ERROR_BYTES).await {
            Ok(body) => body.bytes,
            Err(e) => return e,
        };
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let status_object = parsed
            .as_ref()
            .filter(|v| v.get("kind").and_then(Value::as_str) == Some("Status"));
        let (reason, mut message) = match status_object {
            Some(s) => (
                s.get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                s.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            None => {
                let text = String::from_utf8_lossy(&body);
                let text = text.trim();
                let short: String = text.chars().take(500).collect();
                (
                    status.canonical_reason().unwrap_or_default().to_owned(),
                    short,
                )
            }
        };
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("no message").to_owned();
        }
        if code == 401 {
            message = format!(
                "{message} (the credentials of {} were refused)",
                self.origin
            );
        }
        ApiError::Status {
            code,
            reason,
            message,
        }
    }

    async fn authorization(&self) -> Result<Option<HeaderValue>, String> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::Header(h) => Ok(Some(h.clone())),
            Auth::Exec(plugin) => plugin.header().await.map(Some),
            Auth::TokenFile { path, cached } => {
                let mut slot = cached.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((at, header)) = slot.as_ref()
                    && at.elapsed() < TOKEN_FILE_TTL
                {
                    return Ok(Some(header.clone()));
                }
                match read_token_file(path) {
                    Ok(header) => {
                        *slot = Some((Instant::now(), header.clone()));
                        Ok(Some(header))
                    }
                    // A rotation in progress: keep using the last token we read.
                    Err(_) if slot.is_some() => Ok(slot.as_ref().map(|(_, h)| h.clone())),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

fn read_token_file(path: &PathBuf) -> Result<HeaderValue, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
    bearer(text.trim())
}

fn bearer(token: &str) -> Result<HeaderValue, String> {
    if token.is_empty() {
        return Err("the token is empty".into());
    }
    sensitive(&format!("Bearer {token}"))
}

fn sensitive(value: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| "the credential holds characters a header cannot carry".to_owned())?;
    v.set_sensitive(true);
    Ok(v)
}

/// The newest part of a stream.
pub(super) struct Tail {
    pub(super) text: String,
    /// Bytes left out from the front.
    pub(super) dropped: usize,
}

struct Body {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Reads a body chunk by chunk (a log stream is chunked and may be long), stopping at `cap`.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Body, ApiError> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - bytes.len();
                if chunk.len() > room {
                    bytes.extend_from_slice(&chunk[..room]);
                    return Ok(Body {
                        bytes,
                        truncated: true,
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => {
                return Ok(Body {
                    bytes,
                    truncated: false,
                });
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else {
                    "broke off"
                };
                return Err(ApiError::Unreachable(format!(
                    "the answer {what}: {}",
                    chain(&e)
                )));
            }
        }
    }
}

/// An error and its causes on one line (reqwest's own message hides the useful part).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
