//! The `auth:` block: who may call. Anonymous callers (the loopback quick start) and API keys,
//! stored only as salted SHA-256 hashes (`switchboard keys create` prints a key once and the
//! entry to paste here).

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::model::{Anonymous, ApiKey, AuthConfig};
use crate::resolve::Resolver;
use crate::validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthDoc {
    pub anonymous: Option<Scalar>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKeyDoc {
    pub name: Scalar,
    pub hash: Scalar,
    #[serde(default)]
    pub scopes: Vec<Scalar>,
    /// Seconds since the Unix epoch, or an RFC 3339 UTC time (`2027-01-31T00:00:00Z`).
    pub expires: Option<Scalar>,
}

impl Resolver<'_> {
    pub(crate) fn auth(&self, doc: AuthDoc) -> Result<AuthConfig, ConfigError> {
        let mut api_keys: Vec<ApiKey> = Vec::new();
        for k in &doc.api_keys {
            let name = self.checked(&k.name, |n| validate::check_name("a key name", n))?;
            if api_keys.iter().any(|e| e.name == name) {
                return Err(self.error(&k.name, format!("key name `{name}` is used twice")));
            }
            let hash = self.checked(&k.hash, check_hash)?;
            if api_keys.iter().any(|e| e.hash == hash) {
                return Err(self.error(&k.hash, "this key hash is listed twice"));
            }
            let scopes = self.plain_list("a scope", &k.scopes)?;
            let expires = match &k.expires {
                None => None,
                Some(s) => {
                    let text = self.text(s)?;
                    Some(parse_time(&text).ok_or_else(|| {
                        self.error(
                            s,
                            format!(
                                "`expires` must be Unix seconds or an RFC 3339 UTC time like 2027-01-31T00:00:00Z, got `{}`",
                                text.escape_debug()
                            ),
                        )
                    })?)
                }
            };
            api_keys.push(ApiKey {
                name,
                hash,
                scopes,
                expires_unix: expires,
            });
        }
        let anonymous = match &doc.anonymous {
            Some(s) => self.word(
                "anonymous",
                s,
                &[
                    ("true", Anonymous::Loopback),
                    ("false", Anonymous::Off),
                    ("force", Anonymous::Forced),
                ],
            )?,
            // With keys configured, a caller must present one.
            None if !api_keys.is_empty() => Anonymous::Off,
            None => Anonymous::Loopback,
        };
        Ok(AuthConfig {
            anonymous,
            api_keys,
        })
    }
}

/// `sha256:<16 hex salt>:<64 hex hash>`, as `switchboard keys create` prints it.
fn check_hash(h: &str) -> Result<(), String> {
    let parts: Vec<&str> = h.split(':').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if parts.len() == 3 && parts[0] == "sha256" && hex(parts[1], 16) && hex(parts[2], 64) {
        Ok(())
    } else {
        Err("`hash` must be `sha256:<16 hex>:<64 hex>` as `switchboard keys create` prints it (never the key itself)".to_owned())
    }
}

/// Unix seconds from `1767225600` or `2026-01-01T00:00:00Z`.
pub fn parse_time(text: &str) -> Option<u64> {
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 || y < 1970
    {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2026-12-05T12:00:00Z"), Some(1_796_472_000));
        assert_eq!(parse_time("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_time("42"), Some(42));
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_time("2026-12-05 12:00:00"), None);
    }
}
