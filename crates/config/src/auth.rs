//! The `auth:` block: who may call. Anonymous callers (the loopback quick start), API keys
//! stored only as salted SHA-256 hashes (`switchboard keys create` prints a key once and the
//! entry to paste here), a keys file re-read when it changes, JWT bearer tokens, and roles.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::limits::RateDoc;
use crate::model::{
    Anonymous, ApiKey, AuthConfig, DEFAULT_CLOCK_SKEW, DEFAULT_JWKS_REFETCH_INTERVAL,
    DEFAULT_JWKS_TTL, DEFAULT_TOKEN_CACHE_SIZE, DEFAULT_TOKEN_CACHE_TTL, JwtAlgorithm, JwtConfig,
    JwtKeys, Role,
};
use crate::ordered_map::OrderedMap;
use crate::resolve::Resolver;
use crate::validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthDoc {
    pub anonymous: Option<Scalar>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyDoc>,
    pub keys_file: Option<Scalar>,
    pub jwt: Option<JwtDoc>,
    pub roles: Option<OrderedMap<Scalar, RoleDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKeyDoc {
    pub name: Scalar,
    pub hash: Scalar,
    #[serde(default)]
    pub scopes: Vec<Scalar>,
    #[serde(default)]
    pub roles: Vec<Scalar>,
    /// Seconds since the Unix epoch, or an RFC 3339 UTC time (`2027-01-31T00:00:00Z`).
    pub expires: Option<Scalar>,
}

/// A keys file: `api_keys:` and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysFileDoc {
    #[serde(default)]
    pub api_keys: Vec<ApiKeyDoc>,
}

/// A role: the scopes it grants as a plain list (`reader: [mcp.tools.read]`), or a map with
/// scopes, item globs and rate limits.
#[derive(Debug)]
pub(crate) enum RoleDoc {
    Scopes(Vec<Scalar>),
    Full(Box<RoleMapDoc>),
}

// By hand rather than `untagged`: a mistake inside the map form (an unknown key, a bad value)
// is reported as itself, not as "no variant matched".
impl<'de> Deserialize<'de> for RoleDoc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RoleDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of scopes, or a mapping with `scopes`, `allow`, `deny`, `rate`")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<RoleDoc, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(RoleDoc::Scopes)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RoleDoc, A::Error> {
                RoleMapDoc::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|m| RoleDoc::Full(Box::new(m)))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleMapDoc {
    #[serde(default)]
    pub scopes: Vec<Scalar>,
    #[serde(default)]
    pub allow: Vec<Scalar>,
    #[serde(default)]
    pub deny: Vec<Scalar>,
    pub rate: Option<RateDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JwtDoc {
    pub issuer: Scalar,
    pub audience: Option<Scalar>,
    #[serde(default)]
    pub algorithms: Vec<Scalar>,
    pub clock_skew: Option<Scalar>,
    pub jwks_url: Option<Scalar>,
    pub discovery: Option<Scalar>,
    pub pem: Option<PemDoc>,
    pub scopes_claim: Option<Scalar>,
    pub roles_claim: Option<Scalar>,
    pub jwks_ttl: Option<Scalar>,
    pub jwks_refetch_interval: Option<Scalar>,
    pub cache_ttl: Option<Scalar>,
    pub cache_size: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PemDoc {
    pub file: Scalar,
}

impl Resolver<'_> {
    pub(crate) fn auth(
        &self,
        doc: AuthDoc,
        public_url: Option<&str>,
    ) -> Result<AuthConfig, ConfigError> {
        let mut roles: Vec<Role> = Vec::new();
        for (key, role) in doc.roles.map(|r| r.0).unwrap_or_default() {
            let name = self.checked(&key, |n| validate::check_name("a role name", n))?;
            if roles.iter().any(|r| r.name == name) {
                return Err(self.error(&key, format!("role `{name}` is defined twice")));
            }
            roles.push(self.role(name, role)?);
        }
        let role_names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        let api_keys = self.api_keys(&doc.api_keys, &role_names)?;
        let (keys_file, file_keys) = match &doc.keys_file {
            None => (None, Vec::new()),
            Some(s) => {
                let text = self.checked(s, |p| {
                    if p.is_empty() {
                        return Err("`keys_file` must not be empty".to_owned());
                    }
                    validate::check_no_nul("`keys_file`", p)
                })?;
                let path = self.base_dir.join(text);
                let keys = load_keys_file(&path, self.env, &role_names)?;
                if let Some(k) = keys
                    .iter()
                    .find(|k| api_keys.iter().any(|a| a.name == k.name))
                {
                    return Err(self.error(
                        s,
                        format!(
                            "key name `{}` is in both auth.api_keys and the keys file",
                            k.name
                        ),
                    ));
                }
                (Some(path), keys)
            }
        };
        let jwt = match doc.jwt {
            Some(j) => Some(self.jwt(j, public_url)?),
            None => None,
        };
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
            // With any credential configured, a caller must present one.
            None if !api_keys.is_empty() || keys_file.is_some() || jwt.is_some() => Anonymous::Off,
            None => Anonymous::Loopback,
        };
        Ok(AuthConfig {
            anonymous,
            api_keys,
            keys_file,
            file_keys,
            jwt,
            roles,
        })
    }

    fn role(&self, name: String, doc: RoleDoc) -> Result<Role, ConfigError> {
        let doc = match doc {
            RoleDoc::Scopes(scopes) => RoleMapDoc {
                scopes,
                allow: Vec::new(),
                deny: Vec::new(),
                rate: None,
            },
            RoleDoc::Full(m) => *m,
        };
        let globs = |list: &[Scalar]| self.plain_list("a role's item glob", list);
        let rate = |key: &str, s: Option<&Scalar>| s.map(|s| self.rate(key, s)).transpose();
        Ok(Role {
            scopes: self.scopes("auth.roles", &doc.scopes)?,
            allow: globs(&doc.allow)?,
            deny: globs(&doc.deny)?,
            rate_per_principal: rate(
                "per_principal",
                doc.rate.as_ref().and_then(|r| r.per_principal.as_ref()),
            )?,
            rate_per_tool: rate(
                "per_tool",
                doc.rate.as_ref().and_then(|r| r.per_tool.as_ref()),
            )?,
            name,
        })
    }

    fn api_keys(&self, docs: &[ApiKeyDoc], roles: &[&str]) -> Result<Vec<ApiKey>, ConfigError> {
        let mut api_keys: Vec<ApiKey> = Vec::new();
        for k in docs {
            let name = self.checked(&k.name, |n| validate::check_name("a key name", n))?;
            if api_keys.iter().any(|e| e.name == name) {
                return Err(self.error(&k.name, format!("key name `{name}` is used twice")));
            }
            let hash = self.checked(&k.hash, check_hash)?;
            if api_keys.iter().any(|e| e.hash == hash) {
                return Err(self.error(&k.hash, "this key hash is listed twice"));
            }
            let scopes = self.plain_list("a scope", &k.scopes)?;
            let mut key_roles = Vec::new();
            for r in &k.roles {
                let role = self.text(r)?;
                if !roles.contains(&role.as_str()) {
                    return Err(self.error(
                        r,
                        format!(
                            "role `{}` is not defined under auth.roles",
                            role.escape_debug()
                        ),
                    ));
                }
                key_roles.push(role);
            }
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
                roles: key_roles,
                expires_unix: expires,
            });
        }
        Ok(api_keys)
    }

    fn jwt(&self, doc: JwtDoc, public_url: Option<&str>) -> Result<JwtConfig, ConfigError> {
        let issuer = self.checked(&doc.issuer, validate::check_http_url)?;
        let mut audiences = Vec::new();
        if let Some(a) = &doc.audience {
            audiences.push(self.checked(a, |t| validate::check_plain("an audience", t))?);
        }
        if audiences.is_empty() {
            match public_url {
                // The `/mcp` endpoint's canonical URL, and the gateway's own (the resource the
                // root protected-resource metadata names).
                Some(base) => audiences.extend([format!("{base}/mcp"), base.to_owned()]),
                None => {
                    return Err(self.error(
                        &doc.issuer,
                        "auth.jwt needs `audience`, or `http.public_url` (the audience then defaults to `<public_url>/mcp`, this server's canonical URL per RFC 8707)",
                    ));
                }
            }
        }
        let mut algorithms = Vec::new();
        for a in &doc.algorithms {
            let name = self.text(a)?;
            let alg = JwtAlgorithm::from_name(&name).ok_or_else(|| {
                let why = if name.eq_ignore_ascii_case("none") {
                    "`none` (an unsigned token) is never accepted".to_owned()
                } else if name.starts_with("HS") {
                    format!("`{name}` is refused: switchboard verifies only asymmetric signatures (a shared secret lets every verifier sign; HS with a public key is the algorithm-confusion forgery)")
                } else {
                    let known: Vec<&str> = JwtAlgorithm::ALL.iter().map(|a| a.name()).collect();
                    format!(
                        "unknown algorithm `{}`: expected one of {}",
                        name.escape_debug(),
                        known.join(", ")
                    )
                };
                self.error(a, why)
            })?;
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        if algorithms.is_empty() {
            algorithms = vec![JwtAlgorithm::Rs256, JwtAlgorithm::Es256];
        }
        let discovery = match &doc.discovery {
            Some(s) => self.boolean("discovery", s)?,
            None => false,
        };
        let keys = match (&doc.jwks_url, discovery, &doc.pem) {
            (Some(url), false, None) => {
                JwtKeys::JwksUrl(self.checked(url, validate::check_http_url)?)
            }
            (None, true, None) => JwtKeys::Discovery,
            (None, false, Some(pem)) => {
                let text = self.checked(&pem.file, |p| validate::check_no_nul("`pem.file`", p))?;
                let path = self.base_dir.join(text);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    self.error(
                        &pem.file,
                        format!("cannot read the PEM file {}: {e}", path.display()),
                    )
                })?;
                if !text.contains("-----BEGIN PUBLIC KEY-----") {
                    return Err(self.error(
                        &pem.file,
                        format!(
                            "{} holds no `-----BEGIN PUBLIC KEY-----` block (an SPKI public key)",
                            path.display()
                        ),
                    ));
                }
                JwtKeys::Pem { path, text }
            }
            _ => {
                return Err(self.error(
                    &doc.issuer,
                    "auth.jwt needs exactly one source of keys: `jwks_url`, `discovery: true`, or `pem: { file }`",
                ));
            }
        };
        let claim = |s: &Option<Scalar>| -> Result<Option<String>, ConfigError> {
            s.as_ref()
                .map(|s| self.checked(s, |t| validate::check_plain("a claim name", t)))
                .transpose()
        };
        Ok(JwtConfig {
            issuer,
            audiences,
            algorithms,
            clock_skew: self.duration_or_zero("clock_skew", &doc.clock_skew, DEFAULT_CLOCK_SKEW)?,
            keys,
            scopes_claim: claim(&doc.scopes_claim)?,
            roles_claim: claim(&doc.roles_claim)?.unwrap_or_else(|| "roles".to_owned()),
            jwks_ttl: self.duration_or("jwks_ttl", &doc.jwks_ttl, DEFAULT_JWKS_TTL)?,
            jwks_refetch_interval: self.duration_or(
                "jwks_refetch_interval",
                &doc.jwks_refetch_interval,
                DEFAULT_JWKS_REFETCH_INTERVAL,
            )?,
            cache_ttl: self.duration_or_zero(
                "cache_ttl",
                &doc.cache_ttl,
                DEFAULT_TOKEN_CACHE_TTL,
            )?,
            cache_size: self.count_or("cache_size", &doc.cache_size, DEFAULT_TOKEN_CACHE_SIZE)?,
        })
    }
}

/// Reads a keys file (`api_keys:` entries as in the config): at load, and again whenever it
/// changes. `roles` are the role names the config defines.
pub fn load_keys_file(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    roles: &[&str],
) -> Result<Vec<ApiKey>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole(&file, format!("cannot read the keys file: {e}")))?;
    // An empty file holds no keys (every key revoked), rather than being an error.
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Vec::new());
    }
    let doc: KeysFileDoc =
        serde_saphyr::from_str(&text).map_err(|e| ConfigError::from_yaml(&file, &e))?;
    let base: PathBuf = path.parent().map(Path::to_owned).unwrap_or_default();
    let resolver = Resolver {
        file: &file,
        env,
        base_dir: &base,
        // A keys file has no upstreams.
        builtins: &|_, _| Ok(()),
        expand: true,
    };
    resolver.api_keys(&doc.api_keys, roles)
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
    use crate::{Anonymous, JwtAlgorithm, JwtKeys, parse};

    fn auth(yaml: &str) -> Result<crate::AuthConfig, String> {
        parse(&format!("{yaml}upstreams: {{}}\n"), "t.yaml", &|_| None)
            .map(|c| c.auth)
            .map_err(|e| e.to_string())
    }

    const HASH: &str =
        "sha256:0011223344556677:0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn jwt_settings_and_their_defaults() {
        let a = auth(
            "http: { public_url: \"https://gw.example.com/\" }\nauth:\n  jwt: { issuer: \"https://idp.example.com\", jwks_url: \"https://idp.example.com/jwks\" }\n",
        )
        .unwrap();
        let j = a.jwt.unwrap();
        assert_eq!(
            j.audiences,
            ["https://gw.example.com/mcp", "https://gw.example.com"]
        );
        assert_eq!(j.algorithms, [JwtAlgorithm::Rs256, JwtAlgorithm::Es256]);
        assert_eq!(
            j.keys,
            JwtKeys::JwksUrl("https://idp.example.com/jwks".into())
        );
        assert_eq!(j.roles_claim, "roles");
        assert_eq!(j.scopes_claim, None);
        // A JWT configured means callers must authenticate.
        assert_eq!(a.anonymous, Anonymous::Off);
    }

    #[test]
    fn unsafe_or_incomplete_jwt_settings_are_errors() {
        let base = "auth:\n  jwt: { issuer: \"https://idp.example.com\", audience: a, ";
        for (rest, says) in [
            (
                "jwks_url: \"https://i/j\", algorithms: [none] }",
                "never accepted",
            ),
            (
                "jwks_url: \"https://i/j\", algorithms: [HS256] }",
                "asymmetric",
            ),
            (
                "jwks_url: \"https://i/j\", algorithms: [XX1] }",
                "unknown algorithm",
            ),
            ("algorithms: [RS256] }", "exactly one source"),
            (
                "jwks_url: \"https://i/j\", discovery: true }",
                "exactly one source",
            ),
            ("jwks_url: \"ftp://i/j\" }", "http"),
        ] {
            let e = auth(&format!("{base}{rest}\n")).unwrap_err();
            assert!(e.contains(says), "{rest}: {e}");
        }
        let e = auth("auth:\n  jwt: { issuer: \"https://i\", jwks_url: \"https://i/j\" }\n")
            .unwrap_err();
        assert!(e.contains("public_url"), "{e}");
    }

    #[test]
    fn roles_must_exist_for_the_keys_that_name_them() {
        let ok = auth(&format!(
            "auth:\n  roles: {{ reader: {{ scopes: [mcp.tools.read] }} }}\n  api_keys:\n    - {{ name: k, hash: \"{HASH}\", roles: [reader] }}\n"
        ))
        .unwrap();
        assert_eq!(ok.roles.len(), 1);
        assert_eq!(ok.roles[0].name, "reader");
        assert_eq!(ok.roles[0].scopes, ["mcp.tools.read"]);
        assert_eq!(ok.api_keys[0].roles, ["reader"]);
        let e = auth(&format!(
            "auth:\n  api_keys:\n    - {{ name: k, hash: \"{HASH}\", roles: [admin] }}\n"
        ))
        .unwrap_err();
        assert!(e.contains("role `admin` is not defined"), "{e}");
    }

    #[test]
    fn roles_as_a_scope_list_or_a_map_with_globs_and_rates() {
        let a = auth(
            "auth:\n  roles:\n    reader: [mcp.tools.read, mcp.resources.read]\n    ops: { scopes: [mcp.invoke], allow: [\"fred*\"], deny: [\"*delete*\"], rate: { per_principal: 5/s, per_tool: 2/m } }\n",
        )
        .unwrap();
        let [reader, ops] = &a.roles[..] else {
            panic!("{:?}", a.roles)
        };
        assert_eq!(reader.scopes, ["mcp.tools.read", "mcp.resources.read"]);
        assert!(!reader.has_globs() && reader.rate_per_principal.is_none());
        assert_eq!(ops.allow, ["fred*"]);
        assert!(ops.admits("fred__get") && !ops.admits("fred__delete_x") && !ops.admits("x"));
        assert_eq!(ops.rate_per_principal.map(|r| r.count), Some(5));
        assert_eq!(
            ops.rate_per_tool.map(|r| r.per),
            Some(std::time::Duration::from_secs(60))
        );
        for (yaml, says) in [
            (
                "r: { scopes: [a], rate: { per_principal: fast } }",
                "rate like",
            ),
            ("r: { scope: [a] }", "unknown field `scope`"),
            ("r: 5", "a list of scopes, or a mapping"),
            ("r: [\"a b\"]", "scope"),
        ] {
            let e = auth(&format!("auth:\n  roles: {{ {yaml} }}\n")).unwrap_err();
            assert!(e.contains(says), "{yaml}: {e}");
        }
    }

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
