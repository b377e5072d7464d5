//! OAuth 2 client credentials (RFC 6749 §4.4) for an upstream that wants a bearer token the
//! gateway fetches itself: one [`TokenSource`] per upstream, shared by all of its connections,
//! which fetches a token from the token endpoint, caches it until shortly before it expires, and
//! fetches again then (or at once after the upstream answers 401). Concurrent callers wait for
//! one fetch. The token endpoint is an outbound URL like any other: its client is built by the
//! upstream's [`EgressPolicy`].
//!
//! The client secret is sent as HTTP Basic credentials (§2.3.1) and never appears in an error;
//! a failed fetch reports the endpoint (without query), the status and the `error` code only.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use crate::egress::{EgressPolicy, display_url_str};
use switchboard_protocol::lock;

/// A token's lifetime when the endpoint names none.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Refreshed this long before it expires (or at half its lifetime, if that is sooner).
const EARLY: Duration = Duration::from_secs(60);

/// Where and how to ask for a token.
#[derive(Clone)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub audience: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &display_url_str(&self.token_url))
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Fetches and caches one upstream's token.
pub struct TokenSource {
    creds: ClientCredentials,
    endpoint: TokenEndpoint,
    cached: Mutex<Option<(HeaderValue, Instant)>>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(creds: ClientCredentials, egress: EgressPolicy) -> TokenSource {
        TokenSource {
            endpoint: TokenEndpoint::new(creds.token_url.clone(), egress),
            creds,
            cached: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The `Authorization` value to send now: the cached token, or a fresh one.
    pub async fn authorization(&self) -> Result<HeaderValue, String> {
        if let Some(v) = self.fresh() {
            return Ok(v);
        }
        let _one = self.fetching.lock().await;
        // Someone else may have fetched while this caller waited.
        if let Some(v) = self.fresh() {
            return Ok(v);
        }
        let (value, lifetime) = self.fetch().await?;
        let early = EARLY.min(lifetime / 2);
        *lock(&self.cached) = Some((value.clone(), Instant::now() + lifetime - early));
        Ok(value)
    }

    /// Forgets the cached token (the upstream refused it).
    pub fn invalidate(&self) {
        lock(&self.cached).take();
    }

    fn fresh(&self) -> Option<HeaderValue> {
        match &*lock(&self.cached) {
            Some((v, refresh_at)) if Instant::now() < *refresh_at => Some(v.clone()),
            _ => None,
        }
    }

    async fn fetch(&self) -> Result<(HeaderValue, Duration), String> {
        let shown = display_url_str(&self.creds.token_url);
        let fail = |why: String| format!("token endpoint {shown}: {why}");
        let mut form = String::from("grant_type=client_credentials");
        if !self.creds.scopes.is_empty() {
            form.push_str("&scope=");
            form.push_str(&form_encode(&self.creds.scopes.join(" ")));
        }
        if let Some(aud) = &self.creds.audience {
            form.push_str("&audience=");
            form.push_str(&form_encode(aud));
        }
        let auth =
            client_authorization(&self.creds.client_id, &self.creds.client_secret).map_err(fail)?;
        let req = self
            .endpoint
            .post()
            .map_err(fail)?
            .header(AUTHORIZATION, auth);
        request_token(req, form).await.map_err(fail)
    }
}

/// A token endpoint and the client that reaches it: its URL checked against the upstream's
/// egress policy before every request, the client built from that policy on first use. Shared
/// by client credentials ([`TokenSource`]) and token exchange (`token_exchange::Exchanger`).
pub(crate) struct TokenEndpoint {
    url: String,
    egress: EgressPolicy,
    client: Mutex<Option<reqwest::Client>>,
}

impl TokenEndpoint {
    pub(crate) fn new(url: String, egress: EgressPolicy) -> TokenEndpoint {
        TokenEndpoint {
            url,
            egress,
            client: Mutex::new(None),
        }
    }

    /// A POST to the endpoint, once its URL passes the egress policy.
    pub(crate) fn post(&self) -> Result<reqwest::RequestBuilder, String> {
        self.egress
            .check_url_str(&self.url)
            .map_err(|e| e.to_string())?;
        Ok(self.client()?.post(&self.url))
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        let mut slot = lock(&self.client);
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let c = self
            .egress
            .client_builder()
            .map_err(|e| e.to_string())?
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("token client: {e}"))?;
        *slot = Some(c.clone());
        Ok(c)
    }
}

/// `Authorization: Basic` for an OAuth client (RFC 6749 §2.3.1: id and secret each
/// form-encoded first), marked sensitive.
pub(crate) fn client_authorization(id: &str, secret: &str) -> Result<HeaderValue, String> {
    let basic = format!("{}:{}", form_encode(id), form_encode(secret));
    let mut auth = HeaderValue::from_str(&format!(
        "Basic {}",
        switchboard_protocol::base64::encode(basic.as_bytes())
    ))
    .map_err(|_| "the client credentials cannot be sent as a header".to_owned())?;
    auth.set_sensitive(true);
    Ok(auth)
}

/// Posts a token request (`form`, already encoded) and reads the endpoint's answer (RFC 6749
/// §5): the access token as a sensitive `Bearer` value, and how long it lives (`expires_in`,
/// else [`DEFAULT_LIFETIME`]). A failure names the status and the OAuth `error` code only,
/// never the body (which may echo what was sent).
pub(crate) async fn request_token(
    req: reqwest::RequestBuilder,
    form: String,
) -> Result<(HeaderValue, Duration), String> {
    let resp = req
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| crate::http::error_chain(&e.without_url()))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| crate::http::error_chain(&e.without_url()))?;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() {
        let code = json["error"].as_str().unwrap_or("no error code");
        return Err(format!("HTTP {status} ({code})"));
    }
    let Some(token) = json["access_token"].as_str().filter(|t| !t.is_empty()) else {
        return Err("the answer has no access_token".to_owned());
    };
    if let Some(kind) = json["token_type"].as_str()
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(format!("token_type {kind:?} is not bearer"));
    }
    let lifetime = json["expires_in"]
        .as_u64()
        .filter(|s| *s > 0)
        .map_or(DEFAULT_LIFETIME, Duration::from_secs);
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the access_token cannot be sent as a header".to_owned())?;
    value.set_sensitive(true);
    Ok((value, lifetime))
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_encoding() {
        assert_eq!(super::form_encode("a b:c/é"), "a+b%3Ac%2F%C3%A9");
    }
}
