//! OAuth 2 token exchange (RFC 8693) for an upstream that must see who is calling: the caller's
//! access token (the subject token) is exchanged at the upstream's token endpoint for one
//! scoped to that upstream (`audience`, `resource`, `scope`), and that token goes upstream in
//! the caller's stead. One [`Exchanger`] per upstream; exchanged tokens are cached by the
//! SHA-256 of the caller's token until shortly before they expire, so a caller's calls cost one
//! exchange per token lifetime, not one per call.
//!
//! The token endpoint is an outbound URL like any other (its client is built by the upstream's
//! [`EgressPolicy`], and the URL is checked before every exchange). Neither token, nor the
//! gateway's client secret, appears in an error or a log: a failed exchange reports the endpoint
//! (without query), the status and the `error` code only. The cache is bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::egress::{EgressPolicy, display_url_str};
use crate::oauth::{TokenEndpoint, client_authorization, form_encode, request_token};
use switchboard_protocol::lock;

/// Used until this long before it expires (or half its lifetime, if that is sooner).
const EARLY: Duration = Duration::from_secs(30);
/// Exchanged tokens remembered at most per upstream.
const MAX_CACHED: usize = 10_000;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Where and how to exchange.
#[derive(Clone)]
pub struct TokenExchange {
    pub token_url: String,
    /// The gateway's own client credentials at the endpoint (HTTP Basic), if it needs them.
    pub client: Option<(String, Option<String>)>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchange")
            .field("token_url", &display_url_str(&self.token_url))
            .field("client_id", &self.client.as_ref().map(|(id, _)| id))
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Exchanges callers' tokens for one upstream, and remembers the results.
pub struct Exchanger {
    cfg: TokenExchange,
    endpoint: TokenEndpoint,
    /// SHA-256 of the caller's token → the exchanged `Authorization` value, and until when it
    /// is used.
    cache: Mutex<HashMap<[u8; 32], (HeaderValue, Instant)>>,
    /// Exchanges under way, by caller token: concurrent first calls of one caller wait for one
    /// exchange instead of each making their own. An entry lives while its exchange runs.
    inflight: Mutex<HashMap<[u8; 32], Queue>>,
}

/// The calls of one caller waiting for its exchange, and the lock the first one holds.
#[derive(Default)]
struct Queue {
    lock: Arc<tokio::sync::Mutex<()>>,
    waiting: usize,
}

impl std::fmt::Debug for Exchanger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanger")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Exchanger {
    pub fn new(cfg: TokenExchange, egress: EgressPolicy) -> Exchanger {
        Exchanger {
            endpoint: TokenEndpoint::new(cfg.token_url.clone(), egress),
            cfg,
            cache: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// The `Authorization` value to send upstream for a caller presenting `subject`: cached,
    /// or exchanged now.
    pub async fn authorization(&self, subject: &str) -> Result<HeaderValue, String> {
        let key = digest(subject);
        if let Some(v) = self.cached(&key) {
            return Ok(v);
        }
        let one = Inflight::join(&self.inflight, key);
        let _exclusive = one.lock.lock().await;
        // Another call of this caller may have exchanged while this one waited.
        if let Some(v) = self.cached(&key) {
            return Ok(v);
        }
        self.exchange_and_keep(subject, key).await
    }

    fn cached(&self, key: &[u8; 32]) -> Option<HeaderValue> {
        let now = Instant::now();
        match lock(&self.cache).get(key) {
            Some((v, until)) if now < *until => Some(v.clone()),
            _ => None,
        }
    }

    async fn exchange_and_keep(&self, subject: &str, key: [u8; 32]) -> Result<HeaderValue, String> {
        let (value, lifetime) = self.exchange(subject).await?;
        let until = Instant::now() + lifetime - EARLY.min(lifetime / 2);
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED {
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= MAX_CACHED
                && let Some(k) = cache.keys().next().copied()
            {
                cache.remove(&k);
            }
        }
        cache.insert(key, (value.clone(), until));
        Ok(value)
    }

    /// Forgets what was exchanged for `subject` (the upstream refused it).
    pub fn invalidate(&self, subject: &str) {
        lock(&self.cache).remove(&digest(subject));
    }

    async fn exchange(&self, subject: &str) -> Result<(HeaderValue, Duration), String> {
        let shown = display_url_str(&self.cfg.token_url);
        let fail = |why: String| format!("token exchange at {shown}: {why}");
        let mut form = format!(
            "grant_type={}&subject_token={}&subject_token_type={}&requested_token_type={}",
            form_encode(GRANT),
            form_encode(subject),
            form_encode(ACCESS_TOKEN),
            form_encode(ACCESS_TOKEN),
        );
        for (name, value) in [
            ("audience", &self.cfg.audience),
            ("resource", &self.cfg.resource),
        ] {
            if let Some(v) = value {
                form.push_str(&format!("&{name}={}", form_encode(v)));
            }
        }
        if !self.cfg.scopes.is_empty() {
            form.push_str("&scope=");
            form.push_str(&form_encode(&self.cfg.scopes.join(" ")));
        }
        let mut req = self.endpoint.post().map_err(fail)?;
        if let Some((id, secret)) = &self.cfg.client {
            let auth =
                client_authorization(id, secret.as_deref().unwrap_or_default()).map_err(fail)?;
            req = req.header(AUTHORIZATION, auth);
        }
        request_token(req, form).await.map_err(fail)
    }
}

/// One caller's place in the queue for an exchange; the last one out (done or cancelled)
/// removes the entry, so the map holds only exchanges under way.
struct Inflight<'a> {
    map: &'a Mutex<HashMap<[u8; 32], Queue>>,
    key: [u8; 32],
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> Inflight<'a> {
    fn join(map: &'a Mutex<HashMap<[u8; 32], Queue>>, key: [u8; 32]) -> Inflight<'a> {
        let mut queues = lock(map);
        let q = queues.entry(key).or_default();
        q.waiting += 1;
        Inflight {
            map,
            key,
            lock: q.lock.clone(),
        }
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        let mut queues = lock(self.map);
        if let Some(q) = queues.get_mut(&self.key) {
            q.waiting = q.waiting.saturating_sub(1);
            if q.waiting == 0 {
                queues.remove(&self.key);
            }
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}
