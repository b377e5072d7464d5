//! Where token signing keys come from, and how they are kept fresh without calling out at start.
//!
//! A static PEM key is loaded once. A JWKS (given as `jwks_url`, or found through the issuer's
//! OpenID Connect or RFC 8414 metadata) is fetched lazily, when the first token needs it, never
//! at start (airgap: a gateway with an unreachable identity provider still starts and serves
//! API keys). Then:
//! - a key set older than `jwks_ttl` is refreshed in the background while the old one serves;
//! - a token naming a `kid` the set lacks (key rotation) triggers one fetch, but at most one per
//!   `jwks_refetch_interval` however many such tokens arrive (a flood of made-up key ids never
//!   becomes a flood of requests to the identity provider);
//! - a failed fetch keeps the keys already known.
//!
//! Every outbound request goes through [`outbound_client`], the one place its HTTP client is
//! built, by the gateway's egress policy (SSRF strict mode: a JWKS or discovery URL in private
//! address space is refused unless `allow_private_upstreams` allows it; cloud-metadata
//! addresses always); each URL, the discovered `jwks_uri` too, is checked before it is fetched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde_json::Value;
use switchboard_config::{JwtAlgorithm, JwtConfig, JwtKeys};

use switchboard_upstream::egress::EgressPolicy;

use super::key::{self, Jwk};

/// Largest JWKS or metadata document read.
const MAX_DOCUMENT: usize = 1024 * 1024;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for identity-provider requests (JWKS and discovery), built by `egress`:
/// names resolved and every address checked at connect time, no redirects followed, bounded
/// time. The one place it is built.
pub fn outbound_client(egress: &EgressPolicy) -> Result<reqwest::Client, String> {
    egress
        .client_builder()
        .map_err(|e| e.to_string())?
        .connect_timeout(FETCH_TIMEOUT)
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// Why no key verified a token's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMiss {
    /// No key fits the token's `kid` and `alg`, even after a refetch (or a refetch was not
    /// allowed yet).
    Unknown,
    /// The keys could not be fetched (and none were known).
    Unavailable(String),
}

struct KeySet {
    keys: Vec<Jwk>,
    /// `None`: never fetched (or static).
    fetched: Option<Instant>,
}

struct FetchState {
    last_attempt: Option<Instant>,
    /// The JWKS URL, once known (given, or discovered).
    url: Option<String>,
    client: Option<reqwest::Client>,
    /// Why the last fetch failed, if it did.
    last_error: Option<String>,
}

/// The signing keys of one issuer.
pub struct Keys {
    source: Source,
    set: ArcSwap<KeySet>,
    fetch: tokio::sync::Mutex<FetchState>,
    refreshing: AtomicBool,
    ttl: Duration,
    refetch_interval: Duration,
    issuer: String,
    /// What the JWKS and discovery URLs may be (the gateway's egress policy).
    egress: EgressPolicy,
}

#[derive(Clone, PartialEq, Eq)]
enum Source {
    Static,
    Remote,
}

impl Keys {
    pub fn new(cfg: &JwtConfig, egress: EgressPolicy) -> Result<Arc<Keys>, String> {
        let (source, keys, url) = match &cfg.keys {
            JwtKeys::Pem { path, text } => {
                let k = key::from_pem(text).map_err(|e| format!("{}: {e}", path.display()))?;
                let jwk = Jwk {
                    kid: None,
                    alg: None,
                    key: k,
                };
                (Source::Static, vec![jwk], None)
            }
            JwtKeys::JwksUrl(u) => (Source::Remote, Vec::new(), Some(u.clone())),
            JwtKeys::Discovery => (Source::Remote, Vec::new(), None),
        };
        Ok(Arc::new(Keys {
            source,
            set: ArcSwap::from_pointee(KeySet {
                keys,
                fetched: None,
            }),
            fetch: tokio::sync::Mutex::new(FetchState {
                last_attempt: None,
                url,
                client: None,
                last_error: None,
            }),
            refreshing: AtomicBool::new(false),
            ttl: cfg.jwks_ttl,
            refetch_interval: cfg.jwks_refetch_interval,
            issuer: cfg.issuer.clone(),
            egress,
        }))
    }

    /// Runs `verify` with each key that fits `kid` and `alg` until one says yes; fetches the
    /// JWKS first when nothing fits and a fetch is allowed.
    pub async fn verify_with(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: JwtAlgorithm,
        verify: impl Fn(&key::VerifyingKey) -> bool,
    ) -> Result<bool, KeyMiss> {
        let set = self.set.load_full();
        if let Some(ok) = try_keys(&set.keys, kid, alg, &verify) {
            if set.fetched.is_some_and(|at| at.elapsed() >= self.ttl) {
                self.refresh_in_background();
            }
            return Ok(ok);
        }
        if self.source == Source::Static {
            return Err(KeyMiss::Unknown);
        }
        let error = self.refetch(set.fetched).await;
        let set = self.set.load_full();
        match try_keys(&set.keys, kid, alg, &verify) {
            Some(ok) => Ok(ok),
            None => match error {
                Some(e) if set.keys.is_empty() => Err(KeyMiss::Unavailable(e)),
                _ => Err(KeyMiss::Unknown),
            },
        }
    }

    /// Fetches unless another caller did since `seen` or the last attempt was too recent.
    /// Returns the error of a fetch that failed.
    async fn refetch(&self, seen: Option<Instant>) -> Option<String> {
        let mut st = self.fetch.lock().await;
        // Someone else fetched while we waited: use their result.
        if self.set.load().fetched != seen {
            return None;
        }
        if st
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.refetch_interval)
        {
            return st.last_error.clone();
        }
        st.last_attempt = Some(Instant::now());
        match self.fetch_now(&mut st).await {
            Ok(keys) => {
                tracing::debug!(issuer = %self.issuer, keys = keys.len(), "JWKS fetched");
                self.set.store(Arc::new(KeySet {
                    keys,
                    fetched: Some(Instant::now()),
                }));
                st.last_error = None;
                None
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, "JWKS fetch failed ({e}); keeping the keys already known");
                st.last_error = Some(e.clone());
                Some(e)
            }
        }
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        rt.spawn(async move {
            let seen = me.set.load().fetched;
            me.refetch(seen).await;
            me.refreshing.store(false, Ordering::Release);
        });
    }

    async fn fetch_now(&self, st: &mut FetchState) -> Result<Vec<Jwk>, String> {
        let client = match &st.client {
            Some(c) => c.clone(),
            None => {
                let c = outbound_client(&self.egress)?;
                st.client = Some(c.clone());
                c
            }
        };
        let url = match &st.url {
            Some(u) => u.clone(),
            None => {
                let u = discover(&client, &self.egress, &self.issuer).await?;
                st.url = Some(u.clone());
                u
            }
        };
        let doc = get_json(&client, &self.egress, &url).await?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{url}: not a JWKS (no `keys` list)"))?;
        Ok(list.iter().filter_map(key::from_jwk).collect())
    }
}

fn try_keys(
    keys: &[Jwk],
    kid: Option<&str>,
    alg: JwtAlgorithm,
    verify: &impl Fn(&key::VerifyingKey) -> bool,
) -> Option<bool> {
    let mut tried = false;
    for k in keys {
        let kid_ok = match (kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            // A token without `kid` may be checked against every fitting key; a token with one
            // only against the key of that id (or a key without id, e.g. a static PEM).
            (Some(_), None) | (None, _) => true,
        };
        if !kid_ok || !k.key.fits(alg) || k.alg.is_some_and(|a| a != alg) {
            continue;
        }
        tried = true;
        if verify(&k.key) {
            return Some(true);
        }
    }
    tried.then_some(false)
}

/// The `jwks_uri` of `issuer`: OpenID Connect discovery first, then RFC 8414. The metadata's
/// `issuer` must be `issuer` exactly (RFC 8414 §3.3), so a document served elsewhere cannot
/// redirect key trust.
async fn discover(
    client: &reqwest::Client,
    egress: &EgressPolicy,
    issuer: &str,
) -> Result<String, String> {
    let trimmed = issuer.trim_end_matches('/');
    let (origin, path) = split_origin(trimmed);
    let candidates = [
        format!("{trimmed}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
    ];
    let mut errors = Vec::new();
    for url in candidates {
        match get_json(client, egress, &url).await {
            Ok(doc) => {
                let iss = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
                if iss.trim_end_matches('/') != trimmed {
                    errors.push(format!("{url}: its issuer is {iss:?}, not {issuer:?}"));
                    continue;
                }
                return match doc.get("jwks_uri").and_then(Value::as_str) {
                    Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                        Ok(u.to_owned())
                    }
                    _ => Err(format!("{url}: no http(s) `jwks_uri`")),
                };
            }
            Err(e) => errors.push(e),
        }
    }
    Err(format!("discovery failed: {}", errors.join("; ")))
}

fn split_origin(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    }
}

async fn get_json(
    client: &reqwest::Client,
    egress: &EgressPolicy,
    url: &str,
) -> Result<Value, String> {
    // reqwest resolves no literal address, so only this check sees one.
    egress
        .check_url_str(url)
        .map_err(|e| format!("{url}: {e}"))?;
    let mut resp = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("{url}: larger than {MAX_DOCUMENT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON ({e})"))
}

#[cfg(test)]
mod tests {
    use super::split_origin;

    #[test]
    fn origins() {
        assert_eq!(
            split_origin("https://idp.example.com/realms/x"),
            ("https://idp.example.com", "/realms/x")
        );
        assert_eq!(
            split_origin("https://idp.example.com"),
            ("https://idp.example.com", "")
        );
    }
}
