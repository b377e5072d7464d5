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
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use ring::rand::{SecureRandom, SystemRandom};
use switchboard_config::{Anonymous, ApiKey, AuthConfig};
use switchboard_protocol::{ErrorCode, RpcError};

use crate::jwt::Verifier;
use crate::principal::{Credentials, Principal};

/// Prefix of every switchboard API key.
pub const KEY_PREFIX: &str = "sb_";

/// The caller is not authenticated (HTTP 401 with `WWW-Authenticate`).
pub const UNAUTHENTICATED: ErrorCode = ErrorCode(-31040);
/// The caller lacks a scope the request needs (HTTP 403, `X-Required-Scopes`).
pub const FORBIDDEN: ErrorCode = ErrorCode(-31041);

/// The scopes the gateway itself asks for, one per method family (RFC 9728 `scopes_supported`).
pub const METHOD_SCOPES: [&str; 4] = [
    "mcp.tools.read",
    "mcp.invoke",
    "mcp.prompts.read",
    "mcp.resources.read",
];

/// `error.data.reason` of a 401 whose credential was presented and refused (RFC 6750
/// `invalid_token`), as opposed to one with no credential at all.
pub const INVALID_TOKEN: &str = "invalid_token";

struct Key {
    principal: Principal,
    hash: [u8; 32],
    expires_unix: Option<u64>,
}

/// `auth.roles`, by name: what holding a role adds to a principal.
#[derive(Debug, Default)]
pub struct Roles {
    by_name: HashMap<String, u16>,
    roles: Vec<switchboard_config::Role>,
}

impl Roles {
    pub fn new(roles: &[switchboard_config::Role]) -> Roles {
        Roles {
            by_name: roles
                .iter()
                .enumerate()
                .filter_map(|(i, r)| Some((r.name.clone(), u16::try_from(i).ok()?)))
                .collect(),
            roles: roles.to_vec(),
        }
    }

    /// A vouched principal `id` with its own `scopes` plus those of the configured roles among
    /// `roles` (names nobody configured are ignored), holding those roles.
    pub(crate) fn principal(&self, id: String, scopes: &[String], roles: &[String]) -> Principal {
        let mut all = scopes.to_vec();
        let mut held: Vec<u16> = Vec::new();
        for name in roles {
            let Some(&i) = self.by_name.get(name) else {
                continue;
            };
            if held.contains(&i) {
                continue;
            }
            held.push(i);
            for s in &self.roles[usize::from(i)].scopes {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
        }
        // In config order, so a tie below goes to the role defined first whatever the order a
        // credential names them in.
        held.sort_unstable();
        // The most generous of its roles' rates (requests per second) wins; a role that sets
        // only `per_tool` still takes the principal out of `limits.rate.per_principal`.
        let per_second = |r: Option<switchboard_config::Rate>| {
            r.map_or(0.0, |r| f64::from(r.count) / r.per.as_secs_f64().max(1e-9))
        };
        let rate_role = held
            .iter()
            .copied()
            .filter(|&i| {
                let r = &self.roles[usize::from(i)];
                r.rate_per_principal.is_some() || r.rate_per_tool.is_some()
            })
            .max_by(|&a, &b| {
                let (a, b) = (&self.roles[usize::from(a)], &self.roles[usize::from(b)]);
                (
                    per_second(a.rate_per_principal),
                    per_second(a.rate_per_tool),
                )
                    .partial_cmp(&(
                        per_second(b.rate_per_principal),
                        per_second(b.rate_per_tool),
                    ))
                    .unwrap_or(std::cmp::Ordering::Equal)
                    // On a tie, the role defined first.
                    .then(std::cmp::Ordering::Greater)
            });
        Principal::vouched(id, all).with_roles(held, rate_role)
    }
}

/// The configured ways in.
pub struct Auth {
    anonymous: bool,
    /// `auth.api_keys`, kept to rebuild the table when the keys file changes.
    inline: Vec<ApiKey>,
    /// By salt (hex): the inline keys and the keys file's, swapped whole when the file changes.
    keys: ArcSwap<HashMap<String, Key>>,
    roles: Arc<Roles>,
    jwt: Option<Verifier>,
}

impl Auth {
    /// `egress`: what the JWKS and discovery URLs may be (the gateway's egress policy).
    pub fn new(cfg: &AuthConfig, egress: switchboard_upstream::egress::EgressPolicy) -> Auth {
        let roles = Arc::new(Roles::new(&cfg.roles));
        let jwt =
            cfg.jwt
                .as_ref()
                .and_then(|j| match Verifier::new(j, roles.clone(), egress.clone()) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        // The config loader read the PEM already; failing here means it holds no usable
                        // key. Fail closed: no token is accepted.
                        tracing::error!("auth.jwt: {e}; no JWT will be accepted");
                        None
                    }
                });
        let auth = Auth {
            anonymous: cfg.anonymous != Anonymous::Off,
            inline: cfg.api_keys.clone(),
            keys: ArcSwap::from_pointee(HashMap::new()),
            roles,
            jwt,
        };
        auth.replace_file_keys(&cfg.file_keys);
        auth
    }

    /// The key table becomes the inline keys plus `file_keys`.
    pub fn replace_file_keys(&self, file_keys: &[ApiKey]) {
        let table = self
            .inline
            .iter()
            .chain(file_keys)
            .filter_map(|k| {
                let mut parts = k.hash.split(':').skip(1);
                let salt = parts.next()?.to_ascii_lowercase();
                let hash = unhex32(parts.next()?)?;
                let principal =
                    self.roles
                        .principal(format!("key:{}", k.name), &k.scopes, &k.roles);
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
        self.keys.store(Arc::new(table));
    }

    pub fn jwt_issuer(&self) -> Option<&str> {
        self.jwt.as_ref().map(Verifier::issuer)
    }

    pub async fn authenticate(&self, credentials: Credentials<'_>) -> Result<Principal, RpcError> {
        let Some(auth) = credentials.authorization else {
            if self.anonymous {
                return Ok(Principal::anonymous());
            }
            return Err(unauthenticated(if self.jwt.is_some() {
                "authentication required: send Authorization: Bearer <API key or access token>"
            } else {
                "authentication required: send Authorization: Bearer <API key>"
            }));
        };
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| invalid("the Authorization header must be `Bearer <credential>`"))?;
        if let Some(rest) = token.strip_prefix(KEY_PREFIX) {
            return self.api_key(rest);
        }
        match &self.jwt {
            Some(v) => v.verify(token).await.map_err(|r| invalid(&r.to_string())),
            None => Err(invalid(
                "the bearer credential is not a switchboard API key",
            )),
        }
    }

    fn api_key(&self, rest: &str) -> Result<Principal, RpcError> {
        let (salt, secret) = rest
            .split_once('_')
            .ok_or_else(|| invalid("invalid API key"))?;
        let keys = self.keys.load();
        // Salts are written lower case; only an upper-cased key pays for the conversion.
        let key = keys
            .get(salt)
            .or_else(|| keys.get(&salt.to_ascii_lowercase()))
            .ok_or_else(|| invalid("invalid API key"))?;
        let salt_bytes = unhex(salt).ok_or_else(|| invalid("invalid API key"))?;
        if !constant_time_eq(&digest(&salt_bytes, secret), &key.hash) {
            return Err(invalid("invalid API key"));
        }
        if key.expires_unix.is_some_and(|at| now_unix() >= at) {
            return Err(invalid("the API key has expired"));
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
    RpcError::new(UNAUTHENTICATED, message)
}

/// A credential was presented and refused.
fn invalid(message: &str) -> RpcError {
    unauthenticated(message).with_str("reason", INVALID_TOKEN)
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
                roles: vec!["reader".into()],
                expires_unix: expires,
            }],
            roles: vec![switchboard_config::Role {
                name: "reader".into(),
                scopes: vec!["mcp.tools.read".into()],
                ..Default::default()
            }],
            ..AuthConfig::default()
        };
        (
            Auth::new(&cfg, switchboard_upstream::egress::EgressPolicy::strict()),
            key,
        )
    }

    impl Auth {
        fn authenticate_now(&self, c: Credentials<'_>) -> Result<Principal, RpcError> {
            futures::executor::block_on(self.authenticate(c))
        }
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
            .authenticate_now(Credentials {
                authorization: Some(&b),
            })
            .unwrap();
        assert_eq!(p.id(), "key:ci");
        // Its own scopes and its role's.
        assert_eq!(
            p.scopes(),
            ["mcp.invoke".to_owned(), "mcp.tools.read".to_owned()]
        );
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
                .authenticate_now(Credentials {
                    authorization: cred.as_deref(),
                })
                .unwrap_err();
            assert_eq!(e.code, UNAUTHENTICATED, "{cred:?}");
            let presented = cred.is_some();
            assert_eq!(
                e.data()
                    .iter()
                    .any(|(k, v)| k == "reason" && v.contains(INVALID_TOKEN)),
                presented,
                "{cred:?}"
            );
        }
    }

    #[test]
    fn roles_add_scopes_once_and_the_most_generous_rate_wins() {
        use switchboard_config::{Rate, Role};
        let rate = |count, secs| {
            Some(Rate {
                count,
                per: std::time::Duration::from_secs(secs),
            })
        };
        let role = |name: &str, scopes: &[&str], per_principal| Role {
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            rate_per_principal: per_principal,
            ..Role::default()
        };
        let roles = Roles::new(&[
            role("slow", &["a"], rate(5, 1)),
            role("fast", &["a", "b"], rate(600, 60)),
            role("plain", &["c"], None),
            role("same", &[], rate(10, 1)),
        ]);
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = roles.principal(
            "key:k".into(),
            &names(&["b"]),
            &names(&["slow", "fast", "plain", "nope"]),
        );
        assert_eq!(p.scopes(), ["b", "a", "c"]);
        assert_eq!(p.roles(), [0, 1, 2], "an undefined role is no role");
        assert_eq!(p.rate_role(), Some(1), "600/m beats 5/s");
        let p = roles.principal("key:k".into(), &[], &names(&["plain"]));
        assert_eq!(p.rate_role(), None);
        // A tie (10/s and 600/m): the role listed first in the config.
        let p = roles.principal("key:k".into(), &[], &names(&["same", "fast"]));
        assert_eq!(p.rate_role(), Some(1));
    }

    #[test]
    fn anonymous_only_when_allowed_and_expired_keys_fail() {
        let (a, _) = auth(Anonymous::Loopback, None);
        assert_eq!(
            a.authenticate_now(Credentials::default()).unwrap().id(),
            "anonymous"
        );
        let (a, key) = auth(Anonymous::Off, Some(1));
        let b = bearer(&key);
        let e = a
            .authenticate_now(Credentials {
                authorization: Some(&b),
            })
            .unwrap_err();
        assert!(e.message.contains("expired"), "{}", e.message);
    }
}
