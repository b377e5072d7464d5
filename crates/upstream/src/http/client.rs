//! The HTTP client of one Streamable HTTP upstream, and the answers it returns.
//!
//! Plain `http://` URLs go through [`pool`](super::pool), the lean keep-alive client built for
//! the per-call POST. Everything hyper alone cannot do the way the gateway always has goes
//! through reqwest: TLS (`https://`), credentials in the URL, and a configured proxy. Both
//! sides take the same request (method, per-request headers, body) and give the same [`Answer`],
//! so the transport in `mod.rs` does not know which one it talks to. Both obey the upstream's
//! [`EgressPolicy`]: the URL is checked once here, and every address a name resolves to is
//! checked when a connection opens (the pool asks the policy; reqwest resolves through it).

use std::time::Duration;

use bytes::Bytes;
use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use super::error_chain;
use super::pool::{self, Pool};
use crate::egress::{EgressPolicy, Proxy};
use crate::error::UpstreamError;
use crate::oauth::TokenSource;

pub(crate) struct Client {
    kind: Kind,
    /// The upstream's `read_timeout`: how long an answer may go without a byte of it arriving
    /// (its head, then each piece of its body).
    read_timeout: Option<Duration>,
    /// Adds a fetched bearer token to each request (OAuth client credentials).
    token: Option<Arc<TokenSource>>,
}

enum Kind {
    Lean(Pool),
    Reqwest {
        client: reqwest::Client,
        url: reqwest::Url,
    },
}

impl Client {
    /// A client for `url` that adds the configured `headers` to every request, refused when
    /// `egress` refuses the URL.
    pub(crate) fn new(
        url: &reqwest::Url,
        headers: &[(String, String)],
        egress: &EgressPolicy,
        token: Option<Arc<TokenSource>>,
    ) -> Result<Client, UpstreamError> {
        egress
            .check_url(url)
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let kind = match lean(url, headers, egress)? {
            Some(pool) => Kind::Lean(pool),
            None => Kind::Reqwest {
                client: reqwest_client(headers, egress)?,
                url: url.clone(),
            },
        };
        Ok(Client {
            kind,
            token,
            read_timeout: egress.read_timeout(),
        })
    }

    /// Sends one request; the answer's body is read through [`Answer::chunk`]. An error is the
    /// whole chain of causes, for people to read.
    pub(crate) async fn send(
        &self,
        method: Method,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, String> {
        if let Some(token) = &self.token {
            headers.insert(AUTHORIZATION, token.authorization().await?);
        }
        let answer = match self.read_timeout {
            None => self.send_as_is(method, headers, body).await?,
            Some(limit) => tokio::time::timeout(limit, self.send_as_is(method, headers, body))
                .await
                .map_err(|_| read_timed_out(limit))??,
        };
        if answer.status == StatusCode::UNAUTHORIZED
            && let Some(token) = &self.token
        {
            // Revoked or rotated early: the next request fetches a new one.
            token.invalidate();
        }
        Ok(answer)
    }

    async fn send_as_is(
        &self,
        method: Method,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, String> {
        match &self.kind {
            Kind::Lean(pool) => {
                let (head, body) = pool.send(method, headers, body).await?;
                let (parts, ()) = head.into_parts();
                Ok(Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body: AnswerBody::Lean(body),
                    read_timeout: self.read_timeout,
                })
            }
            Kind::Reqwest { client, url } => {
                let resp = client
                    .request(method, url.clone())
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    // The URL (it may carry credentials) is the transport's to name, redacted.
                    .map_err(|e| error_chain(&e.without_url()))?;
                Ok(Answer {
                    status: resp.status(),
                    headers: resp.headers().clone(),
                    body: AnswerBody::Reqwest(resp),
                    read_timeout: self.read_timeout,
                })
            }
        }
    }
}

/// The lean pool for a plain `http://` URL that needs nothing else; `None` when reqwest must
/// serve it.
fn lean(
    url: &reqwest::Url,
    headers: &[(String, String)],
    egress: &EgressPolicy,
) -> Result<Option<Pool>, UpstreamError> {
    let proxied = *egress.proxy_setting() != Proxy::Direct;
    if url.scheme() != "http" || proxied || !url.username().is_empty() || url.password().is_some() {
        return Ok(None);
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Ok(None);
    };
    // `Host` as reqwest would write it: the port only when it is not the default.
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    // The URL crate writes IPv6 hosts in brackets; a socket address wants them bare.
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let mut map = HeaderMap::with_capacity(headers.len() + 1);
    for (k, v) in headers {
        let (name, value) = header(k, v)?;
        map.insert(name, value);
    }
    Pool::new(connect_host, port, &authority, &target, map, egress.clone()).map(Some)
}

/// The reqwest client, built by the egress policy (checked resolver, no redirects, only the
/// configured proxy and TLS): connections are pooled, and the configured headers are its
/// defaults, so no request copies them.
pub(crate) fn reqwest_client(
    spec_headers: &[(String, String)],
    egress: &EgressPolicy,
) -> Result<reqwest::Client, UpstreamError> {
    let mut headers = HeaderMap::new();
    for (k, v) in spec_headers {
        let (name, value) = header(k, v)?;
        headers.insert(name, value);
    }
    egress
        .client_builder()
        .map_err(|e| UpstreamError::Unavailable(e.to_string()))?
        .default_headers(headers)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| UpstreamError::Unavailable(format!("HTTP client: {e}")))
}

/// A configured header, marked sensitive so that it never shows in debug output.
fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), UpstreamError> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| UpstreamError::Unavailable(format!("bad header name {name}: {e}")))?;
    let mut v = HeaderValue::from_str(value)
        .map_err(|e| UpstreamError::Unavailable(format!("bad header value for {name}: {e}")))?;
    v.set_sensitive(true);
    Ok((n, v))
}

/// An upstream's answer: status and headers at once, the body as it arrives.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    body: AnswerBody,
    read_timeout: Option<Duration>,
}

fn read_timed_out(limit: Duration) -> String {
    format!(
        "read timed out: nothing arrived for {}ms (read_timeout)",
        limit.as_millis()
    )
}

enum AnswerBody {
    Lean(pool::Body),
    Reqwest(reqwest::Response),
}

impl Answer {
    /// The next piece of the body; `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        let limit = self.read_timeout;
        let read = async {
            match &mut self.body {
                AnswerBody::Lean(body) => body.chunk().await,
                AnswerBody::Reqwest(resp) => resp.chunk().await.map_err(|e| error_chain(&e)),
            }
        };
        match limit {
            None => read.await,
            Some(limit) => tokio::time::timeout(limit, read)
                .await
                .map_err(|_| read_timed_out(limit))?,
        }
    }

    /// The declared `Content-Length`, if any.
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.headers
            .get(CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the body is an SSE stream (else it is one JSON message).
    pub(crate) fn is_event_stream(&self) -> bool {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    }

    /// The body as text, for error messages: at most `max` bytes of it, and whatever arrived
    /// before a failure.
    pub(crate) async fn text(mut self, max: usize) -> String {
        let mut buf = Vec::new();
        while buf.len() < max {
            match self.chunk().await {
                Ok(Some(c)) => buf.extend_from_slice(&c[..c.len().min(max - buf.len())]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}
