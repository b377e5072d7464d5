//! The config of what the gateway sends out: SSRF strict mode (`allow_private_upstreams`, its
//! environment variable, and each upstream's `outbound: { allow }` networks), proxies
//! (`outbound: { proxy }`, global and per upstream), outbound TLS (`outbound: { tls }`) and the
//! credentials an HTTP upstream is sent (`credentials:`). Shapes as written, and how they resolve.
//! The rules themselves are enforced by `switchboard_upstream::egress`.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::model::{Credentials, IpNet, Outbound, OutboundTls, ProxySetting, Secret};
use crate::resolve::Resolver;
use crate::validate;

/// The environment variable that overrides `allow_private_upstreams`.
pub const ALLOW_PRIVATE_ENV: &str = "SWITCHBOARD_ALLOW_PRIVATE_UPSTREAMS";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutboundDoc {
    #[serde(default)]
    pub allow: Vec<Scalar>,
    pub proxy: Option<Scalar>,
    pub tls: Option<TlsDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsDoc {
    pub ca: Option<Scalar>,
    pub client_cert: Option<Scalar>,
    pub client_key: Option<Scalar>,
    pub insecure_skip_verify: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialsDoc {
    pub bearer: Option<Scalar>,
    pub basic: Option<BasicDoc>,
    pub client_credentials: Option<ClientCredentialsDoc>,
    pub token_exchange: Option<TokenExchangeDoc>,
    pub passthrough: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenExchangeDoc {
    pub token_url: Scalar,
    pub client_id: Option<Scalar>,
    pub client_secret: Option<Scalar>,
    pub audience: Option<Scalar>,
    pub resource: Option<Scalar>,
    #[serde(default)]
    pub scopes: Vec<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientCredentialsDoc {
    pub token_url: Scalar,
    pub client_id: Scalar,
    pub client_secret: Scalar,
    #[serde(default)]
    pub scopes: Vec<Scalar>,
    pub audience: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BasicDoc {
    pub username: Scalar,
    pub password: Scalar,
}

impl Resolver<'_> {
    /// `allow_private_upstreams`: the environment variable when set and non-empty, else the
    /// file's value, else `None` (loopback only, and only while the gateway listens on loopback).
    pub(crate) fn allow_private(&self, file: Option<&Scalar>) -> Result<Option<bool>, ConfigError> {
        if let Some(value) = (self.env)(ALLOW_PRIVATE_ENV).filter(|v| !v.is_empty()) {
            return match value.as_str() {
                "true" | "True" | "TRUE" | "1" => Ok(Some(true)),
                "false" | "False" | "FALSE" | "0" => Ok(Some(false)),
                _ => Err(ConfigError::whole(
                    self.file,
                    format!(
                        "{ALLOW_PRIVATE_ENV} must be `true` or `false`, got `{}`",
                        value.escape_debug()
                    ),
                )),
            };
        }
        file.map(|s| self.boolean("allow_private_upstreams", s))
            .transpose()
    }

    /// The top-level `outbound:` block: only `proxy` is allowed there.
    pub(crate) fn global_outbound(
        &self,
        doc: Option<OutboundDoc>,
    ) -> Result<Option<ProxySetting>, ConfigError> {
        let Some(doc) = doc else {
            return Ok(None);
        };
        if let Some(first) = doc.allow.first() {
            return Err(self.error(
                first,
                "`outbound.allow` is per upstream; the gateway-wide switch is `allow_private_upstreams`",
            ));
        }
        if doc.tls.is_some() {
            return Err(ConfigError::whole(
                self.file,
                "`outbound.tls` is per upstream (`upstreams.NAME.outbound.tls`)",
            ));
        }
        doc.proxy.as_ref().map(|s| self.proxy(s)).transpose()
    }

    /// An upstream's `outbound:` block.
    pub(crate) fn outbound(&self, doc: Option<OutboundDoc>) -> Result<Outbound, ConfigError> {
        let Some(doc) = doc else {
            return Ok(Outbound::default());
        };
        let allow = doc
            .allow
            .iter()
            .map(|s| {
                let text = self.text(s)?;
                parse_net(&text).map_err(|m| self.error(s, m))
            })
            .collect::<Result<_, _>>()?;
        let proxy = doc.proxy.as_ref().map(|s| self.proxy(s)).transpose()?;
        let tls = match doc.tls {
            None => OutboundTls::default(),
            Some(t) => {
                let tls = OutboundTls {
                    ca: t.ca.as_ref().map(|s| self.file_path(s)).transpose()?,
                    client_cert: t
                        .client_cert
                        .as_ref()
                        .map(|s| self.file_path(s))
                        .transpose()?,
                    client_key: t
                        .client_key
                        .as_ref()
                        .map(|s| self.file_path(s))
                        .transpose()?,
                    insecure_skip_verify: match &t.insecure_skip_verify {
                        Some(s) => self.boolean("insecure_skip_verify", s)?,
                        None => false,
                    },
                };
                if let (Some(s), None) | (None, Some(s)) = (&t.client_cert, &t.client_key) {
                    return Err(self.error(
                        s,
                        "`client_cert` and `client_key` go together: give both or neither",
                    ));
                }
                tls
            }
        };
        Ok(Outbound { allow, proxy, tls })
    }

    fn proxy(&self, scalar: &Scalar) -> Result<ProxySetting, ConfigError> {
        let text = self.text(scalar)?;
        match text.as_str() {
            "none" => Ok(ProxySetting::Direct),
            "env" => Ok(ProxySetting::Env),
            url => {
                validate::check_http_url(url).map_err(|m| {
                    self.error(
                        scalar,
                        format!("`proxy` must be `none`, `env` or an http(s) URL: {m}"),
                    )
                })?;
                Ok(ProxySetting::Url(url.to_owned()))
            }
        }
    }

    /// A file path, relative ones against the config file's directory.
    fn file_path(&self, scalar: &Scalar) -> Result<PathBuf, ConfigError> {
        let text = self.checked(scalar, |t| {
            if t.is_empty() {
                return Err("a file path must not be empty".to_owned());
            }
            validate::check_no_nul("a file path", t)
        })?;
        Ok(self.base_dir.join(text))
    }

    /// An upstream's `credentials:` block. Values are expanded (`${VAR}`) and kept as
    /// [`Secret`]s; no error message ever quotes them.
    pub(crate) fn credentials(
        &self,
        doc: Option<CredentialsDoc>,
    ) -> Result<Credentials, ConfigError> {
        let Some(doc) = doc else {
            return Ok(Credentials::None);
        };
        let secret = |s: &Scalar, what: &str| {
            let text = self.text(s)?;
            if text.is_empty() {
                return Err(self.error(s, format!("`{what}` is empty (an unset variable?)")));
            }
            if text.chars().any(|c| c.is_control()) {
                return Err(self.error(s, format!("`{what}` contains a control character")));
            }
            Ok(Secret::new(text))
        };
        let passthrough = match &doc.passthrough {
            Some(s) => self.boolean("passthrough", s)?,
            None => false,
        };
        let given = [
            doc.bearer.is_some(),
            doc.basic.is_some(),
            doc.client_credentials.is_some(),
            doc.token_exchange.is_some(),
            passthrough,
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ConfigError::whole(
                self.file,
                "`credentials` takes one of `bearer`, `basic`, `client_credentials`, `token_exchange` or `passthrough: true`",
            ));
        }
        if passthrough {
            return Ok(Credentials::Passthrough);
        }
        if let Some(tx) = doc.token_exchange {
            let token_url = self.checked(&tx.token_url, validate::check_http_url)?;
            let client_id = tx
                .client_id
                .as_ref()
                .map(|s| {
                    self.checked(s, |t| {
                        if t.is_empty() || t.chars().any(|c| c.is_control()) {
                            Err("`client_id` must be non-empty, without control characters"
                                .to_owned())
                        } else {
                            Ok(())
                        }
                    })
                })
                .transpose()?;
            let client_secret = tx
                .client_secret
                .as_ref()
                .map(|s| secret(s, "client_secret"))
                .transpose()?;
            if client_secret.is_some() && client_id.is_none() {
                return Err(ConfigError::whole(
                    self.file,
                    "`token_exchange.client_secret` needs `client_id`",
                ));
            }
            let plain = |s: &Option<Scalar>, what: &str| {
                s.as_ref()
                    .map(|s| self.checked(s, |t| validate::check_plain(what, t)))
                    .transpose()
            };
            return Ok(Credentials::TokenExchange(crate::model::TokenExchange {
                token_url,
                client_id,
                client_secret,
                audience: plain(&tx.audience, "an audience")?,
                resource: plain(&tx.resource, "a resource")?,
                scopes: self.plain_list("a scope", &tx.scopes)?,
            }));
        }
        if let Some(cc) = doc.client_credentials {
            let token_url = self.checked(&cc.token_url, validate::check_http_url)?;
            let client_id = self.text(&cc.client_id)?;
            if client_id.is_empty() || client_id.chars().any(|c| c.is_control()) {
                return Err(self.error(
                    &cc.client_id,
                    "`client_id` must be non-empty, without control characters",
                ));
            }
            return Ok(Credentials::ClientCredentials(
                crate::model::ClientCredentials {
                    token_url,
                    client_id,
                    client_secret: secret(&cc.client_secret, "client_secret")?,
                    scopes: self.plain_list("a scope", &cc.scopes)?,
                    audience: cc.audience.as_ref().map(|s| self.text(s)).transpose()?,
                },
            ));
        }
        match (doc.bearer, doc.basic) {
            (Some(b), None) => Ok(Credentials::Bearer(secret(&b, "bearer")?)),
            (None, Some(basic)) => {
                let username = self.text(&basic.username)?;
                if username.contains(':') || username.chars().any(|c| c.is_control()) {
                    return Err(self.error(
                        &basic.username,
                        "a basic-auth `username` cannot contain `:` or control characters",
                    ));
                }
                Ok(Credentials::Basic {
                    username,
                    password: secret(&basic.password, "password")?,
                })
            }
            _ => Ok(Credentials::None),
        }
    }
}

/// `ADDR/PREFIX`, or a bare address (one host).
pub(crate) fn parse_net(text: &str) -> Result<IpNet, String> {
    let bad = || {
        format!(
            "`{}` is not a network: expected `ADDRESS/PREFIX` such as `10.0.0.0/8` or `fd00::/8`",
            text.escape_debug()
        )
    };
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
    };
    Ok(IpNet { addr, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        assert_eq!(
            parse_net("10.0.0.0/8"),
            Ok(IpNet {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            })
        );
        assert_eq!(parse_net("fd00::/8").map(|n| n.prefix), Ok(8));
        assert_eq!(parse_net("10.1.2.3").map(|n| n.prefix), Ok(32));
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129", ""] {
            assert!(parse_net(bad).is_err(), "{bad}");
        }
    }
}
