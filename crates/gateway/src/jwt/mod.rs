//! JWT bearer tokens (RFC 7519, signed as RFC 7515 compact JWS) from an identity provider.
//!
//! A token is accepted when, in this order: it has three base64url parts; its header's `alg`
//! is on the configured allowlist (never `none`, never `HS*`: see [`key`]) and it names no
//! `crit` extension; a key that fits its `kid` and `alg` verifies the signature ([`jwks`]);
//! `iss` is the configured issuer exactly; `aud` (a string or a list) holds a configured
//! audience (this server's canonical URL by default, RFC 8707); `exp` is present and not past,
//! `nbf` not in the future (both with `clock_skew`); and `sub` is a non-empty string.
//!
//! The principal is `jwt:<iss>#<sub>`: issuer-qualified so two issuers' subjects never meet.
//! Scopes come from `scope` (space separated) or else `scp` (a list or a string), or from the
//! configured `scopes_claim`; role names from `roles_claim`, and each known role adds its
//! scopes (`auth.roles`).
//!
//! Verifying signatures is done with `ring` directly (already the gateway's crypto) rather
//! than a JWT crate: ring verifies RS/PS/ES/EdDSA, the allowlist is a closed enum with no
//! symmetric member, and the few claims above are read from `serde_json` values, so there is
//! no crypto-backend feature to pick and no second implementation of the same primitives.
//! Verified tokens are remembered by their SHA-256 ([`cache`]).

mod cache;
pub mod jwks;
pub mod key;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use switchboard_config::{JwtAlgorithm, JwtConfig};
use switchboard_protocol::base64;

use crate::principal::Principal;
use cache::TokenCache;
use jwks::{KeyMiss, Keys};

/// Why a token was refused: said to the caller (RFC 6750 `invalid_token`), never with the
/// token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(&'static str),
    #[error("the token's algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("the token names a critical header extension this server does not understand")]
    Critical,
    #[error("no known key verifies the token (unknown key id or algorithm)")]
    UnknownKey,
    #[error("the token's signing keys are unavailable: {0}")]
    KeysUnavailable(String),
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token's issuer is not the one this server trusts")]
    Issuer,
    #[error("the token is not meant for this server (audience)")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's claims are invalid: {0}")]
    Claims(&'static str),
}

/// Checks tokens of one issuer.
pub struct Verifier {
    cfg: JwtConfig,
    keys: Arc<Keys>,
    cache: TokenCache,
    /// `auth.roles`: what the roles a token names grant.
    roles: Arc<crate::auth::Roles>,
}

impl Verifier {
    /// Nothing is fetched here (airgap: start never calls out); keys come with the first token.
    pub fn new(
        cfg: &JwtConfig,
        roles: Arc<crate::auth::Roles>,
        egress: switchboard_upstream::egress::EgressPolicy,
    ) -> Result<Verifier, String> {
        Ok(Verifier {
            keys: Keys::new(cfg, egress)?,
            cache: TokenCache::new(cfg.cache_size),
            cfg: cfg.clone(),
            roles,
        })
    }

    /// The configured issuer (for protected-resource metadata).
    pub fn issuer(&self) -> &str {
        &self.cfg.issuer
    }

    /// Who `token` says the caller is, if it is valid now.
    pub async fn verify(&self, token: &str) -> Result<Principal, Rejected> {
        let digest = TokenCache::digest(token);
        let now = Instant::now();
        if let Some(p) = self.cache.get(&digest, now) {
            return Ok(p);
        }
        let (principal, exp) = self.verify_fresh(token).await?;
        if !self.cfg.cache_ttl.is_zero() {
            let left = exp.saturating_sub(now_unix());
            let until = now + Duration::from_secs(left).min(self.cfg.cache_ttl);
            self.cache.insert(digest, principal.clone(), until, now);
        }
        Ok(principal)
    }

    async fn verify_fresh(&self, token: &str) -> Result<(Principal, u64), Rejected> {
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejected::Malformed("expected three dot-separated parts"));
        };
        let header: Value = decode_json(h64).ok_or(Rejected::Malformed("header"))?;
        let alg_name = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(Rejected::Malformed("no `alg` in the header"))?;
        let alg = JwtAlgorithm::from_name(alg_name)
            .filter(|a| self.cfg.algorithms.contains(a))
            .ok_or_else(|| Rejected::Algorithm(alg_name.chars().take(16).collect()))?;
        if header.get("crit").is_some() {
            return Err(Rejected::Critical);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(Rejected::Malformed("`kid` is not a string")),
        };
        let sig = base64::decode_url(s64).ok_or(Rejected::Malformed("signature encoding"))?;
        let signed = &token[..h64.len() + 1 + p64.len()];
        let ok = self
            .keys
            .verify_with(kid, alg, |k| k.verify(alg, signed.as_bytes(), &sig))
            .await
            .map_err(|m| match m {
                KeyMiss::Unknown => Rejected::UnknownKey,
                KeyMiss::Unavailable(e) => Rejected::KeysUnavailable(e),
            })?;
        if !ok {
            return Err(Rejected::Signature);
        }
        let claims: Value = decode_json(p64).ok_or(Rejected::Malformed("payload"))?;
        self.check_claims(&claims)
    }

    fn check_claims(&self, claims: &Value) -> Result<(Principal, u64), Rejected> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.cfg.issuer.as_str()) {
            return Err(Rejected::Issuer);
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => self.cfg.audiences.contains(a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.cfg.audiences.iter().any(|c| c == a)),
            _ => false,
        };
        if !aud_ok {
            return Err(Rejected::Audience);
        }
        let now = now_unix();
        let skew = self.cfg.clock_skew.as_secs();
        let exp = claims
            .get("exp")
            .and_then(numeric_date)
            .ok_or(Rejected::Claims("`exp` is required"))?;
        if now >= exp.saturating_add(skew) {
            return Err(Rejected::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf).ok_or(Rejected::Claims("`nbf` is not a number"))?;
            if now.saturating_add(skew) < nbf {
                return Err(Rejected::NotYetValid);
            }
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
            .ok_or(Rejected::Claims("`sub` must be a non-empty string"))?;
        let scopes = match &self.cfg.scopes_claim {
            Some(c) => words(claims.get(c)),
            None => match claims.get("scope") {
                Some(v) => words(Some(v)),
                None => words(claims.get("scp")),
            },
        };
        let roles = words(claims.get(&self.cfg.roles_claim));
        let id = format!("jwt:{}#{sub}", self.cfg.issuer);
        Ok((self.roles.principal(id, &scopes, &roles), exp))
    }
}

/// A claim that is a list of strings or one space-separated string.
fn words(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A NumericDate: seconds, possibly fractional; negative or absurd values are invalid.
fn numeric_date(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    (0.0..1e12).contains(&f).then_some(f as u64)
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = base64::decode_url(part)?;
    match serde_json::from_slice(&bytes).ok()? {
        v @ Value::Object(_) => Some(v),
        _ => None,
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
