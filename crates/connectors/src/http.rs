//! Outbound HTTP for connectors: the settings every HTTP connector shares (`url`, `headers`,
//! `basic_auth`, `bearer_token`, `timeout`), the one function that builds a client from them, and
//! reading a JSON API's answer.
//!
//! [`client`] is the only place in this crate that builds an HTTP client, so an egress policy
//! (SSRF strict mode) applies to every connector by changing it alone.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::settings::Fields;

/// Fields every HTTP connector accepts.
pub const FIELDS: &[&str] = &["url", "headers", "basic_auth", "bearer_token", "timeout"];

/// Default time one backend request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest backend answer read; a larger one is refused with a message, never cut.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How to reach one HTTP API.
#[derive(Clone)]
pub struct Endpoint {
    /// Always ends with `/`, so API paths join under it.
    pub base: Url,
    pub headers: Vec<(String, String)>,
    pub auth: Auth,
    pub timeout: Duration,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never reach a log line.
        f.debug_struct("Endpoint")
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { username: String, password: String },
    Bearer(String),
}

impl Endpoint {
    /// Reads the shared fields out of a connector's settings.
    pub fn parse(f: &Fields<'_>) -> Result<Endpoint, String> {
        let url = f.required("url")?;
        let mut base = Url::parse(&url).map_err(|e| format!("`url` `{url}` is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("`url` `{url}` must be http:// or https://"));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(format!("`url` `{url}` has no host"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(format!("`url` `{url}` must not have a query or fragment"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let headers = f.string_map("headers")?;
        for (k, v) in &headers {
            HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("`headers.{k}` is not a valid header name"))?;
            HeaderValue::from_str(v).map_err(|_| {
                format!("`headers.{k}` has a value that is not a valid header value")
            })?;
        }
        let basic = f.block("basic_auth", &["username", "password"])?;
        let bearer = f.string("bearer_token")?;
        let auth = match (basic, bearer) {
            (Some(_), Some(_)) => {
                return Err("give `basic_auth` or `bearer_token`, not both".to_owned());
            }
            (Some(b), None) => Auth::Basic {
                username: b.required("username")?,
                password: b.string("password")?.unwrap_or_default(),
            },
            (None, Some(t)) if t.is_empty() => {
                return Err("`bearer_token` must not be empty".to_owned());
            }
            (None, Some(t)) => Auth::Bearer(t),
            (None, None) => Auth::None,
        };
        if auth != Auth::None
            && headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            return Err("`headers.Authorization` and `basic_auth`/`bearer_token` both set the Authorization header; keep one".to_owned());
        }
        Ok(Endpoint {
            base,
            headers,
            auth,
            timeout: f.duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT),
        })
    }

    /// `path` (no leading `/`) under the base URL.
    pub fn url(&self, path: &str) -> Url {
        // A relative path always joins onto a base that ends in `/`.
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    /// `path` under the base URL with `query` appended, each pair encoded.
    pub fn url_with(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.url(path);
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }
}

/// The HTTP client for `endpoint`, with its headers and credentials as defaults (marked
/// sensitive) and `extra` headers (a connector's own, such as Loki's tenant). The one place
/// connectors make a client: outbound policy goes here.
pub fn client(
    endpoint: &Endpoint,
    extra: &[(&str, &str)],
    egress: Option<&switchboard_upstream::egress::EgressPolicy>,
) -> Result<reqwest::Client, String> {
    switchboard_upstream::http::ensure_crypto_provider();
    let mut headers = HeaderMap::new();
    let pairs = endpoint
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied());
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
        let mut value = HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let auth = match &endpoint.auth {
        Auth::None => None,
        Auth::Bearer(t) => Some(format!("Bearer {t}")),
        Auth::Basic { username, password } => {
            Some(format!("Basic {}", basic_credentials(username, password)))
        }
    };
    if let Some(a) = auth {
        let mut value =
            HeaderValue::from_str(&a).map_err(|_| "credentials are not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    // Inside the gateway, the same outbound rules as every upstream: the URL is checked now,
    // and every address it resolves to when each connection opens (SSRF strict mode).
    let builder = match egress {
        Some(policy) => {
            policy
                .check_url(&endpoint.base)
                .map_err(|e| e.to_string())?;
            policy.client_builder().map_err(|e| e.to_string())?
        }
        None => reqwest::Client::builder(),
    };
    builder
        .default_headers(headers)
        .timeout(endpoint.timeout)
        .connect_timeout(endpoint.timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// `user:password` in standard base64.
fn basic_credentials(username: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{username}:{password}");
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A backend's answer that is not a success, as the message an `isError` result carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

/// GETs an API path and unwraps the envelope Prometheus's HTTP API uses and Loki's copies
/// (`{"status": "success", "data": …, "warnings": […]}`, or `status: error` with `error`):
/// the `data` and the warnings of a success, else a [`Failure`] with the API's message.
pub async fn get_api(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    path: &str,
    query: &[(&str, String)],
    what: &str,
) -> Result<(Value, Vec<String>), Failure> {
    let mut body = get_json(client, endpoint.url_with(path, query), what).await?;
    if body.get("status").and_then(Value::as_str) != Some("success") {
        let msg = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error message");
        return Err(Failure(format!("{what}: {msg}")));
    }
    let warnings = body
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((
        body.get_mut("data").map(Value::take).unwrap_or_default(),
        warnings,
    ))
}

/// GETs `url` and reads a JSON body. A non-2xx status is a [`Failure`] carrying the API's own
/// error (`error` and `errorType` of a JSON body, else the body's text); so is a body that is
/// not JSON, too large, or a transport error. `what` names the backend in messages.
pub async fn get_json(client: &reqwest::Client, url: Url, what: &str) -> Result<Value, Failure> {
    let mut resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| Failure(format!("{what} could not be reached: {}", error_chain(&e))))?;
    let status = resp.status();
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_BODY_BYTES {
                    return Err(Failure(format!(
                        "{what}'s answer is larger than {} MiB; narrow the request (a shorter range, a more selective matcher, a lower limit)",
                        MAX_BODY_BYTES / (1024 * 1024)
                    )));
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(Failure(format!(
                    "{what}'s answer broke off: {}",
                    error_chain(&e)
                )));
            }
        }
    }
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if status.is_success() {
        return json.ok_or_else(|| Failure(format!("{what} answered something that is not JSON")));
    }
    let detail = match &json {
        Some(v) if v.get("error").is_some() => {
            let msg = v.get("error").and_then(Value::as_str).unwrap_or_default();
            match v.get("errorType").and_then(Value::as_str) {
                Some(t) => format!("{t}: {msg}"),
                None => msg.to_owned(),
            }
        }
        _ => {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            let mut end = text.len().min(2000);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_owned()
        }
    };
    Err(Failure(format!(
        "{what} answered HTTP {}: {detail}",
        status.as_u16()
    )))
}

/// An error and its causes on one line (reqwest's own message hides the interesting part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(
            basic_credentials("Aladdin", "open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_credentials("a", ""), "YTo=");
        assert_eq!(basic_credentials("ab", "c"), "YWI6Yw==");
    }

    #[test]
    fn endpoint_settings() {
        let v = serde_json::json!({"url": "http://prom:9090/sub", "bearer_token": "t", "timeout": "5s"});
        let f = Fields::new(&v, FIELDS).unwrap();
        let e = Endpoint::parse(&f).unwrap();
        assert_eq!(
            e.url("api/v1/query").as_str(),
            "http://prom:9090/sub/api/v1/query"
        );
        assert_eq!(e.timeout, Duration::from_secs(5));
        let v = serde_json::json!({"url": "ftp://x"});
        assert!(
            Endpoint::parse(&Fields::new(&v, FIELDS).unwrap())
                .unwrap_err()
                .contains("http://")
        );
        let v = serde_json::json!({"url": "http://x", "bearer_token": "a", "basic_auth": {"username": "u"}});
        assert!(
            Endpoint::parse(&Fields::new(&v, FIELDS).unwrap())
                .unwrap_err()
                .contains("not both")
        );
        let v = serde_json::json!({});
        assert!(
            Endpoint::parse(&Fields::new(&v, FIELDS).unwrap())
                .unwrap_err()
                .contains("missing field `url`")
        );
    }
}
