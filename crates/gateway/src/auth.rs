//! Authentication: who a caller is, from what its transport saw ([`Credentials`]).
//!
//! **API keys** look like `sb_<salt>_<secret>`: the `sb_` prefix lets secret scanners find a
//! leaked one; `<salt>` (16 hex) names the entry, `<secret>` (43 base64url characters, 256
//! random bits) is the part only the holder knows. The config stores `sha256:<salt>:<hash>`
//! with hash = SHA-256(salt bytes ‖ secret): the key itself is never stored, a lookup is one
//! map probe and one hash, and the comparison takes constant time. A 256-bit secret needs no
//! slow password hash: there is no dictionary to try.
//!
//! **Anonymous** callers are served only when `auth.anonymous` allows it (the loopback quick
//! start; `switchboard serve` refuses a public listener without `force`).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};
use switchboard_config::{Anonymous, AuthConfig};
use switchboard_protocol::{ErrorCode, RpcError};

use crate::principal::{Credentials, Principal};

/// Prefix of every switchboard API key.
pub const KEY_PREFIX: &str = "sb_";

/// The caller is not authenticated (HTTP 401 with `WWW-Authenticate`).
pub const UNAUTHENTICATED: ErrorCode = ErrorCode(-31040);
/// The caller lacks a scope the request needs (HTTP 403, `X-Required-Scopes`).
pub const FORBIDDEN: ErrorCode = ErrorCode(-31041);

struct Key {
    principal: Principal,
    hash: [u8; 32],
    expires_unix: Option<u64>,
}

/// The configured ways in.
pub struct Auth {
    anonymous: bool,
    /// By salt (hex).
    keys: HashMap<String, Key>,
}

impl Auth {
    pub fn new(cfg: &AuthConfig) -> Auth {
        let keys = cfg
            .api_keys
            .iter()
            .filter_map(|k| {
                let mut parts = k.hash.split(':').skip(1);
                let salt = parts.next()?.to_ascii_lowercase();
                let hash = unhex32(parts.next()?)?;
                let principal = Principal::key(&k.name, &k.scopes);
                Some((
                    salt,
                    Key {
                        principal,
                        hash,
                        expires_unix: k.expires_unix,
                    },
                ))
            })
            .collect();
        Auth {
            anonymous: cfg.anonymous != Anonymous::Off,
            keys,
        }
    }

    pub fn authenticate(&self, credentials: Credentials<'_>) -> Result<Principal, RpcError> {
        let Some(auth) = credentials.authorization else {
            if self.anonymous {
                return Ok(Principal::anonymous());
            }
            return Err(unauthenticated(
                "authentication required: send Authorization: Bearer <API key>",
            ));
        };
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                unauthenticated("the Authorization header must be `Bearer <API key>`")
            })?;
        let Some(rest) = token.strip_prefix(KEY_PREFIX) else {
            return Err(unauthenticated(
                "the bearer credential is not a switchboard API key",
            ));
        };
        let (salt, secret) = rest
            .split_once('_')
            .ok_or_else(|| unauthenticated("invalid API key"))?;
        let key = self
            .keys
            .get(&salt.to_ascii_lowercase())
            .ok_or_else(|| unauthenticated("invalid API key"))?;
        let salt_bytes = unhex(salt).ok_or_else(|| unauthenticated("invalid API key"))?;
        if !constant_time_eq(&digest(&salt_bytes, secret), &key.hash) {
            return Err(unauthenticated("invalid API key"));
        }
        if key.expires_unix.is_some_and(|at| now_unix() >= at) {
            return Err(unauthenticated("the API key has expired"));
        }
        Ok(key.principal.clone())
    }
}

/// A new key and the `hash` entry that admits it (for `switchboard keys create`).
pub fn create_key() -> Result<(String, String), String> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 8];
    let mut secret = [0u8; 32];
    rng.fill(&mut salt)
        .and_then(|()| rng.fill(&mut secret))
        .map_err(|_| "the system's random source failed".to_owned())?;
    let salt_hex = hex(&salt);
    let secret = base64url(&secret);
    let key = format!("{KEY_PREFIX}{salt_hex}_{secret}");
    let hash = format!("sha256:{salt_hex}:{}", hex(&digest(&salt, &secret)));
    Ok((key, hash))
}

fn unauthenticated(message: &str) -> RpcError {
    RpcError::new(UNAUTHENTICATED, message).with_str("category", "unauthenticated")
}

fn digest(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(salt);
    ctx.update(secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    unhex(s)?.try_into().ok()
}

fn base64url(bytes: &[u8]) -> String {
    switchboard_protocol::base64::encode_url(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_config::ApiKey;

    fn auth(anonymous: Anonymous, expires: Option<u64>) -> (Auth, String) {
        let (key, hash) = create_key().unwrap();
        let cfg = AuthConfig {
            anonymous,
            api_keys: vec![ApiKey {
                name: "ci".into(),
                hash,
                scopes: vec!["mcp.invoke".into()],
                expires_unix: expires,
            }],
        };
        (Auth::new(&cfg), key)
    }

    fn bearer(v: &str) -> String {
        format!("Bearer {v}")
    }

    #[test]
    fn a_created_key_authenticates_and_nothing_else_does() {
        let (a, key) = auth(Anonymous::Off, None);
        assert!(
            key.starts_with("sb_") && key.len() == 3 + 16 + 1 + 43,
            "{key}"
        );
        let b = bearer(&key);
        let p = a
            .authenticate(Credentials {
                authorization: Some(&b),
            })
            .unwrap();
        assert_eq!(p.id(), "key:ci");
        assert_eq!(p.scopes(), ["mcp.invoke".to_owned()]);
        // One character off, another key, no key, not a key.
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('A') { 'B' } else { 'A' });
        let (_, other) = auth(Anonymous::Off, None);
        for cred in [
            Some(bearer(&wrong)),
            Some(bearer(&other)),
            None,
            Some("Basic eDp5".into()),
            Some(bearer("eyJhbGciOi.x.y")),
        ] {
            let e = a
                .authenticate(Credentials {
                    authorization: cred.as_deref(),
                })
                .unwrap_err();
            assert_eq!(e.code, UNAUTHENTICATED, "{cred:?}");
        }
    }

    #[test]
    fn anonymous_only_when_allowed_and_expired_keys_fail() {
        let (a, _) = auth(Anonymous::Loopback, None);
        assert_eq!(
            a.authenticate(Credentials::default()).unwrap().id(),
            "anonymous"
        );
        let (a, key) = auth(Anonymous::Off, Some(1));
        let b = bearer(&key);
        let e = a
            .authenticate(Credentials {
                authorization: Some(&b),
            })
            .unwrap_err();
        assert!(e.message.contains("expired"), "{}", e.message);
    }
}
